"""The network: `ModelConfig` (architecture knobs), `K49Net` and `build_model`.

Kept apart from model.py (checkpoints, LoadedModel) so model_checks can build a model on the
meta device without importing model.py, which imports model_checks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

from k49desk.core.classes import N_CLASSES


@dataclass(frozen=True)
class ModelConfig:
    """Architecture knobs. The default is sized for CPU training: measured on real Kuzushiji
    (benchmarks/bench_train.py), 16-32-64-128 is 2.5x cheaper per image than 32-64-128 and
    as accurate, because a thin first stage keeps the memory-bound 28x28 maps small."""

    n_classes: int = N_CLASSES
    channels: tuple[int, ...] = (16, 32, 64, 128)  # one conv-bn-relu stage per entry
    convs_per_stage: int = 1
    dropout: float = 0.2
    pool: int = 3  # final maps are average-pooled to pool x pool (1: global pooling)
    hidden: int = 0  # 0: pooled features straight into the classifier

    def __post_init__(self) -> None:
        # JSON/checkpoints give lists back; keep the dataclass hashable and comparable.
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        return cls(**d)


def _stage(c_in: int, c_out: int, n_convs: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(n_convs):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return layers


class K49Net(nn.Module):
    """conv-bn-relu stages with 2x2 max-pool between them, a small average pool, linear head.

    Pooling after every stage but the last keeps the expensive wide convolutions on small
    maps (28 -> 14 -> 7 -> 3), which is what makes it fast on a CPU.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for i, c in enumerate(cfg.channels):
            layers += _stage(c_in, c, cfg.convs_per_stage)
            if i < len(cfg.channels) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.features = nn.Sequential(*layers)
        # A 3x3 pool (not global) keeps coarse position: where a stroke sits tells hiragana
        # apart (e.g. い vs り), and costs only a bigger final linear layer.
        head: list[nn.Module] = [nn.AdaptiveAvgPool2d(cfg.pool), nn.Flatten()]
        c_in *= cfg.pool * cfg.pool
        if cfg.hidden:
            head += [nn.Linear(c_in, cfg.hidden), nn.ReLU(inplace=True)]
            c_in = cfg.hidden
        head += [nn.Dropout(cfg.dropout), nn.Linear(c_in, cfg.n_classes)]
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Centre the [0, 1] input so the first layer starts near a sensible scale.
        return self.head(self.features((x - 0.2) / 0.3))


def build_model(cfg: ModelConfig) -> nn.Module:
    """Float (N, 1, 28, 28) in [0, 1] -> logits (N, n_classes)."""
    return K49Net(cfg)
