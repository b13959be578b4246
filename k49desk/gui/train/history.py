"""Saved runs: past runs with their metrics; make one current, show (or overlay) their curves,
compare their settings, delete one.

Listing reads checkpoint metadata (torch.load of every new file) and loading curves reads
side files, so both run in the background; making a run current loads it in the background
too. The test columns show the result on the open folder's test split when one was recorded
(an evaluation in the Evaluation tab, or the end of training on that folder), else the
checkpoint's own end-of-training result, saying which in the tooltip.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from k49desk.core import runs
from k49desk.core.errors import K49Error
from k49desk.gui.common.errors import show_error
from k49desk.gui.common.state import AppState
from k49desk.gui.common.tasks import TaskOwner
from k49desk.gui.train.compare import CompareDialog, run_label, run_title

if TYPE_CHECKING:
    from k49desk.core.model import LoadedModel

COLUMNS = ("Run", "Epochs", "Val bal.", "Test bal.", "Test acc")
__all__ = ["COLUMNS", "RunHistory", "run_title"]


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


class RunHistory(QWidget):
    refreshed = Signal()  # the table was refilled
    model_loaded = Signal(object)  # a run was made current (the LoadedModel)
    show_curves = Signal(object, object)  # [(label, RunCurves, path)], [problem messages]

    def __init__(self, state: AppState, tasks: TaskOwner | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        # The Train panel's task owner (slots "runs", "load-run", "curves"); alone, its own.
        self.tasks = tasks if tasks is not None else TaskOwner(self, state.status)
        self.records: list[runs.RunRecord] = []
        self.compare_dialog: CompareDialog | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setToolTip("Select one run to use, view or delete it; several (Ctrl/Shift "
                              "click) to overlay their curves or compare their settings")
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _it: self.make_current_selected())
        self.current_btn = QPushButton("Make current")
        self.current_btn.setToolTip("Use this run's model in Draw, the Gallery and Review")
        self.current_btn.clicked.connect(self.make_current_selected)
        self.curves_btn = QPushButton("Show curves")
        self.curves_btn.clicked.connect(self.show_selected_curves)
        self.compare_btn = QPushButton("Compare…")
        self.compare_btn.setToolTip("How the selected runs' settings and results differ")
        self.compare_btn.clicked.connect(self.compare_selected)
        self.delete_btn = QPushButton("Delete…")
        self.delete_btn.clicked.connect(self.delete_selected)
        self.refresh_btn = QPushButton("Refresh")
        self.refresh_btn.clicked.connect(self.refresh)
        grid = QGridLayout()
        grid.addWidget(self.current_btn, 0, 0)
        grid.addWidget(self.curves_btn, 0, 1)
        grid.addWidget(self.compare_btn, 0, 2)
        grid.addWidget(self.delete_btn, 1, 0)
        grid.addWidget(self.refresh_btn, 1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.table, 1)
        lay.addLayout(grid)
        state.model_changed.connect(lambda _m: self._mark_current())
        state.dataset_changed.connect(lambda _d: self._fill(self.records))
        self._update_buttons()

    # ---- listing ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the models folder in the background; `refreshed` fires when shown."""
        self.tasks.run("runs", lambda p, s: runs.list_runs(), on_finished=self._fill,
                       on_failed=lambda e: self.state.status(f"Cannot list saved runs: {e}"))

    def test_fingerprint(self) -> str:
        ds = self.state.dataset
        test = ds.splits.get("test") if ds is not None else None
        return test.fingerprint if test is not None else ""

    def _fill(self, records: list[runs.RunRecord]) -> None:
        keep = self.selected_paths()
        self.records = list(records)
        fp = self.test_fingerprint()
        self.table.setRowCount(len(self.records))
        for r, rec in enumerate(self.records):
            tc = rec.train_config
            bal, acc, where = rec.test_result(fp)
            tip = (rec.error or f"{rec.path}\ncreated {rec.created}\n{rec.trained_on}\n"
                   + ", ".join(f"{k} {tc.get(k)}" for k in
                               ("epochs", "batch_size", "lr", "imbalance", "augment", "seed")
                               if k in tc)
                   + (f"\nTest columns: {where}" if where else "")
                   + ("\nBundled with k49desk: it cannot be deleted" if rec.is_default else ""))
            epochs = "—" if rec.epochs is None else str(rec.epochs)
            planned = rec.metrics.get("epochs_planned")
            if rec.stopped:  # "1/8": short, so the run's name keeps its room
                epochs += f"/{planned}" if planned else " (stopped)"
                tip += f"\nStopped after epoch {rec.epochs} of {planned or '?'}"
            cells = (run_title(rec.path), epochs, _pct(rec.metric("val_balanced_accuracy")),
                     _pct(bal), "unreadable" if rec.error else _pct(acc))
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                it.setToolTip(tip)
                if c in (1, 2, 3, 4):
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c in (3, 4) and self._other_data(rec, where):
                    it.setForeground(Qt.GlobalColor.darkGray)
                self.table.setItem(r, c, it)
        self._mark_current()
        self.table.clearSelection()
        for p in keep:
            self.select_path(p, add=True)
        self._update_buttons()
        self.refreshed.emit()

    def _other_data(self, rec: runs.RunRecord, where: str) -> bool:
        """The test columns come from another folder than the open one (shown in grey)."""
        if not where.startswith("measured"):
            return False
        data = rec.metrics.get("data")
        ds = self.state.dataset
        try:
            return not (isinstance(data, dict) and ds is not None and
                        Path(str(data.get("data_dir"))).resolve() == Path(ds.root).resolve())
        except OSError:
            return True

    def _mark_current(self) -> None:
        cur = self.state.model_path
        cur = Path(cur).resolve() if cur else None
        for r, rec in enumerate(self.records):
            is_cur = cur is not None and rec.path.resolve() == cur
            for c in range(self.table.columnCount()):
                it = self.table.item(r, c)
                if it is None:
                    continue
                f = it.font()
                f.setBold(is_cur)
                it.setFont(f)
            name = self.table.item(r, 0)
            if name is not None:
                name.setText(("● " if is_cur else "") + run_title(rec.path))

    # ---- selection ----------------------------------------------------------------------
    def selected_records(self) -> list[runs.RunRecord]:
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [self.records[r] for r in rows if r < len(self.records)]

    def selected_paths(self) -> list[Path]:
        return [r.path for r in self.selected_records()]

    def selected_path(self) -> Path | None:
        sel = self.selected_paths()
        return sel[0] if len(sel) == 1 else None

    def select_path(self, path: Path, add: bool = False) -> None:
        if not add:
            self.table.clearSelection()
        for r, rec in enumerate(self.records):
            if rec.path == Path(path):
                sm = self.table.selectionModel()
                idx = self.table.model().index(r, 0)
                sm.select(idx, sm.SelectionFlag.Select | sm.SelectionFlag.Rows)
                return

    def _update_buttons(self) -> None:
        sel = self.selected_records()
        one = len(sel) == 1
        self.current_btn.setEnabled(one and not sel[0].error)
        self.curves_btn.setEnabled(bool(sel))
        self.curves_btn.setText("Overlay curves" if len(sel) > 1 else "Show curves")
        self.curves_btn.setToolTip("Draw the selected runs' curves in the Training tab (saved "
                                   "when each run ended)")
        self.compare_btn.setEnabled(len(sel) >= 2)
        default = one and sel[0].is_default
        self.delete_btn.setEnabled(one and not default)
        self.delete_btn.setToolTip("The bundled default model cannot be deleted" if default
                                   else "Delete this run's checkpoint and its saved curves")

    # ---- actions ------------------------------------------------------------------------
    def make_current_selected(self) -> None:
        path = self.selected_path()
        if path is not None:
            self.load_as_current(path)

    def load_as_current(self, path: Path) -> None:
        """Load `path` in the background and make it the current model."""

        def loaded(m: LoadedModel) -> None:
            self.state.set_model(m, path)
            self.state.status(f"Current model: {path.name}")
            self.model_loaded.emit(m)

        def work(progress, should_stop):  # noqa: ANN001, ANN202, ARG001
            from k49desk.core.model import load_checkpoint

            return load_checkpoint(path)

        self.tasks.run("load-run", work, on_finished=loaded, error_title="Cannot use this run")

    def show_selected_curves(self) -> None:
        """Read the selected runs' saved curves in the background, then `show_curves`."""
        recs = self.selected_records()
        if not recs:
            return
        labels = [run_label(r, recs) for r in recs]

        def work(progress: Any, should_stop: Any) -> tuple[list, list[str]]:
            shown, problems = [], []
            for rec, label in zip(recs, labels, strict=True):
                try:
                    shown.append((label, runs.load_curves(rec.path), rec.path))
                except K49Error as e:  # damaged or absent: said, never a traceback
                    problems.append(f"Curves not shown: {e}")
            return shown, problems

        self.tasks.run("curves", work,
                       on_finished=lambda out: self.show_curves.emit(out[0], out[1]))

    def compare_selected(self) -> None:
        recs = self.selected_records()
        if len(recs) < 2:
            return
        self.compare_dialog = CompareDialog(recs, self.test_fingerprint(), self)
        self.compare_dialog.show()

    def delete_selected(self) -> None:
        path = self.selected_path()
        if path is None or runs.is_default_model(path):
            return
        is_cur = self.state.model_path is not None and \
            Path(self.state.model_path).resolve() == path.resolve()
        extra = "\n\nIt is the current model; it stays loaded until you pick another." \
            if is_cur else ""
        ans = QMessageBox.question(self, "Delete run", f"Delete {path.name}?{extra}",
                                   QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                   QMessageBox.StandardButton.No)
        if ans != QMessageBox.StandardButton.Yes:
            return
        try:
            runs.delete_run(path)
        except (K49Error, OSError) as e:
            show_error(self, "Cannot delete the run", e)
            return
        self.state.status(f"Deleted {path.name}")
        self.refresh()
