"""The contract between the main window and its panels (Vorta's BaseTab, Orange's widget).

A panel is built with the shared `AppState`, owns its background work through `self.tasks`
(the one `TaskOwner` it has), and answers four calls from the window:

- `on_shown()`: its tab became visible (refresh lazily, take the focus);
- `show_class(label)`: `k49desk gui --class X` asks to show one class;
- `can_close()`: the window is closing; may ask the user (False vetoes);
- `shutdown()`: the window closes; stop and wait for every thread it started.

A panel with an undo history sets `undo_stack` (the window's Edit menu follows the current
tab); `export_actions()` lists what File > Export offers for it.

Panels reach each other only through `AppState` signals, never by import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QWidget

from k49desk.gui.common.state import AppState
from k49desk.gui.common.tasks import TaskOwner


class Panel(QWidget):
    title: ClassVar[str] = ""
    needs_data: ClassVar[bool] = True  # the window shows "open a folder first" without one

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.tasks = TaskOwner(self, state.status)
        self.undo_stack: QUndoStack | None = None

    def export_actions(self) -> list[tuple[str, Callable[[], object]]]:
        """(menu text, slot) pairs for File > Export; empty when there is nothing to export."""
        return []

    def on_shown(self) -> None:
        """The panel's tab became the current one."""

    def show_class(self, label: int) -> None:
        """Show class `label` (the Gallery filters to it, the pad draws it)."""

    def can_close(self) -> bool:
        """The window is about to close: True to let it (ask the user here if needed)."""
        return True

    def shutdown(self) -> None:
        """The window closes: stop every thread this panel started and wait for it."""
        self.tasks.shutdown()
