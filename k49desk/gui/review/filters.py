"""The Review panel's filter row: issue type, given class, suggested class, undecided only."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QWidget

from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.review import Filters, ReviewSession, ReviewStats
from k49desk.gui.review.widgets import DECISION_COLORS


class FilterBar(QWidget):
    changed = Signal(object)  # Filters, only when a person changes a widget

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.issue_combo = QComboBox()
        self.given_combo = QComboBox()
        self.suggested_combo = QComboBox()
        for combo in (self.given_combo, self.suggested_combo):
            combo.addItem("any class", None)
            for c in OFFICIAL_CLASSES:
                combo.addItem(c.label, c.index)
            combo.setMaxVisibleItems(20)
        self.undecided_box = QCheckBox("Undecided only")
        self.undecided_box.setToolTip("Cards without a decision yet (unsure ones included)")
        for combo in (self.issue_combo, self.given_combo, self.suggested_combo):
            combo.currentIndexChanged.connect(self._emit)
        self.undecided_box.toggled.connect(self._emit)
        self.counter = QLabel("")
        self.counter.setTextFormat(Qt.TextFormat.RichText)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for text, w in (("Issue:", self.issue_combo), ("Given:", self.given_combo),
                        ("Suggested:", self.suggested_combo)):
            lay.addWidget(QLabel(text))
            lay.addWidget(w)
        lay.addWidget(self.undecided_box)
        lay.addStretch(1)
        # self.counter is placed by the panel (its own row, so narrow windows still fit)

    def filters(self) -> Filters:
        return Filters(issue=self.issue_combo.currentData(), given=self.given_combo.currentData(),
                       suggested=self.suggested_combo.currentData(),
                       undecided_only=self.undecided_box.isChecked())

    def _emit(self, *_args: object) -> None:
        self.changed.emit(self.filters())

    def set_filters(self, f: Filters, flags: pd.DataFrame | None) -> None:
        """Show `f`, with how many flags each choice has, without emitting `changed`."""
        widgets = (self.issue_combo, self.given_combo, self.suggested_combo, self.undecided_box)
        for w in widgets:
            w.blockSignals(True)
        self.issue_combo.clear()
        self.issue_combo.addItem("all issues", None)
        if flags is not None and len(flags):
            for t, n in flags["issue"].value_counts().sort_index().items():
                self.issue_combo.addItem(f"{t}  ({n})", t)
        for combo, col in ((self.given_combo, "given_label"),
                           (self.suggested_combo, "suggested_label")):
            counts = (np.bincount(flags[col].to_numpy()[flags[col].to_numpy() >= 0],
                                  minlength=len(OFFICIAL_CLASSES))
                      if flags is not None and len(flags) else np.zeros(len(OFFICIAL_CLASSES)))
            for c in OFFICIAL_CLASSES:
                n = int(counts[c.index])
                combo.setItemText(c.index + 1, f"{c.label}  ({n})" if n else c.label)
        self.issue_combo.setCurrentIndex(max(self.issue_combo.findData(f.issue), 0))
        self.given_combo.setCurrentIndex(max(self.given_combo.findData(f.given), 0))
        self.suggested_combo.setCurrentIndex(max(self.suggested_combo.findData(f.suggested), 0))
        self.undecided_box.setChecked(f.undecided_only)
        for w in widgets:
            w.blockSignals(False)

    def show_counts(self, s: ReviewSession | None) -> None:
        """Where we are among the visible cards, decided / total, confirmed errors, precision."""
        if s is None or not len(s):
            self.set_counter(None)
            return
        vis = s.visible()
        i = int(np.searchsorted(vis, s.position))
        shown = i < len(vis) and vis[i] == s.position
        self.set_counter(s.stats(), f"card {i + 1:,d} of {len(vis):,d}" if shown else
                         f"{len(vis):,d} shown")

    def set_counter(self, st: ReviewStats | None, where: str = "") -> None:
        if st is None:
            self.counter.setText("")
            return
        prec = "–" if st.precision is None else f"{st.precision:.0%}"
        c = DECISION_COLORS
        errors = st.confirmed_errors
        self.counter.setText(
            f"{where}  ·  <b>{st.decided:,d}</b> / {st.total:,d} decided  ·  "
            f"<span style='color:{c['unsure']}'>{st.unsure:,d} unsure</span>  ·  "
            f"<span style='color:{c['unusable']}'><b>{errors:,d}</b> confirmed "
            f"error{'' if errors == 1 else 's'}</span>  ·  precision {prec}")
