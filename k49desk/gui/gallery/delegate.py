"""Paints one Gallery thumbnail straight from the numpy row (no pixmap per image).

The 28x28 uint8 row is wrapped in a QImage (Format_Grayscale8, bytesPerLine = stride) that
lives only while it is drawn, and scaled with nearest-neighbour so pixels stay exact.
Annotations come from the store's numpy arrays (model.mark_of): the label shown is the
decided one (a relabel in violet, "→ほ"), a bar under the image gives the decision's colour,
an unusable image is crossed out, a tagged one has a blue corner.
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

from k49desk.core.annotations.records import (
    ACCEPT,
    KEEP,
    NONE,
    PRELABEL,
    RELABEL,
    UNSURE,
    UNUSABLE,
)
from k49desk.gui.common.class_input import RELABEL_COLOR
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.gallery.marks import TAGGED

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
PREDICTION_SAMPLE = "pred ゑ 0.00"  # the widest "pred ね 0.97" caption
TAG_COLOR = QColor("#2563eb")
_RELABEL = QColor(RELABEL_COLOR)
# Per decision code: (bar colour under the image, label colour, suffix after the character).
DECISION_MARKS: dict[int, tuple[QColor, QColor | None, str]] = {
    KEEP: (QColor("#15803d"), QColor("#15803d"), "✓"),
    ACCEPT: (QColor(RELABEL_COLOR), QColor(RELABEL_COLOR), ""),
    RELABEL: (QColor(RELABEL_COLOR), QColor(RELABEL_COLOR), ""),
    UNUSABLE: (QColor("#b91c1c"), QColor("#b91c1c"), "✕"),
    UNSURE: (QColor("#b45309"), QColor("#b45309"), "?"),
    PRELABEL: (QColor("#9ca3af"), QColor("#6b7280"), "?"),
}


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
        self.preview_label: int | None = None  # the class being typed for the selection
        self._chars: tuple[object, list[str]] = (object(), [])
        self._cross_pen = QPen(QColor(185, 28, 28, 200), 2.5)
        self._crosses: dict[int, QPixmap] = {}

    def text_height(self) -> int:
        return LABEL_H if self.show_labels else 0

    def caption_height(self) -> int:
        return CAPTION_H if self._model.has_captions else 0

    def caption_width(self) -> int:
        """Width the longest caption needs ("pred ね / true お"), capped at MAX_CAPTION_W."""
        m = self._model
        if m.prediction_captions:  # "pred ね 0.97": one width for all
            caps: object = PREDICTION_SAMPLE
        elif m.captions:
            caps = m.captions
        else:
            return 0
        if self._caption_w[0] is not caps:
            fm = QFontMetrics(self._caption_font)
            texts = ({PREDICTION_SAMPLE} if caps is PREDICTION_SAMPLE
                     else set(list(m.captions.values())[:500]))  # a sample is enough
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
        code, final, extra = m.mark_of(split, i)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if code != NONE:
            self._paint_decision(painter, code, target)
        if extra & TAGGED:  # a corner on the left: flags use the right one
            k = max(7, side // 5)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(TAG_COLOR)
            y0 = r.y() + PAD
            painter.drawPolygon(QPolygonF([QPointF(x, y0), QPointF(x + k, y0),
                                           QPointF(x, y0 + k)]))
        y += side
        issue, decision = m.flag_of(split, i) if m.has_flags else ("", "")
        if issue:
            # A corner triangle: visible at every zoom without hiding the character.
            k = max(8, side // 4)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(DECIDED_COLOR if decision or code != NONE else FLAG_COLOR)
            x1, y0 = x + side, r.y() + PAD
            tri = [QPointF(x1 - k, y0), QPointF(x1, y0), QPointF(x1, y0 + k)]
            painter.drawPolygon(QPolygonF(tri))
        if self.show_labels:
            self._paint_label(painter, option, r, y, label, code, final, selected)
            y += LABEL_H
        if m.has_captions:
            self._paint_caption(painter, r, y, split, i)
        if selected:
            painter.setPen(self._select_pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(target.adjusted(-2, -2, 1, 1))

    def _paint_caption(self, painter: QPainter, r: QRect, y: int, split: str, i: int) -> None:
        m = self._model
        if m.prediction_captions:  # "pred ね" + "0.97": 49 + 101 cached pixmaps, not 4,949
            parts: tuple[str, ...] = m.prediction_parts(split, i)
        else:
            caption = m.caption_of(split, i)
            parts = (caption,) if caption else ()
        pms = [self._text_pixmap(t, "caption", CAPTION_COLOR) for t in parts]
        widths = [int(pm.width() / pm.devicePixelRatio()) for pm in pms]
        if len(pms) == 1 and widths[0] > r.width():  # longer than the cell: elide, no overlap
            fm = QFontMetrics(self._caption_font)
            pms = [self._text_pixmap(fm.elidedText(parts[0], Qt.TextElideMode.ElideRight,
                                                   r.width() - 4), "caption", CAPTION_COLOR)]
            widths = [int(pms[0].width() / pms[0].devicePixelRatio())]
        x = r.x() + (r.width() - sum(widths)) // 2
        for pm, w in zip(pms, widths, strict=True):
            painter.drawPixmap(x, y, pm)
            x += w

    def _paint_decision(self, painter: QPainter, code: int, target: QRect) -> None:
        bar, _color, _suffix = DECISION_MARKS.get(code, DECISION_MARKS[UNSURE])
        h = max(3, target.height() // 14)
        painter.fillRect(QRect(target.x(), target.bottom() - h + 1, target.width(), h), bar)
        if code == UNUSABLE:  # crossed out: visible at every zoom, the image stays readable
            painter.drawPixmap(target.topLeft(), self._cross(target.width()))

    def _cross(self, side: int) -> QPixmap:
        """The unusable cross for one thumbnail size, drawn once: an antialiased thick line
        costs ~0.15 ms, a pixmap blit a few µs (a page of unusable images stays fast)."""
        pm = self._crosses.get(side)
        if pm is None:
            ratio = 2.0
            pm = QPixmap(int(side * ratio), int(side * ratio))
            pm.setDevicePixelRatio(ratio)
            pm.fill(Qt.GlobalColor.transparent)
            p = QPainter(pm)
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setPen(self._cross_pen)
            t = QRect(0, 0, side, side).adjusted(3, 3, -3, -3)
            p.drawLine(t.topLeft(), t.bottomRight())
            p.drawLine(t.topRight(), t.bottomLeft())
            p.end()
            self._crosses[side] = pm
        return pm

    def _paint_label(self, painter: QPainter, option: QStyleOptionViewItem, r: QRect, y: int,
                     label: int, code: int, final: int, selected: bool) -> None:
        """The label the image carries now: a relabel's class as "→ほ" in violet; while a
        class is typed for the selection, that class previewed on the selected cells."""
        ds = self._model.dataset
        if self._chars[0] is not ds:  # the characters of the folder's classes, once
            self._chars = (ds, [c.char for c in ds.classes] if ds is not None else [])
        chars = self._chars[1]

        def char(c: int) -> str:
            return chars[c] if 0 <= c < len(chars) else str(c)

        if code == NONE and not (selected and self.preview_label is not None):
            text, color = char(label), option.palette.color(QPalette.ColorRole.Text)
        elif selected and self.preview_label is not None:
            text, color = "→" + char(self.preview_label), _RELABEL
        elif code in (RELABEL, ACCEPT) and final >= 0:
            text, color = "→" + char(final), _RELABEL
        else:
            _bar, color, suffix = DECISION_MARKS.get(code, DECISION_MARKS[UNSURE])
            text = char(label) + suffix
        pm = self._text_pixmap(text, "label", color)
        w = int(pm.width() / pm.devicePixelRatio())
        painter.drawPixmap(r.x() + (r.width() - w) // 2, y, pm)

    _select_pen = QPen(SELECT_COLOR, 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.SquareCap,
                       Qt.PenJoinStyle.MiterJoin)
