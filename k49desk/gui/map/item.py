"""The map's points as one pyqtgraph item: a numpy raster (raster.py) drawn in device pixels.

The raster covers the view plus a quarter of it on every side. Panning only moves it (one
drawImage, about a millisecond); it is drawn again when the zoom, the window size, the
colours or the highlight change, or when a pan runs past that margin. Points grow as you
zoom in (discs with a rim when few are in view) and the highlighted ones (a selection) are
drawn last, larger, over the others faded.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRect, QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QStyleOptionGraphicsItem, QWidget

from k49desk.gui.map.raster import PAD, Canvas, Layer, fade

MARGIN = 0.25  # of the view's width/height rendered beyond each edge, for panning
FADED = 0.22  # colour kept by the points outside a highlight


class PointCloudItem(pg.GraphicsObject):
    """Every point of the map. `set_points` once per map or colouring, `set_highlight` per
    selection; painting is cached (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.xy = np.zeros((0, 2), np.float32)
        self._x = self._y = self._ox = self._oy = np.zeros(0, np.float32)
        self._colours = self._ocol = np.zeros(0, np.uint32)
        self._ocol_faded: np.ndarray | None = None
        self._order = np.zeros(0, np.int64)
        self._base: Layer | None = None
        self._top: Layer | None = None
        self._highlight = np.zeros(0, np.int64)
        self._bounds = QRectF()
        self.base_size = 2  # pixels across at "view all"
        self._version = 0
        self._cache: tuple | None = None  # (key, QImage, canvas, dx, dy, margin x, margin y)
        self.renders = 0  # full raster draws (benchmarks and tests read these)
        self.last_render_s = 0.0
        self.last_in_view = 0

    # ---- content ------------------------------------------------------------------------
    def set_points(self, xy: np.ndarray, colours: np.ndarray,
                   order: np.ndarray | None = None) -> None:
        """All points (N, 2) with their colours (uint32 RGB32), drawn in `order` (default:
        a fixed shuffle, so no class or split always lies on top)."""
        xy = np.asarray(xy, np.float32)
        new_xy = xy is not self.xy
        if new_xy:
            self.prepareGeometryChange()
            self.xy = xy
            self._bounds = _bounds(xy)
            self._x, self._y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
        if order is None:
            order = np.random.default_rng(0).permutation(xy.shape[0])
        order = np.asarray(order, np.int64)
        if new_xy or (order is not self._order and not np.array_equal(order, self._order)):
            self._order = order  # positions in drawing order, gathered once per order
            self._ox, self._oy = self._x[order], self._y[order]
        self._colours = np.asarray(colours, np.uint32)
        self._ocol = self._colours[self._order]
        self._ocol_faded: np.ndarray | None = None
        self._rebuild()

    def set_highlight(self, rows: np.ndarray) -> None:
        """Rows to draw on top (sorted int64; empty: none)."""
        rows = np.asarray(rows, np.int64)
        if rows.shape == self._highlight.shape and np.array_equal(rows, self._highlight):
            return
        self._highlight = rows
        self._rebuild()

    @property
    def highlight(self) -> np.ndarray:
        return self._highlight

    def _rebuild(self) -> None:
        # Only gathers of what changed: a new highlight of 10,000 rows costs well under a
        # millisecond here (rebuilding every layer from xy cost 17 ms).
        h = self._highlight
        if h.size:
            if self._ocol_faded is None:
                self._ocol_faded = fade(self._ocol, FADED)
            self._base = Layer(self._ox, self._oy, self._ocol_faded)
            self._top = Layer(self._x[h], self._y[h], self._colours[h])
        else:
            self._base = Layer(self._ox, self._oy, self._ocol)
            self._top = None
        self._version += 1
        self.update()

    def data_rect(self) -> QRectF:
        return QRectF(self._bounds)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt override)
        return self._bounds

    # ---- painting -----------------------------------------------------------------------
    def point_size(self, sx: float, width_px: float) -> int:
        """Pixels across for a point: base size at "view all", growing as you zoom in."""
        span = self._bounds.width() * abs(sx)  # the whole map's width in pixels now
        zoom = span / max(width_px, 1.0)
        return int(min(11, max(self.base_size,
                               round(self.base_size + 2 * math.log2(max(zoom, 1.0))))))

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,  # noqa: ARG002
              widget: QWidget | None = None) -> None:
        if self._base is None or not len(self._base):
            return
        t = painter.transform()
        if t.m12() or t.m21():  # the map is never rotated
            return
        dev = painter.device()
        dpr = float(dev.devicePixelRatioF()) if hasattr(dev, "devicePixelRatioF") else 1.0
        w, h = int(dev.width() * dpr), int(dev.height() * dpr)
        sx, sy = t.m11() * dpr, t.m22() * dpr
        dx, dy = t.dx() * dpr, t.dy() * dpr
        key = (sx, sy, w, h, self._version)
        c = self._cache
        if (c is None or c[0] != key or abs(dx - c[3]) > c[5] or abs(dy - c[4]) > c[6]):
            c = self._render(key, sx, sy, dx, dy, w, h)
        img, mx, my = c[1], c[5], c[6]
        ox, oy = round(dx - c[3]) - mx, round(dy - c[4]) - my
        painter.save()
        painter.resetTransform()
        img.setDevicePixelRatio(dpr)
        cw, ch = c[2].width, c[2].height
        painter.drawImage(QPoint(int(ox / dpr), int(oy / dpr)), img,
                          QRect(PAD, PAD, cw, ch))
        painter.restore()

    def _render(self, key: tuple, sx: float, sy: float, dx: float, dy: float,
                w: int, h: int) -> tuple:
        t0 = time.perf_counter()
        mx, my = int(w * MARGIN), int(h * MARGIN)
        cw, ch = w + 2 * mx, h + 2 * my
        old = self._cache
        if old is not None and (old[2].width, old[2].height) == (cw, ch):
            img, canvas = old[1], old[2]
            canvas.clear()
        else:
            img = QImage(cw + 2 * PAD, ch + 2 * PAD, QImage.Format.Format_RGB32)
            mem = np.frombuffer(img.bits(), np.uint32, count=img.width() * img.height())
            canvas = Canvas(cw, ch, mem)
        size = self.point_size(sx, w)
        ox, oy = dx + mx, dy + my  # device (0, 0) is canvas pixel (mx, my)
        n = canvas.draw(self._base, sx, ox, sy, oy, size, rim=size >= 5)  # type: ignore[arg-type]
        if self._top is not None:
            n_top = canvas.draw(self._top, sx, ox, sy, oy, max(size + 2, 5), rim=True)
            n = max(n, n_top)
        self.last_in_view = n
        self._cache = (key, img, canvas, dx, dy, mx, my)
        self.renders += 1
        self.last_render_s = time.perf_counter() - t0
        return self._cache

    def invalidate(self) -> None:
        self._cache = None
        self.update()


def _bounds(xy: np.ndarray) -> QRectF:
    if xy.shape[0] == 0:
        return QRectF()
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    w, h = float(hi[0] - lo[0]) or 1.0, float(hi[1] - lo[1]) or 1.0
    return QRectF(float(lo[0]), float(lo[1]), w, h)
