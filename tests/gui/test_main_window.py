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
from core.storage.repository import Gallery  # noqa: E402
from core.vision.imaging import load_image  # noqa: E402
from core.settings import load_settings  # noqa: E402
from camera_frames import WAIT_MS, names, next_report, write_frames  # noqa: E402

LEFT = Qt.MouseButton.LeftButton








def test_enroll_from_webcam_then_identify(qtbot, make_window, tmp_path, people):
    camera = write_frames(tmp_path / "obama", people["barack_obama"][:1], 20)
    window = make_window(camera)
    next_report(qtbot, window, lambda r: len(r.faces) == 1)
    assert window.banner.isVisible()  # empty gallery: the call to action is shown
    assert names(next_report(qtbot, window, lambda r: r.faces)) == [None]

    dialog = window.enroll_from_webcam()
    qtbot.waitUntil(dialog.capture.isEnabled, timeout=WAIT_MS)  # a good frame arrived
    with qtbot.waitSignal(window.controller.candidateReady, timeout=WAIT_MS):
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
    window.controller.start_source(str(other))
    next_report(qtbot, window, lambda r: r.faces and names(r) == [None])

    # another photo of him: named; then a stricter tau from the settings dialog: Unknown
    window.controller.start_source(str(write_frames(tmp_path / "obama2", people["barack_obama"][1:2], 20)))
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
    with qtbot.waitSignal(window.controller.cameraLost, timeout=WAIT_MS) as lost:
        pass
    assert str(missing) in lost.args[0]
    qtbot.waitUntil(lambda: "Retrying" in window.view.placeholder, timeout=WAIT_MS)
    write_frames(tmp_path / "staging", people["kit_harington"][:1], 10)
    shutil.move(str(tmp_path / "staging"), str(missing))  # the camera comes back
    with qtbot.waitSignal(window.controller.cameraRestored, timeout=WAIT_MS):
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
    assert saved.tau is None  # never set by hand: the model's calibrated tau applies


# -- a first-time user's path -------------------------------------------------------------------------


def test_no_camera_at_first_start_points_to_a_video_or_folder(qtbot, make_window, tmp_path, people):
    window = make_window("7")  # a camera index nothing answers to
    with qtbot.waitSignal(window.controller.cameraLost, timeout=WAIT_MS):
        pass
    assert window.no_camera_bar.isVisible() and "camera 7" in window.no_camera_text.text()
    assert "Open video or folder" in window.view.placeholder
    assert window.banner.isVisible()
    # enrolling from a camera that delivers nothing would wait for ever: not offered
    assert not window.banner_button.isEnabled() and not window.actions_by_name["enroll"].isEnabled()
    assert window.banner_photo_button.isEnabled()

    video = tmp_path / "clip.avi"
    write_video(video, people["barack_obama"][0], 15)
    window.ask_demo_source = lambda: str(video)
    qtbot.mouseClick(window.no_camera_button, LEFT)
    next_report(qtbot, window, lambda r: len(r.faces) == 1)
    assert window.camera_label.text().startswith("clip.avi")
    assert not window.no_camera_bar.isVisible() and window.banner_button.isEnabled()


def write_video(path, photo, count):
    import cv2

    frame = cv2.cvtColor(letterbox(load_image(photo).pixels), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, frame.shape[1::-1])
    for _ in range(count):
        writer.write(frame)
    writer.release()
    assert path.stat().st_size > 0


def test_a_chosen_image_plays_its_folder_and_a_video_plays_itself(tmp_path):
    from gui.settings_dialog import demo_source_from_choice

    assert demo_source_from_choice(str(tmp_path / "frames" / "001.JPG")) == str(tmp_path / "frames")
    assert demo_source_from_choice(str(tmp_path / "clip.mp4")) == str(tmp_path / "clip.mp4")


def test_settings_open_with_ctrl_comma(qtbot, make_window, tmp_path):
    from PySide6.QtGui import QKeySequence

    window = make_window(tmp_path / "nothing")
    assert window.actions_by_name["settings"].shortcut() == QKeySequence("Ctrl+,")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    from gui.settings_dialog import SettingsDialog

    qtbot.waitUntil(lambda: any(d.isVisible() for d in window.findChildren(SettingsDialog)), timeout=WAIT_MS)


