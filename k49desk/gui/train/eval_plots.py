"""The evaluation view's two plots: per-class accuracy bars and the 49x49 confusion heat map.

Both emit the class (or the true/predicted pair) under the mouse and on click; the
`EvalView` turns that into text and into the images behind the number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor

from k49desk.core.classes import ClassInfo
from k49desk.gui.common.fonts import hiragana_font

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
        self.setTitle("Per-class accuracy on the test split (worst first)", color="#333")
        self.setLabel("left", "accuracy %")
        self.showGrid(y=True, alpha=0.2)
        ax = self.getAxis("bottom")
        ax.setTickFont(hiragana_font(10))
        self.order: np.ndarray = np.zeros(0, np.int64)  # bar position -> class index
        self.n_present = 0
        self._items: list[pg.GraphicsObject] = []
        self.scene().sigMouseMoved.connect(self._on_move)
        self.scene().sigMouseClicked.connect(self._on_click)

    def set_data(self, per_class: np.ndarray, classes: Sequence[ClassInfo],
                 balanced: float) -> None:
        for it in self._items:
            self.removeItem(it)
        self._items = []
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
        ticks = [(i, classes[c].char) for i, c in enumerate(self.order)]
        self.getAxis("bottom").setTicks([ticks, []])
        self.setXRange(-0.6, max(len(self.order), 1) - 0.4, padding=0)
        self.setYRange(ymin, 100.5, padding=0)

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
    """Row-normalised confusion matrix: rows true class, columns predicted class."""

    hovered = Signal(int, int)  # true, predicted (-1, -1 off the matrix)
    clicked = Signal(int, int)

    def __init__(self, parent: object = None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setAspectLocked(True)
        self.setTitle("Confusion matrix (row-normalised)", color="#333")
        self.setLabel("left", "true class")
        self.setLabel("bottom", "predicted class")
        self.invertY(True)  # true class 0 at the top, as a table reads
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.addItem(self.image)
        self.confusion = np.zeros((0, 0), np.int64)
        self.log_scale = False
        font = hiragana_font(6)
        for side in ("left", "bottom"):
            self.getAxis(side).setTickFont(font)
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"),
                                   interactive=False, width=12)
        self.bar.setImageItem(self.image, insert_in=self.plotItem)
        self.scene().sigMouseMoved.connect(self._on_move)
        self.scene().sigMouseClicked.connect(self._on_click)

    def set_data(self, confusion: np.ndarray, classes: Sequence[ClassInfo]) -> None:
        self.confusion = np.asarray(confusion, np.int64)
        k = self.confusion.shape[0]
        ticks = [(i + 0.5, classes[i].char) for i in range(k)]
        self.getAxis("left").setTicks([ticks, []])
        self.getAxis("bottom").setTicks([ticks, []])
        self._render()
        self.setRange(QRectF(0, 0, k, k), padding=0.01)

    def set_log_scale(self, on: bool) -> None:
        self.log_scale = bool(on)
        if self.confusion.size:
            self._render()

    def normalised(self) -> np.ndarray:
        """Row fractions; NaN rows for classes absent from the split (drawn transparent)."""
        cm = self.confusion.astype(np.float64)
        support = cm.sum(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(support > 0, cm / np.maximum(support, 1), np.nan)

    def _render(self) -> None:
        frac = self.normalised()
        if self.log_scale:
            # log10 with a floor of 0.1%: one stray prediction in a thousand is still visible.
            with np.errstate(divide="ignore", invalid="ignore"):
                img = np.log10(np.maximum(frac, 1e-3))
            levels = (-3.0, 0.0)
            self.setTitle("Confusion matrix (row-normalised, log colour)", color="#333")
        else:
            img, levels = frac, (0.0, 1.0)
            self.setTitle("Confusion matrix (row-normalised)", color="#333")
        self.image.setImage(img, levels=levels, autoLevels=False)
        self.image.setRect(QRectF(0, 0, frac.shape[1], frac.shape[0]))
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

    def _on_move(self, pos: QPointF) -> None:
        self.hovered.emit(*self.cell_at(pos))

    def _on_click(self, ev: object) -> None:
        i, j = self.cell_at(ev.scenePos())  # type: ignore[attr-defined]
        if i >= 0:
            self.clicked.emit(i, j)
