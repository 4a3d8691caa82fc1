"""``render_annotated``: the frame Snapshot saves, with the live view's boxes and labels burnt in."""

from __future__ import annotations

from PySide6.QtGui import QColor, QImage

from core.vision.imaging import load_image
from gui.imageconv import rgb_to_qimage
from gui.video_view import UNKNOWN, Overlay, render_annotated

MATCH = QColor(40, 180, 70)


def test_render_annotated_draws_boxes_and_labels_at_image_resolution(qtbot, people):
    frame = rgb_to_qimage(load_image(people["joe_biden"][0]).pixels)
    labelled = Overlay((100, 120, 220, 260), MATCH, "joe_biden  0.31")
    bare = Overlay((300, 140, 380, 230), UNKNOWN)
    original = frame.copy()

    annotated = render_annotated(frame, [labelled, bare])

    assert annotated.size() == frame.size()
    assert frame == original, "the frame itself was drawn on"
    for overlay in (labelled, bare):
        x1, y1, x2, y2 = overlay.box
        for x, y in ((x1, (y1 + y2) // 2), (x2, (y1 + y2) // 2), ((x1 + x2) // 2, y2)):
            assert QColor(annotated.pixel(x, y)) == overlay.colour, f"no box edge at {(x, y)}"
        inside = ((x1 + x2) // 2, (y1 + y2) // 2)
        assert annotated.pixel(*inside) == frame.convertToFormat(QImage.Format.Format_RGB32).pixel(*inside)
    label = [QColor(annotated.pixel(x, y)) for x in range(104, 160) for y in range(106, 118)]
    assert MATCH in label, "no label background above the labelled box"
    assert any(min(c.red(), c.green(), c.blue()) > 200 for c in label), "no white label text above the box"
    above_bare = [QColor(annotated.pixel(x, bare.box[1] - 6)) for x in range(300, 380)]
    assert UNKNOWN not in above_bare, "a label was drawn for an overlay without one"


def test_the_latency_median_is_kept_over_a_bounded_window(qtbot, people):
    import time

    from PySide6.QtGui import QImage as Image

    from gui.video_view import LATENCY_WINDOW, VideoView

    view = VideoView()
    qtbot.addWidget(view)
    view.resize(320, 240)
    frame = rgb_to_qimage(load_image(people["joe_biden"][0]).pixels)
    target = Image(view.size(), Image.Format.Format_RGB32)
    for n in range(LATENCY_WINDOW * 5):
        view.show_frame(frame, [], captured=time.monotonic() - (1.0 if n < LATENCY_WINDOW else 0.002))
        view.render(target)  # runs paintEvent: the first paint of each frame is timed
    assert len(view.latencies_ms) == LATENCY_WINDOW
    assert view.latency_ms() < 500  # the old, slow frames have left the window
