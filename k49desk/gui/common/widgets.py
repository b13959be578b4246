"""Small widgets, dialogs and image helpers more than one panel (or the window) uses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QLabel, QWidget

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
