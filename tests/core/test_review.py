"""Review session over the annotation store: durable decisions (kill -9), undo/redo, filters,
flags CSVs, exports. Damaged and legacy files: test_review_legacy.py, test_hostile_session.py."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from k49helpers import make_flags

from k49desk.core import review as rv
from k49desk.core.annotations import location as store  # dir_writable lives there
from k49desk.core.dataset import open_dataset
from k49desk.core.errors import ReviewError
from k49desk.core.review import Filters, ReviewSession


@pytest.fixture
def ds(tiny_dir: Path):  # noqa: ANN201
    return open_dataset(tiny_dir)


@pytest.fixture
def session(ds) -> ReviewSession:  # noqa: ANN001
    labels = ds.split("train").labels
    return ReviewSession.open(ds.root, "train", make_flags(labels), labels=labels, model="m.pt")


def test_session_database_sits_beside_the_data_and_originals_are_untouched(ds, session) -> None:  # noqa: ANN001
    before = {p.name: p.stat().st_mtime_ns for p in Path(ds.root).glob("*.npz")}
    session.decide(0, "accept")
    assert session.path == Path(ds.root) / "k49desk-annotations-train.sqlite"
    img = session.flag(0)["index"]
    with sqlite3.connect(session.path) as other:  # what another program sees, committed
        row = other.execute("SELECT decision, final_label, source FROM annotations a JOIN"
                            " steps s ON s.id = a.step WHERE image = ?", (img,)).fetchone()
    assert row == ("accept", session.flag(0)["suggested_label"], "review")
    assert {p.name: p.stat().st_mtime_ns for p in Path(ds.root).glob("*.npz")} == before


def test_decisions_survive_kill_9_of_the_writer(ds) -> None:  # noqa: ANN001
    labels = ds.split("train").labels
    ReviewSession.open(ds.root, "train", make_flags(labels, n=200))
    code = (
        "import sys, time\n"
        "from k49desk.core.review import ReviewSession\n"
        f"s = ReviewSession.open({str(ds.root)!r}, 'train')\n"
        "for i in range(200):\n"
        "    s.decide(i, ('keep', 'accept', 'unusable', 'unsure')[i % 4])\n"
        "    print(i, flush=True)\n"
        "    if i >= 11: time.sleep(0.05)\n"  # slow down so the kill lands mid-session
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if int(line) == 11:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    s = ReviewSession.open(ds.root, "train")
    # Every decision acknowledged (printed) before the kill is on disk, none is damaged.
    assert len(s.decisions) >= 12
    for i in range(len(s.decisions)):
        assert s.decisions[i].decision == ("keep", "accept", "unusable", "unsure")[i % 4]
    assert not list(Path(ds.root).glob(".k49desk-review-train.json.*.tmp"))


def test_undo_and_redo_restore_decisions_on_disk(ds, session) -> None:  # noqa: ANN001
    session.decide(3, "keep")
    session.decide(3, "relabel", 7)
    session.decide(5, "unusable")
    assert session.undo() == 5 and session.undo() == 3
    assert session.decision(3).decision == "keep" and session.decision(5) is None
    assert ReviewSession.open(ds.root, "train").decision(3).decision == "keep"
    assert session.redo() == 3
    assert session.final_label(3) == 7
    session.decide(1, "accept")  # a new decision clears the redo history
    assert session.redo() is None
    assert session.undo() == 1 and session.undo() == 3 and session.undo() == 3
    assert session.undo() is None and session.decisions == {}


def test_final_labels_per_decision(session) -> None:  # noqa: ANN001
    f0 = session.flag(0)
    session.decide(0, "accept")
    session.decide(1, "keep")
    session.decide(2, "relabel", 11)
    session.decide(3, "unsure")
    session.decide(4, "accept")  # a blank flag has no suggestion: accepting keeps the label
    assert session.final_label(0) == f0["suggested_label"] == (f0["given_label"] + 1) % 49
    assert session.final_label(1) == session.flag(1)["given_label"]
    assert session.final_label(2) == 11
    assert session.final_label(3) is None and session.final_label(9) is None
    assert session.final_label(4) == session.flag(4)["given_label"]
    with pytest.raises(ValueError, match="relabel needs a class"):
        session.decide(5, "relabel")
    with pytest.raises(ValueError, match="unknown decision"):
        session.decide(5, "maybe")


def test_stats_count_confirmed_errors_and_precision_without_unsure(session) -> None:  # noqa: ANN001
    for pos, d in enumerate(["accept", "relabel", "unusable", "keep", "keep", "unsure", "unsure"]):
        session.decide(pos, d, 3 if d == "relabel" else None)
    st = session.stats()
    assert (st.total, st.decided, st.unsure, st.confirmed_errors) == (40, 5, 2, 3)
    assert st.precision == pytest.approx(3 / 5)


def test_filters_select_by_issue_class_and_open_cards(session) -> None:  # noqa: ANN001
    fl = session.flags
    session.set_filters(Filters(issue="blank"))
    assert list(session.visible()) == list(np.flatnonzero(fl["issue"] == "blank"))
    g = int(fl["given_label"].iat[0])
    session.set_filters(Filters(given=g))
    assert list(session.visible()) == list(np.flatnonzero(fl["given_label"] == g))
    s = int(fl["suggested_label"].iat[0])
    session.set_filters(Filters(suggested=s))
    assert 0 in session.visible()
    assert set(fl["suggested_label"].iloc[session.visible()]) == {s}
    session.set_filters(Filters(undecided_only=True))
    session.decide(0, "keep")
    session.decide(1, "unsure")  # unsure cards stay open
    assert 0 not in session.visible() and 1 in session.visible()
    assert session.next_open(0) == 1 and session.next_open(1) == 2
    assert session.step(2, -1) == 1 and session.step(0, -1) == 1  # 0 is hidden now


def test_reopen_resumes_position_filters_and_decisions(ds, session) -> None:  # noqa: ANN001
    session.decide(2, "unusable")
    session.set_filters(Filters(issue="label", undecided_only=True))
    session.set_position(6)
    s = ReviewSession.open(ds.root, "train")
    assert s.position == 6
    assert s.filters == Filters(issue="label", undecided_only=True)
    assert s.decision(2).decision == "unusable"
    assert s.model == "m.pt" and len(s) == 40


def test_new_flags_keep_decisions_on_the_same_image_and_issue(ds, session) -> None:  # noqa: ANN001
    labels = ds.split("train").labels
    session.decide(0, "accept")
    session.decide(1, "keep")
    flags = make_flags(labels).iloc[[1, 0, 2]]  # reordered subset of the same flags
    s = ReviewSession.open(ds.root, "train", flags, labels=labels)
    assert len(s) == 3
    assert s.decision(0).decision == "keep" and s.decision(1).decision == "accept"
    assert s.position == 2  # first open card


def test_read_only_data_folder_falls_back_to_user_data_dir(ds, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    root = Path(ds.root)
    monkeypatch.setattr(store, "dir_writable", lambda d: Path(d) != root)
    labels = ds.split("train").labels
    s = ReviewSession.open(root, "train", make_flags(labels))
    s.decide(0, "keep")
    assert str(s.path).startswith(str(tmp_path / "xdg")) and "read-only" in s.note
    assert not (root / "k49desk-annotations-train.sqlite").exists()
    assert ReviewSession.open(root, "train").decision(0).decision == "keep"
    s.close()
    monkeypatch.setattr(store, "dir_writable", lambda d: True)  # the folder became writable
    back = ReviewSession.open(root, "train")
    assert back.path == root / "k49desk-annotations-train.sqlite" and back.note == ""
    assert back.decision(0).decision == "keep" and back.path.exists()
    assert not s.path.exists() and list(s.path.parent.glob("*.sqlite.moved-*"))


class _FailingCommit:
    """A connection whose COMMIT fails like a full disk (sqlite3.Connection is not patchable)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, *a: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *a)

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)


