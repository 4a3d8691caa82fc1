"""Credentials out of sight: camera and database URLs as they may be shown or logged.

A network camera is often ``rtsp://admin:secret@192.168.1.20/stream`` and a shared gallery
``postgresql://station:secret@server/oneshot``; the password must reach the connection and
nothing else: not the status bar, a log line, an error message or `oneshot watch`'s output.
Everything that shows a source or a location shows ``redact(text)``.

People type passwords as they are, not percent-encoded: with quotes, spaces, ``@`` or ``/``
in them. So a URL's user info is everything from ``://`` to the last ``@`` after it that a
host name follows (too much hidden is a worse message; too little is a leaked password), and a secret parameter's
value runs to the next ``&``, ``;`` or ``#``, spaces and all. libpq's ``key=value``
connection strings (``password='it\\'s secret'``) are redacted the same way.
"""

from __future__ import annotations

import re
import urllib.parse

# Names of query parameters and libpq keywords that carry a secret: "pas" as well as "pass"
# catches the abbreviations cameras use (loginpas, pasw), "pw" catches pwd and pword.
SECRET_PARAMETERS = re.compile(r"pas|pw|token|secret|key|auth|sig|session|credential", re.IGNORECASE)
URL_START = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
URL_END = re.compile(r"[\s'\"<>]")  # where a URL with no secret left open ends
PARAMETER_START = re.compile(r"[?#]")
PARAMETER_NAME = re.compile(r"[^=&;#\s'\"<>]*")
PLAIN_VALUE = re.compile(r"[^&;#\s'\"<>]*")
SECRET_VALUE = re.compile(r"[^&;#]*")
KEYWORD = re.compile(r"(?<![\w.-])([A-Za-z_][\w.-]*)(\s*=\s*)('(?:[^'\\]|\\.|'')*'?|\"(?:[^\"\\]|\\.)*\"?|\S*)")
HOST = re.compile(r"(?:[A-Za-z0-9._~%-]+|\[[0-9A-Fa-f:.%A-Za-z]+\])(?::\d*)?(?=[/?#\s'\"<>]|$)")
HIDDEN = "***"


def redact(text: str) -> str:
    """``text`` with the user info and secret parameter values of every URL or libpq keyword in it hidden."""
    text = str(text)
    shown = []
    position = 0
    while (start := URL_START.search(text, position)) is not None:
        shown.append(_redact_keywords(text[position:start.start()]))
        url, position = _redact_url(text, start.end())
        shown.append(start.group(0) + url)
    shown.append(_redact_keywords(text[position:]))
    return "".join(shown)


def _redact_url(text: str, start: int) -> tuple[str, int]:
    """The URL whose authority starts at ``start``, redacted, and where it ends in ``text``."""
    at = _user_info_end(text, start)
    shown = [HIDDEN + "@"] if at >= 0 else []
    position = at + 1 if at >= 0 else start
    ending = URL_END.search(text, position)
    end = ending.start() if ending else len(text)
    parameters = PARAMETER_START.search(text, position, end)
    if parameters is None:
        return "".join(shown) + text[position:end], end
    shown.append(text[position:parameters.end()])
    position = parameters.end()
    while True:
        name_end = PARAMETER_NAME.match(text, position).end()
        name = text[position:name_end]
        if text.startswith("=", name_end) and _is_secret(name):
            shown.append(f"{name}={HIDDEN}")
            position = SECRET_VALUE.match(text, name_end + 1).end()
        else:
            if text.startswith("=", name_end):
                name_end = PLAIN_VALUE.match(text, name_end + 1).end()
            shown.append(text[position:name_end])
            position = name_end
        if position < len(text) and text[position] in "&;#":
            shown.append(text[position])
            position += 1
            continue
        return "".join(shown), position


def _user_info_end(text: str, start: int) -> int:
    """The ``@`` that ends the user info: the last one after ``start`` that a host name (and
    port) follows, up to the path, query, fragment or the URL's end; -1 when there is none (an
    ``@`` in a query value is not user info)."""
    at = len(text)
    while (at := text.rfind("@", start, at)) >= 0:
        if HOST.match(text, at + 1):
            return at
    return -1


def _redact_keywords(text: str) -> str:
    """libpq-style ``name=value`` pairs (``password='it''s secret'``) with secret values hidden."""
    return KEYWORD.sub(lambda match: f"{match.group(1)}{match.group(2)}{HIDDEN}" if _is_secret(match.group(1))
                       else match.group(0), text)


def _is_secret(name: str) -> bool:
    return SECRET_PARAMETERS.search(urllib.parse.unquote_plus(name)) is not None
