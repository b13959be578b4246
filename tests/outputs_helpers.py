"""Model outputs we choose, for the tests of what reads them (Gallery queries, find similar,
the map): a tiny real model and `ModelOutputs` with known predictions and embeddings."""

from __future__ import annotations

import numpy as np
import torch

from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.model import LoadedModel, ModelConfig, build_model
from k49desk.core.outputs import Embedder, ModelOutputs, SplitOutputs


def tiny_model(seed: int = 0) -> LoadedModel:
    """An untrained 4-8 channel K49Net: real, deterministic, fast."""
    torch.manual_seed(seed)
    cfg = ModelConfig(channels=(4, 8), dropout=0.0)
    return LoadedModel(build_model(cfg).eval(), cfg, classes=OFFICIAL_CLASSES)


def known_outputs(ds, seed: int = 0) -> ModelOutputs:  # noqa: ANN001
    """A wrong prediction on every 5th image (label + 1), confidences and losses all
    different, embeddings one-hot by label plus a little noise (neighbours share a label)."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, sp in ds.splits.items():
        labels = np.asarray(sp.labels)
        n = len(labels)
        so = SplitOutputs.empty(name, labels, 49)
        wrong = np.arange(n) % 5 == 0
        so.predicted[:] = np.where(wrong, (labels.astype(int) + 1) % 49, labels)
        so.confidence[:] = rng.permutation(np.linspace(0.2, 1.0, n)).astype(np.float32)
        so.loss[:] = rng.permutation(np.linspace(0.0, 6.0, n)).astype(np.float32)
        so.margin[:] = rng.random(n).astype(np.float32)
        so.embedding[:] = (np.eye(49, dtype=np.float32)[labels] * 5
                           + rng.normal(0, 0.2, (n, 49)).astype(np.float32))
        splits[name] = so
    return ModelOutputs(splits, Embedder(np.zeros(49, np.float32),
                                         np.eye(49, dtype=np.float32)), "test-model", "test-key")
