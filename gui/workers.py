"""Run core functions off the UI thread and hand their results back as Qt signals.

One helper for every slow call the GUI makes (gallery I/O, enrolment, export): the function
runs on Qt's thread pool, and ``done`` or ``failed`` arrive on the UI thread. Errors go to
one place, so no dialog ever swallows one.
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

# Signal holders of tasks still running: kept alive here until their result is delivered.
_pending: set = set()


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Task(QRunnable):
    def __init__(self, function: Callable, signals: _Signals) -> None:
        super().__init__()
        self.function = function
        self.signals = signals

    def run(self) -> None:
        try:
            result = self.function()
        except Exception as error:  # reported, never lost: the UI decides how to show it
            log.debug("background task failed", exc_info=True)
            self.signals.failed.emit(error)
        else:
            self.signals.done.emit(result)


def run_in_background(function: Callable, on_done: Callable | None = None,
                      on_failed: Callable | None = None) -> None:
    """Start ``function()`` on the thread pool; its result or error arrives on this thread."""
    signals = _Signals()
    _pending.add(signals)
    signals.done.connect(lambda _: _pending.discard(signals))
    signals.failed.connect(lambda _: _pending.discard(signals))
    if on_done is not None:
        signals.done.connect(on_done)
    if on_failed is not None:
        signals.failed.connect(on_failed)
    QThreadPool.globalInstance().start(_Task(function, signals))


def wait_for_background_tasks(timeout_ms: int = 10_000) -> bool:
    """Block until every started task has finished (on shutdown and in tests)."""
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
