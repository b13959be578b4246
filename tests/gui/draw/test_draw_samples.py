"""Draw > Add to my samples (Ctrl+S): the drawing, as the model sees it, appended to the
samples folder with the top-1 class, or the class typed instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from test_draw_panel import tiny_model

from k49desk.core.dataset import open_dataset
from k49desk.core.inference import preprocess
from k49desk.core.samples import read_sources
from k49desk.gui.common.state import AppState
from k49desk.gui.draw.panel import DrawPanel


@pytest.fixture
def panel(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("K49DESK_DATA_DIR", str(tmp_path / "data"))  # default my-samples here
    state = AppState()
    state.set_model(tiny_model(), None)
    p = DrawPanel(state)
    qtbot.addWidget(p)
    p.resize(1000, 700)
    p.show()
    qtbot.waitExposed(p)
    p.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is p)
    yield p
    p.shutdown()


def test_ctrl_s_adds_the_drawing_with_the_top1_then_a_typed_class(panel, qtbot, tmp_path) -> None:  # noqa: ANN001
    p = panel
    assert not p.add_to_samples()  # empty paper: nothing to add
    p.draw_class(25)
    qtbot.waitUntil(lambda: bool(p.last_topk), timeout=10000)
    top1 = p.last_topk[0][0]
    assert p.samples_bar.choice() == top1 and "top-1" in p.samples_bar.how.text()
    want = preprocess(p.canvas.render_array(), invert=False)
    p.canvas.setFocus()
    qtbot.keyClick(p.canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: getattr(p, "last_sample", None) is not None, timeout=10000)
    folder = tmp_path / "data" / "my-samples"
    assert p.last_sample.folder == folder and p.canvas.is_empty()  # ready for the next
    ds = open_dataset(folder)
    assert ds.split("train").labels.tolist() == [top1]
    np.testing.assert_array_equal(ds.split("train").images[0], want)
    assert read_sources(folder)[0][1] == "draw"
    assert str(folder) in p.samples_bar.where.text()
    # another class: type it where the top-1 was (Ctrl+Shift+S puts the cursor there)
    p.draw_class(5)
    qtbot.waitUntil(lambda: bool(p.last_topk), timeout=10000)
    qtbot.keyClick(p.canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert p.samples_bar.edit.hasFocus()
    p.samples_bar.edit.selectAll()
    qtbot.keyClicks(p.samples_bar.edit, "ka")
    assert "typed" in p.samples_bar.how.text()
    p.last_sample = None
    qtbot.keyClick(p.samples_bar.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: p.last_sample is not None, timeout=10000)
    assert open_dataset(folder).split("train").labels.tolist() == [top1, 5]
    assert p.last_sample.first_index == 1
