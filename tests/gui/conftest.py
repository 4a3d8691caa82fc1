"""GUI tests: offscreen Qt, settings in a temporary file, no background task outliving a test."""

from __future__ import annotations

import os
import threading

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt creates the application

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from camera_frames import WAIT_MS  # noqa: E402
from gallery_manager import face, unexpected  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from core.live.service import RecognitionService  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.storage.repository import Gallery  # noqa: E402
from gui.gallery_dialog import GalleryDialog  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402
from gui.workers import running_workers, stop_all  # noqa: E402


@pytest.fixture(autouse=True)
def private_settings(tmp_path, monkeypatch):
    """Nothing a test does reaches the user's real settings file."""
    monkeypatch.setenv("ONESHOT_SETTINGS", str(tmp_path / "settings.json"))


@pytest.fixture(autouse=True)
def patient_waits(monkeypatch):
    """Every ``qtbot`` wait (for a signal, several, a callback or a condition) gets at least
    ``WAIT_MS``: a test's own shorter timeout was a guess at this machine's speed, and with both
    cores busy a guess fails a correct program. Waiting ends at the event, so this costs nothing."""
    for name in ("waitSignal", "waitSignals", "waitCallback", "waitUntil"):
        wait = getattr(QtBot, name)

        def patient(self, *args, _wait=wait, timeout: int = WAIT_MS, **kwargs):
            return _wait(self, *args, timeout=max(timeout, WAIT_MS) if timeout else timeout, **kwargs)

        monkeypatch.setattr(QtBot, name, patient)


@pytest.fixture(autouse=True)
def background_tasks_finish(qtbot):
    """Every worker a test started is cancelled and joined before the next test begins."""
    yield
    assert stop_all(), f"workers still running after 10 s: {running_workers()}"


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Factory: a main window on a temporary gallery and settings file; closed and checked after."""
    windows = []

    def make(source, **overrides):  # one source, a list of up to four side by side, or None: Settings' cameras
        # liveness off unless a test asks: the stand-in cameras show shared photos, which score as photos held up
        settings = Settings(**{"gallery": str(tmp_path / "gallery.db"), "liveness": False, **overrides})
        window = MainWindow(settings, tmp_path / "settings.json",
                            source if isinstance(source, list) or source is None else str(source))
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
    assert not running_workers(), f"workers left running: {running_workers()}"
    leftovers = [t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()
                 and "grabber" in t.name.lower()]
    assert not leftovers, f"threads left running: {leftovers}"


# -- the gallery manager's galleries (test_dialogs.py, test_gallery_restore.py) ----------------


@pytest.fixture(scope="module")
def model_id(pipeline) -> str:
    return pipeline.embedder.spec.id


@pytest.fixture(scope="module")
def faces(pipeline, people) -> list[tuple[str, np.ndarray, np.ndarray, Path]]:
    """(name, chip, vector, photo) in enrolment order: Obama twice, Biden and Harington once."""
    photos = [("Barack Obama", people["barack_obama"][0]), ("Barack Obama", people["barack_obama"][1]),
              ("Joe Biden", people["joe_biden"][0]), ("Kit Harington", people["kit_harington"][0])]
    return [(name, *face(pipeline, photo), photo) for name, photo in photos]


@pytest.fixture
def gallery_path(tmp_path, faces, model_id) -> Path:
    path = tmp_path / "gallery.db"
    with Gallery(path) as gallery:
        for name, chip, vector, photo in faces:
            known = any(person.name == name for person in gallery.people())
            gallery.enroll(name, chip, vector, model_id, 0.9, str(photo), add_to_existing=known)
    return path


@pytest.fixture
def open_dialog(qtbot, pipeline):
    """Open a gallery dialog on a file (through a real service) and wait for its first load.

    Warnings land in ``.warnings``.
    """
    services = []

    def open_(path: Path) -> GalleryDialog:
        service = RecognitionService(Settings(gallery=str(path)), pipeline, Gallery(path))
        services.append(service)
        dialog = GalleryDialog(service)
        qtbot.addWidget(dialog)
        dialog.warnings = []
        dialog.show_warning = lambda title, text: dialog.warnings.append(text)
        for prompt in ("ask_new_name", "confirm_delete", "ask_open_file", "ask_save_file", "ask_passphrase",
                       "confirm_plain_export", "ask_on_conflict"):
            setattr(dialog, prompt, unexpected(prompt))
        with qtbot.waitSignal(dialog.loaded):  # the first load's result waits for this event loop
            pass
        return dialog

    yield open_
    assert stop_all()
    for service in services:
        service.close()
