"""The window and an encrypted gallery: the passphrase prompt, Gallery history, the retention setting."""

from __future__ import annotations

import os
import sqlite3
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from core.storage.repository import Gallery  # noqa: E402
from core.vision.imaging import load_image  # noqa: E402
from core.settings import load_settings  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from camera_frames import WAIT_MS, names, next_report, write_frames  # noqa: E402

PASSPHRASE = "correct horse battery staple"


def enrolled_gallery(path, pipeline, people, **options) -> None:
    """Obama enrolled from one photo, then renamed twice (three history entries)."""
    result = pipeline.analyse(load_image(people["barack_obama"][0]))[0]
    with Gallery(path, **options) as gallery:
        gallery.enroll("Barack", result.chip, result.embedding, pipeline.embedder.spec.id, 1.0, "photo 1")
        gallery.rename("Barack", "Obama")
        gallery.rename("Obama", "Barack Obama")


def answering(monkeypatch, answers: list) -> list[str]:
    """The window's passphrase prompt answers from ``answers``; returns the reasons it was asked with."""
    asked = []

    def ask(window, prompt):
        assert threading.current_thread() is threading.main_thread(), "asked off the UI thread"
        asked.append(prompt)
        answer = answers.pop(0)
        QTimer.singleShot(0, lambda: window.controller.give_passphrase(answer))  # as the dialog's OK or Cancel

    monkeypatch.setattr(MainWindow, "ask_passphrase", ask)
    return asked


def test_a_passphrase_gallery_is_asked_for_and_a_wrong_one_asked_again(qtbot, make_window, tmp_path, people,
                                                                       pipeline, monkeypatch):
    gallery = tmp_path / "gallery.db"
    enrolled_gallery(gallery, pipeline, people, protection="passphrase", passphrase=PASSPHRASE)
    asked = answering(monkeypatch, ["Correct horse battery staple", PASSPHRASE])
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][1:2], 20))
    next_report(qtbot, window, lambda report: names(report) == ["Barack Obama"])
    assert len(asked) == 2
    assert "protected by a passphrase" in asked[0] and "wrong passphrase" in asked[1].lower()


def test_cancelling_the_prompt_opens_nothing_and_changes_nothing(qtbot, make_window, tmp_path, people, pipeline,
                                                                 monkeypatch):
    gallery = tmp_path / "gallery.db"
    enrolled_gallery(gallery, pipeline, people, protection="passphrase", passphrase=PASSPHRASE)
    before = gallery.read_bytes()
    answering(monkeypatch, [None])
    window = make_window(tmp_path)
    qtbot.waitUntil(window.locked_bar.isVisible, timeout=WAIT_MS)  # locked, Unlock offered (test_first_day.py)
    assert not window.actions_by_name["history"].isEnabled()
    assert gallery.read_bytes() == before


def test_history_lists_the_changes_newest_first_and_filters(qtbot, make_window, tmp_path, people, pipeline):
    enrolled_gallery(tmp_path / "gallery.db", pipeline, people)
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][1:2], 5))
    next_report(qtbot, window)
    dialog = window.open_history()
    qtbot.waitUntil(lambda: len(dialog.visible_rows()) == 3, timeout=WAIT_MS)
    rows = dialog.visible_rows()
    assert [(row[3], row[4], row[5]) for row in rows] == [
        ("rename", "Barack Obama", "was Obama"), ("rename", "Obama", "was Barack"), ("enrol", "Barack", "sample 1 from photo 1")]
    assert not dialog.banner.isVisible()
    qtbot.keyClicks(dialog.filter, "enrol")
    assert [row[3] for row in dialog.visible_rows()] == ["enrol"] and dialog.status.text() == "1 of 3 entries"


def test_an_altered_history_shows_a_red_banner(qtbot, make_window, tmp_path, people, pipeline):
    path = tmp_path / "gallery.db"
    enrolled_gallery(path, pipeline, people, protection="none")
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER history_is_append_only_delete")
    db.execute("DELETE FROM history WHERE id = 2")
    db.commit()
    db.close()
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][1:2], 5))
    next_report(qtbot, window)
    dialog = window.open_history()
    qtbot.waitUntil(dialog.banner.isVisible, timeout=WAIT_MS)
    assert "entry 3 does not follow" in dialog.banner.text()
    assert len(dialog.visible_rows()) == 2


def test_the_retention_period_round_trips_through_settings(qtbot, make_window, tmp_path, people):
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][1:2], 5))
    next_report(qtbot, window)
    dialog = window.open_settings()
    assert dialog.protection.text().startswith("encrypted (key file in ")
    assert not dialog.retention_check.isChecked() and dialog.settings().retention_days is None
    assert not dialog.retention_days.isEnabled()
    dialog.retention_check.setChecked(True)
    dialog.retention_days.setValue(45)
    with qtbot.waitSignal(window.controller.settingsApplied, timeout=WAIT_MS,
                          check_params_cb=lambda settings: settings.retention_days == 45.0):
        dialog.accept()
    assert load_settings(tmp_path / "settings.json").retention_days == 45.0
    shown = window.open_settings()
    assert shown.retention_check.isChecked() and shown.retention_days.value() == 45
    shown.retention_check.setChecked(False)
    assert shown.settings().retention_days is None
    shown.reject()
