"""Folders that grow: a person's own drawn samples, and folders made by `k49desk import`.

Both are K49-format folders (k49-train-imgs.npz, k49-train-labels.npz, k49_classmap.csv) with
a side file `sources.csv` (index,file,source,added) saying where each train image came from,
so they open in the app, train with `k49desk train` and merge into a training set.

Appending rewrites the arrays (each file: temp + fsync + replace). A new folder is built in a
staging folder and renamed into place. An existing one is appended to in place, in an order
that makes the labels file the commit point: images and sources.csv first, labels last. An
append interrupted before the labels leaves extra rows in the other two; the next append trims
them (labels decide how many images the folder has). Appends to one folder are serialised
with an advisory lock on the folder (POSIX), so two windows adding samples lose nothing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from k49desk.core.atomic import atomic_write_text, save_npz
from k49desk.core.classes import OFFICIAL_CLASSES, ClassInfo, load_classmap
from k49desk.core.dataset import (
    CLASSMAP_FILE,
    check_images,
    check_labels,
    images_file,
    labels_file,
    read_npz_array,
)
from k49desk.core.errors import DataError
from k49desk.core.staging import folder_entries, staged_folder

SOURCES_FILE = "sources.csv"
SOURCES_HEADER = ("index", "file", "source", "added")
SAMPLES_DIR_NAME = "my-samples"
MAX_APPEND = 100_000  # images per call (78 MB of pixels): a drawing session is a few hundred
MAX_FOLDER_IMAGES = 1_000_000  # per folder, 4.3x the real K49 train split
MAX_SOURCES_BYTES = 256 << 20  # sources.csv of a full folder with long paths
TRAIN = "train"
# What a growing folder may hold besides its own files: the app's annotation store and the
# memory-map cache. Anything else means it is not ours to append to.
_OWN = (images_file(TRAIN), labels_file(TRAIN), CLASSMAP_FILE, SOURCES_FILE)


def default_samples_dir() -> Path:
    """`<default data folder>/my-samples` (data/my-samples unless K49DESK_DATA_DIR is set)."""
    from k49desk.paths import default_data_dir

    return default_data_dir() / SAMPLES_DIR_NAME


@dataclass(frozen=True)
class AppendResult:
    folder: Path
    first_index: int  # index of the first added image in the train split
    n_added: int
    n_total: int  # train images in the folder afterwards
    created: bool  # the folder was made by this call
    repaired: str  # "" or what an earlier interrupted append left and this one trimmed

    @property
    def indices(self) -> np.ndarray:
        return np.arange(self.first_index, self.first_index + self.n_added, dtype=np.int64)


def classmap_csv(classes: Sequence[ClassInfo]) -> str:
    """k49_classmap.csv text for `classes` (the official file, byte for byte, for K49's)."""
    return "\n".join(["index,codepoint,char"] + [
        f"{c.index},{c.codepoint},{c.char}" for c in classes]) + "\n"


def same_classes(a: Sequence[ClassInfo], b: Sequence[ClassInfo]) -> bool:
    return [(c.index, c.codepoint, c.char) for c in a] == [(c.index, c.codepoint, c.char)
                                                          for c in b]


def is_growing_folder(folder: str | os.PathLike[str]) -> bool:
    """True for a folder made by append_samples or `k49desk import` (it has sources.csv and
    a train split)."""
    f = Path(folder)
    return all((f / n).is_file() for n in (SOURCES_FILE, images_file(TRAIN), labels_file(TRAIN)))


def foreign_files(folder: Path) -> list[str]:
    """Files in `folder` that a growing folder does not hold (annotation stores allowed)."""
    return [n for n in folder_entries(folder)
            if n not in _OWN and not n.startswith("k49desk-annotations-")]


def sources_text(rows: Sequence[tuple[str, str, str]]) -> str:
    """sources.csv text: the header, then rows (file, source, added) numbered from 0."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SOURCES_HEADER)
    w.writerows((i, *r) for i, r in enumerate(rows))
    return buf.getvalue()


def read_sources(folder: str | os.PathLike[str]) -> list[tuple[str, str, str]]:
    """Rows (file, source, added) of a folder's sources.csv, in index order; [] when absent.
    DataError naming the file and line when it is damaged."""
    p = Path(folder) / SOURCES_FILE
    try:
        if p.stat().st_size > MAX_SOURCES_BYTES:
            raise DataError(f"{p}: larger than {MAX_SOURCES_BYTES >> 20} MiB; not a sources "
                            "file k49desk wrote")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except UnicodeDecodeError as e:
        raise DataError(f"{p}: not UTF-8 text ({e.reason})") from e
    except OSError as e:
        raise DataError(f"{p}: cannot be read ({e.strerror or e})") from e
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(header[:2]) != SOURCES_HEADER[:2]:
        raise DataError(f"{p}: header must start with 'index,file', found "
                        f"{','.join(header or [])!r}")
    rows: list[tuple[str, str, str]] = []
    for row in reader:
        if not row:
            continue
        if row[0].strip() != str(len(rows)):
            raise DataError(f"{p}: line {reader.line_num}: index {row[0]!r}, expected "
                            f"{len(rows)} (rows must be numbered 0, 1, 2, ...)")
        row = row + [""] * (4 - len(row))
        rows.append((row[1], row[2], row[3]))
    return rows


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An advisory lock on the folder itself (flock on its descriptor): no lock file."""
    try:
        import fcntl
    except ImportError:  # Windows: appends from two processes at once are not serialised
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # the folder does not exist yet: its creation is atomic anyway
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _check_new(images: np.ndarray, labels: np.ndarray, n_classes: int
               ) -> tuple[np.ndarray, np.ndarray]:
    imgs = np.asarray(images)
    if imgs.ndim == 2:
        imgs = imgs[None]
    if imgs.ndim != 3 or imgs.shape[1:] != (28, 28):
        raise ValueError(f"samples must be 28x28 images, got shape {imgs.shape}")
    if imgs.dtype != np.uint8:
        raise ValueError(f"samples must be uint8 (preprocess output), got {imgs.dtype}")
    labs = np.atleast_1d(np.asarray(labels))
    if labs.dtype.kind not in "iu" or labs.ndim != 1:
        raise ValueError(f"labels must be whole numbers, one per image, got {labs.dtype}"
                         f" {labs.shape}")
    if len(labs) != len(imgs):
        raise ValueError(f"{len(imgs)} images but {len(labs)} labels")
    if len(labs) and (labs.min() < 0 or labs.max() >= n_classes):
        raise ValueError(f"labels must be classes 0..{n_classes - 1}, got "
                         f"{int(labs.min())}..{int(labs.max())}")
    if len(imgs) > MAX_APPEND:
        raise ValueError(f"at most {MAX_APPEND:,d} images per append, got {len(imgs):,d}")
    return np.ascontiguousarray(imgs), labs.astype(np.uint8)


def append_train(folder: str | os.PathLike[str], images: np.ndarray, labels: np.ndarray,
                 rows: Sequence[tuple[str, str, str]], *,
                 classes: Sequence[ClassInfo] = OFFICIAL_CLASSES,
                 on_written: Callable[[Path, int, np.ndarray], None] | None = None,
                 ) -> AppendResult:
    """Append uint8 (N, 28, 28) `images` with `labels` and sources rows (file, source, added)
    to the train split of a growing folder; create it (staged, atomic) when it is missing or
    empty. `classes` must match an existing folder's class map.

    `on_written(where, first_index, all_labels)` runs once the arrays are written: inside the
    staging folder for a new folder (so what it writes, e.g. the annotation store, is part
    of the atomic creation), in the folder itself after the commit for an existing one.
    """
    folder = Path(folder)
    imgs, labs = _check_new(images, labels, len(classes))
    if len(rows) != len(imgs):
        raise ValueError(f"{len(imgs)} images but {len(rows)} sources rows")
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: is a file, not a folder")
    with _locked(folder):
        if not folder_entries(folder):
            return _create(folder, imgs, labs, rows, classes, on_written)
        return _append(folder, imgs, labs, rows, classes, on_written)


def _create(folder: Path, imgs: np.ndarray, labs: np.ndarray,
            rows: Sequence[tuple[str, str, str]], classes: Sequence[ClassInfo],
            on_written: Callable[[Path, int, np.ndarray], None] | None) -> AppendResult:
    with staged_folder(folder, DataError) as stage:
        atomic_write_text(stage / CLASSMAP_FILE, classmap_csv(classes), error=DataError)
        atomic_write_text(stage / SOURCES_FILE, sources_text(rows), error=DataError)
        save_npz(stage / images_file(TRAIN), imgs, error=DataError)
        save_npz(stage / labels_file(TRAIN), labs, error=DataError)
        if on_written is not None:
            on_written(stage, 0, labs)
    return AppendResult(folder, 0, len(labs), len(labs), True, "")


def _append(folder: Path, imgs: np.ndarray, labs: np.ndarray,
            rows: Sequence[tuple[str, str, str]], classes: Sequence[ClassInfo],
            on_written: Callable[[Path, int, np.ndarray], None] | None) -> AppendResult:
    if not is_growing_folder(folder):
        what = ", ".join(foreign_files(folder)[:3]) or ", ".join(folder_entries(folder)[:3])
        raise DataError(f"{folder}: not a folder of samples or imported images (no "
                        f"{SOURCES_FILE} with a train split; it holds {what}); pick a new or "
                        "empty folder, or one made by 'Add to my samples' or 'k49desk import'")
    other = foreign_files(folder)
    if other:
        raise DataError(f"{folder}: holds files k49desk did not write ({', '.join(other[:3])});"
                        " pick a new or empty folder")
    cm = folder / CLASSMAP_FILE
    have = load_classmap(cm) if cm.exists() else OFFICIAL_CLASSES
    if not same_classes(have, classes):
        raise DataError(f"{cm}: this folder's classes differ from the ones given (a model "
                        "with another class map?); use a new folder")
    lpath, ipath = folder / labels_file(TRAIN), folder / images_file(TRAIN)
    old_labels = read_npz_array(lpath)
    check_labels(lpath.name, old_labels, len(have))
    old_images = read_npz_array(ipath)
    check_images(ipath.name, old_images)
    old_rows = read_sources(folder)
    n = len(old_labels)
    repaired = []
    if len(old_images) < n:
        raise DataError(f"{ipath}: {len(old_images)} images for {n} labels in {lpath.name}; "
                        "the folder is damaged")
    if len(old_images) > n:
        repaired.append(f"{len(old_images) - n} images of an interrupted append")
    if len(old_rows) > n:
        repaired.append(f"{len(old_rows) - n} {SOURCES_FILE} rows of an interrupted append")
    old_rows = old_rows[:n] + [("", "unknown", "")] * max(0, n - len(old_rows))
    if n + len(labs) > MAX_FOLDER_IMAGES:
        raise DataError(f"{folder}: {n:,d} + {len(labs):,d} images would pass the limit of "
                        f"{MAX_FOLDER_IMAGES:,d} per folder; use a new folder")
    all_images = np.concatenate([old_images[:n], imgs])
    all_labels = np.concatenate([old_labels, labs])
    del old_images
    # Order matters: the labels file is the commit point (see the module docstring).
    save_npz(ipath, all_images, error=DataError)
    atomic_write_text(folder / SOURCES_FILE, sources_text([*old_rows, *rows]), error=DataError)
    save_npz(lpath, all_labels, error=DataError)
    if on_written is not None:
        on_written(folder, n, all_labels)
    return AppendResult(folder, n, len(labs), len(all_labels), False, "; ".join(repaired))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def append_samples(folder: str | os.PathLike[str] | None, images28: np.ndarray,
                   labels: np.ndarray | int | Sequence[int], *, source: str = "draw",
                   files: Sequence[str] | None = None) -> AppendResult:
    """Append drawn samples (preprocessed uint8 28x28, one or (N, 28, 28)) with their classes
    to a samples folder (None: `default_samples_dir()`), creating it on first use in the K49
    format with the official class map. `source` (e.g. "draw") and `files` (one name per
    image, default "") go to sources.csv. Atomic: a failure leaves the folder as it was.

    ValueError for bad arguments (shape, dtype, class out of range, more than MAX_APPEND
    images); DataError when the folder is not a samples folder or cannot be written.
    """
    folder = default_samples_dir() if folder is None else Path(folder)
    imgs = np.asarray(images28)
    n = 1 if imgs.ndim == 2 else (len(imgs) if imgs.ndim else 0)
    if files is not None and len(files) != n:
        raise ValueError(f"{n} images but {len(files)} file names")
    if not isinstance(source, str) or not source.isprintable() or len(source) > 200:
        raise ValueError("source must be printable text of at most 200 characters")
    added = now_iso()
    rows = [(files[i] if files is not None else "", source, added) for i in range(n)]
    return append_train(folder, imgs, np.asarray(labels), rows)
