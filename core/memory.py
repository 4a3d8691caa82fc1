"""Resident memory of this process, for the soak checks of the live loop (no psutil needed)."""

from __future__ import annotations

import os


def resident_mb() -> float | None:
    """Resident set size in MiB (Linux ``/proc``); None where the platform does not say."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
