"""Open and validate a K49 data folder, with a fast memory-mapped cache.

The first open of a split decompresses the official .npz files into plain .npy files in
`.k49desk-cache/` beside them (or in the user cache folder if the data folder is read-only);
later opens memory-map those, so reopening 270,912 images takes milliseconds. A cache entry
is used only while the source file's size and mtime are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from k49desk.core.atomic import atomic_write_text, save_npy, save_npz
from k49desk.core.classes import (
    OFFICIAL_CLASSES,
    ClassInfo,
    load_classmap,
    official_classmap_csv,
)
from k49desk.core.errors import DataError, K49Error
from k49desk.core.progress import Progress

SPLITS: tuple[str, ...] = ("train", "test")
CLASSMAP_FILE = "k49_classmap.csv"
CACHE_DIR_NAME = ".k49desk-cache"
DEMO_TRUTH_FILE = "demo-truth.csv"
_CACHE_VERSION = 1



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


def _npz_error(name: str, e: BaseException) -> DataError:
    text = str(e)
    if isinstance(e, ValueError) and ("pickle" in text.lower() or "Object arrays" in text):
        return DataError(
            f"{name}: holds pickled Python objects; k49desk only loads plain arrays "
            "(allow_pickle=False), so it refuses this file"
        )
    if isinstance(e, zipfile.BadZipFile | EOFError | zlib.error):
        return DataError(
            f"{name}: truncated or corrupt .npz ({text or type(e).__name__}); "
            "download or generate it again"
        )
    return DataError(f"{name}: cannot be read as .npz ({text or type(e).__name__})")


def read_npz_array(path: Path) -> np.ndarray:
    """The `arr_0` array of an official-format .npz, refusing pickles and naming the file."""
    name = path.name
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{name}: file not found in {path.parent}") from None
    except Exception as e:  # numpy raises many types for damaged files
        raise _npz_error(name, e) from e
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(f"{name}: is a bare .npy array, not a .npz archive")
    with loaded as z:
        if "arr_0" not in z.files:
            found = ", ".join(z.files) or "nothing"
            raise DataError(f"{name}: no array named 'arr_0' (found: {found})")
        try:
            arr = z["arr_0"]
        except Exception as e:
            raise _npz_error(name, e) from e
    return arr


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


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _looks_writable(folder: Path) -> bool:
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(folder, os.W_OK)


def fallback_cache_dir(root: Path) -> Path:
    import platformdirs

    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("k49desk")) / key


def cache_dirs(root: Path) -> list[Path]:
    """Where caches for a data folder may go, in order: beside the data, else the user cache.

    A folder marked read-only is left alone even when the process (root) could write there.
    """
    cands = [root / CACHE_DIR_NAME, fallback_cache_dir(root)]
    return cands if _looks_writable(root) else cands[1:]


class _Cache:
    """The .npy cache of one data folder; silently disabled where nothing is writable."""

    def __init__(self, root: Path) -> None:
        self.dir: Path | None = None
        for cand in cache_dirs(root):
            try:
                cand.mkdir(parents=True, exist_ok=True)
                probe = cand / ".probe"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError:
                continue
            self.dir = cand
            break
        self.manifest: dict = {"version": _CACHE_VERSION, "files": {}}
        if self.dir is not None:
            try:
                m = json.loads((self.dir / "manifest.json").read_text())
                if m.get("version") == _CACHE_VERSION:
                    self.manifest = m
            except (OSError, ValueError):
                pass

    def get(self, src: Path) -> np.ndarray | None:
        if self.dir is None:
            return None
        entry = self.manifest["files"].get(src.name)
        npy = self.dir / (src.name[:-4] + ".npy")
        try:
            if entry != _stat_key(src) or not npy.exists():
                return None
            return np.load(npy, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None

    def put(self, src: Path, arr: np.ndarray) -> np.ndarray:
        if self.dir is None:
            return arr
        npy = self.dir / (src.name[:-4] + ".npy")
        try:
            save_npy(npy, arr)
            self.manifest["files"][src.name] = _stat_key(src)
            atomic_write_text(self.dir / "manifest.json", json.dumps(self.manifest, indent=1))
            return np.load(npy, mmap_mode="r", allow_pickle=False)
        except (K49Error, OSError, ValueError):
            return arr


def _fingerprint(*paths: Path) -> str:
    h = hashlib.sha1()
    for p in paths:
        k = _stat_key(p)
        h.update(f"{p.name}:{k['size']}:{k['mtime_ns']};".encode())
    return h.hexdigest()[:16]


def open_dataset(
    root: str | os.PathLike[str], *, use_cache: bool = True, progress: Progress | None = None
) -> K49Dataset:
    """Open and validate a K49 folder. Raises DataError naming the file and the problem."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: folder not found")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    cm_path = root / CLASSMAP_FILE
    if cm_path.exists():
        classes, source = load_classmap(cm_path), "file"
    else:
        classes, source = OFFICIAL_CLASSES, "builtin"
    ds = K49Dataset(
        root=root,
        classes=classes,
        classmap_source=source,
        is_demo=(root / DEMO_TRUTH_FILE).exists(),
    )
    present = [
        s for s in SPLITS if (root / images_file(s)).exists() or (root / labels_file(s)).exists()
    ]
    if not present:
        raise DataError(
            f"{root}: no K49 files here (expected {images_file('train')}, "
            f"{labels_file('train')}, {images_file('test')} or {labels_file('test')})"
        )
    cache = _Cache(root) if use_cache else None
    for i, split in enumerate(present):
        ipath, lpath = root / images_file(split), root / labels_file(split)
        for p, other in ((ipath, lpath), (lpath, ipath)):
            if not p.exists():
                raise DataError(f"{p.name}: missing, but {other.name} is present")
        if progress:
            progress(i / len(present), f"Opening {split} split")
        images = cache.get(ipath) if cache else None
        labels = cache.get(lpath) if cache else None
        if images is None:
            if progress:
                progress(i / len(present), f"Decompressing {ipath.name} (first open only)")
            images = read_npz_array(ipath)
            check_images(ipath.name, images)
            if cache:
                images = cache.put(ipath, images)
        else:
            check_images(ipath.name, images)
        if labels is None:
            labels = read_npz_array(lpath)
            check_labels(lpath.name, labels, len(classes))
            if cache:
                labels = cache.put(lpath, labels)
        else:
            check_labels(lpath.name, labels, len(classes))
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{lpath.name}: {labels.shape[0]} labels for {images.shape[0]} images "
                f"in {ipath.name}"
            )
        ds.splits[split] = Split(split, images, np.asarray(labels), _fingerprint(ipath, lpath))
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
    """Write one split in the official format (atomic; `arr_0`, uint8)."""
    root = Path(root)
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    check_images(images_file(split), images)
    save_npz(root / images_file(split), images, compressed=compressed, error=DataError)
    save_npz(root / labels_file(split), labels, compressed=compressed, error=DataError)


def write_classmap(root: str | os.PathLike[str]) -> None:
    atomic_write_text(Path(root) / CLASSMAP_FILE, official_classmap_csv(), error=DataError)
