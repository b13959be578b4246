"""Training's data types: `TrainConfig` (frozen) and `TrainEvent` (progress payload).

Kept apart from the loop (core/training.py) so the GUI's settings form and the schedule can use
them; `TrainResult` (which holds a schedule's TrainPlan) is in train_result.py, so that this
module, which the schedule uses, does not use the schedule. `k49desk.core.training` re-exports
all three.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from k49desk.core.device import DEVICE_CHOICES
from k49desk.core.net import ModelConfig

IMBALANCE_CHOICES = ("none", "weights", "sampler")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings. Defaults measured in benchmarks/bench_train.py (RESULTS.md)."""

    epochs: int | None = None  # None: sized to the data (core/schedule.py)
    batch_size: int | None = None  # None: by data size (core/schedule.py)
    lr: float = 3e-3  # peak learning rate of the one-cycle schedule (AdamW)
    augment: bool = True  # small random affine maps
    cutout: float = 0.5  # with augment: share of images with a 9x9 square blacked out
    imbalance: str = "weights"  # "none" | "weights" (loss weights) | "sampler" (balanced draws)
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # 0: leave torch's thread count alone
    model: ModelConfig = field(default_factory=ModelConfig)
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    ema_decay: float = 0.0  # > 0: keep (validate, save) an exponential moving average of weights
    drop_high_loss: float = 0.0  # after 1/3 of training, ignore this share of each batch's
    # highest losses (robust to wrong labels; the fold models of find-issues use it)
    time_budget_s: float | None = None  # with epochs=None: fit the schedule into this time

    def __post_init__(self) -> None:
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2, got {self.batch_size}")
        if self.imbalance not in IMBALANCE_CHOICES:
            raise ValueError(f"imbalance must be one of {IMBALANCE_CHOICES}, "
                             f"got {self.imbalance!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.device not in DEVICE_CHOICES:
            raise ValueError(f"device must be one of {DEVICE_CHOICES}, got {self.device!r}")
        if not 0.0 <= self.cutout <= 1.0:
            raise ValueError(f"cutout must be in [0, 1], got {self.cutout}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.drop_high_loss < 1.0:
            raise ValueError(f"drop_high_loss must be in [0, 1), got {self.drop_high_loss}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(f"time budget must be positive, got {self.time_budget_s}")
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", ModelConfig.from_dict(self.model))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class TrainEvent:
    """The payload of `fit`'s progress reports: one per batch ("step") and per epoch."""

    kind: str  # "step" | "epoch"
    epoch: int  # 1-based
    epochs: int
    step: int  # 1-based within the epoch
    steps_per_epoch: int
    global_step: int
    loss: float | None  # running mean over the epoch so far
    acc: float | None  # running training accuracy over the epoch so far
    images_per_s: float
    eta_s: float
    val_loss: float | None = None
    val_balanced_accuracy: float | None = None
    val_accuracy: float | None = None
    batch_loss: float | None = None  # this batch's own loss (step events)
    n_train: int = 0  # images trained on per epoch
    n_val: int = 0  # images validated on per epoch
    lr: float | None = None  # learning rate of this step (step events)

    @property
    def fraction(self) -> float:
        return self.global_step / max(1, self.steps_per_epoch * self.epochs)

    def describe(self) -> str:
        if self.kind == "epoch":
            val = ("" if self.val_balanced_accuracy is None
                   else f", val balanced acc {self.val_balanced_accuracy:.2%}")
            return f"Epoch {self.epoch}/{self.epochs} done: loss {self.loss:.4f}{val}"
        return (f"Epoch {self.epoch}/{self.epochs}, batch {self.step}/{self.steps_per_epoch}: "
                f"loss {self.loss:.3f}")
