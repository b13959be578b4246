"""CLI: `similar`, `map` and `predict --data-dir` on a tiny folder with a tiny trained model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from k49helpers import class_pattern, make_k49_folder
from PIL import Image

from k49desk.cli import main
from k49desk.commands.predict_data import CSV_COLUMNS
from k49desk.core.dataset import open_dataset


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder, model trained on its train split), made once for the module."""
    import torch

    from k49desk.core.model import ModelConfig
    from k49desk.core.training import TrainConfig, train_folder

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("simmap")
    data = make_k49_folder(root / "tiny", n_train=12, n_test=4)
    out = root / "m.pt"
    cfg = TrainConfig(epochs=5, batch_size=32, lr=0.01, augment=False, device="cpu",
                      model=ModelConfig(channels=(8, 16, 32), dropout=0.0))
    train_folder(cfg, data, out)
    return data, out


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_similar_lists_k_neighbours_never_the_query(setup: tuple[Path, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    data, model = setup
    labels = open_dataset(data).split("test").labels
    assert main(["similar", "--data-dir", str(data), "--split", "test", "--index", "3",
                 "--k", "7", "--model", str(model), "--json"]) == 0
    out = _json(capsys)
    assert out["query"] == {"split": "test", "index": 3, "label": int(labels[3]),
                            "char": out["query"]["char"]}
    nb = out["neighbors"]
    assert len(nb) == 7
    assert not any(n["split"] == "test" and n["index"] == 3 for n in nb)
    d = [n["distance"] for n in nb]
    assert d == sorted(d) and all(0 <= x <= 2 for x in d)
    assert {n["split"] for n in nb} <= {"train", "test"}
    assert sum(n["label"] == labels[3] for n in nb) >= 6  # a trained model groups its class


def test_similar_text_output_and_errors(setup: tuple[Path, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    data, model = setup
    assert main(["similar", "--data-dir", str(data), "--split", "train", "--index", "0",
                 "--model", str(model)]) == 0
    text = capsys.readouterr().out
    assert "10 nearest to train #0" in text and len(text.strip().splitlines()) == 12
    for argv, msg in ((["--split", "train", "--index", "9999"], "outside the train split"),
                      (["--split", "train"], "--split and --index go together"),
                      (["--split", "train", "--index", "0", "--k", "0"], "at least 1"),
                      ([], "either --split and --index, or --image")):
        assert main(["similar", "--data-dir", str(data), "--model", str(model), *argv]) == 2
        assert msg in capsys.readouterr().err


def test_similar_to_an_image_file(setup: tuple[Path, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    data, model = setup
    png = tmp_path / "q.png"
    big = np.kron(255 - class_pattern(20), np.ones((4, 4), np.uint8))  # dark ink on paper
    Image.fromarray(big).save(png)
    assert main(["similar", "--data-dir", str(data), "--image", str(png), "--k", "5",
                 "--model", str(model), "--json"]) == 0
    out = _json(capsys)
    assert out["query"] == {"image": str(png)} and len(out["neighbors"]) == 5


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_map_csv_has_one_row_per_image(setup: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str], method: str) -> None:
    data, model = setup
    ds = open_dataset(data)
    out = tmp_path / "map.csv"
    split = ["--split", "test"] if method == "tsne" else []
    assert main(["map", "--data-dir", str(data), "--model", str(model), "--method", method,
                 *split, "--out", str(out), "--json"]) == 0
    summary = _json(capsys)
    df = pd.read_csv(out)
    assert list(df.columns) == ["split", "index", "x", "y", "label"]
    names = ["test"] if split else ["train", "test"]
    assert len(df) == sum(len(ds.split(n)) for n in names) == summary["n"]
    for n in names:
        part = df[df["split"] == n]
        assert (part["index"].to_numpy() == np.arange(len(ds.split(n)))).all()
        assert (part["label"].to_numpy() == ds.split(n).labels).all()
    assert np.isfinite(df[["x", "y"]].to_numpy()).all()
    assert summary["method"] == method and not summary["cached"]
    if method == "tsne":
        # 4 test images per class: at most 3 of the 10 nearest can share the label
        assert summary["label_agreement_10nn"] > 0.2
        assert main(["map", "--data-dir", str(data), "--model", str(model), *split,
                     "--out", str(out), "--json"]) == 0
        assert _json(capsys)["cached"]


def test_predict_dataset_mode_writes_the_documented_csv(
        setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, model = setup
    ds = open_dataset(data)
    out = tmp_path / "p.csv"
    assert main(["predict", "--model", str(model), "--data-dir", str(data), "--split", "test",
                 "--out", str(out), "--json"]) == 0
    summary = _json(capsys)
    df = pd.read_csv(out, keep_default_na=False)
    assert tuple(df.columns) == CSV_COLUMNS
    assert len(df) == len(ds.split("test")) == summary["n"]
    assert (df["label"].to_numpy() == ds.split("test").labels).all()
    chars = [c.char for c in ds.classes]
    assert (df["label_char"] == [chars[i] for i in df["label"]]).all()
    top = [[(int(a), float(b)) for a, b in (pair.split(":") for pair in s.split())]
           for s in df["top5"]]
    assert all(len(t) == 5 for t in top)
    assert all(t[0][0] == p for t, p in zip(top, df["predicted"], strict=True))
    assert all(abs(t[0][1] - c) < 1e-3 for t, c in zip(top, df["confidence"], strict=True))
    assert all(sum(b for _, b in t) <= 1.0005 for t in top)
    assert (df["loss"] >= 0).all()
    acc = summary["splits"]["test"]["accuracy"]
    assert acc == pytest.approx((df["label"] == df["predicted"]).mean(), abs=1e-6)
    assert acc > 0.8  # trained on the same patterns


def test_predict_modes_do_not_mix(setup: tuple[Path, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    data, model = setup
    assert main(["predict", "--model", str(model), "--data-dir", str(data)]) == 2
    assert "needs --out" in capsys.readouterr().err
    assert main(["predict", "--model", str(model)]) == 2
    assert "give IMAGE files" in capsys.readouterr().err
    assert main(["predict", "x.png", "--model", str(model), "--data-dir", str(data),
                 "--out", str(tmp_path / "p.csv")]) == 2
    assert "not both" in capsys.readouterr().err


def test_find_issues_with_a_model_flags_planted_outliers(
        setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from k49desk.core.dataset import write_split

    data, model = setup
    work = make_k49_folder(tmp_path / "d", n_train=12, n_test=4)
    tr = open_dataset(work).split("train")
    images = np.array(tr.images)
    planted = [7, 200, 400]
    images[planted] = np.random.default_rng(3).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    write_split(work, "train", images, np.asarray(tr.labels))
    out = tmp_path / "flags.csv"
    assert main(["find-issues", "--data-dir", str(work), "--folds", "0", "--model", str(model),
                 "--out", str(out), "--json"]) == 0
    summary = _json(capsys)
    assert "outliers" in summary["method"] and summary["counts"]["outlier"] >= 3
    flags = pd.read_csv(out)
    outl = flags[flags["issue"] == "outlier"]
    assert set(planted) <= set(outl["index"].head(5))  # ranked first among outliers
    assert ((outl["quality"] >= 0) & (outl["quality"] <= 1)).all()
    assert main(["find-issues", "--data-dir", str(work), "--folds", "0", "--model",
                 str(tmp_path / "nope.pt"), "--out", str(out)]) == 2
    assert "nope.pt" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["similar", "--split", "train", "--index", "0"],
    ["map", "--out", "{tmp}/m.csv"],
    ["predict", "--out", "{tmp}/p.csv"],
])
def test_device_on_every_heavy_command(argv: list[str], setup: tuple[Path, Path],
                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    """--device cpu computes what the default does; a GPU that is absent is one line, rc 2."""
    import torch

    data, model = setup
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    base = [*argv, "--data-dir", str(data), "--model", str(model)]
    assert main([*base, "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
    if not torch.cuda.is_available():
        assert main([*base, "--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert err.strip().splitlines() == ["k49desk: error: --device cuda: no CUDA GPU is "
                                            "available on this machine"]
