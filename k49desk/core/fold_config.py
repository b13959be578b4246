"""The fold models of `find_issues`: their settings by split size, how many folds, which other
splits join their training, and the key their cached probabilities are stored under.

Below both `issues` (which trains and scores the folds) and `fold_cache` (which keeps each
finished fold on disk), so neither imports the other for these facts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset, Split
    from k49desk.core.training import TrainConfig

TTA_MAX_IMAGES = 20_000
SMALL_SPLIT = 20_000
BIG_SPLIT = 100_000
# The other splits' images also train the fold models (never scored) when the scanned split
# is small and they are at most this share of its size: more labelled data, better
# out-of-sample probabilities. real10 train with 5% flips, test's 1,000 images added to each
# fold's 3,200: label flags P/R 0.922/0.885 -> 0.942/0.895 (seed 0), 0.927/0.885 ->
# 0.952/0.885 (seed 1), +3-7% CPU time (the schedule gives the bigger fold fewer epochs).
OTHER_SPLITS_MAX_SHARE = 0.5
_CACHE_VERSION = 3  # 3: other splits train the fold models of small splits


def default_train_config(n_images: int) -> TrainConfig:
    """Settings for the fold models: no validation split (val_fraction=0), plain loss.

    Small splits (up to SMALL_SPLIT images) get the app's training recipe (label smoothing,
    cutout, batch 64) with the schedule `k49desk train` would choose for them: confident
    learning is only as precise as the out-of-sample probabilities. On big splits a narrower
    CNN (16-32-64 channels: about 4x fewer operations) and a few epochs keep 5 folds of full
    K49 within the 10-minute budget on 2 CPU cores. Same settings, same probabilities (seeded).
    """
    from k49desk.core.model import ModelConfig
    from k49desk.core.training import TrainConfig

    if n_images <= SMALL_SPLIT:
        return TrainConfig(epochs=None, imbalance="none", val_fraction=0.0, seed=0,
                           drop_high_loss=0.1, model=ModelConfig())
    big = n_images > BIG_SPLIT
    return TrainConfig(epochs=3 if big else 6, batch_size=128 if big else 64, lr=3e-3,
                       augment=True, imbalance="none", val_fraction=0.0, seed=0,
                       model=ModelConfig(channels=(16, 32, 64)))


def fold_epochs(cfg: TrainConfig, n_images: int, folds: int) -> int:
    """Epochs each fold model trains (the config's, or the schedule's for its share)."""
    from k49desk.core.schedule import plan_training

    return plan_training(cfg, max(1, n_images - n_images // max(folds, 1))).epochs


def default_folds(n_images: int) -> int:
    """5 folds at every size. On full K49 fewer passes lose recall: with the narrow fold CNN,
    5 folds x 3 epochs found 96.1% of the 2,324 wrong demo labels, 3 x 3 only 85.8% and
    5 x 2 86.1% (precision 1.000 each; benchmarks/RESULTS.md). 5 x 3 takes about 14 minutes
    on 2 quiet cores, over the 10-minute budget; a correct default first."""
    return 5


def other_split_names(ds: K49Dataset, split: str) -> list[str]:
    """The splits whose images also train `split`'s fold models (see OTHER_SPLITS_MAX_SHARE):
    none for big splits, where data is plentiful and time is short."""
    n = len(ds.split(split))
    others = [o for o in ds.split_names if o != split]
    if n > SMALL_SPLIT or sum(len(ds.split(o)) for o in others) > OTHER_SPLITS_MAX_SHARE * n:
        return []
    return others


def default_tta(n_images: int) -> bool:
    """Shift-averaged (test-time augmented) probabilities where they are cheap: small splits."""
    return n_images <= TTA_MAX_IMAGES


def _split_fingerprint(split: Split) -> str:
    return split.data_fingerprint()


def _cache_key(split: Split, folds: int, train_config: TrainConfig, tta: bool,
               others: tuple[Split, ...] = ()) -> str:
    # Where and on how many threads the folds ran does not change what they compute (up to
    # float rounding): probabilities made on a GPU box are reused on the desktop.
    train = {k: v for k, v in asdict(train_config).items() if k not in ("device", "threads")}
    blob = json.dumps({"v": _CACHE_VERSION, "split": split.name, "n": len(split),
                       "data": _split_fingerprint(split), "folds": folds,
                       # the other splits that also train the fold models (small splits)
                       "others": [[o.name, len(o), _split_fingerprint(o)] for o in others],
                       "train": train, "tta": tta},
                      sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]
