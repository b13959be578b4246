"""Main window wiring, start-up paths, the exception hook, and the screenshot command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from k49desk.gui.main_window import PANEL_KEYS, MainWindow


@pytest.fixture
def win(qtbot):  # noqa: ANN001, ANN201
    w = MainWindow()
    qtbot.addWidget(w)
    return w


def test_window_has_every_panel_as_a_working_tab(win: MainWindow) -> None:
    assert [win.tabs.tabText(i) for i in range(win.tabs.count())] == [
        "Data",
        "Gallery",
        "Statistics",
        "Draw",
        "Train",
        "Review",
        "Map",
    ]
    assert set(win.panels) == {"data", "gallery"}  # the rest are built lazily
    win.build_all_panels()
    for key in PANEL_KEYS:
        assert "not available" not in getattr(win.panels[key], "text", lambda: "")()
    win.show_panel("draw")
    assert win.tabs.currentWidget().currentWidget() is win.panels["draw"]


def test_start_opens_folder_in_background_and_shows_gallery(
    win: MainWindow, qtbot, tiny_dir: Path
) -> None:  # noqa: ANN001
    with qtbot.waitSignal(win.state.dataset_changed, timeout=20000):
        win.start(data_dir=str(tiny_dir), load_model=False)
    assert win.state.dataset is not None and len(win.state.dataset.split("train")) == 588
    assert win.tabs.currentIndex() == PANEL_KEYS.index("gallery")
    assert "train 588" in win._data_label.text()
    assert not win._demo_label.isVisibleTo(win)


def test_start_on_the_data_page_stays_there_when_the_folder_opens(
    win: MainWindow, qtbot, tiny_dir: Path
) -> None:  # noqa: ANN001
    """`k49desk gui --panel data`: the Data page asked for, not the Gallery."""
    with qtbot.waitSignal(win.state.dataset_changed, timeout=20000):
        win.start(data_dir=str(tiny_dir), panel="data", load_model=False)
    assert win.tabs.currentIndex() == PANEL_KEYS.index("data")
    win.state.set_dataset(None)
    win.show_panel("data")
    win.data_panel.open_folder(tiny_dir, quiet=True)  # a folder opened later: its images
    qtbot.waitUntil(lambda: win.tabs.currentIndex() == PANEL_KEYS.index("gallery"),
                    timeout=20000)


def test_corrupt_folder_at_start_shows_data_page_and_app_stays_up(
    win: MainWindow, qtbot, tiny_dir: Path
) -> None:  # noqa: ANN001
    (tiny_dir / "k49-train-imgs.npz").write_bytes(b"garbage")
    win.start(data_dir=str(tiny_dir), load_model=False)
    qtbot.waitUntil(lambda: win.tabs.currentIndex() == PANEL_KEYS.index("data"), timeout=20000)
    qtbot.waitUntil(lambda: "k49-train-imgs.npz" in win.statusBar().currentMessage(), timeout=20000)
    assert win.state.dataset is None


def test_bad_checkpoint_shows_dialog_not_traceback(
    win: MainWindow, qtbot, tmp_path: Path, error_dialogs: list
) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    win.load_model(bad)
    qtbot.waitUntil(lambda: bool(error_dialogs), timeout=30000)
    assert error_dialogs[0][0] == "Cannot load the model" and "bad.pt" in error_dialogs[0][1]
    assert win.state.model is None


def test_excepthook_logs_and_shows_dialog_never_in_the_users_log(
        qtbot, monkeypatch: pytest.MonkeyPatch, error_dialogs: list, tmp_path_factory) -> None:  # noqa: ANN001
    import sys
    import threading

    from k49desk.gui.common import errors

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    errors.install_excepthook()
    try:
        raise ValueError("boom in a slot")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    assert error_dialogs and "boom in a slot" in error_dialogs[0][1]
    assert "boom in a slot" in errors.log_file().read_text()
    # the log the test wrote is the test's own, not the user's
    assert str(errors.log_file()).startswith(str(tmp_path_factory.getbasetemp()))


def test_geometry_is_restored(qtbot) -> None:  # noqa: ANN001
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(640, 480)  # fits the offscreen 800x600 screen
    w.show()
    w.close()
    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert (w2.width(), w2.height()) == (640, 480)


def test_close_asks_panels_and_can_be_vetoed(win: MainWindow, qtbot) -> None:  # noqa: ANN001
    from k49desk.gui.common.panel import Panel

    class Busy(Panel):
        def can_close(self) -> bool:
            return False

    win.panels["busy"] = Busy(win.state)
    win.show()
    assert not win.close()
    del win.panels["busy"]
    assert win.close()


@pytest.mark.parametrize("panel", ["data", "gallery", "stats", "draw", "train", "review"])
def test_screenshot_command_writes_non_blank_png_of_right_size(
    tiny_dir: Path, tmp_path: Path, panel: str, qapp
) -> None:  # noqa: ANN001
    from k49desk.cli import main

    out = tmp_path / f"{panel}.png"
    assert (
        main(
            [
                "gui",
                "--data-dir",
                str(tiny_dir),
                "--panel",
                panel,
                "--class",
                "ka",
                "--screenshot",
                str(out),
                "--size",
                "1000x700",
            ]
        )
        == 0
    )
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1000, 700)
    g = img.convertToFormat(QImage.Format.Format_Grayscale8)
    arr = np.frombuffer(g.constBits(), np.uint8).reshape(g.height(), g.bytesPerLine())[
        :, : g.width()
    ]
    assert arr.std() > 5  # not a blank canvas


def test_demo_flag_generates_demo_data_on_first_use_then_opens_it(
    win: MainWindow,
    qtbot,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import k49desk.core.demo as demo
    from k49desk.core.classes import OFFICIAL_TRAIN_COUNTS

    monkeypatch.setattr(demo, "DEFAULT_SCALE", 0.01)  # the app's 0.1, smaller for the test
    folder = tmp_path / "data" / "demo"
    with qtbot.waitSignal(win.state.dataset_changed, timeout=120000):
        win.start(data_dir=str(folder), demo=True, load_model=False)
        page = win._pages["gallery"].currentWidget()  # the Gallery tab says what is going on
        assert "Generating demo data" in page.msg.text() and not page.busy.isHidden()
    ds = win.state.dataset
    counts = ds.split("train").counts(49)
    # the official proportions, scaled: as imbalanced as K49 (あ 6,000 vs ゑ 392 images)
    want = np.maximum(1, np.rint(np.array(OFFICIAL_TRAIN_COUNTS) * 0.01))
    assert counts.sum() == want.sum()
    assert np.abs(counts - want).max() <= 4  # 1% of the labels are wrong on purpose
    assert counts.max() / counts.min() > 10
    assert ds.is_demo
    assert win._demo_label.isVisibleTo(win) and "demo" in win.windowTitle()
    win2 = MainWindow()  # second launch: opens the existing demo set, generates nothing
    qtbot.addWidget(win2)
    mtime = (folder / "k49-train-imgs.npz").stat().st_mtime_ns
    with qtbot.waitSignal(win2.state.dataset_changed, timeout=30000):
        win2.start(data_dir=str(folder), demo=True, load_model=False)
    assert (folder / "k49-train-imgs.npz").stat().st_mtime_ns == mtime


def test_start_with_a_class_shows_it_once_the_folder_is_open(
        win: MainWindow, qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    from k49desk.core.classes import class_for_text

    ka = class_for_text("ka")
    with qtbot.waitSignal(win.state.dataset_changed, timeout=20000):
        win.start(data_dir=str(tiny_dir), panel="gallery", show_class=ka, load_model=False)
    gallery = win.panels["gallery"]
    labels = win.state.dataset.split("train").labels
    shown = gallery.current_indices()
    assert len(shown) and set(labels[shown].tolist()) == {ka}


def test_cli_panel_choices_are_the_windows_panels() -> None:
    from k49desk.commands.gui import PANELS
    from k49desk.gui.main_window import PANEL_KEYS

    assert PANELS == PANEL_KEYS  # `k49desk gui --panel map` opens every panel the window has


def test_the_window_opens_without_importing_torch(tiny_dir: Path, tmp_path: Path) -> None:
    """torch takes 1.5-5 s to import: the window and the Gallery must not wait for it (a
    module-level `from k49desk.core.demo import ...` in the Data panel once cost 4 s)."""
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from k49desk.gui.app import make_app
        app = make_app()
        from k49desk.gui.main_window import MainWindow
        w = MainWindow()
        w.show()
        w.start(data_dir={str(tiny_dir)!r}, load_model=False)
        for _ in range(20):
            app.processEvents()
        print(sorted(m for m in ("torch", "cleanlab", "openTSNE", "pyqtgraph")
                     if m in sys.modules))
    """)
    env = {**os.environ, "K49DESK_SETTINGS": str(tmp_path / "s.ini")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
