"""The one way the GUI runs work off the UI thread: a ``Worker`` on its own QThread.

A worker runs a plain function or a generator. Each value a generator yields arrives on the
UI thread as ``progress`` (None is only a cancel point, not sent), and ``cancel()`` closes
the generator at its next yield, so its ``finally`` blocks (a camera, a grabber thread) run
on the worker thread before it ends. A plain function gets the same through the worker it
was started by: ``worker.report`` and ``worker.cancelled``. The result arrives as ``done``,
an exception as ``failed`` (one place: nothing is swallowed), and ``finished`` always last.

Why not superqt's ``thread_worker``: its workers share Qt's global thread pool (one worker
cannot be joined alone), an aborted generator is dropped without ``close()`` (its cleanup
runs whenever it is collected), and it switches the process-wide warning filters while it
runs. Every worker here is joinable, and ``stop_all`` cancels and joins them all: closing a
window or ending a test never leaves a thread behind.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, Signal

log = logging.getLogger(__name__)

_running: set[Worker] = set()  # alive until their thread has been joined


class _Thread(QThread):
    def __init__(self, body: Callable[[], None]) -> None:
        super().__init__()
        self._body = body

    def run(self) -> None:
        self._body()


class Worker(QObject):
    """Runs one function or generator on its own thread; see the module docstring."""

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(object)  # the exception
    finished = Signal()

    def __init__(self, name: str = "worker") -> None:
        super().__init__()
        self.name = name
        self._cancel = threading.Event()
        self._thread: _Thread | None = None

    def start(self, function: Callable, *args, **kwargs) -> Worker:
        if self._thread is not None:
            raise RuntimeError("a worker runs once")
        self._thread = _Thread(lambda: self._run(function, args, kwargs))
        self._thread.setObjectName(self.name)
        self._thread.finished.connect(self._joined)
        _running.add(self)
        self._thread.start()
        return self

    def report(self, value) -> None:
        """Progress from a plain function (any thread)."""
        self.progress.emit(value)

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def wait(self, timeout_ms: int | None = 10_000) -> bool:
        """Block until the thread has ended (``timeout_ms`` None: however long); True if it did."""
        if self._thread is None:
            return True
        return self._thread.wait() if timeout_ms is None else self._thread.wait(timeout_ms)

    def _run(self, function: Callable, args: tuple, kwargs: dict) -> None:
        try:
            result = function(*args, **kwargs)
            if inspect.isgenerator(result):
                result = self._drain(result)
        except Exception as error:  # reported, never lost: the receiver decides how to show it
            log.debug("%s failed", self.name, exc_info=True)
            self.failed.emit(error)
        else:
            self.done.emit(result)
        finally:
            self.finished.emit()

    def _drain(self, generator):
        try:
            while True:
                if self._cancel.is_set():
                    generator.close()
                    return None
                value = next(generator)
                if value is not None:
                    self.progress.emit(value)
        except StopIteration as stop:
            return stop.value

    def _joined(self) -> None:
        self._thread.wait()
        _running.discard(self)


def run_in_background(function: Callable, on_done: Callable | None = None, on_failed: Callable | None = None,
                      on_progress: Callable | None = None, name: str = "background task") -> Worker:
    """Start ``function()`` on a worker; results, errors and progress arrive on this thread."""
    worker = Worker(name)
    for signal, slot in ((worker.done, on_done), (worker.failed, on_failed), (worker.progress, on_progress)):
        if slot is not None:
            signal.connect(slot)
    return worker.start(function)


def stop_all(timeout_ms: int = 10_000) -> bool:
    """Cancel every running worker and join them; True if all ended within ``timeout_ms``."""
    workers = list(_running)
    for worker in workers:
        worker.cancel()
    return all(worker.wait(timeout_ms) for worker in workers)


def running_workers() -> list[str]:
    """Names of the workers whose thread is still alive (tests check none outlive them)."""
    return [worker.name for worker in _running if worker.is_running()]
