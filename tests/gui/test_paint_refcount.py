"""The live view's painting must not lose references to None (issue 12).

PySide6 6.12.0 on Python 3.10/3.11 drops a reference to None on every wrapped call that returns nothing;
the live window makes thousands a second and CPython aborts with "none_dealloc" within a minute. These
tests paint the real ``VideoView`` the way the window does and fail on such a binding.
"""

from __future__ import annotations

import gc
import sys

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage

from core.vision.imaging import load_image
from gui.imageconv import rgb_to_qimage
from gui.qt_compat import qt_binding_problem
from gui.video_view import Overlay, VideoView

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 12),
    reason="None is immortal from Python 3.12: its reference count never changes, so lost references "
           "can neither be seen nor do harm")

# Keeps None alive if a faulty binding drops its references, so the test reports a failure instead of
# the interpreter aborting; held for the whole session because the lost references never come back.
_NONE_BALLAST = [None] * 200_000

MIN_PAINTER_CALLS = 20_000
NOISE = 50  # references to None that unrelated bookkeeping may take or give back during the loop


def live_overlays() -> list[Overlay]:
    """Five labelled faces, as ``identity_overlays`` makes them for the live window."""
    return [Overlay((40 + 110 * n, 120, 130 + 110 * n, 240), QColor(40, 180, 70), f"Person {n}  0.{30 + n}")
            for n in range(4)] + [Overlay((60, 300, 160, 420), QColor(220, 60, 60), "Unknown  0.71")]


def painter_calls_per_paint(overlays: list[Overlay]) -> int:
    """QPainter calls one ``VideoView.paintEvent`` makes with a frame and the guide shown: fillRect,
    setRenderHint, drawImage, translate, scale, setFont, end; the guide's setPen and drawEllipse; and per
    labelled overlay setPen, setBrush, drawRect, fontMetrics, fillRect, setPen, drawText."""
    return 7 + 2 + 7 * len(overlays)


def test_live_view_painting_keeps_none_alive(qtbot, people):
    overlays = live_overlays()
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.guide = True
    view.show_frame(rgb_to_qimage(load_image(people["barack_obama"][0]).pixels), overlays)
    target = QImage(view.size(), QImage.Format.Format_RGB32)
    renders = -(-MIN_PAINTER_CALLS // painter_calls_per_paint(overlays))
    view.render(target)  # first paint: fonts and caches are made once, outside the count

    gc.collect()
    gc.disable()
    try:
        before = sys.getrefcount(None)
        for _ in range(renders):
            view.render(target)
        lost = before - sys.getrefcount(None)
    finally:
        gc.enable()

    x1, y1, _, y2 = overlays[0].box
    frame = view.image_rect()
    edge = (frame.topLeft() + QPointF(x1, (y1 + y2) / 2) * (frame.width() / view.image.width())).toPoint()
    assert overlays[0].colour in [QColor(target.pixel(edge.x() + dx, edge.y())) for dx in (-1, 0, 1)], \
        "paintEvent did not draw the first box's left edge"
    assert lost <= NOISE, (f"{renders} paints ({renders * painter_calls_per_paint(overlays)} QPainter calls) "
                           f"lost {lost} references to None: {qt_binding_problem()}")


def test_qt_binding_is_sound():
    """The launcher's guard finds nothing to refuse on the binding the project installs."""
    assert qt_binding_problem() is None