def test_failed_save_rolls_back_the_decision(session) -> None:  # noqa: ANN001
    real = session.store._conn
    session.store._conn = _FailingCommit(real)
    with pytest.raises(ReviewError, match="k49desk-annotations-train.sqlite: the disk is full"):
        session.decide(0, "accept")
    assert session.decision(0) is None and session.stats().decided == 0
    assert not session.store.can_undo()
    session.store._conn = real
    session.decide(1, "keep")
    assert set(ReviewSession.open(session.data_dir, "train").decisions) == {1}


def test_flags_of_other_data_are_refused(ds) -> None:  # noqa: ANN001
    labels = ds.split("train").labels
    flags = make_flags(labels)
    flags.loc[0, "given_label"] = (int(flags.loc[0, "given_label"]) + 1) % 49
    with pytest.raises(ReviewError, match="belong to other data"):
        ReviewSession.open(ds.root, "train", flags, labels=labels)
    flags = make_flags(labels)
    flags.loc[0, "index"] = len(labels) + 5
    with pytest.raises(ReviewError, match="outside this split"):
        ReviewSession.open(ds.root, "train", flags, labels=labels)


def test_flags_csv_from_find_issues_loads_and_missing_column_is_named(ds, tmp_path) -> None:  # noqa: ANN001
    labels = ds.split("train").labels
    csv = tmp_path / "flags.csv"
    f = make_flags(labels)
    f["given_char"] = "?"
    f.to_csv(csv, index=False)
    got = rv.read_flags_csv(csv, "train")
    assert list(got.columns) == list(rv.FLAG_COLUMNS) and len(got) == 40
    assert got["given_char"].iat[0] == ds.classes[int(labels[f["index"].iat[0]])].char
    f.drop(columns=["issue"]).to_csv(csv, index=False)
    with pytest.raises(ReviewError, match="flags.csv: missing column.*issue"):
        rv.read_flags_csv(csv, "train")


