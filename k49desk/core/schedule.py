"""How long to train: a schedule chosen from the data, shown before training starts.

The default (`TrainConfig.epochs=None`) spends a budget of optimisation work sized to the
folder: enough images seen for a small folder to be trained to its plateau, and at least
`MIN_AUTO_EPOCHS` passes over a big one (where an epoch is already a lot of work). The
figures come from the accuracy-vs-CPU-time curves in benchmarks/bench_train.py (see
benchmarks/RESULTS.md, "Training schedule"). `--epochs N` fixes the number of passes;
`--time-budget S` measures this machine's training speed for a few batches and fits the
epochs into S seconds.

    plan = plan_training(cfg, n_train)            # no measuring unless a time budget is set
    plan = plan_training(cfg, n_train, images_per_s=measure_images_per_s(cfg))  # + estimate
    print(plan.describe())
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from k49desk.core.train_config import TrainConfig

# The automatic schedule (TrainConfig.epochs=None), from the accuracy-vs-CPU-time curves on
# real Kuzushiji (RESULTS.md, "Training schedule"): a small folder keeps improving until about
# MIN_AUTO_STEPS optimisation steps (100 images per class: still at 120 epochs = 1,900
# steps; real10's 3,600: 30 epochs = 1,700 steps), a medium one until PLATEAU_EPOCHS passes
# (real10 + kmnist-train-part, 9,900 images: 98.3% after 17, 99.0% after 25). Beyond
# SQRT_FROM images the images seen grow as sqrt(n) only: each pass is already a lot of
# work, so full K49 (209k) gets MIN_AUTO_EPOCHS.
MIN_AUTO_STEPS = 1_700
PLATEAU_EPOCHS = 25
SQRT_FROM = 12_000
MIN_AUTO_EPOCHS = 6
MAX_AUTO_EPOCHS = 150
# Batch size when TrainConfig.batch_size is None: small batches (more steps per image) train a
# small folder better in the same CPU time; a big folder has steps enough and keeps batches
# of 128, the cheaper per image (a full-K49 epoch must stay under 2 minutes on 2 cores).
SMALL_BATCH, LARGE_BATCH, LARGE_FROM = 64, 128, 60_000
def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Batches per epoch as `fit` runs them (a last batch of a single image is dropped)."""
    return max(1, n_train // batch_size + (1 if n_train % batch_size > 1 else 0))


def auto_batch_size(n_train: int) -> int:
    return SMALL_BATCH if n_train < LARGE_FROM else LARGE_BATCH


def auto_epochs(n_train: int, batch_size: int | None = None) -> int:
    """The default number of passes over `n_train` images (see the constants above)."""
    if n_train <= 0:
        return MIN_AUTO_EPOCHS
    bs = batch_size or auto_batch_size(n_train)
    n_eff = n_train if n_train <= SQRT_FROM else math.sqrt(SQRT_FROM * n_train)
    images = max(MIN_AUTO_STEPS * bs, PLATEAU_EPOCHS * n_eff)
    return int(min(MAX_AUTO_EPOCHS, max(MIN_AUTO_EPOCHS, round(images / n_train))))


@dataclass(frozen=True)
class TrainPlan:
    """The schedule `fit` will run: known before training starts."""

    n_train: int
    batch_size: int
    epochs: int
    steps_per_epoch: int
    source: str  # "auto" (sized to the data), "epochs" (--epochs) or "time budget"
    images_per_s: float | None = None  # measured training speed behind `est_s`
    time_budget_s: float | None = None

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def images(self) -> int:
        return self.epochs * self.n_train

    @property
    def est_s(self) -> float | None:
        """Estimated training time in seconds (validation not included), if measured."""
        return None if not self.images_per_s else self.images / self.images_per_s

    def describe(self) -> str:
        why = {"auto": "sized to the data", "epochs": "as asked"}.get(self.source, self.source)
        if self.source == "time budget" and self.time_budget_s is not None:
            why = f"to fit {self.time_budget_s:.0f} s"
        s = (f"{self.epochs} epochs x {self.steps_per_epoch:,d} batches of {self.batch_size} "
             f"= {self.total_steps:,d} steps over {self.n_train:,d} images ({why})")
        if self.est_s is not None:
            s += f", about {_hms(self.est_s)} at {self.images_per_s:,.0f} images/s"
        return s

    def to_dict(self) -> dict[str, object]:
        return {"epochs": self.epochs, "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps, "batch_size": self.batch_size,
                "n_train": self.n_train, "source": self.source,
                "images_per_s": self.images_per_s, "est_s": self.est_s,
                "time_budget_s": self.time_budget_s}


def plan_training(cfg: TrainConfig, n_train: int, *,
                  images_per_s: float | None = None) -> TrainPlan:
    """The schedule for `cfg` on `n_train` training images.

    `cfg.epochs` wins; else `cfg.time_budget_s` (measures the speed here unless
    `images_per_s` is given); else the automatic size-based choice. `cfg.batch_size=None`
    picks the batch size from the data size too.
    """
    bs = cfg.batch_size or auto_batch_size(n_train)
    spe = steps_per_epoch(n_train, bs)
    if cfg.epochs is not None:
        return TrainPlan(n_train, bs, cfg.epochs, spe, "epochs", images_per_s)
    if cfg.time_budget_s is not None:
        if images_per_s is None:
            images_per_s = measure_images_per_s(cfg, batch_size=bs)
        epochs = max(1, int(cfg.time_budget_s * images_per_s / max(n_train, 1)))
        return TrainPlan(n_train, bs, epochs, spe, "time budget", images_per_s,
                         cfg.time_budget_s)
    return TrainPlan(n_train, bs, auto_epochs(n_train, bs), spe, "auto", images_per_s)


def measure_images_per_s(cfg: TrainConfig, *, batch_size: int | None = None, steps: int = 4,
                         warmup: int = 2) -> float:
    """Training images per second of `cfg`'s model on its device, from a few batches of
    random images (the speed does not depend on the pixels). About half a second on a CPU."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from k49desk.core.augment import augment, augment_params
    from k49desk.core.device import autocast, resolve_device
    from k49desk.core.model import build_model

    device = resolve_device(cfg.device)
    old = torch.get_num_threads()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    try:
        gen = torch.Generator().manual_seed(0)
        model = build_model(cfg.model).to(device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        bs = batch_size or cfg.batch_size or LARGE_BATCH
        x = torch.rand(bs, 1, 28, 28, generator=gen).to(device)
        y = torch.randint(0, cfg.model.n_classes, (bs,), generator=gen).to(device)
        t0 = 0.0
        for i in range(warmup + steps):
            if i == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                t0 = time.perf_counter()
            with autocast(device):
                xa = augment(x, augment_params(bs, gen), cfg.cutout) if cfg.augment else x
                loss = F.cross_entropy(model(xa), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return steps * bs / max(time.perf_counter() - t0, 1e-6)
    finally:
        if cfg.threads > 0:
            torch.set_num_threads(old)


def _hms(s: float) -> str:
    s = max(0, int(round(s)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"

