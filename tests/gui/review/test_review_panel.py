"""The Review panel driven through the keyboard, its background work, exports and errors."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from k49helpers import make_flags
from PySide6.QtCore import Qt

from k49desk.core import review_store as store
from k49desk.core.dataset import open_dataset
from k49desk.core.errors import Cancelled
from k49desk.core.review import Filters, ReviewSession
from k49desk.gui.common.state import AppState
from k49desk.gui.review.panel import ReviewPanel

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def messages(error_dialogs: list) -> list[tuple[str, str]]:
    """Error dialogs, recorded instead of shown (they would block an offscreen test)."""
    return error_dialogs


@pytest.fixture
def panel(qtbot, tiny_dir: Path, messages) -> ReviewPanel:  # noqa: ANN001
    state = AppState()
    ds = open_dataset(tiny_dir)
    state.set_dataset(ds)
    p = ReviewPanel(state)
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    labels = ds.split("train").labels
    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.ones(49), len(labels)).astype(np.float32)
    assert p.open_session(make_flags(labels, n=30), proba, model="cv.pt", method="2-fold")
    return p


def on_disk(p: ReviewPanel) -> ReviewSession:
    return ReviewSession.open(p.state.dataset.root, "train")


def test_keys_1_2_4_and_question_decide_save_and_open_the_next_card(qtbot, panel) -> None:  # noqa: ANN001
    s = panel.session
    for key in (Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_4, Qt.Key.Key_Question):
        qtbot.keyClick(panel, key)
    assert [s.decision(i).decision for i in range(4)] == ["keep", "accept", "unusable", "unsure"]
    assert s.position == 4 and panel.card.where.text().startswith(f"train #{s.flag(4)['index']}")
    disk = on_disk(panel)
    assert {p: d.decision for p, d in disk.decisions.items()} == {
        0: "keep", 1: "accept", 2: "unusable", 3: "unsure"}
    assert "3</b> / 30 decided" in panel.filter_bar.counter.text()
    assert "2</b> confirmed errors" in panel.filter_bar.counter.text()
    assert "precision 67%" in panel.filter_bar.counter.text()


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
    again = ReviewPanel(panel.state)
    qtbot.addWidget(again)
    assert again.session.position == pos
    assert again.session.filters == Filters(suggested=sug, undecided_only=True)
    assert again.filter_bar.suggested_combo.currentData() == sug
    assert again.filter_bar.undecided_box.isChecked()


def test_accept_on_a_card_without_suggestion_explains_instead(qtbot, panel) -> None:  # noqa: ANN001
    panel.show_pos(4)
    qtbot.keyClick(panel, Qt.Key.Key_2)
    assert panel.session.decision(4) is None
    assert "no suggestion" in panel.status.text()


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


def test_load_flags_csv_starts_a_session_without_probabilities(qtbot, panel, tmp_path) -> None:  # noqa: ANN001
    labels = panel.labels()
    csv = tmp_path / "flags.csv"
    make_flags(labels, n=12, seed=5).to_csv(csv, index=False)
    assert panel.io.load_flags_csv(panel.split, str(csv))
    s = panel.session
    assert len(s) == 12 and s.flag(0)["top3"] == [] and s.model == "flags.csv"
    assert "no model probabilities" in panel.card.top3.text()
    assert len(panel._samples) >= 1  # random typical samples instead of confident ones
    bad = tmp_path / "bad.csv"
    bad.write_text("index,given_label\n1,2\n")
    assert not panel.io.load_flags_csv(panel.split, str(bad))
    assert len(panel.session) == 12


def test_corrupt_session_is_reported_backed_up_and_a_new_one_starts(qtbot, tiny_dir,  # noqa: ANN001
                                                                    messages) -> None:  # noqa: ANN001
    (tiny_dir / "k49desk-review-train.json").write_text("{not json")
    state = AppState()
    state.set_dataset(open_dataset(tiny_dir))
    p = ReviewPanel(state)
    qtbot.addWidget(p)
    assert [m[0] for m in messages] == ["Review session damaged"]
    assert "renamed to k49desk-review-train.json.corrupt-" in messages[0][1]
    assert len(list(tiny_dir.glob("k49desk-review-train.json.corrupt-*"))) == 1
    assert p.session is not None and len(p.session) == 0
    assert "No suspects yet" in p.placeholder.text()


def test_read_only_data_folder_says_where_the_session_is(qtbot, tiny_dir, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("XDG_DATA_HOME", str(tiny_dir.parent / "xdg"))
    monkeypatch.setattr(store, "dir_writable", lambda d: Path(d) != tiny_dir)
    state = AppState()
    ds = open_dataset(tiny_dir)
    state.set_dataset(ds)
    p = ReviewPanel(state)
    qtbot.addWidget(p)
    with qtbot.waitSignal(state.status_message, timeout=3000) as sig:
        p.open_session(make_flags(ds.split("train").labels, n=30))
    assert "read-only" in sig.args[0] and "read-only" in p.status.text()
    qtbot.keyClick(p, Qt.Key.Key_1)
    assert not (tiny_dir / "k49desk-review-train.json").exists()
    assert p.session.path.exists()


def test_exports_write_csv_json_and_a_corrected_folder(qtbot, panel, tmp_path) -> None:  # noqa: ANN001
    for key in (Qt.Key.Key_2, Qt.Key.Key_4, Qt.Key.Key_1):
        qtbot.keyClick(panel, key)
    assert panel.io.export_table(panel.session, "csv", str(tmp_path / "r.csv"))
    assert panel.io.export_table(panel.session, "json", str(tmp_path / "r.json"))
    df = pd.read_csv(tmp_path / "r.csv", keep_default_na=False)
    assert list(df["decision"][:4]) == ["accept", "unusable", "keep", ""]
    panel.io.export_corrected(panel.session, str(tmp_path / "fixed"))
    qtbot.waitUntil(lambda: not panel.io.busy, timeout=20000)
    assert "Corrected train labels written" in panel.status.text()
    new = open_dataset(tmp_path / "fixed").split("train").labels
    s = panel.session
    assert new[s.flag(0)["index"]] == s.flag(0)["suggested_label"]
    assert list(pd.read_csv(tmp_path / "fixed" / "unusable-train.csv")["index"]) == [
        s.flag(1)["index"]]


def test_export_to_unwritable_folder_shows_error_and_keeps_decisions(qtbot, panel, messages,
                                                                    tmp_path) -> None:  # noqa: ANN001
    qtbot.keyClick(panel, Qt.Key.Key_2)
    before = panel.session.path.read_bytes()
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    panel.io.export_corrected(panel.session, str(blocker / "out"))
    qtbot.waitUntil(lambda: not panel.io.busy, timeout=20000)
    assert messages and messages[-1][0] == "Export failed"
    assert "plain-file" in messages[-1][1]
    assert not panel.io.export_table(panel.session, "csv", str(blocker / "r.csv"))
    assert panel.session.path.read_bytes() == before
    assert panel.session.decision(0).decision == "accept" and panel.find_btn.isEnabled()


def _fake_issues(monkeypatch: pytest.MonkeyPatch, labels: np.ndarray, block: bool) -> None:
    """A stand-in k49desk.core.issues so the panel is tested without training models."""
    def find_issues(ds, split="train", *, folds=5, progress=None, should_stop=None, **kw):  # noqa: ANN001, ANN003, ANN202
        for i in range(200 if block else 3):
            if progress:
                progress(i / 3, f"fold {i + 1}")
            if should_stop and should_stop():
                raise Cancelled("stopped")
            time.sleep(0.02 if block else 0)
        proba = np.full((len(labels), 49), 0.01, np.float32)
        return types.SimpleNamespace(flags=make_flags(labels, n=7, seed=9), proba=proba,
                                     method="fake 2-fold", elapsed_s=0.1)

    mod = types.ModuleType("k49desk.core.issues")
    mod.find_issues = find_issues
    monkeypatch.setitem(sys.modules, "k49desk.core.issues", mod)


def test_find_suspects_runs_in_background_and_opens_the_new_flags(qtbot, panel,  # noqa: ANN001
                                                                  monkeypatch) -> None:  # noqa: ANN001
    qtbot.keyClick(panel, Qt.Key.Key_1)
    _fake_issues(monkeypatch, panel.labels(), block=False)
    panel.find_btn.click()
    assert panel.cancel_btn.isVisibleTo(panel) and not panel.find_btn.isEnabled()
    qtbot.waitUntil(lambda: not panel.io.busy, timeout=20000)
    s = panel.session
    assert len(s) == 7 and s.method == "fake 2-fold" and len(s.flag(0)["top3"]) == 3
    assert "7 suspects found" in panel.status.text()
    assert not panel.cancel_btn.isVisibleTo(panel) and panel.find_btn.isEnabled()


def test_cancel_stops_find_suspects_and_keeps_the_session(qtbot, panel, monkeypatch) -> None:  # noqa: ANN001
    qtbot.keyClick(panel, Qt.Key.Key_1)
    _fake_issues(monkeypatch, panel.labels(), block=True)
    panel.find_btn.click()
    qtbot.waitUntil(lambda: panel.progress_text.text().startswith("fold"), timeout=10000)
    panel.cancel_btn.click()
    qtbot.waitUntil(lambda: not panel.io.busy, timeout=20000)
    assert "cancelled" in panel.status.text()
    assert len(panel.session) == 30 and panel.session.decision(0).decision == "keep"


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
