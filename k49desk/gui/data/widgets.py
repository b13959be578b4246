"""Presentational pieces of the start page: cards, the progress area, the recent list."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

BUTTON_WIDTH = 370  # fits "Download Kuzushiji-49 (about 77 MB)" in the 15 px bold style

STYLE = """
QFrame#card { border: 1px solid palette(mid); border-radius: 10px; background: palette(base); }
QFrame#card QLabel { background: transparent; }
QPushButton#big { font-size: 15px; font-weight: 600; padding: 10px 14px; min-height: 30px;
                  border: 1px solid #2563eb; border-radius: 6px; color: #1d4ed8;
                  background: palette(button); }
QPushButton#big:hover { background: #eff6ff; }
QPushButton#big:disabled { border-color: palette(mid); color: palette(mid); }
QPushButton#primary { font-size: 15px; font-weight: 600; padding: 10px 14px; min-height: 30px;
                      border: 1px solid #1d4ed8; border-radius: 6px; color: white;
                      background: #2563eb; }
QPushButton#primary:hover { background: #1d4ed8; }
QPushButton#primary:disabled { background: #93c5fd; border-color: #93c5fd; }
QFrame#progress { border: 1px solid palette(mid); border-radius: 8px; }
"""


def card(button: QPushButton, text: str, *extra: QWidget | QHBoxLayout,
         primary: bool = False) -> QFrame:
    """One way in: a big button on the left, what it does on the right."""
    frame = QFrame()
    frame.setObjectName("card")
    lay = QHBoxLayout(frame)
    lay.setContentsMargins(16, 14, 16, 14)
    lay.setSpacing(18)
    button.setObjectName("primary" if primary else "big")
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    button.setFixedWidth(BUTTON_WIDTH)  # the three buttons line up
    lay.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
    right = QVBoxLayout()
    right.setSpacing(6)
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    right.addWidget(label)
    for w in extra:
        right.addLayout(w) if isinstance(w, QHBoxLayout) else right.addWidget(w)
    right.addStretch(1)
    lay.addLayout(right, 1)
    return frame


class ProgressArea(QFrame):
    """What is running: a title, a bar (0..1000), a detail line (bytes, speed) and Cancel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("progress")
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: 600;")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.detail = QLabel()
        self.cancel_button = QPushButton("Cancel")
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)
        lay.addWidget(self.detail)
        self.setVisible(False)

    def begin(self, title: str, cancellable: bool) -> None:
        self.title.setText(title)
        self.bar.setValue(0)
        self.detail.setText("Starting…")
        self.cancel_button.setEnabled(cancellable)
        self.cancel_button.setVisible(cancellable)
        self.setVisible(True)

    def show_fraction(self, fraction: float, text: str) -> None:
        self.bar.setValue(int(1000 * min(max(fraction, 0.0), 1.0)))
        self.detail.setText(text)


class RecentList(QListWidget):
    """Recent folders; missing ones are greyed out. Activating one emits `folder_chosen`."""

    folder_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMaximumHeight(130)
        self.itemActivated.connect(self._chosen)
        self.itemDoubleClicked.connect(self._chosen)

    def fill(self, folders: list[str]) -> None:
        self.clear()
        for f in folders:
            item = QListWidgetItem(f)
            item.setData(Qt.ItemDataRole.UserRole, f)
            if not Path(f).is_dir():
                item.setText(f"{f}  (missing)")
                item.setForeground(self.palette().placeholderText())
                item.setToolTip("This folder no longer exists")
            else:
                item.setToolTip(f"Double-click to open {f}")
            self.addItem(item)
        if not folders:
            item = QListWidgetItem("Folders you open appear here.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.addItem(item)

    def _chosen(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.folder_chosen.emit(str(path))


def centred_scroll(column: QWidget, max_width: int = 1000) -> QScrollArea:
    """`column` centred at most `max_width` wide, scrolling when the window is small."""
    column.setMaximumWidth(max_width)
    inner = QWidget()
    h = QHBoxLayout(inner)
    h.addStretch(1)
    h.addWidget(column, 100)
    h.addStretch(1)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(inner)
    return scroll
