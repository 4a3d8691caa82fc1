"""The desktop app driven like a user would, on image folders standing in for the camera."""

from __future__ import annotations

import os
import shutil

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from core.bench import letterbox  # noqa: E402
from core.gallery import Gallery  # noqa: E402
from core.imaging import load_image  # noqa: E402
from core.settings import load_settings  # noqa: E402

LEFT = Qt.MouseButton.LeftButton
WAIT_MS = 60_000  # model loading and the first frames on a busy 2-core machine


def write_frames(folder, photos, count):
    """A folder of 640x480 frames cycling through ``photos``, like a camera would deliver."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = [letterbox(load_image(photo).pixels) for photo in photos]
    for n in range(count):
        Image.fromarray(frames[n % len(frames)]).save(folder / f"{n:03d}.jpg", quality=92)
    return folder


def next_report(qtbot, window, condition=lambda report: True):
    """The next processed frame whose report satisfies ``condition``."""
    seen = []

    def check(image, report):
        if condition(report):
            seen.append(report)
        return bool(seen)

    with qtbot.waitSignal(window.engine.frameProcessed, timeout=WAIT_MS, check_params_cb=check):
        pass
    return seen[-1]


def names(report):
    return [face.name for face in report.faces]


def test_enroll_from_webcam_then_identify(qtbot, make_window, tmp_path, people):
    camera = write_frames(tmp_path / "obama", people["barack_obama"][:1], 20)
    window = make_window(camera)
    next_report(qtbot, window, lambda r: len(r.faces) == 1)
    assert window.banner.isVisible()  # empty gallery: the call to action is shown
    assert names(next_report(qtbot, window, lambda r: r.faces)) == [None]

    dialog = window.enroll_from_webcam()
    qtbot.waitUntil(dialog.capture.isEnabled, timeout=WAIT_MS)  # a good frame arrived
    with qtbot.waitSignal(window.engine.candidateReady, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.capture, LEFT)
    assert dialog.pages.currentIndex() == 1 and not dialog.enrol_button.isEnabled()
    qtbot.keyClicks(dialog.name, "Barack Obama")
    assert dialog.enrol_button.isEnabled()
    with qtbot.waitSignal(dialog.finished_enrolment, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.enrol_button, LEFT)

    with Gallery(tmp_path / "gallery.db") as gallery:
        assert [(p.name, p.samples) for p in gallery.people()] == [("Barack Obama", 1)]
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=WAIT_MS)
    report = next_report(qtbot, window, lambda r: names(r) == ["Barack Obama"])
    assert report.faces[0].distance < report.tau

    # another person in front of the camera is unknown
    other = write_frames(tmp_path / "biden", people["joe_biden"][:1], 20)
    window.engine.start_source(str(other))
    next_report(qtbot, window, lambda r: r.faces and names(r) == [None])

    # another photo of him: named; then a stricter tau from the settings dialog: Unknown
    window.engine.start_source(str(write_frames(tmp_path / "obama2", people["barack_obama"][1:2], 20)))
    report = next_report(qtbot, window, lambda r: names(r) == ["Barack Obama"])
    distance = report.faces[0].distance
    assert 0.10 < distance < 0.36
    settings_dialog = window.open_settings()
    settings_dialog.tau_spin.setValue(0.10)
    settings_dialog.accept()
    assert load_settings(tmp_path / "settings.json").tau == pytest.approx(0.10)
    next_report(qtbot, window, lambda r: r.tau == pytest.approx(0.10) and names(r) == [None])


def test_status_bar_reports_capture_to_screen_latency(qtbot, make_window, tmp_path, people):
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][:1], 20))
    next_report(qtbot, window, lambda r: len(r.faces) == 1)
    qtbot.waitUntil(lambda: len(window.view.latencies_ms) >= 2, timeout=WAIT_MS)
    assert 0 < window.view.latency_ms() < 10_000
    next_report(qtbot, window)
    assert "ms capture to screen" in window.fps_label.text()


def test_enroll_from_photo_and_rename_in_gallery_manager(qtbot, make_window, tmp_path, people):
    camera = write_frames(tmp_path / "rose", people["rose_leslie"][1:2], 20)
    window = make_window(camera)
    next_report(qtbot, window)
    dialog = window.enroll_from_photo(str(people["rose_leslie"][0]))
    qtbot.waitUntil(lambda: dialog.candidate is not None, timeout=WAIT_MS)
    qtbot.keyClicks(dialog.name, "Rose")
    with qtbot.waitSignal(dialog.finished_enrolment, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.enrol_button, LEFT)
    next_report(qtbot, window, lambda r: names(r) == ["Rose"])

    manager = window.open_gallery()
    qtbot.waitUntil(lambda: manager.visible_names() == ["Rose"], timeout=WAIT_MS)
    manager.ask_new_name = lambda old: "Rose Leslie"
    manager.select("Rose")
    with qtbot.waitSignal(manager.changed, timeout=WAIT_MS):
        manager.rename_selected()
    next_report(qtbot, window, lambda r: names(r) == ["Rose Leslie"])

    manager.confirm_delete = lambda name: True
    manager.select("Rose Leslie")
    with qtbot.waitSignal(manager.changed, timeout=WAIT_MS):
        manager.delete_selected()
    next_report(qtbot, window, lambda r: r.faces and names(r) == [None])
    qtbot.waitUntil(window.banner.isVisible, timeout=WAIT_MS)


def test_camera_lost_shows_message_and_recovers(qtbot, make_window, tmp_path, people):
    missing = tmp_path / "camera"
    window = make_window(missing)
    with qtbot.waitSignal(window.engine.cameraLost, timeout=WAIT_MS) as lost:
        pass
    assert str(missing) in lost.args[0]
    qtbot.waitUntil(lambda: "Retrying" in window.view.placeholder, timeout=WAIT_MS)
    write_frames(tmp_path / "staging", people["kit_harington"][:1], 10)
    shutil.move(str(tmp_path / "staging"), str(missing))  # the camera comes back
    with qtbot.waitSignal(window.engine.cameraRestored, timeout=WAIT_MS):
        pass
    assert next_report(qtbot, window, lambda r: r.faces).faces


def test_missing_model_is_a_clear_error(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("ONESHOT_MODEL_DIR", str(tmp_path / "no-models"))
    shown = []
    monkeypatch.setattr("gui.main_window.QMessageBox.critical", lambda parent, title, text: shown.append(text))
    window = make_window(tmp_path)  # the engine may fail before a waitSignal here could connect:
    qtbot.waitUntil(lambda: bool(shown), timeout=WAIT_MS)  # the window's own slot is the witness
    assert "no model manifest" in shown[0]
    assert "cannot start" in window.view.placeholder
    assert not window.actions_by_name["start"].isEnabled()


def test_window_state_and_settings_are_remembered(qtbot, make_window, tmp_path, people):
    camera = write_frames(tmp_path / "frames", people["kit_harington"][:1], 5)
    window = make_window(camera)
    window.resize(700, 500)
    next_report(qtbot, window)
    window.close()
    saved = load_settings(tmp_path / "settings.json")
    assert saved.window.get("geometry")
    again = make_window(camera, window=saved.window)
    assert (again.width(), again.height()) == (700, 500)
    assert np.isclose(saved.tau, 0.36)
