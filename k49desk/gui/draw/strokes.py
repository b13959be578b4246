"""Pen strokes and how they are painted: smooth, anti-aliased, round-capped.

Shared by the canvas (screen), recognition (`render_strokes`: white on black for
`preprocess`), tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen


@dataclass
class Stroke:
    """One pen-down..pen-up trace: points in unit coordinates, width as a fraction of the side."""

    width: float
    points: list[tuple[float, float]] = field(default_factory=list)


def stroke_path(points: Sequence[tuple[float, float]], scale: float) -> QPainterPath:
    """A smooth path through the points: quadratic curves between segment midpoints.

    Mouse events arrive every few pixels; joining them with straight lines gives visible
    corners on fast curves, midpoint Beziers don't (and pass within half a segment of each
    sample, which is below what the eye or the 28x28 model input can tell).
    """
    path = QPainterPath()
    if not points:
        return path
    pts = [QPointF(x * scale, y * scale) for x, y in points]
    path.moveTo(pts[0])
    for i in range(1, len(pts) - 1):
        mid = (pts[i] + pts[i + 1]) / 2.0
        path.quadTo(pts[i], mid)
    path.lineTo(pts[-1])
    return path


def mid(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return (a[0] + b[0]) / 2, (a[1] + b[1]) / 2


def qpen(color: QColor, width: float) -> QPen:
    return QPen(color, max(width, 1.0), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                Qt.PenJoinStyle.RoundJoin)


def paint_strokes(painter: QPainter, strokes: Sequence[Stroke], side: float,
                  color: QColor) -> None:
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for s in strokes:
        w = max(s.width * side, 1.0)
        if len(s.points) == 1:  # a dot: Qt draws nothing for a zero-length path
            x, y = s.points[0]
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color)
            painter.drawEllipse(QPointF(x * side, y * side), w / 2, w / 2)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            continue
        painter.setPen(qpen(color, w))
        painter.drawPath(stroke_path(s.points, side))


def render_strokes(strokes: Sequence[Stroke], side: int) -> np.ndarray:
    """Strokes -> uint8 (side, side), white ink on black (what `preprocess` is given)."""
    img = QImage(side, side, QImage.Format.Format_Grayscale8)
    img.fill(0)
    p = QPainter(img)
    paint_strokes(p, strokes, float(side), QColor(255, 255, 255))
    p.end()
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(side, img.bytesPerLine())
    return arr[:, :side].copy()
