"""The one clock the gallery's dates come from (created, last seen, history, retention cut-offs).

Dates are stored to the second, in UTC. Everything asks ``utc_now()`` through this module, so
the tests move time on by replacing it (the ``clock`` fixture) instead of sleeping.
"""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def stamp() -> str:
    """Now as the gallery stores it: ISO 8601, UTC, to the second."""
    return utc_now().isoformat(timespec="seconds")
