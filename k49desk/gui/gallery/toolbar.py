"""The Gallery's toolbar: split, order, flag filter, display options, zoom, jump to index."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSlider,
    QToolButton,
    QWidget,
)

from k49desk.gui.gallery.model import SPLIT_CHOICES

DEFAULT_ZOOM = 2  # x28 px: 56 px thumbnails fit ~12 columns beside the filter and detail pane
MAX_ZOOM = 6


def split_text(split: str) -> str:
    """How the split combo names a split: "Train", "Test", "Train + test"."""
    return "Train + test" if split == "both" else split.capitalize()


class GalleryToolbar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.split_combo = QComboBox()
        for s in SPLIT_CHOICES:
            self.split_combo.addItem(split_text(s), s)
        self.split_combo.setToolTip("Which split to browse")
        self.order_combo = QComboBox()
        self.order_combo.addItem("Dataset order", "dataset")
        self.order_combo.addItem("Random order", "random")
        self.shuffle_button = QToolButton()
        self.shuffle_button.setText("Shuffle")
        self.shuffle_button.setToolTip("New random order (a new seed)")
        self.flagged_check = QCheckBox("Flagged only")
        self.flagged_check.setEnabled(False)
        self.flagged_check.setToolTip("Only images flagged by Find label issues")
        self.labels_check = QCheckBox("Labels")
        self.labels_check.setChecked(True)
        self.labels_check.setToolTip("Show each image's class under it")
        self.invert_check = QCheckBox("Ink on paper")
        self.invert_check.setToolTip("Show dark ink on a light background (display only)")
        self.zoom = QSlider(Qt.Orientation.Horizontal)
        self.zoom.setRange(1, MAX_ZOOM)
        self.zoom.setValue(DEFAULT_ZOOM)
        self.zoom.setFixedWidth(110)
        self.zoom.setToolTip("Thumbnail size (multiples of 28 px, pixel-exact); Ctrl+wheel")
        self.zoom_label = QLabel()
        self.jump_edit = QLineEdit()
        self.jump_edit.setPlaceholderText("Go to index…")  # fits at 1024 px; example below
        self.jump_edit.setToolTip("Go to an image by its index, e.g. 1234 or test 56 (Ctrl+G)")
        self.jump_edit.setClearButtonEnabled(True)
        self.jump_edit.setMaximumWidth(230)
        # The toolbar may clip on a narrow window rather than force the window wider.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.jump_edit.setMinimumWidth(90)
        bar = QHBoxLayout(self)
        bar.setContentsMargins(0, 0, 0, 0)
        for w in (QLabel("Split:"), self.split_combo, self.order_combo, self.shuffle_button,
                  _vline(), self.flagged_check, self.labels_check, self.invert_check, _vline(),
                  QLabel("Zoom:"), self.zoom, self.zoom_label):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.jump_edit)


class RequestBar(QFrame):
    """What another panel asked the Gallery to show, and a way back to what it showed before.

    `before` holds the view the user had chosen (GalleryModel.view_settings plus the image in
    the detail pane) while a request is shown; chained requests keep the first one.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("requestBar")
        self.setStyleSheet("#requestBar{background:#dbeafe; border:1px solid #93c5fd;"
                           "border-radius:4px;}")
        self.before: dict | None = None
        self.title = QLabel()
        self.title.setStyleSheet("font-weight:600; color:#1e3a8a;")
        self.title.setWordWrap(True)
        self.clear_button = QPushButton("Back")
        self.clear_button.setToolTip("Back to what the Gallery showed before this request")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 2, 4, 2)
        lay.addWidget(self.title, 1)
        lay.addWidget(self.clear_button)
        self.hide()

    def show_request(self, title: str, n: int, split: str, before: dict) -> None:
        """Say what is shown, and when the request changed the split, say that too: another
        panel must not switch the user's "Train + test" to "Train" silently."""
        if self.before is None:
            self.before = before
        text = f"{title}  ·  {n:,d} images"
        was = self.before["split"]
        if split != was:
            text += f"  ·  split: {split_text(split)} (was {split_text(was)})"
        self.title.setText(text)
        self.clear_button.setToolTip(f"Back to what the Gallery showed before: "
                                     f"{split_text(was)}, "
                                     + ("all classes" if self.before["classes"] is None
                                        else f"{len(self.before['classes'])} class(es)"))
        self.show()

    def dismiss(self) -> None:
        self.before = None
        self.title.setText("")
        self.hide()


def _vline() -> QFrame:
    f = QFrame()
    f.setFrameShape(QFrame.Shape.VLine)
    f.setFrameShadow(QFrame.Shadow.Sunken)
    return f
