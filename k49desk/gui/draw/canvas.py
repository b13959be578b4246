"""The drawing canvas: smooth round-capped strokes, undo/redo, mouse, pen and touch.

Strokes are kept as point lists in unit-square coordinates (0..1 across the paper) with a
pen width relative to the paper side, so the drawing survives resizes and can be re-rendered
at any resolution: on screen (a cached backing image the size of the paper) and for the
model (`render_array`, white ink on black, independent of the window size).

While drawing, only the new segment is painted onto the backing image and only its
bounding rectangle is repainted, so the pen never waits for a full redraw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QTabletEvent,
    QTouchEvent,
    QUndoCommand,
    QUndoStack,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from k49desk.gui.draw.strokes import Stroke, mid, paint_strokes, qpen, render_strokes

PAPER = QColor("#fbfaf6")  # warm off-white: reads as paper next to the grey window
INK = QColor("#1c1917")
GUIDE = QColor(120, 113, 108, 60)  # the faint practice-paper cross
REFERENCE_SIDE = 280.0  # pen widths are given in pixels of a 280 px canvas (10x a K49 image)
MIN_PEN, MAX_PEN, DEFAULT_PEN = 4, 40, 14


class DrawCanvas(QWidget):
    changed = Signal()  # any change to the drawing, including every new point
    stroke_finished = Signal()  # pen lifted, or undo/redo/clear

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.strokes: list[Stroke] = []
        # The drawing's history, driven by the buttons and the window's Edit menu.
        self.undo_stack = QUndoStack(self)
        self._current: Stroke | None = None
        self._pen_px = float(DEFAULT_PEN)
        self._backing: QImage | None = None
        self._live_tail: tuple[tuple[float, float], tuple[float, float]] | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_AcceptTouchEvents, True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setMinimumSize(200, 200)
        sp = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setSizePolicy(sp)

    # --- public API --------------------------------------------------------------------
    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(420, 420)

    @property
    def pen_width(self) -> float:
        """Pen width in pixels of a 280 px canvas (the same look at any window size)."""
        return self._pen_px

    def set_pen_width(self, px: float) -> None:
        self._pen_px = float(min(max(px, MIN_PEN), MAX_PEN))

    def is_empty(self) -> bool:
        return not self.strokes and self._current is None

    def can_undo(self) -> bool:
        return self.undo_stack.canUndo()

    def can_redo(self) -> bool:
        return self.undo_stack.canRedo()

    def undo(self) -> None:
        """Undo the last stroke, or the last clear (which brings the whole drawing back)."""
        self._end_stroke()
        self.undo_stack.undo()

    def redo(self) -> None:
        self.undo_stack.redo()

    def clear(self) -> None:
        """Wipe the paper; undoable like a stroke, so an accidental Esc costs nothing."""
        self._end_stroke()
        if self.strokes:
            self.undo_stack.push(_Replace(self, list(self.strokes), [], "Clear drawing"))

    def set_strokes(self, strokes: Sequence[Stroke]) -> None:
        """Replace the drawing (demos, tests); undoable as one step."""
        self._current = None
        self._live_tail = None
        new = [Stroke(s.width, list(s.points)) for s in strokes]
        self.undo_stack.push(_Replace(self, list(self.strokes), new))  # redo() rebuilds

    def all_strokes(self) -> list[Stroke]:
        """Finished strokes plus the one being drawn (for live recognition)."""
        cur = [self._current] if self._current is not None else []
        return [*self.strokes, *cur]

    def render_array(self, side: int = int(REFERENCE_SIDE)) -> np.ndarray:
        """The drawing as uint8 (side, side), white ink on black, whatever the window size."""
        return render_strokes(self.all_strokes(), side)

    def paper_rect(self) -> QRect:
        """The square paper, centred in the widget (the canvas stays square when resized)."""
        side = max(min(self.width(), self.height()) - 2, 1)
        return QRect((self.width() - side) // 2, (self.height() - side) // 2, side, side)

    def to_unit(self, pos: QPointF) -> tuple[float, float]:
        r = self.paper_rect()
        x = (pos.x() - r.x()) / r.width()
        y = (pos.y() - r.y()) / r.height()
        return min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)

    # --- stroke building -----------------------------------------------------------------
    def _begin_stroke(self, pos: QPointF) -> None:
        if self._current is not None:
            self._end_stroke()
        self._current = Stroke(self._pen_px / REFERENCE_SIDE, [self.to_unit(pos)])
        self._paint_tail()
        self.changed.emit()

    def _extend_stroke(self, pos: QPointF) -> None:
        if self._current is None:
            return
        pt = self.to_unit(pos)
        last = self._current.points[-1]
        # Skip sub-pixel jitter: it adds points without changing the picture.
        side = self.paper_rect().width()
        if abs(pt[0] - last[0]) * side < 0.75 and abs(pt[1] - last[1]) * side < 0.75:
            return
        self._current.points.append(pt)
        self._paint_tail()
        self.changed.emit()

    def _end_stroke(self) -> None:
        if self._current is None:
            return
        self.strokes.append(self._current)
        self.undo_stack.push(_Added(self, self._current))
        self._current = None
        self._live_tail = None
        # Recognition first (it reads the strokes, not the screen), then the repaint.
        self.stroke_finished.emit()
        # Redraw the finished stroke as one smooth path: live painting drew it piecewise.
        if self._backing is not None:
            self._redraw_backing()
            self.update()

    def _paint_tail(self) -> None:
        """Paint only what the newest point settled, and repaint only around it.

        The smooth path is moveTo p0, quadTo(p_i, mid(p_i, p_i+1))..., lineTo(last). A new
        point settles one quad piece for good: that goes onto the backing image. The straight
        end piece to the pen still changes with the next point, so it is drawn as an overlay
        in paintEvent (never baked in, so no corners are left behind) and ink reaches the pen.
        """
        s = self._current
        if s is None:
            return
        side = float(self.paper_rect().width())
        pts = s.points
        n = len(pts)
        touched: list[tuple[float, float]] = []
        if n == 1:
            self._bake([pts[0]], None, s.width, side)
            touched = [pts[0]]
        elif n >= 3:
            i = n - 2
            start = pts[0] if i == 1 else mid(pts[i - 1], pts[i])
            end = mid(pts[i], pts[i + 1])
            self._bake([start, end], pts[i], s.width, side)
            touched = [start, pts[i], end]
        old_tail = self._live_tail
        self._live_tail = None
        if n >= 2:
            self._live_tail = (pts[0] if n == 2 else mid(pts[-2], pts[-1]), pts[-1])
        for t in (old_tail, self._live_tail):
            if t is not None:
                touched += list(t)
        if not touched:
            return
        r = self.paper_rect()
        w = s.width * side + 4
        xs = [x * side for x, _ in touched]
        ys = [y * side for _, y in touched]
        dirty = QRectF(min(xs) - w, min(ys) - w, max(xs) - min(xs) + 2 * w,
                       max(ys) - min(ys) + 2 * w).toAlignedRect()
        self.update(dirty.translated(r.topLeft()))

    def _bake(self, ends: list[tuple[float, float]], ctrl: tuple[float, float] | None,
              width: float, side: float) -> None:
        """Draw a dot (one point) or one quadratic piece onto the backing image."""
        img = self._ensure_backing()
        p = QPainter(img)
        p.scale(img.devicePixelRatio(), img.devicePixelRatio())
        if ctrl is None:
            paint_strokes(p, [Stroke(width, ends)], side, INK)
        else:
            path = QPainterPath(QPointF(ends[0][0] * side, ends[0][1] * side))
            path.quadTo(QPointF(ctrl[0] * side, ctrl[1] * side),
                        QPointF(ends[1][0] * side, ends[1][1] * side))
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setPen(qpen(INK, width * side))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
        p.end()

    # --- painting --------------------------------------------------------------------------
    def _ensure_backing(self) -> QImage:
        r = self.paper_rect()
        dpr = self.devicePixelRatioF()
        want = QSize(round(r.width() * dpr), round(r.height() * dpr))
        if self._backing is None or self._backing.size() != want:
            self._backing = QImage(want, QImage.Format.Format_ARGB32_Premultiplied)
            self._backing.setDevicePixelRatio(dpr)
            self._redraw_backing()
        return self._backing

    def _redraw_backing(self) -> None:
        img = self._backing
        if img is None:
            return
        img.fill(PAPER)
        side = float(self.paper_rect().width())
        p = QPainter(img)
        p.scale(img.devicePixelRatio(), img.devicePixelRatio())
        # Practice-paper guides (a dashed cross), which people use to centre a character.
        pen = QPen(GUIDE, 1.0, Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.drawLine(QPointF(side / 2, 6), QPointF(side / 2, side - 6))
        p.drawLine(QPointF(6, side / 2), QPointF(side - 6, side / 2))
        paint_strokes(p, self.all_strokes(), side, INK)
        p.end()

    def _rebuild(self) -> None:
        if self._backing is not None:
            self._redraw_backing()
        self.update()
        self.changed.emit()
        self.stroke_finished.emit()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(event.rect(), self.palette().window())
        r = self.paper_rect()
        p.drawImage(r.topLeft(), self._ensure_backing())
        if self._live_tail is not None and self._current is not None:
            side = float(r.width())
            (x0, y0), (x1, y1) = self._live_tail
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setPen(qpen(INK, self._current.width * side))
            p.drawLine(QPointF(r.x() + x0 * side, r.y() + y0 * side),
                       QPointF(r.x() + x1 * side, r.y() + y1 * side))
            p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.setPen(QPen(QColor(0, 0, 0, 40), 1.0))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(r.adjusted(0, 0, -1, -1))
        if self.is_empty():
            p.setPen(QColor(120, 113, 108, 170))
            f = p.font()
            f.setPointSizeF(max(10.0, r.width() / 30))
            p.setFont(f)
            p.drawText(r.adjusted(0, 0, 0, -r.height() // 8),
                       Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
                       "Draw one hiragana character")
        p.end()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        self._backing = None  # re-rendered at the new size on the next paint
        super().resizeEvent(event)

    # --- input: mouse, tablet pen, touch ---------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin_stroke(event.position())
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._current is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self._extend_stroke(event.position())
            event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self._current is not None:
            self._extend_stroke(event.position())
            self._end_stroke()
            event.accept()

    def tabletEvent(self, event: QTabletEvent) -> None:  # noqa: N802
        # Handling the pen directly (instead of the synthesized mouse events) keeps the
        # sub-pixel positions a tablet reports.
        t = event.type()
        if t == QEvent.Type.TabletPress:
            self._begin_stroke(event.position())
        elif t == QEvent.Type.TabletMove and self._current is not None:
            self._extend_stroke(event.position())
        elif t == QEvent.Type.TabletRelease and self._current is not None:
            self._extend_stroke(event.position())
            self._end_stroke()
        event.accept()

    def event(self, event: QEvent) -> bool:
        t = event.type()
        if t in (QEvent.Type.TouchBegin, QEvent.Type.TouchUpdate, QEvent.Type.TouchEnd,
                 QEvent.Type.TouchCancel):
            self._touch(event)  # type: ignore[arg-type]
            return True
        return super().event(event)

    def _touch(self, event: QTouchEvent) -> None:
        pts = event.points()
        t = event.type()
        if t == QEvent.Type.TouchCancel or not pts:
            self._end_stroke()
        elif t == QEvent.Type.TouchBegin:
            self._begin_stroke(pts[0].position())
        elif t == QEvent.Type.TouchUpdate:
            self._extend_stroke(pts[0].position())
        else:
            self._extend_stroke(pts[0].position())
            self._end_stroke()
        event.accept()


class _Added(QUndoCommand):
    """A finished stroke (already on the canvas when pushed)."""

    def __init__(self, canvas: DrawCanvas, stroke: Stroke) -> None:
        super().__init__("Stroke")
        self.canvas, self.stroke, self.first = canvas, stroke, True

    def redo(self) -> None:
        if self.first:  # push() calls redo(): the stroke was drawn already
            self.first = False
            return
        self.canvas.strokes.append(self.stroke)
        self.canvas._rebuild()

    def undo(self) -> None:
        self.canvas.strokes.pop()
        self.canvas._rebuild()


class _Replace(QUndoCommand):
    """The whole drawing replaced (by a clear, or a drawn font character)."""

    def __init__(self, canvas: DrawCanvas, old: list[Stroke], new: list[Stroke],
                 text: str = "Draw") -> None:
        super().__init__(text)
        self.canvas, self.old, self.new = canvas, old, new

    def redo(self) -> None:
        self.canvas.strokes = list(self.new)
        self.canvas._rebuild()

    def undo(self) -> None:
        self.canvas.strokes = list(self.old)
        self.canvas._rebuild()
