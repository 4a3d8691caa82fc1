"""Refuses a Qt binding that would crash the window: PySide6 6.12.0 on Python 3.10 and 3.11.

That release drops a reference to ``None`` on every wrapped call that returns nothing (``QPainter.setPen``,
``QWidget.update``, ...). The live view makes thousands a second, so ``None``'s reference count reaches
zero within a minute and CPython aborts with "Fatal Python error: none_dealloc". From Python 3.12 ``None``
is immortal and the lost references are harmless. The check probes the fault itself rather than matching
version numbers, so a later release with the same fault is caught too; it is silent on a sound binding.
"""

from __future__ import annotations

import sys

import PySide6
from PySide6.QtCore import QPointF

_PROBE_CALLS = 64  # each call drops one reference on a faulty binding: enough to see, far too few to hurt


def qt_binding_problem() -> str | None:
    """Why this PySide6 cannot run the window on this Python, or None when it can."""
    point = QPointF()
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        point.setX(0.0)  # returns None, like most QPainter calls
    lost = before - sys.getrefcount(None)
    if lost < _PROBE_CALLS // 2:
        return None
    python = ".".join(map(str, sys.version_info[:3]))
    return (f"PySide6 {PySide6.__version__} on Python {python} loses a reference to None on every Qt call "
            "that returns nothing, which crashes the window within a minute (Fatal Python error: none_dealloc). "
            'Install a sound version: pip install "PySide6-Essentials>=6.6,<6.12", or use Python 3.12 or newer.')
