"""core.samples: Draw > Add to my samples appends to a K49-format folder, atomically."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from k49helpers import class_pattern, make_k49_folder

from k49desk.core.atomic import save_npz
from k49desk.core.classes import OFFICIAL_CLASSES, load_classmap
from k49desk.core.dataset import open_dataset
from k49desk.core.errors import DataError
from k49desk.core.samples import (
    SOURCES_FILE,
    append_samples,
    default_samples_dir,
    read_sources,
)


def _img(c: int) -> np.ndarray:
    return class_pattern(c)


def test_samples_folder_is_created_on_first_use_then_appended(tmp_path: Path) -> None:
    folder = tmp_path / "my-samples"
    r1 = append_samples(folder, _img(3), 3)
    assert r1.created and (r1.first_index, r1.n_added, r1.n_total) == (0, 1, 1)
    r2 = append_samples(folder, np.stack([_img(7), _img(8)]), [7, 8], files=["a.png", "b.png"])
    assert not r2.created and r2.indices.tolist() == [1, 2] and r2.n_total == 3
    ds = open_dataset(folder)
    assert ds.split_names == ["train"]
    assert ds.split("train").labels.tolist() == [3, 7, 8]
    assert np.array_equal(ds.split("train").images[2], _img(8))
    assert load_classmap(folder / "k49_classmap.csv") == OFFICIAL_CLASSES
    rows = read_sources(folder)
    assert [(f, s) for f, s, _ in rows] == [("", "draw"), ("a.png", "draw"), ("b.png", "draw")]
    assert [p.name for p in tmp_path.iterdir()] == ["my-samples"]  # no staging left over


def test_samples_default_folder_follows_the_data_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K49DESK_DATA_DIR", str(tmp_path / "d"))
    assert default_samples_dir() == tmp_path / "d" / "my-samples"
    assert append_samples(None, _img(1), 1).folder == tmp_path / "d" / "my-samples"


@pytest.mark.parametrize("images, labels, match", [
    (np.zeros((28, 27), np.uint8), 0, "28x28"),
    (np.zeros((28, 28), np.float32), 0, "uint8"),
    (np.zeros((2, 28, 28), np.uint8), [1], "2 images but 1 labels"),
    (np.zeros((28, 28), np.uint8), 49, "classes 0..48"),
    (np.zeros((28, 28), np.uint8), -1, "classes 0..48"),
    (np.zeros((28, 28), np.uint8), 1.5, "whole numbers"),
])
def test_samples_refuse_bad_shapes_and_labels(tmp_path: Path, images: np.ndarray,
                                              labels: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        append_samples(tmp_path / "s", images, labels)  # type: ignore[arg-type]
    assert not (tmp_path / "s").exists()


def test_samples_bounded_per_append(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from k49desk.core import samples

    monkeypatch.setattr(samples, "MAX_APPEND", 3)
    with pytest.raises(ValueError, match="at most 3 images"):
        append_samples(tmp_path / "s", np.zeros((4, 28, 28), np.uint8), [0] * 4)
    monkeypatch.setattr(samples, "MAX_FOLDER_IMAGES", 4)
    append_samples(tmp_path / "s", np.zeros((3, 28, 28), np.uint8), [0] * 3)
    with pytest.raises(DataError, match="limit of 4"):
        append_samples(tmp_path / "s", np.zeros((2, 28, 28), np.uint8), [0] * 2)
    assert len(open_dataset(tmp_path / "s").split("train")) == 3


def test_samples_never_append_to_a_plain_k49_folder(tmp_path: Path) -> None:
    k49 = make_k49_folder(tmp_path / "k49", n_train=1, n_test=1, classes=range(2))
    before = {p.name: p.read_bytes() for p in k49.iterdir()}
    with pytest.raises(DataError, match="not a folder of samples"):
        append_samples(k49, _img(0), 0)
    assert {p.name: p.read_bytes() for p in k49.iterdir()} == before


def test_samples_an_interrupted_append_is_trimmed_by_the_next(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    append_samples(folder, np.stack([_img(1), _img(2)]), [1, 2])
    # a crash after the images (and sources) were written, before the labels: the commit
    save_npz(folder / "k49-train-imgs.npz", np.stack([_img(1), _img(2), _img(9)]))
    with (folder / SOURCES_FILE).open("a", encoding="utf-8") as f:
        f.write("2,lost.png,draw,\n")
    r = append_samples(folder, _img(4), 4)
    assert "1 images of an interrupted append" in r.repaired
    ds = open_dataset(folder, use_cache=False)
    assert ds.split("train").labels.tolist() == [1, 2, 4]
    assert np.array_equal(ds.split("train").images[2], _img(4))
    assert [f for f, _, _ in read_sources(folder)] == ["", "", ""]


def test_samples_appends_from_several_threads_lose_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    append_samples(folder, _img(0), 0)  # created first: creation itself is not locked
    errors: list[BaseException] = []

    def worker(c: int) -> None:
        try:
            for _ in range(4):
                append_samples(folder, _img(c), c, source=f"t{c}")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(c,)) for c in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    labels = open_dataset(folder, use_cache=False).split("train").labels
    assert sorted(labels.tolist()) == [0] + [1] * 4 + [2] * 4 + [3] * 4
    assert [s for _, s, _ in read_sources(folder)] == ["draw"] + [f"t{c}" for c in labels[1:]]
