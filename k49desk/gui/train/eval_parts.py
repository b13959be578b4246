"""Parts of the evaluation view: a scroll area that scrolls only below its content's
minimum, titled pages, and the strip of images behind a clicked number."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.train.eval_tables import mosaic

STRIP_MAX = 36  # images in the inline strip; the Gallery shows all of them


class FitScrollArea(QScrollArea):
    """Its widget fills the viewport, and scrolls only below the widget's minimum size.

    A resizable QScrollArea sizes a widget with word-wrapped labels by heightForWidth, i.e.
    by its children's preferred heights: the plots' 480 px made it scroll at 1024x700 with
    room to spare."""

    def __init__(self, body: QWidget) -> None:
        super().__init__()
        self.setWidget(body)
        self.setWidgetResizable(False)
        self.setFrameShape(QFrame.Shape.NoFrame)

    def fit(self) -> None:
        vp, body = self.viewport().size(), self.widget()
        m = body.minimumSize().expandedTo(body.minimumSizeHint())
        body.resize(max(vp.width(), m.width()), max(vp.height(), m.height()))

    def resizeEvent(self, event: object) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)  # type: ignore[arg-type]
        self.fit()


def titled(title: QLabel, *widgets: QWidget) -> QWidget:
    page = QWidget()
    lay = QVBoxLayout(page)
    lay.setContentsMargins(4, 4, 4, 4)
    lay.addWidget(title)
    for w in widgets:
        lay.addWidget(w, 1)
    return page


def title_label(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setStyleSheet("font-weight: bold; color: #333;")
    return lab




class ImageStrip(QWidget):
    """"true け → predicted は (3)", up to STRIP_MAX images, and "Open in Gallery"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.title.setFont(hiragana_font(11))
        self.strip = QLabel()
        self.strip.setMinimumHeight(64)
        # A wide mosaic must not dictate the view's minimum width (it is cut, not squeezed).
        self.strip.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.strip.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.gallery_btn = QPushButton("Open in Gallery")
        self.gallery_btn.setToolTip("Show all these test images in the Gallery")
        self.gallery_btn.setEnabled(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.title, 1)
        row.addWidget(self.gallery_btn)
        lay.addLayout(row)
        lay.addWidget(self.strip)
        self.hide()

    def show_images(self, title: str, images: np.ndarray, total: int, width: int) -> None:
        """The first images of `total` (uint8 (N, 28, 28)) in as many columns as fit."""
        self.title.setText(title + (f" — first {STRIP_MAX} shown" if total > STRIP_MAX
                                    else ""))
        if len(images):
            cols = max(6, (max(width, 400) - 20) // 60)  # 28 px x2 + padding per cell
            self.strip.setPixmap(QPixmap.fromImage(mosaic(images, cols=cols)))
        else:
            self.strip.setPixmap(QPixmap())
            self.strip.setText("(no images)")
        self.gallery_btn.setEnabled(total > 0)
        self.show()
