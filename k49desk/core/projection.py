"""The map: a 2D projection of every image of one or more splits, from model embeddings.

`pca_map` is instant (the embedding's first two PCA components): the GUI shows it at once
while `compute_map` runs the real projection in the background. The method is chosen by
measurement (benchmarks/bench_map.py, 232,365 images on 2 cores): see `DEFAULT_METHOD`.
Results are cached beside the model outputs they come from.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from k49desk.core.errors import Cancelled, K49Error
from k49desk.core.progress import Progress, ShouldStop, check_stop, report

if TYPE_CHECKING:  # outputs imports torch; the CLI's parser only needs METHODS from here
    from k49desk.core.dataset import K49Dataset
    from k49desk.core.outputs import ModelOutputs

METHODS = ("tsne", "umap", "pca")
DEFAULT_METHOD = "tsne"
MAP_DIM = 50  # embedding dimensions fed to the projection (PCA-ordered: most variance first)
# t-SNE on all 232,365 train images took over 12 CPU-minutes (budget: 5 minutes for the
# whole map on 2 cores). Above this many points, t-SNE lays out a random sample of this size
# and every other point is placed among its nearest sampled neighbours (in embedding space):
# 20,000 keeps the whole map (model pass + t-SNE + placing) inside 5 minutes on 2 cores, and
# the 10-NN label agreement on the full demo train split stayed at 0.98 (bench_map.py full).
TSNE_SAMPLE = 20_000
PLACE_K = 8
_MAP_VERSION = 2


@dataclass
class MapResult:
    """Points of the map, row by row: the images of `split_names` one split after the other
    (rows offsets[i]..offsets[i+1] are split i, in image order)."""

    xy: np.ndarray  # float32 (N, 2)
    labels: np.ndarray  # uint8 (N,) given labels
    split_names: tuple[str, ...]
    offsets: np.ndarray  # int64 (len(split_names) + 1,)
    method: str
    cached: bool = False
    elapsed_s: float = 0.0

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    def rows_of(self, split: str) -> slice:
        i = self.split_names.index(split)
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in `split_names`, image index within that split) of each row."""
        rows = np.asarray(rows, np.int64)
        which = np.searchsorted(self.offsets, rows, side="right") - 1
        return which, rows - self.offsets[which]

    def column(self, outputs: ModelOutputs, name: str) -> np.ndarray:
        """A per-image field of `outputs` ("predicted", "correct", "loss", ...) in the map's
        row order, e.g. to colour the points: `label_colours(m.column(out, "predicted"))`."""
        return np.concatenate([np.asarray(getattr(outputs.split(s), name))
                               for s in self.split_names])

    def split_column(self) -> np.ndarray:
        """The split name of every row (object array), e.g. for a CSV."""
        names = np.array(self.split_names, dtype=object)
        return np.repeat(names, np.diff(self.offsets))


def _parts(outputs: ModelOutputs, splits: Sequence[str] | None
           ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    names = tuple(splits) if splits else tuple(outputs.splits)
    parts = [outputs.split(n) for n in names]
    offsets = np.cumsum([0] + [len(p) for p in parts]).astype(np.int64)
    emb = np.concatenate([p.embedding for p in parts])
    labels = np.concatenate([p.labels for p in parts])
    return names, offsets, emb, labels


def pca_map(outputs: ModelOutputs, splits: Sequence[str] | None = None) -> MapResult:
    """The instant map: the first two principal components of the embeddings."""
    names, offsets, emb, labels = _parts(outputs, splits)
    return MapResult(np.ascontiguousarray(emb[:, :2], np.float32), labels, names, offsets, "pca")


def _tsne(x: np.ndarray, progress: Progress | None, should_stop: ShouldStop | None,
          threads: int) -> np.ndarray:
    from openTSNE import TSNE

    stopped = []
    n_iter, exag_iter = 500, 250
    total = n_iter + exag_iter

    class _Cb:
        def __init__(self, offset: int) -> None:
            self.offset = offset

        def optimization_about_to_start(self) -> None:
            pass

        def __call__(self, iteration: int, error: float, embedding: object) -> bool:
            i = self.offset + iteration
            report(progress, 0.25 + 0.75 * i / total, f"t-SNE: iteration {i}/{total}")
            if should_stop is not None and should_stop():
                stopped.append(True)
                return True
            return False

    report(progress, 0.02, "t-SNE: finding nearest neighbours")
    # openTSNE calls back between iterations, which gives progress and a clean stop; the
    # neighbour search before it cannot be interrupted (a minute on the full train split).
    tsne = TSNE(n_jobs=threads, metric="cosine", random_state=0, n_iter=n_iter,
                early_exaggeration_iter=exag_iter, callbacks_every_iters=25, verbose=False)
    aff = tsne.prepare_initial(x)  # affinities + PCA initialisation
    check_stop(should_stop)
    report(progress, 0.25, "t-SNE: optimising the layout")
    emb = aff.optimize(n_iter=exag_iter, exaggeration=12, momentum=0.5,
                       callbacks=[_Cb(0)], callbacks_every_iters=25)
    if stopped:
        raise Cancelled("map stopped")
    emb = emb.optimize(n_iter=n_iter, momentum=0.8, callbacks=[_Cb(exag_iter)],
                       callbacks_every_iters=25)
    if stopped:
        raise Cancelled("map stopped")
    return np.asarray(emb, np.float32)


def _umap(x: np.ndarray, progress: Progress | None, should_stop: ShouldStop | None,
          threads: int) -> np.ndarray:
    try:
        import umap
    except ImportError as e:  # not a dependency: measured, and t-SNE was chosen
        raise K49Error("the umap method needs umap-learn (pip install umap-learn)") from e
    report(progress, None, "UMAP: computing (no progress from inside)")
    check_stop(should_stop)
    xy = umap.UMAP(n_neighbors=15, min_dist=0.1, metric="cosine", n_jobs=threads,
                   low_memory=True).fit_transform(x)
    check_stop(should_stop)
    return np.asarray(xy, np.float32)


def place_by_neighbours(x: np.ndarray, ref_x: np.ndarray, ref_xy: np.ndarray, *,
                        k: int = PLACE_K, chunk: int = 2048,
                        progress: Progress | None = None,
                        should_stop: ShouldStop | None = None) -> np.ndarray:
    """2D positions for the rows of `x`: the similarity-weighted mean position of their `k`
    nearest rows of `ref_x` (cosine), whose positions are `ref_xy`. Chunked matrix products:
    memory stays at `chunk` x len(ref_x) floats."""
    def unit(a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a, np.float32)
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    xu, ru = unit(x), unit(ref_x)
    out = np.empty((xu.shape[0], 2), np.float32)
    k = min(k, ru.shape[0])
    for s in range(0, xu.shape[0], chunk):
        check_stop(should_stop)
        sim = xu[s:s + chunk] @ ru.T  # (chunk, n_ref)
        nb = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        w = np.take_along_axis(sim, nb, axis=1)
        w = np.maximum(w - w.min(axis=1, keepdims=True), 0) + 1e-3  # nearer counts more
        w /= w.sum(axis=1, keepdims=True)
        out[s:s + chunk] = np.einsum("nk,nkd->nd", w, ref_xy[nb])
        report(progress, min(1.0, (s + chunk) / xu.shape[0]),
               f"Placing the other images ({min(s + chunk, xu.shape[0]):,d} of "
               f"{xu.shape[0]:,d})")
    return out


def _tsne_sampled(x: np.ndarray, progress: Progress | None, should_stop: ShouldStop | None,
                  threads: int, sample: int) -> np.ndarray:
    from k49desk.core.progress import scaled

    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(x.shape[0], sample, replace=False))
    rest = np.ones(x.shape[0], bool)
    rest[pick] = False
    xy = np.empty((x.shape[0], 2), np.float32)
    xy[pick] = _tsne(x[pick], scaled(progress, 0.0, 0.85), should_stop, threads)
    xy[rest] = place_by_neighbours(x[rest], x[pick], xy[pick],
                                   progress=scaled(progress, 0.85, 1.0),
                                   should_stop=should_stop)
    return xy


