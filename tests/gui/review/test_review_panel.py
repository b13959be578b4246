"""The Review panel driven through the keyboard, its background work, exports and errors."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from k49helpers import make_flags
from PySide6.QtCore import Qt
from review_helpers import new_panel, on_disk, start_review

from k49desk.core.dataset import open_dataset
from k49desk.core.review import Filters, ReviewSession
from k49desk.gui.common.state import AppState

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def test_keys_1_2_4_and_question_decide_save_and_open_the_next_card(qtbot, panel) -> None:  # noqa: ANN001
    s = panel.session
    for key in (Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_4, Qt.Key.Key_Question):
        qtbot.keyClick(panel, key)
    assert [s.decision(i).decision for i in range(4)] == ["keep", "accept", "unusable", "unsure"]
    assert s.position == 4 and f"train #{s.flag(4)['index']}<" in panel.card.where.text()
    disk = on_disk(panel)
    assert {p: d.decision for p, d in disk.decisions.items()} == {
        0: "keep", 1: "accept", 2: "unusable", 3: "unsure"}
    assert "3</b> / 30 decided" in panel.filter_bar.counter.text()
    assert "2</b> confirmed errors" in panel.filter_bar.counter.text()
    assert "precision 67%" in panel.filter_bar.counter.text()
    panel.undo_stack.undo()
    panel.undo_stack.undo()  # keep and accept remain
    assert "1</b> confirmed error<" in panel.filter_bar.counter.text()  # not "1 ... errors"


def test_key_3_then_romaji_or_character_relabels_and_esc_cancels(qtbot, panel) -> None:  # noqa: ANN001
    s = panel.session
    qtbot.keyClick(panel, Qt.Key.Key_3)
    assert panel.relabel.isVisible() and panel.relabel.edit.hasFocus()
    qtbot.keyClicks(panel.relabel.edit, "ki")
    assert "き (ki)" in panel.relabel.matches.text()
    qtbot.keyClick(panel, Qt.Key.Key_Escape)  # not for the panel: the edit has focus
    qtbot.keyClick(panel.relabel.edit, Qt.Key.Key_Escape)
    assert not panel.relabel.isVisible() and s.decision(0) is None
    qtbot.keyClick(panel, Qt.Key.Key_3)
    qtbot.keyClicks(panel.relabel.edit, "ka")
    qtbot.keyClick(panel.relabel.edit, Qt.Key.Key_Return)
    assert (s.decision(0).decision, s.final_label(0)) == ("relabel", 5)
    assert s.position == 1 and not panel.relabel.isVisible()
    qtbot.keyClick(panel, Qt.Key.Key_3)
    panel.relabel.edit.setText("ゑ")
    qtbot.keyClick(panel.relabel.edit, Qt.Key.Key_Return)
    assert s.final_label(1) == 45
    qtbot.keyClick(panel, Qt.Key.Key_3)
    qtbot.keyClicks(panel.relabel.edit, "k")  # ambiguous: ka ki ku ke ko
    qtbot.keyClick(panel.relabel.edit, Qt.Key.Key_Return)
    assert panel.relabel.isVisible() and s.decision(2) is None
    qtbot.keyClicks(panel.relabel.edit, "o")
    qtbot.keyClick(panel.relabel.edit, Qt.Key.Key_Enter)
    assert s.final_label(2) == 9
    assert on_disk(panel).decision(2).final_label == 9


def test_arrows_move_and_the_position_is_saved(qtbot, panel) -> None:  # noqa: ANN001
    s = panel.session
    for key in (Qt.Key.Key_Right, Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_Left):
        qtbot.keyClick(panel, key)
    assert s.position == 2
    for _ in range(5):
        qtbot.keyClick(panel, Qt.Key.Key_Up)
    assert s.position == 0  # clamped at the first card
    qtbot.keyClick(panel, Qt.Key.Key_Right)
    assert on_disk(panel).position == 1


def test_undo_and_redo_of_decisions(qtbot, panel) -> None:  # noqa: ANN001
    # Ctrl+Z / Ctrl+Shift+Z are the window's Edit menu, which drives panel.undo_stack.
    s = panel.session
    qtbot.keyClick(panel, Qt.Key.Key_1)
    qtbot.keyClick(panel, Qt.Key.Key_4)
    panel.undo_stack.undo()
    assert s.decision(1) is None and s.position == 1  # back on the undone card
    panel.undo_stack.undo()
    assert s.decisions == {} and on_disk(panel).decisions == {}
    panel.undo_stack.redo()
    assert s.decision(0).decision == "keep"
    panel.undo_stack.redo()
    assert s.decision(1).decision == "unusable"
    assert on_disk(panel).decision(1).decision == "unusable"
    assert panel.undo_stack.count() == 2 and not panel.undo_stack.canRedo()


def test_filters_by_issue_class_and_undecided_and_reopen_resumes_them(qtbot, panel) -> None:  # noqa: ANN001
    s = panel.session
    fb = panel.filter_bar
    fb.issue_combo.setCurrentIndex(fb.issue_combo.findData("blank"))
    vis = s.visible()
    assert len(vis) == 6 and set(s.flags["issue"].iloc[vis]) == {"blank"}
    assert s.position == vis[0]
    qtbot.keyClick(panel, Qt.Key.Key_1)
    assert s.position == vis[1]
    fb.issue_combo.setCurrentIndex(0)
    fb.undecided_box.setChecked(True)
    assert vis[0] not in s.visible() and len(s.visible()) == 29
    g = int(s.flags["given_label"].iat[3])
    fb.given_combo.setCurrentIndex(fb.given_combo.findData(g))
    assert set(s.flags["given_label"].iloc[s.visible()]) == {g}
    fb.given_combo.setCurrentIndex(0)
    sug = int(s.flags["suggested_label"].iat[3])
    fb.suggested_combo.setCurrentIndex(fb.suggested_combo.findData(sug))
    assert set(s.flags["suggested_label"].iloc[s.visible()]) == {sug}
    pos = s.position
    # A new panel (the app restarted) resumes the same card and the same filters.
    again = new_panel(qtbot, panel.state)
    assert again.session.position == pos
    assert again.session.filters == Filters(suggested=sug, undecided_only=True)
    assert again.filter_bar.suggested_combo.currentData() == sug
    assert again.filter_bar.undecided_box.isChecked()


def test_accept_on_a_card_without_suggestion_explains_instead(qtbot, panel) -> None:  # noqa: ANN001
    panel.show_pos(4)
    qtbot.keyClick(panel, Qt.Key.Key_2)
    assert panel.session.decision(4) is None
    assert "no other suggestion" in panel.status.text()


def test_decisions_reach_the_gallery_through_state_flags(qtbot, panel) -> None:  # noqa: ANN001
    qtbot.keyClick(panel, Qt.Key.Key_2)
    with qtbot.waitSignal(panel.state.flags_changed, timeout=3000):
        pass
    df = panel.state.flags_for("train")
    assert {"split", "index", "issue", "decision"} <= set(df.columns)
    assert df["decision"].iat[0] == "accept" and df["decision"].iat[1] == ""
    assert df["final_label"].iat[0] == panel.session.flag(0)["suggested_label"]


def test_big_image_is_pixel_exact_without_smoothing(panel) -> None:  # noqa: ANN001
    img = panel.card.image
    arr = panel.state.dataset.split("train").images[panel.session.flag(0)["index"]]
    shot = img.grab().toImage()
    r = img.image_rect()
    scale = r.width() // 28
    assert scale >= 14
    dpr = shot.devicePixelRatio()
    for y, x in ((5, 7), (13, 13), (20, 4), (27, 27)):
        for dy, dx in ((0, 0), (scale - 1, scale - 1)):
            px = shot.pixelColor(int((r.x() + x * scale + dx) * dpr),
                                 int((r.y() + y * scale + dy) * dpr))
            assert px.red() == int(arr[y, x]), (y, x)


def test_relabel_messages_say_whether_more_typing_can_help(qtbot, panel) -> None:  # noqa: ANN001
    qtbot.keyClick(panel, Qt.Key.Key_3)
    qtbot.keyClicks(panel.relabel.edit, "xx")
    assert "no class is spelled “xx”" in panel.relabel.matches.text()
    qtbot.keyClick(panel.relabel.edit, Qt.Key.Key_Return)
    text = panel.relabel.matches.text()
    assert "no class is spelled “xx”" in text and "type more" not in text
    panel.relabel.edit.setText("s")
    qtbot.keyClick(panel.relabel.edit, Qt.Key.Key_Return)
    assert "type more: sa, shi, su, se, so" in panel.relabel.matches.text()
    assert panel.session.decision(0) is None


def test_a_duplicate_card_shows_the_other_copy_and_opens_it_in_the_gallery(  # noqa: ANN001
        qtbot, panel) -> None:  # noqa: ANN001
    ds = panel.state.dataset
    train, test = ds.split("train"), ds.split("test")
    g = int(train.labels[7])
    other = int(np.flatnonzero(test.labels != g)[0])  # a copy labelled differently
    same = int(np.flatnonzero(train.labels == g)[1])
    flags = pd.DataFrame({"split": "train", "index": [7, same], "given_label": [g, g],
                          "issue": ["train_test_duplicate", "duplicate"],
                          "suggested_label": [g, -1], "quality": [0.45, 0.5]})
    pairs = pd.DataFrame({"index": [7, same], "issue": ["train_test_duplicate", "duplicate"],
                          "other_split": ["test", "train"], "other_index": [other, 7],
                          "similarity": [1.0, 1.0]})
    start_review(qtbot, panel, flags, pairs=pairs)
    card = panel.card
    assert card.partner_box.isVisibleTo(panel) and "Matching image" in card.partner_title.text()
    assert f"test #{other}" in card.partner_where.text() and "a different label" in \
        card.partner_where.text()
    np.testing.assert_array_equal(card.partner_image._arr, test.images[other])
    # given = suggested says nothing: one class box, one "Typical" row, and 2 is refused
    assert not card.suggested.isVisibleTo(panel) and not card.strip_suggested.isVisibleTo(panel)
    qtbot.keyClick(panel, Qt.Key.Key_2)
    assert panel.session.decision(0) is None
    with qtbot.waitSignal(panel.state.gallery_requested, timeout=2000) as sig:
        qtbot.mouseClick(card.partner_image, Qt.MouseButton.LeftButton)
    req = sig.args[0]
    assert (req.split, list(req.indices), req.select) == ("test", [other], other)
    qtbot.keyClick(panel, Qt.Key.Key_Right)  # a duplicate within the split: both copies shown
    assert "Earlier copy" in card.partner_title.text()
    with qtbot.waitSignal(panel.state.gallery_requested, timeout=2000) as sig:
        qtbot.mouseClick(card.image, Qt.MouseButton.LeftButton)
    assert sig.args[0].split == "train" and list(sig.args[0].indices) == sorted([7, same])
    qtbot.keyClick(panel, Qt.Key.Key_Left)
    # The exports name the partner too.
    frame = panel.session.export_frame()
    assert frame["partner_split"].tolist() == ["test", "train"]
    assert frame["partner_index"].tolist() == [other, 7]


def test_the_demo_banner_follows_the_folder(qtbot, tmp_path) -> None:  # noqa: ANN001
    from k49helpers import make_k49_folder

    from k49desk.core.dataset import DEMO_TRUTH_FILE

    root = make_k49_folder(tmp_path / "demo", n_train=2, n_test=1)
    (root / DEMO_TRUTH_FILE).write_text("split,index,given_label,true_label\n")
    state = AppState()
    p = new_panel(qtbot, state)
    p.show()
    state.set_dataset(open_dataset(root))
    assert p.demo_banner.isVisible() and "demo" in p.demo_banner.text().lower()
    state.set_dataset(None)
    assert not p.demo_banner.isVisible()


def test_panel_renders_a_card(panel, tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "review.png"
    assert panel.grab().save(str(out))
    assert out.stat().st_size > 10_000
    assert panel.card.given.char.text() == panel.state.dataset.classes[
        panel.session.flag(0)["given_label"]].char
    panel.shutdown()
    assert not panel.tasks.running()


def test_app_killed_with_sigkill_loses_no_decision(tiny_dir) -> None:  # noqa: ANN001
    import os
    import signal
    import subprocess

    labels = open_dataset(tiny_dir).split("train").labels
    ReviewSession.open(tiny_dir, "train", make_flags(labels, n=30)).close()
    code = (
        "import os, sys\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtCore import Qt\n"
        "from PySide6.QtTest import QTest\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from k49desk.core.dataset import open_dataset\n"
        "from k49desk.gui.review.panel import ReviewPanel\n"
        "from k49desk.gui.common.state import AppState\n"
        "st = AppState(); st.set_dataset(open_dataset(sys.argv[1]))\n"
        "p = ReviewPanel(st); p.show()\n"
        "while p.session is None or not len(p.session): QTest.qWait(20)\n"
        "keys = [Qt.Key.Key_1, Qt.Key.Key_4, Qt.Key.Key_Question]\n"
        "for i in range(30):\n"
        "    QTest.keyClick(p, keys[i % 3]); p.repaint()\n"
        "    print(i, flush=True)\n"
        "    if i >= 7: QTest.qWait(100)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tiny_dir)], stdout=subprocess.PIPE,
                            text=True)
    try:
        for line in proc.stdout:
            if int(line) == 7:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(60)
    s = ReviewSession.open(tiny_dir, "train")
    decided = [s.decision(i).decision for i in range(len(s.decisions))]
    assert len(decided) >= 8
    assert decided == ["keep", "unusable", "unsure"] * (len(decided) // 3) + \
        ["keep", "unusable", "unsure"][: len(decided) % 3]
