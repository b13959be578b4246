"""Open and validate a K49 data folder, with a self-checking cache.

The first open of a split streams the official .npz files (bounded: see
`k49desk.core.npz` and docs/LIMITS.md) into plain .npy files in `.k49desk-cache/` beside
them (or in the user cache folder if the data folder is read-only); later opens read those
verified copies instead of decompressing again. `k49desk.core.datacache` says when a cache
entry is trusted.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from k49desk.core import npz
from k49desk.core.atomic import atomic_open, atomic_write_text
from k49desk.core.classes import (
    OFFICIAL_CLASSES,
    ClassInfo,
    load_classmap,
    official_classmap_csv,
)
from k49desk.core.datacache import (  # noqa: F401  (re-exported: issues.py, tests)
    CACHE_DIR_NAME,
    DataCache,
    cache_dirs,
    fallback_cache_dir,
    source_key,
)
from k49desk.core.errors import DataError
from k49desk.core.progress import Progress

SPLITS: tuple[str, ...] = ("train", "test")
CLASSMAP_FILE = "k49_classmap.csv"
DEMO_TRUTH_FILE = "demo-truth.csv"


def images_file(split: str) -> str:
    return f"k49-{split}-imgs.npz"


def labels_file(split: str) -> str:
    return f"k49-{split}-labels.npz"


OFFICIAL_FILES: tuple[str, ...] = (
    images_file("train"),
    labels_file("train"),
    images_file("test"),
    labels_file("test"),
    CLASSMAP_FILE,
)


@dataclass
class Split:
    """One split: images uint8 (N, 28, 28) (often a read-only memmap) and labels uint8 (N,)."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    fingerprint: str = ""

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def counts(self, n_classes: int = 49) -> np.ndarray:
        """Images per class, length `n_classes`; classes with no image count 0."""
        return np.bincount(self.labels, minlength=n_classes)[:n_classes].astype(np.int64)

    def data_fingerprint(self) -> str:
        """What cached results of this split are keyed by: the files' fingerprint, or for an
        in-memory split (tests, benchmarks) a hash of its content."""
        if self.fingerprint:
            return self.fingerprint
        h = hashlib.sha1()
        for s in range(0, len(self), 65536):
            h.update(np.ascontiguousarray(self.images[s:s + 65536]).tobytes())
        h.update(np.ascontiguousarray(self.labels).tobytes())
        return "content-" + h.hexdigest()[:16]


@dataclass
class K49Dataset:
    root: Path
    classes: tuple[ClassInfo, ...]
    splits: dict[str, Split] = field(default_factory=dict)
    is_demo: bool = False
    classmap_source: str = "file"  # or "builtin" when the folder has no k49_classmap.csv

    @property
    def split_names(self) -> list[str]:
        return [s for s in SPLITS if s in self.splits]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> Split:
        try:
            return self.splits[name]
        except KeyError:
            have = ", ".join(self.split_names) or "none"
            raise DataError(f"{self.root}: no {name} split here (splits present: {have})") from None

    def __len__(self) -> int:
        return sum(len(s) for s in self.splits.values())


def read_npz_array(path: str | os.PathLike[str], kind: str | None = None) -> np.ndarray:
    """The `arr_0` array of an official-format .npz, refusing pickles and naming the file.

    Bounded: the file must be regular and its claimed sizes within `k49desk.core.limits`
    before anything is allocated (see `k49desk.core.npz`). `kind` ("images"/"labels") adds
    the K49 dtype and shape checks.
    """
    return npz.read_npz_array(Path(path), kind)


def check_images(name: str, arr: np.ndarray) -> None:
    if arr.dtype != np.uint8:
        raise DataError(f"{name}: images must be uint8, found {arr.dtype}")
    if arr.ndim != 3 or arr.shape[1:] != (28, 28):
        raise DataError(f"{name}: images must have shape (N, 28, 28), found {tuple(arr.shape)}")


def check_labels(name: str, arr: np.ndarray, n_classes: int) -> None:
    if arr.dtype != np.uint8:
        raise DataError(f"{name}: labels must be uint8, found {arr.dtype}")
    if arr.ndim != 1:
        raise DataError(f"{name}: labels must have shape (N,), found {tuple(arr.shape)}")
    if arr.size and int(arr.max()) >= n_classes:
        bad = np.flatnonzero(arr >= n_classes)
        raise DataError(
            f"{name}: label {int(arr[bad[0]])} at index {int(bad[0])} is outside the "
            f"class map (0..{n_classes - 1}); {bad.size} such labels"
        )


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False  # a dataset's arrays are shared by the whole app
    return arr


def _fingerprint(*keys: tuple[str, dict]) -> str:
    h = hashlib.sha1()
    for name, k in keys:
        h.update(f"{name}:{k['size']}:{k['mtime_ns']}:{k['tail']};".encode())
    return h.hexdigest()[:16]


