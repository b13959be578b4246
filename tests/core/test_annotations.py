"""The annotation store: bulk changes as one step, one undo history for Review and Gallery, tags,
notes, history, pre-labels, arrays kept in step with another process, exports."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from k49helpers import make_flags

from k49desk.core.annotations import DECISION_CODES, AnnotationStore
from k49desk.core.dataset import open_dataset
from k49desk.core.errors import ReviewError
from k49desk.core.review import ReviewSession

N = 6000
LABELS = (np.arange(N) * 5 % 49).astype(np.uint8)  # every class
HA = 25  # は


@pytest.fixture
def store(tmp_path: Path) -> AnnotationStore:
    s = AnnotationStore.open(tmp_path, "train", labels=LABELS)
    yield s
    s.close()


def other_connection(s: AnnotationStore) -> sqlite3.Connection:
    return sqlite3.connect(s.path)


@pytest.mark.parametrize("json_rows", [True, False])  # bulk rows as one JSON text, or bound
def test_annotation_bulk_relabel_is_one_step_and_one_transaction(store, json_rows) -> None:  # noqa: ANN001
    store._json = json_rows and store._json
    sel = np.random.default_rng(0).choice(N, 5000, replace=False)
    st = store.relabel(sel, 9)
    assert st.label == "relabel 5,000 images as こ" and len(st.images) == 5000
    codes, finals = store.decision_codes(), store.final_labels()
    assert codes.dtype == np.int8 and finals.dtype == np.int16 and len(codes) == N
    assert (codes[sel] == DECISION_CODES["relabel"]).all() and (finals[sel] == 9).all()
    rest = np.setdiff1d(np.arange(N), sel)
    assert (codes[rest] == 0).all() and (finals[rest] == -1).all()
    with other_connection(store) as c:  # committed, all under one step
        assert c.execute("SELECT count(*), count(DISTINCT step) FROM history").fetchone() == (
            5000, 1)
        assert c.execute("SELECT count(*) FROM annotations WHERE final_label = 9").fetchone()[
            0] == 5000
    assert store.undo_label() == st.label
    back = store.undo()
    assert back.label == st.label and len(back.images) == 5000
    assert (store.decision_codes() == 0).all() and (store.final_labels() == -1).all()
    assert store.redo_label() == st.label and not store.can_undo()
    store.redo()
    assert (store.decision_codes()[sel] == DECISION_CODES["relabel"]).all()
    with other_connection(store) as c:
        assert c.execute("SELECT count(*) FROM steps").fetchone()[0] == 3  # do, undo, redo
        assert c.execute("SELECT count(*) FROM annotations WHERE decision = 'relabel'"
                         ).fetchone()[0] == 5000
    mask = np.zeros(N, bool)  # a Gallery selection as a mask
    mask[[4, 2]] = True
    assert store.keep(mask).images.tolist() == [2, 4]
    assert store.decision_codes()[[2, 4]].tolist() == [DECISION_CODES["keep"]] * 2


def test_annotation_undo_is_one_history_for_review_and_gallery(tiny_dir) -> None:  # noqa: ANN001
    labels = open_dataset(tiny_dir).split("train").labels
    store = AnnotationStore.open(tiny_dir, "train", labels=labels)
    s = ReviewSession.open(tiny_dir, "train", make_flags(labels, n=10), labels=labels,
                           store=store)
    s.decide(0, "keep")
    img1 = s.flag(1)["index"]
    store.mark_unusable([img1, 3, 4])  # the Gallery, on a flagged image and two others
    d = s.decision(1)
    assert (d.decision, d.source) == ("unusable", "manual")  # shows on the Review card
    assert s.stats().counts["unusable"] == 1
    assert s.undo() == 1  # the Gallery step first: one history
    assert s.decision(1) is None and store.decision_codes()[3] == 0
    assert store.undo().images.tolist() == [s.flag(0)["index"]]
    assert s.decision(0) is None and store.undo() is None
    assert s.redo() == 0 and s.redo() == 1 and store.decision_codes()[4] > 0
    s.close()  # does not close a store it was given
    assert store.decision_codes()[3] == DECISION_CODES["unusable"]
    store.close()


def test_annotation_undo_keeps_what_another_process_changed_since(store) -> None:  # noqa: ANN001
    other = AnnotationStore.open(store.path.parent, "train")
    store.relabel([1, 2, 3], 5)
    other.mark_unusable([2])  # a later change of image 2, by another process
    store.undo()
    assert store.decision_codes()[[1, 2, 3]].tolist() == [0, DECISION_CODES["unusable"], 0]
    other.refresh_if_changed()
    assert other.decision_codes()[2] == DECISION_CODES["unusable"]
    assert other.decision_codes()[1] == 0
    other.close()


def test_annotation_arrays_follow_another_process_after_refresh(store, tiny_dir) -> None:  # noqa: ANN001
    other = AnnotationStore.open(store.path.parent, "train")
    assert not store.refresh_if_changed()
    other.relabel(np.arange(100, 200), 3)
    other.add_tag([5, 6], "smudge")
    assert store.decision_codes()[150] == 0  # not yet: memory is refreshed on request
    assert store.refresh_if_changed() and not store.refresh_if_changed()
    assert (store.final_labels()[100:200] == 3).all()
    assert store.tags() == {"smudge": 2} and store.tag_mask("smudge")[[5, 6]].all()
    other.remove_tag([5], "smudge")
    store.relabel([7], 1)  # an own write also brings in what others wrote before it
    assert store.tags() == {"smudge": 1}
    other.close()


def test_annotation_review_sees_new_flags_written_by_another_process(tiny_dir) -> None:  # noqa: ANN001
    labels = open_dataset(tiny_dir).split("train").labels
    a = ReviewSession.open(tiny_dir, "train", make_flags(labels, n=10), labels=labels)
    b = ReviewSession.open(tiny_dir, "train", make_flags(labels, n=4, seed=3), labels=labels)
    b.decide(1, "unusable")
    assert len(a) == 10 and a.refresh_if_changed() and len(a) == 4
    assert a.decision(1).decision == "unusable" and a.stats().decided == 1
    a.close()
    b.close()


def test_tags_notes_history_and_queries_are_sql(store) -> None:  # noqa: ANN001
    ha = np.flatnonzero(LABELS == HA)[:5]
    store.relabel(ha[:3], 4)
    store.keep(ha[3:])
    store.add_tag([10, 11, int(ha[0])], "faint")
    store.add_tag([11], "  two strokes ")  # stripped
    store.remove_tag([10], "faint")
    store.set_note([11], "looks like ke")
    assert store.tags() == {"faint": 2, "two strokes": 1}
    assert store.images_tagged("faint").tolist() == sorted([11, int(ha[0])])
    assert np.flatnonzero(store.tag_mask("faint")).tolist() == sorted([11, int(ha[0])])
    assert store.relabelled_from(HA).tolist() == ha[:3].tolist()  # "relabelled from は"
    assert store.find(tag="faint", decision="relabel").tolist() == [int(ha[0])]
    assert store.find(has_note=True).tolist() == [11]
    assert store.find(decision=("keep", "relabel"), given_label=HA).tolist() == ha.tolist()
    a = store.annotation(11)
    assert (a.decision, a.note, a.tags, a.given_label) == (
        None, "looks like ke", ("faint", "two strokes"), int(LABELS[11]))
    assert store.annotation(12) is None
    h = store.history(10)
    assert [(e.what, e.text) for e in h] == [("tag+", "faint"), ("tag-", "faint")]
    store.relabel([int(ha[0])], 6)
    h = store.history(int(ha[0]))
    assert [(e.what, e.decision, e.final_label, e.old_final_label) for e in h] == [
        ("decision", "relabel", 4, None), ("tag+", None, None, None),
        ("decision", "relabel", 6, 4)]
    assert h[0].label == "relabel 3 images as お" and h[0].source == "manual"
    store.undo()  # the history is append-only: the undo is one more entry
    assert store.history(int(ha[0]))[-1].reverts is not None
    store.undo()  # the note
    assert store.annotation(11).note == ""
    for bad in ("", "a;b", "x" * 65, "tab\there", 5):
        with pytest.raises(ValueError, match="tag"):
            store.add_tag([1], bad)


def test_annotation_prelabels_listed_least_confident_first_then_confirmed(store) -> None:  # noqa: ANN001
    store.prelabel([40, 41, 42, 43], [0.9, 0.35, 0.6, 0.2])
    imgs, conf = store.prelabels()
    assert imgs.tolist() == [43, 41, 42, 40] and conf.tolist() == [0.2, 0.35, 0.6, 0.9]
    assert store.annotation(43).source == "import" and not store.can_undo()
    store.keep([43])  # a person confirms the model's label
    store.relabel([41], 3)  # ... or corrects it
    assert store.prelabels()[0].tolist() == [42, 40]
    assert store.annotation(43).decision == "keep" and store.annotation(43).source == "manual"
    assert store.final_labels()[41] == 3 and store.final_labels()[42] == -1


def test_annotation_exports_include_manual_annotations_and_tags(tiny_dir, tmp_path) -> None:  # noqa: ANN001
    ds = open_dataset(tiny_dir)
    labels = ds.split("train").labels
    flags = make_flags(labels, n=5)
    s = ReviewSession.open(tiny_dir, "train", flags, labels=labels, model="m.pt")
    st = s.store
    s.decide(0, "accept")
    free = [i for i in range(len(labels)) if i not in set(flags["index"])][:3]
    st.relabel([free[0]], 7)
    st.mark_unusable([free[1]])
    st.add_tag([free[2], s.flag(0)["index"]], "check")
    st.add_tag([free[2]], "blur")
    st.set_note([free[2]], "faint, maybe つ")
    df = pd.read_csv(s.export_csv(tmp_path / "r.csv"), keep_default_na=False)
    assert len(df) == 5 + 3 and list(df["index"][5:]) == free
    assert df["tags"].iat[0] == "check" and df["source"].iat[0] == "review"
    manual = df.iloc[5:].set_index("index")
    assert manual.loc[free[0], ["issue", "decision", "final_label", "final_char", "source"]
                      ].tolist() == ["", "relabel", "7", "く", "manual"]
    assert manual.loc[free[0], "given_label"] == labels[free[0]]
    assert manual.loc[free[1], "final_label"] == str(labels[free[1]])  # unusable: label kept
    assert manual.loc[free[2], ["decision", "tags", "note"]].tolist() == [
        "", "blur;check", "faint, maybe つ"]
    rows = pd.read_json(s.export_json(tmp_path / "r.json"))
    assert rows["tags"].tolist()[-1] == "blur;check"
    out = tmp_path / "fixed"
    s.export_corrected(out, ds)
    new = open_dataset(out).split("train").labels
    assert new[free[0]] == 7 and new[s.flag(0)["index"]] == s.flag(0)["suggested_label"]
    assert pd.read_csv(out / "unusable-train.csv")["index"].tolist() == [free[1]]
    assert "blur;check" in (out / "review-train.csv").read_text()
    s.close()


def test_annotation_bad_input_is_refused_with_a_message(store, tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="unknown decision 'maybe'"):
        store.set_decisions([1], "maybe")
    with pytest.raises(ValueError, match="relabel needs a class 0..48"):
        store.set_decisions([1], "relabel")
    with pytest.raises(ValueError, match="relabel needs a class"):
        store.relabel([1], 49)
    with pytest.raises(IndexError, match=f"image {N} is outside 0..{N - 1}"):
        store.keep([0, N])
    with pytest.raises(ValueError, match="image indices"):
        store.keep([1.5])
    with pytest.raises(ValueError, match="takes no final label"):
        store.set_decisions([1], "keep", 3)
    assert not store.can_undo() and (store.decision_codes() == 0).all()
    store.relabel([5], 2)
    store.close()
    with pytest.raises(ReviewError, match="other data"):  # a split of another size
        AnnotationStore.open(tmp_path, "train", labels=LABELS[:3])
    other = LABELS.copy()
    other[5] = (other[5] + 1) % 49
    with pytest.raises(ReviewError, match="image 5 is labelled .* other data"):
        AnnotationStore.open(tmp_path, "train", labels=other)
    with pytest.raises(ReviewError, match="closed"):
        store.keep([1])
