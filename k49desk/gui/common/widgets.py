"""Small widgets more than one panel uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

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
