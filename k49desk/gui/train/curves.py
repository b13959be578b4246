"""Training curves: raw step loss (faint) + debiased EMA, per-epoch validation metrics.

Live: events arrive in batches (lists of `TrainEvent`s, see panel); they are appended to numpy
buffers and the plots are redrawn by a timer at a few Hz, so a burst of events costs one
`setData`, not one per step. Saved: `show_saved` draws the curves a run left beside its
checkpoint (`runs.load_curves`), one run as if live, several overlaid in their own colours.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from k49desk.core.atomic import atomic_write_text
from k49desk.core.errors import K49Error
from k49desk.gui.common.files import save_image

# Overlaid runs: tab10 without the live run's blue.
RUN_COLOURS = ((214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75),
               (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
               (31, 119, 180))

# Redraw at 2 Hz: a pyqtgraph repaint whose axis range changed costs ~10 ms of GUI time
# (several times that on a loaded machine); the curves still look live.
REDRAW_MS = 500


def debiased_ema(values: Sequence[float] | np.ndarray, smoothing: float) -> np.ndarray:
    """TensorBoard's smoothing: an EMA divided by (1 - s^n) so early points are not pulled to 0.

    Non-finite values are passed through (NaN) without disturbing the running average.
    """
    out = np.empty(len(values), np.float64)
    ema = EmaState(smoothing)
    for i, v in enumerate(values):
        out[i] = ema.push(float(v))
    return out


class EmaState:
    """Incremental form of `debiased_ema`, so live updates only touch the new points."""

    def __init__(self, smoothing: float) -> None:
        self.s = float(smoothing)
        self.last = 0.0
        self.n = 0

    def push(self, v: float) -> float:
        if not math.isfinite(v):
            return math.nan
        self.last = self.last * self.s + (1.0 - self.s) * v
        self.n += 1
        debias = 1.0 - self.s ** self.n
        return self.last / debias if debias > 0 else v


class _Grow:
    """An append-only float array with amortised growth (no Python list of 18k floats)."""

    def __init__(self) -> None:
        self.a = np.empty(1024, np.float64)
        self.n = 0

    def extend(self, vals: Iterable[float]) -> None:
        v = np.fromiter(vals, np.float64)
        need = self.n + len(v)
        if need > len(self.a):
            self.a = np.resize(self.a, max(need, 2 * len(self.a)))
        self.a[self.n:need] = v
        self.n = need

    def view(self) -> np.ndarray:
        return self.a[:self.n]

    def clear(self) -> None:
        self.n = 0


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and v is not None else math.nan


class TrainCurves(QWidget):
    """Loss plot (steps + validation loss) and validation-accuracy plot, x in epochs."""

    changed = Signal()  # the curves went from empty to shown or back (exports follow)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.overlay: list[tuple[str, Any]] = []  # (label, RunCurves) drawn over each other
        self._overlay_items: list[Any] = []
        self._had_data = False
        self.step_x, self.step_loss, self.step_smooth = _Grow(), _Grow(), _Grow()
        self.epoch_x: list[float] = []
        self.val_loss: list[float] = []
        self.val_bal: list[float] = []
        self.val_acc: list[float] = []
        self.smoothing = 0.9
        self._ema = EmaState(self.smoothing)
        self._dirty = False
        self._epochs_dirty = False  # the accuracy plot only changes once per epoch
        self._acc_lo: float | None = None

        self.caption = QLabel()  # which saved run(s) are shown; empty while live
        self.caption.setWordWrap(True)
        self.caption.hide()
        self.loss_plot = pg.PlotWidget(background="w")
        self.loss_plot.setTitle("Loss", color="#333")
        self.loss_plot.setLabel("bottom", "epoch")
        self.loss_plot.setLabel("left", "cross-entropy")
        # No grid: AxisItem draws grid lines with alpha over the whole view on every range
        # change, which tripled the repaint cost (measured 36 vs 11 ms) and stalled the GUI.
        self.loss_plot.addLegend(offset=(-10, 10))
        # Raw loss is downsampled/clipped by pyqtgraph: 20k points stay cheap to redraw.
        self.raw_curve = self.loss_plot.plot(pen=pg.mkPen((31, 119, 180, 70), width=1),
                                             name="train (raw)")
        self.raw_curve.setDownsampling(auto=True, method="peak")
        self.raw_curve.setClipToView(True)
        self.smooth_curve = self.loss_plot.plot(pen=pg.mkPen((31, 119, 180), width=2),
                                                name="train (smoothed)")
        self.smooth_curve.setDownsampling(auto=True, method="mean")
        self.smooth_curve.setClipToView(True)
        self.val_loss_curve = self.loss_plot.plot(
            pen=pg.mkPen((214, 39, 40), width=2), symbol="o", symbolSize=7,
            symbolBrush=(214, 39, 40), name="validation")

        self.acc_plot = pg.PlotWidget(background="w")
        self.acc_plot.setTitle("Validation accuracy", color="#333")
        self.acc_plot.setLabel("bottom", "epoch")
        self.acc_plot.setLabel("left", "%")
        self.acc_plot.addLegend(offset=(-10, -10))
        self.bal_curve = self.acc_plot.plot(pen=pg.mkPen((44, 160, 44), width=2), symbol="o",
                                            symbolSize=7, symbolBrush=(44, 160, 44),
                                            name="balanced accuracy")
        self.acc_curve = self.acc_plot.plot(pen=pg.mkPen((127, 127, 127), width=1,
                                                         style=Qt.PenStyle.DashLine),
                                            symbol="t", symbolSize=6,
                                            symbolBrush=(127, 127, 127), name="accuracy")
        self.acc_plot.setXLink(self.loss_plot)
        for plot in (self.loss_plot, self.acc_plot):  # "epoch (x0.001)" on an empty plot
            for side in ("bottom", "left"):
                plot.getAxis(side).enableAutoSIPrefix(False)
        self.acc_plot.enableAutoRange(y=False)
        self.acc_plot.setYRange(0, 100, padding=0.02)  # a percent axis even before data

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 99)
        self.slider.setValue(int(round(self.smoothing * 100)))
        self.slider.setToolTip("Smoothing of the training-loss line (debiased exponential moving "
                               "average, as in TensorBoard). 0 = raw.")
        self.slider_label = QLabel()
        self.slider.valueChanged.connect(self._on_smoothing)
        row = QHBoxLayout()
        row.addWidget(QLabel("Smoothing"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.slider_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.caption)
        lay.addWidget(self.loss_plot, 3)
        lay.addWidget(self.acc_plot, 2)
        lay.addLayout(row)
        self._update_slider_label()

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(lambda: self.redraw(everything=False))
        self._timer.start()

    # ---- data in ------------------------------------------------------------------------
    def fix_x_range(self, epochs: int | None) -> None:
        """x axis fixed to 0..epochs (None: follow the data)."""
        for plot in (self.loss_plot, self.acc_plot):
            if epochs:
                plot.setXRange(0, epochs, padding=0.02)
                plot.enableAutoRange(x=False)
            else:
                plot.enableAutoRange(x=True)

    def clear(self, epochs: int | None = None) -> None:
        """Empty the plots; with `epochs`, fix the x axis to the whole run.

        A fixed x range shows how far the run has come, and spares pyqtgraph re-laying out
        the axes on every redraw (the costliest part of a repaint on a loaded machine)."""
        self._clear_overlay()
        self.caption.hide()
        self.fix_x_range(epochs)
        for g in (self.step_x, self.step_loss, self.step_smooth):
            g.clear()
        self.epoch_x.clear()
        self.val_loss.clear()
        self.val_bal.clear()
        self.val_acc.clear()
        self._ema = EmaState(self.smoothing)
        self._acc_lo = None
        self._dirty = self._epochs_dirty = True
        self.redraw()
        self._notify()

    def has_data(self) -> bool:
        return bool(self.step_x.n or self.epoch_x or self.overlay)

    def _notify(self) -> None:
        if self.has_data() != self._had_data:
            self._had_data = self.has_data()
            self.changed.emit()

    def add_events(self, events: Iterable[Any]) -> None:
        """Append a batch of TrainEvents; the plots catch up at the next redraw tick."""
        xs: list[float] = []
        losses: list[float] = []
        for ev in events:
            spe = max(int(getattr(ev, "steps_per_epoch", 0) or 0), 1)
            x = float(ev.global_step) / spe
            if ev.kind == "step":
                xs.append(x)
                # The core's `loss` is the epoch's running mean; the panel adds the batch's own.
                bl = getattr(ev, "batch_loss", None)
                losses.append(_num(ev.loss if bl is None else bl))
            elif ev.kind == "epoch":
                self.epoch_x.append(x)
                self.val_loss.append(_num(ev.val_loss))
                self.val_bal.append(100 * _num(ev.val_balanced_accuracy))
                self.val_acc.append(100 * _num(ev.val_accuracy))
                self._epochs_dirty = True
        if xs:
            self.step_x.extend(xs)
            self.step_loss.extend(losses)
            self.step_smooth.extend(self._ema.push(v) for v in losses)
        self._dirty = True
        self._notify()

    # ---- saved runs ---------------------------------------------------------------------
    def show_saved(self, runs_: Sequence[tuple[str, Any]]) -> None:
        """Draw saved runs' curves (`RunCurves`): one run fills the plots as a live run
        would (smoothing, exports); several are overlaid, one colour each, named in the
        legends by `label`."""
        self.clear()
        if len(runs_) == 1:
            label, c = runs_[0]
            self.step_x.extend(c.step_x)
            self.step_loss.extend(c.step_loss)
            self.step_smooth.extend(self._ema.push(v) for v in c.step_loss)
            self.epoch_x.extend(c.epochs["x"])
            self.val_loss.extend(c.epochs["val_loss"])
            self.val_bal.extend(100 * v for v in c.epochs["val_balanced_accuracy"])
            self.val_acc.extend(100 * v for v in c.epochs["val_accuracy"])
            self._dirty = self._epochs_dirty = True
            self.redraw()
        elif runs_:
            self._live_in_legend(False)
            self.overlay = list(runs_)
            for k, (label, c) in enumerate(self.overlay):
                self._draw_overlay(label, c, RUN_COLOURS[k % len(RUN_COLOURS)])
            self._fit_acc_range([100 * v for _l, c in self.overlay
                                 for v in c.epochs["val_balanced_accuracy"]])
        for plot in (self.loss_plot, self.acc_plot):
            plot.enableAutoRange(x=True)
        names = [label for label, _c in runs_]
        self.caption.setText(("Saved run: " if len(names) == 1 else "Saved runs: ")
                             + " · ".join(names))
        self.caption.setVisible(bool(names))
        self._notify()

    def _draw_overlay(self, label: str, c: Any, rgb: tuple[int, int, int]) -> None:
        ema = EmaState(self.smoothing)
        smooth = [ema.push(v) for v in c.step_loss]
        items = [
            self.loss_plot.plot(c.step_x, smooth, pen=pg.mkPen(rgb, width=2), name=label,
                                connect="finite"),
            self.loss_plot.plot(c.epochs["x"], c.epochs["val_loss"], pen=None, symbol="o",
                                symbolSize=6, symbolBrush=rgb),
            self.acc_plot.plot(c.epochs["x"], [100 * v for v in c.epochs[
                "val_balanced_accuracy"]], pen=pg.mkPen(rgb, width=2), symbol="o",
                symbolSize=6, symbolBrush=rgb, name=label, connect="finite"),
        ]
        self._overlay_items += [(plot, it) for plot, it in zip(
            (self.loss_plot, self.loss_plot, self.acc_plot), items, strict=True)]

    def _clear_overlay(self) -> None:
        for plot, it in self._overlay_items:
            plot.removeItem(it)
        self._overlay_items = []
        self.overlay = []
        self._live_in_legend(True)

    def _live_in_legend(self, on: bool) -> None:
        """The live run's legend entries, absent while saved runs are overlaid."""
        for plot, curves in ((self.loss_plot, (self.raw_curve, self.smooth_curve,
                                               self.val_loss_curve)),
                             (self.acc_plot, (self.bal_curve, self.acc_curve))):
            legend = plot.plotItem.legend
            shown = {id(sample.item) for sample, _label in legend.items}
            for c in curves:
                if on and id(c) not in shown:
                    legend.addItem(c, c.name())
                elif not on and id(c) in shown:
                    legend.removeItem(c)

    def redraw(self, everything: bool = True) -> None:
        """Push buffered points to the plots. The timer passes everything=False: then at most
        one plot changes per tick, so an epoch end (both plots rescale) is two short repaints
        instead of one long one."""
        if self._dirty:
            self._dirty = False
            x = self.step_x.view()
            self.raw_curve.setData(x, self.step_loss.view(), connect="finite")
            self.smooth_curve.setData(x, self.step_smooth.view(), connect="finite")
            if not everything:
                return
        if self._epochs_dirty:
            self._epochs_dirty = False
            self.val_loss_curve.setData(self.epoch_x, self.val_loss, connect="finite")
            self.bal_curve.setData(self.epoch_x, self.val_bal, connect="finite")
            self.acc_curve.setData(self.epoch_x, self.val_acc, connect="finite")
            self._fit_acc_range()

    def _fit_acc_range(self, values: Iterable[float] | None = None) -> None:
        """y from the 10% band below the lowest accuracy to 100%: it changes a few times per
        run, not at every epoch, so the axis is not re-laid out (a costly repaint) each time."""
        vals = [v for v in (values if values is not None else (*self.val_bal, *self.val_acc))
                if math.isfinite(v)]
        lo = max(0.0, math.floor(min(vals) / 10) * 10) if vals else 0.0
        if lo != self._acc_lo:
            self._acc_lo = lo
            self.acc_plot.setYRange(lo, 100, padding=0.02)

    # ---- smoothing ----------------------------------------------------------------------
    def _update_slider_label(self) -> None:
        self.slider_label.setText(f"{self.smoothing:.2f}")

    def _on_smoothing(self, v: int) -> None:
        self.set_smoothing(v / 100)

    def set_smoothing(self, s: float) -> None:
        self.smoothing = min(max(float(s), 0.0), 0.99)
        if self.slider.value() != int(round(self.smoothing * 100)):
            self.slider.setValue(int(round(self.smoothing * 100)))
        self._ema = EmaState(self.smoothing)
        smooth = np.array([self._ema.push(v) for v in self.step_loss.view()], np.float64)
        self.step_smooth.clear()
        self.step_smooth.extend(smooth)
        self._update_slider_label()
        self._dirty = True
        self.redraw()
        if self.overlay:  # redraw the overlaid runs with the new smoothing
            keep = self.overlay
            self._clear_overlay()
            self.overlay = keep
            for k, (label, c) in enumerate(keep):
                self._draw_overlay(label, c, RUN_COLOURS[k % len(RUN_COLOURS)])

    # ---- export -------------------------------------------------------------------------
    def csv_text(self, run: str = "") -> str:
        """Step and epoch rows of the run shown (`run` names it), or of every overlaid run."""
        if not self.has_data():
            raise K49Error("no curves to export yet: train a run or show a saved one")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["kind", "epoch", "train_loss", "train_loss_smoothed", "val_loss",
                    "val_balanced_accuracy", "val_accuracy", "run"])

        def f(v: float, scale: float = 1.0) -> str:
            return "" if not math.isfinite(v) else f"{v / scale:.6g}"

        def rows(name: str, sx: Iterable[float], sl: Iterable[float], ss: Iterable[float],
                 ex: Iterable[float], vl: Iterable[float], vb: Iterable[float],
                 va: Iterable[float], scale: float) -> None:
            for x, raw, sm in zip(sx, sl, ss, strict=True):
                w.writerow(["step", f"{x:.6g}", f(raw), f(sm), "", "", "", name])
            for x, l_, b, a in zip(ex, vl, vb, va, strict=True):
                w.writerow(["epoch", f"{x:.6g}", "", "", f(l_), f(b, scale), f(a, scale), name])

        if self.overlay:
            for name, c in self.overlay:
                ema = EmaState(self.smoothing)
                rows(name, c.step_x, c.step_loss, [ema.push(v) for v in c.step_loss],
                     c.epochs["x"], c.epochs["val_loss"], c.epochs["val_balanced_accuracy"],
                     c.epochs["val_accuracy"], 1.0)
        else:
            rows(run, self.step_x.view(), self.step_loss.view(), self.step_smooth.view(),
                 self.epoch_x, self.val_loss, self.val_bal, self.val_acc, 100.0)
        return buf.getvalue()

    def export_csv(self, path: str | Path, run: str = "") -> None:
        atomic_write_text(path, self.csv_text(run))

    def export_png(self, path: str | Path) -> None:
        if not self.has_data():
            raise K49Error("no curves to export yet: train a run or show a saved one")
        self.redraw()
        save_image(self.grab().toImage(), path)
