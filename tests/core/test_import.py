"""`k49desk import` / core.importer: files -> K49 folder with pre-labels -> opens in the app."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from k49helpers import make_k49_folder
from PIL import Image

from k49desk.cli import main
from k49desk.core import importer, inference
from k49desk.core.annotations import AnnotationStore
from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.dataset import open_dataset
from k49desk.core.demo import render_char
from k49desk.core.errors import Cancelled, DataError
from k49desk.core.importer import LITTLE_INK_TAG, import_images
from k49desk.core.samples import SOURCES_FILE, read_sources

CHARS = (0, 5, 10, 25, 30, 47)  # あ か さ は ま ん


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Characters as image files of different sizes, polarities and formats."""
    d = tmp_path_factory.mktemp("photos")
    for k, c in enumerate(CHARS):
        ink = render_char(OFFICIAL_CLASSES[c].char, 60 + 40 * k, k % 2)
        if k % 2:  # black ink on white paper, like a scan
            img = Image.fromarray(255 - ink)
        else:  # white ink on black, as RGB
            img = Image.fromarray(ink).convert("RGB")
        img.save(d / (f"c{k}.jpg" if k == 3 else f"c{k}.png"), quality=95)
    return d


@pytest.fixture(scope="module")
def model():  # noqa: ANN201
    pytest.importorskip("torch")
    from k49desk.core.model import load_checkpoint
    from k49desk.paths import DEFAULT_MODEL

    return load_checkpoint(DEFAULT_MODEL)


def _files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.suffix in (".png", ".jpg"))


