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
import functools
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

from k49desk.core.errors import K49Error
from k49desk.core.fold_config import (
    _cache_key,
    default_init_path,
    default_train_config,
    default_tta,
    other_split_names,
)

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset
    from k49desk.core.model import LoadedModel
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


# What the fold models start from: None = the default (default_init_path), False = random
# initialisation, or a checkpoint (path or LoadedModel).
InitModel = Union["LoadedModel", str, Path, bool, None]


@functools.lru_cache(maxsize=4)
def _load_default_init(path: str, mtime_ns: int, size: int) -> LoadedModel | None:
    from k49desk.core.model import load_checkpoint

    try:
        return load_checkpoint(path)
    except K49Error:
        return None  # a damaged bundled model: the fold models start from scratch


def resolve_init(ds: K49Dataset, split: str, init_model: InitModel = None,
                 train_config: TrainConfig | None = None) -> LoadedModel | None:
    """The model whose weights the fold models of `split` start from (None: random).

    The default (`init_model=None`) is `default_init_path` when its classes are the data
    folder's and `train_config` (if given) asks for its architecture, else none. An explicit
    checkpoint with other classes is an error; its architecture replaces the config's."""
    from k49desk.core.model import LoadedModel, load_checkpoint
    from k49desk.core.samples import same_classes

    if init_model is False:
        return None
    if init_model is None or init_model is True:
        path = default_init_path(len(ds.split(split)))
        if path is None:
            return None
        st = path.stat()
        m = _load_default_init(str(path), st.st_mtime_ns, st.st_size)
        if m is None or not same_classes(m.classes, ds.classes):
            return None
        if train_config is not None and replace(train_config.model,
                                                n_classes=m.config.n_classes) != m.config:
            return None  # the caller asked for another architecture
        return m
    m = init_model if isinstance(init_model, LoadedModel) else load_checkpoint(init_model)
    if not same_classes(m.classes, ds.classes):
        name = m.path.name if m.path is not None else "the starting model"
        raise K49Error(f"{name}: its {len(m.classes)} classes are not the data folder's "
                       f"{ds.n_classes}; the fold models cannot start from it")
    return m


def init_fingerprint(m: LoadedModel | None) -> str | None:
    """What identifies a starting model in the cache key: a hash of its weights."""
    if m is None:
        return None
    h = hashlib.sha1()
    for k, v in m.model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def resolve_config(ds: K49Dataset, split: str, train_config: TrainConfig | None = None,
                   device: str | None = None, init: LoadedModel | None = None) -> TrainConfig:
    """The fold models' settings `find_issues` uses (its default by split size; `device`
    overriding the config's; the class count of the data folder; the architecture of the
    model they start from, if any)."""
    cfg = train_config if train_config is not None else default_train_config(len(ds.split(split)))
    if device is not None:
        cfg = replace(cfg, device=device)
    if init is not None:
        cfg = replace(cfg, model=init.config)
    if cfg.model.n_classes != ds.n_classes:
        cfg = replace(cfg, model=replace(cfg.model, n_classes=ds.n_classes))
    return cfg


def proba_cache_name(ds: K49Dataset, split: str, folds: int,
                     train_config: TrainConfig | None = None, tta: bool | None = None,
                     init_model: InitModel = None) -> str:
    """The .npy name `find_issues` caches these probabilities under (`tta` None: its
    default by split size; `init_model` as for `resolve_init`)."""
    s = ds.split(split)
    init = resolve_init(ds, split, init_model, train_config)
    cfg = resolve_config(ds, split, train_config, init=init)
    use_tta = default_tta(len(s)) if tta is None else tta
    others = tuple(ds.split(o) for o in other_split_names(ds, split))
    key = _cache_key(s, folds, cfg, use_tta, others, init_fingerprint(init))
    return f"issues-proba-{split}-{key}.npy"


def resume_status(ds: K49Dataset, split: str, folds: int,
                  train_config: TrainConfig | None = None,
                  tta: bool | None = None, init_model: InitModel = None) -> ResumeStatus:
    """How much of a `find_issues(ds, split, folds=, train_config=)` run is already on disk."""
    if folds <= 0:
        return ResumeStatus(0, 0, True)
    from k49desk.core.dataset import cache_dirs

    name = proba_cache_name(ds, split, folds, train_config, tta, init_model)
    for d in cache_dirs(Path(ds.root)):
        with contextlib.suppress(OSError, ValueError):
            arr = np.load(d / name, mmap_mode="r", allow_pickle=False)
            if arr.ndim == 2 and arr.shape[0] == len(ds.split(split)):
                return ResumeStatus(folds, folds, True)
    return ResumeStatus(folds, len(FoldCache(ds.root, name).done(folds)), False)
