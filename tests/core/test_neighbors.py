"""Similar images: exact cosine neighbours, never the query itself, nearest first."""

from __future__ import annotations

import numpy as np
import pytest

from k49desk.core.errors import K49Error
from k49desk.core.neighbors import NeighborIndex, label_agreement
from k49desk.core.outputs import Embedder, ModelOutputs, SplitOutputs


def make_outputs(vectors: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> ModelOutputs:
    """ModelOutputs whose embeddings are exactly `vectors` (no model needed)."""
    splits = {}
    for name, v in vectors.items():
        so = SplitOutputs.empty(name, labels[name], v.shape[1])
        so.embedding[:] = v
        splits[name] = so
    d = next(iter(vectors.values())).shape[1]
    return ModelOutputs(splits, Embedder(np.zeros(d, np.float32), np.eye(d, dtype=np.float32)),
                        "m", "k")


def clustered(rng: np.random.Generator, n_per: int, n_classes: int, d: int = 16,
              noise: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.normal(size=(n_classes, d))
    labels = np.repeat(np.arange(n_classes), n_per).astype(np.uint8)
    return (centres[labels] + noise * rng.normal(size=(labels.size, d))).astype(np.float32), labels


def brute(vectors: np.ndarray, q: np.ndarray) -> np.ndarray:
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return 1.0 - v @ (q / np.linalg.norm(q))


def test_similar_is_exact_ordered_and_never_the_query(rng: np.random.Generator) -> None:
    v, y = clustered(rng, 40, 5)
    is_test = np.arange(200) % 4 == 0
    tr, ytr, te, yte = v[~is_test], y[~is_test], v[is_test], y[is_test]
    out = make_outputs({"train": tr, "test": te}, {"train": ytr, "test": yte})
    ix = NeighborIndex(out)
    assert len(ix) == 200 and ix.split_names == ("train", "test")
    allv = np.concatenate([tr, te])
    for split, i in (("train", 0), ("train", 149), ("test", 7)):
        nb = ix.similar(split, i, k=12)
        assert len(nb) == 12
        assert all(not (n.split == split and n.index == i) for n in nb)
        d = [n.distance for n in nb]
        assert d == sorted(d)
        row = ix.row(split, i)
        want = brute(allv, allv[row])
        want[row] = np.inf
        order = np.argsort(want, kind="stable")[:12]
        np.testing.assert_allclose(d, want[order], atol=1e-5)
        got_rows = [ix.row(n.split, n.index) for n in nb]
        assert got_rows == list(order)
        assert all(n.label == (ytr if n.split == "train" else yte)[n.index] for n in nb)
        assert sum(n.label == out.split(split).labels[i] for n in nb) >= 10


def test_duplicate_of_the_query_is_a_neighbour_at_distance_zero(
        rng: np.random.Generator) -> None:
    v, y = clustered(rng, 5, 3)
    v[9] = v[2] * 3.0  # same direction: cosine distance 0
    ix = NeighborIndex(make_outputs({"train": v}, {"train": y}))
    nb = ix.similar("train", 2, k=3)
    assert nb[0].index == 9 and nb[0].distance == pytest.approx(0.0, abs=1e-6)


def test_k_larger_than_the_data_and_bad_queries(rng: np.random.Generator) -> None:
    v, y = clustered(rng, 2, 2)
    ix = NeighborIndex(make_outputs({"test": v}, {"test": y}))
    assert len(ix.similar("test", 0, k=50)) == 3
    with pytest.raises(K49Error, match="outside the test split"):
        ix.similar("test", 4)
    with pytest.raises(K49Error, match="train split is not searched"):
        ix.similar("train", 0)
    with pytest.raises(K49Error, match="dimensions"):
        ix.similar_to(np.ones(3))


def test_search_uses_the_leading_dims_and_accepts_full_vectors(
        rng: np.random.Generator) -> None:
    v, y = clustered(rng, 10, 4, d=32)
    ix = NeighborIndex(make_outputs({"train": v}, {"train": y}), dims=8)
    assert ix.vectors.shape == (40, 8)
    nb = ix.similar_to(v[5], k=1)  # a full 32-dim query vector
    assert nb[0].index == 5 and nb[0].distance == pytest.approx(0.0, abs=1e-6)


def test_knn_graph_matches_single_queries(rng: np.random.Generator) -> None:
    v, y = clustered(rng, 20, 4)
    ix = NeighborIndex(make_outputs({"train": v}, {"train": y}))
    idx, dist = ix.knn_graph(k=5, block=7)
    assert idx.shape == (80, 5) and (idx != np.arange(80)[:, None]).all()
    for r in (0, 33, 79):
        nb = ix.similar("train", r, k=5)
        assert list(idx[r]) == [n.index for n in nb]
        np.testing.assert_allclose(dist[r], [n.distance for n in nb], atol=1e-5)
    assert label_agreement(y, idx) > 0.95
