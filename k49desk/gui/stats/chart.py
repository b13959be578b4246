"""Images per class as a pyqtgraph bar chart: train and test side by side, hiragana ticks.

Hovering a class shows its exact counts and shares; under-represented classes are shaded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from k49desk.core.stats import UNDER_REPRESENTED_RATIO
from k49desk.gui.common.fonts import hiragana_font

TRAIN_COLOR = QColor("#2563eb")
TEST_COLOR = QColor("#f97316")
UNDER_COLOR = QColor(239, 68, 68, 40)
DEMO_TITLE = '<span style="color:#92400e">Generated demo data — not real K49</span>'
LEGEND_H = 30  # the legend strip on top of an exported chart
TICK_PT, VALUE_PT = 10.0, 9.0  # hiragana ticks ~13 px, value ticks ~12 px at 96 dpi


class _ValueAxis(pg.AxisItem):
    """Left axis that reads 2.5% for shares and 6,000 for counts."""

    percent = True

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        if self.percent:
            return [f"{v:.1%}" if spacing < 0.01 else f"{v:.0%}" for v in values]
        return [f"{int(round(v)):,d}" for v in values]


class ClassChart(QGroupBox):
    def __init__(self, parent: object = None) -> None:
        super().__init__("Images per class", parent)
        self.table: pd.DataFrame | None = None
        self.splits: list[str] = []
        self.under: set[int] = set()
        self.hover_text = ""
        pg.setConfigOptions(antialias=True, background="w", foreground="#374151")
        self.value_axis = _ValueAxis("left")
        self.value_axis.enableAutoSIPrefix(False)
        self.plot = pg.PlotWidget(axisItems={"left": self.value_axis})
        self.plot.setMinimumHeight(140)
        pi = self.plot.getPlotItem()
        pi.showGrid(x=False, y=True, alpha=0.25)
        pi.setMenuEnabled(False)
        pi.getViewBox().setMouseEnabled(x=True, y=False)
        pi.getAxis("bottom").setStyle(tickFont=hiragana_font(TICK_PT), tickTextOffset=4)
        pi.getAxis("left").setStyle(tickFont=hiragana_font(VALUE_PT))
        self.under_bands = pg.BarGraphItem(x=[], height=[], width=1.0, brush=UNDER_COLOR, pen=None)
        self.train_bars = pg.BarGraphItem(x=[], height=[], width=0.38, brush=TRAIN_COLOR, pen=None)
        self.test_bars = pg.BarGraphItem(x=[], height=[], width=0.38, brush=TEST_COLOR, pen=None)
        for it in (self.under_bands, self.train_bars, self.test_bars):
            pi.addItem(it)
        self.threshold = pg.InfiniteLine(angle=0, pen=pg.mkPen("#ef4444", width=1,
                                                               style=Qt.PenStyle.DashLine))
        pi.addItem(self.threshold)
        self.hover_label = pg.TextItem("", anchor=(0, 1), color="#111827",
                                       fill=pg.mkBrush(255, 255, 255, 230),
                                       border=pg.mkPen("#9ca3af"))
        self.hover_label.setFont(hiragana_font(10))
        self.hover_label.setZValue(10)
        self.hover_label.hide()
        pi.addItem(self.hover_label, ignoreBounds=True)
        self.plot.scene().sigMouseMoved.connect(self.on_mouse_moved)

        self.mode_combo = QComboBox()
        self.mode_combo.addItem("Share of split", "share")
        self.mode_combo.addItem("Image count", "count")
        self.mode_combo.currentIndexChanged.connect(lambda _i: self.redraw())
        self.export_button = QPushButton("Export PNG…")
        note = QLabel("Shaded: under-represented (below half the largest class). "
                      "Hover a bar for exact values.")
        note.setStyleSheet("color:#6b7280;")
        note.setWordWrap(True)
        row = QHBoxLayout()
        # The legend lives outside the plot: inside, it hid the last bars.
        for name, color in (("train", TRAIN_COLOR), ("test", TEST_COLOR)):
            row.addWidget(QLabel(f'<span style="color:{color.name()}; font-size:15px;">■</span>'
                                 f" {name}"))
        row.addSpacing(12)
        row.addWidget(note, 1)
        row.addWidget(self.mode_combo)
        row.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.plot, 1)

    def set_data(self, table: pd.DataFrame | None, splits: list[str], under: set[int],
                 demo: bool) -> None:
        """`table` from core.stats.class_table; `under`: under-represented class indices."""
        self.table, self.splits, self.under = table, splits, under
        # Exported charts travel without the banner: the plot itself says it is demo data.
        self.plot.getPlotItem().setTitle(DEMO_TITLE if demo else None)
        self.redraw()

    def redraw(self) -> None:
        pi = self.plot.getPlotItem()
        t = self.table
        if t is None:
            for b in (self.train_bars, self.test_bars, self.under_bands):
                b.setOpts(x=[], height=[])
            self.threshold.hide()
            return
        share = self.mode_combo.currentData() == "share"
        x = t["index"].to_numpy(float)
        col = "{}_share" if share else "{}"
        train = t[col.format("train")].to_numpy(float)
        test = t[col.format("test")].to_numpy(float)
        self.train_bars.setOpts(x=x - 0.2, height=train, width=0.38)
        self.test_bars.setOpts(x=x + 0.2, height=test, width=0.38)
        top = float(max(train.max(initial=0), test.max(initial=0))) or 1.0
        ux = np.array(sorted(self.under), float)
        self.under_bands.setOpts(x=ux, height=np.full(len(ux), top * 1.08), width=0.96)
        base = "train" if "train" in self.splits else (self.splits or ["train"])[0]
        self.threshold.setValue(float(t[col.format(base)].max()) * UNDER_REPRESENTED_RATIO)
        self.threshold.show()
        ticks = [(float(i), ch) for i, ch in zip(t["index"], t["char"], strict=True)]
        pi.getAxis("bottom").setTicks([ticks, []])
        pi.setLabel("left", "share of split" if share else "images")
        self.value_axis.percent = share
        pi.setXRange(-0.7, len(t) - 0.3, padding=0)
        pi.setYRange(0, top * 1.1, padding=0)
        self.value_axis.picture = None
        self.value_axis.update()

    def export_image(self) -> QImage:
        """The plot with its legend drawn on top: an exported PNG travels without the legend
        row of the panel, and without it train and test bars cannot be told apart."""
        plot = self.plot.grab().toImage()
        dpr = plot.devicePixelRatio()
        w, h = plot.width() / dpr, plot.height() / dpr
        img = QImage(plot.width(), plot.height() + round(LEGEND_H * dpr),
                     QImage.Format.Format_RGB32)
        img.setDevicePixelRatio(dpr)
        img.fill(QColor("white"))
        p = QPainter(img)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setFont(hiragana_font(VALUE_PT))
        fm = p.fontMetrics()
        x, mid = 12.0, LEGEND_H / 2
        text = QColor("#374151")
        items = [(name, color) for name, color in (("train", TRAIN_COLOR), ("test", TEST_COLOR))
                 if name in self.splits or not self.splits]
        for name, color in items:
            p.fillRect(QRectF(x, mid - 6, 12, 12), color)
            p.setPen(text)
            p.drawText(QPointF(x + 17, mid + fm.ascent() / 2 - 1), name)
            x += 17 + fm.horizontalAdvance(name) + 18
        if self.under:
            p.fillRect(QRectF(x, mid - 7, 14, 14), UNDER_COLOR)
            label = "under-represented (below half the largest class)"
            p.setPen(text)
            p.drawText(QPointF(x + 19, mid + fm.ascent() / 2 - 1), label)
            x += 19 + fm.horizontalAdvance(label) + 18
        if self.threshold.isVisible():
            p.setPen(QPen(QColor("#ef4444"), 1.5, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(x, mid), QPointF(x + 22, mid))
            p.setPen(text)
            p.drawText(QPointF(x + 28, mid + fm.ascent() / 2 - 1), "half the largest class")
        p.drawImage(QRectF(0, LEGEND_H, w, h), plot)
        p.end()
        return img

    def hover_at(self, cls: int) -> str:
        """The exact values shown when hovering class `cls`."""
        t = self.table
        if t is None or not 0 <= cls < len(t):
            return ""
        r = t.iloc[cls]
        lines = [f"{r['char']} ({r['romaji']})  class {int(r['index'])}"]
        for s in ("train", "test"):
            if s in self.splits:
                lines.append(f"{s}: {int(r[s]):,d} images ({r[f'{s}_share']:.2%} of {s})")
        if cls in self.under:
            lines.append("under-represented")
        return "\n".join(lines)

    def on_mouse_moved(self, pos: object) -> None:
        vb = self.plot.getPlotItem().getViewBox()
        p = vb.mapSceneToView(pos)
        cls = int(round(p.x()))
        if self.table is None or not 0 <= cls < len(self.table) or abs(p.x() - cls) > 0.45:
            self.hover_label.hide()
            self.hover_text = ""
            return
        self.hover_text = self.hover_at(cls)
        self.hover_label.setText(self.hover_text)
        # Keep the box inside the chart: left of the cursor on the right half.
        xr = vb.viewRange()[0]
        self.hover_label.setAnchor((1, 0) if p.x() > (xr[0] + xr[1]) / 2 else (0, 0))
        self.hover_label.setPos(p.x(), vb.viewRange()[1][1] * 0.97)
        self.hover_label.show()
