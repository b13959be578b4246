"""The evaluation view's two plots: per-class accuracy bars and the 49x49 confusion heat map.

Both emit the class (or the true/predicted pair) under the mouse and on click; the
`EvalView` turns that into text and into the images behind the number. Their titles are
QLabels in the view (a pyqtgraph title is cut, not wrapped, in a narrow plot). Class tick
labels are readable (10 pt) and thinned to every 2nd or 3rd class when the plot is too
small for all of them, never drawn over each other or dropped at the ends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFontMetrics
from PySide6.QtWidgets import QToolTip

from k49desk.core.classes import ClassInfo
from k49desk.gui.common.fonts import hiragana_font

TICK_PT = 10.0  # class labels on both charts (6 pt was unreadable)
# A tick label may reach this many pixels past the axis end (pyqtgraph hides labels that
# overflow at all on a horizontal axis: the first and last bars lost theirs).
TICK_OVERFLOW_PX = 24


def tick_step(cell_px: float, label_px: float) -> int:
    """Label every `step`-th class so labels of `label_px` never overlap cells of `cell_px`."""
    if cell_px <= 0:
        return 1
    return max(1, math.ceil(label_px * 1.1 / cell_px))


def _class_axis(plot: pg.PlotWidget, side: str) -> pg.AxisItem:
    ax = plot.getAxis(side)
    ax.setTickFont(hiragana_font(TICK_PT))
    ax.setStyle(hideOverlappingLabels=TICK_OVERFLOW_PX)
    return ax

# The dataset's published balanced accuracies (FACTS.md): reference lines on the bar chart.
REFERENCES: tuple[tuple[str, float], ...] = (
    ("simple CNN", 0.8936), ("ResNet-18", 0.9664), ("best published", 0.9829))


def accuracy_colour(v: float) -> QColor:
    """Red at or below 80%, through amber, to green at 100%: where the model fails stands out."""
    t = float(np.clip((v - 0.8) / 0.2, 0.0, 1.0))
    stops = ((214, 39, 40), (240, 160, 30), (44, 160, 44))
    a, b, u = (stops[0], stops[1], 2 * t) if t < 0.5 else (stops[1], stops[2], 2 * t - 1)
    return QColor(*(int(round(x + (y - x) * u)) for x, y in zip(a, b, strict=True)))


class ClassBarChart(pg.PlotWidget):
    """Per-class accuracy, worst first; classes absent from the split shown as absent."""

    hovered = Signal(int)  # class index, -1 when off the bars
    clicked = Signal(int)

    def __init__(self, parent: object = None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setLabel("left", "accuracy %")
        self.showGrid(y=True, alpha=0.2)
        self.axis = _class_axis(self, "bottom")
        self.order: np.ndarray = np.zeros(0, np.int64)  # bar position -> class index
        self.chars: list[str] = []
        self.step = 1
        self.n_present = 0
        self._items: list[pg.GraphicsObject] = []
        self.scene().sigMouseMoved.connect(self._on_move)
        self.scene().sigMouseClicked.connect(self._on_click)
        self.plotItem.vb.sigResized.connect(self._update_ticks)

    def clear_data(self) -> None:
        for it in self._items:
            self.removeItem(it)
        self._items = []
        self.order = np.zeros(0, np.int64)
        self.chars = []
        self.axis.setTicks([[], []])

    def _update_ticks(self, *_a: object) -> None:
        """All class labels when the bars are wide enough, else every 2nd/3rd."""
        if not self.chars:
            return
        label_px = QFontMetrics(hiragana_font(TICK_PT)).horizontalAdvance("ゑ")
        bar_px = self.plotItem.vb.width() / max(len(self.chars) + 0.2, 1)
        self.step = tick_step(bar_px, label_px)
        self.axis.setTicks([[(i, ch) for i, ch in enumerate(self.chars)
                             if i % self.step == 0], []])

    def set_data(self, per_class: np.ndarray, classes: Sequence[ClassInfo],
                 balanced: float) -> None:
        self.clear_data()
        present = np.flatnonzero(~np.isnan(per_class))
        absent = np.flatnonzero(np.isnan(per_class))
        present = present[np.argsort(per_class[present], kind="stable")]
        self.order = np.concatenate([present, absent]).astype(np.int64)
        self.n_present = len(present)
        vals = per_class[present] * 100
        lo = float(min(np.nanmin(vals) if len(vals) else 80.0, 85.0))
        ymin = max(0.0, np.floor(lo / 5) * 5 - 5)
        if len(present):
            bars = pg.BarGraphItem(x=np.arange(len(present)), height=vals - ymin, y0=ymin,
                                   width=0.8, brushes=[accuracy_colour(v / 100) for v in vals],
                                   pens=[pg.mkPen(accuracy_colour(v / 100).darker(130), width=2)
                                         for v in vals])  # a 0% bar still shows as a line
            self._add(bars)
        if len(absent):
            brush = QBrush(QColor(160, 160, 160), Qt.BrushStyle.BDiagPattern)
            ghost = pg.BarGraphItem(x=np.arange(len(present), len(self.order)),
                                    height=100 - ymin, y0=ymin, width=0.8, brush=brush,
                                    pen=pg.mkPen((190, 190, 190)))
            self._add(ghost)
            txt = pg.TextItem(f"absent from the split ({len(absent)})", color=(110, 110, 110),
                              anchor=(0.5, 0.5))
            txt.setPos((len(present) + len(self.order) - 1) / 2, ymin + (100 - ymin) * 0.5)
            self._add(txt)
        for k, (name, v) in enumerate((*REFERENCES, ("this model", balanced))):
            if not np.isfinite(v):
                continue
            ours = name == "this model"
            # Staggered along x so labels of close lines (96.64 / 98.29) do not overlap.
            line = pg.InfiniteLine(
                pos=100 * v, angle=0,
                pen=pg.mkPen((31, 119, 180) if ours else (90, 90, 90), width=2 if ours else 1,
                             style=Qt.PenStyle.SolidLine if ours else Qt.PenStyle.DashLine),
                label=f"{name} {100 * v:.2f}%",
                labelOpts={"position": 0.02 if ours else 0.98 - 0.22 * k,
                           "color": (31, 119, 180) if ours else (70, 70, 70),
                           "fill": (255, 255, 255, 210),
                           "anchors": [(0, 1), (0, 1)] if ours else [(1, 1), (1, 1)]})
            self._add(line)
        self.chars = [classes[c].char for c in self.order]
        self._update_ticks()
        self.setXRange(-0.6, max(len(self.order), 1) - 0.4, padding=0)
        # Room above 100% for the "this model" label (it sits on its line).
        self.setYRange(ymin, 100 + 0.07 * (100 - ymin), padding=0)

    def _add(self, item: pg.GraphicsObject) -> None:
        self.addItem(item)
        self._items.append(item)

    def class_at(self, scene_pos: QPointF) -> int:
        if not self.plotItem.sceneBoundingRect().contains(scene_pos) or not len(self.order):
            return -1
        p = self.plotItem.vb.mapSceneToView(scene_pos)
        i = int(np.floor(p.x() + 0.5))
        return int(self.order[i]) if 0 <= i < len(self.order) else -1

    def _on_move(self, pos: QPointF) -> None:
        self.hovered.emit(self.class_at(pos))

    def _on_click(self, ev: object) -> None:
        c = self.class_at(ev.scenePos())  # type: ignore[attr-defined]
        if c >= 0:
            self.clicked.emit(c)


class ConfusionPlot(pg.PlotWidget):
    """Confusion matrix, rows true class, columns predicted class: row-normalised fractions
    or raw counts, linear or log colour. Hovering shows a tooltip kept inside the plot."""

    hovered = Signal(int, int)  # true, predicted (-1, -1 off the matrix)
    clicked = Signal(int, int)

    def __init__(self, parent: object = None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setAspectLocked(True)
        self.setLabel("left", "true class")
        self.setLabel("bottom", "predicted class")
        self.invertY(True)  # true class 0 at the top, as a table reads
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.addItem(self.image)
        self.confusion = np.zeros((0, 0), np.int64)
        self.classes: Sequence[ClassInfo] = ()
        self.log_scale = False
        self.counts = False  # False: row-normalised fractions
        self.step = 1
        self.axes = [_class_axis(self, side) for side in ("left", "bottom")]
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"),
                                   interactive=False, width=12)
        self.bar.setImageItem(self.image, insert_in=self.plotItem)
        self.plotItem.layout.setContentsMargins(2, 10, 2, 2)  # the colour bar's top label
        self.last_tip: tuple[str, QRect] | None = None  # (text, where it was shown)
        self.scene().sigMouseMoved.connect(self._on_move)
        self.scene().sigMouseClicked.connect(self._on_click)
        self.plotItem.vb.sigResized.connect(self._update_ticks)

    def title(self) -> str:
        what = "counts" if self.counts else "row-normalised"
        return f"Confusion matrix ({what}{', log colour' if self.log_scale else ''})"

    def set_data(self, confusion: np.ndarray, classes: Sequence[ClassInfo]) -> None:
        self.confusion = np.asarray(confusion, np.int64)
        self.classes = classes
        k = self.confusion.shape[0]
        self._update_ticks()
        self._render()
        self.setRange(QRectF(0, 0, k, k), padding=0.01)

    def clear_data(self) -> None:
        self.confusion = np.zeros((0, 0), np.int64)
        self.image.clear()
        for ax in self.axes:
            ax.setTicks([[], []])

    def _update_ticks(self, *_a: object) -> None:
        k = self.confusion.shape[0]
        if not k:
            return
        vb = self.plotItem.vb
        cell_px = min(vb.width(), vb.height()) / k  # aspect locked: square cells
        fm = QFontMetrics(hiragana_font(TICK_PT))  # a glyph's width or height, not the line's
        self.step = tick_step(cell_px, max(fm.horizontalAdvance("ゑ"), fm.ascent()))
        ticks = [(i + 0.5, self.classes[i].char) for i in range(k) if i % self.step == 0]
        for ax in self.axes:
            ax.setTicks([ticks, []])

    def set_log_scale(self, on: bool) -> None:
        self.log_scale = bool(on)
        if self.confusion.size:
            self._render()

    def set_counts(self, on: bool) -> None:
        self.counts = bool(on)
        if self.confusion.size:
            self._render()

    def normalised(self) -> np.ndarray:
        """Row fractions; NaN rows for classes absent from the split (drawn transparent)."""
        cm = self.confusion.astype(np.float64)
        support = cm.sum(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(support > 0, cm / np.maximum(support, 1), np.nan)

    def image_values(self) -> tuple[np.ndarray, tuple[float, float]]:
        """What is drawn and its colour levels, for the current mode."""
        if self.counts:
            cm = self.confusion.astype(np.float64)
            top = float(max(cm.max(), 1.0)) if cm.size else 1.0
            if self.log_scale:  # log10(1 + n): a single stray image is still visible
                return np.log10(1.0 + cm), (0.0, math.log10(1.0 + top))
            return cm, (0.0, top)
        frac = self.normalised()
        if self.log_scale:
            # log10 with a floor of 0.1%: one stray prediction in a thousand is still visible.
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log10(np.maximum(frac, 1e-3)), (-3.0, 0.0)
        return frac, (0.0, 1.0)

    def _render(self) -> None:
        img, levels = self.image_values()
        self.image.setImage(img, levels=levels, autoLevels=False)
        self.image.setRect(QRectF(0, 0, img.shape[1], img.shape[0]))
        self.bar.setLevels(levels)

    def cell_at(self, scene_pos: QPointF) -> tuple[int, int]:
        k = self.confusion.shape[0]
        if not k or not self.plotItem.vb.sceneBoundingRect().contains(scene_pos):
            return -1, -1
        p = self.plotItem.vb.mapSceneToView(scene_pos)
        j, i = int(np.floor(p.x())), int(np.floor(p.y()))
        if 0 <= i < k and 0 <= j < k:
            return i, j
        return -1, -1

    def tip_text(self, i: int, j: int) -> str:
        n, count = int(self.confusion[i].sum()), int(self.confusion[i, j])
        share = f"{100 * count / n:.1f}% of {n:,d}" if n else "class absent from the split"
        return (f"true {self.classes[i].label}\npredicted {self.classes[j].label}\n"
                f"{count:,d} image{'' if count == 1 else 's'} ({share})")

    def tip_rect(self, text: str, at: QPoint) -> QRect:
        """Where the tooltip for a cursor at `at` (global) goes: right-below the cursor, or
        left/above it when it would cross the plot's right/bottom edge."""
        fm = QFontMetrics(QToolTip.font())
        size = fm.boundingRect(QRect(0, 0, 600, 400), int(Qt.AlignmentFlag.AlignLeft),
                               text).size() + QRect(0, 0, 12, 10).size()
        area = QRect(self.mapToGlobal(QPoint(0, 0)), self.size())
        x, y = at.x() + 14, at.y() + 18
        if x + size.width() > area.right():
            x = at.x() - 10 - size.width()
        if y + size.height() > area.bottom():
            y = at.y() - 10 - size.height()
        return QRect(QPoint(max(x, area.left()), max(y, area.top())), size)

    def _on_move(self, pos: QPointF) -> None:
        i, j = self.cell_at(pos)
        self.hovered.emit(i, j)
        if i < 0:
            QToolTip.hideText()
            self.last_tip = None
            return
        text = self.tip_text(i, j)
        at = self.mapToGlobal(self.mapFromScene(pos))
        rect = self.tip_rect(text, at)
        self.last_tip = (text, rect)
        # showText offsets the tip from the point it is given by about (2, 16): undo that.
        QToolTip.showText(rect.topLeft() - QPoint(2, 16), text, self)

    def _on_click(self, ev: object) -> None:
        i, j = self.cell_at(ev.scenePos())  # type: ignore[attr-defined]
        if i >= 0:
            self.clicked.emit(i, j)
