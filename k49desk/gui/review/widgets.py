"""The Review card's building blocks: pixel-exact images, class boxes, sample strips."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from k49desk.core.classes import ClassInfo
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.common.widgets import gray_qimage

# One colour per decision, used for the image frame, the badge and the decision text.
DECISION_COLORS: dict[str, str] = {
    "keep": "#15803d", "accept": "#1d4ed8", "relabel": "#7c3aed", "unusable": "#b91c1c",
    "unsure": "#b45309", "": "#6b7280",
}
DECISION_TEXT: dict[str, str] = {
    "keep": "kept the given label", "accept": "accepted the suggestion",
    "relabel": "relabelled", "unusable": "unusable image", "unsure": "unsure", "": "undecided",
}


to_qimage = gray_qimage  # the one uint8 -> QImage copy (gui.common.widgets)


class PixelImage(QWidget):
    """A 28x28 image scaled by an integer factor with no smoothing, in a coloured frame;
    `clicked` when a click is wanted (set_clickable).

    The scaled image is built once per image with np.repeat (pixel-exact by construction) and
    blitted unscaled: QPainter's scaled drawImage cost ~0.3 ms per thumbnail per paint.
    """

    clicked = Signal()

    def __init__(self, min_scale: int = 3, frame: int = 0, hint_scale: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        hint = hint_scale or min_scale
        self._hint = QSize(28 * hint + 2 * frame, 28 * hint + 2 * frame)
        self._arr: np.ndarray | None = None
        self._scaled: tuple[int, QImage] | None = None
        self._min_scale = min_scale
        self._frame = frame
        self._clickable = False
        self._color = QColor(DECISION_COLORS[""])
        self.setMinimumSize(28 * min_scale + 2 * frame, 28 * min_scale + 2 * frame)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return self._hint

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt override)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt override)
        return width  # square: a narrow window must not leave a tall empty frame

    def set_clickable(self, tip: str) -> None:
        self._clickable = True
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(tip)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton and self._clickable:
            self.clicked.emit()
        super().mousePressEvent(event)

    def set_image(self, arr: np.ndarray | None) -> None:
        self._arr = None if arr is None else np.asarray(arr, dtype=np.uint8)
        self._scaled = None
        self.update()

    def set_frame_color(self, color: str) -> None:
        if QColor(color) != self._color:
            self._color = QColor(color)
            self.update()

    def image_rect(self) -> QRect:
        f = self._frame
        s = max(1, min(self.width() - 2 * f, self.height() - 2 * f) // 28)
        side = 28 * s
        return QRect((self.width() - side) // 2, (self.height() - side) // 2, side, side)

    def _scaled_image(self, scale: int) -> QImage | None:
        if self._arr is None:
            return None
        if self._scaled is None or self._scaled[0] != scale:
            big = np.repeat(np.repeat(self._arr, scale, axis=0), scale, axis=1)
            self._scaled = (scale, to_qimage(big))
        return self._scaled[1]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        r = self.image_rect()
        if self._frame:
            pen = QPen(self._color, self._frame)
            pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
            p.setPen(pen)
            h = self._frame / 2
            p.drawRect(r.adjusted(-int(h + 1), -int(h + 1), int(h), int(h)))
        img = self._scaled_image(r.width() // 28)
        if img is not None:
            p.drawImage(r.topLeft(), img)
        else:
            p.fillRect(r, QColor("#1f2937"))
        p.end()


class ClassBox(QFrame):
    """A class shown big: character, romaji, index and the model's probability."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("classBox")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(title)
        self.title.setStyleSheet("color: palette(mid); font-weight: bold; letter-spacing: 1px;")
        self.char = QLabel("–")
        self.char.setFont(hiragana_font(54))
        self.char.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.char.setMinimumHeight(90)
        self.detail = QLabel("")
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setFont(hiragana_font(12))
        lay = QVBoxLayout(self)
        lay.addWidget(self.title, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addWidget(self.char)
        lay.addWidget(self.detail)
        self.setMinimumWidth(130)

    def set_class(self, info: ClassInfo | None, prob: float | None) -> None:
        if info is None:
            self.char.setText("–")
            self.detail.setText("no suggestion")
            return
        self.char.setText(info.char)
        p = "" if prob is None else f"  ·  p = {prob:.2f}"
        self.detail.setText(f"{info.romaji}  ·  class {info.index}{p}")

    def set_accent(self, color: str | None) -> None:
        if getattr(self, "_accent", "unset") == color:
            return  # setStyleSheet re-polishes the widget: skip it when nothing changes
        self._accent = color
        self.setStyleSheet("" if color is None else
                           f"#classBox {{ border: 3px solid {color}; border-radius: 6px; }}")


class ExemplarStrip(QWidget):
    """A captioned row of typical training images of one class."""

    def __init__(self, n: int = 8, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel("")
        self.caption.setFont(hiragana_font(11))
        self.images = [PixelImage(min_scale=2, hint_scale=3) for _ in range(n)]
        row = QHBoxLayout()
        row.setSpacing(4)
        for im in self.images:
            row.addWidget(im)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.caption)
        lay.addLayout(row)

    def set_samples(self, caption: str, arrays: list[np.ndarray]) -> None:
        self.caption.setText(caption)
        for i, im in enumerate(self.images):
            im.set_image(arrays[i] if i < len(arrays) else None)
            im.setVisible(i < len(arrays) or not arrays)
