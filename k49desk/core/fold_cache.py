"""Resume Find suspects: every finished fold's held-out probabilities are kept on disk.

`find_issues` trains one model per fold (minutes each at full scale). As soon as a fold is
done, its out-of-sample probabilities are saved beside the full-probability cache and named
after it (so keyed the same way: the split's fingerprint, the number of folds and every
training setting), so a run stopped by Cancel, a crash or closing the app starts again at the
first unfinished fold with the same result. The fold files are deleted once the whole table
is cached.

`resume_status` tells a caller (the Review panel's Find suspects dialog) how much of a run
with given settings is already done, without loading the arrays.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from k49desk.core.errors import K49Error
from k49desk.core.fold_config import (
    _cache_key,
    default_train_config,
    default_tta,
    other_split_names,
)

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset
    from k49desk.core.training import TrainConfig


class FoldCache:
    """The per-fold files of one probability cache entry (`name`: its .npy file name)."""

    def __init__(self, root: str | Path, name: str) -> None:
        self.root = Path(root)
        self.stem = name.removesuffix(".npy")

    def fold_name(self, k: int) -> str:
        return f"{self.stem}.fold{k}.npy"

    def _dirs(self) -> list[Path]:
        from k49desk.core.dataset import cache_dirs

        return cache_dirs(self.root)

    def load(self, k: int, n_held: int) -> np.ndarray | None:
        """Fold `k`'s (n_held, n_classes) probabilities, or None (absent, damaged, other size)."""
        for d in self._dirs():
            try:
                arr = np.load(d / self.fold_name(k), allow_pickle=False)
            except (OSError, ValueError):
                continue
            if (arr.ndim == 2 and arr.shape[0] == n_held and arr.dtype.kind == "f"
                    and np.isfinite(arr).all() and ((arr >= 0) & (arr <= 1)).all()):
                return arr.astype(np.float32, copy=False)
        return None

    def save(self, k: int, proba: np.ndarray) -> None:
        """Keep fold `k` (atomic); where nothing is writable the run just won't resume."""
        from k49desk.core.atomic import save_npy

        for d in self._dirs():
            try:
                d.mkdir(parents=True, exist_ok=True)
                save_npy(d / self.fold_name(k), np.asarray(proba, np.float32))
                return
            except (OSError, K49Error):
                continue

    def done(self, folds: int) -> list[int]:
        """The folds with a readable file (header only: cheap)."""
        out = []
        for k in range(folds):
            for d in self._dirs():
                try:
                    arr = np.load(d / self.fold_name(k), mmap_mode="r", allow_pickle=False)
                except (OSError, ValueError):
                    continue
                if arr.ndim == 2:
                    out.append(k)
                    break
        return out

    def clear(self) -> None:
        """Delete every fold file of this entry (the whole table is cached now)."""
        for d in self._dirs():
            for f in d.glob(f"{self.stem}.fold*.npy"):
                with contextlib.suppress(OSError):
                    f.unlink()


@dataclass(frozen=True)
class ResumeStatus:
    folds: int
    done: int  # folds already finished (kept from an earlier, stopped run)
    complete: bool  # the whole table is cached: no training at all

    def describe(self) -> str:
        if self.complete:
            return "already computed: no training needed"
        if self.done:
            return f"{self.done} of {self.folds} folds already done: resumes from there"
        return ""


def resolve_config(ds: K49Dataset, split: str, train_config: TrainConfig | None = None,
                   device: str | None = None) -> TrainConfig:
    """The fold models' settings `find_issues` uses (its default by split size; `device`
    overriding the config's; the class count of the data folder)."""
    cfg = train_config if train_config is not None else default_train_config(len(ds.split(split)))
    if device is not None:
        cfg = replace(cfg, device=device)
    if cfg.model.n_classes != ds.n_classes:
        cfg = replace(cfg, model=replace(cfg.model, n_classes=ds.n_classes))
    return cfg


def proba_cache_name(ds: K49Dataset, split: str, folds: int,
                     train_config: TrainConfig | None = None, tta: bool | None = None) -> str:
    """The .npy name `find_issues` caches these probabilities under (`tta` None: its
    default by split size)."""
    s = ds.split(split)
    cfg = resolve_config(ds, split, train_config)
    use_tta = default_tta(len(s)) if tta is None else tta
    others = tuple(ds.split(o) for o in other_split_names(ds, split))
    return f"issues-proba-{split}-{_cache_key(s, folds, cfg, use_tta, others)}.npy"


def resume_status(ds: K49Dataset, split: str, folds: int,
                  train_config: TrainConfig | None = None,
                  tta: bool | None = None) -> ResumeStatus:
    """How much of a `find_issues(ds, split, folds=, train_config=)` run is already on disk."""
    if folds <= 0:
        return ResumeStatus(0, 0, True)
    from k49desk.core.dataset import cache_dirs

    name = proba_cache_name(ds, split, folds, train_config, tta)
    for d in cache_dirs(Path(ds.root)):
        with contextlib.suppress(OSError, ValueError):
            arr = np.load(d / name, mmap_mode="r", allow_pickle=False)
            if arr.ndim == 2 and arr.shape[0] == len(ds.split(split)):
                return ResumeStatus(folds, folds, True)
    return ResumeStatus(folds, len(FoldCache(ds.root, name).done(folds)), False)
