"""The map's canvas: a pyqtgraph view (smooth pan and zoom) holding the point cloud, with
rectangle and lasso selection, hover and click.

Gestures: drag pans (Pan tool) or draws a rectangle/lasso (those tools); in any tool a drag
with Shift draws a lasso that adds to the selection and with Ctrl one that removes from it;
the wheel zooms about the pointer; a click selects the nearest point (Shift/Ctrl: add or
remove it), a click on empty space clears; a double-click opens the point in the Gallery;
right-click opens a menu. Selection results are map rows (the panel turns them into images).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsRectItem

from k49desk.core.selection import points_in_polygon, points_in_rect
from k49desk.gui.map.item import PointCloudItem

TOOLS = ("pan", "rect", "lasso")
HOVER_RADIUS_PX = 8.0
_SHIFT = Qt.KeyboardModifier.ShiftModifier
_CTRL = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier
_LEFT = Qt.MouseButton.LeftButton
OVERLAY_PEN = QColor("#111827")


def how_of(mods: Qt.KeyboardModifier) -> str:
    """What a gesture does to the selection: "add" (Shift), "remove" (Ctrl), "replace"."""
    if mods & _SHIFT:
        return "add"
    if mods & _CTRL:
        return "remove"
    return "replace"


class MapViewBox(pg.ViewBox):
    def __init__(self, view: MapView) -> None:
        super().__init__(enableMenu=False, lockAspect=True)
        self.map_view = view
        self._path: list[QPointF] = []
        self._shape = ""  # "rect" | "lasso" while a selection drag is on
        self._how = "replace"
        pen = QPen(OVERLAY_PEN, 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.lasso_item = QGraphicsPathItem()
        self.rect_item = QGraphicsRectItem()
        for it in (self.lasso_item, self.rect_item):
            it.setPen(pen)
            it.setBrush(QColor(59, 130, 246, 40))
            it.setZValue(10)
            it.hide()
            self.addItem(it, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: ANN001, N802 (pyqtgraph API)
        tool = self.map_view.tool
        mods = ev.modifiers()
        if ev.button() != _LEFT or (tool == "pan" and not mods & (_SHIFT | _CTRL)
                                    and not self._shape):
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        p = self.mapToView(ev.pos())
        if ev.isStart() or not self._shape:
            self._shape = "rect" if tool == "rect" else "lasso"
            self._how = how_of(mods)
            self._path = [self.mapToView(ev.buttonDownPos(_LEFT))]
        self._path.append(p)
        if self._shape == "rect":
            self.rect_item.setRect(QRectF(self._path[0], p).normalized())
            self.rect_item.show()
        else:
            path = QPainterPath(self._path[0])
            for q in self._path[1:]:
                path.lineTo(q)
            path.closeSubpath()
            self.lasso_item.setPath(path)
            self.lasso_item.show()
        if ev.isFinish():
            shape, pts, how = self._shape, self._path, self._how
            self._shape, self._path = "", []
            self.lasso_item.hide()
            self.rect_item.hide()
            poly = np.array([(q.x(), q.y()) for q in pts], np.float64)
            self.map_view.finish_shape(shape, poly, how)

    def mouseClickEvent(self, ev) -> None:  # noqa: ANN001, N802
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            self.map_view.context_requested.emit(ev.screenPos().toPoint())
            return
        if ev.button() != _LEFT:
            return
        ev.accept()
        row = self.map_view.nearest(self.mapToView(ev.pos()))
        if ev.double():
            if row is not None:
                self.map_view.double_clicked.emit(row)
            return
        self.map_view.clicked.emit(row, how_of(ev.modifiers()))

    def hoverEvent(self, ev) -> None:  # noqa: ANN001, N802
        if ev.isExit():
            self.map_view.hovered.emit(None)
            return
        self.map_view.hover_at(self.mapToView(ev.pos()))


class MapView(pg.GraphicsView):
    """Signals carry map rows (int) and how to combine a selection ("replace", "add",
    "remove")."""

    selected = Signal(object, str)  # rows (sorted int64), how
    clicked = Signal(object, str)  # row or None, how
    double_clicked = Signal(int)
    hovered = Signal(object)  # row or None
    context_requested = Signal(object)  # QPoint (global)

    def __init__(self, parent: object = None) -> None:
        super().__init__(parent, background="w")
        self.vb = MapViewBox(self)
        self.setCentralItem(self.vb)
        self.cloud = PointCloudItem()
        self.vb.addItem(self.cloud)
        self.vb.disableAutoRange()
        self.marker = pg.ScatterPlotItem(size=22, pen=pg.mkPen("#111827", width=2),
                                         brush=None, pxMode=True)
        self.marker.setZValue(5)  # rings around a few highlighted points: easy to find
        self.hover_dot = pg.ScatterPlotItem(size=12, pen=pg.mkPen("#f59e0b", width=2.5),
                                            brush=None, pxMode=True)
        self.hover_dot.setZValue(6)
        for it in (self.marker, self.hover_dot):
            self.vb.addItem(it, ignoreBounds=True)
        self.tool = "pan"
        self.hover_row: int | None = None
        self.last_hover_pos = QPointF()

    @property
    def xy(self) -> np.ndarray:
        return self.cloud.xy

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        self.setCursor(Qt.CursorShape.OpenHandCursor if tool == "pan"
                       else Qt.CursorShape.CrossCursor)

    def set_points(self, xy: np.ndarray, colours: np.ndarray, order: np.ndarray | None = None,
                   fit: bool = False) -> None:
        n = xy.shape[0]
        self.cloud.base_size = 2 if n > 60_000 else 3 if n > 8_000 else 4
        self.cloud.set_points(xy, colours, order)
        self.set_hover(None)
        if fit:
            self.fit()

    def set_highlight(self, rows: np.ndarray, ring: bool = True) -> None:
        """Draw these rows on top (others faded); rings mark them when there are few."""
        self.cloud.set_highlight(rows)
        few = ring and 0 < rows.size <= 20
        pts = self.xy[rows] if few else np.zeros((0, 2), np.float32)
        self.marker.setData(pos=pts)

    def fit(self, rows: np.ndarray | None = None) -> None:
        """Show every point (or these rows) with a small margin."""
        xy = self.xy if rows is None else self.xy[np.asarray(rows, np.int64)]
        if xy.shape[0] == 0:
            return
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        span = np.maximum(hi - lo, 1e-3 if rows is None else 2.0)
        if rows is not None:  # a single point or a tiny cluster: some context around it
            span = np.maximum(span, (self.cloud.data_rect().width() or 1.0) * 0.05)
        c = (lo + hi) / 2
        self.vb.setRange(QRectF(float(c[0] - span[0] / 2), float(c[1] - span[1] / 2),
                                float(span[0]), float(span[1])), padding=0.04)

    # ---- lookups ------------------------------------------------------------------------
    def pixel_size(self) -> float:
        px = self.vb.viewPixelSize()
        return float(max(px[0], px[1])) or 1.0

    def nearest(self, p: QPointF, radius_px: float = HOVER_RADIUS_PX) -> int | None:
        """The row drawn nearest to view point `p` within `radius_px` pixels, else None."""
        xy = self.xy
        if xy.shape[0] == 0:
            return None
        r = radius_px * self.pixel_size()
        x, y = p.x(), p.y()
        cand = points_in_rect(xy, x - r, y - r, x + r, y + r)
        if cand.size == 0:
            return None
        d = (xy[cand, 0] - x) ** 2 + (xy[cand, 1] - y) ** 2
        best = int(np.argmin(d))
        return int(cand[best]) if d[best] <= r * r else None

    def hover_at(self, p: QPointF) -> None:
        self.last_hover_pos = p
        row = self.nearest(p)
        if row != self.hover_row:
            self.set_hover(row)
            self.hovered.emit(row)

    def set_hover(self, row: int | None) -> None:
        self.hover_row = row
        pts = self.xy[[row]] if row is not None else np.zeros((0, 2), np.float32)
        self.hover_dot.setData(pos=pts)

    def finish_shape(self, shape: str, poly: np.ndarray, how: str) -> None:
        """A rectangle (first and last point) or lasso was drawn: select what it holds."""
        if shape == "rect":
            (x0, y0), (x1, y1) = poly[0], poly[-1]
            rows = points_in_rect(self.xy, x0, y0, x1, y1)
        else:
            rows = points_in_polygon(self.xy, poly)
        self.selected.emit(rows, how)

    def lasso(self, polygon: np.ndarray, how: str = "replace") -> None:
        """Select the points inside `polygon` (view coordinates), as a drawn lasso would."""
        self.finish_shape("lasso", np.asarray(polygon, np.float64), how)
