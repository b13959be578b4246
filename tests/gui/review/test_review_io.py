"""The Review panel's files and background work: flags CSV, damaged or read-only stores,
exports, Find suspects (its dialog, time estimates, time left, resume after a stop)."""

from __future__ import annotations

import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from k49helpers import make_flags
from PySide6.QtCore import Qt
from review_helpers import new_panel, start_review

from k49desk.core.annotations import location as store  # dir_writable lives there
from k49desk.core.dataset import open_dataset
from k49desk.core.errors import Cancelled
from k49desk.core.fold_cache import FoldCache, proba_cache_name
from k49desk.core.progress import ProgressUpdate
from k49desk.core.scan_plan import (
    Eta,
    ScanPlan,
    default_epochs,
    estimate_seconds,
    format_duration,
    train_config,
)
from k49desk.gui.common.state import AppState
from k49desk.gui.review.export_dialog import CorrectedFolderDialog
from k49desk.gui.review.find_dialog import FindDialog
from k49desk.gui.review.io import TaskBar


def test_load_flags_csv_starts_a_session_without_probabilities(qtbot, panel, tmp_path) -> None:  # noqa: ANN001
    labels = panel.labels()
    csv = tmp_path / "flags.csv"
    make_flags(labels, n=12, seed=5).to_csv(csv, index=False)
    assert panel.io.load_flags_csv(panel.split, str(csv))
    qtbot.waitUntil(lambda: len(panel.session) == 12, timeout=5000)
    s = panel.session
    assert s.flag(0)["top3"] == [] and s.model == "flags.csv"
    assert "12 flags of train loaded" in panel.status.text()
    assert "no model probabilities" in panel.card.top3.text()
    assert len(panel._samples) >= 1  # random typical samples instead of confident ones
    bad = tmp_path / "bad.csv"
    bad.write_text("index,given_label\n1,2\n")
    assert not panel.io.load_flags_csv(panel.split, str(bad))
    assert len(panel.session) == 12


def test_a_damaged_store_is_reported_set_aside_and_a_new_one_starts(qtbot, tiny_dir,  # noqa: ANN001
                                                                   messages) -> None:  # noqa: ANN001
    (tiny_dir / "k49desk-review-train.json").write_text("{not json")  # a legacy session
    state = AppState()
    state.set_dataset(open_dataset(tiny_dir))
    p = new_panel(qtbot, state)
    qtbot.waitUntil(lambda: p.session is not None, timeout=10000)
    assert [m[0] for m in messages] == ["Annotations of train are not available"]
    assert "k49desk-review-train.json.corrupt-" in messages[0][1]
    assert len(list(tiny_dir.glob("k49desk-review-train.json.corrupt-*"))) == 1
    assert len(p.session) == 0 and "No suspects yet" in p.placeholder.text()


