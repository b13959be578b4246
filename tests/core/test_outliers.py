"""Outliers: planted atypical points and images come out on top, as cleanlab scores them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from k49desk.core import outliers
from k49desk.core.dataset import open_dataset
from k49desk.core.model import LoadedModel, ModelConfig, build_model
from k49desk.core.neighbors import exact_knn
from k49desk.core.outliers import annoy_knn, knn, score_outliers, split_outliers
from k49desk.core.outputs import compute_outputs


def planted(rng: np.random.Generator, n: int = 600, d: int = 16, n_out: int = 6
            ) -> tuple[np.ndarray, np.ndarray]:
    """Tight clusters plus `n_out` points in directions of their own; returns (x, outlier rows)."""
    centres = rng.normal(size=(5, d))
    x = centres[rng.integers(0, 5, n)] + 0.1 * rng.normal(size=(n, d))
    rows = rng.choice(n, n_out, replace=False)
    x[rows] = rng.normal(size=(n_out, d)) * 3
    return x.astype(np.float32), np.sort(rows)


def test_planted_outliers_are_flagged_and_ranked_first(rng: np.random.Generator) -> None:
    x, rows = planted(rng)
    _, dist = knn(x, 10)
    res = score_outliers(dist)
    assert set(res.ranked()[:6]) == set(rows)
    assert set(rows) <= set(res.flagged) and res.flagged.size < 60  # the far tail, ~5%
    assert (res.scores >= 0).all() and (res.scores <= 1).all()
    assert res.scores[rows].max() < np.median(res.scores)
    assert (np.diff(res.scores[res.flagged]) >= 0).all()  # most atypical first
    # cleanlab's own OutOfDistribution scores (sklearn kNN, cosine) give the same ranking
    from cleanlab.outlier import OutOfDistribution

    ood = OutOfDistribution().fit_score(features=x)
    np.testing.assert_allclose(res.scores, ood, rtol=1e-3, atol=1e-4)


def test_annoy_neighbours_agree_with_exact_ones(rng: np.random.Generator) -> None:
    x, _ = planted(rng, n=800, d=8)
    ei, ed = exact_knn(x, 10)
    ai, ad = annoy_knn(x, 10)
    assert (ai != np.arange(800)[:, None]).all()
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(ai, ei, strict=True)])
    assert recall > 0.9
    np.testing.assert_allclose(ad[:, 0], ed[:, 0], atol=1e-3)  # distances on the same scale
    assert (np.diff(ad, axis=1) >= -1e-6).all()


def test_no_outliers_in_uniform_data_and_tiny_inputs(rng: np.random.Generator) -> None:
    res = score_outliers(np.full((50, 10), 0.2))
    assert res.flagged.size == 0
    assert score_outliers(np.empty((0, 10))).flagged.size == 0
    idx, dist = knn(rng.normal(size=(1, 4)), 10)
    assert idx.shape == (1, 0)


def test_planted_noise_images_are_outliers_of_a_split(tiny_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end with a model: random-noise images among class patterns stand out."""
    from k49desk.core.dataset import write_split

    ds = open_dataset(tiny_dir)
    tr = ds.split("train")
    images = np.array(tr.images)
    rng = np.random.default_rng(1)
    planted_rows = np.array([5, 100, 300, 500])
    images[planted_rows] = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    write_split(tiny_dir, "train", images, np.asarray(tr.labels))
    ds = open_dataset(tiny_dir)
    torch.manual_seed(0)
    cfg = ModelConfig(channels=(8, 16), dropout=0.0)
    lm = LoadedModel(model=build_model(cfg).eval(), config=cfg)
    out = compute_outputs(lm, ds)
    res = split_outliers(out, "train", ds)
    assert set(res.ranked()[:4]) == set(planted_rows)
    # the neighbour graph was cached beside the outputs: a second call does not recompute
    monkeypatch.setattr(outliers, "knn", lambda *a, **k: pytest.fail("recomputed"))
    again = split_outliers(out, "train", ds)
    np.testing.assert_array_equal(again.scores, res.scores)
    df = outliers.outlier_issues(ds, "train", lm)
    assert list(df.columns) == ["index", "issue", "quality"]
    assert set(planted_rows) <= set(df["index"]) and (df["issue"] == "outlier").all()
