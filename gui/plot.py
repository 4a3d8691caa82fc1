"""A small line chart for the training wizard: loss curves and ROC curves.

QtCharts is not part of PySide6-Essentials, and a few curves with axes and a legend do not
justify another dependency in the installer, so this widget paints them with QPainter.

Axes carry labelled ticks: decades on a log axis (1e-4, 1e-3, 1e-2, 1e-1, 1 for a FAR axis),
1-2-5 steps on a linear one. With ``y_fit`` the y axis shows the data's own range inside the
x window (a ROC at AUC 0.9999 has every TAR near 1: on a fixed 0..1 axis it would lie on the
frame), always with a little room above the highest value so a curve at 1 is drawn inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 14, 22, 34
HEADROOM = 0.04  # of the y span, above the highest value
MIN_FIT_SPAN = 0.05  # a fitted y axis spans at least this share of its top value


@dataclass
class Series:
    label: str  # "" keeps it out of the legend
    xs: list
    ys: list
    colour: str | None = None  # None: the next of COLOURS
    width: float = 2.0
    faint: bool = False  # drawn light and thin behind the others (raw values under a smoothed curve)
    dashed: bool = False


def smoothed(values: list[float], alpha: float = 0.1) -> list[float]:
    """Exponential moving average, debiased (as Adam does) so the first values are not pulled to 0."""
    out, average = [], 0.0
    for count, value in enumerate(values, 1):
        average = (1 - alpha) * average + alpha * value
        out.append(average / (1 - (1 - alpha) ** count))
    return out


def nice_step(span: float, target: int = 5) -> float:
    """A 1, 2 or 5 times 10^k step that cuts ``span`` into about ``target`` pieces."""
    raw = span / max(target, 1)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw * 0.999)


def linear_ticks(low: float, high: float, target: int = 5) -> list[float]:
    step = nice_step(high - low, target)
    first = math.ceil(low / step - 1e-9)
    return [round(k * step, 10) for k in range(first, math.floor(high / step + 1e-9) + 1)]


def tick_label(value: float, log: bool) -> str:
    if log:
        exponent = round(math.log10(value))
        return "1" if exponent == 0 else f"1e{exponent}" if exponent < 0 else f"1e+{exponent}"
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.0e}"


class LinePlot(QWidget):
    """Curves on shared axes; ``log_x`` plots x on a log10 scale (for FAR)."""

    def __init__(self, title: str, x_label: str, y_label: str, log_x: bool = False, y_range=None,
                 x_range=None, y_fit: bool = False, legend_top: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.title, self.x_label, self.y_label = title, x_label, y_label
        self.log_x = log_x
        self.fixed_y, self.fixed_x = y_range, x_range
        self.y_fit = y_fit  # fit y to the data inside the x window, clamped to ``y_range`` when given
        self.legend_top = legend_top  # the legend top right (else bottom right, below ROC curves)
        self.series: list[Series] = []
        self.setMinimumSize(320, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_series(self, series: list[Series]) -> None:
        self.series = series
        self.update()

    def set_x_range(self, x_range) -> None:
        self.fixed_x = x_range
        self.update()

    def _x(self, value: float) -> float:
        return math.log10(max(value, 1e-12)) if self.log_x else value

    def ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((x0, x1), (y0, y1)) as drawn; x in axis units (log10 on a log axis)."""
        xs = [self._x(x) for s in self.series for x in s.xs]
        x_range = tuple(self._x(v) for v in self.fixed_x) if self.fixed_x else (min(xs, default=0), max(xs, default=1))
        x_range = _widen(*x_range)
        if self.fixed_y and not self.y_fit:
            return x_range, _widen(*self.fixed_y)
        inside = [y for s in self.series for x, y in zip(s.xs, s.ys)
                  if math.isfinite(y) and x_range[0] - 1e-9 <= self._x(x) <= x_range[1] + 1e-9]
        low, high = min(inside, default=0.0), max(inside, default=1.0)
        if self.fixed_y:
            low, high = max(low, self.fixed_y[0]), min(max(high, low), self.fixed_y[1])
        if high - low < MIN_FIT_SPAN * abs(high or 1.0):  # flat (every TAR 1): a short span below it, not around it
            low = high - MIN_FIT_SPAN * abs(high or 1.0)
        step = nice_step(high - low)
        low = round(math.floor(low / step + 1e-9) * step, 10)
        if self.fixed_y:
            low = max(low, self.fixed_y[0])
        return x_range, (low, high + HEADROOM * (high - low))

    def x_ticks(self) -> list[tuple[float, str]]:
        """(value, label) for every labelled tick on the x axis (values in data units)."""
        (x0, x1), _ = self.ranges()
        if self.log_x:
            return [(10.0 ** k, tick_label(10.0 ** k, True)) for k in range(math.ceil(x0 - 1e-9), math.floor(x1 + 1e-9) + 1)]
        return [(v, tick_label(v, False)) for v in linear_ticks(x0, x1)]

    def y_ticks(self) -> list[tuple[float, str]]:
        _, (y0, y1) = self.ranges()
        return [(v, tick_label(v, False)) for v in linear_ticks(y0, y1, 6)]

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(MARGIN_LEFT, MARGIN_TOP, self.width() - MARGIN_LEFT - MARGIN_RIGHT,
                      self.height() - MARGIN_TOP - MARGIN_BOTTOM)
        painter.fillRect(self.rect(), self.palette().base())
        text = self.palette().text().color()
        grid = QColor(text)
        grid.setAlpha(40)
        painter.setPen(text)
        painter.drawText(QRectF(0, 2, self.width(), MARGIN_TOP - 4), Qt.AlignmentFlag.AlignCenter, self.title)
        (x0, x1), (y0, y1) = self.ranges()

        def point(x: float, y: float) -> QPointF:
            return QPointF(area.left() + (self._x(x) - x0) / (x1 - x0) * area.width(),
                           area.bottom() - (y - y0) / (y1 - y0) * area.height())

        for value, label in self.x_ticks():
            x_pixel = point(value, y0).x()
            painter.setPen(grid)
            painter.drawLine(QPointF(x_pixel, area.top()), QPointF(x_pixel, area.bottom()))
            painter.setPen(text)
            painter.drawLine(QPointF(x_pixel, area.bottom()), QPointF(x_pixel, area.bottom() + 3))
            painter.drawText(QRectF(x_pixel - 30, area.bottom() + 3, 60, 14), Qt.AlignmentFlag.AlignCenter, label)
        for value, label in self.y_ticks():
            y_pixel = point(10 ** x0 if self.log_x else x0, value).y()
            painter.setPen(grid)
            painter.drawLine(QPointF(area.left(), y_pixel), QPointF(area.right(), y_pixel))
            painter.setPen(text)
            painter.drawLine(QPointF(area.left() - 3, y_pixel), QPointF(area.left(), y_pixel))
            painter.drawText(QRectF(0, y_pixel - 8, MARGIN_LEFT - 6, 16),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        painter.drawRect(area)
        painter.drawText(QRectF(area.left(), area.bottom() + 17, area.width(), 16), Qt.AlignmentFlag.AlignCenter,
                         f"{self.x_label}   ({self.y_label} upwards)")
        painter.save()
        painter.setClipRect(area.adjusted(-1, -1, 1, 1))
        for index, series in sorted(enumerate(self.series), key=lambda item: not item[1].faint):
            colour = QColor(series.colour or COLOURS[index % len(COLOURS)])
            if series.faint:
                colour.setAlpha(70)
            path = QPainterPath()
            points = [point(x, y) for x, y in zip(series.xs, series.ys) if math.isfinite(y)]
            for number, p in enumerate(points):
                path.moveTo(p) if number == 0 else path.lineTo(p)
            painter.setPen(self._pen(colour, 1.0 if series.faint else series.width, series.dashed))
            painter.drawPath(path)
        painter.restore()
        shown = [(index, series) for index, series in enumerate(self.series) if series.label]
        if shown:  # the legend, on a backing so curves under it do not hide the text
            metrics = painter.fontMetrics()
            width = 36 + max(metrics.horizontalAdvance(series.label) for _, series in shown)
            box = QRectF(area.right() - width - 6, area.top() + 4 if self.legend_top else
                         area.bottom() - 8 - 16 * len(shown), width, 16 * len(shown) + 4)
            backing = QColor(self.palette().base().color())
            backing.setAlpha(210)
            painter.fillRect(box, backing)
            for row, (index, series) in enumerate(shown):
                y_pixel = box.top() + 10 + 16 * row
                colour = QColor(series.colour or COLOURS[index % len(COLOURS)])
                painter.setPen(self._pen(colour, series.width, series.dashed))
                painter.drawLine(QPointF(box.left() + 4, y_pixel), QPointF(box.left() + 26, y_pixel))
                painter.setPen(text)
                painter.drawText(QPointF(box.left() + 32, y_pixel + 5), series.label)
        painter.end()

    @staticmethod
    def _pen(colour: QColor, width: float, dashed: bool) -> QPen:
        pen = QPen(colour, width)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        return pen


def _widen(low: float, high: float) -> tuple[float, float]:
    return (low, high) if high > low else (low - 0.5, high + 0.5)
