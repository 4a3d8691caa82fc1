"""People's names as the gallery keeps and shows them: cleaned, keyed, and printable safely."""

from __future__ import annotations

import os
import re
import unicodedata

from ..errors import InputError

MAX_NAME_LENGTH = 100


def clean_name(name: str) -> str:
    """A person's name as stored: trimmed, NFC; refuse empty, overlong or control characters."""
    cleaned = unicodedata.normalize("NFC", str(name)).strip()
    if not cleaned:
        raise InputError("a name cannot be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InputError(f"a name can have at most {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise InputError(f"the name {cleaned!r} contains control characters")
    return cleaned


def name_key(name: str) -> str:
    """The key two spellings of one name share (NFC, trimmed, case-folded). Never raises:
    a name already in a gallery is looked up even when it would not be accepted today."""
    return unicodedata.normalize("NFC", str(name)).strip().casefold()


def printable(text, escape_backslash: bool = True) -> str:
    """``text`` safe to print on a terminal: control, format, separator and unpaired surrogate
    characters (escape sequences, bidi overrides, a non-UTF-8 file name's bytes) are shown as
    ``\\x1b``, ``\\u202e``, ... and, for names, a backslash as ``\\\\``, so the form printed
    is unambiguous and can be typed back (``forget`` accepts it)."""
    out = []
    for ch in str(text):
        if ch == "\\" and escape_backslash:
            out.append("\\\\")
        elif unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def printable_path(path) -> str:
    """A file name for a message: as ``printable`` but backslashes (Windows folders) kept."""
    return printable(os.fsdecode(path) if isinstance(path, bytes) else str(path), escape_backslash=False)


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|\\|n|r|t)")


def unescape_name(text: str) -> str | None:
    """The inverse of ``printable``: ``\\x1b`` and friends back to characters; None if invalid."""
    def one(match: re.Match) -> str:
        token = match.group(1)
        if token in ("\\", "n", "r", "t"):
            return {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}[token]
        code = int(token[1:], 16)
        if code > 0x10FFFF:
            raise ValueError(token)
        return chr(code)

    try:
        return _ESCAPE.sub(one, text)
    except ValueError:
        return None
