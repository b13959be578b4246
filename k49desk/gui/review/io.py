"""The Review panel's background and file work: find suspects, load flags, export.

`ReviewIO` knows the state, the panel's task owner and a `TaskBar` (progress, time left,
Cancel) it shows while busy; it reports what it produced through signals, so it does not
depend on the panel (the panel depends on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QWidget,
)

from k49desk.core.errors import K49Error
from k49desk.core.progress import ProgressUpdate
from k49desk.core.review import ReviewSession, read_flags_csv
from k49desk.core.scan_plan import Eta, ScanPlan, format_duration, train_config
from k49desk.gui.common.errors import show_error
from k49desk.gui.common.state import AppState
from k49desk.gui.common.tasks import TaskOwner

SLOT = "review-io"


def plural(n: int, word: str, many: str | None = None) -> str:
    """ "1 row", "2 rows", "1,234 suspects"."""
    return f"{n:,d} {word if n == 1 else (many or word + 's')}"


@dataclass
class NewFlags:
    """Flags to start a review from (Find suspects or a flags CSV)."""

    split: str
    flags: pd.DataFrame
    proba: np.ndarray | None = None
    pairs: pd.DataFrame | None = None
    model: str = ""
    method: str = ""
    done_text: str = ""  # what to say once the session is open


class TaskBar(QWidget):
    """Cancel, a progress bar and a line of text (with the time left), shown while busy."""

    def __init__(self) -> None:
        super().__init__()
        self.cancel_btn = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(200)
        self.progress.setMinimumWidth(80)
        self.text = QLabel("")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.cancel_btn, self.progress, self.text):
            lay.addWidget(w)
        self.eta: Eta | None = None
        self.setVisible(False)

    def begin(self, text: str, eta: bool = False) -> None:
        self.progress.setRange(0, 0)  # busy indicator until the first fraction arrives
        self.text.setText(text)
        self.eta = Eta() if eta else None
        self.setVisible(True)

    def show_progress(self, u: ProgressUpdate) -> None:
        if u.fraction is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(min(max(u.fraction, 0.0), 1.0) * 1000))
        left = None
        if self.eta is not None:  # measured on the training (the checks before are quick)
            left = self.eta.update(u.fraction, getattr(u.payload, "kind", "") == "step")
        if u.text:  # the bar shows the percentage
            self.text.setText(u.text + (f" · {format_duration(left)} left"
                                        if left is not None else ""))


class ReviewIO(QObject):
    flags_ready = Signal(object)  # NewFlags
    busy_changed = Signal(bool)
    message = Signal(str)

    def __init__(self, state: AppState, tasks: TaskOwner, window: QWidget,
                 bar: TaskBar) -> None:
        super().__init__(window)
        self.state, self.tasks, self.window, self.bar = state, tasks, window, bar
        bar.cancel_btn.clicked.connect(self.cancel)

    @property
    def busy(self) -> bool:
        return self.tasks.running(SLOT)

    def _run(self, text: str, work: Any, on_finished: Any, error_title: str,
             on_cancelled: Any = None, eta: bool = False) -> None:
        self.bar.begin(text, eta)
        self.busy_changed.emit(True)
        self.tasks.run(SLOT, work, on_progress=self.bar.show_progress, on_finished=on_finished,
                       on_cancelled=on_cancelled, on_done=self._done, error_title=error_title)

    def _done(self) -> None:
        self.bar.setVisible(False)
        self.busy_changed.emit(False)

    def cancel(self) -> None:
        self.tasks.stop(SLOT)

    def choose_file(self, title: str, filt: str) -> str:
        ds = self.state.dataset
        path, _ = QFileDialog.getOpenFileName(self.window, title,
                                              str(ds.root) if ds is not None else "", filt)
        return path

    # ---- find suspects ------------------------------------------------------------------
    def ask_plan(self, split: str) -> ScanPlan | None:
        """The Find suspects dialog (how thorough, expected time); None if cancelled."""
        from k49desk.gui.review.find_dialog import FindDialog

        ds = self.state.dataset
        if ds is None or split not in ds.splits:
            return None
        dlg = FindDialog(ds, split, self.tasks, self.window, model=self.state.model)
        return dlg.plan() if dlg.exec() == QDialog.DialogCode.Accepted else None

    def find_suspects(self, split: str, plan: ScanPlan | None = None) -> None:
        ds = self.state.dataset
        if ds is None or self.busy:
            return
        plan = plan or self.ask_plan(split)
        if plan is None:
            return
        cfg = train_config(ds, split, plan)
        from k49desk.core.issues import find_issues

        model = self.state.model  # outliers: atypical images by this model's embeddings

        def work(progress, should_stop):  # noqa: ANN001, ANN202
            return find_issues(ds, split, folds=plan.folds, train_config=cfg,
                               progress=progress, should_stop=should_stop,
                               outlier_model=model)

        def finished(report: Any) -> None:
            self.flags_ready.emit(NewFlags(
                split, report.flags, report.proba, getattr(report, "pairs", None),
                report.method, report.method,
                f"{plural(len(report.flags), 'suspect')} found in {split} ({report.method})."))

        def cancelled() -> None:
            from k49desk.core.fold_cache import resume_status

            st = resume_status(ds, split, plan.folds, cfg)
            kept = (f" {st.done} of {st.folds} folds are kept: Find suspects with the same "
                    "settings resumes from there." if st.done and not st.complete else "")
            self.message.emit(f"Finding suspects was stopped; the review is unchanged.{kept}")

        self._run(f"Finding suspects in {split} ({plan.title.lower()})…", work, finished,
                  "Finding suspects failed", cancelled, eta=True)

    def load_flags_csv(self, split: str, path: str | None = None) -> bool:
        if self.state.dataset is None:
            return False
        path = path or self.choose_file("Load flags written by k49desk find-issues",
                                        "CSV files (*.csv);;All files (*)")
        if not path:
            return False
        try:
            flags = read_flags_csv(path, split)
        except K49Error as e:
            show_error(self.window, "Cannot load the flags", e)
            return False
        name = Path(path).name
        self.flags_ready.emit(NewFlags(split, flags, model=name, method="flags CSV",
                                       done_text=f"{plural(len(flags), 'flag')} of {split} "
                                                 f"loaded from {name}."))
        return True

    # ---- export -------------------------------------------------------------------------
    def export_table(self, session: ReviewSession | None, kind: str,
                     path: str | None = None) -> bool:
        """Every flag and every other annotated image of the split, written in the background
        from a snapshot (the person may keep deciding meanwhile)."""
        s = session
        if s is None or self.busy:
            return False
        if not path:  # opens in the last export folder, like every export of the app
            from k49desk.gui.common.widgets import ask_save_path

            got = ask_save_path(self.window, f"Export decisions as {kind.upper()}",
                                f"review-{s.split}.{kind}", f"{kind.upper()} (*.{kind})")
            if got is None:
                return False
            path = str(got)
        snap = s.frozen()
        from k49desk.core import review_export

        def work(_p, _s):  # noqa: ANN001, ANN202
            frame = snap.export_frame()
            write = review_export.export_csv if kind == "csv" else review_export.export_json
            return write(frame, Path(path)), frame

        def finished(result: Any) -> None:
            out, frame = result
            flagged = int((frame["issue"] != "").sum())
            more = len(frame) - flagged
            extra = f" and {plural(more, 'other annotated image')}" if more else ""
            self.message.emit(f"Exported {plural(len(frame), 'row')} to {out}: "
                              f"{plural(flagged, 'flag')}{extra}.")

        self._run(f"Writing {Path(path).name}…", work, finished, "Export failed")
        return True

    def export_corrected(self, session: ReviewSession | None, folder: str | None = None) -> None:
        """Write the corrected dataset folder in the background (images may be copied)."""
        ds = self.state.dataset
        if session is None or ds is None or self.busy:
            return
        if not folder:
            from k49desk.gui.review.export_dialog import CorrectedFolderDialog

            dlg = CorrectedFolderDialog(ds, session.split, self.window)
            if dlg.exec() != QDialog.DialogCode.Accepted:
                return
            folder = str(dlg.folder())
        s = session.frozen()  # the person may keep deciding while the files are written

        def finished(paths: Any) -> None:
            self.message.emit(f"Corrected {s.split} labels written to {folder} "
                              f"({plural(len(paths), 'file')}); open that folder to use them.")

        self._run("Writing the corrected dataset…",
                  lambda _p, _s: s.export_corrected(folder, ds), finished, "Export failed")