def test_flags_csv_with_bad_numbers_is_refused_naming_file_and_line(ds, tmp_path) -> None:  # noqa: ANN001
    csv = tmp_path / "flags.csv"
    csv.write_text("index,issue,given_label\n3,label,4\n1.5,label,2\n")
    with pytest.raises(ReviewError, match=r"flags.csv: line 3: index '1.5' is not a whole"):
        rv.read_flags_csv(csv, "train")
    csv.write_text("index,issue,given_label\n3,label," + "7" * 400 + "\n")
    with pytest.raises(ReviewError, match=r"flags.csv: line 2: given_label '7777.*0..48"):
        rv.read_flags_csv(csv, "train")
    csv.write_text("index,issue,given_label,suggested_label\n3,label,4,x\n")
    with pytest.raises(ReviewError, match="line 2: suggested_label 'x'"):
        rv.read_flags_csv(csv, "train")
    csv.write_text("index,issue,given_label\n3,,4\n")
    with pytest.raises(ReviewError, match="line 2: issue is empty"):
        rv.read_flags_csv(csv, "train")
    csv.write_text("index,issue,given_label,suggested_label,quality\n3.0,label,4,,0.5\n")
    got = rv.read_flags_csv(csv, "train")  # 3.0 is a whole number, an empty suggestion is -1
    assert (got["index"].iat[0], got["suggested_label"].iat[0]) == (3, -1)


def test_train_test_duplicate_flags_carry_their_partner(ds, tmp_path) -> None:  # noqa: ANN001
    labels = ds.split("train").labels
    flags = make_flags(labels, n=6)
    flags.loc[2, "issue"] = "train_test_duplicate"
    i = int(flags.loc[2, "index"])
    pairs = pd.DataFrame({"index": [i, i], "issue": "train_test_duplicate",
                          "other_split": "test", "other_index": [17, 4],
                          "similarity": [0.97, 1.0]})  # the most similar partner is kept
    s = ReviewSession.open(ds.root, "train", flags, labels=labels, pairs=pairs)
    assert (s.flag(2)["partner_split"], s.flag(2)["partner_index"]) == ("test", 4)
    assert (s.flag(0)["partner_split"], s.flag(0)["partner_index"]) == ("", -1)
    again = ReviewSession.open(ds.root, "train")  # stored in the flags table
    assert again.flag(2)["partner_index"] == 4
    df = pd.read_csv(again.export_csv(tmp_path / "r.csv"), keep_default_na=False)
    assert (df["partner_split"].iat[2], df["partner_index"].iat[2]) == ("test", "4")
    assert df["partner_index"].iat[0] == ""
    # A flags CSV with the partner columns (find-issues output plus pairs) reads them back.
    again.flags.to_csv(tmp_path / "flags.csv", index=False)
    back = rv.read_flags_csv(tmp_path / "flags.csv", "train")
    assert back["partner_index"].tolist() == again.flags["partner_index"].tolist()


def test_proba_gives_top3_and_most_confident_exemplars(ds) -> None:  # noqa: ANN001
    labels = ds.split("train").labels
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(49), len(labels)).astype(np.float32)
    flags = make_flags(labels, n=10)
    s = ReviewSession.open(ds.root, "train", flags, proba=proba, labels=labels)
    top = s.flag(0)["top3"]
    row = proba[int(flags["index"].iat[0])]
    assert [c for c, _ in top] == list(np.argsort(-row)[:3])
    assert top[0][1] == pytest.approx(row.max(), abs=1e-4)
    ex = s.exemplars[5]
    cand = [i for i in np.flatnonzero(labels == 5) if i not in set(flags["index"])]
    assert ex == sorted(cand, key=lambda i: -proba[i, 5])[:8]
    assert ReviewSession.open(ds.root, "train").exemplars[5] == ex  # saved with the session


def test_export_csv_and_json_have_the_agreed_columns(session, tmp_path) -> None:  # noqa: ANN001
    session.decide(0, "accept")
    session.decide(2, "relabel", 9)
    session.decide(3, "unusable")
    df = pd.read_csv(session.export_csv(tmp_path / "r.csv"), keep_default_na=False)
    assert tuple(df.columns) == rv.EXPORT_COLUMNS and len(df) == 40
    f0 = session.flag(0)
    assert df["decision"].iat[0] == "accept"
    assert int(df["final_label"].iat[0]) == f0["suggested_label"]
    assert df["final_char"].iat[2] == "こ" and df["model"].iat[2] == "m.pt"
    assert df["decision"].iat[1] == "" and df["final_label"].iat[1] == ""
    rows = json.loads((session.export_json(tmp_path / "r.json")).read_text())
    assert tuple(rows[0]) == rv.EXPORT_COLUMNS
    assert rows[2]["final_label"] == 9 and rows[1]["final_label"] is None
    assert rows[4]["suggested_label"] is None  # blank flag: no suggestion


