"""The gallery manager, settings and About dialogs: real widgets on real galleries and chips.

Prompts are methods of the dialogs; each test sets the answers it expects to be asked for
and every other prompt fails the test, so no modal dialog can ever block a run.
"""

from __future__ import annotations

import zipfile

import numpy as np
import PySide6
import pytest
from PIL import Image
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QInputDialog, QLineEdit

from core.storage.archive import ENCRYPTION, export_gallery
from core.storage.repository import Gallery
from core.models.info import collect_info
from core.models.registry import shipped_models
from core.settings import Settings
from gui.about import AboutDialog
from gui.gallery_dialog import EXPORT_PASSPHRASE_TEXT, GalleryDialog, delete_warning
from gui.imageconv import rgb_to_qimage
from gui.settings_dialog import SettingsDialog, model_defaults
from gallery_manager import EVERYONE, PASSPHRASE, Answers, click, enrolled, refused, unexpected

def pixels_of(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def item_texts(dialog: GalleryDialog) -> list[str]:
    return [dialog.list.item(row).text() for row in range(dialog.list.count())]


# -- gallery manager -----------------------------------------------------------------------------


def test_lists_everyone_with_their_first_chip_and_sample_count(open_dialog, gallery_path, faces):
    dialog = open_dialog(gallery_path)
    assert dialog.visible_names() == list(EVERYONE)
    assert item_texts(dialog) == ["Barack Obama\n2 samples", "Joe Biden\n1 sample", "Kit Harington\n1 sample"]
    assert dialog.placeholder.isHidden()
    first_chip, second_chip = faces[0][1], faces[1][1]
    icon = pixels_of(dialog.list.item(0).icon().pixmap(QSize(150, 150)).toImage())
    assert np.array_equal(icon, first_chip)
    assert not np.array_equal(icon, second_chip)


def test_search_filters_by_name_ignoring_case(qtbot, open_dialog, gallery_path):
    dialog = open_dialog(gallery_path)
    dialog.select("Joe Biden")
    qtbot.keyClicks(dialog.search_box, "BID")
    assert dialog.visible_names() == ["Joe Biden"]
    assert dialog.rename_button.isEnabled()
    dialog.search_box.setText("ar")
    assert dialog.visible_names() == ["Barack Obama", "Kit Harington"]
    assert dialog.selected_name() is None and not dialog.rename_button.isEnabled()
    dialog.search_box.setText("zz")
    assert dialog.visible_names() == []
    assert "zz" in dialog.placeholder.text() and not dialog.placeholder.isHidden()
    dialog.search_box.clear()
    assert dialog.visible_names() == list(EVERYONE)


def test_rename_changes_the_gallery_file(qtbot, open_dialog, gallery_path):
    dialog = open_dialog(gallery_path)
    dialog.select("Joe Biden")
    dialog.ask_new_name = lambda old: "Joseph Biden" if old == "Joe Biden" else None
    with qtbot.waitSignals([dialog.changed, dialog.loaded], order="strict"):
        click(qtbot, dialog.rename_button)
    assert enrolled(gallery_path) == {"Barack Obama": 2, "Joseph Biden": 1, "Kit Harington": 1}
    assert dialog.visible_names() == ["Barack Obama", "Joseph Biden", "Kit Harington"]
    assert dialog.selected_name() == "Joseph Biden"
    assert dialog.status.text() == "Renamed Joe Biden to Joseph Biden."
    assert dialog.warnings == []


def test_renaming_to_a_taken_name_shows_why_and_changes_nothing(qtbot, open_dialog, gallery_path):
    dialog = open_dialog(gallery_path)
    dialog.select("Joe Biden")
    dialog.ask_new_name = lambda old: "barack obama"
    assert refused(qtbot, dialog, dialog.rename_button) == "a person named 'barack obama' is already enrolled"
    assert enrolled(gallery_path) == EVERYONE
    assert dialog.visible_names() == list(EVERYONE)


def test_delete_asks_first_and_declining_keeps_the_person(qtbot, open_dialog, gallery_path):
    dialog = open_dialog(gallery_path)
    asked = []

    def decline(name: str) -> bool:
        asked.append(name)
        return False

    dialog.confirm_delete = decline
    dialog.select("Barack Obama")
    click(qtbot, dialog.delete_button)
    assert asked == ["Barack Obama"]
    assert enrolled(gallery_path) == EVERYONE

    dialog.confirm_delete = lambda name: True
    with qtbot.waitSignals([dialog.changed, dialog.loaded], order="strict"):
        click(qtbot, dialog.delete_button)
    assert enrolled(gallery_path) == {"Joe Biden": 1, "Kit Harington": 1}
    assert dialog.visible_names() == ["Joe Biden", "Kit Harington"]
    assert dialog.status.text() == "Deleted Barack Obama (2 samples)."


def test_the_delete_confirmation_says_it_cannot_be_undone():
    text = delete_warning("Ana", 3)
    assert "Ana" in text and "3 samples" in text
    assert "cannot be undone" in text and "irrecoverably" in text


def test_f2_renames_and_del_deletes_the_selected_person(qtbot, open_dialog, gallery_path):
    dialog = open_dialog(gallery_path)
    with qtbot.waitActive(dialog):  # shortcuts reach the active window only
        dialog.show()
        dialog.activateWindow()
    dialog.select("Kit Harington")
    dialog.list.setFocus()
    asked = []

    def cancel(name: str) -> None:
        asked.append(name)

    dialog.ask_new_name = cancel
    dialog.confirm_delete = cancel
    qtbot.keyClick(dialog.list, Qt.Key.Key_F2)  # a button shortcut clicks after a short animation
    qtbot.waitUntil(lambda: asked == ["Kit Harington"])
    qtbot.keyClick(dialog.list, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: asked == ["Kit Harington", "Kit Harington"])
    dialog.search_box.setFocus()
    qtbot.keyClicks(dialog.search_box, "kit")
    qtbot.keyClick(dialog.search_box, Qt.Key.Key_Home)
    qtbot.keyClick(dialog.search_box, Qt.Key.Key_Delete)  # edits the search, deletes nobody
    assert dialog.search_box.text() == "it"
    assert not dialog.delete_button.isDown()  # a shortcut would have pressed it at once


def test_add_sample_detects_embeds_and_stores_the_photo(qtbot, open_dialog, gallery_path, people):
    photo = str(people["joe_biden"][1])
    dialog = open_dialog(gallery_path)
    dialog.select("Joe Biden")
    dialog.ask_open_file = lambda title, file_filter: photo
    with qtbot.waitSignals([dialog.changed, dialog.loaded], order="strict", timeout=30_000):
        click(qtbot, dialog.add_button)
    assert "Joe Biden\n2 samples" in item_texts(dialog)
    assert dialog.selected_name() == "Joe Biden"
    assert enrolled(gallery_path)["Joe Biden"] == 2


def test_a_sample_of_someone_else_is_refused_with_the_distance_unless_confirmed(qtbot, open_dialog, gallery_path,
                                                                                people):
    photo = str(people["rose_leslie"][0])  # not Joe Biden
    dialog = open_dialog(gallery_path)
    dialog.select("Joe Biden")
    dialog.ask_open_file = lambda title, file_filter: photo
    asked = []
    dialog.confirm_same_person = lambda reason: asked.append(reason) or False
    click(qtbot, dialog.add_button)
    qtbot.waitUntil(lambda: bool(asked) and dialog.add_button.isEnabled())
    assert "does not look like Joe Biden" in asked[0] and "distance" in asked[0]
    assert enrolled(gallery_path) == EVERYONE and not dialog.warnings

    dialog.confirm_same_person = lambda reason: True
    with qtbot.waitSignals([dialog.changed, dialog.loaded], order="strict", timeout=30_000):
        click(qtbot, dialog.add_button)
    assert enrolled(gallery_path)["Joe Biden"] == 2


def test_a_failed_add_sample_is_shown_and_changes_nothing(qtbot, open_dialog, gallery_path, tmp_path):
    wall = tmp_path / "wall.jpg"
    Image.new("RGB", (320, 240), (200, 190, 180)).save(wall)
    dialog = open_dialog(gallery_path)
    dialog.select("Kit Harington")
    dialog.ask_open_file = lambda title, file_filter: str(wall)
    assert refused(qtbot, dialog, dialog.add_button) == f"{wall}: no face found"
    assert enrolled(gallery_path) == EVERYONE


def test_export_then_import_into_an_empty_gallery_round_trips(qtbot, open_dialog, gallery_path, tmp_path, model_id):
    source = open_dialog(gallery_path)
    source.ask_save_file = lambda title, file_filter: str(tmp_path / "everyone")
    source.ask_passphrase = Answers(PASSPHRASE, PASSPHRASE)
    click(qtbot, source.export_button)
    qtbot.waitUntil(lambda: source.status.text().startswith("Exported"), timeout=30_000)
    export = tmp_path / "everyone.zip"
    assert source.status.text() == f"Exported 4 samples to {export}."
    assert source.ask_passphrase.asked == [("Export the gallery", EXPORT_PASSPHRASE_TEXT),
                                           ("Export the gallery", "The same passphrase again:")]
    assert ENCRYPTION in zipfile.ZipFile(export).namelist()

    target_path = tmp_path / "empty.db"
    target = open_dialog(target_path)
    assert target.visible_names() == [] and not target.placeholder.isHidden()
    assert target.placeholder.text().startswith("Nobody is enrolled yet")
    assert not target.export_button.isEnabled()
    target.ask_open_file = lambda title, file_filter: str(export)
    target.ask_passphrase = Answers(PASSPHRASE)
    with qtbot.waitSignals([target.changed, target.loaded], order="strict", timeout=30_000):
        click(qtbot, target.import_button)
    assert target.status.text() == "Imported 3 people (4 samples)."
    assert target.ask_passphrase.asked == [("Import a gallery export", "everyone.zip is encrypted. Its passphrase:")]
    assert target.visible_names() == list(EVERYONE) and target.placeholder.isHidden()
    assert enrolled(target_path) == EVERYONE
    with Gallery(gallery_path) as original, Gallery(target_path) as copy:
        assert [s.name for s in copy.samples()] == [s.name for s in original.samples()]
        for a, b in zip(original.samples(), copy.samples()):
            assert np.array_equal(a.chip, b.chip)
        assert np.array_equal(original.vectors(model_id).matrix, copy.vectors(model_id).matrix)


def test_import_is_all_or_nothing_and_says_why_it_failed(qtbot, open_dialog, gallery_path, tmp_path, faces, model_id):
    export = tmp_path / "everyone.zip"
    with Gallery(gallery_path) as gallery:
        export_gallery(gallery, model_id, export, None)
    damaged = tmp_path / "damaged.zip"
    damaged.write_text("not a zip")
    biden_only = tmp_path / "biden.db"
    with Gallery(biden_only) as gallery:
        name, chip, vector, photo = faces[2]
        gallery.enroll(name, chip, vector, model_id, 0.9, str(photo))

    other_model = tmp_path / "other-model.zip"
    with Gallery(tmp_path / "other-model.db") as gallery:  # the same person, vectors of another embedder
        name, chip, vector, photo = faces[2]
        gallery.enroll(name, chip, vector, "another-model", 0.9, str(photo))
        export_gallery(gallery, "another-model", other_model, None)

    cases = [
        (tmp_path / "other.db", other_model,
         f"{other_model}: exported with model 'another-model', but this gallery matches with {model_id!r}"),
        (tmp_path / "fresh.db", damaged, f"{damaged}: not a OneShot gallery export"),
    ]
    for path, chosen, message in cases:
        before = enrolled(path)
        dialog = open_dialog(path)
        dialog.ask_open_file = lambda title, file_filter, chosen=chosen: str(chosen)
        assert refused(qtbot, dialog, dialog.import_button).startswith(message)
        assert enrolled(path) == before


def test_a_wrong_passphrase_is_asked_again_and_cancelling_imports_nothing(qtbot, open_dialog, gallery_path,
                                                                          tmp_path, model_id):
    export = tmp_path / "everyone.zip"
    with Gallery(gallery_path) as gallery:
        export_gallery(gallery, model_id, export, PASSPHRASE)
    target_path = tmp_path / "target.db"
    target = open_dialog(target_path)
    target.ask_open_file = lambda title, file_filter: str(export)
    target.ask_passphrase = Answers("wrong", None)
    with qtbot.assertNotEmitted(target.changed):
        click(qtbot, target.import_button)
        qtbot.waitUntil(lambda: len(target.ask_passphrase.asked) == 2 and target.import_button.isEnabled(),
                        timeout=30_000)
    assert [label for _, label in target.ask_passphrase.asked] == [
        "everyone.zip is encrypted. Its passphrase:", "Wrong passphrase for everyone.zip; nothing was imported. "
                                                      "Try again:"]
    assert target.warnings == [] and target.status.text() == "" and enrolled(target_path) == {}

    target.ask_passphrase = Answers("wrong", PASSPHRASE)  # right the second time
    with qtbot.waitSignals([target.changed, target.loaded], order="strict", timeout=30_000):
        click(qtbot, target.import_button)
    assert len(target.ask_passphrase.asked) == 2 and enrolled(target_path) == EVERYONE


def test_a_plain_export_only_after_its_warning_and_its_import_never_asks(qtbot, open_dialog, gallery_path,
                                                                         tmp_path):
    export = tmp_path / "plain.zip"
    source = open_dialog(gallery_path)
    source.ask_save_file = lambda title, file_filter: str(export)
    source.ask_passphrase = Answers("")
    source.confirm_plain_export = Answers(False)  # the warning declined: nothing is written
    click(qtbot, source.export_button)
    assert not export.exists() and source.status.text() == "" and source.export_button.isEnabled()

    source.ask_passphrase, source.confirm_plain_export = Answers(""), Answers(True)
    click(qtbot, source.export_button)
    qtbot.waitUntil(lambda: source.status.text().startswith("Exported"), timeout=30_000)
    assert source.status.text() == f"Exported 4 samples to {export} (not encrypted)."
    assert ENCRYPTION not in zipfile.ZipFile(export).namelist()

    target_path = tmp_path / "target.db"
    target = open_dialog(target_path)  # its ask_passphrase fails the test if called
    target.ask_open_file = lambda title, file_filter: str(export)
    with qtbot.waitSignals([target.changed, target.loaded], order="strict", timeout=30_000):
        click(qtbot, target.import_button)
    assert enrolled(target_path) == EVERYONE


def test_the_passphrase_prompt_hides_what_is_typed(open_dialog, gallery_path):
    dialog = open_dialog(gallery_path)
    seen = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        try:
            seen.append((type(box), box.textEchoMode(), box.windowTitle(), box.labelText()))
            box.setTextValue("typed")
        finally:
            box.accept()

    QTimer.singleShot(0, answer)
    assert GalleryDialog.ask_passphrase(dialog, "Export the gallery", "A passphrase:") == "typed"
    assert seen == [(QInputDialog, QLineEdit.EchoMode.Password, "Export the gallery", "A passphrase:")]


def test_export_passphrases_that_differ_or_a_cancel_write_nothing(qtbot, open_dialog, gallery_path, tmp_path):
    source = open_dialog(gallery_path)
    source.ask_save_file = lambda title, file_filter: str(tmp_path / "out.zip")
    for answers in ((PASSPHRASE, PASSPHRASE + " ", None), (None,), (PASSPHRASE, None)):  # differ: asked again
        source.ask_passphrase = Answers(*answers)
        click(qtbot, source.export_button)
        assert source.ask_passphrase.replies == [] and source.status.text() == ""
    assert source.warnings == []
    assert not list(tmp_path.glob("*out.zip*"))  # neither the export nor a temporary


# -- settings ------------------------------------------------------------------------------------


@pytest.fixture
def open_settings(qtbot, monkeypatch):
    """A settings dialog whose camera probe finds the given indices (no real camera needed)."""

    def open_(settings: Settings = Settings(), reason: str = "", cameras: tuple[int, ...] = ()) -> SettingsDialog:
        monkeypatch.setattr("gui.settings_dialog.list_cameras", lambda: list(cameras))
        dialog = SettingsDialog(settings, reason)
        qtbot.addWidget(dialog)
        dialog.ask_camera_source = unexpected("ask_camera_source")
        dialog.ask_gallery_file = unexpected("ask_gallery_file")
        return dialog

    return open_


def ok_button(dialog: SettingsDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_tau_slider_spin_box_and_explanation_move_together(qtbot, open_settings):
    window = {"geometry": "AdnQywADAAA="}
    dialog = open_settings(Settings(window=window))
    assert dialog.tau_slider.value() == 36 and dialog.tau_spin.value() == pytest.approx(0.36)
    calibrated = dialog.tau_explanation.text()
    assert "below 0.36" in calibrated and "Balanced" in calibrated

    dialog.tau_slider.setFocus()
    qtbot.keyClick(dialog.tau_slider, Qt.Key.Key_Right)
    assert dialog.tau_spin.value() == pytest.approx(0.37)
    dialog.tau_slider.setValue(55)
    assert dialog.tau_spin.value() == pytest.approx(0.55)
    lenient = dialog.tau_explanation.text()
    assert "below 0.55" in lenient and "Very lenient" in lenient

    dialog.tau_spin.setValue(0.2)
    assert dialog.tau_slider.value() == 20
    assert "below 0.20" in dialog.tau_explanation.text() and "Very strict" in dialog.tau_explanation.text()

    dialog.score_spin.setValue(0.7)
    dialog.nms_spin.setValue(0.3)
    dialog.resolution_combo.setCurrentIndex(2)
    dialog.provider_combo.setCurrentIndex(dialog.provider_combo.findData("cpu"))
    expected = Settings(tau=0.2, score_threshold=0.7, nms_threshold=0.3, resolution=(1920, 1080), provider="cpu",
                        window=window)
    assert dialog.settings() == expected
    assert ok_button(dialog).isEnabled()
    click(qtbot, ok_button(dialog))
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_typing_a_tau_keeps_every_decimal(qtbot, open_settings):
    dialog = open_settings()
    dialog.tau_spin.lineEdit().selectAll()
    qtbot.keyClicks(dialog.tau_spin.lineEdit(), "0.15")
    assert dialog.tau_spin.value() == pytest.approx(0.15)
    assert dialog.tau_slider.value() == 15
    assert dialog.settings().tau == pytest.approx(0.15)


def test_an_untouched_tau_follows_the_model_and_a_hand_set_one_can_go_back(qtbot, open_settings):
    calibrated = model_defaults()["tau"]
    dialog = open_settings()
    assert dialog.tau_spin.value() == pytest.approx(calibrated)
    assert dialog.settings().tau is None and dialog.settings().score_threshold is None
    assert not dialog.use_calibrated.isEnabled()

    dialog.tau_spin.setValue(0.3)
    assert dialog.settings().tau == pytest.approx(0.3)
    assert f"calibrated value is {calibrated:.2f}" in dialog.tau_calibrated.text()
    click(qtbot, dialog.use_calibrated)
    assert dialog.settings().tau is None and dialog.tau_spin.value() == pytest.approx(calibrated)

    hand_set = open_settings(Settings(tau=0.3))
    assert hand_set.tau_spin.value() == pytest.approx(0.3) and hand_set.use_calibrated.isEnabled()


def test_ok_is_disabled_with_a_reason_while_settings_are_invalid(qtbot, open_settings, tmp_path):
    dialog = open_settings(Settings(resolution=(0, 480)))
    assert not ok_button(dialog).isEnabled()
    assert "resolution must be two positive numbers" in dialog.problem.text()
    dialog.resolution_combo.setCurrentIndex(1)
    assert ok_button(dialog).isEnabled() and dialog.problem.isHidden()

    qtbot.keyClicks(dialog.gallery_edit, "gallery.db")
    assert not ok_button(dialog).isEnabled() and "full path" in dialog.problem.text()
    dialog.gallery_edit.setText(f"{tmp_path}/")
    assert not ok_button(dialog).isEnabled() and "folder" in dialog.problem.text()
    dialog.gallery_edit.setText(str(tmp_path / "g.db"))
    assert ok_button(dialog).isEnabled()
    assert dialog.settings().gallery == str(tmp_path / "g.db")
    assert dialog.settings().resolution == (1280, 720)

    unknown_provider = open_settings(Settings(provider="rocm"))
    assert not ok_button(unknown_provider).isEnabled() and "provider" in unknown_provider.problem.text()


def test_camera_choice_lists_found_cameras_and_a_file_or_folder(qtbot, open_settings, tmp_path):
    dialog = open_settings(Settings(camera="2"), cameras=(0, 2))
    assert dialog.camera_status.text() == "searching for cameras…"
    qtbot.waitUntil(lambda: dialog.camera_status.text() == "found: 0, 2")
    combo = dialog.camera_combo
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels == ["Camera 0", "Camera 2", "Network camera (RTSP or HTTP URL)…", "Video file or image folder…"]
    assert combo.currentText() == "Camera 2"
    combo.setCurrentIndex(0)
    assert dialog.settings().camera == "0"

    dialog.ask_camera_source = lambda: str(tmp_path)
    combo.setCurrentIndex(combo.count() - 1)
    assert dialog.settings().camera == str(tmp_path) and combo.currentText() == str(tmp_path)
    dialog.ask_camera_source = lambda: None  # cancelled: the folder stays
    combo.setCurrentIndex(combo.count() - 1)
    assert dialog.settings().camera == str(tmp_path) and combo.currentText() == str(tmp_path)


def test_a_configured_camera_that_is_not_found_stays_chosen(qtbot, open_settings):
    dialog = open_settings(Settings(camera="1"))
    qtbot.waitUntil(lambda: dialog.camera_status.text() == "no camera found")
    assert dialog.camera_combo.currentText() == "Camera 1 (not found)"
    assert dialog.settings().camera == "1"


def test_provider_reason_and_gallery_location(qtbot, open_settings, monkeypatch, tmp_path):
    monkeypatch.setenv("ONESHOT_GALLERY", str(tmp_path / "default.db"))
    reason = "CUDA is not available (no NVIDIA driver); using the CPU"
    dialog = open_settings(reason=reason)
    assert dialog.provider_reason.text() == reason and not dialog.provider_reason.isHidden()
    assert dialog.gallery_edit.text() == ""
    assert dialog.gallery_edit.placeholderText() == str(tmp_path / "default.db")
    dialog.ask_gallery_file = lambda: str(tmp_path / "chosen.db")
    click(qtbot, dialog.choose_gallery_button)
    assert dialog.settings().gallery == str(tmp_path / "chosen.db")
    assert open_settings().provider_reason.isHidden()


# -- about ---------------------------------------------------------------------------------------


def test_about_shows_versions_models_and_licence_texts(qtbot):
    info = collect_info("cpu")
    dialog = AboutDialog(info)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.licences.toPlainText().startswith("Reading"))
    summary = dialog.summary.text()
    assert info["versions"]["oneshot-faceid"] in summary and info["versions"]["python"] in summary
    assert f"PySide6 {PySide6.__version__}" in summary
    assert info["providers"]["chosen"]["reason"] in summary
    licences = dialog.licences.toPlainText()
    assert dialog.licences.isReadOnly()
    for spec in shipped_models():
        assert spec.id in summary and spec.sha256[:16] in summary and spec.licence in summary
        assert spec.licence_path.read_text(encoding="utf-8").strip() in licences
    assert "Permission is hereby granted" in licences and "CC0 1.0 Universal" in licences


def test_rgb_to_qimage_copies_strided_pixels():
    pixels = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    expected = pixels.copy()
    image, flipped = rgb_to_qimage(pixels), rgb_to_qimage(pixels[:, ::-1])
    pixels[:] = 0  # the image must own its pixels
    assert (image.width(), image.height()) == (30, 20)
    assert np.array_equal(pixels_of(image), expected)
    assert np.array_equal(pixels_of(flipped), expected[:, ::-1])
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_qimage(np.zeros((4, 4), np.uint8))


def test_the_live_detector_is_chosen_in_settings_and_left_unset_by_default(qtbot, open_settings):
    dialog = open_settings()
    assert dialog.live_detector_combo.currentData() == "yunet-n"
    assert dialog.settings().live_detector is None  # untouched: follows the default
    dialog.live_detector_combo.setCurrentIndex(dialog.live_detector_combo.findData("centerface"))
    assert dialog.settings().live_detector == "centerface"
    assert open_settings(Settings(live_detector="centerface")).live_detector_combo.currentData() == "centerface"
