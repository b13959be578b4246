"""Fast helpers for a scatter of every image: lasso and rectangle selection, colour arrays.

All vectorised numpy over (N, 2) float32 point arrays, for N up to 270,912. The lasso test
(even-odd rule) sorts the candidate points by y once; each polygon edge then only tests the
points inside its own y range (a contiguous slice), so the work is about (points in the
lasso's bounding box) x (edges crossing a horizontal line), not points x edges.
"""

from __future__ import annotations

import colorsys

import numpy as np


def points_in_rect(xy: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Indices (ascending) of the points inside the rectangle (corners in any order)."""
    xy = np.asarray(xy)
    lo_x, hi_x = sorted((x0, x1))
    lo_y, hi_y = sorted((y0, y1))
    x, y = xy[:, 0], xy[:, 1]
    return np.flatnonzero((x >= lo_x) & (x <= hi_x) & (y >= lo_y) & (y <= hi_y))


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Indices (ascending) of the points inside a closed polygon (a lasso), even-odd rule.

    `polygon`: (M, 2) vertices in order; the last connects back to the first. Fewer than
    three vertices select nothing. Points exactly on an edge may fall on either side.
    """
    xy = np.asarray(xy)
    poly = np.asarray(polygon, np.float64).reshape(-1, 2)
    poly = poly[np.isfinite(poly).all(axis=1)]
    if poly.shape[0] < 3 or xy.shape[0] == 0:
        return np.empty(0, np.int64)
    (bx0, by0), (bx1, by1) = poly.min(axis=0), poly.max(axis=0)
    cand = points_in_rect(xy, bx0, by0, bx1, by1)
    if cand.size == 0:
        return cand
    px = xy[cand, 0].astype(np.float64)
    py = xy[cand, 1].astype(np.float64)
    order = np.argsort(py, kind="stable")
    px, py, cand = px[order], py[order], cand[order]
    inside = np.zeros(cand.size, bool)
    ax, ay = poly[:, 0], poly[:, 1]
    bx, by = np.roll(ax, -1), np.roll(ay, -1)
    lo_y, hi_y = np.minimum(ay, by), np.maximum(ay, by)
    # Half-open [lo, hi) in y: a vertex shared by two edges is counted once.
    starts = np.searchsorted(py, lo_y, side="left")
    stops = np.searchsorted(py, hi_y, side="left")
    for e in np.flatnonzero(stops > starts):
        s, t = starts[e], stops[e]
        # x where the edge crosses each point's horizontal line
        xc = ax[e] + (py[s:t] - ay[e]) * (bx[e] - ax[e]) / (by[e] - ay[e])
        inside[s:t] ^= px[s:t] < xc
    return np.sort(cand[inside])


# ---- colours -----------------------------------------------------------------------------------
GREY = (150, 150, 150, 255)
CORRECT_COLOURS = np.array([(214, 39, 40, 255), (44, 160, 44, 255)], np.uint8)  # wrong, right


def class_palette(n: int = 49, alpha: int = 255) -> np.ndarray:
    """(n, 4) uint8 RGBA: n distinguishable colours (hues spread by the golden ratio, in
    three lightness/saturation bands so neighbouring classes differ in more than hue)."""
    out = np.empty((n, 4), np.uint8)
    bands = ((0.50, 0.85), (0.35, 0.75), (0.65, 0.60))
    for i in range(n):
        hue = (i * 0.618033988749895) % 1.0
        light, sat = bands[i % 3]
        r, g, b = colorsys.hls_to_rgb(hue, light, sat)
        out[i] = (round(r * 255), round(g * 255), round(b * 255), alpha)
    return out


def category_colours(codes: np.ndarray, palette: np.ndarray,
                     other: tuple[int, int, int, int] = GREY) -> np.ndarray:
    """(N, 4) uint8 RGBA: palette[code], or `other` for codes < 0 or past the palette
    (e.g. -1 for "no flag" or "undecided")."""
    codes = np.asarray(codes, np.int64)
    pal = np.vstack([np.asarray(palette, np.uint8).reshape(-1, 4),
                     np.asarray(other, np.uint8)[None]])
    k = pal.shape[0] - 1
    return pal[np.where((codes >= 0) & (codes < k), codes, k)]


def label_colours(labels: np.ndarray, n_classes: int = 49) -> np.ndarray:
    """Colour by class (given or predicted label)."""
    return category_colours(labels, class_palette(n_classes))


def correct_colours(correct: np.ndarray) -> np.ndarray:
    """Green where the prediction matches the given label, red where it does not."""
    return CORRECT_COLOURS[np.asarray(correct, bool).astype(np.int64)]
