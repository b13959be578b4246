"""The review card: one suspect image large and pixel-exact, given vs suggested, typical samples."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.classes import ClassInfo, class_for_text, romaji_prefix_matches
from k49desk.gui.common.fonts import hiragana_font

# One colour per decision, used for the image frame, the badge and the decision text.
DECISION_COLORS: dict[str, str] = {
    "keep": "#15803d", "accept": "#1d4ed8", "relabel": "#7c3aed", "unusable": "#b91c1c",
    "unsure": "#b45309", "": "#6b7280",
}
DECISION_TEXT: dict[str, str] = {
    "keep": "kept the given label", "accept": "accepted the suggestion",
    "relabel": "relabelled", "unusable": "unusable image", "unsure": "unsure", "": "undecided",
}


def to_qimage(arr: np.ndarray) -> QImage:
    """A Grayscale8 QImage holding a copy of a 2-D uint8 array.

    Filled through bits() rather than QImage(buffer, ...): that constructor has a refcount bug
    in some PySide6 versions (a "deallocating None" crash at exit)."""
    h, w = arr.shape
    img = QImage(w, h, QImage.Format.Format_Grayscale8)
    view = np.frombuffer(img.bits(), np.uint8, count=img.bytesPerLine() * h)
    view.reshape(h, img.bytesPerLine())[:, :w] = arr
    return img


class PixelImage(QWidget):
    """A 28x28 image scaled by an integer factor with no smoothing, in a coloured frame.

    The scaled image is built once per image with np.repeat (pixel-exact by construction) and
    blitted unscaled: QPainter's scaled drawImage cost ~0.3 ms per thumbnail per paint.
    """

    def __init__(self, min_scale: int = 3, frame: int = 0, hint_scale: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        hint = hint_scale or min_scale
        self._hint = QSize(28 * hint + 2 * frame, 28 * hint + 2 * frame)
        self._arr: np.ndarray | None = None
        self._scaled: tuple[int, QImage] | None = None
        self._min_scale = min_scale
        self._frame = frame
        self._color = QColor(DECISION_COLORS[""])
        self.setMinimumSize(28 * min_scale + 2 * frame, 28 * min_scale + 2 * frame)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return self._hint

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt override)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt override)
        return width  # square: a narrow window must not leave a tall empty frame

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


class RelabelBar(QFrame):
    """Type romaji ("ka") or a character ("か"); Enter confirms, Esc cancels."""

    chosen = Signal(int)
    cancelled = Signal()

    def __init__(self, classes: tuple[ClassInfo, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes = classes
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.edit = _EscLineEdit()
        self.edit.setPlaceholderText("class: type romaji (ka) or the character (か)")
        self.edit.setFont(hiragana_font(13))
        self.matches = QLabel("")
        self.matches.setFont(hiragana_font(13))
        lay = QHBoxLayout(self)
        lay.addWidget(QLabel("<b>3 · neither:</b>"))
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.matches, 2)
        lay.addWidget(QLabel("<span style='color:gray'>Enter confirms · Esc cancels</span>"))
        self.edit.textChanged.connect(self._update_matches)
        self.edit.returnPressed.connect(self._confirm)
        self.edit.escape.connect(self._cancel)

    def start(self) -> None:
        self.edit.clear()
        self.setVisible(True)
        self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self._update_matches("")

    def choice(self) -> int | None:
        """The class the typed text means: exact romaji/character, else a unique prefix match."""
        text = self.edit.text()
        c = class_for_text(text, self.classes)
        if c is None:
            hits = romaji_prefix_matches(text, self.classes) if text.strip() else []
            c = hits[0] if len(hits) == 1 else None
        return c

    def _update_matches(self, text: str) -> None:
        if not text.strip():
            self.matches.setText("<span style='color:gray'>e.g. ka → か, shi → し, n → ん</span>")
            return
        hits = romaji_prefix_matches(text, self.classes)[:10]
        exact = self.choice()
        parts = [f"<b style='color:{DECISION_COLORS['relabel']}'>{self.classes[i].label}</b>"
                 if i == exact else self.classes[i].label for i in hits]
        if exact is not None and exact not in hits:
            parts.insert(0, f"<b style='color:{DECISION_COLORS['relabel']}'>"
                            f"{self.classes[exact].label}</b>")
        self.matches.setText("  ".join(parts) if parts else
                             "<span style='color:#b91c1c'>no such class</span>")

    def _confirm(self) -> None:
        c = self.choice()
        if c is None:
            self.matches.setText("<span style='color:#b91c1c'>type more: no single class "
                                 "matches</span>")
            return
        self.setVisible(False)
        self.chosen.emit(c)

    def _cancel(self) -> None:
        self.setVisible(False)
        self.cancelled.emit()


class _EscLineEdit(QLineEdit):
    escape = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape:
            self.escape.emit()
            return
        super().keyPressEvent(event)


class CardView(QWidget):
    """Everything about one suspect; `show_card` fills it, it does no work of its own."""

    def __init__(self, classes: tuple[ClassInfo, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes = classes
        # 14x (392 px) when there is room, never below 8x: always integer, never smoothed.
        self.image = PixelImage(min_scale=8, frame=6, hint_scale=14)
        policy = QSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
        policy.setHeightForWidth(True)
        self.image.setSizePolicy(policy)
        self.where = QLabel("")
        self.where.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.given = ClassBox("GIVEN LABEL")
        self.suggested = ClassBox("SUGGESTED")
        self.top3 = QLabel("")
        self.top3.setFont(hiragana_font(12))
        self.badge = QLabel("")
        self.badge.setFont(hiragana_font(15, bold=True))
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.strip_given = ExemplarStrip()
        self.strip_suggested = ExemplarStrip()
        left = QVBoxLayout()
        left.addWidget(self.image, 0, Qt.AlignmentFlag.AlignHCenter)
        left.addWidget(self.where)
        left.addStretch(1)
        boxes = QGridLayout()
        boxes.addWidget(self.given, 0, 0)
        boxes.addWidget(self.suggested, 0, 1)
        right = QVBoxLayout()
        right.addLayout(boxes)
        right.addWidget(self.top3)
        right.addWidget(self.badge)
        right.addSpacing(8)
        right.addWidget(self.strip_given)
        right.addWidget(self.strip_suggested)
        right.addStretch(1)
        lay = QHBoxLayout(self)
        lay.addLayout(left)
        lay.addSpacing(16)
        lay.addLayout(right, 1)

    def show_card(self, flag: dict, decision: str, final_label: int | None,
                  image: np.ndarray | None, given_samples: list[np.ndarray],
                  suggested_samples: list[np.ndarray]) -> None:
        cl = self.classes
        g, s = flag["given_label"], flag["suggested_label"]
        probs = dict(flag.get("top3") or [])
        self.image.set_image(image)
        color = DECISION_COLORS.get(decision, DECISION_COLORS[""])
        self.image.set_frame_color(color)
        q = "" if flag.get("quality") is None else f"  ·  quality {flag['quality']:.3f}"
        self.where.setText(f"{flag['split']} #{flag['index']}  ·  issue: {flag['issue']}{q}")
        self.given.set_class(cl[g], probs.get(g))
        self.suggested.set_class(cl[s] if s >= 0 else None, probs.get(s))
        self.given.set_accent(color if decision == "keep" else None)
        self.suggested.set_accent(color if decision == "accept" else None)
        if probs:
            self.top3.setText("Model's top 3:  " + "   ".join(
                f"{cl[c].char} {cl[c].romaji} {p:.2f}" for c, p in flag["top3"]))
        else:
            self.top3.setText("<span style='color:gray'>no model probabilities for these "
                              "flags</span>")
        text = DECISION_TEXT.get(decision, decision)
        if decision == "relabel" and final_label is not None:
            text += f" → {cl[final_label].label}"
        self.badge.setText(text)
        if self.badge.property("color") != color:
            self.badge.setProperty("color", color)
            self.badge.setStyleSheet(f"color: white; background: {color}; border-radius: 6px; "
                                     "padding: 6px;")
        self.strip_given.set_samples(f"Typical {cl[g].label} (given)", given_samples)
        if s >= 0:
            self.strip_suggested.set_samples(f"Typical {cl[s].label} (suggested)",
                                             suggested_samples)
        self.strip_suggested.setVisible(s >= 0)
