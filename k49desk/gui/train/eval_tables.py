"""The evaluation's tables: per-class precision / recall / F1 (a sortable widget and its CSV),
the confusion matrix as CSV, and the image mosaic behind a clicked number."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.classes import ClassInfo
from k49desk.gui.common.fonts import hiragana_font


def per_class_table(result: Any, classes: tuple[ClassInfo, ...]) -> pd.DataFrame:
    """One row per class: support, predicted, correct, accuracy (= recall), precision, F1
    (NaN where undefined: recall and F1 of a class absent from the split, precision of a
    class never predicted), and the class it is most often taken for."""
    cm = np.asarray(result.confusion, np.int64)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    worst = off.argmax(1)
    rows = []
    for c in range(cm.shape[0]):
        n, pred, tp = int(cm[c].sum()), int(cm[:, c].sum()), int(cm[c, c])
        recall = tp / n if n else math.nan
        precision = tp / pred if pred else math.nan
        f1 = 2 * tp / (n + pred) if n else math.nan  # 2TP / (2TP + FP + FN)
        rows.append({
            "index": c, "char": classes[c].char, "romaji": classes[c].romaji, "support": n,
            "predicted": pred, "correct": tp, "accuracy": recall, "precision": precision,
            "recall": recall, "f1": f1,
            "most_confused_with": classes[int(worst[c])].char if off[c].max() > 0 else "",
            "most_confused_count": int(off[c].max()),
        })
    return pd.DataFrame(rows)


def macro_averages(table: pd.DataFrame) -> dict[str, float]:
    """Means over the classes present in the split; a present class never predicted counts
    with precision 0 (as scikit-learn's zero_division=0), not skipped."""
    present = table[table["support"] > 0]
    if not len(present):
        return {k: math.nan for k in ("precision", "recall", "f1")}
    return {"precision": float(present["precision"].fillna(0.0).mean()),
            "recall": float(present["recall"].mean()), "f1": float(present["f1"].mean())}


def confusion_table(result: Any, classes: tuple[ClassInfo, ...]) -> pd.DataFrame:
    cm = np.asarray(result.confusion, np.int64)
    labels = [f"{c.index} {c.char}" for c in classes[:cm.shape[0]]]
    return pd.DataFrame(cm, index=pd.Index(labels, name="true \\ predicted"), columns=labels)


def mosaic(images: np.ndarray, cols: int = 12, scale: int = 2) -> QImage:
    """uint8 (N, 28, 28) -> one grayscale QImage grid (one pixmap, not N widgets)."""
    n = len(images)
    rows = max(1, -(-n // cols))
    pad = 2
    cell = 28 + pad
    grid = np.full((rows * cell + pad, min(n, cols) * cell + pad), 60, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        grid[pad + r * cell: pad + r * cell + 28, pad + c * cell: pad + c * cell + 28] = img
    grid = np.ascontiguousarray(np.kron(grid, np.ones((scale, scale), np.uint8)))
    qimg = QImage(grid.data, grid.shape[1], grid.shape[0], grid.strides[0],
                  QImage.Format.Format_Grayscale8)
    return qimg.copy()  # detach from the numpy buffer


def _pct(v: float) -> str:
    return "—" if math.isnan(v) else f"{100 * v:.2f}%"


class _Item(QTableWidgetItem):
    """Sorts by its number (NaN last in ascending order), shows formatted text."""

    def __init__(self, text: str, key: float | str) -> None:
        super().__init__(text)
        self.key = key

    def __lt__(self, other: QTableWidgetItem) -> bool:  # type: ignore[override]
        a, b = self.key, getattr(other, "key", other.text())
        if isinstance(a, float) and isinstance(b, float):
            return (math.isnan(a), a) < (math.isnan(b), b)
        return str(a) < str(b)


COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (dataframe column, header, format: "pct" | "int" | "text")
    ("index", "#", "int"), ("char", "Class", "text"), ("support", "Support", "int"),
    ("predicted", "Predicted", "int"), ("precision", "Precision", "pct"),
    ("recall", "Recall", "pct"), ("f1", "F1", "pct"),
    ("most_confused_with", "Most taken for", "text"),
)


class MetricsTable(QWidget):
    """Precision, recall and F1 per class; click a header to sort; CSV export."""

    def __init__(self, export: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frame: pd.DataFrame | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([h for _c, h, _f in COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setFont(hiragana_font(10))
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.export_btn = QPushButton("Export CSV…")
        self.export_btn.clicked.connect(export)
        self.export_btn.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.export_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.table, 1)

    def set_frame(self, frame: pd.DataFrame | None) -> None:
        self.frame = frame
        self.table.setSortingEnabled(False)  # filling a sorted table reorders rows midway
        self.table.setRowCount(0 if frame is None else len(frame))
        self.export_btn.setEnabled(frame is not None)
        if frame is None:
            self.summary.setText("")
            return
        for r, rec in enumerate(frame.to_dict("records")):
            for c, (col, _h, fmt) in enumerate(COLUMNS):
                v = rec[col]
                if fmt == "pct":
                    key = float(v)
                    text = "—" if math.isnan(key) else f"{100 * key:.2f}%"
                elif fmt == "int":
                    key, text = float(v), f"{int(v):,d}"
                else:
                    key, text = str(v), str(v)
                it = _Item(text, key)
                if fmt != "text":
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, it)
        self.table.setSortingEnabled(True)
        if self.table.horizontalHeader().sortIndicatorSection() >= len(COLUMNS):
            self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        else:  # keep the order the user chose
            hh = self.table.horizontalHeader()
            self.table.sortByColumn(hh.sortIndicatorSection(), hh.sortIndicatorOrder())
        m = macro_averages(frame)
        n = int((frame["support"] > 0).sum())
        self.summary.setText(f"Macro average over the {n} classes in the split: precision "
                             f"{_pct(m['precision'])} · recall {_pct(m['recall'])} "
                             f"(= balanced accuracy) · F1 {_pct(m['f1'])}. Click a header to "
                             "sort.")

    def column_values(self, col: str) -> list[str]:
        """The shown text of one column, top to bottom (tests, and what a user sees)."""
        c = [k for k, _h, _f in COLUMNS].index(col)
        return [self.table.item(r, c).text() for r in range(self.table.rowCount())]
