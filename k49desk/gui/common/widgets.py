"""Small widgets, dialogs and image helpers more than one panel (or the window) uses."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QMouseEvent, QResizeEvent, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.errors import K49Error
from k49desk.gui.common import settings
from k49desk.gui.common.errors import show_error

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset

DEMO_TEXT = "Generated demo data — not real K49"
DEMO_STYLE = ("background:#fef3c7; color:#92400e; border:1px solid #f59e0b; border-radius:4px;"
              "padding:4px 8px; font-weight:600;")


class DemoBanner(QLabel):
    """The "generated demo data" banner every data panel shows when the folder is demo data."""

    def __init__(self) -> None:
        super().__init__(DEMO_TEXT)
        self.setStyleSheet(DEMO_STYLE)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hide()

    def follow(self, ds: K49Dataset | None) -> None:
        self.setVisible(ds is not None and ds.is_demo)


def ask_save_path(parent: QWidget, title: str, name: str,
                  file_filter: str = "PNG image (*.png)") -> Path | None:
    """A save dialog opening in the last export folder; remembers the folder chosen.
    None when the user cancels."""
    path, _ = QFileDialog.getSaveFileName(parent, title, str(settings.export_dir() / name),
                                          file_filter)
    if not path:
        return None
    settings.set_export_dir(path)
    return Path(path)


def export_with_dialog(parent: QWidget, title: str, name: str, file_filter: str,
                       write: Callable[[Path], Any],
                       status: Callable[[str], None] | None = None) -> Path | None:
    """Ask where to save (`ask_save_path`), call `write(path)`, report "Saved …" through
    `status`; a K49Error/OSError/ValueError goes to the one error dialog. The path written,
    or None (cancelled or failed)."""
    path = ask_save_path(parent, title, name, file_filter)
    if path is None:
        return None
    try:
        write(path)
    except (K49Error, OSError, ValueError) as e:
        show_error(parent, "Export failed", e)
        return None
    if status is not None:
        status(f"Saved {path}")
    return path


def gray_qimage(arr: np.ndarray) -> QImage:
    """uint8 (H, W) -> an independent Grayscale8 QImage (copied in through bits(): a QImage
    wrapping a numpy buffer leaks references in PySide6 6.12)."""
    a = np.ascontiguousarray(arr, dtype=np.uint8)
    h, w = a.shape
    img = QImage(w, h, QImage.Format.Format_Grayscale8)
    view = np.frombuffer(img.bits(), np.uint8, count=img.bytesPerLine() * h)
    view.reshape(h, img.bytesPerLine())[:, :w] = a
    return img


class ElidedLabel(QLabel):
    """One line of text elided ("…") to the width it is given; the full text in the tooltip.
    `text()` returns the full text."""

    clicked = Signal()

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self._tip_suffix = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt override)
        self._full = text or ""
        self.setToolTip(self._full + self._tip_suffix if self._full else "")
        self.updateGeometry()
        self._elide()

    def set_tip_suffix(self, suffix: str) -> None:
        """Text added under the full text in the tooltip (e.g. "click for all messages")."""
        self._tip_suffix = suffix
        self.setText(self._full)

    def text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        """What is painted: the text, elided to the label's width."""
        return super().text()

    def sizeHint(self) -> QSize:  # noqa: N802
        m = self.contentsMargins()
        w = self.fontMetrics().horizontalAdvance(self._full) + m.left() + m.right() + 4
        return QSize(w, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(min(40, self.sizeHint().width()), super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mouseReleaseEvent(event)

    def _elide(self) -> None:
        m = self.contentsMargins()
        room = max(self.width() - m.left() - m.right() - 2, 0)
        text = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, room)
        if text != super().text():
            super().setText(text)


class StatusBar(QStatusBar):
    """The window's status bar: messages in an elided label that gets all the width the
    permanent labels on the right leave (each is capped to a share of the bar), with the
    full text in the tooltip and every message kept in a log (`history`, View > Messages…).

    `showMessage`, `clearMessage` and `currentMessage` keep QStatusBar's meaning for Python
    callers; the message is a normal widget, so permanent widgets never paint over it.
    """

    log_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history: deque[tuple[str, str]] = deque(maxlen=500)  # (hh:mm:ss, text)
        self.message = ElidedLabel()
        self.message.setObjectName("statusMessage")
        self.message.set_tip_suffix("\n\n(click for all messages: View > Messages…)")
        self.message.clicked.connect(self.log_requested)
        # Ignored: the message takes what the permanent widgets leave, never more, so a long
        # message neither squeezes them nor sets the window's minimum width.
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.addWidget(self.message, 1)
        self._caps: list[tuple[QWidget, float]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clearMessage)

    def add_permanent(self, w: QWidget, share: float) -> None:
        """A permanent widget on the right, at most `share` of the bar's width."""
        self.addPermanentWidget(w)
        self._caps.append((w, share))
        self._apply_caps()

    def showMessage(self, text: str, timeout: int = 0) -> None:  # noqa: N802 (Qt override)
        self.message.setText(text)
        if text:
            self.history.append((time.strftime("%H:%M:%S"), text))
        if timeout > 0:
            self._timer.start(timeout)
        else:
            self._timer.stop()

    def clearMessage(self) -> None:  # noqa: N802 (Qt override)
        self._timer.stop()
        self.message.setText("")

    def currentMessage(self) -> str:  # noqa: N802 (Qt override)
        return self.message.text()

    def log_text(self) -> str:
        return "\n".join(f"{t}  {m}" for t, m in self.history)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        self._apply_caps()
        super().resizeEvent(event)

    def _apply_caps(self) -> None:
        width = max(self.width(), 400)
        for w, share in self._caps:
            w.setMaximumWidth(int(width * share))


def show_message_log(parent: QWidget, bar: StatusBar) -> QDialog:
    """The messages of this session, newest last, selectable (non-modal)."""
    dlg = QDialog(parent)
    dlg.setWindowTitle("Messages")
    dlg.resize(720, 360)
    text = QPlainTextEdit(bar.log_text() or "No messages yet.")
    text.setReadOnly(True)
    text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    text.moveCursor(QTextCursor.MoveOperation.End)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dlg.close)
    lay = QVBoxLayout(dlg)
    lay.addWidget(text)
    lay.addWidget(buttons)
    dlg.text = text  # type: ignore[attr-defined]  (tests read it)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.show()
    return dlg
