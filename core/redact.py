"""Credentials out of sight: camera and database URLs as they may be shown or logged.

A network camera is often ``rtsp://admin:secret@192.168.1.20/stream`` and a shared gallery
``postgresql://station:secret@server/oneshot``; the password must reach the connection and
nothing else: not the status bar, a log line, an error message or `oneshot watch`'s output.
Everything that shows a source or a location shows ``redact(text)``.
"""

from __future__ import annotations

import re
import urllib.parse

# Query parameters that carry a secret in camera and database URLs.
SECRET_PARAMETERS = re.compile(r"pass|pwd|token|secret|key|auth|sig|credential", re.IGNORECASE)
URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def redact(text: str) -> str:
    """``text`` with the user info and secret query values of every URL in it replaced by ``***``."""
    return URL.sub(lambda match: _redact_url(match.group(0)), str(text))


def _redact_url(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # a malformed URL: hide everything after the scheme
        return url.split("://", 1)[0] + "://***"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(_redact_parameter(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_parameter(pair: str) -> str:
    name, equals, _ = pair.partition("=")
    return f"{name}=***" if equals and SECRET_PARAMETERS.search(name) else pair
