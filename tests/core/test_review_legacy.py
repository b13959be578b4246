"""Old JSON/JSONL review sessions are imported once into the annotation store, damage is handled
line by line, a newer or wrongly typed file never ends in a traceback or a silent restart."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from k49helpers import make_flags

from k49desk.core.annotations import AnnotationStore, SessionCorrupt, SessionTooNew
from k49desk.core.dataset import open_dataset
from k49desk.core.errors import ReviewError
from k49desk.core.review import Filters, ReviewSession
from k49desk.core.review_flags import normalize_flags

OLD_COLUMNS = ("split", "index", "issue", "given_label", "given_char", "suggested_label",
               "suggested_char", "quality")
SNAP = "0123456789abcdef"


@pytest.fixture
def root(tiny_dir: Path) -> Path:
    return tiny_dir


def write_legacy(root: Path, decisions: list, journal: list[str] | None = None, *,
                 version: object = 1, n: int = 10, **extra: object) -> tuple[Path, object]:
    """A session file as k49desk wrote it before the annotation store."""
    labels = open_dataset(root).split("train").labels
    fl = normalize_flags(make_flags(labels, n=n), "train")
    cols = {c: [None if isinstance(v, float) and math.isnan(v) else v
                for v in fl[c].tolist()] for c in OLD_COLUMNS}
    d = {"format": "k49desk-review", "version": version, "split": "train",
         "data_dir": str(root), "model": "m.pt", "method": "2-fold",
         "created": "2024-05-01T10:00:00.000+00:00", "flags": cols, "top3": None,
         "exemplars": {"3": [1, 2]}, "updated": "2024-05-01T11:00:00.000+00:00",
         "snapshot_id": SNAP, "position": 1, "filters": {"issue": "label"},
         "decisions": decisions, **extra}
    path = root / "k49desk-review-train.json"
    path.write_text(json.dumps(d))
    if journal is not None:
        (root / "k49desk-review-train.journal.jsonl").write_text("".join(journal))
    return path, fl


def line(**e: object) -> str:
    return json.dumps({"id": SNAP, **e}) + "\n"


def test_legacy_session_is_imported_once_and_kept_as_backup(root) -> None:  # noqa: ANN001
    at = "2024-05-01T10:30:00.000+00:00"
    path, fl = write_legacy(root, [[0, "keep", None, at], [1, "accept", None, at]], [
        line(pos=3, d=["relabel", 7, at], position=4),
        json.dumps({"id": "older-snapshot", "pos": 5, "d": ["keep", None, at]}) + "\n",
        line(position=4, filters={"issue": None, "given": None, "suggested": None,
                                  "undecided_only": True}),
        line(pos=1, d=None, position=4),  # undecided again
        line(pos=1, d=["accept", None, at], position=4),
        '{"id": "' + SNAP + '", "pos": 6, "d": ["unusa',  # torn: never acknowledged
    ])
    snap_bytes = path.read_bytes()
    journal_bytes = (root / "k49desk-review-train.journal.jsonl").read_bytes()
    s = ReviewSession.open(root, "train")
    assert {p: (d.decision, d.final_label) for p, d in s.decisions.items()} == {
        0: ("keep", None), 1: ("accept", int(fl["suggested_label"].iat[1])), 3: ("relabel", 7)}
    assert s.decision(0).decided_at == at and s.decision(0).source == "review"
    assert s.position == 4 and s.filters == Filters(undecided_only=True)
    assert (s.model, s.method, s.exemplars) == ("m.pt", "2-fold", {3: [1, 2]})
    assert "imported k49desk-review-train.json (3 decisions)" in s.note
    assert s.store.import_warnings == []
    # Kept, byte for byte, under a name that is never imported again.
    assert not path.exists()
    [backup] = root.glob("k49desk-review-train.json.imported-*")
    assert backup.read_bytes() == snap_bytes
    [jbackup] = root.glob("k49desk-review-train.journal.jsonl.imported-*")
    assert jbackup.read_bytes() == journal_bytes
    s.decide(2, "unusable")
    s.close()
    again = ReviewSession.open(root, "train")
    assert set(again.decisions) == {0, 1, 2, 3} and "imported" not in again.note


def test_legacy_damaged_middle_journal_line_imports_the_rest_and_reports_it(root) -> None:  # noqa: ANN001
    at = "2024-05-01T10:30:00.000+00:00"
    write_legacy(root, [], [line(pos=0, d=["keep", None, at]), "garbage\n",
                            line(pos=2, d=["unusable", None, at]), "[1, 2]\n",
                            line(pos=99, d=["keep", None, at])])
    s = ReviewSession.open(root, "train")
    assert {p: d.decision for p, d in s.decisions.items()} == {0: "keep", 2: "unusable"}
    w = s.store.import_warnings
    assert len(w) == 3 and "line 2 is damaged" in w[0] and "line 4" in w[1]
    assert "card 99" in w[2]
    assert "journal.jsonl line 2 is damaged" in s.note
    assert list(root.glob("k49desk-review-train.journal.jsonl.imported-*"))  # kept as is


@pytest.mark.parametrize("text", [
    "[1, 2]", '"a string"', "null", "42",
    '{"format": "k49desk-review", "version": 1, "split": "train", "flags": [1, 2]}',
    '{"format": "k49desk-review", "version": 1, "split": "train", "flags": {"index": [1]}}',
    '{"format": "k49desk-review", "version": "1", "split": "train"}',
])
def test_legacy_session_of_the_wrong_shape_is_corrupt_never_a_traceback(tmp_path, text) -> None:  # noqa: ANN001
    root = tmp_path  # no data needed: the session file alone
    (root / "k49desk-review-train.json").write_text(text)
    with pytest.raises(SessionCorrupt, match="k49desk-review-train.json: the review session is "
                                             "damaged") as ei:
        ReviewSession.open(root, "train")
    assert ei.value.backup.read_text() == text  # kept byte for byte
    s = ReviewSession.open(root, "train")  # then a new, empty session
    assert len(s) == 0 and s.decisions == {}


def test_legacy_decisions_of_the_wrong_shape_are_corrupt(root) -> None:  # noqa: ANN001
    for bad in ([[999, "keep", None, ""]], [[0, "maybe", None, ""]], {"0": "keep"},
                [[0, "relabel", 49, ""]], [["0", "keep", None, ""]]):
        write_legacy(root, bad)
        with pytest.raises(SessionCorrupt, match="damaged"):
            ReviewSession.open(root, "train")
        (root / "k49desk-annotations-train.sqlite").unlink()


def test_legacy_garbage_is_backed_up_and_a_new_session_starts(tmp_path) -> None:  # noqa: ANN001
    root = tmp_path
    (root / "k49desk-review-train.json").write_text('{"format": "k49desk-review", "vers')
    with pytest.raises(SessionCorrupt, match="renamed to k49desk-review-train.json.corrupt-"):
        ReviewSession.open(root, "train")
    assert len(list(root.glob("k49desk-review-train.json.corrupt-*"))) == 1
    assert len(ReviewSession.open(root, "train")) == 0


def test_legacy_session_of_a_newer_version_is_refused_and_left_untouched(root) -> None:  # noqa: ANN001
    path, _ = write_legacy(root, [[0, "keep", None, ""]], version=2)
    before = path.read_bytes()
    for _ in range(2):  # refused every time, never renamed, no database created
        with pytest.raises(SessionTooNew, match="newer k49desk .*version 2.*left untouched"):
            ReviewSession.open(root, "train")
        assert path.read_bytes() == before
    # Not SessionCorrupt: the GUI must not start a new session over it.
    assert issubclass(SessionTooNew, ReviewError) and not issubclass(SessionTooNew,
                                                                     SessionCorrupt)
    assert sorted(p.name for p in root.glob("k49desk-*")) == ["k49desk-review-train.json"]


def test_legacy_import_finishes_after_a_crash_and_never_runs_twice(root) -> None:  # noqa: ANN001
    path, _ = write_legacy(root, [[0, "keep", None, "t"]])
    data = path.read_bytes()
    db = root / "k49desk-annotations-train.sqlite"
    AnnotationStore.open_path(db, "train").close()  # created, then killed before the import
    s = ReviewSession.open(root, "train")
    assert s.decision(0).decision == "keep" and not path.exists()
    s.undo()  # not undoable: the import is not a step of this session
    assert s.decision(0).decision == "keep"
    s.decide(0, "unusable")
    s.close()
    path.write_bytes(data)  # imported, then killed before the rename: same bytes again
    s = ReviewSession.open(root, "train")
    assert s.decision(0).decision == "unusable" and not path.exists()
    assert len(list(root.glob("k49desk-review-train.json.imported-*"))) == 2
