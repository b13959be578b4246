"""Key 3 on a review card: type the right class as romaji ("ka") or a character ("か")."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QWidget

from k49desk.core.classes import ClassInfo, class_for_text, romaji_prefix_matches
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.review.widgets import DECISION_COLORS

ERROR_COLOR = "#b91c1c"


def _red(text: str) -> str:
    return f"<span style='color:{ERROR_COLOR}'>{text}</span>"


class RelabelBar(QFrame):
    """Type romaji ("ka") or a character ("か"); Enter confirms, Esc cancels. Either way the
    bar hides and the panel takes the keyboard back (`chosen` / `cancelled`)."""

    chosen = Signal(int)
    cancelled = Signal()

    def __init__(self, classes: tuple[ClassInfo, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes = classes
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.edit = _EscLineEdit()
        self.edit.setPlaceholderText("class: type romaji (ka) or the character (か)")
        self.edit.setFont(hiragana_font(13))
        self.matches = QLabel("")
        self.matches.setFont(hiragana_font(13))
        self.matches.setWordWrap(True)
        lay = QHBoxLayout(self)
        lay.addWidget(QLabel("<b>3 · neither:</b>"))
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.matches, 2)
        lay.addWidget(QLabel("<span style='color:gray'>Enter confirms · Esc cancels</span>"))
        self.edit.textChanged.connect(self._update_matches)
        self.edit.returnPressed.connect(self._confirm)
        self.edit.escape.connect(self._cancel)

    def start(self) -> None:
        self.edit.clear()
        self.setVisible(True)
        self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self._update_matches("")

    def choice(self) -> int | None:
        """The class the typed text means: exact romaji/character, else a unique prefix match."""
        text = self.edit.text()
        c = class_for_text(text, self.classes)
        if c is None:
            hits = romaji_prefix_matches(text, self.classes) if text.strip() else []
            c = hits[0] if len(hits) == 1 else None
        return c

    def _labels(self, hits: list[int], exact: int | None) -> list[str]:
        color = DECISION_COLORS["relabel"]
        parts = [f"<b style='color:{color}'>{self.classes[i].label}</b>" if i == exact
                 else self.classes[i].label for i in hits]
        if exact is not None and exact not in hits:
            parts.insert(0, f"<b style='color:{color}'>{self.classes[exact].label}</b>")
        return parts

    def _update_matches(self, text: str) -> None:
        if not text.strip():
            self.matches.setText("<span style='color:gray'>e.g. ka → か, shi → し, n → ん</span>")
            return
        parts = self._labels(romaji_prefix_matches(text, self.classes)[:10], self.choice())
        self.matches.setText("  ".join(parts) if parts else
                             _red(f"no class is spelled “{escape(text.strip())}”"))

    def _confirm(self) -> None:
        c = self.choice()
        if c is None:
            text = self.edit.text().strip()
            hits = romaji_prefix_matches(text, self.classes) if text else []
            if not text:
                msg = "type a class first: romaji (ka) or the character (か)"
            elif not hits:  # nothing can match, however much more is typed
                msg = (f"no class is spelled “{escape(text)}”: type romaji (ka) or the "
                       "character (か)")
            else:
                names = ", ".join(self.classes[i].romaji for i in hits[:6])
                msg = f"type more: {names}{'…' if len(hits) > 6 else ''} all match"
            self.matches.setText(_red(msg))
            return
        self.setVisible(False)
        self.chosen.emit(c)

    def _cancel(self) -> None:
        self.setVisible(False)
        self.cancelled.emit()


class _EscLineEdit(QLineEdit):
    escape = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape:
            self.escape.emit()
            return
        super().keyPressEvent(event)
