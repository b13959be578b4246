"""The Review panel inside the main window: real key events through the window (so Ctrl+Z is
the Edit menu's), the undo history shared with the Gallery, flags kept per split."""

from __future__ import annotations

import numpy as np
import pytest
from k49helpers import make_flags
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from review_helpers import start_review

from k49desk.core.dataset import open_dataset
from k49desk.core.review import ReviewSession
from k49desk.gui.main_window import MainWindow
from k49desk.gui.review.io import NewFlags

CTRL = Qt.KeyboardModifier.ControlModifier


NONE = Qt.KeyboardModifier.NoModifier


def press(win: MainWindow, key: Qt.Key | str, mods: Qt.KeyboardModifier = NONE) -> None:
    """A key as the window system delivers it: to the focus widget, shortcuts first."""
    QTest.keyClick(win.windowHandle(), ord(key) if isinstance(key, str) else key, mods)
    QApplication.processEvents()


@pytest.fixture
def win(qtbot, tiny_dir):  # noqa: ANN001, ANN201
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    w.state.set_dataset(open_dataset(tiny_dir))
    return w


def review(qtbot, win: MainWindow):  # noqa: ANN001, ANN201
    win.show_panel("review")
    p = win.panel("review")
    qtbot.waitUntil(lambda: p.session is not None, timeout=10000)
    return p


def test_after_relabel_with_enter_keys_and_ctrl_z_still_work(qtbot, win) -> None:  # noqa: ANN001
    p = review(qtbot, win)
    s = start_review(qtbot, p, make_flags(p.labels(), n=30))
    press(win, Qt.Key.Key_3)
    assert p.relabel.edit.hasFocus()
    for ch in "ne":
        press(win, ch)
    press(win, Qt.Key.Key_Return)
    assert (s.decision(0).decision, s.final_label(0)) == ("relabel", 23)  # ね
    assert s.position == 1 and QApplication.focusWidget() is p  # issue 9: focus was lost
    press(win, Qt.Key.Key_2)
    press(win, Qt.Key.Key_2)
    assert s.decision(1).decision == "accept" and s.decision(2).decision == "accept"
    press(win, Qt.Key.Key_Z, CTRL)  # the Edit menu's shortcut
    assert s.decision(2) is None and s.decision(1).decision == "accept"
    assert s.position == 2 and f"#{s.flag(2)['index']}<" in p.card.where.text()
    press(win, Qt.Key.Key_Z, CTRL)
    press(win, Qt.Key.Key_Z, CTRL)
    assert s.decisions == {} and s.position == 0  # the card the undone step touched
    press(win, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert s.final_label(0) == 23 and win.undo_action.text() == "&Undo " + \
        p.undo_stack.undoText()


def test_escape_too_gives_the_keys_back(qtbot, win) -> None:  # noqa: ANN001
    p = review(qtbot, win)
    s = start_review(qtbot, p, make_flags(p.labels(), n=30))
    press(win, Qt.Key.Key_3)
    press(win, "k")
    press(win, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is p and s.decision(0) is None
    press(win, Qt.Key.Key_4)
    assert s.decision(0).decision == "unusable"


def test_gallery_and_review_share_decisions_and_one_undo_history(qtbot, win) -> None:  # noqa: ANN001
    p = review(qtbot, win)
    s = start_review(qtbot, p, make_flags(p.labels(), n=30))
    gallery = win.panel("gallery")
    assert gallery.undo_stack is None or gallery.undo_stack is p.undo_stack
    hub = win.state.annotations
    img = int(s.flag(0)["index"])
    hub.write("train", lambda st: st.relabel([img], 7))  # as the Gallery writes
    assert p.card.badge.text().startswith("relabelled") and s.final_label(0) == 7
    press(win, Qt.Key.Key_Z, CTRL)
    assert s.decision(0) is None and "undecided" in p.card.badge.text()
    # A step on the other split, undone from here: the panel goes to the card it touched.
    t = start_review(qtbot, p, make_flags(win.state.dataset.split("test").labels, n=5,
                                          seed=1).assign(split="test"), split="test")
    p.split_combo.setCurrentText("test")
    press(win, Qt.Key.Key_4)
    p.split_combo.setCurrentText("train")
    press(win, Qt.Key.Key_Z, CTRL)
    assert p.split == "test" and t.decision(0) is None and t.position == 0
    p.split_combo.setCurrentText("train")
    # Another process decides on the same file: seen on the next refresh (a timer in the app).
    other = ReviewSession.open(win.state.dataset.root, "train")
    other.decide(3, "unusable")
    other.close()
    hub.refresh()
    assert s.decision(3).decision == "unusable" and "1</b> / 30 decided" in \
        p.filter_bar.counter.text()


def test_flags_stay_per_split_for_the_gallery(qtbot, tiny_dir, monkeypatch) -> None:  # noqa: ANN001
    ds = open_dataset(tiny_dir)
    # The train split was reviewed in an earlier run of the app.
    ReviewSession.open(tiny_dir, "train", make_flags(ds.split("train").labels, n=30)).close()
    w = MainWindow()
    qtbot.addWidget(w)
    w.state.set_dataset(ds)
    p = review(qtbot, w)
    p.split_combo.setCurrentText("test")  # at once: before any flags were passed on
    test_labels = ds.split("test").labels
    flags = make_flags(test_labels, n=5, seed=2).assign(split="test")
    p.sessions.replace(NewFlags("test", flags, done_text="5 suspects found in test"))
    qtbot.waitUntil(lambda: w.state.flags_for("test") is not None, timeout=5000)
    qtbot.waitUntil(lambda: w.state.flags_for("train") is not None, timeout=5000)
    assert len(w.state.flags_for("train")) == 30 and len(w.state.flags_for("test")) == 5
    gallery = w.panel("gallery")
    w.show_panel("gallery")
    assert gallery.model.split_name == "train"
    assert gallery.flagged_check.text() == "Flagged only (30)"  # issue 9: was (0)
    flagged = np.flatnonzero(gallery.model.flagged_mask("test"))
    assert sorted(flagged) == sorted(flags["index"])


def test_opened_on_the_review_tab_the_keys_work_without_a_click(qtbot, tiny_dir) -> None:  # noqa: ANN001
    ds = open_dataset(tiny_dir)
    ReviewSession.open(tiny_dir, "train", make_flags(ds.split("train").labels, n=30)).close()
    w = MainWindow()  # as `k49desk gui --panel review --data-dir ...` starts
    qtbot.addWidget(w)
    w.show_panel("review")
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    w.state.set_dataset(ds)  # the folder opens after the window shows
    p = w.panel("review")
    qtbot.waitUntil(lambda: p.session is not None and len(p.session) == 30, timeout=10000)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is p, timeout=3000)
    press(w, Qt.Key.Key_1)
    assert p.session.decision(0).decision == "keep"
