"""Paints one Gallery thumbnail straight from the numpy row (no pixmap per image).

The 28x28 uint8 row is wrapped in a QImage (Format_Grayscale8, bytesPerLine = stride) that
lives only while it is drawn, and scaled with nearest-neighbour so pixels stay exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from k49desk.gui.common.fonts import hiragana_font

if TYPE_CHECKING:
    from k49desk.gui.gallery.model import GalleryModel

PAD = 4  # space between the cell edge and the image
FLAG_COLOR = QColor("#f59e0b")  # amber: flagged, not yet decided
DECIDED_COLOR = QColor("#22c55e")  # green: a review decision exists
SELECT_COLOR = QColor("#3b82f6")
CAPTION_COLOR = QColor("#b45309")  # amber-700: readable on light and dark rows
LABEL_H = 16
MAX_CAPTION_W = 150
TILE_EDGE = QColor("#d1d5db")
CAPTION_H = 14


def qimage_from_row(row: np.ndarray, invert: bool = False) -> tuple[QImage, np.ndarray]:
    """A QImage over a 28x28 uint8 row; returns the buffer too, which must outlive the image."""
    buf = (255 - row) if invert else row
    if not buf.flags.c_contiguous:
        buf = np.ascontiguousarray(buf)
    img = QImage(buf, buf.shape[1], buf.shape[0], buf.strides[0], QImage.Format.Format_Grayscale8)
    return img, buf


class ThumbDelegate(QStyledItemDelegate):
    """Image, flag corner, class character and (for requests) a caption line per cell.

    Text is drawn once into small cached pixmaps (49 characters, a few captions): a pixmap
    blit per cell is several times cheaper than laying out text for every thumbnail.
    """

    def __init__(self, model: GalleryModel, parent: object = None) -> None:
        super().__init__(parent)
        self._model = model
        self.thumb = 56  # image side in pixels (zoom)
        self.show_labels = True
        self.invert = False
        self._label_font = hiragana_font(9)
        self._caption_font = hiragana_font(8)
        self._caption_font.setWeight(QFont.Weight.DemiBold)
        self._text_cache: dict[tuple[str, str, int], QPixmap] = {}
        self._caption_w: tuple[object, int] = (None, 0)

    def text_height(self) -> int:
        return LABEL_H if self.show_labels else 0

    def caption_height(self) -> int:
        return CAPTION_H if self._model.captions else 0

    def caption_width(self) -> int:
        """Width the longest caption needs ("pred ね / true お"), capped at MAX_CAPTION_W."""
        caps = self._model.captions
        if not caps:
            return 0
        if self._caption_w[0] is not caps:
            fm = QFontMetrics(self._caption_font)
            texts = set(list(caps.values())[:500])  # captions repeat; a sample is enough
            need = max((fm.horizontalAdvance(s) for s in texts), default=0) + 6
            self._caption_w = (caps, min(need, MAX_CAPTION_W))
        return self._caption_w[1]

    def cell_size(self) -> QSize:
        side = self.thumb + 2 * PAD
        width = max(side, 40, self.caption_width())
        return QSize(width, side + self.text_height() + self.caption_height())

    def sizeHint(self, option: QStyleOptionViewItem,  # noqa: N802
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell_size()

    def _text_pixmap(self, text: str, kind: str, color: QColor) -> QPixmap:
        key = (text, kind, color.rgba())
        pm = self._text_cache.get(key)
        if pm is None:
            if len(self._text_cache) > 2000:  # captions are open-ended: stay bounded
                self._text_cache.clear()
            font = self._label_font if kind == "label" else self._caption_font
            w = QFontMetrics(font).horizontalAdvance(text) + 4
            h = LABEL_H if kind == "label" else CAPTION_H
            ratio = 2.0  # drawn at 2x so it stays crisp on high-DPI screens
            pm = QPixmap(int(w * ratio), int(h * ratio))
            pm.setDevicePixelRatio(ratio)
            pm.fill(Qt.GlobalColor.transparent)
            p = QPainter(pm)
            p.setFont(font)
            p.setPen(color)
            p.drawText(QRect(0, 0, w, h), Qt.AlignmentFlag.AlignCenter, text)
            p.end()
            self._text_cache[key] = pm
        return pm

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        m = self._model
        split, i, row, label = m.paint_item(index.row())
        r: QRect = option.rect
        side = self.thumb
        x = r.x() + (r.width() - side) // 2
        y = r.y() + PAD
        target = QRect(x, y, side, side)
        buf = (255 - row) if self.invert else row
        img = QImage(buf, 28, 28, buf.strides[0], QImage.Format.Format_Grayscale8)
        painter.drawImage(target, img)  # SmoothPixmapTransform is off: nearest neighbour
        if self.invert:  # white paper on a white view needs an edge
            painter.setPen(TILE_EDGE)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(target.adjusted(0, 0, -1, -1))
        y += side
        issue, decision = m.flag_of(split, i) if m.has_flags else ("", "")
        if issue:
            # A corner triangle: visible at every zoom without hiding the character.
            k = max(8, side // 4)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(DECIDED_COLOR if decision else FLAG_COLOR)
            x1, y0 = x + side, r.y() + PAD
            tri = [QPointF(x1 - k, y0), QPointF(x1, y0), QPointF(x1, y0 + k)]
            painter.drawPolygon(QPolygonF(tri))
        if self.show_labels:
            ds = m.dataset
            char = ds.classes[label].char if ds is not None else str(label)
            pm = self._text_pixmap(char, "label", option.palette.color(QPalette.ColorRole.Text))
            w = int(pm.width() / pm.devicePixelRatio())
            painter.drawPixmap(r.x() + (r.width() - w) // 2, y, pm)
            y += LABEL_H
        if m.captions:
            caption = m.caption_of(split, i)
            if caption:
                if r.width() < MAX_CAPTION_W:  # longer than the cell: elide, never overlap
                    fm = QFontMetrics(self._caption_font)
                    caption = fm.elidedText(caption, Qt.TextElideMode.ElideRight, r.width() - 4)
                pm = self._text_pixmap(caption, "caption", CAPTION_COLOR)
                w = int(pm.width() / pm.devicePixelRatio())
                painter.drawPixmap(r.x() + (r.width() - w) // 2, y, pm)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(self._select_pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(target.adjusted(-2, -2, 1, 1))

    _select_pen = QPen(SELECT_COLOR, 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.SquareCap,
                       Qt.PenJoinStyle.MiterJoin)
