"""The retention period: who was seen when, and forgetting those not seen for N days.

Off by default (``Settings.retention_days`` None). When a person is identified live, the
gallery notes the time, at most once an hour per person (a write, not a change the matcher
cares about), whether or not retention is on: turning it on later must not forget people
who were seen yesterday but enrolled long ago. With it on, the unseen are forgotten when
the app starts and then once an hour, each deletion recorded in the gallery's history.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from ..errors import OneShotError
from .repository import Gallery

log = logging.getLogger(__name__)

SEEN_EVERY = 3600.0  # seconds between two "last seen" writes for one person
CHECK_EVERY = 3600.0  # seconds between two retention sweeps
MAX_REMEMBERED = 10_000  # people whose last write time is kept in memory


class RetentionKeeper:
    """Notes sightings and applies the retention period for one gallery at a time."""

    def __init__(self, days: float | None) -> None:
        self.days = days
        self._written: OrderedDict[str, float] = OrderedDict()
        self._next_sweep = 0.0

    def seen(self, gallery: Gallery, names: list[str], now: float | None = None) -> None:
        """Note these identified people, unless noted in the last hour; never raises."""
        now = time.monotonic() if now is None else now
        due = [name for name in dict.fromkeys(names) if now - self._written.get(name, -SEEN_EVERY) >= SEEN_EVERY]
        if not due or gallery.read_only:
            return
        try:
            gallery.mark_seen(due)
        except OneShotError as error:  # a busy or full disk: try again at the next sighting
            log.warning("could not note who was seen: %s", error)
            return
        for name in due:
            self._written[name] = now
            self._written.move_to_end(name)
        while len(self._written) > MAX_REMEMBERED:
            self._written.popitem(last=False)

    def sweep(self, gallery: Gallery, now: float | None = None) -> list[str]:
        """Forget the people not seen for ``days`` days (once an hour at most); return who went."""
        now = time.monotonic() if now is None else now
        if self.days is None or gallery.read_only or now < self._next_sweep:
            return []
        self._next_sweep = now + CHECK_EVERY
        try:
            forgotten = gallery.forget_unseen(self.days)
        except OneShotError as error:  # the live loop goes on; the next sweep tries again
            log.warning("retention: %s", error)
            return []
        if forgotten:
            log.info("retention: forgot %d people not seen for %g days", len(forgotten), self.days)
        return forgotten
