"""Outliers: atypical images, ranked by their distance to their neighbours in embedding space.

Scoring and flagging follow cleanlab (rather than a hand-made rule): an image's score is
cleanlab's out-of-distribution feature score, `exp(-d / median(d))` where d is its mean
cosine distance to its k = 10 nearest neighbours within the split
(`cleanlab.internal.outlier.transform_distances_to_scores`, as `OutOfDistribution` and
Datalab's outlier check compute it); an image is flagged, as Datalab's outlier issue manager
does, when d exceeds Q3 + (1/0.37037 - 1) x IQR of all d. Lower score = more atypical, so
the score serves as the issue's quality in find-issues.

The neighbours come from the model embeddings of `core.outputs` (cosine, the 64 leading
dimensions, as for similar images): exact up to `EXACT_MAX` images, above that Annoy
(shipped with openTSNE, already a dependency of the map), whose recall is measured in
benchmarks/bench_similar.py. They are cached beside the model outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from k49desk.core.neighbors import SEARCH_DIM, exact_knn, unit_rows
from k49desk.core.progress import Progress, ShouldStop, check_stop, report, scaled

if TYPE_CHECKING:
    import pandas as pd

    from k49desk.core.dataset import K49Dataset
    from k49desk.core.model import LoadedModel
    from k49desk.core.outputs import ModelOutputs

OUTLIER_K = 10
EXACT_MAX = 40_000  # exact kNN is O(N^2): ~15 s of CPU for 38,547 images, 9 min for 232,365
DATALAB_THRESHOLD = 0.37037  # cleanlab Datalab's default for feature-based outliers
ANNOY_TREES = 20
_KNN_VERSION = 1
OUTLIER_METHOD = ("; outliers: cleanlab out-of-distribution scores of the mean cosine distance "
                  f"to the {OUTLIER_K} nearest images in the model's embedding space, flagged "
                  "by Datalab's rule")


@dataclass
class OutlierResult:
    scores: np.ndarray  # float64 (N,) cleanlab OOD score in [0, 1], lower = more atypical
    mean_distance: np.ndarray  # float64 (N,) mean cosine distance to the k neighbours
    threshold: float  # mean distance above which an image is flagged
    flagged: np.ndarray  # int64 indices, most atypical first

    def ranked(self) -> np.ndarray:
        """All indices, most atypical first."""
        return np.argsort(self.scores, kind="stable")


def annoy_knn(vectors: np.ndarray, k: int, threads: int = 1, seed: int = 0,
              should_stop: ShouldStop | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Approximate k nearest other rows by cosine: (rows int32 (N, k), distances float32)."""
    from openTSNE.dependencies.annoy import AnnoyIndex

    v = unit_rows(vectors)
    n, d = v.shape
    index = AnnoyIndex(d, "angular")
    index.set_seed(seed)
    for i in range(n):
        index.add_item(i, v[i])
    index.build(ANNOY_TREES, n_jobs=max(1, threads))
    idx = np.empty((n, k), np.int32)
    dist = np.empty((n, k), np.float32)
    for i in range(n):
        if i % 8192 == 0:
            check_stop(should_stop)
        got, ang = index.get_nns_by_item(i, k + 1, include_distances=True)
        got, ang = np.asarray(got), np.asarray(ang)
        keep = got != i
        got, ang = got[keep][:k], ang[keep][:k]
        if got.size < k:  # Annoy may return fewer: pad with the farthest it found
            got = np.pad(got, (0, k - got.size), mode="edge")
            ang = np.pad(ang, (0, k - ang.size), mode="edge")
        idx[i], dist[i] = got, ang
    # Annoy's angular distance is |u - v| of unit vectors: cosine distance = d^2 / 2.
    return idx, (dist.astype(np.float64) ** 2 / 2).astype(np.float32)


