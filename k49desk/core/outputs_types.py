"""The data of a model pass (see outputs.py): `Embedder`, `SplitOutputs`, `ModelOutputs`, the
format constants and the cache-folder helpers, shared by outputs (which computes them) and
outputs_cache (which stores them), so that neither imports the other's caller.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from k49desk.core.errors import K49Error

OUTPUTS_VERSION = 1
EMBED_DIM = 128
TOPK = 5
CACHE_SUBDIR = "outputs"
KEEP_CACHED = 3  # outputs of this many (model, data) pairs are kept per data folder
_PER_SPLIT = ("predicted", "confidence", "loss", "margin", "top5", "top5_p", "embedding")


# ---- the embedding space ---------------------------------------------------------------------
@dataclass(frozen=True)
class Embedder:
    """Penultimate features -> embedding: L2-normalise, subtract `mean`, project on `components`."""

    mean: np.ndarray  # (D,) float32
    components: np.ndarray  # (d, D) float32, rows orthonormal, by decreasing variance

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])

    def transform(self, features: np.ndarray) -> np.ndarray:
        # In torch: its matmul ran 5x faster than numpy's here, on one thread.
        f = torch.from_numpy(np.ascontiguousarray(features, np.float32))
        f = torch.nn.functional.normalize(f, dim=1, eps=1e-12) - torch.from_numpy(self.mean)
        return (f @ torch.from_numpy(self.components).T).numpy()

    @classmethod
    def fit(cls, features: np.ndarray, dim: int = EMBED_DIM) -> Embedder:
        f = np.asarray(features, np.float64)
        if f.ndim != 2 or f.shape[0] < 2:
            raise K49Error(f"need at least 2 feature vectors to fit an embedding, got {f.shape}")
        f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
        mean = f.mean(axis=0)
        c = f - mean
        # Eigenvectors of the D x D covariance: cheaper than an SVD of the sample.
        import scipy.linalg

        width = f.shape[1]
        k = min(dim, width)
        c32 = c.astype(np.float32)
        cov = (c32.T @ c32).astype(np.float64)
        # Only the top k eigenpairs: half the time of a full eigh (1152 x 1152).
        vals, vecs = scipy.linalg.eigh(cov, subset_by_index=[width - k, width - 1])
        comps = vecs[:, np.argsort(vals)[::-1]].T
        # A deterministic sign per component, so equal inputs give equal embeddings.
        comps *= np.where(comps[np.arange(comps.shape[0]), np.abs(comps).argmax(axis=1)] < 0,
                          -1.0, 1.0)[:, None]
        return cls(mean.astype(np.float32), np.ascontiguousarray(comps, np.float32))


# ---- per-split results -----------------------------------------------------------------------
@dataclass
class SplitOutputs:
    """Per-image model outputs of one split (row i is image i of the split)."""

    split: str
    labels: np.ndarray  # uint8 (N,) given labels
    predicted: np.ndarray  # uint8 (N,)
    confidence: np.ndarray  # float32 (N,) probability of the predicted class
    loss: np.ndarray  # float32 (N,) -log p[given label]
    margin: np.ndarray  # float32 (N,) p(top 1) - p(top 2)
    top5: np.ndarray  # uint8 (N, 5) classes, most probable first
    top5_p: np.ndarray  # float32 (N, 5)
    embedding: np.ndarray  # float32 (N, d)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def correct(self) -> np.ndarray:
        return self.predicted == self.labels

    SORTABLE = ("confidence", "loss", "margin", "predicted", "labels")

    def sort_order(self, field_name: str, descending: bool = False) -> np.ndarray:
        """Image indices sorted by a per-image field (ties by index), computed once and kept.

        A full argsort of 232,365 values costs 15-90 ms (more on a busy machine); with the
        order kept, a filtered and sorted view is one gather: `o = sort_order("loss", True);
        o[mask[o]]` (about a millisecond)."""
        if field_name not in self.SORTABLE:
            raise K49Error(f"cannot sort by {field_name!r} (choose from "
                           f"{', '.join(self.SORTABLE)})")
        cache = self.__dict__.setdefault("_orders", {})
        key = (field_name, descending)
        if key not in cache:
            values = getattr(self, field_name)
            if descending:  # stable descending: ascending on the negated value keeps ties in order
                values = -values.astype(np.float64) if values.dtype.kind == "u" else -values
            cache[key] = np.argsort(values, kind="stable")
        return cache[key]

    @classmethod
    def empty(cls, split: str, labels: np.ndarray, dim: int) -> SplitOutputs:
        n = labels.shape[0]
        return cls(split, np.asarray(labels, np.uint8), np.zeros(n, np.uint8),
                   np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32),
                   np.zeros((n, TOPK), np.uint8), np.zeros((n, TOPK), np.float32),
                   np.zeros((n, dim), np.float32))

    def fill(self, sl: slice, logp: np.ndarray, emb: np.ndarray) -> None:
        k = min(TOPK, logp.shape[1])
        top = np.argpartition(-logp, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(logp, top, 1), 1,
                                                 kind="stable"), 1)
        p_top = np.exp(np.take_along_axis(logp, top, 1))
        self.top5[sl, :k] = top
        self.top5_p[sl, :k] = p_top
        self.predicted[sl] = top[:, 0]
        self.confidence[sl] = p_top[:, 0]
        self.margin[sl] = p_top[:, 0] - (p_top[:, 1] if k > 1 else 0.0)
        lab = self.labels[sl].astype(np.int64)[:, None]
        self.loss[sl] = -np.take_along_axis(logp, lab, 1)[:, 0]
        self.embedding[sl] = emb


@dataclass
class ModelOutputs:
    """The outputs of one model over the splits of one dataset, in one embedding space."""

    splits: dict[str, SplitOutputs]
    embedder: Embedder
    model_fingerprint: str
    key: str  # cache key: model + data (+ format version)
    cached: bool = False
    elapsed_s: float = 0.0
    meta: dict = field(default_factory=dict)

    def split(self, name: str) -> SplitOutputs:
        try:
            return self.splits[name]
        except KeyError:
            have = ", ".join(self.splits) or "none"
            raise K49Error(f"no model outputs for the {name} split (have: {have})") from None


def cache_folder_candidates(root: Path) -> list[Path]:
    from k49desk.core.dataset import cache_dirs

    return [d / CACHE_SUBDIR for d in cache_dirs(Path(root))]


def stage_dir(parent: Path) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
