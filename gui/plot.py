"""A small line chart for the training wizard: loss curves and ROC curves.

QtCharts is not part of PySide6-Essentials, and two curves with axes and a legend do not
justify another dependency in the installer, so this widget paints them with QPainter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e")
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 48, 12, 22, 30


@dataclass
class Series:
    label: str
    xs: list
    ys: list


class LinePlot(QWidget):
    """Curves on shared axes; ``log_x`` plots x on a log10 scale (for FAR)."""

    def __init__(self, title: str, x_label: str, y_label: str, log_x: bool = False, y_range=None,
                 x_range=None, parent=None) -> None:
        super().__init__(parent)
        self.title, self.x_label, self.y_label = title, x_label, y_label
        self.log_x = log_x
        self.fixed_y, self.fixed_x = y_range, x_range
        self.series: list[Series] = []
        self.setMinimumSize(320, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_series(self, series: list[Series]) -> None:
        self.series = series
        self.update()

    def _x(self, value: float) -> float:
        return math.log10(max(value, 1e-6)) if self.log_x else value

    def _ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        xs = [self._x(x) for s in self.series for x in s.xs]
        ys = [y for s in self.series for y in s.ys if math.isfinite(y)]
        x_range = tuple(self._x(v) for v in self.fixed_x) if self.fixed_x else (min(xs, default=0), max(xs, default=1))
        y_range = self.fixed_y or (min(ys, default=0), max(ys, default=1))
        widen = lambda low, high: (low, high) if high > low else (low - 0.5, high + 0.5)  # noqa: E731
        return widen(*x_range), widen(*y_range)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(MARGIN_LEFT, MARGIN_TOP, self.width() - MARGIN_LEFT - MARGIN_RIGHT,
                      self.height() - MARGIN_TOP - MARGIN_BOTTOM)
        painter.fillRect(self.rect(), self.palette().base())
        text = self.palette().text().color()
        painter.setPen(text)
        painter.drawText(QRectF(0, 2, self.width(), MARGIN_TOP - 4), Qt.AlignmentFlag.AlignCenter, self.title)
        painter.drawRect(area)
        (x0, x1), (y0, y1) = self._ranges()

        def point(x: float, y: float) -> QPointF:
            return QPointF(area.left() + (self._x(x) - x0) / (x1 - x0) * area.width(),
                           area.bottom() - (y - y0) / (y1 - y0) * area.height())

        for fraction in (0.0, 0.5, 1.0):
            y_value = y0 + fraction * (y1 - y0)
            y_pixel = area.bottom() - fraction * area.height()
            painter.drawText(QRectF(0, y_pixel - 8, MARGIN_LEFT - 4, 16),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{y_value:.3g}")
            x_value = x0 + fraction * (x1 - x0)
            shown = 10 ** x_value if self.log_x else x_value
            painter.drawText(QRectF(area.left() + fraction * area.width() - 30, area.bottom() + 2, 60, 14),
                             Qt.AlignmentFlag.AlignCenter, f"{shown:.3g}")
        painter.drawText(QRectF(area.left(), area.bottom() + 14, area.width(), 16), Qt.AlignmentFlag.AlignCenter,
                         f"{self.x_label}   ({self.y_label} upwards)")
        painter.setClipRect(area)
        for index, series in enumerate(self.series):
            colour = QColor(COLOURS[index % len(COLOURS)])
            path = QPainterPath()
            points = [point(x, y) for x, y in zip(series.xs, series.ys) if math.isfinite(y)]
            for number, p in enumerate(points):
                path.moveTo(p) if number == 0 else path.lineTo(p)
            painter.setPen(QPen(colour, 2))
            painter.drawPath(path)
            painter.drawText(QPointF(area.left() + 8, area.top() + 16 + 16 * index), series.label)
        painter.end()
