"""The fold models of `find_issues`: their settings by split size, how many folds, which other
splits join their training, and the key their cached probabilities are stored under.

Below both `issues` (which trains and scores the folds) and `fold_cache` (which keeps each
finished fold on disk), so neither imports the other for these facts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset, Split
    from k49desk.core.training import TrainConfig

TTA_MAX_IMAGES = 20_000
SMALL_SPLIT = 20_000
BIG_SPLIT = 100_000
BIG_SPLIT_CHANNELS = (8, 16, 32)
# The other splits' images also train the fold models (never scored) when the scanned split
# is small and they are at most this share of its size: more labelled data, better
# out-of-sample probabilities. real10 train with 5% flips, test's 1,000 images added to each
# fold's 3,200: label flags P/R 0.922/0.885 -> 0.942/0.895 (seed 0), 0.927/0.885 ->
# 0.952/0.885 (seed 1), +3-7% CPU time (the schedule gives the bigger fold fewer epochs).
OTHER_SPLITS_MAX_SHARE = 0.5
FINE_TUNE_MAX = SMALL_SPLIT  # see default_init_path
_CACHE_VERSION = 4  # 3: other splits train the fold models of small splits; 4: big splits


def default_train_config(n_images: int) -> TrainConfig:
    """Settings for the fold models: no validation split (val_fraction=0), plain loss.

    Small splits (up to SMALL_SPLIT images) get the app's training recipe (label smoothing,
    cutout, batch 64) with the schedule `k49desk train` would choose for them: confident
    learning is only as precise as the out-of-sample probabilities. On big splits a narrow
    CNN and 3 epochs keep the folds of full K49 within the 10-minute budget on 2 CPU cores:
    8-16-32 channels train at ~5,800 images/s on 2 cores against ~2,300 for 16-32-64, and on
    one fold of the full demo (473 wrong labels) rank the wrong labels as well (precision at
    the true count 0.992 vs 1.000; accuracy against the true labels 99.6% vs 99.8%).
    Same settings, same probabilities (seeded).
    """
    from k49desk.core.model import ModelConfig
    from k49desk.core.training import TrainConfig

    if n_images <= SMALL_SPLIT:
        return TrainConfig(epochs=None, imbalance="none", val_fraction=0.0, seed=0,
                           drop_high_loss=0.1, model=ModelConfig())
    big = n_images > BIG_SPLIT
    return TrainConfig(epochs=3 if big else 6, batch_size=128 if big else 64, lr=3e-3,
                       augment=True, imbalance="none", val_fraction=0.0, seed=0,
                       model=ModelConfig(channels=BIG_SPLIT_CHANNELS if big else (16, 32, 64)))


def default_init_path(n_images: int) -> Path | None:
    """The checkpoint the fold models of a split of `n_images` start from by default: the
    bundled default model for splits up to FINE_TUNE_MAX images (it has read ~10,000 real
    Kuzushiji images and all 49 classes in generated form, which a few thousand images
    cannot teach a model from scratch), else None (random initialisation: a big split has
    data enough, and its fold models use another, faster architecture)."""
    from k49desk.paths import DEFAULT_MODEL

    if n_images > FINE_TUNE_MAX or not DEFAULT_MODEL.is_file():
        return None
    return DEFAULT_MODEL


def fold_epochs(cfg: TrainConfig, n_images: int, folds: int, extra: int = 0) -> int:
    """Epochs each fold model trains (the config's, or the schedule's for its share of the
    split plus the `extra` images of other splits that join every fold: other_images)."""
    from k49desk.core.schedule import plan_training

    return plan_training(cfg, max(1, n_images - n_images // max(folds, 1)) + extra).epochs


def default_folds(n_images: int) -> int:
    """5 folds; 4 above BIG_SPLIT images, where each fold model already sees 174,000+
    images: one fold of the full demo ranked its wrong labels alike with 4 and 5 folds
    (precision at the true count 0.992 and 0.992) and 4 folds cost a fifth less time."""
    return 4 if n_images > BIG_SPLIT else 5


def other_split_names(ds: K49Dataset, split: str) -> list[str]:
    """The splits whose images also train `split`'s fold models (see OTHER_SPLITS_MAX_SHARE):
    none for big splits, where data is plentiful and time is short."""
    n = len(ds.split(split))
    others = [o for o in ds.split_names if o != split]
    if n > SMALL_SPLIT or sum(len(ds.split(o)) for o in others) > OTHER_SPLITS_MAX_SHARE * n:
        return []
    return others


def other_images(ds: K49Dataset, split: str) -> int:
    """How many images of the other splits join every fold model's training set."""
    return sum(len(ds.split(o)) for o in other_split_names(ds, split))


def default_tta(n_images: int) -> bool:
    """Shift-averaged (test-time augmented) probabilities where they are cheap: small splits."""
    return n_images <= TTA_MAX_IMAGES


def _split_fingerprint(split: Split) -> str:
    return split.data_fingerprint()


def _cache_key(split: Split, folds: int, train_config: TrainConfig, tta: bool,
               others: tuple[Split, ...] = (), init: str | None = None) -> str:
    # Where and on how many threads the folds ran does not change what they compute (up to
    # float rounding): probabilities made on a GPU box are reused on the desktop.
    train = {k: v for k, v in asdict(train_config).items() if k not in ("device", "threads")}
    blob = json.dumps({"v": _CACHE_VERSION, "split": split.name, "n": len(split),
                       "data": _split_fingerprint(split), "folds": folds,
                       # the other splits that also train the fold models (small splits)
                       "others": [[o.name, len(o), _split_fingerprint(o)] for o in others],
                       "train": train, "tta": tta,
                       # the weights the fold models start from (None: random)
                       **({"init": init} if init else {})},
                      sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]
