"""The one class input of the app: type romaji ("ka") or the character ("か"), see the matching
classes as you type, Enter confirms, Esc cancels. Review's key 3 and the Gallery's relabel
both use it, so a class is typed the same way everywhere."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QWidget

from k49desk.core.classes import ClassInfo, class_for_text, romaji_prefix_matches
from k49desk.gui.common.fonts import hiragana_font

RELABEL_COLOR = "#7c3aed"  # violet: a relabel, in Review's badge and the Gallery's marks
ERROR_COLOR = "#b91c1c"


def _red(text: str) -> str:
    return f"<span style='color:{ERROR_COLOR}'>{text}</span>"


class RelabelBar(QFrame):
    """Type romaji ("ka") or a character ("か"); Enter confirms, Esc cancels. Either way the
    bar hides and the caller takes the keyboard back (`chosen` / `cancelled`); `preview`
    follows the class the text means so far (None: no single class yet)."""

    chosen = Signal(int)
    cancelled = Signal()
    preview = Signal(object)  # int | None

    def __init__(self, classes: tuple[ClassInfo, ...], parent: QWidget | None = None, *,
                 title: str = "<b>3 · neither:</b>") -> None:
        super().__init__(parent)
        self.classes = classes
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.edit = EscLineEdit()
        self.edit.setPlaceholderText("class: type romaji (ka) or the character (か)")
        self.edit.setFont(hiragana_font(13))
        self.edit.setMinimumWidth(90)  # "tsu" and the cursor, even in a narrow window
        self.title = QLabel(title)
        self.matches = QLabel("")
        self.matches.setFont(hiragana_font(13))
        self.matches.setWordWrap(True)
        lay = QHBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.matches, 2)
        lay.addWidget(QLabel("<span style='color:gray'>Enter confirms · Esc cancels</span>"))
        self.edit.textChanged.connect(self._update_matches)
        self.edit.returnPressed.connect(self._confirm)
        self.edit.escape.connect(self._cancel)

    def start(self, text: str = "") -> None:
        """Show the bar with the keyboard in it; `text`: what was typed to open it."""
        self.edit.setText(text)
        self.setVisible(True)
        self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self._update_matches(text)

    def choice(self) -> int | None:
        """The class the typed text means: exact romaji/character, else a unique prefix match."""
        text = self.edit.text()
        c = class_for_text(text, self.classes)
        if c is None:
            hits = romaji_prefix_matches(text, self.classes) if text.strip() else []
            c = hits[0] if len(hits) == 1 else None
        return c

    def _labels(self, hits: list[int], exact: int | None) -> list[str]:
        parts = [f"<b style='color:{RELABEL_COLOR}'>{self.classes[i].label}</b>" if i == exact
                 else self.classes[i].label for i in hits]
        if exact is not None and exact not in hits:
            parts.insert(0, f"<b style='color:{RELABEL_COLOR}'>{self.classes[exact].label}</b>")
        return parts

    def _update_matches(self, text: str) -> None:
        self.preview.emit(self.choice())
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
        self.preview.emit(None)
        self.cancelled.emit()


class EscLineEdit(QLineEdit):
    """A line edit that emits `escape` on Esc (instead of passing it to the window)."""

    escape = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape:
            self.escape.emit()
            return
        super().keyPressEvent(event)
