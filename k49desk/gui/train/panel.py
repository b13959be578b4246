"""Train panel: settings, background training with live curves, run history, evaluation.

Training is `k49desk.core.training.train_folder` in a spawned child process (train/process.py)
supervised by the panel's "train" task: on a thread the trainer held the GIL and stalled the
GUI 300-800 ms (measured). Its per-step events come in lists (one update per ~0.2 s), so the
GUI thread does one cheap update per batch whatever the step rate.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from k49desk.core import runs
from k49desk.core.progress import ProgressUpdate
from k49desk.gui.common.errors import show_error
from k49desk.gui.common.panel import Panel
from k49desk.gui.common.state import AppState
from k49desk.gui.train.curves import TrainCurves
from k49desk.gui.train.eval_view import EvalView
from k49desk.gui.train.history import RunHistory
from k49desk.gui.train.process import batched_progress, run_in_process
from k49desk.gui.train.settings_form import TrainSettingsForm


def _fmt_eta(s: float) -> str:
    if not s or s != s or s < 0:
        return "—"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _pct(v: Any) -> str:
    return "—" if not isinstance(v, int | float) or v != v else f"{100 * v:.2f}%"


def make_training_job(cfg: Any, data_dir: Path, out_path: Path,
                      in_process: bool = True) -> Any:
    """The worker function: train_folder (in a child process by default, see
    train_process) with step events handed over in lists.

    Returns (TrainResult, LoadedModel, out_path, leftover events).
    """

    def job(progress: Any, should_stop: Any) -> tuple[Any, Any, Path, list[Any]]:
        if in_process:
            out = run_in_process(cfg, data_dir, out_path, progress, should_stop)
        else:
            from k49desk.core.model import load_checkpoint
            from k49desk.core.training import train_folder

            on_progress, buf = batched_progress(lambda b: progress(None, "", b))
            res = train_folder(cfg, data_dir, out_path, progress=on_progress,
                               should_stop=should_stop)
            out = (res, load_checkpoint(out_path), out_path, buf[:])
        return out

    return job


class TrainPanel(Panel):
    title = "Train"
    # Train in a child process (GUI never waits for the GIL); False: on the worker thread.
    in_process = True
    training_started = Signal()
    training_done = Signal()  # after finished, stopped, cancelled or failed: always

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.out_path: Path | None = None
        self.last_result: Any = None
        self._stopping = False

        self.form = TrainSettingsForm()
        self.start_btn = QPushButton("Start training")
        self.start_btn.setDefault(True)
        self.start_btn.clicked.connect(self.start)
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setToolTip("Stop after the current batch; the last completed epoch is kept")
        self.stop_btn.setEnabled(False)
        self.stop_btn.clicked.connect(self.stop)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b45309;")
        self.history = RunHistory(state, self.tasks)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.addWidget(_title("Settings"))
        ll.addWidget(self.form)
        btns = QHBoxLayout()
        btns.addWidget(self.start_btn, 1)
        btns.addWidget(self.stop_btn)
        ll.addLayout(btns)
        ll.addWidget(self.message)
        ll.addWidget(_title("Saved runs"))
        ll.addWidget(self.history, 1)

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        self.curves = TrainCurves()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setPlaceholderText("The training log appears here.")
        self.csv_btn = QPushButton("Export curves CSV…")
        self.csv_btn.clicked.connect(self.export_csv_dialog)
        self.png_btn = QPushButton("Export curves PNG…")
        self.png_btn.clicked.connect(self.export_png_dialog)
        curves_page = QWidget()
        cl = QVBoxLayout(curves_page)
        cl.addWidget(self.progress)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.curves)
        split.addWidget(self.log)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        cl.addWidget(split, 1)
        ex = QHBoxLayout()
        ex.addStretch(1)
        ex.addWidget(self.csv_btn)
        ex.addWidget(self.png_btn)
        cl.addLayout(ex)

        self.eval_view = EvalView(state, self.tasks)
        self.tabs = QTabWidget()
        self.tabs.addTab(curves_page, "Training")
        self.tabs.addTab(self.eval_view, "Evaluation")
        # In a scroll area so a small window squeezes the settings column, not the plots.
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumWidth(220)
        outer = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(scroll)
        outer.addWidget(self.tabs)
        outer.setStretchFactor(0, 0)
        outer.setStretchFactor(1, 1)
        outer.setSizes([420, 1000])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(outer)

        state.dataset_changed.connect(lambda _ds: self._update_enabled())
        self._update_enabled()
        self.history.refresh()

    # ---- state --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.tasks.running("train")

    def _update_enabled(self) -> None:
        ds = self.state.dataset
        why = ""
        if ds is None:
            why = "Open a data folder first (Data tab) to train a model."
        elif "train" not in ds.splits or len(ds.splits["train"]) < 2:
            why = f"{ds.root} has no train split to learn from."
        if self.running:
            why = ""
        self.message.setText(why)
        self.message.setVisible(bool(why))
        self.start_btn.setEnabled(not why and not self.running)
        self.stop_btn.setEnabled(self.running)
        self.form.setEnabled(not self.running)
        self.history.setEnabled(not self.running)

    def on_shown(self) -> None:
        self.form.refresh_devices()
        self.history.refresh()
        self.eval_view.on_shown()

    # ---- run ----------------------------------------------------------------------------
    def start(self) -> bool:
        """Start a run with the form's settings; False (with a message) if it cannot."""
        if self.running or self.state.dataset is None:
            return False
        try:
            cfg = self.form.config()
            out = runs.new_run_path()
        except Exception as e:  # noqa: BLE001  (bad settings / unwritable models dir)
            show_error(self, "Cannot start training", e)
            return False
        self.form.save()
        self.out_path = out
        self.last_result = None
        self._stopping = False
        self.curves.clear(epochs=cfg.epochs)
        self.log.clear()
        ds = self.state.dataset
        self._log(f"Training on {ds.root}{' (generated demo data)' if ds.is_demo else ''}")
        self._log("Settings: " + ", ".join(f"{k} {v}" for k, v in self.form.values().items()))
        self._log(f"Checkpoint: {out}")
        # Not the busy indicator: its animation repaints continuously while the child starts.
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        # min_interval 0: every event list must arrive (the job batches them itself).
        self.tasks.run("train", make_training_job(cfg, Path(ds.root), out, self.in_process),
                       on_progress=self._on_events, on_finished=self._on_finished,
                       on_failed=self._on_failed, on_cancelled=self._on_cancelled,
                       on_done=self._on_done, min_interval_s=0.0)
        self._update_enabled()
        self.training_started.emit()
        return True

    def stop(self) -> None:
        if self.running:
            self.tasks.stop("train")
            self._stopping = True
            self.stop_btn.setEnabled(False)
            self.progress.setFormat(self.progress.format() + " — stopping…")
            self._log("Stop requested: finishing the current batch…")

    def _on_events(self, u: ProgressUpdate) -> None:
        evs = list(u.payload or [])
        if not evs:
            return
        self.curves.add_events(evs)
        for ev in evs:
            if ev.kind == "epoch":
                self._log(f"epoch {ev.epoch}/{ev.epochs}: train loss {ev.loss:.4f}, "
                          f"acc {_pct(ev.acc)} · val loss "
                          f"{'—' if ev.val_loss is None else f'{ev.val_loss:.4f}'}, "
                          f"val balanced acc {_pct(ev.val_balanced_accuracy)}, "
                          f"val acc {_pct(ev.val_accuracy)} · {ev.images_per_s:,.0f} img/s")
        ev = evs[-1]
        total = max(ev.epochs * ev.steps_per_epoch, 1)
        if self.progress.maximum() != total:
            self.progress.setRange(0, total)
        self.progress.setValue(min(ev.global_step, total))
        text = (f"epoch {ev.epoch}/{ev.epochs} · step {ev.step}/{ev.steps_per_epoch} · "
                f"{ev.images_per_s:,.0f} img/s · ETA {_fmt_eta(ev.eta_s)}")
        if self._stopping:
            text += " — stopping…"
        self.progress.setFormat(text)

    def _on_finished(self, out: object) -> None:
        res, loaded, path, leftover = out  # type: ignore[misc]
        if leftover:
            self._on_events(ProgressUpdate(None, "", leftover))
        self.last_result = res
        m = loaded.metrics
        if res.stopped:
            self._log(f"Stopped after epoch {res.epochs_completed}; kept its checkpoint.")
        self._log(f"Saved {path} ({res.epochs_completed} epochs, {res.elapsed_s:.1f} s): "
                  f"val balanced acc {_pct(m.get('val_balanced_accuracy'))}, "
                  f"test balanced acc {_pct(m.get('test_balanced_accuracy'))}, "
                  f"test acc {_pct(m.get('test_accuracy'))}")
        self.progress.setFormat(("stopped" if res.stopped else "done") +
                                f" · {res.epochs_completed} epochs · {path.name}")
        self.state.set_model(loaded, path)
        self.state.status(f"Training finished: {path.name} is the current model")
        self.history.refresh()

    def _on_failed(self, e: BaseException) -> None:
        self._log(f"Training failed: {e}")
        self.progress.setFormat("failed")
        self.history.refresh()
        self.tasks.report("Training failed", e)

    def _on_cancelled(self) -> None:
        self._log("Stopped before the first epoch completed: no model was saved.")
        self.progress.setFormat("stopped · nothing saved")

    def _on_done(self) -> None:
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self._update_enabled()
        self.training_done.emit()

    def _log(self, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    # ---- export -------------------------------------------------------------------------
    def _export(self, kind: str) -> None:
        name = self.out_path.stem if self.out_path else "curves"
        f, _ = QFileDialog.getSaveFileName(self, f"Export curves as {kind.upper()}",
                                           str(Path.home() / f"{name}-curves.{kind}"),
                                           f"{kind.upper()} (*.{kind})")
        if not f:
            return
        try:
            (self.curves.export_csv if kind == "csv" else self.curves.export_png)(f)
        except Exception as e:  # noqa: BLE001  (K49Error naming the file)
            show_error(self, "Export failed", e)
            return
        self.state.status(f"Curves saved to {f}")

    def export_csv_dialog(self) -> None:
        self._export("csv")

    def export_png_dialog(self) -> None:
        self._export("png")

    # ---- window close -------------------------------------------------------------------
    def can_close(self) -> bool:
        if not self.running:
            return True
        ans = QMessageBox.question(
            self, "Training is running", "Stop training and quit?\n\nThe last completed "
            "epoch is kept as a checkpoint.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return ans == QMessageBox.StandardButton.Yes

    def shutdown(self) -> None:
        # The child stops after its current batch and saves the last epoch: wait for that
        # (the supervising thread ends only when the child has), then for everything else.
        self.tasks.stop("train")
        task = self.tasks.get("train")
        if task is not None:
            task.cancel_and_wait(60000)
        super().shutdown()


def _title(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setStyleSheet("font-weight: bold; font-size: 13px; margin-top: 6px;")
    return lab
