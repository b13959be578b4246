"""Run history list: past runs with their metrics; make one current or delete it.

Listing reads checkpoint metadata (torch.load of every new file), so it runs in the
background; making a run current loads it in the background too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
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

if TYPE_CHECKING:
    from k49desk.core.model import LoadedModel

COLUMNS = ("Run", "Epochs", "Val bal.", "Test bal.", "Test acc")


def run_title(path: Path) -> str:
    """"run-20261123-213327" -> "11-23 21:33:27" (other names as they are; the full
    name and path are in the tooltip)."""
    import re

    m = re.fullmatch(r"run-(\d{4})(\d\d)(\d\d)-(\d\d)(\d\d)(\d\d)(-\d+)?", path.stem)
    if not m:
        return path.stem
    y, mo, d, h, mi, s, k = m.groups()
    return f"{mo}-{d} {h}:{mi}:{s}{k or ''}"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


class RunHistory(QWidget):
    refreshed = Signal()  # the table was refilled
    model_loaded = Signal(object)  # a run was made current (the LoadedModel)

    def __init__(self, state: AppState, tasks: TaskOwner | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        # The Train panel's task owner (slots "runs", "load-run"); standing alone, its own.
        self.tasks = tasks if tasks is not None else TaskOwner(self, state.status)
        self.records: list[runs.RunRecord] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _it: self.make_current_selected())
        self.current_btn = QPushButton("Make current")
        self.current_btn.setToolTip("Use this run's model in Draw, the Gallery and Review")
        self.current_btn.clicked.connect(self.make_current_selected)
        self.delete_btn = QPushButton("Delete…")
        self.delete_btn.setToolTip("Delete this run's checkpoint file")
        self.delete_btn.clicked.connect(self.delete_selected)
        self.refresh_btn = QPushButton("Refresh")
        self.refresh_btn.clicked.connect(self.refresh)
        row = QHBoxLayout()
        row.addWidget(self.current_btn)
        row.addWidget(self.delete_btn)
        row.addStretch(1)
        row.addWidget(self.refresh_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        state.model_changed.connect(lambda _m: self._mark_current())
        self._update_buttons()

    # ---- listing ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the models folder in the background; `refreshed` fires when shown."""
        self.tasks.run("runs", lambda p, s: runs.list_runs(), on_finished=self._fill,
                       on_failed=lambda e: self.state.status(f"Cannot list saved runs: {e}"))

    def _fill(self, records: list[runs.RunRecord]) -> None:
        keep = self.selected_path()
        self.records = list(records)
        self.table.setRowCount(len(self.records))
        for r, rec in enumerate(self.records):
            tc = rec.train_config
            tip = (rec.error or f"{rec.path}\ncreated {rec.created}\n{rec.trained_on}\n"
                   + ", ".join(f"{k} {tc.get(k)}" for k in
                               ("epochs", "batch_size", "lr", "imbalance", "augment", "seed")
                               if k in tc))
            cells = (run_title(rec.path), "—" if rec.epochs is None else str(rec.epochs),
                     _pct(rec.metric("val_balanced_accuracy")),
                     _pct(rec.metric("test_balanced_accuracy")),
                     "unreadable" if rec.error else _pct(rec.metric("test_accuracy")))
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                it.setToolTip(tip)
                if c in (1, 2, 3, 4):
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, it)
        self._mark_current()
        if keep is not None:
            self.select_path(keep)
        self._update_buttons()
        self.refreshed.emit()

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
    def selected_path(self) -> Path | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.records):
            return None
        return self.records[rows[0].row()].path

    def select_path(self, path: Path) -> None:
        for r, rec in enumerate(self.records):
            if rec.path == Path(path):
                self.table.selectRow(r)
                return

    def _update_buttons(self) -> None:
        has = self.selected_path() is not None
        self.current_btn.setEnabled(has)
        self.delete_btn.setEnabled(has)

    # ---- actions ------------------------------------------------------------------------
    def make_current_selected(self) -> None:
        path = self.selected_path()
        if path is None:
            return

        def loaded(m: LoadedModel) -> None:
            self.state.set_model(m, path)
            self.state.status(f"Current model: {path.name}")
            self.model_loaded.emit(m)

        def work(progress, should_stop):  # noqa: ANN001, ANN202, ARG001
            from k49desk.core.model import load_checkpoint

            return load_checkpoint(path)

        self.tasks.run("load-run", work, on_finished=loaded, error_title="Cannot use this run")

    def delete_selected(self) -> None:
        path = self.selected_path()
        if path is None:
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
