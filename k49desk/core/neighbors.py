"""Similar images: exact k nearest neighbours by cosine distance between embeddings.

The search uses the first `SEARCH_DIM` (64) of the 128 embedding dimensions (the PCA
components with the most variance): measured on real Kuzushiji (bench_similar.py), the
top-10 label agreement is 0.951 with 64, 0.952 with 128, 0.950 with the raw 1,152 features,
and half the dimensions halve the memory a query reads. That makes an exact brute-force
search cheap enough: one matrix-vector product over all 270,912 images reads 69 MB, under
the 50 ms budget on one core, with no index to build, tune or invalidate.

`knn_graph` gives every image's neighbours at once (for outlier scores and near-duplicates);
it works in blocks with torch's matmul and top-k, exact as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from k49desk.core.errors import K49Error
from k49desk.core.outputs import ModelOutputs
from k49desk.core.progress import Progress, ShouldStop, check_stop, report

SEARCH_DIM = 64


@dataclass(frozen=True)
class Neighbor:
    split: str
    index: int  # image index within `split`
    label: int  # given label
    distance: float  # cosine distance, 1 - cos, in [0, 2]


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), float32 C-contiguous."""
    x = np.ascontiguousarray(x, np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norm, 1e-12), np.float32)


def _topk_rows(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k largest values' columns (largest first, ties by column) and values."""
    k = min(k, sims.shape[1])
    if k <= 0:
        return (np.empty((sims.shape[0], 0), np.int64),
                np.empty((sims.shape[0], 0), sims.dtype))
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(sims, part, 1)
    order = np.lexsort((part, -vals), axis=1) if part.shape[0] else part
    return np.take_along_axis(part, order, 1), np.take_along_axis(vals, order, 1)


class NeighborIndex:
    """Exact cosine nearest neighbours over the images of some splits of a `ModelOutputs`.

    Rows are the images of `splits` one after the other (split order as given). Query
    vectors may be full embeddings: only their first `dims` components are used.
    """

    def __init__(self, outputs: ModelOutputs, splits: Sequence[str] | None = None,
                 dims: int = SEARCH_DIM) -> None:
        names = list(splits) if splits is not None else list(outputs.splits)
        if not names:
            raise K49Error("no split to search")
        parts = [outputs.split(n) for n in names]
        self.outputs = outputs
        self.split_names: tuple[str, ...] = tuple(names)
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        self.dims = max(1, min(dims, parts[0].embedding.shape[1]))
        self.vectors = unit_rows(np.concatenate([p.embedding[:, :self.dims] for p in parts]))
        self.labels = np.concatenate([p.labels for p in parts]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def row(self, split: str, index: int) -> int:
        """The row of image `index` of `split`; K49Error when it is not in the index."""
        if split not in self.split_names:
            raise K49Error(f"the {split} split is not searched here (have: "
                           f"{', '.join(self.split_names)})")
        s = self.split_names.index(split)
        n = int(self.offsets[s + 1] - self.offsets[s])
        if not 0 <= index < n:
            raise K49Error(f"index {index} is outside the {split} split (0..{n - 1})")
        return int(self.offsets[s] + index)

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position of the split in `split_names`, index within that split) of each row."""
        rows = np.asarray(rows, np.int64)
        which = np.searchsorted(self.offsets, rows, side="right") - 1
        return which, rows - self.offsets[which]

    def search(self, vectors: np.ndarray, k: int = 10, exclude: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(rows (Q, k), cosine distances (Q, k)) of the k nearest rows to each query vector,
        nearest first. `exclude[q]` (a row, or -1) is never returned for query q."""
        q = np.atleast_2d(vectors)
        q = unit_rows(q[:, :self.dims] if q.shape[1] > self.dims else q)
        if q.shape[1] != self.dims:
            raise K49Error(f"query has {q.shape[1]} dimensions, the index "
                           f"{self.vectors.shape[1]}")
        if q.shape[0] > 1:
            sims = q @ self.vectors.T
        else:
            # One query: einsum stays on one thread. BLAS's matrix-vector product used two,
            # which on a busy 2-core machine mostly wait for each other (7.4 vs 5.4 ms CPU).
            sims = np.einsum("ij,j->i", self.vectors, q[0])[None]
        if exclude is not None:
            ex = np.asarray(exclude, np.int64).reshape(-1)
            ok = ex >= 0
            sims[np.flatnonzero(ok), ex[ok]] = -np.inf
        kk = min(k, len(self) - (1 if exclude is not None else 0))
        rows, s = _topk_rows(sims, max(kk, 0))
        return rows, np.clip(1.0 - s, 0.0, 2.0)

    def _neighbors(self, rows: np.ndarray, dist: np.ndarray) -> list[Neighbor]:
        which, local = self.locate(rows)
        return [Neighbor(self.split_names[w], int(i), int(self.labels[r]), float(d))
                for w, i, r, d in zip(which, local, rows, dist, strict=True)]

    def similar(self, split: str, index: int, k: int = 10) -> list[Neighbor]:
        """The k images most similar to image `index` of `split`, never the image itself."""
        r = self.row(split, index)
        rows, dist = self.search(self.vectors[r], k, exclude=np.array([r]))
        return self._neighbors(rows[0], dist[0])

    def similar_to(self, vector: np.ndarray, k: int = 10) -> list[Neighbor]:
        """The k images nearest to an embedding (e.g. of a drawing, see `embed_images`)."""
        rows, dist = self.search(vector, k)
        return self._neighbors(rows[0], dist[0])

    def knn_graph(self, k: int = 10, block: int = 0, progress: Progress | None = None,
                  should_stop: ShouldStop | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every row's k nearest other rows, exact (see `exact_knn`)."""
        return exact_knn(self.vectors, k, block, progress, should_stop)


def exact_knn(vectors: np.ndarray, k: int = 10, block: int = 0,
              progress: Progress | None = None, should_stop: ShouldStop | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Every row's k nearest other rows by cosine: (rows int32 (N, k), cosine distances
    float32 (N, k)), nearest first. O(N^2 d) work in blocks (torch matmul + top-k)."""
    import torch

    v = torch.from_numpy(unit_rows(vectors))
    n = v.shape[0]
    k = min(k, n - 1)
    # ~128 MB of similarities per block (block x n float32).
    block = block or max(64, min(4096, (1 << 25) // max(n, 1)))
    idx = np.empty((n, max(k, 0)), np.int32)
    dist = np.empty((n, max(k, 0)), np.float32)
    if k <= 0:
        return idx, dist
    with torch.inference_mode():
        for s in range(0, n, block):
            check_stop(should_stop)
            e = min(s + block, n)
            sims = v[s:e] @ v.T
            sims[torch.arange(e - s), torch.arange(s, e)] = -torch.inf  # not itself
            val, ind = torch.topk(sims, k, dim=1, largest=True, sorted=True)
            idx[s:e] = ind.numpy()
            dist[s:e] = np.clip(1.0 - val.numpy(), 0.0, 2.0)
            report(progress, e / n, f"Nearest neighbours: {e:,d}/{n:,d} images")
    return idx, dist


def label_agreement(labels: np.ndarray, neighbor_rows: np.ndarray) -> float:
    """Share of (image, neighbour) pairs whose labels agree: the quality bar's measure."""
    labels = np.asarray(labels)
    if neighbor_rows.size == 0:
        return float("nan")
    return float((labels[neighbor_rows] == labels[:, None]).mean())