def test_corrected_folder_opens_as_k49_data_and_carries_decisions(ds, session, tmp_path) -> None:  # noqa: ANN001
    labels = np.array(ds.split("train").labels)
    session.decide(0, "accept")
    session.decide(1, "relabel", 9)
    session.decide(2, "unusable")
    session.decide(3, "keep")
    session.decide(6, "unsure")
    out = tmp_path / "corrected"
    session.export_corrected(out, ds)
    ds2 = open_dataset(out)
    new = ds2.split("train").labels
    idx = session.flags["index"].to_numpy()
    assert new.dtype == np.uint8
    assert new[idx[0]] == session.flag(0)["suggested_label"] and new[idx[1]] == 9
    changed = np.flatnonzero(new != labels)
    assert sorted(changed) == sorted(idx[[0, 1]])
    np.testing.assert_array_equal(ds2.split("train").images, ds.split("train").images)
    np.testing.assert_array_equal(ds2.split("test").labels, ds.split("test").labels)
    unusable = pd.read_csv(out / "unusable-train.csv")
    assert list(unusable["index"]) == [idx[2]]
    cmap = (Path(ds.root) / "k49_classmap.csv").read_bytes()
    assert (out / "k49_classmap.csv").read_bytes() == cmap
    with np.load(out / "k49-train-labels.npz", allow_pickle=False) as z:
        assert z.files == ["arr_0"]
    np.testing.assert_array_equal(open_dataset(ds.root).split("train").labels, labels)


def test_export_to_unwritable_target_raises_and_keeps_session(ds, session, tmp_path) -> None:  # noqa: ANN001
    session.decide(0, "accept")
    before = session.path.read_bytes()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ReviewError, match="a-file is a file, not a folder"):
        session.export_corrected(blocker / "out", ds)
    with pytest.raises(ReviewError, match="r.csv: .*a-file is a file, not a folder"):
        session.export_csv(blocker / "r.csv")
    with pytest.raises(ReviewError, match="r.csv: the folder .*missing does not exist"):
        session.export_csv(tmp_path / "missing" / "r.csv")
    with pytest.raises(ReviewError, match="is a folder; give a file name"):
        session.export_json(tmp_path)
    if Path("/proc/version").exists():  # a file in a folder where nothing can be created
        with pytest.raises(ReviewError, match="cannot be created in /proc"):
            session.export_csv("/proc/version")
    with pytest.raises(ReviewError, match="data folder itself"):
        session.export_corrected(ds.root, ds)
    assert session.path.read_bytes() == before
    assert ReviewSession.open(ds.root, "train").decision(0).decision == "accept"


def test_find_issues_report_opens_as_a_session(ds, tmp_path) -> None:  # noqa: ANN001
    issues = pytest.importorskip("k49desk.core.issues")
    # folds=0: the blank/duplicate checks only, so no model is trained in the test suite; the
    # probability path (top 3, exemplars) is covered with synthetic proba above.
    rep = issues.find_issues(ds, "train", folds=0, use_cache=False)
    labels = ds.split("train").labels
    s = ReviewSession.open(ds.root, "train", rep.flags, proba=rep.proba, labels=labels,
                           model="checks", method=rep.method)
    assert len(s) == len(rep.flags) > 0
    assert set(s.flags["issue"]) <= set(issues.ISSUE_TYPES)
    s.decide(0, "unusable")
    # The CSV the find-issues command writes loads back as the same flags.
    issues.write_flags_csv(rep.flags, tmp_path / "flags.csv")
    again = rv.read_flags_csv(tmp_path / "flags.csv", "train")
    assert list(again["index"]) == list(s.flags["index"])
    assert list(again["suggested_label"]) == list(s.flags["suggested_label"])
    assert list(again["issue"]) == list(s.flags["issue"])


def test_frozen_copy_keeps_the_decisions_of_the_moment(session) -> None:  # noqa: ANN001
    import threading

    session.decide(0, "accept")
    frozen = session.frozen()
    session.decide(1, "unusable")
    session.undo()
    session.undo()
    got: list = []  # read on another thread, like the export (a snapshot of the file)
    t = threading.Thread(target=lambda: got.append(frozen.export_frame()))
    t.start()
    t.join()
    assert got[0]["decision"].iat[0] == "accept" and got[0]["decision"].iat[1] == ""
    assert list(frozen.decisions) == [0] and session.decisions == {}
    assert frozen.reader is None  # the read transaction ends once the table is read