def test_import_round_trip_labels_equal_predicts_top1(
        photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "imported"
    assert main(["import", str(photos), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    files = _files(photos)
    assert summary["imported"] == len(files) and summary["failed"] == []
    # the folder opens like any K49 folder
    ds = open_dataset(out)
    assert ds.split_names == ["train"] and ds.classes == OFFICIAL_CLASSES
    labels = ds.split("train").labels
    # predict's top-1, through the CLI, for the same files
    assert main(["predict", "--json", *map(str, files)]) == 0
    top1 = [r["top"][0]["label"] for r in json.loads(capsys.readouterr().out)["results"]]
    assert labels.tolist() == top1
    assert sum(t == c for t, c in zip(top1, CHARS, strict=True)) >= 4  # the model reads them
    # the images are exactly predict's preprocessing
    for i, f in enumerate(files):
        want = inference.preprocess(inference.load_image_file(f))
        assert np.array_equal(ds.split("train").images[i], want)
    # sources.csv keeps the file names, index by index
    with (out / SOURCES_FILE).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["index"] for r in rows] == [str(i) for i in range(len(files))]
    assert [Path(r["file"]).name for r in rows] == [f.name for f in files]
    # every image is an unconfirmed pre-label; least confident first
    with AnnotationStore.open(out, "train", labels=labels) as store:
        imgs, conf = store.prelabels()
        assert sorted(imgs.tolist()) == list(range(len(files)))
        assert np.all(np.diff(conf) >= 0)
        a = store.annotation(int(imgs[0]))
        assert (a.decision, a.source) == ("prelabel", "import")
    by_index = dict(zip(imgs.tolist(), conf.tolist(), strict=True))
    least = summary["least_confident"][0]
    assert least["index"] == int(imgs[0])
    assert least["confidence"] == pytest.approx(by_index[least["index"]], abs=1e-6)


def test_import_reports_unreadable_files_and_imports_the_rest(
        photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = _files(photos)[:2]
    out = tmp_path / "out"
    code = main(["import", str(good[0]), str(bad), str(tmp_path / "missing.png"),
                 str(good[1]), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert "broken.png" in captured.err and "missing.png" in captured.err
    assert "2 files failed" in captured.out
    assert len(open_dataset(out).split("train")) == 2
    assert [Path(f).name for f, _, _ in read_sources(out)] == [good[0].name, good[1].name]


def test_import_with_label_marks_images_confirmed_without_a_model(
        photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "ka"
    assert main(["import", str(photos), "--out", str(out), "--label", "ka"]) == 0
    labels = open_dataset(out).split("train").labels
    assert set(labels.tolist()) == {5}
    with AnnotationStore.open(out, "train", labels=labels) as store:
        assert store.prelabels()[0].size == 0
        assert store.annotation(0).decision == "keep"
        assert store.annotation(0).source == "manual"
    assert main(["import", str(photos), "--out", str(tmp_path / "x"), "--label", "zz"]) == 2


def test_import_appends_to_an_earlier_import_and_skips_known_files(
        photos: Path, tmp_path: Path, model: object) -> None:
    files = _files(photos)
    out = tmp_path / "grow"
    first = import_images(files[:3], out, model=model)
    assert first.created and first.first_index == 0
    labels = open_dataset(out, use_cache=False).split("train").labels
    with AnnotationStore.open(out, "train", labels=labels) as store:  # a person confirms one
        store.keep([1])
    again = import_images([photos], out, model=model)
    assert not again.created
    assert again.first_index == 3 and again.n_imported == len(files) - 3
    assert len(again.already_imported) == 3 and again.n_total == len(files)
    labels = open_dataset(out, use_cache=False).split("train").labels
    with AnnotationStore.open(out, "train", labels=labels) as store:
        assert store.annotation(1).decision == "keep"  # the confirmation survived
        assert sorted(store.prelabels()[0].tolist()) == [0, *range(2, len(files))]
    assert [Path(f).name for f, _, _ in read_sources(out)] == [f.name for f in files]
    nothing = import_images([photos], out, model=model)
    assert not nothing.written and nothing.n_total == len(files)


def test_import_refuses_a_folder_that_is_not_an_earlier_import(
        photos: Path, tmp_path: Path) -> None:
    k49 = make_k49_folder(tmp_path / "k49", n_train=1, n_test=1, classes=range(3))
    before = {p.name: p.stat().st_mtime_ns for p in k49.iterdir()}
    with pytest.raises(DataError, match="pick a new or empty folder"):
        import_images([photos], k49, label=0)
    assert {p.name: p.stat().st_mtime_ns for p in k49.iterdir()} == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        import_images([photos], tmp_path / "file", label=0)
    with pytest.raises(ValueError, match="not both"):
        import_images([photos], tmp_path / "n", label=0, model=object())  # type: ignore


def test_import_stopped_midway_writes_nothing(photos: Path, tmp_path: Path) -> None:
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(Cancelled):
        import_images([photos], tmp_path / "stopped", label=1, should_stop=stop)
    assert list(tmp_path.iterdir()) == []  # no folder, no staging left


def test_import_keeps_but_tags_images_with_too_little_ink(photos: Path, tmp_path: Path) -> None:
    blank = tmp_path / "in" / "blank.png"
    blank.parent.mkdir()
    Image.fromarray(np.full((40, 30), 250, np.uint8)).save(blank)
    files = [_files(photos)[0], blank]
    res = import_images(files, tmp_path / "out", label=2)
    assert [Path(f).name for f in res.little_ink] == ["blank.png"]
    assert res.n_imported == 2
    labels = open_dataset(tmp_path / "out").split("train").labels
    with AnnotationStore.open(tmp_path / "out", "train", labels=labels) as store:
        assert store.images_tagged(LITTLE_INK_TAG).tolist() == [1]


def test_import_lists_folders_sorted_skips_hidden_and_counts_duplicates(tmp_path: Path) -> None:
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    for name in ("b.PNG", "a.jpeg", ".hidden.png", "notes.txt", "sub/c.png"):
        (d / name).write_bytes(b"")
    files, problems, dups = importer.find_image_files([d, d / "a.jpeg"])
    assert [f.name for f in files] == ["a.jpeg", "b.PNG"] and dups == 1 and problems == []
    files, _, _ = importer.find_image_files([d], recursive=True)
    assert [f.name for f in files] == ["a.jpeg", "b.PNG", "c.png"]
    _, problems, _ = importer.find_image_files([d / "sub" / "none", tmp_path / "empty"])
    assert [m for _, m in problems] == ["file not found", "file not found"]
    with pytest.raises(DataError, match="more than 2 image files"):
        importer.find_image_files([d], recursive=True, limit=2)


def test_import_odd_file_names_and_a_model_with_other_classes(photos: Path,
                                                             tmp_path: Path) -> None:
    import shutil
    from types import SimpleNamespace

    src = tmp_path / "in"
    src.mkdir()
    odd = os.fsdecode(b"caf\xe9, \"quoted\".png")  # not UTF-8, with a comma and quotes
    shutil.copy(_files(photos)[0], src / odd)
    res = import_images([src], tmp_path / "out", label=4)
    assert res.n_imported == 1
    (name, source, _), = read_sources(tmp_path / "out")
    assert name.endswith('caf\\xe9, "quoted".png') and source == "import"
    other = SimpleNamespace(classes=OFFICIAL_CLASSES[:3], path=None)
    with pytest.raises(DataError, match="differ from the model's"):
        import_images([src], tmp_path / "out", model=other)  # type: ignore[arg-type]