def knn(vectors: np.ndarray, k: int = OUTLIER_K, *, threads: int = 1,
        progress: Progress | None = None, should_stop: ShouldStop | None = None
        ) -> tuple[np.ndarray, np.ndarray]:
    """k nearest other rows by cosine: exact up to EXACT_MAX rows, Annoy above."""
    n = vectors.shape[0]
    k = min(k, n - 1)
    if k < 1:
        return np.empty((n, 0), np.int32), np.empty((n, 0), np.float32)
    if n > EXACT_MAX:
        report(progress, None, f"Nearest neighbours of {n:,d} images (Annoy)")
        return annoy_knn(vectors, k, threads, should_stop=should_stop)
    return exact_knn(vectors, k, progress=progress, should_stop=should_stop)


def score_outliers(distances: np.ndarray) -> OutlierResult:
    """cleanlab's scores and Datalab's flag rule from each row's neighbour distances."""
    from cleanlab.internal.outlier import transform_distances_to_scores

    avg = np.asarray(distances, np.float64).mean(axis=1)
    if avg.size == 0:
        return OutlierResult(avg, avg, float("inf"), np.empty(0, np.int64))
    scale = float(max(np.median(avg), 100 * np.finfo(np.float64).eps))
    scores = transform_distances_to_scores(avg, t=1, scaling_factor=scale)
    q1, q3 = np.percentile(avg, [25, 75])
    threshold = float(q3 + (1 / DATALAB_THRESHOLD - 1) * (q3 - q1))
    flagged = np.flatnonzero(avg > threshold)
    flagged = flagged[np.argsort(scores[flagged], kind="stable")]
    return OutlierResult(np.asarray(scores, np.float64), avg, threshold, flagged)


def split_outliers(outputs: ModelOutputs, split: str, ds: K49Dataset | None = None, *,
                   k: int = OUTLIER_K, threads: int = 1, use_cache: bool = True,
                   progress: Progress | None = None, should_stop: ShouldStop | None = None
                   ) -> OutlierResult:
    """Outliers of one split among its own images (neighbour graph cached beside `outputs`
    in `ds`'s cache folder when `ds` is given)."""
    from k49desk.core import outputs_cache

    emb = outputs.split(split).embedding[:, :SEARCH_DIM]
    n = emb.shape[0]
    kk = max(0, min(k, n - 1))
    name = f"knn-{split}-k{kk}-d{emb.shape[1]}-v{_KNN_VERSION}"
    dist = None
    if use_cache and ds is not None:
        dist = outputs_cache.load_extra(ds, outputs.key, name, np.float32, (n, kk))
        if dist is not None and (dist.min(initial=0.0) < 0 or dist.max(initial=0.0) > 2):
            dist = None
    if dist is None:
        _, dist = knn(emb, kk, threads=threads, progress=progress, should_stop=should_stop)
        if use_cache and ds is not None:
            outputs_cache.save_extra(ds, outputs.key, name, dist)
    return score_outliers(dist)


def outlier_issues(ds: K49Dataset, split: str, model: LoadedModel | str | Path,
                   progress: Progress | None = None, should_stop: ShouldStop | None = None
                   ) -> pd.DataFrame:
    """find-issues rows (index, issue="outlier", quality=score) for the flagged images of
    `split`, from `model`'s embeddings (computed over the whole dataset, or cached)."""
    import pandas as pd

    from k49desk.core.model import LoadedModel, load_checkpoint
    from k49desk.core.outputs import compute_outputs

    lm = model if isinstance(model, LoadedModel) else load_checkpoint(model)
    report(progress, 0.0, "Outliers: model embeddings")
    out = compute_outputs(lm, ds, progress=scaled(progress, 0.0, 0.6), should_stop=should_stop)
    res = split_outliers(out, split, ds, progress=scaled(progress, 0.6, 1.0),
                         should_stop=should_stop)
    report(progress, 1.0, f"Outliers: {res.flagged.size:,d} atypical images")
    return pd.DataFrame({"index": res.flagged.astype(np.int64), "issue": "outlier",
                         "quality": np.clip(res.scores[res.flagged], 0.0, 1.0)})
