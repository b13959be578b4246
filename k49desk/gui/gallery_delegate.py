"""Paints one Gallery thumbnail straight from the numpy row (no pixmap per image).

The 28x28 uint8 row is wrapped in a QImage (Format_Grayscale8, bytesPerLine = stride) that
lives only while it is drawn, and scaled with nearest-neighbour so pixels stay exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from k49desk.gui import refcount_guard
from k49desk.gui.fonts import hiragana_font

# PySide6 6.12.0 leaks references to None/True/False; painting would abort the app.
refcount_guard.install()

if TYPE_CHECKING:
    from k49desk.gui.gallery_model import GalleryModel

PAD = 4  # space between the cell edge and the image
FLAG_COLOR = QColor("#f59e0b")  # amber: flagged, not yet decided
DECIDED_COLOR = QColor("#22c55e")  # green: a review decision exists
SELECT_COLOR = QColor("#3b82f6")
CAPTION_BG = QColor(17, 24, 39, 200)


def qimage_from_row(row: np.ndarray, invert: bool = False) -> tuple[QImage, np.ndarray]:
    """A QImage over a 28x28 uint8 row; returns the buffer too, which must outlive the image."""
    buf = (255 - row) if invert else row
    if not buf.flags.c_contiguous:
        buf = np.ascontiguousarray(buf)
    img = QImage(buf, buf.shape[1], buf.shape[0], buf.strides[0], QImage.Format.Format_Grayscale8)
    return img, buf


class ThumbDelegate(QStyledItemDelegate):
    def __init__(self, model: GalleryModel, parent: object = None) -> None:
        super().__init__(parent)
        self._model = model
        self.thumb = 56  # image side in pixels (zoom)
        self.show_labels = True
        self.invert = False
        self._label_font = hiragana_font(9)
        self._caption_font = hiragana_font(8)
        self._caption_font.setWeight(QFont.Weight.DemiBold)

    def text_height(self) -> int:
        return 16 if self.show_labels else 0

    def cell_size(self) -> QSize:
        side = self.thumb + 2 * PAD
        return QSize(max(side, 40), side + self.text_height())

    def sizeHint(self, option: QStyleOptionViewItem,  # noqa: N802
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell_size()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        m = self._model
        row = index.row()
        sp, i = m.locate(row)
        r: QRect = option.rect
        side = self.thumb
        x = r.x() + (r.width() - side) // 2
        target = QRect(x, r.y() + PAD, side, side)
        img, _buf = qimage_from_row(sp.images[i], self.invert)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(target, img)
        issue, decision = m.flag_of(sp.name, i)
        if issue:
            # A corner triangle: visible at every zoom without hiding the character.
            k = max(8, side // 4)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(DECIDED_COLOR if decision else FLAG_COLOR)
            tr = target.topRight()
            x1, y0 = tr.x() + 1, tr.y()
            tri = [QPointF(x1 - k, y0), QPointF(x1, y0), QPointF(x1, y0 + k)]
            painter.drawPolygon(QPolygonF(tri))
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        caption = m.caption_of(sp.name, i)
        if caption:
            painter.setFont(self._caption_font)
            h = min(side, painter.fontMetrics().height() + 2)
            band = QRect(target.x(), target.bottom() + 1 - h, side, h)
            painter.fillRect(band, CAPTION_BG)
            painter.setPen(QColor("#fde68a"))
            painter.drawText(band, Qt.AlignmentFlag.AlignCenter, caption)
        if self.show_labels and m.dataset is not None:
            c = m.dataset.classes[int(sp.labels[i])]
            painter.setFont(self._label_font)
            painter.setPen(option.palette.color(option.palette.ColorRole.Text))
            text_rect = QRect(r.x(), target.bottom() + 1, r.width(), self.text_height())
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, c.char)
        if option.state & QStyle.StateFlag.State_Selected:
            pen = QPen(SELECT_COLOR, 3)
            pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(target.adjusted(-2, -2, 1, 1))
