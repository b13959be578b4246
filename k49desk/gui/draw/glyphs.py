"""Turn a rendered glyph into pen strokes, so a font character can be "drawn" on the canvas.

Used by `DrawPanel.draw_class` (screenshots, demos), tests and benchmarks: the glyph is
thinned to a one-pixel skeleton (Zhang-Suen) and the skeleton is walked into polylines,
which the canvas then draws with its round pen like mouse strokes. numpy only, no Qt.
"""

from __future__ import annotations

import numpy as np

_NEIGHBOURS = ((-1, 0), (0, 1), (1, 0), (0, -1), (-1, 1), (1, 1), (1, -1), (-1, -1))


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning (vectorised): the one-pixel skeleton of a binary image."""
    m = np.pad(np.asarray(mask, dtype=np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            # P2..P9 clockwise from north, as in Zhang & Suen (1984).
            n = [np.roll(np.roll(m, dy, 0), dx, 1) for dy, dx in
                 ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))]
            b = sum(n)
            seq = [*n, n[0]]
            a = sum(((seq[i] == 0) & (seq[i + 1] == 1)).astype(np.uint8) for i in range(8))
            if step == 0:
                c1, c2 = n[0] * n[2] * n[4], n[2] * n[4] * n[6]
            else:
                c1, c2 = n[0] * n[2] * n[6], n[0] * n[4] * n[6]
            kill = (m == 1) & (b >= 2) & (b <= 6) & (a == 1) & (c1 == 0) & (c2 == 0)
            if kill.any():
                m = m.copy()
                m[kill] = 0
                changed = True
        if not changed:
            return m[1:-1, 1:-1].astype(bool)


def trace(skel: np.ndarray, min_len: int = 4, step: int = 3) -> list[list[tuple[float, float]]]:
    """Walk a skeleton into polylines of (row, col): from line ends first, then loops.

    Spurs shorter than `min_len` pixels (thinning noise) are dropped; every `step`-th point
    is kept (the canvas smooths between points anyway).
    """
    todo = {(int(y), int(x)) for y, x in zip(*np.nonzero(skel), strict=True)}

    def free_neighbours(p: tuple[int, int]) -> list[tuple[int, int]]:
        return [(p[0] + dy, p[1] + dx) for dy, dx in _NEIGHBOURS
                if (p[0] + dy, p[1] + dx) in todo]

    lines: list[list[tuple[float, float]]] = []
    while todo:
        ends = [p for p in todo if len(free_neighbours(p)) == 1]
        start = min(ends) if ends else min(todo)
        path = [start]
        todo.discard(start)
        while True:
            nxt = free_neighbours(path[-1])  # 4-neighbours come first: fewer zigzags
            if not nxt:
                break
            path.append(nxt[0])
            todo.discard(nxt[0])
        if len(path) >= min_len:
            lines.append(_smooth(path, step))
    return lines


def _smooth(path: list[tuple[int, int]], step: int) -> list[tuple[float, float]]:
    """Average out the skeleton's pixel staircase, then keep every `step`-th point."""
    a = np.asarray(path, dtype=np.float64)
    k = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    k /= k.sum()
    padded = np.concatenate([a[:1].repeat(2, 0), a, a[-1:].repeat(2, 0)])
    sm = np.stack([np.convolve(padded[:, i], k, mode="valid") for i in (0, 1)], axis=1)
    sm[0], sm[-1] = a[0], a[-1]  # keep the stroke's real ends
    idx = list(range(0, len(sm), step))
    if idx[-1] != len(sm) - 1:
        idx.append(len(sm) - 1)
    return [(float(y), float(x)) for y, x in sm[idx]]


def glyph_strokes(glyph: np.ndarray, extent: float = 0.72) -> list[list[tuple[float, float]]]:
    """A white-on-black glyph image -> strokes in unit canvas coordinates (x, y), centred,
    the glyph's larger side spanning `extent` of the canvas."""
    skel = thin(np.asarray(glyph) > 127)
    lines = trace(skel)
    if not lines:
        return []
    ys, xs = np.nonzero(skel)
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    span = max(ys.max() - ys.min(), xs.max() - xs.min(), 1)
    s = extent / span
    return [[(0.5 + (x - cx) * s, 0.5 + (y - cy) * s) for y, x in line] for line in lines]
