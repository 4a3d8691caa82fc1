"""Restoring people from a backup in the gallery manager, and the questions asked on the way.

Real galleries, real photos and real exports; the questions the user answers are the real
message boxes, read and clicked as they open, so the tests check what the user sees.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from core.live.service import RecognitionService
from core.settings import Settings
from core.storage.archive import export_gallery
from core.storage.repository import Gallery
from gui.gallery_dialog import EXPORT_PASSPHRASE_TEXT, PASSPHRASES_DIFFER_TEXT
from gui.history_dialog import HistoryDialog
from gui.workers import stop_all
from gallery_manager import EVERYONE, PASSPHRASE, Answers, click, enrolled


def answer_box(button: str) -> list[tuple[str, set[str]]]:
    """Click ``button`` of the next message box that opens; returns [(its text, its buttons)] once it has."""
    seen = []

    def answer(tries: int = 3000) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            if tries:
                QTimer.singleShot(20, lambda: answer(tries - 1))
            return
        buttons = {choice.text().replace("&", ""): choice for choice in box.buttons()}
        seen.append((box.text(), set(buttons)))
        if button in buttons:
            buttons[button].click()
        else:  # not the question expected: close it, so the test fails instead of waiting forever
            box.done(0)

    QTimer.singleShot(0, answer)
    return seen


def chips(path) -> dict[str, list[bytes]]:
    """name -> the pixels of each sample, in order."""
    with Gallery(path) as gallery:
        found = {}
        for sample in gallery.samples():
            found.setdefault(sample.name, []).append(sample.chip.tobytes())
        return found


def backup_then_forget_biden(qtbot, dialog, export) -> None:
    """Export everyone through the dialog (encrypted), then delete Joe Biden through it."""
    dialog.ask_save_file = lambda title, file_filter: str(export)
    dialog.ask_passphrase = Answers(PASSPHRASE, PASSPHRASE)
    click(qtbot, dialog.export_button)
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Exported"), timeout=30_000)
    dialog.select("Joe Biden")
    dialog.confirm_delete = lambda name: True
    with qtbot.waitSignals([dialog.changed, dialog.loaded], order="strict"):
        click(qtbot, dialog.delete_button)
    assert dialog.visible_names() == ["Barack Obama", "Kit Harington"]


def restore(qtbot, dialog, export, choice: str) -> list[tuple[str, set[str]]]:
    """Import ``export`` through the dialog, answering the question about people already enrolled with ``choice``."""
    dialog.ask_open_file = lambda title, file_filter: str(export)
    dialog.ask_passphrase = Answers(PASSPHRASE, PASSPHRASE)  # the first try, then the one after the question
    del dialog.ask_on_conflict  # the real question (open_dialog fails any prompt a test does not expect)
    seen = answer_box(choice)
    with qtbot.waitSignals([dialog.changed, dialog.loaded], order="strict", timeout=60_000):
        click(qtbot, dialog.import_button)
    return seen


QUESTION = ("2 of the 3 people in backup.zip are already enrolled: Barack Obama, Kit Harington.\n\n"
            "Skip them: import only the people who are missing, and leave the others as they are.\n"
            "Merge: also add the file's samples to the people already enrolled (samples they already "
            "have are left out).")


def test_skip_restores_a_forgotten_person_and_leaves_the_others(qtbot, open_dialog, gallery_path, tmp_path):
    before = chips(gallery_path)
    dialog = open_dialog(gallery_path)
    export = tmp_path / "backup.zip"
    backup_then_forget_biden(qtbot, dialog, export)

    seen = restore(qtbot, dialog, export, "Skip them")
    assert seen == [(QUESTION, {"Skip them", "Merge", "Cancel"})]
    assert dialog.status.text() == ("Imported 1 person (1 sample). "
                                    "Skipped 2 people already enrolled: Barack Obama, Kit Harington.")
    assert enrolled(gallery_path) == EVERYONE and dialog.visible_names() == list(EVERYONE)
    assert chips(gallery_path) == before
    assert dialog.warnings == []


def test_merge_adds_the_missing_person_and_no_sample_twice(qtbot, open_dialog, gallery_path, tmp_path):
    before = chips(gallery_path)
    dialog = open_dialog(gallery_path)
    export = tmp_path / "backup.zip"
    backup_then_forget_biden(qtbot, dialog, export)

    restore(qtbot, dialog, export, "Merge")
    assert dialog.status.text() == ("Imported 1 person (1 sample). Added 0 samples to Barack Obama, "
                                    "Kit Harington (3 samples they already had left out).")
    assert enrolled(gallery_path) == EVERYONE
    assert chips(gallery_path) == before  # the same chips are recognised: nothing twice
    assert dialog.warnings == []


def test_merge_adds_the_samples_a_person_lacks(qtbot, open_dialog, gallery_path, tmp_path, faces, model_id):
    export = tmp_path / "backup.zip"
    with Gallery(tmp_path / "other.db") as other:  # Obama's second photo only, as in another gallery
        name, chip, vector, photo = faces[1]
        other.enroll(name, chip, vector, model_id, 0.9, str(photo))
        export_gallery(other, model_id, export, PASSPHRASE)
    with Gallery(gallery_path) as gallery:
        gallery.remove_sample(gallery.samples()[1].id)  # Obama's second sample gone
    dialog = open_dialog(gallery_path)
    restore(qtbot, dialog, export, "Merge")
    assert dialog.status.text() == "Imported 0 people (0 samples). Added 1 sample to Barack Obama."
    assert enrolled(gallery_path) == EVERYONE


def test_cancelling_the_question_imports_nothing(qtbot, open_dialog, gallery_path, tmp_path, model_id):
    export = tmp_path / "backup.zip"
    with Gallery(gallery_path) as gallery:
        export_gallery(gallery, model_id, export, None)
    dialog = open_dialog(gallery_path)
    dialog.ask_open_file = lambda title, file_filter: str(export)
    del dialog.ask_on_conflict  # the real question
    seen = answer_box("Cancel")
    with qtbot.assertNotEmitted(dialog.changed):
        click(qtbot, dialog.import_button)
        qtbot.waitUntil(lambda: bool(seen) and dialog.import_button.isEnabled(), timeout=30_000)
    assert seen[0][0].startswith("3 of the 3 people in backup.zip are already enrolled")
    assert enrolled(gallery_path) == EVERYONE and dialog.status.text() == "" and dialog.warnings == []


def test_a_sample_that_does_not_look_like_them_is_a_plain_question(qtbot, open_dialog, gallery_path, people):
    dialog = open_dialog(gallery_path)
    dialog.select("Joe Biden")
    dialog.ask_open_file = lambda title, file_filter: str(people["rose_leslie"][0])
    seen = answer_box("Cancel")
    click(qtbot, dialog.add_button)
    qtbot.waitUntil(lambda: bool(seen) and dialog.add_button.isEnabled(), timeout=30_000)
    text, buttons = seen[0]
    assert buttons == {"Add it anyway", "Cancel"}
    assert text.startswith("This face does not look like Joe Biden: its distance to their samples is 0.")
    assert text.endswith("Add it to Joe Biden anyway only if it really is them.")
    assert "confirm" not in text and "force" not in text and "'" not in text
    assert enrolled(gallery_path) == EVERYONE and dialog.warnings == []

    answer_box("Add it anyway")
    with qtbot.waitSignals([dialog.changed, dialog.loaded], order="strict", timeout=60_000):
        click(qtbot, dialog.add_button)
    assert enrolled(gallery_path)["Joe Biden"] == 2
    assert dialog.status.text() == "Added a sample to Joe Biden."


def test_passphrases_that_differ_are_asked_again_for_the_same_file(qtbot, open_dialog, gallery_path, tmp_path):
    export = tmp_path / "out.zip"
    dialog = open_dialog(gallery_path)
    dialog.ask_save_file = Answers(str(export))  # asked once: a second file dialog would fail the test
    dialog.ask_passphrase = Answers(PASSPHRASE, PASSPHRASE + " ", PASSPHRASE, PASSPHRASE)
    click(qtbot, dialog.export_button)
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Exported"), timeout=30_000)
    assert dialog.status.text() == f"Exported 4 samples to {export}."
    assert [label for _, label in dialog.ask_passphrase.asked] == [
        EXPORT_PASSPHRASE_TEXT, "The same passphrase again:", PASSPHRASES_DIFFER_TEXT, "The same passphrase again:"]
    assert PASSPHRASES_DIFFER_TEXT.startswith("The two passphrases differ; type it again.")
    assert dialog.warnings == []

    dialog.ask_save_file = Answers(str(tmp_path / "again.zip"))
    dialog.ask_passphrase = Answers(PASSPHRASE, "typo", None)  # cancelled on the second round: nothing written
    click(qtbot, dialog.export_button)
    assert dialog.ask_passphrase.replies == [] and not list(tmp_path.glob("again.zip*"))


def test_history_counts_one_entry_in_the_singular(qtbot, pipeline, tmp_path, faces, model_id):
    path = tmp_path / "one.db"
    with Gallery(path) as gallery:
        name, chip, vector, photo = faces[2]
        gallery.enroll(name, chip, vector, model_id, 0.9, str(photo))
    service = RecognitionService(Settings(gallery=str(path)), pipeline, Gallery(path))
    try:
        dialog = HistoryDialog(service)
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda: dialog.entries != [])
        assert dialog.status.text() == "1 entry"
        dialog.filter.setText("biden")
        assert dialog.status.text() == "1 of 1 entry"
        dialog.filter.setText("nobody")
        assert dialog.status.text() == "0 of 1 entry"
    finally:
        assert stop_all()
        service.close()
