"""Hostile command lines: every number and URL is checked where it enters (one usage line,
exit 2, no traceback); outputs are written whole or not at all; success lines come only
after success and errors get a line of their own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from k49helpers import make_k49_folder

from k49desk.cli import main


def _usage_error(capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> str:
    with pytest.raises(SystemExit) as ei:
        main(argv)
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert match in err, err
    return err


@pytest.mark.parametrize(("argv", "match"), [
    (["train", "--lr", "nan"], "argument --lr: must be a finite number in (0, 10]"),
    (["train", "--lr", "-1"], "argument --lr: must be in (0, 10], got -1"),
    (["train", "--lr", "inf"], "argument --lr: must be a finite number"),
    (["train", "--lr", "0"], "argument --lr: must be in (0, 10], got 0"),
    (["train", "--seed", "-1"], "argument --seed: must be from 0 to 4,294,967,295, got -1"),
    (["train", "--seed", "1" * 25], "argument --seed: expected a whole number"),
    (["train", "--epochs", "0"], "argument --epochs: must be from 1 to 10,000, got 0"),
    (["train", "--batch-size", "1"], "argument --batch-size: must be from 2 to 65,536"),
    (["train", "--val-fraction", "1.5"], "argument --val-fraction: must be in [0, 0.9]"),
    (["train", "--val-fraction", "nan"], "argument --val-fraction: must be a finite number"),
    (["train", "--threads", "-1"], "argument --threads: must be from 0 to 1,000,000, got -1"),
    (["train", "--threads", "1e9"], "argument --threads: expected a whole number"),
    (["download", "--timeout", "-1"], "argument --timeout: must be in (0, 3600], got -1"),
    (["download", "--timeout", "nan"], "argument --timeout: must be a finite number"),
    (["download", "--timeout", "inf"], "argument --timeout: must be a finite number"),
    (["download", "--base-url", "notaurl"], "argument --base-url: expected an http:// or "
                                            "https:// URL with a host, got 'notaurl'"),
    (["download", "--base-url", "ftp://host/k49/"], "expected an http:// or https:// URL"),
    (["download", "--base-url", "http://host:port/"], "argument --base-url: not a valid URL"),
    (["demo-data", "--per-class", "0"], "argument --per-class: must be from 1 to 10,000"),
    (["demo-data", "--per-class", "100000000"], "argument --per-class: must be from 1 to"),
    (["demo-data", "--seed", "-5"], "argument --seed: must be from 0"),
    (["demo-data", "--scale", "nan"], "argument --scale: must be a finite number in (0, 1]"),
    (["demo-data", "--scale", "50"], "argument --scale: must be in (0, 1], got 50"),
    (["evaluate", "--batch-size", "0"], "argument --batch-size: must be from 1 to 65,536"),
    (["predict", "--top", "0", "x.png"], "argument --top: must be from 1 to 49, got 0"),
    (["predict", "--top", "1000", "x.png"], "argument --top: must be from 1 to 49"),
    (["find-issues", "--folds", "1"], "argument --folds: must be 0 (skip the label check) or "
                                      "2 to 20, got 1"),
    (["find-issues", "--folds", "-3"], "argument --folds: must be from 0 to 20"),
    (["find-issues", "--epochs", "0"], "argument --epochs: must be from 1 to 1,000"),
    (["find-issues", "--threads", "-2"], "argument --threads: must be from 0"),
    (["gui", "--size", "100000x100000"], "argument --size: each side must be from 100 to "
                                         "4096, got 100000x100000"),
    (["gui", "--size", "big"], "argument --size: expected WIDTHxHEIGHT"),
])
def test_numbers_and_urls_are_checked_at_the_boundary(
        capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> None:
    _usage_error(capsys, argv, match)


def test_download_core_refuses_bad_arguments_too(tmp_path: Path) -> None:
    from k49desk.core.download import download_k49
    from k49desk.core.errors import DownloadError

    for kw, match in (({"timeout": float("nan")}, "timeout nan"),
                      ({"timeout": -1}, "timeout -1"),
                      ({"base_url": "notaurl"}, "expected an http:// or https:// URL"),
                      ({"chunk_size": 0}, "chunk_size 0")):
        with pytest.raises(DownloadError, match=match):
            download_k49(tmp_path / "d", **kw)
    assert not (tmp_path / "d").exists()  # refused before anything was created


def test_part_file_that_is_a_folder_is_named(tmp_path: Path, server: object,
                                             expected: dict) -> None:
    from k49desk.core.download import download_k49
    from k49desk.core.errors import DownloadError

    (tmp_path / "k49-train-imgs.npz.part").mkdir()
    with pytest.raises(DownloadError, match=r"k49-train-imgs.npz.part: the partial download "
                                            "is a folder; move it away"):
        download_k49(tmp_path, base_url=server.base_url, expected=expected)  # type: ignore


def test_threads_beyond_the_machine_are_capped_and_reported(
        capsys: pytest.CaptureFixture[str]) -> None:
    from k49desk.cli import build_parser
    from k49desk.commands import train as train_cmd
    from k49desk.commands.common import available_cpus

    args = build_parser().parse_args(["train", "--threads", "100000"])
    cfg = train_cmd.build_config(args)  # 100,000 threads crashed torch (rc 139)
    cpus = available_cpus()
    assert cfg.threads == cpus
    assert f"k49desk: --threads 100,000 capped to {cpus} (the CPUs available here)" in (
        capsys.readouterr().err)
    assert train_cmd.build_config(build_parser().parse_args(["train"])).threads == 0


def test_train_prints_the_real_device_and_thread_count_for_auto(
        tiny_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    out = tiny_dir.parent / "a.pt"
    assert main(["train", "--data-dir", str(tiny_dir), "--epochs", "1", "--out", str(out),
                 "--batch-size", "256"]) == 0
    n = torch.get_num_threads()
    err = capsys.readouterr().err
    assert f"(cpu, {n} CPU thread{'s' if n != 1 else ''} (auto))" in err


def test_train_on_an_empty_train_split(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    from k49desk.core.dataset import write_classmap, write_split

    write_split(tmp_path, "train", np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    write_classmap(tmp_path)
    assert main(["train", "--data-dir", str(tmp_path), "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert "the train split has 0 images; training needs at least 2" in err
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize(("where", "match"), [
    ("is_folder", "--out {p}: is a folder; give a file name"),
    ("parent_is_file", "is not a folder"),
])
def test_train_out_that_cannot_be_written_fails_before_training(
        tiny_dir: Path, capsys: pytest.CaptureFixture[str], where: str, match: str) -> None:
    if where == "is_folder":
        p = tiny_dir.parent / "dir.pt"
        p.mkdir()
    else:
        (tiny_dir.parent / "file").write_text("x")
        p = tiny_dir.parent / "file" / "m.pt"
    assert main(["train", "--data-dir", str(tiny_dir), "--out", str(p)]) == 2
    err = capsys.readouterr().err
    assert match.format(p=p) in err and "epoch" not in err


def test_train_save_failure_is_not_reported_as_saved(
        tiny_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from k49desk.core import training
    from k49desk.core.errors import CheckpointError

    def full_disk(path: object, *a: object, **k: object) -> None:
        raise CheckpointError(f"{path}: the disk is full; nothing was changed")

    monkeypatch.setattr(training, "save_checkpoint", full_disk)
    out = tiny_dir.parent / "m.pt"
    assert main(["train", "--data-dir", str(tiny_dir), "--epochs", "2", "--out", str(out),
                 "--batch-size", "256"]) == 2
    err = capsys.readouterr().err
    assert "[saved" not in err and "[not saved]" in err
    lines = err.splitlines()
    errs = [ln for ln in lines if "k49desk: error:" in ln]
    assert errs == [f"k49desk: error: {out}: the disk is full; nothing was changed"]
    assert not out.exists()


def test_confusion_out_into_a_missing_folder_fails_before_evaluating(
        tiny_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "c.csv"
    assert main(["evaluate", "--data-dir", str(tiny_dir), "--confusion-out", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"--confusion-out {target}: the folder {target.parent} does not exist" in err


def test_evaluate_table_columns_line_up_with_wide_characters() -> None:
    import numpy as np

    from k49desk.commands.common import display_width
    from k49desk.commands.evaluate import per_class_lines
    from k49desk.core.classes import OFFICIAL_CLASSES

    acc = np.linspace(0, 1, 49)
    acc[5] = np.nan
    lines = per_class_lines(OFFICIAL_CLASSES, acc, np.arange(49) * 37)
    assert len({display_width(ln) for ln in lines[:-1]}) == 1  # full rows: same width
    last = [ln for ln in lines if "ゝ" in ln][0]
    assert "odoriji 100.0%" in last  # the long romaji keeps a space before the number
    assert display_width("あい") == 4 and display_width("a") == 1


def test_screenshot_write_failure_leaves_no_partial_png(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("PySide6")
    import errno

    from PySide6.QtGui import QImage

    from k49desk.commands.gui import save_png_atomic
    from k49desk.core.errors import K49Error

    img = QImage(300, 200, QImage.Format.Format_RGB32)
    img.fill(0x336699)
    out = tmp_path / "shot.png"
    save_png_atomic(img, out)
    good = out.read_bytes()
    assert good.startswith(b"\x89PNG")

    def enospc(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", enospc)
    img.fill(0xFF0000)
    with pytest.raises(K49Error, match="shot.png: the disk is full; nothing was changed"):
        save_png_atomic(img, out)
    assert out.read_bytes() == good  # the old screenshot, whole
    assert [p.name for p in tmp_path.iterdir()] == ["shot.png"]  # no temp left behind


def test_error_naming_a_path_with_a_newline_stays_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "two\nlines"
    assert main(["info", "--data-dir", str(odd)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "two\\nlines: folder not found" in err


def test_json_output_with_a_non_utf8_path_is_valid_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = Path(os.fsdecode(bytes(tmp_path) + b"/\xe9t\xe9"))
    make_k49_folder(bad, n_train=1, n_test=0, splits=("train",))
    assert main(["info", "--json", "--data-dir", str(bad)]) == 0
    raw = capsys.readouterr().out
    assert raw.isascii() or "\\udce9" in raw
    assert json.loads(raw)["data_dir"] == str(bad)
