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
