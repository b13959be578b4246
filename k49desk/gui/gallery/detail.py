"""The Gallery's detail pane: one image large and pixel-exact, its facts, the model's top-5."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.classes import ClassInfo
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.gallery.delegate import qimage_from_row
from k49desk.gui.gallery.history import AnnotationBox

if TYPE_CHECKING:
    from k49desk.core.model import LoadedModel

_EMPTY_STYLE = "background:#f3f4f6; color:#9ca3af; border:1px dashed #d1d5db;"
_IMAGE_STYLE = "background:#111827; border:1px solid #9ca3af;"
BIG = 224  # 8x: large enough to see strokes, an integer factor so every pixel is a square
LITTLE_INK_TEXT = ("Too little ink to recognise: a blank or nearly blank image gets no "
                   "prediction (the model would still name a class, confidently).")
HIDDEN_TEXT = ("The current filter hides this image from the grid. "
               '<a href="reveal">Show it in the grid</a>')


class DetailPane(QFrame):
    copied = Signal(str)
    reveal_requested = Signal()  # "show it in the grid": the filter hides the image shown

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailPane")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumWidth(BIG + 40)
        self.split: str | None = None
        self.index: int | None = None
        self.invert = False  # follows the Gallery's "Ink on paper" display option
        self.label: int | None = None
        self.top5: list[tuple[int, float]] = []
        self.image = QLabel()
        self.image.setFixedSize(BIG + 2, BIG + 2)  # + the 1 px border: the pixmap is never clipped
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setStyleSheet(_EMPTY_STYLE)
        self.char = QLabel("")
        self.char.setFont(hiragana_font(30))
        self.char.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel("Click a thumbnail")
        self.title.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.title.setWordWrap(True)
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        self.hidden_note = QLabel(HIDDEN_TEXT)
        self.hidden_note.setWordWrap(True)
        self.hidden_note.setStyleSheet("background:#fef3c7; color:#92400e; padding:4px;"
                                       "border-radius:3px;")
        self.hidden_note.linkActivated.connect(lambda _l: self.reveal_requested.emit())
        self.hidden_note.hide()
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for key in ("Split", "Index", "Label", "Flag", "Note"):
            lab = QLabel("—")
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            lab.setWordWrap(True)
            if key == "Label":
                lab.setFont(hiragana_font(11))
            self.fields[key] = lab
            form.addRow(key + ":", lab)
        self.copy_button = QPushButton("Copy index")
        self.copy_button.setToolTip("Copy this image's index to the clipboard (Ctrl+C)")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_index)
        self.pred_title = QLabel("Model top-5")
        self.pred_title.setFont(f)
        self.pred_box = QVBoxLayout()
        self.pred_box.setSpacing(2)
        self.pred_rows: list[tuple[QLabel, QProgressBar]] = []
        for _ in range(5):
            name = QLabel()
            name.setFont(hiragana_font(11))
            name.setMinimumWidth(90)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            bar.setFixedHeight(16)
            row = QHBoxLayout()
            row.addWidget(name)
            row.addWidget(bar, 1)
            self.pred_box.addLayout(row)
            self.pred_rows.append((name, bar))
        self.pred_note = QLabel("")
        self.pred_note.setWordWrap(True)
        self.pred_note.setStyleSheet("color:#6b7280;")
        # The whole-folder pass's view of the image (predicted class, loss, margin).
        self.outputs_note = QLabel("")
        self.outputs_note.setWordWrap(True)
        self.outputs_note.setFont(hiragana_font(9))
        self.outputs_note.setStyleSheet("color:#4b5563;")
        self.outputs_note.hide()
        # The image's decision, tags, note and decision history (filled by the panel).
        self.annotations = AnnotationBox()
        # The character beside the title, and the top-5 before the facts: in a 700 px high
        # window the top-5 used to start below the pane's visible part.
        head = QHBoxLayout()
        head.addWidget(self.char)
        head.addWidget(self.title, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.image, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addLayout(head)
        lay.addWidget(self.hidden_note)
        lay.addWidget(self.pred_title)
        lay.addLayout(self.pred_box)
        lay.addWidget(self.pred_note)
        lay.addWidget(self.outputs_note)
        self._similar_at = lay.count()  # "find similar" (add_similar): beside the top-5
        lay.addSpacing(6)
        lay.addWidget(self.annotations)
        lay.addSpacing(6)
        lay.addLayout(form)
        lay.addWidget(self.copy_button)
        lay.addStretch(1)
        self.clear()

    def add_similar(self, strip: QWidget) -> None:
        """Place the "find similar" strip (gui/common/similar_strip.py) under the top-5."""
        self.layout().insertWidget(self._similar_at, strip)  # type: ignore[union-attr]

    def show_outputs(self, text: str) -> None:
        self.outputs_note.setText(text)
        self.outputs_note.setVisible(bool(text))

    def clear(self) -> None:
        self.split = self.index = self.label = None
        self.top5 = []
        self.image.setPixmap(QPixmap())
        self.image.setStyleSheet(_EMPTY_STYLE)
        self.image.setText("No image selected")
        self.char.setText("")
        self.title.setText("Click a thumbnail to see it here")
        for lab in self.fields.values():
            lab.setText("—")
        self.copy_button.setEnabled(False)
        self.hidden_note.hide()
        self.outputs_note.hide()
        self.annotations.clear()
        self.top5 = []
        self._set_rows_visible(False)
        self.pred_note.setText("Select an image to see the model's top-5.")
        self.pred_note.show()

    def show_item(self, *, split: str, index: int, image: np.ndarray, cls: ClassInfo,
                  flag: str = "", decision: str = "", caption: str = "", demo: bool = False,
                  model: Any = None) -> None:
        self.split, self.index, self.label = split, int(index), cls.index
        img, buf = qimage_from_row(np.asarray(image), self.invert)
        # FastTransformation = nearest neighbour: the pane shows the data, not a blurred guess.
        pm = QPixmap.fromImage(img.copy()).scaled(BIG, BIG, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.FastTransformation)
        del buf
        self.image.setStyleSheet(_IMAGE_STYLE)
        self.image.setPixmap(pm)
        self.char.setText(cls.char)
        self.title.setText(f"{split} #{index:,d}" + ("  (generated demo data)" if demo else ""))
        self.fields["Split"].setText(split + (" (generated)" if demo else ""))
        self.fields["Index"].setText(str(int(index)))
        self.fields["Label"].setText(f"{cls.index}: {cls.char} ({cls.romaji})")
        flag_text = (flag + (f" → {decision}" if decision else "")) if flag else "—"
        self.fields["Flag"].setText(flag_text)
        self.fields["Note"].setText(caption or "—")
        self.copy_button.setEnabled(True)
        self.top5 = []
        self._set_rows_visible(False)
        self.pred_note.setText("No model loaded: train or open one to see predictions."
                               if model is None else "Predicting…")
        self.pred_note.show()

    def show_predictions(self, model: LoadedModel | None, top5: list[tuple[int, float]]) -> None:
        """The model's top-5 for the image shown (computed off the GUI thread)."""
        self.top5 = list(top5)
        has = bool(self.top5) and model is not None and self.index is not None
        self._set_rows_visible(has)
        self.pred_note.setVisible(not has)
        if not has:
            return
        classes = model.classes
        for (name, bar), (k, prob) in zip(self.pred_rows, self.top5, strict=True):
            char = classes[k].label if k < len(classes) else str(k)
            mark = " ✓" if k == self.label else ""
            name.setText(f"{char}{mark}")
            bar.setValue(int(round(prob * 1000)))
            bar.setFormat(f"{prob:.1%}")

    def set_hidden_by_filter(self, hidden: bool) -> None:
        """Say so when the image shown is not in the grid any more (the filter changed)."""
        self.hidden_note.setVisible(hidden and self.index is not None)

    def show_too_little_ink(self) -> None:
        """A (nearly) blank image: say so instead of showing a confident top-5."""
        self.top5 = []
        self._set_rows_visible(False)
        self.pred_note.setText(LITTLE_INK_TEXT)
        self.pred_note.show()

    def show_prediction_error(self, e: BaseException) -> None:
        self.top5 = []
        self._set_rows_visible(False)
        self.pred_note.setText(f"Prediction failed: {e}")  # browsing goes on regardless
        self.pred_note.show()

    def _set_rows_visible(self, on: bool) -> None:
        self.pred_title.setVisible(True)
        for name, bar in self.pred_rows:
            name.setVisible(on)
            bar.setVisible(on)

    def copy_index(self) -> None:
        if self.index is None:
            return
        text = str(self.index)
        QGuiApplication.clipboard().setText(text)
        self.copied.emit(text)
