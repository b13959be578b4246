"""Every point of the map drawn with numpy into one RGB32 pixel buffer (no Qt here).

A pyqtgraph ScatterPlotItem of 270,912 points costs far more than a 16 ms frame to paint
(benchmarks/bench_map_gui.py measures it); writing each point's pixels into a numpy buffer
costs a few milliseconds, and panning only moves the finished buffer (see item.py). A point
is a small square when many are in view (its pixels written offset by offset: 270,912 points
x 4 offsets in ~6 ms) and a disc with a dark rim when few are, each point drawn whole before
the next, so a later point covers an earlier one as dots would.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

BACKGROUND = 0xFFFFFFFF  # white, opaque (RGB32: 0xffRRGGBB)
RIM = 0xFF1F2937  # the dark rim of a point drawn as a disc
PAD = 16  # buffer border: a point's pixels never need a bounds check
MAX_OUTER = PAD + 1  # widest point (rim included) the border allows
ORDERED_LIMIT = 400_000  # pixel writes above which points are drawn offset by offset
WRITE_BUDGET = 1_200_000  # pixel writes per layer and frame (~6 ms): points shrink to fit


def rgba_to_rgb32(rgba: np.ndarray) -> np.ndarray:
    """(N, 4) uint8 RGBA -> (N,) uint32 0xffRRGGBB (alpha dropped: the map is opaque)."""
    c = np.asarray(rgba, np.uint32).reshape(-1, 4)
    return (0xFF000000 | (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]).astype(np.uint32)


def fade(rgb32: np.ndarray, keep: float) -> np.ndarray:
    """Colours blended towards the white background (`keep` of the colour remains)."""
    c = np.asarray(rgb32, np.uint32)
    out = np.full(c.shape, 0xFF000000, np.uint32)
    for shift in (16, 8, 0):
        ch = (c >> shift) & 0xFF
        out |= (255 - ((255 - ch) * keep)).astype(np.uint32) << shift
    return out


@lru_cache(maxsize=32)
def stamp(size: int, rim: bool) -> tuple[tuple[int, int, bool], ...]:
    """(dx, dy, is_rim) pixel offsets of one point `size` pixels across: a square up to 3
    pixels, a disc above; with `rim`, a one-pixel dark ring around it (listed first: drawn
    under the fill). At most MAX_OUTER pixels across in all."""
    size = max(1, min(int(size), MAX_OUTER - (2 if rim else 0)))
    outer = size + 2 if rim else size
    c = (outer - 1) / 2.0
    r_fill = (size / 2.0) ** 2 + 0.25
    r_outer = (outer / 2.0) ** 2 + 0.25
    base = -((outer - 1) // 2)
    ring, fill = [], []
    for y in range(outer):
        for x in range(outer):
            d = (x - c) ** 2 + (y - c) ** 2
            if d <= r_fill or size <= 3 and not rim:
                fill.append((x + base, y + base, False))
            elif rim and d <= r_outer:
                ring.append((x + base, y + base, True))
    return tuple(ring + fill)


def fit_stamp(n: int, size: int, rim: bool) -> tuple[tuple[int, int, bool], ...]:
    """The stamp for `n` points in view: the rim only while drawing each point whole stays
    cheap, and the size shrunk until n x pixels fits WRITE_BUDGET."""
    if rim and n * len(stamp(size, True)) > ORDERED_LIMIT:
        rim = False
    while size > 1 and n * len(stamp(size, rim)) > WRITE_BUDGET:
        size -= 1
    return stamp(size, rim)


@dataclass
class Layer:
    """Points in drawing order: x, y (data), colour; drawn as `stamp(size, rim)`."""

    x: np.ndarray  # float32 (n,)
    y: np.ndarray
    colour: np.ndarray  # uint32 (n,)

    @classmethod
    def of(cls, xy: np.ndarray, colour: np.ndarray, order: np.ndarray | None = None) -> Layer:
        xy = np.asarray(xy, np.float32)
        colour = np.asarray(colour, np.uint32)
        if order is not None:
            xy, colour = xy[order], colour[order]
        return cls(np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1]),
                   np.ascontiguousarray(colour))

    def __len__(self) -> int:
        return int(self.x.shape[0])


class Canvas:
    """A padded uint32 pixel buffer (`width` x `height` inside a PAD border), reused from
    frame to frame (allocating 8 MB per frame cost more than drawing into it). It may wrap
    memory it does not own (a QImage's bits)."""

    def __init__(self, width: int, height: int, memory: np.ndarray | None = None) -> None:
        self.width, self.height = int(width), int(height)
        self.stride = self.width + 2 * PAD
        n = (self.height + 2 * PAD) * self.stride
        self.flat = np.empty(n, np.uint32) if memory is None else memory[:n]
        self.flat.fill(BACKGROUND)

    @property
    def pixels(self) -> np.ndarray:
        """The visible (height, width) pixels, a view."""
        grid = self.flat.reshape(self.height + 2 * PAD, self.stride)
        return grid[PAD:PAD + self.height, PAD:PAD + self.width]

    def clear(self) -> None:
        self.flat.fill(BACKGROUND)

    def draw(self, layer: Layer, sx: float, dx: float, sy: float, dy: float, size: int,
             rim: bool = False, colour: int | None = None) -> int:
        """Draw the points at pixel (x * sx + dx, y * sy + dy); returns how many were in
        view. `colour` overrides the layer's colours (one colour for all)."""
        if not len(layer):
            return 0
        offs = stamp(size, rim)
        # A point whose centre is further out than its widest offset shows no pixel; one
        # closer has all its pixels inside the PAD border (MAX_OUTER keeps them there).
        reach = max(max(abs(a), abs(b)) for a, b, _ in offs)
        fx = layer.x * np.float32(sx) + np.float32(dx)
        fy = layer.y * np.float32(sy) + np.float32(dy)
        inside = ((fx >= -reach) & (fx < self.width + reach)
                  & (fy >= -reach) & (fy < self.height + reach))
        if inside.all():
            ix, iy, cols = fx, fy, layer.colour
        else:
            ix, iy, cols = fx[inside], fy[inside], layer.colour[inside]
        n = int(ix.shape[0])
        if n == 0:
            return 0
        offs = fit_stamp(n, size, rim)
        at = (np.floor(iy).astype(np.int64) + PAD) * self.stride
        at += np.floor(ix).astype(np.int64) + PAD
        if colour is not None:
            cols = np.full(n, colour, np.uint32)
        flat = self.flat
        rel = np.array([b * self.stride + a for a, b, _ in offs], np.int64)
        is_rim = np.array([r for _, _, r in offs], bool)
        if n * len(offs) > ORDERED_LIMIT:
            for o in rel:  # many points, small squares: order within a point is invisible
                flat[at + o] = cols
        else:
            # Each point whole before the next (fancy assignment writes in index order):
            # a later disc covers the rim of an earlier one.
            idx = (at[:, None] + rel[None, :]).ravel()
            per = np.where(is_rim[None, :], np.uint32(RIM), cols[:, None]).ravel()
            flat[idx] = per
        return n
