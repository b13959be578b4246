"""Hostile checkpoints: refused with a message naming the file, before any model is built
from their claims (memory-sensitive ones run in a child process under a 1 GiB limit)."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hostile_helpers import GIB, run_cli

from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.errors import CheckpointError
from k49desk.core.model import ModelConfig, build_model, load_checkpoint, save_checkpoint

SMALL = ModelConfig(channels=(4, 8, 8), dropout=0.0)


@pytest.fixture
def good(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    p = tmp_path / "good.pt"
    save_checkpoint(p, build_model(SMALL), SMALL, OFFICIAL_CLASSES,
                    metrics={"val_balanced_accuracy": 0.5}, trained_on="tests",
                    train_config={"epochs": 1})
    return p


def _variant(good: Path, name: str, change: Callable[[dict], None]) -> Path:
    ck = torch.load(good, weights_only=True)
    change(ck)
    out = good.with_name(name)
    torch.save(ck, out)
    return out


def _refused(path: Path, match: str) -> str:
    with pytest.raises(CheckpointError, match=match) as ei:
        load_checkpoint(path)
    msg = str(ei.value)
    assert msg.startswith(path.name) or msg.startswith(str(path)), msg
    assert "\n" not in msg
    return msg


# ---- configs that ask for gigabytes: refused before anything is built ------------------
@pytest.mark.parametrize(("field", "value", "match"), [
    ("hidden", 2_000_000, "config hidden = 2000000 is outside 0..4096"),
])
def test_config_claiming_gigabytes_is_refused_in_bounded_memory(
        good: Path, tmp_path: Path, field: str, value: object, match: str) -> None:
    bad = _variant(good, f"{field}.pt", lambda c: c["config"].update({field: value}))
    assert bad.stat().st_size < 1_000_000
    from PIL import Image

    Image.new("L", (28, 28)).save(tmp_path / "x.png")
    r = run_cli(["predict", "--model", str(bad), str(tmp_path / "x.png")], data_limit=GIB)
    assert r.rc == 2 and f"{bad.name}: bad model config ({match})" in r.error_line
    assert r.maxrss_mb < 700  # torch itself is ~300 MB; the claimed layer was never built


@pytest.mark.parametrize(("field", "value", "match"), [
    ("dropout", float("nan"), "config dropout = nan is not finite"),
    ("dropout", 5.0, "config dropout = 5.0 is outside"),
    ("channels", [100_000, 8, 8], "config channels = 100000 is outside 1..512"),
    ("convs_per_stage", 100_000, "config convs_per_stage = 100000 is outside 1..8"),
    ("pool", True, "config pool = True is not a number"),
    ("pool", "3", "config pool = '3' is not a number"),
    ("channels", [], "config channels has 0 entries"),
    ("channels", [8] * 50, "config channels has 50 entries"),
    ("channels", [float("inf")], "cannot convert float infinity"),
    ("surprise", 1, "unknown model config keys: surprise"),
])
def test_config_fields_out_of_range_or_of_the_wrong_type(good: Path, field: str,
                                                        value: object, match: str) -> None:
    _refused(_variant(good, "cfg.pt", lambda c: c["config"].update({field: value})),
             "bad model config .*" + match)


def test_config_that_is_not_a_dict(good: Path) -> None:
    _refused(_variant(good, "cfg.pt", lambda c: c.update(config="abc")),
             r"bad model config \(a str, not a dict\)")


def test_weights_that_disagree_with_the_config_are_caught_before_building(good: Path) -> None:
    bad = _variant(good, "shape.pt", lambda c: c["config"].update(channels=[4, 8, 16]))
    _refused(bad, r"state_dict mismatch: .* has shape \(8, 8, 3, 3\), the config implies "
                  r"\(16, 8, 3, 3\)")


def test_state_dict_entry_that_is_not_a_tensor(good: Path) -> None:
    bad = _variant(good, "nt.pt", lambda c: c["model"].update({"features.0.weight": [1, 2]}))
    _refused(bad, "state_dict entry 'features.0.weight' is not a tensor")


# ---- NaN/inf weights: refused, not printed as nan% -----------------------------------------
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused(good: Path, value: float) -> None:
    def poison(c: dict) -> None:
        c["model"]["head.3.weight"][0, 0] = value

    _refused(_variant(good, "nan.pt", poison),
             r"weights hold NaN or infinite values \(head.3.weight\)")


def test_predict_with_nan_weights_says_so_instead_of_nan_percent(
        good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    from k49desk.cli import main

    bad = _variant(good, "nan.pt", lambda c: next(iter(c["model"].values())).fill_(float("nan")))
    Image.new("L", (28, 28)).save(tmp_path / "x.png")
    assert main(["predict", "--model", str(bad), str(tmp_path / "x.png")]) == 2
    out, err = capsys.readouterr()
    assert "nan%" not in out + err and "nan.pt: weights hold NaN" in err


# ---- metadata and class entries: types checked --------------------------------------------
@pytest.mark.parametrize(("key", "value", "match"), [
    ("metrics", 5, "'metrics' must be a dict, found int"),
    ("train_config", "abc", "'train_config' must be a dict, found str"),
    ("trained_on", 5, "'trained_on' must be a string, found int"),
    ("created", ["x"], "'created' must be a string, found list"),
    ("version", 99, "version 99 is newer than this k49desk reads"),
    ("version", "one", "version 'one' is not a version"),
    ("format", "other", "format 'other' is not k49desk-checkpoint"),
])
def test_metadata_of_the_wrong_type(good: Path, key: str, value: object, match: str) -> None:
    _refused(_variant(good, "meta.pt", lambda c: c.update({key: value})), match)


def test_metadata_that_explodes_when_walked_is_refused_quickly(good: Path) -> None:
    def bomb(c: dict) -> None:
        x: list = [1]
        for _ in range(4):
            x = [x] * 1000  # 10^12 leaves through shared references, a few kB pickled
        c["metrics"] = {"x": x}

    _refused(_variant(good, "deep.pt", bomb), "'metrics' is too large")


def test_non_finite_metric_is_not_shown_as_nan_percent(good: Path) -> None:
    lm = load_checkpoint(_variant(good, "m.pt", lambda c: c["metrics"].update(
        val_balanced_accuracy=float("nan"), test_accuracy=float("inf"))))
    assert "nan" not in " ".join(lm.card().values()).lower()


@pytest.mark.parametrize(("i", "entry", "match"), [
    (3, [3, "U+3048", "xx", "e"], "class entry 3: char 'xx' is not one character"),
    (3, [7, "U+3048", "え", "e"], "class entry 3 has index 7, expected 3"),
    (3, [3, "U+3042", "え", "e"], "class entry 3: codepoint 'U\\+3042' does not match"),
    (3, [3, "U+3048", "え", "e" * 100], "romaji 'eeee.* is not 1-16 printable"),
    (3, [3, 5, "え", "e"], "class entry 3 holds a non-text"),
    (3, "abcd", r"class entry 3 is not \[index, codepoint, char, romaji\]"),
])
def test_class_entries_are_validated(good: Path, i: int, entry: object, match: str) -> None:
    _refused(_variant(good, "cls.pt", lambda c: c["classes"].__setitem__(i, entry)), match)


# ---- what the file is -------------------------------------------------------------------
@pytest.mark.parametrize(("content", "match"), [
    (b"\x00" + os.urandom(2000), r"not a k49desk checkpoint \(not a zip archive"),
    (b"", "the file is empty"),
    (pickle.dumps({"model": 1}, protocol=2), "pickled Python objects in torch's legacy format"),
])
def test_non_checkpoint_content_is_named_for_what_it_is(tmp_path: Path, content: bytes,
                                                        match: str) -> None:
    p = tmp_path / "m.pt"
    p.write_bytes(content)
    _refused(p, match)


def test_special_files_are_not_read_as_models(tmp_path: Path) -> None:
    if os.path.exists("/dev/zero"):
        (tmp_path / "zero.pt").symlink_to("/dev/zero")
        _refused(tmp_path / "zero.pt", "is a character device, not a regular model file")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.pt")
        _refused(tmp_path / "fifo.pt", r"is a named pipe \(FIFO\)")
    (tmp_path / "dir.pt").mkdir()
    _refused(tmp_path / "dir.pt", "is a folder")


def test_oversized_model_file_is_refused_without_reading(tmp_path: Path) -> None:
    p = tmp_path / "huge.pt"
    with open(p, "wb") as f:
        f.truncate(300 << 20)  # sparse
    _refused(p, "over the 256.0 MiB limit for a model file")


def test_wide_model_gets_a_batch_size_within_the_activation_budget(tmp_path: Path) -> None:
    cfg = ModelConfig(channels=(512, 512), dropout=0.0)
    p = tmp_path / "wide.pt"
    save_checkpoint(p, build_model(cfg), cfg, OFFICIAL_CLASSES, metrics={}, trained_on="t",
                    train_config={})
    lm = load_checkpoint(p)
    assert lm.activation_bytes > 1 << 20
    assert 1 <= lm.batch_size_for(1024) < 1024
    assert lm.batch_size_for(1024) * lm.activation_bytes <= 256 << 20


def test_checkpoint_with_a_deflated_bomb_member_is_refused(good: Path) -> None:
    import shutil
    import zipfile

    bad = good.with_name("zb.pt")
    shutil.copy(good, bad)
    with zipfile.ZipFile(bad, "a", zipfile.ZIP_DEFLATED) as z, z.open("good/extra", "w") as f:
        block = bytes(1 << 20)
        for _ in range(64):  # 64 MiB of zeros in ~64 kB
            f.write(block)
    assert bad.stat().st_size < good.stat().st_size + 200_000
    _refused(bad, r"compressed members inflate by 63.9 MiB, over the 16.0 MiB allowed")
