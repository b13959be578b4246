"""The Draw tab says "too little ink" for a dot instead of a confident class, and saves the
drawing and its 28x28 model input as PNG files (button and File > Export)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from k49helpers import contrast
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog
from test_draw_panel import BAR, LOOP, draw, draw_and_wait, tiny_model

from k49desk.core.inference import preprocess
from k49desk.gui.common.state import AppState
from k49desk.gui.draw.canvas import MAX_PEN
from k49desk.gui.draw.panel import LITTLE_INK_TEXT, DrawPanel


@pytest.fixture
def panel(qtbot):  # noqa: ANN001, ANN201
    state = AppState()
    state.set_model(tiny_model(), None)
    p = DrawPanel(state)
    qtbot.addWidget(p)
    p.resize(900, 600)
    p.show()
    qtbot.waitExposed(p)
    yield p
    p.shutdown()


def _gray(path: Path) -> np.ndarray:
    img = QImage(str(path)).convertToFormat(QImage.Format.Format_Grayscale8)
    a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return a[:, :img.width()].copy()


@pytest.mark.parametrize("pen", [14, MAX_PEN])
def test_a_dot_shows_too_little_ink_not_a_prediction(qtbot, panel: DrawPanel, pen: int) -> None:  # noqa: ANN001
    panel.pen_slider.setValue(pen)
    with qtbot.waitSignal(panel.predictions_updated, timeout=10000):
        draw(qtbot, panel.canvas, [(0.5, 0.5), (0.503, 0.502)])  # a click: a dot
    qtbot.waitUntil(lambda: not panel.busy, timeout=10000)
    assert not panel.canvas.is_empty()
    assert panel.last_topk == []
    assert panel.results.currentWidget() is panel.message
    assert panel.message.text() == LITTLE_INK_TEXT
    draw_and_wait(qtbot, panel, LOOP)  # then a real character: candidates again
    assert len(panel.last_topk) == 5 and panel.results.currentIndex() == 1


def test_save_button_writes_the_drawing_and_the_model_input(
        qtbot, panel: DrawPanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    assert not panel.save_btn.isEnabled() and panel.export_actions() == []
    draw_and_wait(qtbot, panel, LOOP)
    draw_and_wait(qtbot, panel, BAR)
    assert panel.save_btn.isEnabled()
    out = tmp_path / "mine.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(out), "PNG image (*.png)")))
    qtbot.mouseClick(panel.save_btn, Qt.MouseButton.LeftButton)
    drawing, model_input = _gray(out), _gray(tmp_path / "mine-28x28.png")
    assert drawing.shape == (560, 560)
    # As on the pad: dark ink on white paper; the same strokes as the canvas renders.
    np.testing.assert_array_equal(drawing, 255 - panel.canvas.render_array(560))
    assert drawing[0].min() == 255 and drawing.min() < 50
    np.testing.assert_array_equal(model_input,
                                  preprocess(panel.canvas.render_array(), invert=False))
    # File > Export offers the same; a second save lands in the same folder by default.
    (text, slot), = panel.export_actions()
    assert text == "Drawing (PNG)…"
    seen: list[str] = []

    def fake(_parent, _title, start, _filter):  # noqa: ANN001, ANN202
        seen.append(start)
        return str(tmp_path / "again.png"), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))
    slot()
    assert Path(seen[0]).parent == tmp_path
    assert (tmp_path / "again.png").is_file() and (tmp_path / "again-28x28.png").is_file()


def test_hints_and_the_model_line_are_readable(qtbot, panel: DrawPanel) -> None:  # noqa: ANN001
    from PySide6.QtGui import QFontInfo, QPalette

    bg = panel.palette().color(QPalette.ColorRole.Window)
    draw(qtbot, panel.canvas, [(0.5, 0.5)])  # a dot: the "too little ink" hint
    qtbot.waitUntil(lambda: panel.message.text() == LITTLE_INK_TEXT)
    for label in (panel.message, panel.card_label):
        label.ensurePolished()
        fg = label.palette().color(QPalette.ColorRole.WindowText)
        assert contrast(fg, bg) >= 4.5, label.text()  # was about 2:1 (palette mid/dark)
        assert QFontInfo(label.font()).pixelSize() >= 12
