"""The Review panel's background and file work: find suspects, load flags, export.

`ReviewIO` knows the state, the panel's task owner and a `TaskBar` (progress, Cancel) it
shows while busy; it reports what it produced through signals, so it does not depend on the
panel (the panel depends on it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from k49desk.core.errors import K49Error
from k49desk.core.progress import ProgressUpdate
from k49desk.core.review import ReviewSession, read_flags_csv
from k49desk.gui.common.errors import show_error
from k49desk.gui.common.state import AppState
from k49desk.gui.common.tasks import TaskOwner

SLOT = "review-io"


class TaskBar(QWidget):
    """Cancel, a progress bar and a line of text, visible while a task runs."""

    def __init__(self) -> None:
        super().__init__()
        self.cancel_btn = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(260)
        self.progress.setMinimumWidth(80)
        self.text = QLabel("")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.cancel_btn, self.progress, self.text):
            lay.addWidget(w)
        self.setVisible(False)

    def begin(self, text: str) -> None:
        self.progress.setRange(0, 0)  # busy indicator until the first fraction arrives
        self.text.setText(text)
        self.setVisible(True)

    def show_progress(self, u: ProgressUpdate) -> None:
        if u.fraction is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(min(max(u.fraction, 0.0), 1.0) * 1000))
        if u.text:
            self.text.setText(u.text)


class ReviewIO(QObject):
    # flags, proba | None, split, model, method, what to say once the session is open
    flags_ready = Signal(object, object, str, str, str, str)
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
             on_cancelled: Any = None) -> None:
        self.bar.begin(text)
        self.busy_changed.emit(True)
        self.tasks.run(SLOT, work, on_progress=self.bar.show_progress, on_finished=on_finished,
                       on_cancelled=on_cancelled, on_done=self._done, error_title=error_title)

    def _done(self) -> None:
        self.bar.setVisible(False)
        self.busy_changed.emit(False)

    def cancel(self) -> None:
        self.tasks.stop(SLOT)

    def choose_file(self, save: bool, title: str, name: str, filt: str) -> str:
        ds = self.state.dataset
        start = str(Path(ds.root) / name) if ds is not None else name
        fn = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        path, _ = fn(self.window, title, start, filt)
        return path

    # ---- find suspects ------------------------------------------------------------------
    def find_suspects(self, split: str) -> None:
        ds = self.state.dataset
        if ds is None or self.busy:
            return
        from k49desk.core.issues import find_issues

        def work(progress, should_stop):  # noqa: ANN001, ANN202
            return find_issues(ds, split, progress=progress, should_stop=should_stop)

        def finished(report: Any) -> None:
            self.flags_ready.emit(report.flags, report.proba, split, report.method,
                                  report.method, f"{len(report.flags)} suspects found in "
                                  f"{split} ({report.method}).")

        self._run("Finding suspects…", work, finished, "Finding suspects failed",
                  lambda: self.message.emit(
                      "Finding suspects was cancelled; the session is unchanged."))

    def load_flags_csv(self, split: str, path: str | None = None) -> bool:
        if self.state.dataset is None:
            return False
        path = path or self.choose_file(False, "Load flags written by k49desk find-issues",
                                        "", "CSV files (*.csv);;All files (*)")
        if not path:
            return False
        try:
            flags = read_flags_csv(path, split)
        except K49Error as e:
            show_error(self.window, "Cannot load the flags", e)
            return False
        self.flags_ready.emit(flags, None, split, Path(path).name, "flags CSV",
                              f"{len(flags)} flags of {split} loaded from {Path(path).name}.")
        return True

    # ---- export -------------------------------------------------------------------------
    def export_table(self, session: ReviewSession | None, kind: str,
                     path: str | None = None) -> bool:
        s = session
        if s is None or not len(s):
            self.message.emit("Nothing to export yet: find or load suspects first.")
            return False
        path = path or self.choose_file(True, f"Export decisions as {kind.upper()}",
                                        f"review-{s.split}.{kind}", f"{kind.upper()} (*.{kind})")
        if not path:
            return False
        try:
            out = s.export_csv(path) if kind == "csv" else s.export_json(path)
        except K49Error as e:
            show_error(self.window, "Export failed", e)
            return False
        self.message.emit(f"Exported {len(s)} rows to {out}.")
        return True

    def export_corrected(self, session: ReviewSession | None, folder: str | None = None) -> None:
        """Write the corrected dataset folder in the background (images may be copied)."""
        ds = self.state.dataset
        if session is None or ds is None or not len(session) or self.busy:
            return
        s = session.frozen()  # the person may keep deciding while the files are written
        if not folder:
            folder = QFileDialog.getExistingDirectory(
                self.window, "Folder for the corrected dataset", str(Path(ds.root).parent))
        if not folder:
            return

        def finished(paths: Any) -> None:
            self.message.emit(f"Corrected {s.split} labels written to {folder} "
                              f"({len(paths)} files); open that folder to use them.")

        self._run("Writing the corrected dataset…",
                  lambda _p, _s: s.export_corrected(folder, ds), finished, "Export failed")
