"""Train panel: settings, background training with live curves, saved runs, evaluation.

Training is `k49desk.core.training.train_folder` in a spawned child process (train/process.py)
supervised by the panel's "train" task: on a thread the trainer held the GIL and stalled the
GUI 300-800 ms (measured). Its per-step events come in lists (one update per ~0.2 s), so the
GUI thread does one cheap update per batch whatever the step rate.

A finished run becomes the current model only by the rule in model_choice (never a stopped
run, never a worse one on the same test split); otherwise it is offered ("Use this model").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
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
from k49desk.gui.train.eval_view import EvalView
from k49desk.gui.train.history import RunHistory
from k49desk.gui.train.model_choice import Choice, choose
from k49desk.gui.train.process import (
    batched_progress,
    describe_device,
    finish_run,
    run_in_process,
)
from k49desk.gui.train.settings_form import TrainSettingsForm
from k49desk.gui.train.training_view import TrainingView, pct, plural


def make_training_job(cfg: Any, data_dir: Path, out_path: Path, in_process: bool = True,
                      test: tuple[str, str] | None = None) -> Any:
    """The worker function: train_folder (in a child process by default, see
    run_in_process) with step events handed over in lists, then the run's side files.

    Returns (TrainResult, LoadedModel, out_path, leftover events).
    """

    def job(progress: Any, should_stop: Any) -> tuple[Any, Any, Path, list[Any]]:
        if in_process:
            return run_in_process(cfg, data_dir, out_path, progress, should_stop, test)
        from k49desk.core.model import load_checkpoint
        from k49desk.core.training import train_folder

        progress(None, "", {"device": describe_device(cfg)})
        on_progress, buf = batched_progress(lambda b: progress(None, "", b))
        res = train_folder(cfg, data_dir, out_path, progress=on_progress,
                           should_stop=should_stop)
        res.warnings = finish_run(res, cfg, out_path, test)
        return res, load_checkpoint(out_path), out_path, buf[:]

    return job


class TrainPanel(Panel):
    title = "Train"
    # Train in a child process (GUI never waits for the GIL); False: on the worker thread.
    in_process = True
    training_started = Signal()
    training_done = Signal()  # after finished, stopped, cancelled or failed: always
    decided = Signal(object)  # Choice: a finished run was made current, or offered

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.out_path: Path | None = None
        self.last_result: Any = None
        self._stopping = False
        self._run_ds: Any = None  # the dataset the running run trains on
        self._offered: tuple[Path, Any] | None = None  # (path, LoadedModel) not made current

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

        self.view = TrainingView(state.status)
        self.curves, self.log, self.progress = self.view.curves, self.view.log, self.view.progress
        self.view.offer.use.connect(self.use_run)
        self.history.show_curves.connect(self.show_saved_curves)
        self.eval_view = EvalView(state, self.tasks)
        self.eval_view.evaluated.connect(lambda _r: self.history.refresh())
        self.tabs = QTabWidget()
        self.tabs.addTab(self.view, "Training")
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
        outer.setSizes([380, 1000])
        outer.setChildrenCollapsible(False)
        self._outer, self._sized = outer, False
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

    def showEvent(self, event: object) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)  # type: ignore[arg-type]
        if not self._sized and self.width() > 0:  # a wide window: room for run names
            self._sized = True
            left = max(380, int(0.22 * self.width()))
            self._outer.setSizes([left, max(self.width() - left, 1)])

    def on_shown(self) -> None:
        self.form.refresh_devices()
        self.history.refresh()
        self.eval_view.on_shown()

    def export_actions(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        if self.curves.has_data():
            out += [("Training curves CSV…", self.view.export_csv_dialog),
                    ("Training curves PNG…", self.view.export_png_dialog)]
        if self.eval_view.result is not None:
            out += [("Per-class precision/recall/F1 CSV…",
                     lambda: self.eval_view._export_dialog("per-class")),
                    ("Confusion matrix CSV…", lambda: self.eval_view._export_dialog("confusion"))]
        return out

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
        self.tasks.cancel("compare")  # a previous run's decision is moot now
        self.out_path = out
        self.last_result = None
        self._stopping = False
        self._offered = None
        ds = self._run_ds = self.state.dataset
        test = ds.splits.get("test")
        fp = (test.fingerprint, str(Path(ds.root).resolve())) if test is not None and len(
            test) and test.fingerprint else None
        self.view.begin(out.stem, cfg.epochs)
        self._log(f"Training on {ds.root}{' (generated demo data)' if ds.is_demo else ''}")
        self._log("Settings: " + self.form.describe())
        self._log(f"Checkpoint: {out}")
        # min_interval 0: every event list must arrive (the job batches them itself).
        self.tasks.run("train", make_training_job(cfg, Path(ds.root), out, self.in_process, fp),
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
        if isinstance(u.payload, dict):  # the child's start-up info
            self._log(f"Device: {u.payload.get('device', '?')}")
            return
        evs = list(u.payload or [])
        if evs:
            self.view.show_events(evs, self._stopping)

    def _on_finished(self, out: object) -> None:
        res, loaded, path, leftover = out  # type: ignore[misc]
        if leftover:
            self._on_events(ProgressUpdate(None, "", leftover))
        self.last_result = res
        m = loaded.metrics
        planned = int(m.get("epochs_planned") or res.epochs_completed)
        if res.stopped:
            self._log(f"Stopped after epoch {res.epochs_completed} of {planned}; kept its "
                      "checkpoint.")
        self._log(f"Saved {path} ({plural(res.epochs_completed, 'epoch')}, "
                  f"{res.elapsed_s:.1f} s): val balanced acc "
                  f"{pct(m.get('val_balanced_accuracy'))}, test balanced acc "
                  f"{pct(m.get('test_balanced_accuracy'))}, test acc {pct(m.get('test_accuracy'))}")
        for w in getattr(res, "warnings", None) or []:
            self._log(f"Note: {w}")
        if res.stopped:
            self.view.end(f"stopped after {plural(res.epochs_completed, 'epoch')} of {planned} "
                          f"· {path.name}", full=False)
        else:
            self.view.end(f"done · {plural(res.epochs_completed, 'epoch')} · {path.name}",
                          full=True)
        self.history.refresh()
        self._decide(res, loaded, path, planned)

    def _on_failed(self, e: BaseException) -> None:
        self._log(f"Training failed: {e}")
        self.view.end("failed", full=False)
        self.history.refresh()
        self.tasks.report("Training failed", e)

    def _on_cancelled(self) -> None:
        self._log("Stopped before the first epoch completed: no model was saved.")
        self.view.end("stopped · nothing saved", full=False)

    def _on_done(self) -> None:
        self._update_enabled()
        self.training_done.emit()

    def _log(self, text: str) -> None:
        self.view.log_line(text)

    # ---- which model is current ---------------------------------------------------------
    def _decide(self, res: Any, loaded: Any, path: Path, planned: int) -> None:
        st = self.state
        cur, cur_path = st.model, st.model_path
        test = self._run_ds.splits.get("test") if self._run_ds is not None else None
        fp = test.fingerprint if test is not None and len(test) else ""
        new = loaded.metrics.get("test_balanced_accuracy")
        new = float(new) if fp and isinstance(new, int | float) and np.isfinite(new) else None
        args = dict(run=path.name, stopped=bool(res.stopped), epochs_done=res.epochs_completed,
                    epochs_planned=planned, new_score=new,
                    current=(cur_path.name if cur_path else "the current model")
                    if cur is not None else None,
                    current_is_default=cur_path is not None and runs.is_default_model(cur_path))
        if res.stopped or cur is None or new is None:
            self._apply(choose(**args, current_score=None), loaded, path)
            return
        known = runs.evaluations_or_empty(cur_path).get(fp) if cur_path else None
        if known is not None and isinstance(known.get("balanced_accuracy"), int | float):
            self._apply(choose(**args, current_score=float(known["balanced_accuracy"])),
                        loaded, path)
            return
        self._log(f"Comparing with the current model {args['current']} on the same test "
                  "split…")
        data_dir = str(Path(self._run_ds.root).resolve())

        def work(progress: Any, should_stop: Any) -> float:
            from k49desk.core.training import evaluate

            r = evaluate(cur, np.asarray(test.images), np.asarray(test.labels),
                         progress=progress, should_stop=should_stop)
            if cur_path is not None and cur_path.is_file():
                try:
                    runs.record_evaluation(cur_path, fp, balanced_accuracy=r.balanced_accuracy,
                                           accuracy=r.accuracy, n=r.n, data_dir=data_dir)
                except Exception:  # noqa: BLE001,S110  (a read-only models folder: fine)
                    pass
            return r.balanced_accuracy

        def compared(score: float) -> None:
            if st.model is not cur:  # the user picked another model meanwhile: theirs stays
                self._apply(Choice(False, f"{path.name} was not made current: the current "
                                          "model changed while it was compared."),
                            loaded, path)
            else:
                self._apply(choose(**args, current_score=score), loaded, path)

        self.tasks.run("compare", work, on_finished=compared,
                       on_failed=lambda e: self._apply(choose(**args, current_score=None),
                                                       loaded, path))

    def _apply(self, choice: Choice, loaded: Any, path: Path) -> None:
        self._log(choice.reason)
        if choice.make_current:
            self.view.offer.hide()
            self._offered = None
            self.state.set_model(loaded, path)
            self.state.status(f"Training finished: {path.name} is the current model")
        else:
            self._offered = (path, loaded)
            self.view.offer.offer(path, choice.reason)
            self.state.status(f"Training finished: {path.name} saved, not made current")
        self.history.refresh()
        self.decided.emit(choice)

    def use_run(self, path: Path | None) -> None:
        """"Use this model": make the offered run current (loaded again if it changed)."""
        if path is None:
            return
        self.view.offer.hide()
        if self._offered is not None and self._offered[0] == Path(path):
            self.state.set_model(self._offered[1], Path(path))
            self.state.status(f"Current model: {Path(path).name}")
            self._offered = None
            return
        self.history.load_as_current(Path(path))

    # ---- saved runs' curves -------------------------------------------------------------
    def show_saved_curves(self, shown: list[tuple[str, Any, Path]], problems: list[str]) -> None:
        """Saved runs' curves in the Training tab (one run, or several overlaid)."""
        if self.running:
            return
        self.view.run_name = (shown[0][2].stem if len(shown) == 1 else
                              "runs-overlay" if shown else "")
        self.curves.show_saved([(label, c) for label, c, _p in shown])
        self.view.end("idle · showing saved curves" if shown else "idle", full=False)
        self.tabs.setCurrentWidget(self.view)
        for p in problems:
            self._log(p)
        if problems:
            self.state.status(problems[0])

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
        # The child stops after its current batch, saves the last epoch and the curves: wait
        # for that (the supervising thread ends only when the child has), then the rest.
        self.tasks.stop("train")
        task = self.tasks.get("train")
        if task is not None:
            task.cancel_and_wait(60000)
        super().shutdown()


def _title(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setStyleSheet("font-weight: bold; font-size: 13px; margin-top: 6px;")
    return lab
