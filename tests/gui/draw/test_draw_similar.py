"""Draw > "Find images like my drawing": the drawing, as the model sees it, embedded with the
current model and searched among the open folder's images; a click opens one in the Gallery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from outputs_helpers import tiny_model
from PySide6.QtCore import QPoint, Qt

from k49desk.core.dataset import open_dataset
from k49desk.core.outputs import embed_images
from k49desk.gui.common.state import AppState
from k49desk.gui.draw.panel import DrawPanel


def draw_bar(qtbot, panel: DrawPanel, x: float) -> None:  # noqa: ANN001
    """A vertical pen stroke at `x` (0..1 across the paper)."""
    c = panel.canvas
    r = c.paper_rect()

    def at(v: float) -> QPoint:
        return QPoint(round(r.x() + x * r.width()), round(r.y() + v * r.height()))

    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    qtbot.mousePress(c, left, none, at(0.15))
    for i in range(1, 11):
        qtbot.mouseMove(c, at(0.15 + 0.07 * i))
    qtbot.mouseRelease(c, left, none, at(0.85))


@pytest.fixture
def panel(qtbot, tiny_dir: Path):  # noqa: ANN001, ANN201
    state = AppState()
    state.set_dataset(open_dataset(tiny_dir))
    state.set_model(tiny_model(), None, remember=False)
    p = DrawPanel(state)
    qtbot.addWidget(p)
    p.resize(1000, 700)
    p.show()
    qtbot.waitExposed(p)
    yield p
    p.shutdown()


def test_find_images_like_my_drawing_and_open_the_selected_one_in_the_gallery(
        qtbot, panel) -> None:  # noqa: ANN001
    strip = panel.similar
    assert not strip.find_button.isEnabled()  # nothing drawn yet
    with qtbot.waitSignal(panel.predictions_updated, timeout=10000):
        draw_bar(qtbot, panel, 0.5)
    assert strip.find_button.isEnabled() and "drawing" in strip.find_button.text()
    with qtbot.waitSignal(strip.results_shown, timeout=60000):
        qtbot.mouseClick(strip.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(strip.neighbors), timeout=60000)  # after the folder's pass
    hub = panel.state.outputs
    vec = embed_images(panel.state.model, hub.outputs.embedder, panel.last_image28)
    want = hub.index.similar_to(vec, strip.k)
    assert [(n.split, n.index) for n in strip.neighbors] == [(n.split, n.index) for n in want]
    assert np.allclose([n.distance for n in strip.neighbors], [n.distance for n in want],
                       atol=1e-5)
    assert "your drawing" in strip.title.text()
    with qtbot.waitSignal(panel.state.gallery_requested, timeout=2000) as sig:
        qtbot.mouseClick(strip.tiles, Qt.MouseButton.LeftButton,
                         pos=strip.tiles.tile_rect(0).center())
    req = sig.args[0]
    first = want[0]
    assert req.select in ((first.split, first.index), first.index)
    assert "drawing" in req.title
    # the strip follows the drawing: another stroke, another search
    before = list(strip.neighbors)
    with qtbot.waitSignal(strip.results_shown, timeout=20000):
        draw_bar(qtbot, panel, 0.2)
    qtbot.waitUntil(lambda: strip.neighbors != before, timeout=20000)


def test_find_images_like_my_drawing_without_a_folder_says_why(qtbot) -> None:  # noqa: ANN001
    state = AppState()
    state.set_model(tiny_model(), None, remember=False)
    p = DrawPanel(state)
    qtbot.addWidget(p)
    p.show()
    with qtbot.waitSignal(p.predictions_updated, timeout=10000):
        draw_bar(qtbot, p, 0.5)
    p.find_like_drawing()
    assert "Open a data folder" in p.similar.note.text() and not p.similar.neighbors
    p.shutdown()
