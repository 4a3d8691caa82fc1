"""The live view's labels: steady colours, no label over another or under a box edge, and a
"Who's this?" list that fits its panel."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QMainWindow, QWidget

from core.live.loop import LiveFace
from core.vision.detect import Face
from core.vision.imaging import load_image
from gui.imageconv import rgb_to_qimage
from test_unknowns_panel import panel  # noqa: F401  (the fixture: a panel over a real live run)
from gui.video_view import UNKNOWN, ColourBands, Overlay, VideoView, identity_overlays

TAU = 0.36
WOBBLE = [0.245, 0.255, 0.248, 0.252]  # a steady face whose distance hovers at the amber edge (0.252)
FRAMES = 100  # 4 s at 25 fps
GRID_CELLS = [(320, 240), (850, 480)]  # a camera tile of the 2x2 grid in an 800x600 and a 1920x1080 window


@pytest.fixture
def frame(people):
    return rgb_to_qimage(load_image(people["joe_biden"][0]).pixels)


@pytest.fixture
def camera_frame(data_dir):
    """A 640x480 camera picture of two people."""
    return rgb_to_qimage(load_image(data_dir / "scenes" / "two_people.jpg").pixels).scaled(640, 480)


def test_a_steady_face_at_the_amber_edge_keeps_its_box_colour(qtbot, frame):
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    box = (100.0, 120.0, 220.0, 260.0)
    bands = ColourBands()
    target = QImage(view.size(), QImage.Format.Format_RGB32)
    colours = []
    for distance in WOBBLE * (FRAMES // len(WOBBLE)):
        face = LiveFace(7, Face(box=box, score=0.9, landmarks=()), "joe_biden", distance)
        view.show_frame(frame, identity_overlays([face], TAU, bands))
        view.render(target)
        rect = view.image_rect()
        scale = rect.width() / frame.width()
        colours.append(QColor(target.pixel(int(rect.left() + box[0] * scale),
                                           int(rect.top() + (box[1] + box[3]) / 2 * scale))).rgb())
    flips = sum(a != b for a, b in zip(colours, colours[1:]))
    assert flips <= 1, f"the box changed colour {flips} times in 4 s"


def close_faces(width: float, height: float) -> list[Overlay]:
    """Three labelled faces packed together, as at a table or in a queue."""
    side = min(width, height) / 6
    x, y = width * 0.3, height * 0.35
    boxes = [(x, y, x + side, y + side), (x + side * 0.8, y - side * 0.05, x + side * 1.8, y + side * 0.95),
             (x + side * 0.4, y + side * 1.05, x + side * 1.4, y + side * 2.05)]
    labels = ["joe_biden  0.18", "barack_obama  0.27\nmove closer", "Unknown  0.52"]
    return [Overlay(box, QColor(40, 180, 70), label) for box, label in zip(boxes, labels)]


@pytest.mark.parametrize("cell", GRID_CELLS)
def test_labels_of_close_faces_do_not_overlap_in_a_grid_tile(qtbot, camera_frame, cell):
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(*cell)
    overlays = close_faces(camera_frame.width(), camera_frame.height())
    view.show_frame(camera_frame, overlays)
    view.show()
    qtbot.waitExposed(view)
    rects = view.label_rects()
    assert len(rects) == len(overlays)
    for i, a in enumerate(rects):
        assert QRectF(0, 0, camera_frame.width(), camera_frame.height()).contains(a), "a label left the picture"
        for b in rects[i + 1:]:
            assert not a.intersects(b), f"labels overlap: {a} and {b}"


def test_labels_are_drawn_over_every_box(qtbot, frame):
    """A neighbour's box edge runs under a label, not across it."""
    overlays = [Overlay((100, 100, 200, 200), QColor(40, 180, 70), "joe_biden  0.18"),
                Overlay((60, 90, 400, 300), UNKNOWN)]  # its top edge, y = 90, runs through the first label
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(frame.width(), frame.height())  # scale 1: image pixels are widget pixels
    view.show_frame(frame, overlays)
    target = QImage(view.size(), QImage.Format.Format_RGB32)
    view.render(target)
    label = view.label_rects()[0]
    assert label.top() < 90 < label.bottom()
    edge = [QColor(target.pixel(x, 90)) for x in range(int(label.left()) + 1, int(label.right()))]
    assert UNKNOWN not in edge, "the red box edge crosses the label"


def test_whos_this_entries_fit_the_panel_without_a_horizontal_scrollbar(qtbot, panel):  # noqa: F811
    assert panel.list.count() >= 2
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setCentralWidget(QWidget())
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, panel)
    window.show()
    bar = panel.list.horizontalScrollBar()
    for width, height in ((800, 600), (1920, 1080)):
        window.resize(width, height)
        qtbot.waitUntil(lambda: window.width() == width, timeout=5000)  # noqa: B023 (waited on at once)
        qtbot.waitUntil(lambda: not bar.isVisible() and bar.maximum() == 0, timeout=5000)
        for row in range(panel.list.count()):
            item = panel.list.item(row)
            assert item.toolTip() == item.text()
            assert panel.list.visualItemRect(item).right() <= panel.list.viewport().width()
    window.removeDockWidget(panel)
    panel.setParent(None)  # the panel fixture closes it, after this window is gone
