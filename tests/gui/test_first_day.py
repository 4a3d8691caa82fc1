"""A first day with the desktop app: a locked gallery, settings that cannot be used, no camera,
the status bar at 800x600, snapshots and history; driven like a user would, offscreen."""

from __future__ import annotations

import os
import stat

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from core.settings import Settings, load_settings, save_settings  # noqa: E402
from core.storage import history  # noqa: E402
from core.storage.repository import Gallery  # noqa: E402
from camera_frames import WAIT_MS, next_report, write_frames  # noqa: E402
from gui.settings_dialog import SettingsDialog  # noqa: E402

PASSPHRASE = "correct horse battery staple"


def recorded(window, method: str) -> list:
    """Replace a modal prompt of the window by a recorder (a modal box would block the test)."""
    seen = []
    setattr(window, method, lambda *args: seen.append(args))
    return seen


def enabled(window, *names: str) -> bool:
    return all(window.actions_by_name[name].isEnabled() for name in names)


def test_a_cancelled_passphrase_leaves_the_gallery_locked_until_unlocked(qtbot, make_window, tmp_path, people):
    Gallery(tmp_path / "gallery.db", protection="passphrase", passphrase=PASSPHRASE).close()
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][:1], 20))
    qtbot.waitUntil(lambda: window.passphrase_dialog is not None, timeout=WAIT_MS)
    dialog = window.passphrase_dialog
    qtbot.waitUntil(dialog.isVisible)
    assert dialog.width() <= 600 and dialog.windowTitle() == "Unlock the gallery"
    assert "ONESHOT_PASSPHRASE" not in dialog.text() and "terminal" not in dialog.text()
    dialog.reject()  # Cancel

    qtbot.waitUntil(window.locked_bar.isVisible, timeout=WAIT_MS)
    assert "The gallery is locked" in window.locked_text.text()
    assert enabled(window, "unlock", "settings") and not window.actions_by_name["start"].isEnabled()
    assert not window.actions_by_name["gallery"].isEnabled() and not window.actions_by_name["enroll"].isEnabled()
    assert window.actions_by_name["unlock"] in window.file_menu.actions()

    qtbot.mouseClick(window.unlock_button, Qt.MouseButton.LeftButton)  # asked again
    qtbot.waitUntil(lambda: window.passphrase_dialog is not None and window.passphrase_dialog.isVisible())
    qtbot.keyClicks(window.passphrase_dialog.field, "wrong")
    window.passphrase_dialog.accept()
    qtbot.waitUntil(lambda: window.passphrase_dialog is not None and "wrong" in window.passphrase_dialog.text().lower(),
                    timeout=WAIT_MS)  # a wrong passphrase is asked again, saying so
    qtbot.keyClicks(window.passphrase_dialog.field, PASSPHRASE)
    window.passphrase_dialog.accept()

    qtbot.waitUntil(lambda: enabled(window, "start", "gallery", "enroll"), timeout=WAIT_MS)
    assert not window.locked_bar.isVisible() and not window.actions_by_name["unlock"].isEnabled()


def test_a_provider_that_cannot_be_used_is_not_saved(qtbot, make_window, tmp_path, people):
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][:1], 20))
    warnings = recorded(window, "show_warning")
    qtbot.waitUntil(lambda: window.actions_by_name["start"].isEnabled(), timeout=WAIT_MS)
    dialog = window.open_settings()
    dialog.provider_combo.setCurrentIndex(dialog.provider_combo.findData("cuda"))  # no CUDA on this machine
    with qtbot.waitSignal(window.controller.settingsFailed, timeout=WAIT_MS):
        dialog.accept()
    assert load_settings(tmp_path / "settings.json").provider == "auto"
    assert window.settings.provider == "auto"
    (title, message), = warnings
    assert title == "Settings not applied" and "CUDA" in message and "nothing was saved" in message.lower()


def test_typing_a_long_tau_does_not_widen_the_settings_dialog(qtbot):
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    width = dialog.width()
    dialog.tau_spin.lineEdit().selectAll()
    qtbot.keyClicks(dialog.tau_spin.lineEdit(), "0.123456789")
    QApplication.processEvents()
    assert dialog.width() == width


def test_settings_show_the_video_playing_as_the_camera(qtbot, make_window, tmp_path, people):
    camera = write_frames(tmp_path / "obama", people["barack_obama"][:1], 20)
    window = make_window(camera)
    dialog = window.open_settings()
    shown = dialog.camera_combo.currentText()
    assert "not found" not in shown and shown == str(camera)
    dialog.tau_spin.setValue(0.3)
    dialog.accept()  # the folder played is not saved as the camera: only another choice would be
    assert load_settings(tmp_path / "settings.json").camera == "0"


