"""The live window never names a photo held up, says when a masked face stays unknown, and the
settings, enrolment and person view carry liveness and masked samples."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import Qt

from camera_frames import WAIT_MS, next_report, write_frames
from core.bench import fit_frame
from core.storage.repository import Gallery
from core.vision.imaging import load_image
from core.settings import load_settings
from core.training.conditions import mask_photo
from gui.person_dialog import PersonDialog
from gui.video_view import PHOTO, UNKNOWN, ColourBands, identity_overlays


def camera_frames(folder, photo, count=20):
    """Frames as a webcam gives them: the photo cropped to 640x480, no black bars (letterboxing
    frames a photo like a print's border, and liveness rightly doubts it)."""
    folder.mkdir()
    frame = Image.fromarray(fit_frame(load_image(photo).pixels))
    for n in range(count):
        frame.save(folder / f"{n:03d}.png")
    return folder


def enrol(pipeline, path, name, photo):
    result = max(pipeline.analyse(load_image(photo)), key=lambda r: r.face.area)
    with Gallery(path) as gallery:
        gallery.enroll(name, result.chip, result.embedding, pipeline.embedder.spec.id, 0.9, "test")


def test_a_photo_held_up_is_photo_never_the_name(qtbot, make_window, tmp_path, data_dir, pipeline, monkeypatch):
    monkeypatch.delenv("ONESHOT_LIVENESS")  # the app's own default: on
    sample = data_dir / "liveness"
    enrol(pipeline, tmp_path / "gallery.db", "Sample", sample / "image_T1.jpg")
    window = make_window(camera_frames(tmp_path / "attack", sample / "image_F1.jpg"), liveness=True)
    report = next_report(qtbot, window, lambda r: r.faces and r.faces[0].live is False)
    assert report.faces[0].name is None
    (overlay,) = identity_overlays(report.faces, report.tau, ColourBands())
    assert overlay.label == "Photo?" and overlay.colour == PHOTO and overlay.dashed
    window.controller.start_source(str(camera_frames(tmp_path / "live", sample / "image_T1.jpg")))
    report = next_report(qtbot, window, lambda r: r.faces and r.faces[0].name == "Sample")
    assert report.faces[0].live is True


def test_a_masked_face_left_unknown_says_so(qtbot, make_window, tmp_path, people, pipeline):
    enrol(pipeline, tmp_path / "gallery.db", "Barack Obama", people["barack_obama"][0])
    image = load_image(people["barack_obama"][1])
    face = max(pipeline.detect(image.pixels), key=lambda f: f.area)
    Image.fromarray(mask_photo(image.pixels, face)).save(tmp_path / "masked.png")
    window = make_window(write_frames(tmp_path / "masked", tmp_path / "masked.png", 20))
    report = next_report(qtbot, window, lambda r: r.faces and r.faces[0].condition == "masked")
    live = report.faces[0]
    assert live.tau < report.tau  # decided at the masked tau
    (overlay,) = identity_overlays(report.faces, report.tau, ColourBands())
    if live.name is None:
        assert overlay.label.startswith("Unknown (masked)") and "lower the mask" in overlay.label
        assert overlay.colour == UNKNOWN


def test_liveness_is_a_setting(qtbot, make_window, tmp_path):
    window = make_window(None, liveness=True)
    dialog = window.open_settings()
    assert dialog.liveness_check.isChecked()
    dialog.liveness_check.setChecked(False)
    dialog.accept()
    assert load_settings(tmp_path / "settings.json").liveness is False


def test_the_person_view_adds_a_masked_sample(qtbot, tmp_path, people, pipeline, obama_service):
    service = obama_service()
    image = load_image(people["barack_obama"][1])
    face = max(pipeline.detect(image.pixels), key=lambda f: f.area)
    Image.fromarray(mask_photo(image.pixels, face)).save(tmp_path / "masked.png")
    view = PersonDialog(service, "Obama")
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: bool(view.samples), timeout=WAIT_MS)
    view.choose_photo = lambda: str(tmp_path / "masked.png")
    warnings = []
    view.show_warning = lambda title, text: warnings.append(text)
    qtbot.mouseClick(view.add_masked_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(warnings) or "Added" in view.status.text(), timeout=WAIT_MS)
    if warnings:  # a masked face may lie farther than tau from the clear photo: refused, saying so
        assert "does not look like" in warnings[0]
    else:
        assert "Added a masked sample" in view.status.text()
        assert service.recognizer.matcher.gallery.vectors(pipeline.embedder.spec.id).masked.tolist() == [False, True]
    view.choose_photo = lambda: str(people["barack_obama"][2])  # no mask: refused with the reason
    warnings.clear()
    qtbot.mouseClick(view.add_masked_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(warnings), timeout=WAIT_MS)
    assert "no mask is seen" in warnings[0]