def project(x: np.ndarray, method: str = DEFAULT_METHOD, *, threads: int = 0,
            progress: Progress | None = None, should_stop: ShouldStop | None = None,
            sample: int = TSNE_SAMPLE) -> np.ndarray:
    """(N, 2) float32 projection of the rows of `x` by `method` ("tsne", "umap", "pca");
    t-SNE on more than `sample` rows lays out a sample and places the rest around it."""
    import os

    if method not in METHODS:
        raise K49Error(f"unknown map method {method!r} (choose from {', '.join(METHODS)})")
    x = np.ascontiguousarray(x, np.float32)
    if method == "pca" or x.shape[0] < 5:
        out = np.zeros((x.shape[0], 2), np.float32)
        out[:, :min(2, x.shape[1])] = x[:, :2]
        return out
    threads = threads if threads > 0 else (os.cpu_count() or 1)
    if x.shape[0] < 20_000:
        # Small maps: worker threads cost more than they save (measured on 196 points:
        # 3 s of CPU with one thread, 16 s with two on a busy machine).
        threads = 1
    if method == "tsne" and x.shape[0] > sample:
        return _tsne_sampled(x, progress, should_stop, threads, sample)
    return (_tsne if method == "tsne" else _umap)(x, progress, should_stop, threads)


def compute_map(outputs: ModelOutputs, ds: K49Dataset | None = None,
                splits: Sequence[str] | None = None, method: str = DEFAULT_METHOD, *,
                use_cache: bool = True, threads: int = 0, progress: Progress | None = None,
                should_stop: ShouldStop | None = None, sample: int = TSNE_SAMPLE) -> MapResult:
    """The 2D map of the images of `splits` (default: all in `outputs`), cached beside
    `outputs` in `ds`'s cache folder when `ds` is given. Raises Cancelled on request."""
    from k49desk.core import outputs_cache

    t0 = time.perf_counter()
    names, offsets, emb, labels = _parts(outputs, splits)
    name = f"map-{method}-{'_'.join(names)}-d{MAP_DIM}-s{sample}-v{_MAP_VERSION}"
    if use_cache and ds is not None:
        xy = outputs_cache.load_extra(ds, outputs.key, name, np.float32, (emb.shape[0], 2))
        if xy is not None:
            report(progress, 1.0, "Map loaded from the cache")
            return MapResult(xy, labels, names, offsets, method, cached=True,
                             elapsed_s=time.perf_counter() - t0)
    xy = project(emb[:, :MAP_DIM], method, threads=threads, progress=progress,
                 should_stop=should_stop, sample=sample)
    if use_cache and ds is not None:
        outputs_cache.save_extra(ds, outputs.key, name, xy)
    report(progress, 1.0, f"Map of {len(xy):,d} images")
    return MapResult(xy, labels, names, offsets, method, elapsed_s=time.perf_counter() - t0)


def map_label_agreement(xy: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Share of the k nearest map points (2D, Euclidean, not the point itself) that share a
    point's label: the map's quality bar."""
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, np.float64)
    if xy.shape[0] <= k:
        return float("nan")
    _, idx = cKDTree(xy).query(xy, k=k + 1)
    nb = idx[:, 1:]
    labels = np.asarray(labels)
    return float((labels[nb] == labels[:, None]).mean())
