"""How thorough a Find suspects run is, how long it should take, and how long it has left.

The CLI takes `--folds/--epochs`; a person in the GUI picks one of `presets()` (quick,
thorough = the CLI's defaults, checks only) or sets folds and epochs. `estimate_seconds`
turns a plan into an expected time from a training speed measured on this computer, now
(`measure_speed`: a throwaway model trained for a few seconds on the split's own images),
since the same code's speed varies many-fold with the machine and its load.
`Eta` extrapolates the remaining time of a running scan from its progress.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset
    from k49desk.core.progress import ShouldStop
    from k49desk.core.training import TrainConfig

MAX_FOLDS = 10
# As many epochs as the automatic schedule may choose (a small split's thorough scan has 34):
# the Custom choice can always say what a preset does.
MAX_EPOCHS = 150
# Blank + duplicate checks: 2.7-3.0 s CPU (7 s wall at load 11) for the 23,235 train images of
# the default demo data against its 3,856 test images, measured 2026-11-30.
CHECKS_S_PER_IMAGE = 1.2e-4
SCORING_SHARE = 0.05  # scoring the held-out images, relative to the training


@dataclass(frozen=True)
class ScanPlan:
    """folds=0: the blank and duplicate checks only; epochs=None: the default by split size."""

    key: str  # "quick" | "thorough" | "checks" | "custom"
    title: str
    folds: int
    epochs: int | None = None

    def describe(self) -> str:
        if not self.folds:
            return "blank images and duplicates only; no label check"
        return f"{self.folds} folds × {self.epochs} epochs"


def default_epochs(n_images: int, folds: int | None = None, extra: int = 0) -> int:
    """Epochs each fold model trains by default (the schedule for its share of the split and
    the `extra` images of other splits that join it: fold_config.other_images)."""
    from k49desk.core.fold_config import default_folds, default_train_config, fold_epochs

    f = default_folds(n_images) if folds is None else folds
    return fold_epochs(default_train_config(n_images), n_images, f, extra)


def presets(n_images: int, extra: int = 0) -> list[ScanPlan]:
    """Quick (3 folds, half the epochs), thorough (the CLI's defaults), checks only."""
    from k49desk.core.fold_config import default_folds

    f = default_folds(n_images)
    return [ScanPlan("quick", "Quick", 3, max(1, default_epochs(n_images, 3, extra) // 2)),
            ScanPlan("thorough", "Thorough", f, default_epochs(n_images, f, extra)),
            ScanPlan("checks", "Checks only", 0, None)]


def train_config(ds: K49Dataset, split: str, plan: ScanPlan) -> TrainConfig | None:
    """The fold models' settings for `plan` (None: find_issues' own default)."""
    if not plan.folds or plan.epochs is None:
        return None
    from k49desk.core.fold_config import default_train_config, other_images

    n = len(ds.split(split))
    if plan.epochs == default_epochs(n, plan.folds, other_images(ds, split)):
        return None  # the default: the same cached probabilities as `k49desk find-issues`
    return replace(default_train_config(n), epochs=plan.epochs)


def images_to_train(n_images: int, folds: int, epochs: int, done_folds: int = 0,
                    extra: int = 0) -> float:
    """Images the fold models still go through: each trains on (folds-1)/folds of the split
    and the `extra` images of other splits."""
    if folds <= 0:
        return 0.0
    return max(folds - done_folds, 0) * epochs * (n_images * (folds - 1) / folds + extra)


def estimate_seconds(n_images: int, plan: ScanPlan, images_per_s: float | None,
                     done_folds: int = 0, extra: int = 0) -> float | None:
    """Expected wall time of `plan` (None: the speed is not known yet)."""
    checks = CHECKS_S_PER_IMAGE * n_images
    if not plan.folds:
        return checks
    if not images_per_s or images_per_s <= 0:
        return None
    epochs = (plan.epochs if plan.epochs is not None
              else default_epochs(n_images, plan.folds, extra))
    train = images_to_train(n_images, plan.folds, epochs, done_folds, extra) / images_per_s
    return checks + train * (1 + SCORING_SHARE)


def measure_speed(images: np.ndarray, labels: np.ndarray, cfg: TrainConfig,
                  seconds: float = 2.0, should_stop: ShouldStop | None = None,
                  min_steps: int = 6) -> float:
    """Training images per second of `cfg` on this computer now (a throwaway model trained
    for at least `seconds` and `min_steps` batches on a sample of the images; the first
    batches, slower, are left out)."""
    from k49desk.core.schedule import auto_batch_size
    from k49desk.core.training import fit

    # The batch the fold models will use: the config's, or the schedule's for the split
    # (small splits' default config leaves it to the schedule).
    cfg = replace(cfg, batch_size=cfg.batch_size or auto_batch_size(len(labels)))
    n = min(len(labels), cfg.batch_size * 400)
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(labels), n, replace=False))
    marks: list[tuple[float, int]] = []

    def seen(_f: float | None, _t: str, ev: object = None) -> None:
        if ev is not None and getattr(ev, "kind", "") == "step":
            marks.append((time.perf_counter(), ev.step * cfg.batch_size))

    def enough() -> bool:
        return bool((should_stop is not None and should_stop())
                    or (len(marks) >= 3 + min_steps and marks[-1][0] - marks[2][0] >= seconds))

    fit(replace(cfg, epochs=1, val_fraction=0.0), np.asarray(images)[idx],
        np.asarray(labels)[idx], progress=seen, should_stop=enough)
    if len(marks) < 4:
        if len(marks) < 2 or marks[-1][0] <= marks[0][0]:
            return 0.0
        (t0, s0), (t1, s1) = marks[0], marks[-1]
    else:
        (t0, s0), (t1, s1) = marks[2], marks[-1]
    return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0


def format_duration(seconds: float | None) -> str:
    """ "about 40 s", "about 6 min", "about 1 h 20 min"; "" when unknown."""
    if seconds is None:
        return ""
    s = max(0.0, float(seconds))
    if s < 60:
        return f"about {max(5, round(s / 5) * 5):.0f} s"
    if s < 3600:
        return f"about {round(s / 60):.0f} min"
    h, m = divmod(round(s / 60), 60)
    return f"about {h} h {m} min" if m else f"about {h} h"


class Eta:
    """The remaining time of a running scan, extrapolated from its progress fractions.

    Measured from the first update at or after `start_at` (the training, after the quick
    checks; folds kept from an earlier run jump ahead and are not counted as speed)."""

    def __init__(self, min_seconds: float = 3.0, clock: object = time.monotonic) -> None:
        self.min_seconds = min_seconds
        self._clock = clock
        self._start: tuple[float, float] | None = None
        self._last = 0.0

    def update(self, fraction: float | None, training: bool = True) -> float | None:
        """Seconds left after this update (None: not known yet)."""
        if fraction is None or not training:
            return None
        now = self._clock()  # type: ignore[operator]
        if self._start is None or fraction < self._last:
            self._start = (now, fraction)
        self._last = fraction
        t0, f0 = self._start
        if now - t0 < self.min_seconds or fraction <= f0:
            return None
        return (now - t0) / (fraction - f0) * (1.0 - fraction)
