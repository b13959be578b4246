"""core.merge / `k49desk merge`: folders combined with their decisions applied, provenance."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from k49helpers import make_k49_folder

from k49desk.cli import main
from k49desk.core.annotations import AnnotationStore
from k49desk.core.dataset import DEMO_TRUTH_FILE, open_dataset
from k49desk.core.errors import Cancelled, DataError
from k49desk.core.merge import PROVENANCE_COLUMNS, PROVENANCE_FILE, merge_folders
from k49desk.core.review_store import db_filename
from k49desk.core.samples import append_samples


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    a = make_k49_folder(tmp_path / "a", n_train=2, n_test=1, classes=range(10), seed=1)
    b = append_samples(tmp_path / "b", np.full((3, 28, 28), 7, np.uint8), [40, 41, 42]).folder
    return a, b


def _provenance(folder: Path) -> list[dict[str, str]]:
    with (folder / PROVENANCE_FILE).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_merge_applies_decisions_and_writes_provenance(two: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    a, b = two
    ta = open_dataset(a).split("train")
    with AnnotationStore.open(a, "train", labels=ta.labels) as s:
        s.relabel([1, 2], 30)
        s.mark_unusable([0, 5])
        s.prelabel([3], [0.25])
        s.keep([4])
        s.set_decisions([6], "unsure")
        s.set_decisions([7], "accept", final_labels=int(ta.labels[7]))
    tb_labels = open_dataset(b).split("train").labels
    with AnnotationStore.open(b, "train", labels=tb_labels) as s:
        s.prelabel([0, 2], [0.9, 0.1])
    out = tmp_path / "c"
    res = merge_folders([a, b], out)

    ds = open_dataset(out)
    kept = [i for i in range(len(ta)) if i not in (0, 5)]
    want = ta.labels.astype(int).copy()
    want[[1, 2]] = 30
    assert ds.split("train").labels.tolist() == [*want[kept].tolist(), 40, 41, 42]
    assert np.array_equal(ds.split("train").images[: len(kept)], ta.images[kept])
    assert np.array_equal(ds.split("test").labels, open_dataset(a).split("test").labels)
    assert res.totals == {"train": len(kept) + 3, "test": len(open_dataset(a).split("test"))}

    ca = next(c for c in res.counts if c.source == str(a) and c.split == "train")
    assert (ca.images, ca.merged, ca.relabelled, ca.dropped_unusable, ca.unconfirmed,
            ca.unsure, ca.annotated) == (len(ta), len(kept), 2, 2, 1, 1, True)
    assert res.unconfirmed == 3

    prov = _provenance(out)
    assert tuple(prov[0]) == PROVENANCE_COLUMNS
    train = [r for r in prov if r["split"] == "train"]
    assert [int(r["index"]) for r in train] == list(range(len(kept) + 3))
    assert [int(r["source_index"]) for r in train] == kept + [0, 1, 2]
    assert {r["source"] for r in train} == {str(a.resolve()), str(b.resolve())}
    r1 = train[kept.index(1)]
    assert (r1["given_label"], r1["label"], r1["decision"]) == (str(ta.labels[1]), "30",
                                                                 "relabel")
    # unconfirmed pre-labels are still unconfirmed in the output, same confidence
    with AnnotationStore.open(out, "train", labels=ds.split("train").labels) as s:
        imgs, conf = s.prelabels()
    n = len(kept)
    assert imgs.tolist() == [n + 2, kept.index(3), n]
    assert conf.tolist() == pytest.approx([0.1, 0.25, 0.9])


def test_merge_drop_unconfirmed_and_leaves_sources_untouched(two: tuple[Path, Path],
                                                             tmp_path: Path) -> None:
    a, b = two
    with AnnotationStore.open(b, "train", labels=[40, 41, 42]) as s:
        s.prelabel([1], [0.5])
    res = merge_folders([b, a], tmp_path / "c", drop_unconfirmed=True)
    assert open_dataset(tmp_path / "c").split("train").labels[:2].tolist() == [40, 42]
    assert not (a / db_filename("train")).exists()  # no store created in a source
    assert not (a / ".k49desk-cache").exists()
    assert not (tmp_path / "c" / db_filename("train")).exists()
    assert res.counts[0].unconfirmed == 1 and res.counts[0].merged == 2


def test_merge_refuses_different_class_maps_and_bad_targets(two: tuple[Path, Path],
                                                            tmp_path: Path) -> None:
    a, b = two
    odd = make_k49_folder(tmp_path / "odd", n_train=1, n_test=1, classes=range(3))
    cm = odd / "k49_classmap.csv"
    cm.write_text(cm.read_text(encoding="utf-8").replace("U+3042,あ", "U+3041,ぁ"),
                  encoding="utf-8")
    with pytest.raises(DataError, match="class map"):
        merge_folders([a, odd], tmp_path / "x")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        merge_folders([a, b], tmp_path / "busy")
    with pytest.raises(DataError, match="one of the folders"):
        merge_folders([a, b], b)
    with pytest.raises(DataError, match="twice"):
        merge_folders([a, a], tmp_path / "y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "busy", "odd"]


def test_merge_stopped_writes_nothing(two: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(Cancelled):
        merge_folders(list(two), tmp_path / "c", should_stop=lambda: True)
    assert not (tmp_path / "c").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_merge_keeps_demo_truth_at_the_new_indices(two: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    a, b = two
    labels = open_dataset(a).split("train").labels
    (a / DEMO_TRUTH_FILE).write_text(
        "split,index,given_label,true_label\n"
        f"train,3,{labels[3]},{(labels[3] + 1) % 49}\n"
        f"train,4,{labels[4]},{(labels[4] + 1) % 49}\n"
        f"train,6,{labels[6]},{(labels[6] + 1) % 49}\n", encoding="utf-8")
    with AnnotationStore.open(a, "train", labels=labels) as s:
        s.mark_unusable([0])  # everything after moves down by one
        s.relabel([4], (int(labels[4]) + 1) % 49)  # fixed: no longer a wrong label
    res = merge_folders([b, a], tmp_path / "c")
    assert res.is_demo and open_dataset(tmp_path / "c").is_demo
    rows = (tmp_path / "c" / DEMO_TRUTH_FILE).read_text(encoding="utf-8").splitlines()[1:]
    assert rows == [f"train,{3 + 3 - 1},{labels[3]},{(labels[3] + 1) % 49}",
                    f"train,{3 + 6 - 1},{labels[6]},{(labels[6] + 1) % 49}"]


def test_merge_cli_json(two: tuple[Path, Path], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["merge", *map(str, two), "--out", str(tmp_path / "c"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["splits"] == {"train": 23, "test": 10}
    assert [s["merged"] for s in out["sources"]] == [20, 3, 10]
    assert main(["merge", *map(str, two), "--out", str(tmp_path / "c")]) == 2
    assert "not empty" in capsys.readouterr().err
