"""A selection of images as a CSV with columns `split,index`: the hand-over between a notebook
(pandas) and the app (`k49desk gui --indices sel.csv`, File > Export selection).

Reading checks every row and names the file and line of the first bad one: a missing column,
an unknown split, an index that is not a whole number (1.5, -3, 'abc', 1e999) or is out of
range. Other columns are ignored (a pandas frame may carry labels, losses, ...); "12.0" is
read as 12 (pandas writes integers that way after a NaN). Indices keep the file's order
(a notebook's ranking), duplicates dropped. Writing is atomic.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from k49desk.core.atomic import atomic_write_text
from k49desk.core.dataset import SPLITS, K49Dataset
from k49desk.core.errors import DataError

COLUMNS = ("split", "index")
MAX_SELECTION_ROWS = 2_000_000  # every image of K49 is 270,912 rows
MAX_SELECTION_BYTES = 256 << 20  # room for extra columns a notebook leaves in
_WHOLE = re.compile(r"\+?(\d+)(\.0*)?")  # no exponents: 1e3 is not how an index is written


def _sizes(ds: K49Dataset | Mapping[str, int]) -> dict[str, int]:
    if isinstance(ds, K49Dataset):
        return {s: len(ds.split(s)) for s in ds.split_names}
    return {str(k): int(v) for k, v in ds.items()}


def _read_text(path: Path) -> str:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataError(f"{path.name}: file not found in {path.parent}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from e
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{path}: is a folder, not a CSV file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
        raise DataError(f"{path}: not a regular file")
    if st.st_size > MAX_SELECTION_BYTES:
        raise DataError(f"{path.name}: {st.st_size / 2**20:.0f} MiB, more than the "
                        f"{MAX_SELECTION_BYTES >> 20} MiB a selection may have")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SELECTION_BYTES + 1)
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from e
    try:
        return data.decode("utf-8-sig")  # Excel's UTF-8 starts with a BOM
    except UnicodeDecodeError as e:
        raise DataError(f"{path.name}: not UTF-8 text (byte {e.start}); save it as UTF-8 "
                        "CSV") from None


def read_selection_csv(path: str | os.PathLike[str], ds: K49Dataset | Mapping[str, int]
                       ) -> dict[str, np.ndarray]:
    """The images a `split,index` CSV names: {split: int64 indices}, for the splits that
    appear (in SPLITS order), each in file order without duplicates. `ds` is the data folder
    (or {split: number of images}) the indices must fit. DataError naming the file and line
    for anything wrong, or when the file names no image at all."""
    path = Path(path)
    name = path.name
    sizes = _sizes(ds)
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{name}: the file is empty (expected a header 'split,index')") from None
    except csv.Error as e:
        raise DataError(f"{name}: line 1: not CSV ({e})") from None
    cols = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in cols]
    if missing:
        hint = "; use commas between columns" if len(header) == 1 and ";" in header[0] else ""
        raise DataError(f"{name}: line 1: no column {' or '.join(repr(m) for m in missing)} "
                        f"(header is {','.join(header)!r}; expected columns split,index){hint}")
    si, ii = cols.index("split"), cols.index("index")
    found: dict[str, list[int]] = {}
    n_rows = 0
    try:
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            line = reader.line_num
            n_rows += 1
            if n_rows > MAX_SELECTION_ROWS:
                raise DataError(f"{name}: more than {MAX_SELECTION_ROWS:,d} rows; a selection "
                                "names at most every image once")
            if len(row) <= max(si, ii):
                raise DataError(f"{name}: line {line}: {len(row)} fields, the header has "
                                f"{len(header)}")
            split, text = row[si].strip(), row[ii].strip()
            if split not in SPLITS:
                raise DataError(f"{name}: line {line}: split {split!r} is not one of "
                                f"{', '.join(SPLITS)}")
            if split not in sizes:
                raise DataError(f"{name}: line {line}: this data folder has no {split} split")
            found.setdefault(split, []).append(_index(name, line, text, sizes[split]))
    except csv.Error as e:
        raise DataError(f"{name}: line {reader.line_num}: not valid CSV ({e})") from None
    if not found:
        raise DataError(f"{name}: names no images (only a header)")
    out = {}
    for s in SPLITS:
        if s in found:
            a = np.asarray(found[s], np.int64)
            _, first = np.unique(a, return_index=True)
            out[s] = a[np.sort(first)]
    return out


def _index(name: str, line: int, text: str, n: int) -> int:
    m = _WHOLE.fullmatch(text)
    if m is None:
        what = "negative" if re.fullmatch(r"-\d+(\.\d*)?", text) else "not a whole number"
        raise DataError(f"{name}: line {line}: index {text!r} is {what} (expected 0..{n - 1})")
    digits = m.group(1).lstrip("0") or "0"
    i = int(digits) if len(digits) <= 18 else n  # never convert a 5,000-digit number
    if i >= n:
        shown = digits if len(digits) <= 18 else digits[:12] + "..."
        raise DataError(f"{name}: line {line}: index {shown} is out of range: the split has "
                        f"{n:,d} images (0..{n - 1})")
    return i


def write_selection_csv(path: str | os.PathLike[str], selection: Mapping[str, object], *,
                        ds: K49Dataset | Mapping[str, int] | None = None) -> int:
    """Write {split: indices} as a `split,index` CSV (atomic), splits in SPLITS order, indices
    in the given order; the number of rows written. ValueError for an unknown split or an
    index that is not a whole number >= 0 (or out of range of `ds` when given)."""
    sizes = _sizes(ds) if ds is not None else None
    unknown = [s for s in selection if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown split {unknown[0]!r} (one of {', '.join(SPLITS)})")
    lines = ["split,index"]
    for s in SPLITS:
        if s not in selection:
            continue
        a = np.asarray(selection[s])
        if a.size and (a.dtype.kind not in "iu" or a.ndim != 1 or a.min() < 0):
            raise ValueError(f"{s}: indices must be whole numbers >= 0, got {a.dtype} {a.shape}")
        if sizes is not None and a.size and (s not in sizes or a.max() >= sizes[s]):
            raise ValueError(f"{s}: index {int(a.max())} is out of range of the data folder")
        lines += [f"{s},{i}" for i in a.astype(np.int64).tolist()]
    atomic_write_text(Path(path), "\n".join(lines) + "\n", error=DataError)
    return len(lines) - 1
