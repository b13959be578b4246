"""Small widgets and dialogs more than one panel (or the window) uses."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QWidget

from k49desk.gui.common import settings

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