def test_read_only_data_folder_says_where_the_review_is(qtbot, tiny_dir, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("XDG_DATA_HOME", str(tiny_dir.parent / "xdg"))
    monkeypatch.setattr(store, "dir_writable", lambda d: Path(d) != tiny_dir)
    state = AppState()
    ds = open_dataset(tiny_dir)
    state.set_dataset(ds)
    p = new_panel(qtbot, state)
    assert "read-only" in p.status.text()
    start_review(qtbot, p, make_flags(ds.split("train").labels, n=30))
    qtbot.keyClick(p, Qt.Key.Key_1)
    assert not list(tiny_dir.glob("k49desk-annotations-*"))
    assert p.session.path.exists() and p.session.decision(0).decision == "keep"


def test_exports_count_every_row_and_write_a_corrected_folder(qtbot, panel, tmp_path) -> None:  # noqa: ANN001
    for key in (Qt.Key.Key_2, Qt.Key.Key_4, Qt.Key.Key_1):
        qtbot.keyClick(panel, key)
    s = panel.session
    other = int(np.setdiff1d(np.arange(100), s.flags["index"])[0])
    assert panel.state.annotations.write("train", lambda st: st.relabel([other], 3))  # Gallery
    assert panel.io.export_table(s, "csv", str(tmp_path / "r.csv"))
    qtbot.waitUntil(lambda: not panel.io.busy, timeout=20000)
    assert "Exported 31 rows" in panel.status.text()  # the manual annotation is a row too
    assert "30 flags and 1 other annotated image" in panel.status.text()
    assert panel.io.export_table(s, "json", str(tmp_path / "r.json"))
    qtbot.waitUntil(lambda: not panel.io.busy, timeout=20000)
    df = pd.read_csv(tmp_path / "r.csv", keep_default_na=False)
    assert list(df["decision"][:4]) == ["accept", "unusable", "keep", ""]
    assert (df["index"].iat[30], df["final_label"].iat[30]) == (other, "3")
    panel.io.export_corrected(s, str(tmp_path / "fixed"))
    qtbot.waitUntil(lambda: not panel.io.busy, timeout=20000)
    assert "Corrected train labels written" in panel.status.text()
    new = open_dataset(tmp_path / "fixed").split("train").labels
    assert new[s.flag(0)["index"]] == s.flag(0)["suggested_label"] and new[other] == 3
    assert list(pd.read_csv(tmp_path / "fixed" / "unusable-train.csv")["index"]) == [
        s.flag(1)["index"]]


def test_export_to_unwritable_folder_shows_error_and_keeps_decisions(qtbot, panel, messages,  # noqa: ANN001
                                                                    tmp_path) -> None:  # noqa: ANN001
    qtbot.keyClick(panel, Qt.Key.Key_2)
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    panel.io.export_corrected(panel.session, str(blocker / "out"))
    qtbot.waitUntil(lambda: not panel.io.busy, timeout=20000)
    assert messages and messages[-1][0] == "Export failed" and "plain-file" in messages[-1][1]
    panel.io.export_table(panel.session, "csv", str(blocker / "r.csv"))
    qtbot.waitUntil(lambda: not panel.io.busy, timeout=20000)
    assert len(messages) == 2 and "plain-file" in messages[-1][1]
    assert panel.session.decision(0).decision == "accept" and panel.find_btn.isEnabled()


def test_corrected_folder_dialog_proposes_a_new_subfolder(qtbot, panel, tmp_path) -> None:  # noqa: ANN001
    ds = panel.state.dataset
    dlg = CorrectedFolderDialog(ds, "train")
    qtbot.addWidget(dlg)
    ok = dlg.buttons.buttons()[0]
    # Beside the data folder (not empty: it holds the data folder) -> a new name in it.
    assert dlg.folder() == Path(ds.root).parent / "tiny-corrected-train" and ok.isEnabled()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    (busy / "tiny-corrected-train").mkdir()
    (busy / "tiny-corrected-train" / "x").write_text("")
    dlg.choose(busy)  # what Browse… does with a folder holding other files
    assert dlg.folder() == busy / "tiny-corrected-train-2" and ok.isEnabled()
    assert "Creates" in dlg.verdict.text()
    dlg.name_edit.setText("tiny-corrected-train")  # taken: refused before any work
    assert not ok.isEnabled() and "holds other files" in dlg.verdict.text()
    empty = tmp_path / "empty"
    empty.mkdir()
    dlg.choose(empty)  # an empty folder is taken as it is
    assert dlg.folder() == empty and ok.isEnabled()
    dlg.choose(ds.root)
    assert dlg.folder().parent == Path(ds.root)  # never the data folder itself


def test_find_dialog_offers_the_cli_options_with_expected_times(qtbot, panel) -> None:  # noqa: ANN001
    ds = panel.state.dataset
    dlg = FindDialog(ds, "train", panel.tasks, speed=2000.0)
    qtbot.addWidget(dlg)
    n = len(ds.split("train"))
    quick, thorough, checks = dlg.presets
    assert (quick.folds, thorough.folds, checks.folds) == (3, 5, 0)
    # the CLI's default (its schedule for a fold's share of the split and the test images
    # that join every fold); quick: 3 folds, half
    extra = len(ds.split("test"))
    assert thorough.epochs == default_epochs(n, 5, extra)
    assert quick.epochs == max(1, default_epochs(n, 3, extra) // 2)
    assert dlg.plan() == thorough  # the default: what the CLI does
    want = format_duration(estimate_seconds(n, thorough, 2000.0, extra=extra))
    assert dlg.notes["thorough"].text() == want and want.startswith("about")
    assert "2,000 training images per second" in dlg.speed_label.text()
    dlg.folds.setValue(4)
    dlg.epochs.setValue(2)
    assert dlg.radios["custom"].isChecked() and dlg.plan() == ScanPlan("custom", "Custom", 4, 2)
    # Folds kept by an earlier stopped run are announced and not counted.
    cache = FoldCache(ds.root, proba_cache_name(ds, "train", 5, train_config(ds, "train",
                                                                              thorough)))
    cache.save(0, np.full((10, 49), 1 / 49, np.float32))
    dlg.refresh()
    assert "1 of 5 folds already done" in dlg.notes["thorough"].text()
    assert dlg.notes["thorough"].text().startswith(
        format_duration(estimate_seconds(n, thorough, 2000.0, done_folds=1, extra=extra)))


def test_find_dialog_says_it_fine_tunes_and_grows_with_its_texts(qtbot, panel) -> None:  # noqa: ANN001
    ds = panel.state.dataset  # 49 classes, small: the fold models start from the bundled model
    dlg = FindDialog(ds, "train", panel.tasks)
    qtbot.addWidget(dlg)
    explain = dlg.layout().itemAt(0).widget()
    assert "start from the bundled model" in explain.text()
    assert dlg.epochs.value() == dlg.presets[1].epochs  # Custom can say what Thorough does
    dlg.resize(420, 200)
    dlg.show()
    qtbot.waitExposed(dlg)
    dlg.set_speed(2345.0)  # the measured speed: a longer, wrapped line
    lay = dlg.layout()
    assert dlg.height() >= lay.totalHeightForWidth(dlg.width())
    assert explain.height() >= explain.heightForWidth(explain.width())


def test_find_dialog_measures_the_speed_in_the_background(qtbot, panel, monkeypatch) -> None:  # noqa: ANN001
    import threading

    from k49desk.gui.review import find_dialog

    gui = threading.current_thread()
    where: list = []

    def measure(images, labels, cfg, should_stop=None):  # noqa: ANN001, ANN202
        where.append(threading.current_thread() is gui)  # core's measure_speed: a real fit,
        time.sleep(0.2)                                   # tested in tests/core
        return 1234.0

    monkeypatch.setattr(find_dialog, "measure_speed", measure)
    dlg = FindDialog(panel.state.dataset, "train", panel.tasks)
    qtbot.addWidget(dlg)
    assert "Measuring" in dlg.speed_label.text() and dlg.notes["quick"].text() == "estimating…"
    qtbot.waitUntil(lambda: dlg.speed is not None, timeout=10000)
    assert where == [False] and dlg.speed == 1234.0
    assert dlg.notes["quick"].text().startswith("about")
    again = FindDialog(panel.state.dataset, "train", panel.tasks)  # remembered for a while
    qtbot.addWidget(again)
    assert again.speed == dlg.speed


def test_the_task_bar_shows_the_time_left_of_the_training() -> None:
    bar = TaskBar()
    bar.begin("Finding suspects", eta=True)
    now = [0.0]
    bar.eta = Eta(clock=lambda: now[0])
    step = types.SimpleNamespace(kind="step")
    bar.show_progress(ProgressUpdate(0.05, "Checking for blank and duplicate images"))
    for t, f in ((1.0, 0.10), (6.0, 0.20), (11.0, 0.30)):
        now[0] = t
        bar.show_progress(ProgressUpdate(f, "Fold 1/5: training, epoch 1/8", step))
    # 0.2 of the bar in 10 s: 0.7 left takes 35 s
    assert bar.text.text() == "Fold 1/5: training, epoch 1/8 · about 35 s left"


def _fake_find_issues(monkeypatch: pytest.MonkeyPatch, labels: np.ndarray, block: bool,
                      seen: list) -> None:
    """find_issues replaced, so the panel is tested without training models."""
    import k49desk.core.issues as issues

    def find_issues(ds, split="train", *, folds=5, train_config=None, progress=None,  # noqa: ANN001, ANN202
                    should_stop=None, **kw):  # noqa: ANN003
        seen.append((split, folds, None if train_config is None else train_config.epochs))
        for i in range(200 if block else 3):
            if progress:
                progress(i / 3, f"fold {i + 1}")
            if should_stop and should_stop():
                raise Cancelled("stopped")
            time.sleep(0.02 if block else 0)
        proba = np.full((len(labels), 49), 0.01, np.float32)
        flags = make_flags(labels, n=7, seed=9)
        return types.SimpleNamespace(flags=flags, proba=proba, method="fake 2-fold",
                                     elapsed_s=0.1, pairs=pd.DataFrame())

    monkeypatch.setattr(issues, "find_issues", find_issues)


def test_find_suspects_runs_the_chosen_plan_and_opens_the_new_flags(qtbot, panel,  # noqa: ANN001
                                                                    monkeypatch) -> None:  # noqa: ANN001
    qtbot.keyClick(panel, Qt.Key.Key_1)
    seen: list = []
    _fake_find_issues(monkeypatch, panel.labels(), block=False, seen=seen)
    monkeypatch.setattr(panel.io, "ask_plan", lambda split: ScanPlan("custom", "Custom", 4, 2))
    panel.find_btn.click()
    assert panel.cancel_btn.isVisibleTo(panel) and not panel.find_btn.isEnabled()
    qtbot.waitUntil(lambda: not panel.io.busy and len(panel.session) == 7, timeout=20000)
    assert seen == [("train", 4, 2)]  # the dialog's folds and epochs reach find_issues
    s = panel.session
    assert s.method == "fake 2-fold" and len(s.flag(0)["top3"]) == 3
    assert "7 suspects found" in panel.status.text()
    assert not panel.cancel_btn.isVisibleTo(panel) and panel.find_btn.isEnabled()


def test_cancel_stops_find_suspects_keeps_the_review_and_says_what_resumes(  # noqa: ANN001
        qtbot, panel, monkeypatch) -> None:  # noqa: ANN001
    qtbot.keyClick(panel, Qt.Key.Key_1)
    ds = panel.state.dataset
    plan = ScanPlan("custom", "Custom", 2, 1)
    FoldCache(ds.root, proba_cache_name(ds, "train", 2, train_config(ds, "train", plan))).save(
        0, np.full((10, 49), 1 / 49, np.float32))  # as a real run leaves it after fold 1
    _fake_find_issues(monkeypatch, panel.labels(), block=True, seen=[])
    panel.io.find_suspects("train", plan)
    qtbot.waitUntil(lambda: panel.progress_text.text().startswith("fold"), timeout=10000)
    panel.cancel_btn.click()
    qtbot.waitUntil(lambda: not panel.io.busy, timeout=20000)
    assert "stopped; the review is unchanged" in panel.status.text()
    assert "1 of 2 folds are kept" in panel.status.text()
    assert len(panel.session) == 30 and panel.session.decision(0).decision == "keep"


def test_flags_of_other_data_are_refused_and_the_review_stays(qtbot, panel, messages) -> None:  # noqa: ANN001
    from k49desk.gui.review.io import NewFlags

    qtbot.keyClick(panel, Qt.Key.Key_4)
    flags = make_flags(panel.labels(), n=5, seed=4)
    flags.loc[2, "index"] = 10_000  # not an image of this split
    panel.sessions.replace(NewFlags("train", flags, done_text="should not be said"))
    assert [m[0] for m in messages] == ["Cannot load the flags"]
    assert "10000 is outside this split" in messages[0][1]
    s = panel.session
    assert len(s) == 30 and s.decision(0).decision == "unusable"
    assert "should not be said" not in panel.status.text()
