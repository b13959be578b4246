"""Map helpers: lasso and rectangle selection, colour arrays, 2D projections on small data."""

from __future__ import annotations

import numpy as np
import pytest

from k49desk.core.selection import (
    CORRECT_COLOURS,
    GREY,
    category_colours,
    class_palette,
    correct_colours,
    label_colours,
    points_in_polygon,
    points_in_rect,
)


def ray_cast(x: float, y: float, poly: np.ndarray) -> bool:
    """Textbook even-odd test for one point, as the reference."""
    inside = False
    n = len(poly)
    for i in range(n):
        (ax, ay), (bx, by) = poly[i], poly[(i + 1) % n]
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside


POLYGONS = {
    "square": np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float),
    "concave L": np.array([[0, 0], [6, 0], [6, 2], [2, 2], [2, 6], [0, 6]], float),
    "star": np.array([[np.cos(t) * r, np.sin(t) * r] for t, r in
                      zip(np.linspace(0, 2 * np.pi, 10, endpoint=False), [5, 2] * 5,
                          strict=True)]),
    "self-crossing bow tie": np.array([[0, 0], [4, 4], [4, 0], [0, 4]], float),
}


@pytest.mark.parametrize("name", list(POLYGONS))
def test_lasso_matches_the_textbook_test(name: str, rng: np.random.Generator) -> None:
    poly = POLYGONS[name]
    xy = rng.uniform(-6, 7, size=(3000, 2)).astype(np.float32)
    got = points_in_polygon(xy, poly)
    want = np.flatnonzero([ray_cast(float(x), float(y), poly) for x, y in xy])
    assert got.dtype == np.int64 and (np.diff(got) > 0).all()
    np.testing.assert_array_equal(got, want)
    assert got.size > 0


def test_lasso_edge_cases(rng: np.random.Generator) -> None:
    xy = rng.normal(size=(100, 2))
    assert points_in_polygon(xy, np.array([[0, 0], [1, 1]])).size == 0
    assert points_in_polygon(np.empty((0, 2)), POLYGONS["square"]).size == 0
    assert points_in_polygon(xy, POLYGONS["square"] + 100).size == 0
    # a closed polygon given with its first vertex repeated at the end selects the same
    closed = np.vstack([POLYGONS["star"], POLYGONS["star"][:1]])
    np.testing.assert_array_equal(points_in_polygon(xy * 3, closed),
                                  points_in_polygon(xy * 3, POLYGONS["star"]))


def test_rectangle_selection_any_corner_order() -> None:
    xy = np.array([[0, 0], [1, 1], [2, 2], [3, 0.5]], np.float32)
    np.testing.assert_array_equal(points_in_rect(xy, 2.5, 2.5, 0.5, 0.5), [1, 2])


def test_colour_arrays() -> None:
    pal = class_palette(49)
    assert pal.shape == (49, 4) and pal.dtype == np.uint8
    assert len({tuple(c) for c in pal}) == 49
    cols = label_colours(np.array([0, 48, 3]))
    np.testing.assert_array_equal(cols, pal[[0, 48, 3]])
    odd = category_colours(np.array([-1, 0, 7]), pal[:2])
    assert tuple(odd[0]) == GREY and tuple(odd[2]) == GREY
    np.testing.assert_array_equal(correct_colours(np.array([True, False])),
                                  CORRECT_COLOURS[[1, 0]])


# ---- projections on small data ---------------------------------------------------------------
def _clustered_outputs(rng: np.random.Generator, n_per: int = 40, k: int = 4):  # noqa: ANN202
    from k49desk.core.outputs import Embedder, ModelOutputs, SplitOutputs

    centres = rng.normal(size=(k, 60)) * 3
    splits = {}
    for name, m in (("train", n_per), ("test", n_per // 4)):
        labels = np.repeat(np.arange(k), m).astype(np.uint8)
        so = SplitOutputs.empty(name, labels, 60)
        so.embedding[:] = centres[labels] + rng.normal(size=(labels.size, 60))
        splits[name] = so
    return ModelOutputs(splits, Embedder(np.zeros(60, np.float32),
                                         np.eye(60, dtype=np.float32)), "m", "key1")


def test_pca_map_is_instant_and_ordered_by_split(rng: np.random.Generator) -> None:
    from k49desk.core.projection import pca_map

    out = _clustered_outputs(rng)
    m = pca_map(out)
    assert m.xy.shape == (200, 2) and m.method == "pca"
    np.testing.assert_array_equal(m.xy, np.concatenate(
        [out.split("train").embedding[:, :2], out.split("test").embedding[:, :2]]))
    assert m.rows_of("test") == slice(160, 200)
    which, local = m.locate(np.array([0, 159, 160, 199]))
    assert list(which) == [0, 0, 1, 1] and list(local) == [0, 159, 0, 39]
    assert list(m.split_column()[[0, 199]]) == ["train", "test"]
    np.testing.assert_array_equal(m.column(out, "labels"), m.labels)
    assert m.column(out, "correct").shape == (200,)


def test_tsne_map_separates_clusters_is_cached_and_cancellable(
        rng: np.random.Generator, tiny_dir) -> None:  # noqa: ANN001
    from k49desk.core import outputs_cache
    from k49desk.core.dataset import open_dataset
    from k49desk.core.errors import Cancelled
    from k49desk.core.projection import compute_map, map_label_agreement

    out = _clustered_outputs(rng)
    ds = open_dataset(tiny_dir)
    # pretend these outputs were cached for this folder, so the map is stored beside them
    folder = outputs_cache.cache_folder_candidates(ds.root)[0] / out.key
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text("{}")
    seen: list[float | None] = []
    m = compute_map(out, ds, ["train"], "tsne",
                    progress=lambda f, t, p=None: seen.append(f))
    assert m.xy.shape == (160, 2) and np.isfinite(m.xy).all() and not m.cached
    assert map_label_agreement(m.xy, m.labels) > 0.95
    fr = [f for f in seen if f is not None]
    assert fr == sorted(fr) and fr[-1] == 1.0
    again = compute_map(out, ds, ["train"], "tsne")
    assert again.cached
    np.testing.assert_array_equal(again.xy, m.xy)
    with pytest.raises(Cancelled):
        compute_map(out, ds, ["test"], "tsne", should_stop=lambda: True)


def test_large_maps_lay_out_a_sample_and_place_the_rest_among_their_neighbours() -> None:
    from k49desk.core.projection import place_by_neighbours, project

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 20)) * 6
    labels = np.repeat(np.arange(3), 300)
    x = (centres[labels] + rng.normal(size=(900, 20))).astype(np.float32)
    xy = project(x, "tsne", threads=1, sample=150)  # t-SNE on 150, 750 placed
    assert xy.shape == (900, 2) and np.isfinite(xy).all()
    from k49desk.core.projection import map_label_agreement

    assert map_label_agreement(xy, labels) > 0.95  # the clusters stay apart
    # placing: a point equal to a reference row lands on that row's position
    ref = x[:10]
    ref_xy = rng.normal(size=(10, 2)).astype(np.float32)
    got = place_by_neighbours(ref[3:4] * 2.0, ref, ref_xy, k=1)
    np.testing.assert_allclose(got[0], ref_xy[3], atol=1e-5)
