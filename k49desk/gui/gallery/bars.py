"""The Gallery's strips around the grid: the query in words (with Reset) and the selection
count, the tag / note inputs, the key hints, and a progress strip for imports and merges."""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from k49desk.gui.common.class_input import EscLineEdit
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.common.widgets import ElidedLabel
from k49desk.gui.gallery.query import DECISION_FILTERS

MUTED = "#4b5563"  # gray-600: 4.5:1 or better on the window grey
KEYS_HINT = ("<b>Type a class</b> (ka or か) to relabel the selection · <b>R</b> class input "
             "(for k…, t…, n…, u…) · <b>K</b> keep · <b>U</b> unusable · <b>T</b> tag · "
             "<b>N</b> note · <b>Del</b> clear · <b>Ctrl+A</b> all")
ANY_TAG = "(any tag)"


class QueryBar(QWidget):
    """"3 selected │ Show: [decision ▾]  Tag: [▾]  [Reset]" (the query in words is on the
    line under it, with the count of images shown). The count comes first so a narrow
    window clips the filters, never the count."""

    decision_chosen = Signal(object)  # a DECISION_FILTERS key (None: all)
    tag_chosen = Signal(object)  # a tag or None
    reset_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.decision_combo = QComboBox()
        for key, (text, _words) in DECISION_FILTERS.items():
            self.decision_combo.addItem(text, key)
        self.decision_combo.setToolTip("Filter by annotation: decisions made here or in Review, "
                                       "and imported pre-labels")
        self.tag_combo = QComboBox()
        self.tag_combo.setMinimumContentsLength(8)
        self.tag_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.tag_combo.setToolTip("Only images carrying this tag")
        self.set_tags({})
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Show every image again: clear the class, decision, tag "
                                     "and flag filters")
        self.selected = QLabel()
        self.selected.setStyleSheet("font-weight:600;")
        self.selected.setMinimumWidth(84)
        sep = QFrame()
        sep.setFrameShape(QFrame.Shape.VLine)
        sep.setFrameShadow(QFrame.Shadow.Sunken)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.selected, sep, QLabel("Show:"), self.decision_combo, QLabel("Tag:"),
                  self.tag_combo, self.reset_button):
            lay.addWidget(w)
        lay.addStretch(1)
        # Like the toolbar: a narrow window clips the bar rather than growing wider.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.decision_combo.activated.connect(
            lambda _i: self.decision_chosen.emit(self.decision_combo.currentData()))
        self.tag_combo.activated.connect(
            lambda _i: self.tag_chosen.emit(self.tag_combo.currentData()))
        self.reset_button.clicked.connect(self.reset_clicked)
        self.set_selected(0)

    def set_tags(self, tags: dict[str, int], current: str | None = None) -> None:
        self.tag_combo.blockSignals(True)
        self.tag_combo.clear()
        self.tag_combo.addItem(ANY_TAG, None)
        for t, n in tags.items():
            self.tag_combo.addItem(f"{t} ({n:,d})", t)
        if current is not None and current not in tags:
            self.tag_combo.addItem(f"{current} (0)", current)
        self.tag_combo.setCurrentIndex(max(0, self.tag_combo.findData(current)))
        self.tag_combo.setEnabled(self.tag_combo.count() > 1)
        self.tag_combo.blockSignals(False)

    def show_query(self, decision: str | None, empty: bool) -> None:
        i = self.decision_combo.findData(decision)
        if i >= 0 and i != self.decision_combo.currentIndex():
            self.decision_combo.setCurrentIndex(i)
        self.reset_button.setEnabled(not empty)

    def set_selected(self, n: int) -> None:
        self.selected.setText(f"{n:,d} selected")
        self.selected.setStyleSheet("font-weight:600;" + ("" if n else f" color:{MUTED};"))


class TextBar(QFrame):
    """A one-line input under the grid (a tag, a note): Enter applies, Esc cancels."""

    accepted = Signal(str)
    cancelled = Signal()

    def __init__(self, title: str, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(title)
        self.edit = EscLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setFont(hiragana_font(12))
        self.completions = QStringListModel(self)
        completer = QCompleter(self.completions, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.hint = QLabel("<span style='color:gray'>Enter applies · Esc cancels</span>")
        lay = QHBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.hint)
        self._completer = completer
        self.edit.returnPressed.connect(self._accept)
        self.edit.escape.connect(self._cancel)
        self.hide()

    def start(self, title: str, text: str = "", completions: list[str] | None = None) -> None:
        self.title.setText(title)
        self.completions.setStringList(completions or [])
        self.edit.setCompleter(self._completer if completions else None)
        self.edit.setText(text)
        self.edit.selectAll()
        self.show()
        self.edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def _accept(self) -> None:
        text = self.edit.text()
        self.hide()
        self.accepted.emit(text)

    def _cancel(self) -> None:
        self.hide()
        self.cancelled.emit()


class TaskStrip(QFrame):
    """What the Gallery is doing in the background (an import, a merge, an export)."""

    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("taskStrip")
        self.setStyleSheet("#taskStrip{background:#eef2ff; border:1px solid #c7d2fe;"
                           "border-radius:4px;}")
        self.text = ElidedLabel()
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(220)
        self.bar.setRange(0, 1000)
        self.cancel_button = QPushButton("Cancel")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 2, 4, 2)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self.hide()

    def begin(self, text: str) -> None:
        self.text.setText(text)
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.show()

    def progress(self, fraction: float | None, text: str = "") -> None:
        if fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        if text:
            self.text.setText(text)

    def end(self) -> None:
        self.hide()
