"""Comparing saved runs: short run names, legend labels that say how runs differ, and the
"Compare runs" dialog (settings that differ, then results)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from k49desk.core import runs

# Settings worth naming in a legend, in this order (the data folder is in the dialog).
LEGEND_KEYS = ("epochs", "batch_size", "lr", "imbalance", "augment", "val_fraction", "seed",
               "weight_decay")


def run_title(path: Path) -> str:
    """"run-20261123-213327" -> "11-23 21:33:27" (other names as they are; the full
    name and path are in the tooltip)."""
    m = re.fullmatch(r"run-(\d{4})(\d\d)(\d\d)-(\d\d)(\d\d)(\d\d)(-\d+)?", path.stem)
    if not m:
        return "bundled default" if runs.is_default_model(path) else path.stem
    y, mo, d, h, mi, s, k = m.groups()
    return f"{mo}-{d} {h}:{mi}:{s}{k or ''}"


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def run_label(rec: runs.RunRecord, among: Sequence[runs.RunRecord]) -> str:
    """The run's title plus the settings in which it differs from the others shown with it
    ("11-23 21:33:27 · lr 0.001, seed 1")."""
    if len(among) < 2:
        return run_title(rec.path)
    differing = dict(runs.settings_diff(among))
    i = [r.path for r in among].index(rec.path)
    parts = [f"{k.replace('_', ' ')} {_fmt(differing[k][i])}" for k in LEGEND_KEYS
             if k in differing]
    return run_title(rec.path) + (" · " + ", ".join(parts[:3]) if parts else "")


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


class CompareDialog(QDialog):
    """One column per run: the settings where they differ (all of them on request), then
    validation and test results."""

    def __init__(self, records: Sequence[runs.RunRecord], fingerprint: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare runs")
        self.records = list(records)
        self.fingerprint = fingerprint
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.all_box = QCheckBox("Show settings that are the same too")
        self.all_box.toggled.connect(self.fill)
        self.note = QLabel()
        self.note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.note)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.all_box)
        lay.addWidget(buttons)
        self.resize(min(260 + 180 * len(self.records), 1000), 520)
        self.fill()

    def rows(self) -> list[tuple[str, list[str]]]:
        """(row name, text per run): differing (or all) settings, then the results."""
        out = [(k, [_fmt(v) for v in vs])
               for k, vs in runs.settings_diff(self.records, not self.all_box.isChecked())]
        out.append(("val balanced accuracy", [_pct(r.metric("val_balanced_accuracy"))
                                              for r in self.records]))
        tests = [r.test_result(self.fingerprint) for r in self.records]
        out.append(("test balanced accuracy", [_pct(t[0]) for t in tests]))
        out.append(("test accuracy", [_pct(t[1]) for t in tests]))
        return out

    def fill(self) -> None:
        rows = self.rows()
        n_settings = len(rows) - 3
        verb = "listed" if self.all_box.isChecked() else (
            "differs" if n_settings == 1 else "differ")
        self.note.setText(
            f"{n_settings} setting{'' if n_settings == 1 else 's'} {verb}"
            + f" between these {len(self.records)} runs. Test results are on the open "
            "folder's test split where one was recorded, else from the end of training.")
        self.table.clear()
        self.table.setColumnCount(len(self.records))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels([run_title(r.path) for r in self.records])
        self.table.setVerticalHeaderLabels([name for name, _v in rows])
        for i, (_name, values) in enumerate(rows):
            for j, text in enumerate(values):
                it = QTableWidgetItem(text)
                it.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if i >= n_settings:
                    f = it.font()
                    f.setBold(True)
                    it.setFont(f)
                self.table.setItem(i, j, it)
