"""Drawing a stroke on the Draw panel's canvas with the mouse (shared by window tests)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt


def draw_bar(qtbot, panel, x: float = 0.5) -> None:  # noqa: ANN001
    """A vertical stroke at `x` (0..1 across the paper), pressed, moved, released."""
    c = panel.canvas
    r = c.paper_rect()

    def at(u: float, v: float) -> QPoint:
        return QPoint(round(r.x() + u * r.width()), round(r.y() + v * r.height()))

    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    qtbot.mousePress(c, left, none, at(x, 0.15))
    for i in range(1, 11):
        qtbot.mouseMove(c, at(x, 0.15 + 0.07 * i))
    qtbot.mouseRelease(c, left, none, at(x, 0.85))