def _check_folder(root: Path) -> None:
    """Missing, not a folder, or not readable: said plainly before any file is touched."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        raise DataError(f"{root}: folder not found") from None
    except PermissionError:
        raise DataError(f"{root}: cannot be reached (permission denied on a parent "
                        "folder)") from None
    except OSError as e:
        raise DataError(f"{root}: cannot be opened ({e.strerror or e})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise DataError(f"{root}: not a folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise DataError(f"{root}: no permission to read this folder")


def _present(p: Path) -> bool:
    """Whether a name exists in the folder at all (a FIFO or folder counts: it gets its
    own message when opened); a dangling link is an error, not an absence."""
    try:
        os.lstat(p)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise DataError(f"{p}: cannot be checked ({e.strerror or e})") from None
    if not p.exists():
        raise DataError(f"{p}: is a symbolic link to a file that does not exist")
    return True


def _load_file(path: Path, kind: str, n_classes: int, cache: DataCache | None,
               progress: Progress | None, k: int, n_files: int,
               text: str) -> tuple[np.ndarray, dict]:
    """One checked array (from the cache when it is valid) and its source's key."""
    def sub(f: float) -> None:
        if progress:
            progress((k + f) / n_files, text)

    def check(a: np.ndarray) -> None:
        if kind == "images":
            check_images(path.name, a)
        else:
            check_labels(path.name, a, n_classes)

    sub(0.0)
    if cache is not None:
        return cache.load(path, kind, check, sub if progress else None)
    key = source_key(path)
    arr = _readonly(read_npz_array(path, kind))
    check(arr)
    return arr, key


def open_dataset(
    root: str | os.PathLike[str], *, use_cache: bool = True, progress: Progress | None = None,
    mmap: bool = False,
) -> K49Dataset:
    """Open and validate a K49 folder. Raises DataError naming the file and the problem.

    Arrays come back read-only. With the cache (default), a reopen reads the verified
    `.npy` copies instead of decompressing; `mmap=True` maps them instead of reading
    (faster, but see `k49desk.core.datacache` for why that is not the default).
    """
    root = Path(root)
    _check_folder(root)
    cm_path = root / CLASSMAP_FILE
    if _present(cm_path):
        classes, source = load_classmap(cm_path), "file"
    else:
        classes, source = OFFICIAL_CLASSES, "builtin"
    ds = K49Dataset(
        root=root,
        classes=classes,
        classmap_source=source,
        is_demo=_present(root / DEMO_TRUTH_FILE),
    )
    present = [s for s in SPLITS
               if _present(root / images_file(s)) or _present(root / labels_file(s))]
    if not present:
        raise DataError(
            f"{root}: no K49 files here (expected {images_file('train')}, "
            f"{labels_file('train')}, {images_file('test')} or {labels_file('test')})"
        )
    cache = DataCache(root, mmap=mmap) if use_cache else None
    n_files = 2 * len(present)
    for i, split in enumerate(present):
        ipath, lpath = root / images_file(split), root / labels_file(split)
        for p, other in ((ipath, lpath), (lpath, ipath)):
            if not _present(p):
                raise DataError(f"{p.name}: missing, but {other.name} is present")
        loaded = [_load_file(path, kind, len(classes), cache, progress, 2 * i + j, n_files,
                             f"Opening {split} split: {path.name}")
                  for j, (path, kind) in enumerate(((ipath, "images"), (lpath, "labels")))]
        (images, ikey), (labels, lkey) = loaded
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{lpath.name}: {labels.shape[0]} labels for {images.shape[0]} images "
                f"in {ipath.name}"
            )
        ds.splits[split] = Split(split, images, np.asarray(labels),
                                 _fingerprint((ipath.name, ikey), (lpath.name, lkey)))
    if progress:
        progress(1.0, "Opened")
    return ds


def write_split(
    root: str | os.PathLike[str],
    split: str,
    images: np.ndarray,
    labels: np.ndarray,
    compressed: bool = True,
) -> None:
    """Write one split in the official format (`arr_0`, uint8), as a pair: both files are
    staged complete before either replaces the old one, so a failure (full disk) leaves the
    old pair, never new images with old labels."""
    root = Path(root)
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    check_images(images_file(split), images)
    save = np.savez_compressed if compressed else np.savez
    with atomic_open(root / images_file(split), "wb", DataError) as fi:
        save(fi, images)
        with atomic_open(root / labels_file(split), "wb", DataError) as fl:
            save(fl, labels)


def write_classmap(root: str | os.PathLike[str]) -> None:
    atomic_write_text(Path(root) / CLASSMAP_FILE, official_classmap_csv(), error=DataError)
