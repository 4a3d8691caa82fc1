"""The "Who's this?" dock: unknown people from a real live run, named, added or forgotten from the panel."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.storage.repository import Gallery
from core.vision.imaging import load_image
from core.live.service import RecognitionService
from core.settings import Settings
from gui.live_controller import LiveController
from gui.unknowns_panel import UnknownsPanel
from gui.workers import stop_all

TURN = 6  # frames per turn
STRANGERS = [(8, 2), (10, 2), (8, 3), (10, 3)]  # ORL people never enrolled, taking turns: (person, photo)


def write_turns(folder, data_dir, turns) -> None:
    """ORL photos enlarged 2.5x at the centre of 640x480 frames, jittered, as lossless files."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    index = 0
    for person, photo in turns:
        face = cv2.resize(load_image(data_dir / "orl" / f"s{person}" / f"{photo}.pgm").pixels, None, fx=2.5, fy=2.5)
        for _ in range(TURN):
            frame = np.full((480, 640, 3), 110, np.uint8)
            dx, dy = (int(v) for v in rng.integers(-2, 3, 2))
            top, left = (480 - face.shape[0]) // 2 + dy, (640 - face.shape[1]) // 2 + dx
            frame[top:top + face.shape[0], left:left + face.shape[1]] = face
            frame = np.clip(frame + rng.normal(0.0, 3.0, frame.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"{index:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            index += 1


def unexpected(prompt: str):
    def fail(*args):
        raise AssertionError(f"{prompt}{args} was not expected")
    return fail


@pytest.fixture
def panel(qtbot, pipeline, data_dir, tmp_path):
    """A panel over a controller whose service has watched two strangers take turns (one enrolled
    person in the gallery, ORL s1)."""
    path = tmp_path / "gallery.db"
    with Gallery(path) as gallery:
        result = pipeline.analyse(load_image(data_dir / "orl" / "s1" / "1.pgm"))[0]
        gallery.enroll("Someone", result.chip, result.embedding, pipeline.embedder.spec.id, 1.0, "test")
    settings = Settings(gallery=str(path), liveness=False)  # the frames are photos
    service = RecognitionService(settings, pipeline, Gallery(path))
    write_turns(tmp_path / "turns", data_dir, STRANGERS)
    for _ in service.live(str(tmp_path / "turns"), realtime=False, reconnect=False):
        pass
    controller = LiveController(settings)
    controller.service = service  # as ``open`` leaves it, without loading the models again
    panel = UnknownsPanel(controller)
    qtbot.addWidget(panel)
    panel.warnings = []
    panel.show_warning = lambda title, text: panel.warnings.append(text)
    for prompt in ("ask_name", "ask_person", "ask_confirm"):
        setattr(panel, prompt, unexpected(prompt))
    panel.show()
    panel.refresh()
    yield panel
    assert stop_all()
    service.close()


def enrolled(panel: UnknownsPanel) -> dict[str, int]:
    with Gallery(panel.controller.service.gallery_path) as gallery:
        return {person.name: person.samples for person in gallery.people()}


def click(qtbot, button) -> None:
    assert button.isEnabled(), f"{button.text()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_lists_each_unknown_person_with_their_best_chip_and_sightings(panel):
    assert panel.list.count() == 2 and not panel.placeholder.isVisible()
    groups = panel.controller.service.unknown_groups()
    assert panel.group_ids() == [group.group_id for group in groups]
    for row, group in enumerate(groups):
        item = panel.list.item(row)
        assert f"Unknown person {group.group_id}" in item.text() and f"seen {group.count} times" in item.text()
        assert not item.icon().isNull()
    assert not panel.name_button.isEnabled()  # until one is chosen


def test_name_enrols_the_group_and_it_leaves_the_list(qtbot, panel):
    first, second = panel.group_ids()
    panel.select(first)
    panel.ask_name = lambda group_id: "Stranger A" if group_id == first else None
    with qtbot.waitSignal(panel.controller.unknownStored, timeout=10_000):
        click(qtbot, panel.name_button)
    qtbot.waitUntil(lambda: panel.group_ids() == [second])
    assert 1 <= enrolled(panel)["Stranger A"] <= 3
    assert "Stranger A now has" in panel.status.text() and not panel.warnings


def test_adding_to_someone_else_asks_first_and_no_keeps_the_group(qtbot, panel):
    first, second = panel.group_ids()
    panel.select(second)
    asked = []
    panel.ask_person = lambda group_id, names: names[0]
    panel.ask_confirm = lambda question: asked.append(question) or False
    with qtbot.waitSignal(panel.controller.unknownRefused, timeout=10_000):
        click(qtbot, panel.add_button)
    assert len(asked) == 1 and "does not look like 'Someone'" in asked[0]
    assert panel.group_ids() == [first, second] and enrolled(panel) == {"Someone": 1}


def test_forget_drops_the_group_and_stores_nothing(qtbot, panel):
    first, second = panel.group_ids()
    panel.select(first)
    with qtbot.waitSignal(panel.controller.unknownsChanged, timeout=10_000):
        click(qtbot, panel.forget_button)
    assert panel.group_ids() == [second] and enrolled(panel) == {"Someone": 1}


def test_the_live_window_fills_its_dock_from_the_camera(qtbot, make_window, data_dir, tmp_path):
    """The main window's "Who's this?" dock follows the live loop (a folder playing as a camera)."""
    write_turns(tmp_path / "camera", data_dir, STRANGERS[:1])
    window = make_window(tmp_path / "camera")
    dock = window.unknowns
    assert window.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea
    assert dock.toggleViewAction() in window.people_menu.actions()
    qtbot.waitUntil(lambda: dock.list.count() == 1, timeout=60_000)
    assert "Unknown person" in dock.list.item(0).text()
