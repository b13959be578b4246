"""On-disk cache of `ModelOutputs` (and of what is derived from them: maps, neighbour graphs).

Layout: `<data cache>/outputs/<key>/` with `meta.json`, `embedder-*.npy` and
`<split>-<field>.npy`; derived arrays (`extra-<name>.npy`) live in the same folder, so they go
when their outputs go. A folder is staged under a temporary name and renamed into place, so a
reader never sees half of one. Reading trusts nothing: every array's header is checked
(dtype, shape) before its data is read, values are range-checked, and any mismatch makes the
entry a miss (it is then rebuilt and replaced).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path

import numpy as np

from k49desk.core.atomic import atomic_write_text, save_npy
from k49desk.core.dataset import K49Dataset
from k49desk.core.errors import K49Error
from k49desk.core.outputs_types import (
    _PER_SPLIT,
    KEEP_CACHED,
    OUTPUTS_VERSION,
    TOPK,
    Embedder,
    ModelOutputs,
    SplitOutputs,
    cache_folder_candidates,
    remove_tree,
    stage_dir,
)

_MAX_FEATURES = 1 << 16  # a penultimate layer wider than this is a damaged file, not a model
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def _read(path: Path, dtype: np.dtype | type, shape: tuple[int | None, ...]) -> np.ndarray:
    """The array at `path` if its header says `dtype` and `shape` (None: any size up to a
    bound); ValueError otherwise. The header is read first, so a lying file costs nothing."""
    mm = np.load(path, mmap_mode="r", allow_pickle=False)
    if mm.dtype != np.dtype(dtype) or mm.ndim != len(shape):
        raise ValueError(f"{path.name}: {mm.dtype} {mm.shape}, expected {dtype} {shape}")
    for have, want in zip(mm.shape, shape, strict=True):
        if (want is not None and have != want) or have > _MAX_FEATURES * 64:
            raise ValueError(f"{path.name}: shape {mm.shape}, expected {shape}")
    arr = np.array(mm)
    del mm
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{path.name}: holds NaN or infinite values")
    return arr


def _folders(ds: K49Dataset, key: str) -> list[Path]:
    return [d / key for d in cache_folder_candidates(ds.root)]


def find_folder(ds: K49Dataset, key: str) -> Path | None:
    for f in _folders(ds, key):
        if (f / "meta.json").is_file():
            return f
    return None


def _load_split(folder: Path, name: str, labels: np.ndarray, n_classes: int,
                dim: int) -> SplitOutputs:
    n = labels.shape[0]
    arrs = {}
    for fld, dtype, shape in (("predicted", np.uint8, (n,)), ("confidence", np.float32, (n,)),
                              ("loss", np.float32, (n,)), ("margin", np.float32, (n,)),
                              ("top5", np.uint8, (n, TOPK)), ("top5_p", np.float32, (n, TOPK)),
                              ("embedding", np.float32, (n, dim))):
        arrs[fld] = _read(folder / f"{name}-{fld}.npy", dtype, shape)
    eps = 1e-4
    for fld in ("confidence", "margin", "top5_p"):
        a = arrs[fld]
        if a.size and (a.min() < -eps or a.max() > 1 + eps):
            raise ValueError(f"{name}-{fld}.npy: values outside [0, 1]")
    if n and (arrs["loss"].min() < -eps or int(arrs["top5"].max()) >= n_classes):
        raise ValueError(f"{name}: negative loss or class index outside the class map")
    if n and not np.array_equal(arrs["predicted"], arrs["top5"][:, 0]):
        raise ValueError(f"{name}: predicted and top-5 disagree")
    return SplitOutputs(name, np.asarray(labels, np.uint8), **arrs)


def load(ds: K49Dataset, key: str, n_classes: int) -> ModelOutputs | None:
    """The cached outputs for `key`, or None when absent, damaged or not for this data."""
    folder = find_folder(ds, key)
    if folder is None:
        return None
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if (not isinstance(meta, dict) or meta.get("version") != OUTPUTS_VERSION
                or meta.get("key") != key
                or meta.get("splits") != {n: len(s) for n, s in ds.splits.items()}):
            return None
        comps = _read(folder / "embedder-components.npy", np.float32, (None, None))
        d, width = comps.shape
        if not (1 <= d <= width <= _MAX_FEATURES):
            return None
        mean = _read(folder / "embedder-mean.npy", np.float32, (width,))
        splits = {name: _load_split(folder, name, np.asarray(s.labels), n_classes, d)
                  for name, s in ds.splits.items()}
    except (OSError, ValueError, TypeError, UnicodeDecodeError):
        return None
    with contextlib.suppress(OSError):
        os.utime(folder / "meta.json")  # recently used: pruned last
    return ModelOutputs(splits, Embedder(mean, comps), "", key, cached=True,
                        meta=meta.get("meta") or {})


def save(ds: K49Dataset, res: ModelOutputs) -> Path | None:
    """Write `res` (staged, then renamed into place) and prune old entries; None when no
    cache folder is writable (the result is then simply not cached)."""
    for parent in cache_folder_candidates(ds.root):
        try:
            stage = stage_dir(parent)
        except OSError:
            continue
        try:
            save_npy(stage / "embedder-mean.npy", res.embedder.mean)
            save_npy(stage / "embedder-components.npy", res.embedder.components)
            for name, so in res.splits.items():
                for fld in _PER_SPLIT:
                    save_npy(stage / f"{name}-{fld}.npy", getattr(so, fld))
            meta = {"version": OUTPUTS_VERSION, "key": res.key,
                    "splits": {n: len(s) for n, s in res.splits.items()}, "meta": res.meta}
            atomic_write_text(stage / "meta.json", json.dumps(meta, indent=1))
            final = parent / res.key
            remove_tree(final)  # a damaged entry of the same key
            os.replace(stage, final)
        except (OSError, K49Error):
            remove_tree(stage)
            continue
        prune(parent)
        return final
    return None


def prune(parent: Path, keep: int = KEEP_CACHED) -> None:
    """Keep the `keep` most recently used entries (and no stale staging folders)."""
    try:
        entries = [p for p in parent.iterdir() if p.is_dir()]
    except OSError:
        return
    for p in entries:
        if p.name.startswith(".staging-"):
            with contextlib.suppress(OSError):
                if p.stat().st_mtime < time.time() - 3600:
                    remove_tree(p)
    done = []
    for p in entries:
        if not p.name.startswith("."):
            try:
                done.append(((p / "meta.json").stat().st_mtime, p))
            except OSError:
                remove_tree(p)
    for _, p in sorted(done, reverse=True)[keep:]:
        remove_tree(p)


# ---- derived arrays (maps, neighbour graphs) stored beside their outputs -----------------------
def load_extra(ds: K49Dataset, key: str, name: str, dtype: np.dtype | type,
               shape: tuple[int | None, ...]) -> np.ndarray | None:
    if not _NAME.match(name):
        raise ValueError(f"bad cache entry name {name!r}")
    folder = find_folder(ds, key)
    if folder is None:
        return None
    try:
        return _read(folder / f"extra-{name}.npy", dtype, shape)
    except (OSError, ValueError):
        return None


def save_extra(ds: K49Dataset, key: str, name: str, arr: np.ndarray) -> bool:
    """Store `arr` beside the outputs of `key` (False when they are not cached)."""
    if not _NAME.match(name):
        raise ValueError(f"bad cache entry name {name!r}")
    folder = find_folder(ds, key)
    if folder is None:
        return False
    try:
        save_npy(folder / f"extra-{name}.npy", np.ascontiguousarray(arr))
    except (OSError, K49Error):
        return False
    return True
