"""Shared set-up of the Gallery annotation tests: a panel on the tiny folder with its
annotation stores open, and real mouse gestures on the grid."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from k49desk.core.dataset import open_dataset
from k49desk.gui.common.state import AppState
from k49desk.gui.gallery.panel import GalleryPanel


def open_panel(qtbot, folder: Path, splits: tuple[str, ...] = ("train",)) -> GalleryPanel:  # noqa: ANN001
    state = AppState()
    state.set_dataset(open_dataset(folder))
    p = GalleryPanel(state)
    qtbot.addWidget(p)
    p.resize(1400, 900)
    p.show()
    qtbot.waitExposed(p)
    p.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is p)
    if "test" in splits:
        p.set_split("both")
    qtbot.waitUntil(lambda: all(p.model.marks.has(s) for s in splits), timeout=20000)
    p.view.setFocus()
    return p


def center(p: GalleryPanel, row: int) -> QPoint:
    return p.view.visualRect(p.model.index(row)).center()


def click(qtbot, p: GalleryPanel, row: int,  # noqa: ANN001
          mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.mouseClick(p.view.viewport(), Qt.MouseButton.LeftButton, mods, center(p, row))


def drag(p: GalleryPanel, a: QPoint, b: QPoint) -> None:
    """A rubber-band drag from a to b (viewport coordinates), in a few moves."""
    vp = p.view.viewport()
    left = Qt.MouseButton.LeftButton
    no = Qt.KeyboardModifier.NoModifier

    def send(kind: QMouseEvent.Type, pos: QPoint, button: Qt.MouseButton,
             buttons: Qt.MouseButton) -> None:
        pf = QPointF(pos)
        ev = QMouseEvent(kind, pf, QPointF(vp.mapToGlobal(pos)), button, buttons, no)
        QApplication.sendEvent(vp, ev)

    send(QMouseEvent.Type.MouseButtonPress, a, left, left)
    for k in range(1, 5):
        pos = a + (b - a) * (k / 4)
        send(QMouseEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton, left)
    send(QMouseEvent.Type.MouseButtonRelease, b, left, Qt.MouseButton.NoButton)
