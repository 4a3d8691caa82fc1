"""Paints a frame and the faces found on it: box, name or "Unknown", distance, confidence colour.

A face judged a photo or a screen gets its own dashed violet box and "Photo?", never a name; a
masked (turned, small, dark) face that stays unknown says so and what would help.
"""

from __future__ import annotations

import statistics
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget

from core.live.track import confidence_band
from core.vision.condition import HINTS

UNKNOWN = QColor(220, 60, 60)
NEUTRAL = QColor(80, 160, 255)
PHOTO = QColor(150, 60, 200)


@dataclass(frozen=True)
class Overlay:
    """One box to draw, in image pixels, with an optional label."""

    box: tuple[float, float, float, float]
    colour: QColor
    label: str = ""  # one line, or several separated by newlines
    dashed: bool = False


BAND_COLOURS = {"sure": QColor(40, 180, 70), "near": QColor(230, 170, 30), "unknown": UNKNOWN}
REMEMBERED_TRACKS = 256  # faces whose colour band is kept; the oldest are forgotten first


def confidence_colour(distance: float | None, tau: float) -> QColor:
    """Green for a clear match, amber near the threshold, red for unknown."""
    return BAND_COLOURS[confidence_band(distance, tau)]


class ColourBands:
    """Each track's colour band, kept from frame to frame so that a face whose distance hovers
    at the green/amber edge keeps its colour (see ``core.live.track.confidence_band``)."""

    def __init__(self) -> None:
        self._bands: OrderedDict[int, str] = OrderedDict()

    def colour(self, track_id: int, distance: float | None, tau: float) -> QColor:
        band = confidence_band(distance, tau, self._bands.pop(track_id, None))
        self._bands[track_id] = band
        if len(self._bands) > REMEMBERED_TRACKS:
            self._bands.popitem(last=False)
        return BAND_COLOURS[band]


def identity_overlays(faces, tau: float, bands: ColourBands) -> list[Overlay]:
    """Boxes for the live window: name or "Unknown", distance, confidence colour (``bands``: the
    window's memory of each track's colour); "Photo?" for a face judged not live, "Checking…"
    while its liveness is undecided."""
    overlays = []
    for live in faces:
        if live.live is False:
            overlays.append(Overlay(live.face.box, PHOTO, "Photo?", dashed=True))
            continue
        if live.live is None and live.liveness is not None:
            overlays.append(Overlay(live.face.box, NEUTRAL, "Checking…"))
            continue
        label = live.name if live.name is not None else _unknown(live)
        if live.distance is not None and live.distance != float("inf"):
            label += f"  {live.distance:.2f}"
        if live.name is None and live.condition in HINTS:
            label += f"\n{HINTS[live.condition]}"
        decided_at = tau if live.tau is None else live.tau
        colour = bands.colour(live.track_id, live.distance if live.name else None, decided_at)
        overlays.append(Overlay(live.face.box, colour, label))
    return overlays


def _unknown(live) -> str:
    return "Unknown" if live.condition == "clear" else f"Unknown ({live.condition})"


LATENCY_WINDOW = 60  # frames the status bar's latency median is taken over