def test_status_bar_keeps_speed_whole_when_narrow_and_clears_it_on_stop(qtbot, make_window, tmp_path, people):
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][:1], 20))
    window.resize(640, 480)
    qtbot.waitUntil(lambda: "capture to screen" in window.fps_label.text(), timeout=WAIT_MS)
    label = window.fps_label
    assert label.isVisible() and label.width() >= label.fontMetrics().horizontalAdvance(label.text())
    with qtbot.waitSignal(window.controller.sourceChanged, timeout=WAIT_MS,
                          check_params_cb=lambda description: description == ""):
        window.toggle_running()  # Stop
    assert window.fps_label.text() == "" and window.stages_label.text() == ""
    assert window.actions_by_name["start"].text() == "Start"


def test_snapshot_saves_the_boxes_and_names_or_the_raw_frame(qtbot, make_window, tmp_path, people):
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][:1], 20))
    next_report(qtbot, window, lambda r: len(r.faces) == 1)
    annotated, raw = tmp_path / "annotated.png", tmp_path / "raw.png"
    window.ask_snapshot_file = lambda: (str(annotated), True)
    assert window.snapshot() == str(annotated)
    window.ask_snapshot_file = lambda: (str(raw), False)
    assert window.snapshot() == str(raw)
    with_boxes, without = (np.asarray(Image.open(p).convert("RGB")).astype(int) for p in (annotated, raw))
    assert with_boxes.shape == without.shape == (480, 640, 3)
    changed = np.abs(with_boxes - without).sum(axis=2) > 60
    x1, y1, x2, y2 = (round(v) for v in window.last_overlays[0].box)
    ring = changed[max(y1 - 2, 0):y2 + 3, max(x1 - 2, 0):x2 + 3]
    assert ring[:, :5].any(axis=1).mean() > 0.8 and ring[:, -5:].any(axis=1).mean() > 0.8  # both sides painted
    assert changed.mean() < 0.2  # and little else


def test_a_model_switch_keeps_a_hand_set_tau(qtbot, make_window, tmp_path, people, pipeline, private_models):
    import shutil as files

    from core.models.store import register_embedder, set_active

    copy = tmp_path / "copy.onnx"
    files.copyfile(pipeline.embedder.spec.path, copy)
    register_embedder(copy, pipeline.embedder.spec, "gui-copy", "a copy", 0.3, {}, "copied by a test")
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][:1], 20), tau=0.2)
    next_report(qtbot, window)
    with qtbot.waitSignal(window.controller.modelChanged, timeout=WAIT_MS):
        set_active("gui-copy")  # `oneshot models activate` in a terminal: the window follows
    assert window.controller.service.model.id == "gui-copy"
    next_report(qtbot, window, lambda r: r.tau == pytest.approx(0.2))
    assert "your tau 0.200 kept" in window.statusBar().currentMessage()


def test_a_new_gallery_from_the_settings_applies_at_once(qtbot, make_window, tmp_path, people):
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][:1], 20))
    next_report(qtbot, window)
    other = tmp_path / "other.db"
    with Gallery(other) as gallery:
        result = window.controller.service.preview_enrolment(people["barack_obama"][0]).candidate
        gallery.enroll("Obama", result.chip, result.embedding, window.controller.service.model.id, 1.0, "test")
    from dataclasses import replace

    with qtbot.waitSignal(window.controller.galleryChanged, timeout=WAIT_MS,
                          check_params_cb=lambda count: count == 1):
        window.apply_settings(replace(window.settings, gallery=str(other)))
    next_report(qtbot, window, lambda r: names(r) == ["Obama"])
    assert load_settings(tmp_path / "settings.json").gallery == str(other)


def test_centerface_chosen_as_the_live_detector_runs_the_live_view(qtbot, make_window, tmp_path, people):
    """Settings > Live detector applies between frames, on a new pipeline, and is remembered."""
    from dataclasses import replace

    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][:1], 20))
    next_report(qtbot, window)
    assert window.controller.service.recognizer.pipeline.live_detector.spec.id == "yunet-n"
    window.apply_settings(replace(window.settings, live_detector="centerface"))
    qtbot.waitUntil(lambda: window.controller.service.recognizer.pipeline.live_detector.spec.id == "centerface",
                    timeout=WAIT_MS)
    assert load_settings(tmp_path / "settings.json").live_detector == "centerface"
