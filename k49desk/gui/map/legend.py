"""The map's legend (class names in hiragana, or the categories of the colour mode) and the
hover card (thumbnail, label, prediction of the point under the pointer).

Clicking a legend entry isolates it (only its points keep their colour, drawn on top);
clicking it again shows all; Ctrl+click adds or removes entries from the isolated set.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.common.widgets import gray_qimage
from k49desk.gui.map.colours import Colouring

CodeRole = Qt.ItemDataRole.UserRole + 1
_CTRL = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier
DIM_TEXT = QColor("#9ca3af")


def swatch(rgba: tuple[int, ...] | np.ndarray, side: int = 12) -> QIcon:
    pm = QPixmap(side, side)
    pm.fill(QColor(*[int(v) for v in rgba]))
    return QIcon(pm)


class Legend(QWidget):
    isolated_changed = Signal(object)  # list[int] of category codes (-1: the other group)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Legend")
        self.title.setStyleSheet("font-weight: 600;")
        self.all_button = QPushButton("Show all")
        self.all_button.setToolTip("Show every category again (Esc)")
        self.all_button.clicked.connect(lambda: self.set_isolated([], emit=True))
        self.all_button.setEnabled(False)
        self.hint = QLabel("Click: only this · Ctrl+click: add")
        self.hint.setStyleSheet("color: #6b7280; font-size: 11px;")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #92400e; font-size: 11px;")
        self.note.hide()
        self.list = QListWidget()
        self.list.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.list.setIconSize(QSize(12, 12))
        self.list.setUniformItemSizes(True)
        self.list.itemClicked.connect(self._on_clicked)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.all_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(head)
        lay.addWidget(self.hint)
        lay.addWidget(self.note)
        lay.addWidget(self.list, 1)
        self.isolated: list[int] = []
        self.colouring: Colouring | None = None
        self.setMinimumWidth(150)
        self.setMaximumWidth(220)

    def set_colouring(self, c: Colouring, title: str) -> None:
        """Fill the list for a colouring (keeps the isolated entries that still exist)."""
        self.colouring = c
        self.title.setText(title)
        self.note.setText(c.note)
        self.note.setVisible(bool(c.note))
        counts = c.counts
        self.list.clear()
        font = hiragana_font(11) if c.hiragana else QFont(self.font())
        entries = [(i, name, c.palette[i]) for i, name in enumerate(c.names)]
        if c.other is not None:
            entries.append((-1, c.other, (150, 150, 150, 255)))
        for code, name, rgba in entries:
            n = int(counts[code if code >= 0 else len(c.names)])
            it = QListWidgetItem(swatch(rgba), f"{name}   {n:,d}")
            it.setData(CodeRole, code)
            it.setFont(font)
            it.setToolTip(f"{name}: {n:,d} images. Click to show only these; Ctrl+click to "
                          "add them to those shown")
            self.list.addItem(it)
        have = {code for code, _n, _r in entries}
        self.set_isolated([k for k in self.isolated if k in have])

    def set_isolated(self, codes: list[int], emit: bool = False) -> None:
        self.isolated = sorted(set(codes))
        on = set(self.isolated)
        for i in range(self.list.count()):
            it = self.list.item(i)
            code = it.data(CodeRole)
            f = it.font()
            f.setBold(code in on)
            it.setFont(f)
            it.setForeground(QBrush(DIM_TEXT) if on and code not in on
                             else self.list.palette().text())
        self.all_button.setEnabled(bool(self.isolated))
        if emit:
            self.isolated_changed.emit(list(self.isolated))

    def click_code(self, code: int, add: bool = False) -> None:
        """A click on the entry for `code` (as the mouse would, Ctrl held when `add`)."""
        cur = set(self.isolated)
        if add:
            cur ^= {code}
        else:
            cur = set() if cur == {code} else {code}
        self.set_isolated(sorted(cur), emit=True)

    def _on_clicked(self, item: QListWidgetItem) -> None:
        add = bool(QApplication.keyboardModifiers() & _CTRL)
        self.click_code(int(item.data(CodeRole)), add)


class HoverCard(QFrame):
    """A small card beside the pointer: the image large, its split and index, its label and
    the model's prediction. Never takes the mouse (the map keeps hovering under it)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet("HoverCard { background: #ffffff; border: 1px solid #9ca3af;"
                           " border-radius: 4px; }")
        self.image = QLabel()
        self.image.setFixedSize(84, 84)
        self.text = QLabel()
        self.text.setFont(hiragana_font(10))
        self.text.setTextFormat(Qt.TextFormat.RichText)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 6, 8, 6)
        lay.addWidget(self.image)
        lay.addWidget(self.text)
        self.hide()

    def show_at(self, pos: QPoint, image28: np.ndarray, html: str, invert: bool = False) -> None:
        """Show for an image near `pos` (parent coordinates), kept inside the parent."""
        img = np.asarray(image28, np.uint8)
        pm = QPixmap.fromImage(gray_qimage(255 - img if invert else img)).scaled(
            84, 84, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
        self.image.setPixmap(pm)
        self.text.setText(html)
        self.adjustSize()
        par = self.parentWidget()
        x, y = pos.x() + 18, pos.y() + 18
        if par is not None:
            if x + self.width() > par.width():
                x = pos.x() - 18 - self.width()
            if y + self.height() > par.height():
                y = pos.y() - 18 - self.height()
            x, y = max(0, x), max(0, y)
        self.move(x, y)
        self.show()
        self.raise_()
