"""`k49desk train / evaluate / predict` end to end on tiny data, with --json."""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
from k49helpers import class_pattern, make_k49_folder
from PIL import Image

from k49desk.cli import main
from k49desk.commands import train as train_cmd
from k49desk.core.dataset import open_dataset
from k49desk.core.model import load_checkpoint
from k49desk.core.training import evaluate


def _json(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model for the evaluate/predict tests, trained once through the core (fast)."""
    import torch

    from k49desk.core.model import ModelConfig
    from k49desk.core.training import TrainConfig, train_folder

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("trained")
    data = make_k49_folder(root / "tiny", n_train=12, n_test=4)
    out = root / "m.pt"
    cfg = TrainConfig(epochs=5, batch_size=32, lr=0.01, augment=False, device="cpu",
                      model=ModelConfig(channels=(8, 16, 32), dropout=0.0))
    train_folder(cfg, data, out)
    return out


def test_train_json_has_the_documented_keys(tiny_dir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tiny_dir.parent / "a.pt"
    rc = main(["train", "--data-dir", str(tiny_dir), "--epochs", "1", "--out", str(out),
               "--seed", "5", "--no-augment", "--imbalance", "sampler", "--val-fraction", "0.25",
               "--threads", "1", "--json"])
    assert rc == 0
    d = _json(capsys)
    assert {"model", "epochs", "elapsed_s", "val_balanced_accuracy",
            "test_balanced_accuracy"} <= set(d)
    assert d["model"] == str(out) and d["epochs"] == 1 and d["elapsed_s"] > 0
    assert 0 <= d["val_balanced_accuracy"] <= 1 and 0 <= d["test_balanced_accuracy"] <= 1
    lm = load_checkpoint(out)
    tc = lm.train_config
    assert (tc["seed"], tc["augment"], tc["imbalance"], tc["val_fraction"]) == (5, False,
                                                                                "sampler", 0.25)
    assert lm.metrics["data"]["n_val"] == 49 * 3  # 25% of 12 per class
    from k49desk.core.runs import load_curves

    curves = load_curves(out)  # the CLI's runs show their curves in Saved runs too
    assert curves.epochs_completed == 1 and len(curves.step_loss) > 0


def test_train_without_test_split_reports_null(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    d = make_k49_folder(tmp_path / "trainonly", n_train=6, splits=("train",))
    rc = main(["train", "--data-dir", str(d), "--epochs", "1", "--out", str(tmp_path / "t.pt"),
               "--json"])
    assert rc == 0
    assert _json(capsys)["test_balanced_accuracy"] is None


def test_train_default_out_goes_to_the_models_folder(tiny_dir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["train", "--data-dir", str(tiny_dir), "--epochs", "1", "--json"])
    assert rc == 0
    out = Path(_json(capsys)["model"])
    assert out.parent == Path(os.environ["K49DESK_MODELS_DIR"])
    assert out.name.startswith("k49desk-") and out.suffix == ".pt" and out.exists()


def test_train_on_missing_folder_is_one_error_line(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["train", "--data-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.pt")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "k49desk: error:" in err and "nothing: folder not found" in err


def test_ctrl_c_keeps_the_last_completed_epoch(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from k49desk.core import training

    # As at a terminal: a suite started in the background (`cmd &`) inherits SIGINT ignored,
    # and the CLI rightly leaves an ignored Ctrl-C alone.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    real = training.train_folder

    def with_ctrl_c(cfg, data_dir, out, *, progress, should_stop, **kw):  # noqa: ANN001, ANN202
        sent = []
        outer = progress

        def progress(f, text, ev):  # noqa: ANN001, ANN202
            if outer is not None:  # --json: no bar
                outer(f, text, ev)
            if ev.kind == "step" and ev.epoch == 2 and not sent:
                sent.append(1)
                os.kill(os.getpid(), signal.SIGINT)  # what the terminal sends on Ctrl-C

        return real(cfg, data_dir, out, progress=progress, should_stop=should_stop, **kw)

    monkeypatch.setattr(training, "train_folder", with_ctrl_c)
    out = tiny_dir.parent / "c.pt"
    rc = main(["train", "--data-dir", str(tiny_dir), "--epochs", "3", "--out", str(out),
               "--json"])
    assert rc == 130
    d = _json(capsys)
    assert d["epochs"] == 1 and d["stopped"] is True and d["test_balanced_accuracy"] is None
    lm = load_checkpoint(out)
    assert lm.metrics["epochs_completed"] == 1 and lm.metrics["stopped"] is True
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_ctrl_c_aborts() -> None:
    flag = threading.Event()
    with pytest.raises(KeyboardInterrupt), train_cmd.ctrl_c_requests_stop(flag):
        os.kill(os.getpid(), signal.SIGINT)
        assert flag.is_set()
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between bytecodes
            pass


def test_evaluate_json_and_confusion_csv(trained: Path, tiny_dir: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    cpath = tiny_dir.parent / "conf.csv"
    rc = main(["evaluate", "--model", str(trained), "--data-dir", str(tiny_dir),
               "--confusion-out", str(cpath), "--json"])
    assert rc == 0
    d = _json(capsys)
    ds = open_dataset(tiny_dir)
    r = evaluate(load_checkpoint(trained), ds.split("test").images, ds.split("test").labels)
    assert d["balanced_accuracy"] == pytest.approx(r.balanced_accuracy)
    assert d["accuracy"] == pytest.approx(r.accuracy) and d["n"] == 196
    assert len(d["per_class"]) == 49 and d["per_class"]["あ"] == pytest.approx(r.per_class[0])
    rows = list(csv.reader(cpath.open(encoding="utf-8")))
    assert rows[0][1:4] == ["あ", "い", "う"] and rows[1][0] == "あ" and len(rows) == 50
    m = np.array([[int(v) for v in row[1:]] for row in rows[1:]])
    assert np.array_equal(m, r.confusion)


def test_evaluate_marks_absent_classes_null(tmp_path: Path, trained: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    d = make_k49_folder(tmp_path / "three", n_train=2, n_test=5, classes=[4, 6, 12])
    rc = main(["evaluate", "--model", str(trained), "--data-dir", str(d), "--json"])
    assert rc == 0
    out = _json(capsys)
    assert out["n"] == 15 and out["classes_present"] == 3
    present = {k: v for k, v in out["per_class"].items() if v is not None}
    assert set(present) == {"お", "き", "す"}
    assert out["balanced_accuracy"] == pytest.approx(np.mean(list(present.values())))


def test_evaluate_text_output_names_the_metric(trained: Path, tiny_dir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--model", str(trained), "--data-dir", str(tiny_dir)]) == 0
    out = capsys.readouterr().out
    assert "balanced accuracy" in out and "あ a" in out


def test_evaluate_bad_checkpoint_is_one_error_line(tmp_path: Path, tiny_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    assert main(["evaluate", "--model", str(bad), "--data-dir", str(tiny_dir)]) == 2
    assert "bad.pt: not a k49desk checkpoint" in capsys.readouterr().err


def test_predict_json_for_images_of_any_size_and_polarity(
        trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pat = class_pattern(10)
    big = np.kron(pat, np.ones((5, 5), np.uint8))  # 140x140
    files = [tmp_path / "white_on_black.png", tmp_path / "black_on_white.jpg"]
    Image.fromarray(big).save(files[0])
    Image.fromarray(255 - big).convert("RGB").save(files[1], quality=95)
    rc = main(["predict", "--model", str(trained), "--top", "3", "--json", *map(str, files)])
    assert rc == 0
    out = _json(capsys)
    assert out["model"] == str(trained)  # one object, the results in a list inside
    d = out["results"]
    assert [r["file"] for r in d] == [str(f) for f in files]
    for r in d:
        assert r["too_little_ink"] is False and len(r["top"]) == 3
        assert {"label", "char", "p"} <= set(r["top"][0])
        ps = [t["p"] for t in r["top"]]
        assert ps == sorted(ps, reverse=True) and 0 <= ps[-1] and ps[0] <= 1
    # both polarities are the same character once preprocessed
    assert d[0]["top"][0]["label"] == d[1]["top"][0]["label"]


def test_predict_missing_image_names_it(trained: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["predict", "--model", str(trained), str(tmp_path / "ghost.png")])
    assert rc == 2
    assert "ghost.png" in capsys.readouterr().err


def test_train_text_output_shows_progress_and_where_it_saved(
        tiny_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tiny_dir.parent / "p.pt"
    assert main(["train", "--data-dir", str(tiny_dir), "--epochs", "1", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert "loss" in cap.err and "acc" in cap.err and "ETA" in cap.err
    assert "epoch 1/1:" in cap.err and "val balanced acc" in cap.err
    assert f"Saved {out}" in cap.out and "test              balanced accuracy" in cap.out


def test_asking_for_an_absent_gpu_is_a_clear_error(tiny_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    rc = main(["train", "--data-dir", str(tiny_dir), "--device", "cuda",
               "--out", str(tiny_dir.parent / "g.pt")])
    assert rc == 2
    assert "--device cuda: no CUDA GPU is available" in capsys.readouterr().err
    assert not (tiny_dir.parent / "g.pt").exists()
