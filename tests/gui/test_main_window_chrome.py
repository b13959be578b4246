"""The window's chrome on a first run: status messages readable at 1024 px beside the demo
badge, a message log, the model card, File > Export and Edit > Undo from every tab, and
the detail pane agreeing with the status bar about the model at start-up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from k49desk.core.dataset import DEMO_TRUTH_FILE, open_dataset
from k49desk.gui.main_window import PANEL_KEYS, MainWindow
from k49desk.paths import DEFAULT_MODEL

LONG = ("Review: cannot import flags.csv: the file has columns path,label,score but the "
        "flags table needs split, index, issue (expected split,index,issue,given_label,"
        "suggested_label,quality, as written by k49desk issues)")


@pytest.fixture
def win(qtbot):  # noqa: ANN001, ANN201
    w = MainWindow()
    qtbot.addWidget(w)
    return w


@pytest.fixture
def demo_ds(tiny_dir: Path):  # noqa: ANN201
    (tiny_dir / DEMO_TRUTH_FILE).write_text("split,index,given_label,true_label\n")
    return open_dataset(tiny_dir)


def test_a_long_status_message_is_readable_at_1024_beside_the_demo_badge(
        win: MainWindow, qtbot, demo_ds) -> None:  # noqa: ANN001
    win.resize(1024, 700)
    win.show()
    qtbot.waitExposed(win)
    win.state.set_dataset(demo_ds)
    win.state.status(LONG)
    sb = win.statusBar()
    msg, badge = sb.message, win._demo_label
    qtbot.waitUntil(lambda: msg.width() > 0 and badge.isVisible())
    assert msg.geometry().right() < badge.geometry().left()  # nothing painted over it
    assert msg.width() >= 0.45 * sb.width()  # most of the bar is for the message
    shown = msg.shown_text()
    assert shown.endswith("…") and LONG.startswith(shown[:-1])  # elided, not cut
    assert msg.toolTip().startswith(LONG)  # the full text on hover
    assert sb.currentMessage() == LONG
    for label in (win._data_label, win._model_label):
        assert label.width() <= 0.22 * sb.width() + 1


def test_every_message_is_kept_in_a_log_that_opens_from_the_bar_and_the_menu(
        win: MainWindow, qtbot) -> None:  # noqa: ANN001
    win.state.status("first message")
    win.state.status(LONG)
    with qtbot.waitSignal(win.statusBar().log_requested):
        qtbot.mouseClick(win.statusBar().message, Qt.MouseButton.LeftButton)
    dlg = win.show_messages()
    qtbot.addWidget(dlg)
    text = dlg.text.toPlainText()
    assert "first message" in text and LONG in text
    assert text.index("first message") < text.index(LONG)  # newest last
    view_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    assert any(a.text() == "&Messages…" for a in view_menu.actions())


def test_the_model_card_names_the_file_once(win: MainWindow, qtbot) -> None:  # noqa: ANN001
    if not DEFAULT_MODEL.exists():
        pytest.skip("the default model is not in this checkout")
    with qtbot.waitSignal(win.state.model_changed, timeout=60000):
        win.load_model(DEFAULT_MODEL)
    text = win.model_card_text().lower()
    assert text.count("file</b>:") == 1 and text.count("k49desk-default.pt") == 1


def test_at_start_up_the_detail_pane_agrees_with_the_status_bar_about_the_model(
        win: MainWindow, qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    if not DEFAULT_MODEL.exists():
        pytest.skip("the default model is not in this checkout")
    gallery = win.panels["gallery"]
    with qtbot.waitSignal(win.state.dataset_changed, timeout=30000):
        win.start(data_dir=str(tiny_dir))  # the model loads in the background meanwhile
    gallery.select("train", 0)  # the user clicks before or after the model arrives
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=60000)
    assert "Model: k49desk-default.pt" in win._model_label.text()
    qtbot.waitUntil(lambda: len(gallery.detail.top5) == 5, timeout=30000)
    assert "No model" not in gallery.detail.pred_note.text()
    assert gallery.detail.pred_note.isHidden()


def test_file_export_offers_every_panels_exports_from_every_tab(
        win: MainWindow, qtbot, tiny_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from draw_helpers import draw_bar

    win.state.set_dataset(open_dataset(tiny_dir))
    win.build_all_panels()
    win.show()
    qtbot.waitExposed(win)
    draw_bar(qtbot, win.panels["draw"])
    qtbot.waitUntil(lambda: not win.panels["stats"].sheet_pending, timeout=10000)
    out = iter(tmp_path / f"{i}.out" for i in range(100))
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(next(out)), "")))
    want = {"Gallery: List of the images shown (CSV)…", "Gallery: Thumbnails in view (PNG)…",
            "Statistics: Images per class (PNG)…", "Statistics: Samples per class (PNG)…",
            "Draw: Drawing (PNG)…"}
    for key in PANEL_KEYS:
        win.show_panel(key)
        win._fill_exports()
        texts = {a.text() for a in win.export_menu.actions()}
        assert want <= texts, key
    n_before = len(list(tmp_path.iterdir()))
    for a in win.export_menu.actions():  # triggered from the last tab (Review)
        a.trigger()
    # the Gallery's decision exports run as tasks: let them land before listing the files
    qtbot.waitUntil(lambda: not win.panels["gallery"].tasks.running(), timeout=20000)
    # ...and any other panel's export that writes in the background (the Review's, the Map's)
    qtbot.waitUntil(lambda: all(p.stat().st_size > 0 for p in tmp_path.iterdir()),
                    timeout=20000)
    written = sorted(tmp_path.iterdir())
    assert len(written) - n_before >= len(want)


def test_ctrl_z_undoes_a_stroke_in_the_draw_tab_and_nothing_in_another(
        win: MainWindow, qtbot) -> None:  # noqa: ANN001
    from draw_helpers import draw_bar

    with qtbot.waitActive(win):  # shortcuts only reach the active window
        win.show()
        win.activateWindow()
    win.show_panel("draw")
    draw = win.panels["draw"]
    draw_bar(qtbot, draw)
    draw_bar(qtbot, draw, x=0.7)
    ctrl = Qt.KeyboardModifier.ControlModifier
    win.show_panel("gallery")
    assert not win.undo_action.isEnabled()  # the Gallery has no history of its own
    qtbot.keyClick(QApplication.focusWidget() or win, Qt.Key.Key_Z, ctrl)
    assert len(draw.canvas.strokes) == 2  # the drawing is untouched from another tab
    win.show_panel("draw")
    assert win.undo_action.isEnabled()
    qtbot.keyClick(draw.canvas, Qt.Key.Key_Z, ctrl)
    assert len(draw.canvas.strokes) == 1
    win.undo_action.trigger()  # Edit > Undo, the menu entry itself
    assert draw.canvas.is_empty()
    assert np.asarray(draw.canvas.render_array()).max() == 0