def test_protection_follows_the_chosen_gallery_file(qtbot, tmp_path):
    Gallery(tmp_path / "locked.db", protection="passphrase", passphrase=PASSPHRASE).close()
    dialog = SettingsDialog(Settings(gallery=str(tmp_path / "old.db")), protection="encrypted (key file in ~/.keys)")
    qtbot.addWidget(dialog)
    dialog.ask_gallery_file = lambda: str(tmp_path / "locked.db")
    dialog.choose_gallery_button.click()
    qtbot.waitUntil(lambda: dialog.protection.text() == "encrypted (passphrase)", timeout=WAIT_MS)
    dialog.ask_gallery_file = lambda: str(tmp_path / "new.db")
    dialog.choose_gallery_button.click()
    qtbot.waitUntil(lambda: dialog.protection.text() == "new gallery: encrypted with a key", timeout=WAIT_MS)
    assert not (tmp_path / "new.db").exists()  # only looked at


def test_add_camera_says_why_it_is_off_at_the_limit(qtbot, tmp_path):
    dialog = SettingsDialog(Settings(more_cameras=("1", "2")))
    qtbot.addWidget(dialog)
    add = dialog.more_cameras.add_button
    assert add.isEnabled() and "At most" not in add.toolTip()
    dialog.more_cameras.add("3")
    assert not add.isEnabled() and "At most 4 cameras" in add.toolTip()


def test_start_says_why_it_cannot_start_without_a_camera(qtbot, make_window, tmp_path, people):
    window = make_window("9")  # no such webcam
    qtbot.waitUntil(lambda: window.camera_label.text() == "No camera", timeout=WAIT_MS)
    start = window.actions_by_name["start"]
    assert start.text() == "Start" and not start.isEnabled() and "No camera" in start.toolTip()
    window.controller.start_source(str(write_frames(tmp_path / "obama", people["barack_obama"][:1], 20)))
    next_report(qtbot, window)
    assert start.text() == "Stop" and start.isEnabled()


def test_the_model_message_fits_the_status_bar_at_800x600(qtbot, make_window, tmp_path, people):
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][:1], 20))
    window.resize(800, 600)
    next_report(qtbot, window, lambda r: len(r.faces) == 1)
    window.controller.modelChanged.emit(window.controller.service.model)
    bar = window.statusBar()
    message = bar.currentMessage()
    room = bar.width() - sum(label.width() + 12 for label in (window.camera_label, window.provider_label,
                                                               window.fps_label, window.gallery_label)
                             if label.isVisible())
    assert message and bar.fontMetrics().horizontalAdvance(message) <= room
    assert "calibrated for this model" in bar.toolTip()  # the whole sentence on hover
    os.makedirs("/work/shots/window", exist_ok=True)
    window.grab().save(f"/work/shots/window/05-{os.environ.get('SHOT', 'after')}.png")


def test_snapshots_are_private(qtbot, make_window, tmp_path, people):
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][:1], 20))
    next_report(qtbot, window, lambda r: len(r.faces) == 1)
    path = tmp_path / "snapshot.png"
    path.write_bytes(b"")
    path.chmod(0o644)  # an existing file is made private too
    window.ask_snapshot_file = lambda: (str(path), True)
    assert window.snapshot() == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_bytes().startswith(b"\x89PNG")


def test_the_history_records_the_desktop_app(qtbot, make_window, tmp_path, people, monkeypatch):
    from gui.app import run

    monkeypatch.setitem(history.PROGRAM, "name", history.PROGRAM["name"])  # restored after the test
    save_settings(Settings(gallery=str(tmp_path / "gallery.db"), liveness=False), tmp_path / "settings.json")
    guard = QTimer(singleShot=True, interval=WAIT_MS * 2)  # never hangs the run
    guard.timeout.connect(QApplication.instance().quit)
    guard.start()
    assert run(str(write_frames(tmp_path / "obama", people["barack_obama"][:1], 5)), check_frames=1) == 0
    guard.stop()
    assert history.PROGRAM["name"] == "oneshot gui"

    window = make_window(None)
    qtbot.waitUntil(lambda: window.controller.service is not None, timeout=WAIT_MS)
    with qtbot.waitSignal(window.controller.candidateReady, timeout=WAIT_MS) as candidate:
        window.controller.preview_photo(str(people["barack_obama"][0]))
    with qtbot.waitSignal(window.controller.enrolled, timeout=WAIT_MS):
        window.controller.commit_enrolment("Barack Obama", candidate.args[0].candidate)
    entries, _ = window.controller.service.history()
    assert [entry.program for entry in entries][-1] == "oneshot gui"
