"""core.selection_csv: `split,index` CSVs between a notebook and the app; hostile files."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from k49helpers import make_k49_folder

from k49desk.core.dataset import open_dataset
from k49desk.core.errors import DataError
from k49desk.core.selection_csv import read_selection_csv, write_selection_csv

DOC = Path(__file__).resolve().parents[2] / "docs" / "NOTEBOOK.md"
SIZES = {"train": 100, "test": 20}


def _csv(tmp_path: Path, text: str | bytes, name: str = "sel.csv") -> Path:
    p = tmp_path / name
    (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
    return p


def test_selection_round_trip_keeps_order_and_drops_duplicates(tmp_path: Path) -> None:
    sel = {"test": np.array([19, 0]), "train": np.array([5, 3, 5, 99])}
    p = tmp_path / "out" / "sel.csv"
    p.parent.mkdir()
    assert write_selection_csv(p, sel, ds=SIZES) == 6
    assert p.read_text().splitlines()[:3] == ["split,index", "train,5", "train,3"]
    back = read_selection_csv(p, SIZES)
    assert list(back) == ["train", "test"]
    assert back["train"].tolist() == [5, 3, 99] and back["test"].tolist() == [19, 0]
    assert back["train"].dtype == np.int64
    assert os.listdir(p.parent) == ["sel.csv"]  # atomic: no temp file left


def test_selection_reads_what_pandas_writes(tmp_path: Path) -> None:
    df = pd.DataFrame({"label": [3, 4, 5], "split": ["train", "test", "train"],
                       "index": [7.0, 2.0, np.nan]}).dropna()  # NaN made the column float
    df.to_csv(tmp_path / "p.csv")  # with pandas' own index column in front
    got = read_selection_csv(tmp_path / "p.csv", SIZES)
    assert got["train"].tolist() == [7] and got["test"].tolist() == [2]
    bom = _csv(tmp_path, "\ufeffSplit , Index\r\ntrain , 1 \r\n\r\n", "bom.csv")
    assert read_selection_csv(bom, SIZES)["train"].tolist() == [1]


@pytest.mark.parametrize("body, message", [
    ("split,index\ntrain,abc\n", r"sel\.csv: line 2: index 'abc' is not a whole number"),
    ("split,index\ntrain,1\ntrain,1.5\n", r"sel\.csv: line 3: index '1\.5' is not a whole"),
    ("split,index\ntrain,-3\n", r"line 2: index '-3' is negative"),
    ("split,index\ntrain,1e3\n", r"line 2: index '1e3' is not a whole number"),
    ("split,index\ntrain,100\n", r"line 2: index 100 is out of range: the split has 100"),
    ("split,index\ntrain," + "9" * 5000 + "\n", r"line 2: index 999999999999\.\.\. is out of"),
    ("split,index\ntrain,\n", r"line 2: index '' is not a whole number"),
    ("split,index\nval,1\n", r"line 2: split 'val' is not one of train, test"),
    ("index\n1\n", r"sel\.csv: line 1: no column 'split'"),
    ("split;index\ntrain;1\n", r"no column 'split' or 'index'.*use commas"),
    ("split,index,x\ntrain\n", r"line 2: 1 fields, the header has 3"),
    ("", r"sel\.csv: the file is empty"),
    ("split,index\n", r"names no images"),
    (b"split,index\ntrain,\xff\n", r"not UTF-8"),
    ('split,index\ntrain,"1\n', r"line \d: "),
])
def test_selection_hostile_csv_is_refused_naming_file_and_line(
        tmp_path: Path, body: str | bytes, message: str) -> None:
    p = _csv(tmp_path, body)
    with pytest.raises(DataError, match=message):
        read_selection_csv(p, SIZES)


def test_selection_refuses_a_split_the_folder_lacks_and_odd_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="line 3: this data folder has no test split"):
        read_selection_csv(_csv(tmp_path, "split,index\ntrain,1\ntest,0\n"), {"train": 5})
    with pytest.raises(DataError, match="file not found"):
        read_selection_csv(tmp_path / "none.csv", SIZES)
    with pytest.raises(DataError, match="is a folder"):
        read_selection_csv(tmp_path, SIZES)
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        read_selection_csv(fifo, SIZES)


def test_selection_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from k49desk.core import selection_csv

    monkeypatch.setattr(selection_csv, "MAX_SELECTION_ROWS", 3)
    with pytest.raises(DataError, match="more than 3 rows"):
        read_selection_csv(_csv(tmp_path, "split,index\n" + "train,1\n" * 4), SIZES)
    monkeypatch.setattr(selection_csv, "MAX_SELECTION_BYTES", 10)
    with pytest.raises(DataError, match="more than the 0 MiB"):
        read_selection_csv(_csv(tmp_path, "split,index\ntrain,1\n"), SIZES)


def test_selection_write_refuses_bad_selections(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown split 'val'"):
        write_selection_csv(tmp_path / "a.csv", {"val": [1]})
    with pytest.raises(ValueError, match="whole numbers"):
        write_selection_csv(tmp_path / "a.csv", {"train": [1.5]})
    with pytest.raises(ValueError, match="whole numbers"):
        write_selection_csv(tmp_path / "a.csv", {"train": [-1]})
    with pytest.raises(ValueError, match="out of range"):
        write_selection_csv(tmp_path / "a.csv", {"train": [100]}, ds=SIZES)
    assert not (tmp_path / "a.csv").exists()


def _doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_selection_notebook_round_trip_as_documented(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/NOTEBOOK.md's snippets, run as written: pandas -> CSV -> (the app) -> CSV -> pandas.
    The app's part is what `gui --indices` and File > Export selection call."""
    pick, back = _doc_blocks()
    make_k49_folder(tmp_path / "data", n_train=12, n_test=4)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(pick, ns)  # writes sel.csv
    ds = open_dataset(tmp_path / "data")
    opened = read_selection_csv("sel.csv", ds)  # k49desk gui --data-dir data --indices sel.csv
    assert list(opened) == ["train"]
    assert (ds.split("train").labels[opened["train"]] == 25).all() and len(opened["train"]) == 12
    chosen_in_app = opened["train"][::3]  # the person selects a few, File > Export selection
    write_selection_csv("reviewed.csv", {"train": chosen_in_app}, ds=ds)
    exec(back, ns)
    chosen = ns["chosen"]
    assert chosen["index"].tolist() == chosen_in_app.tolist()
    assert chosen["label"].tolist() == ds.split("train").labels[chosen_in_app].tolist()
    assert (chosen["label"] == 25).all()
