"""Background and file work of the Review panel: find suspects, load flags, export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from k49desk.core.errors import K49Error
from k49desk.core.review import read_flags_csv
from k49desk.gui.common.tasks import BackgroundTask, run_task

if TYPE_CHECKING:
    from k49desk.gui.review.panel import ReviewPanel


class ReviewIO(QObject):
    def __init__(self, panel: ReviewPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.task: BackgroundTask | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None and self.task.running

    def _set_busy(self, busy: bool, text: str = "") -> None:
        p = self.panel
        for w in (p.cancel_btn, p.progress, p.progress_text):
            w.setVisible(busy)
        for w in (p.find_btn, p.load_btn, p.export_btn, p.split_combo):
            w.setEnabled(not busy)
        p.progress.setRange(0, 0)  # busy indicator until the first fraction arrives
        p.progress_text.setText(text)

    def _progress(self, obj: object) -> None:
        frac, text = obj.fraction, obj.text
        p = self.panel
        if frac is not None:
            p.progress.setRange(0, 1000)
            p.progress.setValue(int(min(max(frac, 0.0), 1.0) * 1000))
        if text:
            p.progress_text.setText(text)

    def _done(self) -> None:
        self._set_busy(False)
        self.task = None

    def cancel(self, wait: bool = False) -> None:
        if self.task is not None:
            self.task.cancel_and_wait() if wait else self.task.cancel()

    def choose_file(self, save: bool, title: str, name: str, filt: str) -> str:
        ds = self.panel.state.dataset
        start = str(Path(ds.root) / name) if ds is not None else name
        fn = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        path, _ = fn(self.panel, title, start, filt)
        return path

    # ---- find suspects ------------------------------------------------------------------
    def find_suspects(self) -> None:
        p = self.panel
        ds = p.state.dataset
        if ds is None or self.busy:
            return
        try:
            from k49desk.core.issues import find_issues
        except ImportError as e:
            p.error("Finding suspects is not available in this build", e)
            return
        split = p.split

        def work(progress, should_stop):  # noqa: ANN001, ANN202
            # find_issues reports progress(fraction, message); the worker forwards one object.
            return find_issues(ds, split, progress=progress,
                               should_stop=should_stop)

        def finished(report: object) -> None:
            self._done()
            if p.state.dataset is not ds or p.split != split:
                return
            method = str(getattr(report, "method", ""))
            if p.open_session(report.flags, getattr(report, "proba", None), model=method,
                              method=method):
                p.set_status(f"{len(p.session)} suspects found in {split} ({method}).")

        def failed(e: BaseException) -> None:
            self._done()
            p.error("Finding suspects failed", e)

        def cancelled() -> None:
            self._done()
            p.set_status("Finding suspects was cancelled; the session is unchanged.")

        self._set_busy(True, "Finding suspects…")
        self.task = run_task(work, on_progress=self._progress, on_finished=finished,
                             on_failed=failed, on_cancelled=cancelled, parent=self)

    def load_flags_csv(self, path: str | None = None) -> bool:
        p = self.panel
        if p.state.dataset is None:
            return False
        path = path or self.choose_file(False, "Load flags written by k49desk find-issues",
                                     "", "CSV files (*.csv);;All files (*)")
        if not path:
            return False
        try:
            flags = read_flags_csv(path, p.split)
        except K49Error as e:
            p.error("Cannot load the flags", e)
            return False
        ok = p.open_session(flags, None, model=Path(path).name, method="flags CSV")
        if ok:
            p.set_status(f"{len(p.session)} flags of {p.split} loaded from {Path(path).name}.")
        return ok

    # ---- export -------------------------------------------------------------------------
    def export_table(self, kind: str, path: str | None = None) -> bool:
        p = self.panel
        s = p.session
        if s is None or not len(s):
            p.set_status("Nothing to export yet: find or load suspects first.")
            return False
        path = path or self.choose_file(True, f"Export decisions as {kind.upper()}",
                                     f"review-{s.split}.{kind}", f"{kind.upper()} (*.{kind})")
        if not path:
            return False
        try:
            out = s.export_csv(path) if kind == "csv" else s.export_json(path)
        except K49Error as e:
            p.error("Export failed", e)
            return False
        p.set_status(f"Exported {len(s)} rows to {out}.")
        return True

    def export_corrected(self, folder: str | None = None) -> None:
        """Write the corrected dataset folder in the background (images may be copied)."""
        p = self.panel
        s, ds = p.session, p.state.dataset
        if s is None or ds is None or not len(s) or self.busy:
            return
        s = s.frozen()  # the person may keep deciding while the files are written
        if not folder:
            folder = QFileDialog.getExistingDirectory(
                p, "Folder for the corrected dataset", str(Path(ds.root).parent))
        if not folder:
            return

        def finished(paths: object) -> None:
            self._done()
            p.set_status(f"Corrected {s.split} labels written to {folder} ({len(paths)} files); "
                         "open that folder to use them.")

        def failed(e: BaseException) -> None:
            self._done()
            p.error("Export failed", e)

        self._set_busy(True, "Writing the corrected dataset…")
        self.task = run_task(lambda _p, _s: s.export_corrected(folder, ds), on_finished=finished,
                             on_failed=failed, on_cancelled=self._done, parent=self)
