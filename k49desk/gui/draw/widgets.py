"""Small display widgets of the Draw tab: the pixel-exact model input and a top-5 row."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QAbstractButton, QWidget

from k49desk.core.classes import ClassInfo
from k49desk.gui.common.fonts import hiragana_font

ROW_H = 50  # one candidate row
SIDE_W = 280  # the predictions column
ACCENT = QColor("#2563eb")
MUTED_BAR = QColor("#94a3b8")


class PixelView(QWidget):
    """A 28x28 uint8 image scaled by a whole factor with nearest neighbour: pixel-exact."""

    def __init__(self, scale: int = 6, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scale = scale
        self.set_image(np.zeros((28, 28), np.uint8))
        self.setFixedSize(28 * scale + 2, 28 * scale + 2)
        self.setToolTip("The 28x28 image the model receives, each pixel enlarged "
                        f"{scale}x: white ink on black, framed like the K49 images.")

    def set_image(self, img: np.ndarray) -> None:
        self.image = np.ascontiguousarray(img, dtype=np.uint8)
        # Copied in through bits(): QImage(buffer, ...) leaks references in PySide6 6.12.
        self._qimg = QImage(28, 28, QImage.Format.Format_Grayscale8)
        view = np.frombuffer(self._qimg.bits(), np.uint8, count=self._qimg.bytesPerLine() * 28)
        view.reshape(28, self._qimg.bytesPerLine())[:, :28] = self.image
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        qimg = self._qimg
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        p.drawImage(QRectF(1, 1, 28 * self.scale, 28 * self.scale), qimg)
        p.setPen(QPen(QColor(0, 0, 0, 90), 1.0))
        p.drawRect(0, 0, self.width() - 1, self.height() - 1)
        p.end()


class CandidateButton(QAbstractButton):
    """One of the top-5: the character large, its romaji, a probability bar; click for Gallery."""

    def __init__(self, rank: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rank = rank
        self.info: ClassInfo | None = None
        self.prob = 0.0
        self._char_font = hiragana_font(21)
        self._name_font = hiragana_font(10.5, bold=True)
        self._small_font = hiragana_font(9)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.setFixedHeight(ROW_H)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(SIDE_W, ROW_H)

    def set_candidate(self, info: ClassInfo, prob: float) -> None:
        self.info, self.prob = info, prob
        self.setToolTip(f"Show the training images of {info.label} in the Gallery")
        self.setAccessibleName(f"{info.label}: {prob:.1%}")
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        if self.info is None:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        r = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        pal = self.palette()
        bg = QColor(pal.base().color())
        if self.rank == 0:
            bg = QColor(239, 246, 255)  # the best guess stands out a little
        if self.underMouse() or self.hasFocus():
            bg = bg.darker(106)
        p.setPen(QPen(QColor(0, 0, 0, 28), 1.0))
        p.setBrush(bg)
        p.drawRoundedRect(r, 8, 8)
        text = QColor(pal.text().color())
        # The character, large, in a square on the left.
        p.setFont(self._char_font)
        p.setPen(text)
        char_box = QRectF(r.left() + 6, r.top(), r.height(), r.height())
        p.drawText(char_box, Qt.AlignmentFlag.AlignCenter, self.info.char)
        x0 = char_box.right() + 8
        # Romaji and class number above, the probability bar and value below.
        p.setFont(self._name_font)
        line = QRectF(x0, r.top() + 5, r.right() - x0 - 10, 18)
        name_w = p.fontMetrics().horizontalAdvance(self.info.romaji)
        p.drawText(line, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   self.info.romaji)
        p.setFont(self._small_font)
        p.setPen(QColor(100, 116, 139))
        p.drawText(line.adjusted(name_w + 6, 0, 0, 0),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   f"class {self.info.index}")
        prob = f"{self.prob:.1%}" if self.prob >= 0.001 else "<0.1%"
        p.drawText(line, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, prob)
        bar = QRectF(x0, r.bottom() - 16, r.right() - x0 - 10, 7)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(226, 232, 240))
        p.drawRoundedRect(bar, 4, 4)
        fill = QRectF(bar.left(), bar.top(), max(bar.width() * self.prob, 0.0), bar.height())
        if fill.width() >= 1:
            p.setBrush(ACCENT if self.rank == 0 else MUTED_BAR)
            p.drawRoundedRect(fill, 4, 4)
        p.end()
