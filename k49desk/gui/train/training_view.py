"""The Train panel's "Training" tab: progress with speed and ETA, the offer to use a run that
was not made current, live (or saved) curves, the log and the curve exports."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from k49desk.gui.common.errors import show_error
from k49desk.gui.train.curves import TrainCurves


def fmt_eta(s: float | None) -> str:
    if s is None or s != s or s < 0 or s == float("inf"):
        return "—"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class SpeedMeter:
    """Images per second over the last `window_s` seconds of step events, and the ETA as the
    work left at that same speed: the two numbers shown side by side always agree (the
    core's own ETA averages over the whole run, validation included, and disagreed)."""

    def __init__(self, window_s: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self.samples: deque[tuple[float, float]] = deque()  # (time, images done)

    def reset(self) -> None:
        self.samples.clear()

    def add(self, images_done: float) -> None:
        now = self.clock()
        self.samples.append((now, images_done))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window_s:
            self.samples.popleft()

    def rate(self, fallback: float = 0.0) -> float:
        if len(self.samples) >= 2:
            (t0, n0), (t1, n1) = self.samples[0], self.samples[-1]
            if t1 - t0 >= 0.5 and n1 > n0:
                return (n1 - n0) / (t1 - t0)
        return fallback

    @staticmethod
    def eta_s(images_left: float, rate: float) -> float | None:
        return images_left / rate if rate > 0 else None


class OfferBar(QFrame):
    """"This run was saved but not made current: [Use this model]"."""

    use = Signal(object)  # the checkpoint path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.setStyleSheet("OfferBar { background: #fff7e6; border: 1px solid #f0c36d; "
                           "border-radius: 4px; }")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.use_btn = QPushButton("Use this model")
        self.use_btn.setToolTip("Make this run the current model (Draw, Gallery, Review)")
        self.use_btn.clicked.connect(lambda: self.use.emit(self.path))
        self.close_btn = QPushButton("Dismiss")
        self.close_btn.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.use_btn)
        lay.addWidget(self.close_btn)
        self.hide()

    def offer(self, path: Path, text: str) -> None:
        self.path = Path(path)
        self.text.setText(text)
        self.use_btn.setEnabled(True)
        self.show()


class TrainingView(QWidget):
    def __init__(self, status: Callable[[str], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self.run_name = ""  # the run shown (live or saved): names the exports
        self._epochs: int | None = None  # the run's epochs (None until the schedule is known)
        self.speed = SpeedMeter()
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        self.offer = OfferBar()
        self.curves = TrainCurves()
        self.curves.changed.connect(self._update_exports)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setPlaceholderText("The training log appears here.")
        self.csv_btn = QPushButton("Export curves CSV…")
        self.csv_btn.clicked.connect(self.export_csv_dialog)
        self.png_btn = QPushButton("Export curves PNG…")
        self.png_btn.clicked.connect(self.export_png_dialog)
        lay = QVBoxLayout(self)
        lay.addWidget(self.progress)
        lay.addWidget(self.offer)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.curves)
        split.addWidget(self.log)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        lay.addWidget(split, 1)
        ex = QHBoxLayout()
        ex.addStretch(1)
        ex.addWidget(self.csv_btn)
        ex.addWidget(self.png_btn)
        lay.addLayout(ex)
        self._update_exports()

    # ---- a run --------------------------------------------------------------------------
    def begin(self, run_name: str, epochs: int | None) -> None:
        self.run_name = run_name
        self._epochs = epochs
        self.offer.hide()
        self.speed.reset()
        self.curves.clear(epochs=epochs)
        self.log.clear()
        # Not the busy indicator: its animation repaints continuously while the child starts.
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("starting…")

    def show_events(self, evs: list[Any], stopping: bool) -> None:
        """A batch of TrainEvents: curves, log lines at epoch ends, progress, speed, ETA."""
        if self._epochs is None and evs and getattr(evs[0], "epochs", None):
            self._epochs = int(evs[0].epochs)  # "auto": the schedule's choice, now known
            self.curves.fix_x_range(self._epochs)
        self.curves.add_events(evs)
        for ev in evs:
            if ev.kind == "epoch":
                self.log_line(f"epoch {ev.epoch}/{ev.epochs}: train loss {ev.loss:.4f}, "
                              f"acc {pct(ev.acc)} · val loss "
                              f"{'—' if ev.val_loss is None else f'{ev.val_loss:.4f}'}, "
                              f"val balanced acc {pct(ev.val_balanced_accuracy)}, "
                              f"val acc {pct(ev.val_accuracy)}")
        ev = evs[-1]
        spe = max(ev.steps_per_epoch, 1)
        total = max(ev.epochs * spe, 1)
        per_step = (ev.n_train or 0) / spe
        if self.progress.maximum() != total:
            self.progress.setRange(0, total)
        self.progress.setValue(min(ev.global_step, total))
        if per_step > 0:
            self.speed.add(ev.global_step * per_step)
            rate = self.speed.rate(fallback=ev.images_per_s)
            eta = self.speed.eta_s((total - ev.global_step) * per_step, rate)
        else:  # events without sizes (older callers): the core's figures
            rate, eta = ev.images_per_s, ev.eta_s
        text = (f"epoch {ev.epoch}/{ev.epochs} · step {ev.step}/{ev.steps_per_epoch} · "
                f"{rate:,.0f} img/s · ETA {fmt_eta(eta)}")
        if stopping:
            text += " — stopping…"
        self.progress.setFormat(text)

    def end(self, text: str, full: bool) -> None:
        """The run is over: a full bar when it completed, an empty one otherwise (a partly
        filled bar reads as "still running")."""
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if full else 0)
        self.progress.setFormat(text)

    def log_line(self, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    # ---- export -------------------------------------------------------------------------
    def _update_exports(self) -> None:
        has = self.curves.has_data()
        for b in (self.csv_btn, self.png_btn):
            b.setEnabled(has)
            b.setToolTip("" if has else "No curves yet: train a run or show a saved one")

    def suggested_name(self, kind: str) -> str:
        return f"{self.run_name}-curves.{kind}" if self.run_name else f"curves.{kind}"

    def _export(self, kind: str) -> None:
        if not self.curves.has_data():
            return
        f, _ = QFileDialog.getSaveFileName(self, f"Export curves as {kind.upper()}",
                                           str(Path.home() / self.suggested_name(kind)),
                                           f"{kind.upper()} (*.{kind})")
        if not f:
            return
        try:
            if kind == "csv":
                self.curves.export_csv(f, self.run_name)
            else:
                self.curves.export_png(f)
        except Exception as e:  # noqa: BLE001  (K49Error naming the file)
            show_error(self, "Export failed", e)
            return
        self.status(f"Curves saved to {f}")

    def export_csv_dialog(self) -> None:
        self._export("csv")

    def export_png_dialog(self) -> None:
        self._export("png")


def pct(v: Any) -> str:
    return "—" if not isinstance(v, int | float) or v != v else f"{100 * v:.2f}%"
