"""The person view: a person's samples with source, date, quality and distances, outliers flagged,
removal (never the last), a sample opened large, and the negatives with their own Remove.
Real widgets on a real gallery of real chips; prompts are replaced on the instance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.storage.repository import Gallery
from core.vision.imaging import load_image
from core.live.service import RecognitionService
from core.settings import Settings
from gui.gallery_dialog import GalleryDialog
from gui.person_dialog import PersonDialog, shown_date
from gui.video_view import UNKNOWN
from gui.workers import stop_all


def face(pipeline, photo: Path) -> tuple[np.ndarray, np.ndarray]:
    image = load_image(photo)
    chip = pipeline.align(image.pixels, pipeline.detect(image.pixels))[0]
    return chip, pipeline.embed(chip[None])[0]


def unexpected(prompt: str):
    def fail(*args):
        raise AssertionError(f"{prompt}{args} was not expected")
    return fail


@pytest.fixture
def gallery_path(tmp_path, pipeline, people) -> Path:
    """Obama: two photos of him and one of Biden by mistake (an outlier); Kit marked "not Obama"."""
    model_id = pipeline.embedder.spec.id
    path = tmp_path / "gallery.db"
    with Gallery(path) as gallery:
        for n, photo in enumerate((people["barack_obama"][0], people["barack_obama"][1], people["joe_biden"][0])):
            chip, vector = face(pipeline, photo)
            gallery.enroll("Obama", chip, vector, model_id, 0.5 + n / 10, photo.name, add_to_existing=n > 0)
        chip, vector = face(pipeline, people["kit_harington"][0])
        gallery.enroll("Kit", chip, vector, model_id, 0.9, "kit.jpg")
        gallery.add_negative("Obama", chip, vector, model_id, "live frame 7")
    return path


@pytest.fixture
def service(gallery_path, pipeline):
    service = RecognitionService(Settings(gallery=str(gallery_path)), pipeline, Gallery(gallery_path))
    yield service
    assert stop_all()
    service.close()


def open_person(qtbot, service, name) -> PersonDialog:
    dialog = PersonDialog(service, name)
    qtbot.addWidget(dialog)
    dialog.warnings = []
    dialog.show_warning = lambda title, text: dialog.warnings.append(text)
    for prompt in ("confirm_remove_sample", "confirm_remove_negative"):
        setattr(dialog, prompt, unexpected(prompt))
    with qtbot.waitSignal(dialog.loaded, timeout=30_000):
        pass
    return dialog


def texts(view) -> list[str]:
    return [view.item(row).text() for row in range(view.count())]


def test_shows_every_sample_with_source_quality_and_distance_and_flags_the_outlier(qtbot, service, people):
    dialog = open_person(qtbot, service, "Obama")
    shown = texts(dialog.samples_list)
    assert len(shown) == 3
    photos = (people["barack_obama"][0], people["barack_obama"][1], people["joe_biden"][0])
    assert [text.splitlines()[0] for text in shown] == [photo.name for photo in photos]  # the sources
    assert shown[0].splitlines()[1] == shown_date(dialog.samples[0].created)  # the date, to the minute
    assert shown[0].splitlines()[2] == "quality 0.50" and shown[2].splitlines()[2] == "quality 0.70"
    distances = [dialog.distances[info.id] for info in dialog.samples]
    assert distances[0] == pytest.approx(distances[1]) and distances[0] < service.tau  # Obama and Obama
    assert distances[2] > service.tau  # Biden among Obama's samples
    assert f"distance {distances[2]:.2f}  (unlike the others)" in shown[2]
    assert dialog.samples_list.item(2).background().color() == UNKNOWN  # red: above tau
    assert dialog.samples_list.item(0).background().style() == Qt.BrushStyle.NoBrush
    assert texts(dialog.negatives_list) == [f"live frame 7\n{shown_date(dialog.negatives[0].created)}"]

    dialog.select_sample(dialog.samples[2].id)
    large = dialog.open_sample(dialog.samples[2].id)
    qtbot.addWidget(large)
    assert large.picture.pixmap().width() == 450
    large.close()


def test_removes_a_sample_once_confirmed_but_never_the_last(qtbot, service, gallery_path):
    dialog = open_person(qtbot, service, "Obama")
    outlier = dialog.samples[2].id
    dialog.select_sample(outlier)
    dialog.confirm_remove_sample = lambda sample_id: False
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert len(service.person_samples("Obama")) == 3  # declined: nothing removed

    dialog.confirm_remove_sample = lambda sample_id: sample_id == outlier
    with qtbot.waitSignals([dialog.changed, dialog.loaded], order="strict", timeout=30_000):
        qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert [info.id for info in dialog.samples] == [info.id for info in service.person_samples("Obama")]
    assert outlier not in dialog.distances and len(dialog.samples) == 2
    assert dialog.status.text() == f"Removed sample {outlier}; Obama has 2 left."
    assert dialog.samples_list.item(0).background().style() == Qt.BrushStyle.NoBrush  # no outlier now

    kit = open_person(qtbot, service, "Kit")
    assert texts(kit.samples_list)[0].endswith("the only sample")
    kit.select_sample(kit.samples[0].id)
    kit.confirm_remove_sample = lambda sample_id: True
    qtbot.mouseClick(kit.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(kit.warnings), timeout=30_000)
    assert kit.warnings == [f"sample {kit.samples[0].id} is the last sample of Kit: forget Kit instead"]
    assert len(service.person_samples("Kit")) == 1


def test_removes_a_negative(qtbot, service):
    dialog = open_person(qtbot, service, "Obama")
    dialog.select_negative(dialog.negatives[0].id)
    dialog.confirm_remove_negative = lambda negative_id: True
    with qtbot.waitSignals([dialog.changed, dialog.loaded], order="strict", timeout=30_000):
        qtbot.mouseClick(dialog.remove_negative_button, Qt.MouseButton.LeftButton)
    assert dialog.negatives_list.count() == 0 and service.negatives("Obama") == []


def test_gallery_manager_opens_the_person_view(qtbot, service):
    manager = GalleryDialog(service)
    qtbot.addWidget(manager)
    with qtbot.waitSignal(manager.loaded, timeout=30_000):
        pass
    assert not manager.samples_button.isEnabled()
    manager.select("Kit")
    assert manager.samples_button.isEnabled()
    with qtbot.waitSignal(manager.loaded, timeout=30_000):  # the manager reloads after a change in the view
        person = manager.open_selected()
        assert isinstance(person, PersonDialog) and person.name == "Kit"
        with qtbot.waitSignal(person.loaded, timeout=30_000):
            pass
        person.changed.emit()
    item = manager.list.findItems("Obama", Qt.MatchFlag.MatchStartsWith)[0]
    with qtbot.waitSignal(manager.list.itemDoubleClicked):
        manager.list.itemDoubleClicked.emit(item)
    dialogs = [child for child in manager.findChildren(PersonDialog) if child.name == "Obama"]
    assert len(dialogs) == 1