class VideoView(QWidget):
    """The live image, scaled to fit with its aspect ratio, with overlays in image coordinates."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.image: QImage | None = None
        self.overlays: list[Overlay] = []
        self.placeholder = ""
        self.guide = False  # draw the enrolment face guide
        self._captured: float | None = None
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)  # capture -> painted, newest last

    def show_frame(self, image: QImage, overlays: list[Overlay], captured: float | None = None) -> None:
        """Paint ``image``; with ``captured`` (monotonic seconds), time capture to painted pixels."""
        self.image, self.overlays, self._captured = image, overlays, captured
        self.update()

    def show_message(self, text: str) -> None:
        self.image, self.overlays, self.placeholder = None, [], text
        self.update()

    def image_rect(self) -> QRectF:
        if self.image is None:
            return QRectF()
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        return QRectF((self.width() - size.width()) / 2, (self.height() - size.height()) / 2,
                      size.width(), size.height())

    def face_at(self, point: QPointF) -> int | None:
        """The index of the overlay whose box holds ``point`` (widget pixels), or None; where
        boxes overlap, the smallest (the face in front) wins."""
        if self.image is None or self.image.width() == 0:
            return None
        target = self.image_rect()
        scale = target.width() / self.image.width()
        x, y = (point.x() - target.left()) / scale, (point.y() - target.top()) / scale
        hits = [((x2 - x1) * (y2 - y1), index) for index, overlay in enumerate(self.overlays)
                for x1, y1, x2, y2 in [overlay.box] if x1 <= x <= x2 and y1 <= y <= y2]
        return min(hits)[1] if hits else None

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window().color().darker(150))
        if self.image is None:
            painter.setPen(self.palette().windowText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        target = self.image_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(target, self.image)
        scale = target.width() / self.image.width()
        painter.translate(target.topLeft())
        painter.scale(scale, scale)
        if self.guide:
            self._paint_guide(painter)
        _paint_overlays(painter, self.overlays, scale, self.font(), self.image.size())
        painter.end()
        if self._captured is not None:  # the first paint of this frame; repaints do not count
            self.latencies_ms.append((time.monotonic() - self._captured) * 1000.0)
            self._captured = None

    def label_rects(self) -> list[QRectF | None]:
        """Where each overlay's label is painted at the view's present size, in image pixels."""
        if self.image is None or self.image.width() == 0:
            return []
        scale = self.image_rect().width() / self.image.width()
        return _label_rects(self.overlays, scale, QFontMetricsF(_label_font(self.font(), scale), self),
                            self.image.size())

    def latency_ms(self) -> float | None:
        """Median capture-to-paint latency of the recent frames, or None before the first."""
        return statistics.median(self.latencies_ms) if self.latencies_ms else None

    def _paint_guide(self, painter: QPainter) -> None:
        width, height = self.image.width(), self.image.height()
        painter.setPen(QPen(QColor(255, 255, 255, 160), 2, Qt.PenStyle.DashLine))
        painter.drawEllipse(QPointF(width / 2, height / 2), width * 0.18, height * 0.33)


def render_annotated(image: QImage, overlays: list[Overlay]) -> QImage:
    """A copy of ``image`` with the overlays drawn on it at the image's own resolution.

    Snapshot saves this rather than the raw frame, so the file shows the boxes, names and distances the
    user saw; it is drawn by the same code as the live view, at scale 1, so the two cannot drift apart.
    """
    annotated = image.convertToFormat(QImage.Format.Format_RGB32)  # paintable whatever the source format
    painter = QPainter(annotated)  # draws on annotated's own pixels: ``image`` is left as it was
    _paint_overlays(painter, overlays, 1.0, QFont(), image.size())
    painter.end()
    return annotated


def label_rects(overlays: list[Overlay], sizes: list[tuple[float, float] | None],
                bounds: tuple[float, float]) -> list[QRectF | None]:
    """Where to put each overlay's label (``sizes``: width and height, None for no label) so
    that no two overlap: above its box, else below it, else further up or down, within the
    picture (``bounds``: its width and height) where there is room."""
    placed: list[QRectF] = []
    rects: list[QRectF | None] = []
    for (x1, y1, _, y2), size in zip((overlay.box for overlay in overlays), sizes):
        if size is None:
            rects.append(None)
            continue
        width, height = size
        left = min(max(x1, 0.0), max(bounds[0] - width, 0.0))
        tops = [top for step in range(len(overlays)) for top in (y1 - height * (step + 1), y2 + height * step)]
        candidates = [QRectF(left, top, width, height) for top in tops]
        inside = [rect for rect in candidates if rect.top() >= 0 and rect.bottom() <= bounds[1]] or candidates
        rect = next((rect for rect in inside if not any(rect.intersects(other) for other in placed)), inside[0])
        placed.append(rect)
        rects.append(rect)
    return rects


def _label_font(font: QFont, scale: float) -> QFont:
    """The labels' font in image coordinates, so that text keeps its on-screen size whatever the zoom."""
    font = QFont(font)
    font.setPointSizeF(max(8.0, 11.0 / scale))
    return font


def _label_rects(overlays: list[Overlay], scale: float, metrics: QFontMetricsF, image: QSize) -> list[QRectF | None]:
    """The labels' places on an ``image``-sized picture drawn at ``scale``, with a margin round their text."""
    def size(label: str) -> tuple[float, float]:
        lines = label.split("\n")
        return (max(metrics.horizontalAdvance(line) for line in lines) + 8 / scale,
                metrics.height() * len(lines) + 4 / scale)

    return label_rects(overlays, [size(overlay.label) if overlay.label else None for overlay in overlays],
                       (image.width(), image.height()))


def _paint_overlays(painter: QPainter, overlays: list[Overlay], scale: float, font: QFont, image: QSize) -> None:
    """Boxes, then labels over them (so no box edge crosses a label), in image coordinates;
    ``scale`` is screen pixels per image pixel, so that lines and text keep their on-screen size
    whatever the zoom; ``image`` is the picture's size."""
    font = _label_font(font, scale)
    painter.setFont(font)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for overlay in overlays:
        x1, y1, x2, y2 = overlay.box
        style = Qt.PenStyle.DashLine if overlay.dashed else Qt.PenStyle.SolidLine
        painter.setPen(QPen(overlay.colour, 2.5 / scale, style))
        painter.drawRect(QRectF(x1, y1, x2 - x1, y2 - y1))
    rects = _label_rects(overlays, scale, QFontMetricsF(font, painter.device()), image)
    for overlay, rect in zip(overlays, rects):
        if rect is not None:
            painter.fillRect(rect, overlay.colour)
            painter.setPen(QColor("white"))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, overlay.label)
