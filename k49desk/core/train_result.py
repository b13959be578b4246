"""`TrainResult`: what a training run returns (see core/training.py, which re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from k49desk.core.train_config import TrainEvent

if TYPE_CHECKING:
    from torch import nn

    from k49desk.core.schedule import TrainPlan


@dataclass
class TrainResult:
    model: nn.Module | None  # None once the result has crossed a process boundary
    history: list[TrainEvent]
    epochs_completed: int
    stopped: bool
    val_balanced_accuracy: float | None
    elapsed_s: float
    val_accuracy: float | None = None
    checkpoint: Path | None = None  # what train_folder saved last (None on ranks > 0)
    metrics: dict[str, Any] = field(default_factory=dict)  # the saved checkpoint's metrics
    trained_on: str = ""
    plan: TrainPlan | None = None  # the schedule that ran
    cpu_s: float = 0.0  # process CPU time of the whole call
