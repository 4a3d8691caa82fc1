"""Secrets never shown: URLs and libpq strings with passwords and tokens of any text, fuzzed
against every place that shows a camera source or a gallery location."""

from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.live.camera import open_source
from core.errors import CameraError
from core.storage.location import shown_location
from core.redact import redact

# Printable text of any script: quotes, spaces, '@', '/', '%', '&' and all.
SECRETS = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=6, max_size=40)
NAMES = st.sampled_from(["password", "pw", "pwd", "loginpas", "token", "api_key", "Secret", "AUTH", "sig",
                         "session_id", "X-Token"])


@pytest.mark.parametrize("text, shown", [
    ("rtsp://admin:it'sSecret@host/x", "rtsp://***@host/x"),
    ("rtsp://admin:it's my secret@host/x stopped", "rtsp://***@host/x stopped"),
    ("postgresql://station:p@ss w'rd@server/oneshot", "postgresql://***@server/oneshot"),
    ("rtsp://admin:p%40ss%20word@host:554/x", "rtsp://***@host:554/x"),
    ("http://cam/video.cgi?user=a&pw=hunter2", "http://cam/video.cgi?user=a&pw=***"),
    ("http://cam/video.cgi?loginuse=a&loginpas=hunter2&res=1", "http://cam/video.cgi?loginuse=a&loginpas=***&res=1"),
    ("http://cam/v?SessionID=abc#sig=def", "http://cam/v?SessionID=***#sig=***"),
    ("http://cam/v?p%61ssword=abc", "http://cam/v?p%61ssword=***"),
    ("host=server dbname=oneshot password='it''s secret' user=station",
     "host=server dbname=oneshot password=*** user=station"),
    ("host=server password=hunter2 sslmode=require", "host=server password=*** sslmode=require"),
    ("host=server password='it\\'s secret'", "host=server password=***"),
    ("rtsp://cam.local/live", "rtsp://cam.local/live"), ("0", "0"), ("/home/ana/door.mp4", "/home/ana/door.mp4"),
])
def test_secrets_are_hidden_whatever_they_contain(text, shown):
    assert redact(text) == shown


def _shown_everywhere(location: str) -> list[str]:
    """What each place that shows a source or location shows for ``location``."""
    shown = [redact(location), redact(f"camera {location} stopped sending"), shown_location(location)]
    if "://" in location:
        try:
            with open_source(location) as source:
                shown.append(source.description)
        except CameraError as exc:
            shown += [str(exc), exc.source]
    return shown


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRETS, scheme=st.sampled_from(["rtsp", "http", "postgresql"]), encode=st.booleans())
def test_a_password_of_any_text_is_never_shown(secret, scheme, encode):
    password = urllib.parse.quote(secret, safe="") if encode else secret
    location = f"{scheme}://admin:{password}@127.0.0.1:9/live?channel=1"
    assume(password not in location.replace(password, ""))
    for shown in _shown_everywhere(location):
        assert password not in shown and secret not in shown


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRETS.filter(lambda text: not set(text) & set("&;#")), name=NAMES,
       scheme=st.sampled_from(["rtsp", "http", "postgresql"]))
def test_a_token_of_any_text_is_never_shown(secret, name, scheme):
    """A raw '&', ';' or '#' ends a parameter for the camera as well, so the token has none."""
    location = f"{scheme}://127.0.0.1:9/live?channel=1&{name}={secret}&x=1"
    assume(secret not in location.replace(secret, ""))
    for shown in _shown_everywhere(location):
        assert secret not in shown


@settings(max_examples=60, deadline=None)
@given(secret=SECRETS)
def test_a_libpq_password_of_any_text_is_never_shown(secret):
    quoted = "'" + secret.replace("\\", "\\\\").replace("'", "\\'") + "'"
    text = f"host=server dbname=oneshot password={quoted} user=station"
    assume(secret not in text.replace(secret, ""))
    assert secret not in redact(text)
