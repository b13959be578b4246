"""Shared set-up of the Map panel tests: the tiny folder, a tiny untrained model (its
embeddings still separate the folder's drawn patterns), a Map panel and a Gallery panel on
one AppState, and real mouse gestures on the map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.dataset import open_dataset
from k49desk.core.model import LoadedModel, ModelConfig, build_model
from k49desk.gui.common.state import AppState
from k49desk.gui.gallery.panel import GalleryPanel
from k49desk.gui.map.panel import MapPanel

MOVE_MS = 20


def tiny_model(seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(channels=(4, 8), dropout=0.0)
    return LoadedModel(build_model(cfg).eval(), cfg, classes=OFFICIAL_CLASSES, metrics={},
                       trained_on="tiny")


def open_map(qtbot, folder: Path, *, method: str = "pca", gallery: bool = True,  # noqa: ANN001
             split: str = "train") -> tuple[MapPanel, GalleryPanel | None]:
    """A shown Map panel with its map computed (`method`: "pca" keeps tests fast; the
    t-SNE path has its own test), and a shown Gallery on the same state."""
    state = AppState()
    state.set_dataset(open_dataset(folder))
    state.set_model(tiny_model(), None, remember=False)
    g = None
    if gallery:
        g = GalleryPanel(state)
        qtbot.addWidget(g)
        g.resize(1000, 700)
        g.show()
    p = MapPanel(state)
    p.method = method
    qtbot.addWidget(p)
    p.resize(1000, 700)
    p.show()
    qtbot.waitExposed(p)
    p.set_split(split)
    p.on_shown()
    qtbot.waitUntil(lambda: p.result is not None and p.result.method == method
                    and not p.tasks.running("map"), timeout=60000)
    QApplication.processEvents()
    return p, g


def to_widget(p: MapPanel, x: float, y: float) -> QPoint:
    """Map (view) coordinates -> a pixel of the map widget."""
    sp = p.view.vb.mapViewToScene(QPointF(float(x), float(y)))
    return p.view.mapFromScene(sp)


def mouse_path(p: MapPanel, pts: list[QPoint],
               mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """Press at the first point, move through the others, release at the last."""
    vp = p.view.viewport()
    left, no = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton

    def send(kind: QMouseEvent.Type, pos: QPoint, button: Qt.MouseButton,
             buttons: Qt.MouseButton) -> None:
        ev = QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, buttons,
                         mods)
        QApplication.sendEvent(vp, ev)

    send(QMouseEvent.Type.MouseButtonPress, pts[0], left, left)
    for q in pts[1:]:
        QTest.qWait(MOVE_MS)  # pyqtgraph drops moves closer than its rate limit
        send(QMouseEvent.Type.MouseMove, q, no, left)
    send(QMouseEvent.Type.MouseButtonRelease, pts[-1], left, no)
    QApplication.processEvents()


def circle(cx: float, cy: float, r: float, n: int = 24) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)
