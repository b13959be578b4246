"""Demo data: official format, exact label noise with its truth file, determinism, framing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from k49desk.core.classes import N_CLASSES, OFFICIAL_CLASSES, official_classmap_csv
from k49desk.core.dataset import DEMO_TRUTH_FILE, OFFICIAL_FILES, open_dataset, read_npz_array
from k49desk.core.demo import font_files, generate_demo, render_char
from k49desk.core.errors import Cancelled, DataError


def _truth(root: Path) -> list[dict[str, str]]:
    with (root / DEMO_TRUTH_FILE).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _framing(images: np.ndarray) -> dict[str, np.ndarray]:
    ink = images > 127
    rows, cols = ink.any(2), ink.any(1)
    h = 28 - rows.argmax(1) - rows[:, ::-1].argmax(1)
    w = 28 - cols.argmax(1) - cols[:, ::-1].argmax(1)
    x = images.astype(np.float64)
    yy, xx = np.mgrid[:28, :28]
    s = x.sum((1, 2)) + 1e-9
    return {"big": np.maximum(h, w), "cy": (x * yy).sum((1, 2)) / s,
            "cx": (x * xx).sum((1, 2)) / s, "mean": x.mean((1, 2)), "ink": ink.mean((1, 2))}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_demo(tmp_path_factory.mktemp("demo") / "d", per_class=20, seed=3)


def test_demo_folder_is_official_format_with_requested_counts_and_opens_as_demo(
        demo_dir: Path) -> None:
    assert sorted(p.name for p in demo_dir.iterdir() if not p.name.startswith(".")) == sorted(
        [*OFFICIAL_FILES, DEMO_TRUTH_FILE])
    assert (demo_dir / "k49_classmap.csv").read_text(encoding="utf-8") == official_classmap_csv()
    ds = open_dataset(demo_dir)
    assert ds.is_demo
    train, test = ds.split("train"), ds.split("test")
    assert train.images.shape == (49 * 20, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (49 * 3, 28, 28)  # max(1, 20 // 6) per class
    assert test.counts().tolist() == [3] * N_CLASSES  # the test split carries no noise
    # labels are shuffled, not grouped by class
    assert (np.diff(train.labels.astype(int)) != 0).mean() > 0.8


def test_exactly_one_percent_of_train_labels_are_wrong_and_truth_file_lists_each(
        demo_dir: Path) -> None:
    given = read_npz_array(demo_dir / "k49-train-labels.npz")
    rows = _truth(demo_dir)
    assert len(rows) == round(0.01 * 49 * 20) == 10
    assert {r["split"] for r in rows} == {"train"}
    true = given.copy()
    for r in rows:
        i = int(r["index"])
        assert int(r["given_label"]) == given[i]
        assert int(r["true_label"]) != int(r["given_label"])
        true[i] = int(r["true_label"])
    assert len({int(r["index"]) for r in rows}) == 10
    # undoing the listed errors restores exactly 20 images of every class
    assert np.bincount(true, minlength=N_CLASSES).tolist() == [20] * N_CLASSES


def test_noise_count_rounds_and_zero_noise_writes_empty_truth(tmp_path: Path) -> None:
    d = generate_demo(tmp_path / "n", per_class=3, seed=1, noise_fraction=0.05)
    assert len(_truth(d)) == round(0.05 * 147) == 7
    d0 = generate_demo(tmp_path / "z", per_class=1, seed=1, noise_fraction=0.0)
    assert _truth(d0) == []
    assert open_dataset(d0).is_demo
    assert len(read_npz_array(d0 / "k49-test-labels.npz")) == 49  # max(1, 1 // 6) = 1


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    a = generate_demo(tmp_path / "a", per_class=4, seed=7)
    b = generate_demo(tmp_path / "b", per_class=4, seed=7)
    c = generate_demo(tmp_path / "c", per_class=4, seed=8)
    for f in (*OFFICIAL_FILES, DEMO_TRUTH_FILE):  # numpy's zip entries carry a fixed date
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert not np.array_equal(read_npz_array(a / "k49-train-imgs.npz"),
                              read_npz_array(c / "k49-train-imgs.npz"))


def test_parallel_drawing_gives_the_same_bytes_as_one_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import k49desk.core.demo as demo

    monkeypatch.setattr(demo, "BATCH", 256)  # several batches on tiny data
    monkeypatch.setattr(demo, "_worker_count", lambda: 1)
    one = generate_demo(tmp_path / "one", per_class=12, seed=5)
    monkeypatch.setattr(demo, "_worker_count", lambda: 3)
    three = generate_demo(tmp_path / "three", per_class=12, seed=5)
    for f in ("k49-train-imgs.npz", "k49-test-imgs.npz", "k49-train-labels.npz"):
        assert np.array_equal(read_npz_array(one / f), read_npz_array(three / f)), f
    import torch

    assert torch.get_num_threads() == 1  # restored for the caller (conftest sets 1)


def test_images_are_white_ink_on_black_centred_and_fill_the_frame_like_k49(demo_dir: Path) -> None:
    imgs = read_npz_array(demo_dir / "k49-train-imgs.npz")
    border = np.concatenate([imgs[:, :2].ravel(), imgs[:, -2:].ravel(),
                             imgs[:, :, :2].ravel(), imgs[:, :, -2:].ravel()])
    assert np.median(border) == 0  # black background
    assert imgs.max() == 255 and (imgs == 0).mean() > 0.5
    f = _framing(imgs)
    # K49: the ink box's larger side spans (nearly) the whole 28 px frame, centred
    assert np.median(f["big"]) >= 26
    assert (f["big"] >= 20).mean() > 0.95
    assert abs(np.median(f["cy"]) - 13.7) < 1.0 and abs(np.median(f["cx"]) - 13.3) < 1.0
    assert 30 < f["mean"].mean() < 70  # real K49 mean is about 47
    assert (f["ink"] > 0.015).all()  # no blank images (a thin し covers ~3%)


def test_images_differ_within_a_class(demo_dir: Path) -> None:
    ds = open_dataset(demo_dir, use_cache=False)
    imgs = ds.split("train").images[ds.split("train").labels == 5].astype(np.int16)
    diffs = [np.abs(imgs[i] - imgs[j]).mean() for i in range(5) for j in range(i + 1, 5)]
    assert min(diffs) > 5


@pytest.mark.realdata
def test_generated_framing_statistics_are_close_to_real_k49(demo_dir: Path, first100: Path) -> None:
    real = _framing(read_npz_array(first100 / "k49-test-imgs.npz"))
    gen = _framing(read_npz_array(demo_dir / "k49-train-imgs.npz"))
    assert abs(gen["mean"].mean() - real["mean"].mean()) < 10
    assert abs(gen["ink"].mean() - real["ink"].mean()) < 0.05
    assert abs(gen["big"].mean() - real["big"].mean()) < 1.5
    assert abs(gen["cy"].mean() - real["cy"].mean()) < 1.0
    assert abs(gen["cx"].mean() - real["cx"].mean()) < 1.0


def test_cancel_raises_and_leaves_an_empty_folder_empty(tmp_path: Path) -> None:
    calls: list[float] = []
    out = tmp_path / "cancelled"
    with pytest.raises(Cancelled):
        generate_demo(out, per_class=100, progress=lambda f, m, _p=None: calls.append(f),
                      should_stop=lambda: len(calls) >= 1)
    assert list(out.iterdir()) == []  # not even the hidden staging folder
    assert calls and calls[0] < 1.0


def test_cancelled_regeneration_keeps_the_previous_demo_data_intact(tmp_path: Path) -> None:
    d = generate_demo(tmp_path / "keep", per_class=3, seed=0)
    before = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    messages: list[str] = []
    # 2,940 train images = 2 batches: stop right after them, while the train file is being
    # written in the background
    with pytest.raises(Cancelled):
        generate_demo(d, per_class=60, seed=1, progress=lambda f, m, _p=None: messages.append(m),
                      should_stop=lambda: len(messages) >= 2)
    assert messages[-1].startswith("Generating train images (2,940/2,940)")
    after = {p.name: p.read_bytes() for p in d.iterdir()}
    assert after == before
    assert open_dataset(d, use_cache=False).split("train").images.shape[0] == 49 * 3


def test_progress_reaches_one_and_never_goes_back(tmp_path: Path) -> None:
    seen: list[float] = []
    generate_demo(tmp_path / "p", per_class=50, progress=lambda f, m, _p=None: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= 3


def test_refuses_to_overwrite_a_real_k49_folder(tiny_dir: Path) -> None:
    before = (tiny_dir / "k49-train-imgs.npz").read_bytes()
    with pytest.raises(DataError, match="not demo data"):
        generate_demo(tiny_dir, per_class=2)
    assert (tiny_dir / "k49-train-imgs.npz").read_bytes() == before


def test_regenerating_over_demo_data_replaces_it(tmp_path: Path) -> None:
    d = generate_demo(tmp_path / "r", per_class=2, seed=0)
    generate_demo(d, per_class=3, seed=1)
    assert len(read_npz_array(d / "k49-train-labels.npz")) == 49 * 3


def test_bad_arguments_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="per_class"):
        generate_demo(tmp_path / "x", per_class=0)
    with pytest.raises(DataError, match="noise_fraction"):
        generate_demo(tmp_path / "x", per_class=2, noise_fraction=1.5)


def test_every_bundled_font_draws_all_49_characters_filling_the_square() -> None:
    fonts = font_files()
    assert len(fonts) >= 4
    assert sum(p.stat().st_size for p in fonts) < 1_000_000
    for fi in range(len(fonts)):
        tofu = render_char("\U000f0000", 32, fi)  # private-use: .notdef box or nothing
        for c in OFFICIAL_CLASSES:
            img = render_char(c.char, 32, fi)
            assert img.dtype == np.uint8 and img.shape == (32, 32)
            ys, xs = np.nonzero(img > 64)
            assert ys.size > 20, (fonts[fi].name, c.char)
            assert max(np.ptp(ys), np.ptp(xs)) >= 26, (fonts[fi].name, c.char)
            assert not np.array_equal(img, tofu), (fonts[fi].name, c.char)


def test_cli_demo_data_writes_folder_and_says_it_is_generated(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from k49desk.cli import main

    d = tmp_path / "cli"
    assert main(["demo-data", "--data-dir", str(d), "--per-class", "6", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "GENERATED" in out and "294 train" in out and str(d) in out
    assert main(["demo-data", "--data-dir", str(d), "--per-class", "12", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"] == {"train": 588, "test": 98}
    assert info["wrong_labels"] == 6 and info["demo"] is True


def test_cli_demo_data_refuses_real_data_with_one_line_error(tiny_dir: Path, capsys) -> None:  # noqa: ANN001
    from k49desk.cli import main

    assert main(["demo-data", "--data-dir", str(tiny_dir), "--per-class", "2"]) == 2
    err = capsys.readouterr().err
    assert "not demo data" in err and "Traceback" not in err
