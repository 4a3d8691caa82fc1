"""A network camera in the window: identified, lost and found again, its password never on screen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from camera_frames import WAIT_MS, next_report  # noqa: E402
from mjpeg_server import MjpegCamera  # noqa: E402

SECRET = "s3cret-Pa55"


def test_a_network_camera_plays_is_lost_and_comes_back_without_showing_its_password(qtbot, make_window, people):
    camera = MjpegCamera([people["barack_obama"][1].read_bytes()], fps=15, credentials=("admin", SECRET)).start()
    try:
        window = make_window(camera.url("admin", SECRET))
        next_report(qtbot, window, lambda report: report.faces)
        assert "***@127.0.0.1" in window.camera_label.text() and SECRET not in window.camera_label.text()
        with qtbot.waitSignal(window.controller.cameraLost, timeout=WAIT_MS) as lost:
            camera.stop()
        assert SECRET not in lost.args[0]
        qtbot.waitUntil(lambda: "Retrying" in window.view.placeholder, timeout=WAIT_MS)
        assert SECRET not in window.view.placeholder
        with qtbot.waitSignal(window.controller.cameraRestored, timeout=WAIT_MS):
            camera.start()
        assert next_report(qtbot, window, lambda report: report.faces).faces
    finally:
        camera.stop()


def test_settings_take_a_network_camera_url(qtbot, monkeypatch):
    monkeypatch.setattr("gui.settings_dialog.list_cameras", lambda: [])
    from gui.settings_dialog import CHOOSE_STREAM, SettingsDialog
    from core.settings import Settings

    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog.ask_stream_url = lambda: f"rtsp://admin:{SECRET}@10.0.0.2/live"
    dialog.camera_combo.setCurrentIndex(dialog.camera_combo.findData(CHOOSE_STREAM))
    assert dialog.settings().camera == f"rtsp://admin:{SECRET}@10.0.0.2/live"
    assert dialog.camera_combo.currentText() == "rtsp://***@10.0.0.2/live"
