"""The review card: one suspect image large and pixel-exact, given vs suggested, typical
samples, for a duplicate the copy it was found with, side by side, and the most similar images
(the "find similar" strip; shown at once for an outlier, whose neighbours explain it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from k49desk.core.classes import ClassInfo
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.review.relabel import ERROR_COLOR
from k49desk.gui.review.widgets import (  # noqa: F401  (to_qimage re-exported)
    DECISION_COLORS,
    DECISION_TEXT,
    ClassBox,
    ExemplarStrip,
    PixelImage,
    to_qimage,
)

PAIR_ISSUES = ("duplicate", "train_test_duplicate")
PARTNER_COLOR = "#64748b"
OUTLIER_TEXT = ("<b>Outlier</b>: unlike the other images of {split}. Its nearest images in the "
                "model's embedding space are far away: score {score:.3f} (cleanlab's outlier "
                "score, 0 to 1, lower = more atypical). Is it a character at all, and does its "
                "label fit? Its most similar images are below.")


@dataclass
class Partner:
    """The other copy of a duplicate: where it is, its pixels and its label."""

    split: str
    index: int
    image: np.ndarray | None
    label: int | None


def _big_image() -> PixelImage:
    # 14x (392 px) when there is room, never below 8x: always integer, never smoothed.
    im = PixelImage(min_scale=8, frame=6, hint_scale=14)
    policy = QSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
    policy.setHeightForWidth(True)
    im.setSizePolicy(policy)
    return im


def _caption() -> QLabel:
    lab = QLabel("")
    lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lab.setWordWrap(True)
    lab.setFont(hiragana_font(11))
    lab.setTextFormat(Qt.TextFormat.RichText)
    return lab


class CardView(QWidget):
    """Everything about one suspect; `show_card` fills it, it does no work of its own.
    `open_in_gallery(split, index)`: the person clicked an image (or its link)."""

    open_in_gallery = Signal(str, int)

    def __init__(self, classes: tuple[ClassInfo, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes = classes
        self._here: tuple[str, int] | None = None
        self._there: tuple[str, int] | None = None
        self.image = _big_image()
        self.image.set_clickable("Show this image in the Gallery")
        self.image.clicked.connect(lambda: self._open(self._here))
        self.where = _caption()
        self.where.linkActivated.connect(lambda _l: self._open(self._here))
        self.partner_title = QLabel("")
        self.partner_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.partner_image = _big_image()
        self.partner_image.set_frame_color(PARTNER_COLOR)
        self.partner_image.set_clickable("Show the other copy in the Gallery")
        self.partner_image.clicked.connect(lambda: self._open(self._there))
        self.partner_where = _caption()
        self.partner_where.linkActivated.connect(lambda _l: self._open(self._there))
        self.partner_box = QWidget()
        pl = QVBoxLayout(self.partner_box)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(self.partner_title)
        pl.addWidget(self.partner_image, 0, Qt.AlignmentFlag.AlignHCenter)
        pl.addWidget(self.partner_where)
        pl.addStretch(1)
        self.given = ClassBox("GIVEN LABEL")
        self.suggested = ClassBox("SUGGESTED")
        self.top3 = QLabel("")
        self.top3.setFont(hiragana_font(12))
        self.top3.setWordWrap(True)
        self.badge = QLabel("")
        self.badge.setFont(hiragana_font(15, bold=True))
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.strip_given = ExemplarStrip()
        self.strip_suggested = ExemplarStrip()
        self.issue_note = QLabel("")  # what the issue means (outliers)
        self.issue_note.setWordWrap(True)
        self.issue_note.setTextFormat(Qt.TextFormat.RichText)
        self.issue_note.setStyleSheet("background:#f1f5f9; border-radius:4px; padding:6px;")
        self.issue_note.hide()
        self.similar: QWidget | None = None  # the find-similar strip (add_similar)
        self.this_title = QLabel("")
        self.this_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        main = QVBoxLayout()
        main.addWidget(self.this_title)
        main.addWidget(self.image, 0, Qt.AlignmentFlag.AlignHCenter)
        main.addWidget(self.where)
        main.addStretch(1)
        left = QHBoxLayout()
        left.addLayout(main)
        left.addWidget(self.partner_box)
        boxes = QGridLayout()
        boxes.addWidget(self.given, 0, 0)
        boxes.addWidget(self.suggested, 0, 1)
        right = QVBoxLayout()
        right.addLayout(boxes)
        right.addWidget(self.issue_note)
        right.addWidget(self.top3)
        right.addWidget(self.badge)
        right.addSpacing(8)
        right.addWidget(self.strip_given)
        right.addWidget(self.strip_suggested)
        self._right = right
        right.addStretch(1)
        lay = QHBoxLayout(self)
        lay.addLayout(left)
        lay.addSpacing(16)
        lay.addLayout(right, 1)
        self.partner_box.setVisible(False)
        self.this_title.setVisible(False)

    def add_similar(self, strip: QWidget) -> None:
        """Place the find-similar strip (gui/common/similar_strip.SimilarStrip) under the
        typical samples; `show_card` points it at each card's image."""
        self.similar = strip
        self._right.insertWidget(self._right.count() - 1, strip)

    def _open(self, where: tuple[str, int] | None) -> None:
        if where is not None:
            self.open_in_gallery.emit(*where)

    def show_card(self, flag: dict, decision: str, final_label: int | None,
                  image: np.ndarray | None, given_samples: list[np.ndarray],
                  suggested_samples: list[np.ndarray], partner: Partner | None = None) -> None:
        cl = self.classes
        g, s = flag["given_label"], flag["suggested_label"]
        other = s >= 0 and s != g  # a suggestion equal to the given label says nothing
        probs = dict(flag.get("top3") or [])
        self.image.set_image(image)
        color = DECISION_COLORS.get(decision, DECISION_COLORS[""])
        self.image.set_frame_color(color)
        outlier = flag["issue"] == "outlier"
        q = "" if flag.get("quality") is None else \
            f"  ·  {'score' if outlier else 'quality'} {flag['quality']:.3f}"
        self._here = (flag["split"], int(flag["index"]))
        self.issue_note.setVisible(outlier)
        if outlier:
            self.issue_note.setText(OUTLIER_TEXT.format(split=flag["split"],
                                                        score=float(flag["quality"])))
        if self.similar is not None:  # follows the card once used; an outlier: at once
            self.similar.set_target(*self._here)  # type: ignore[attr-defined]
            if outlier:
                self.similar.find()  # type: ignore[attr-defined]
        self.where.setText(f"<a href='#'>{flag['split']} #{flag['index']}</a>  ·  "
                           f"issue: {flag['issue']}{q}")
        self._show_partner(flag, partner)
        self.given.set_class(cl[g], probs.get(g))
        self.suggested.set_class(cl[s] if s >= 0 else None, probs.get(s))
        self.suggested.setVisible(other)
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
        if other:
            self.strip_suggested.set_samples(f"Typical {cl[s].label} (suggested)",
                                             suggested_samples)
        self.strip_suggested.setVisible(other)

    def _show_partner(self, flag: dict, partner: Partner | None) -> None:
        pair = flag["issue"] in PAIR_ISSUES
        self.partner_box.setVisible(pair)
        self.this_title.setVisible(pair)
        self._there = None
        if not pair:
            return
        self.this_title.setText(f"<b>This image</b> ({flag['split']})")
        if partner is None:
            self.partner_title.setText("<b>The other copy</b>")
            self.partner_image.set_image(None)
            self.partner_where.setText("<span style='color:gray'>not recorded with these "
                                       "flags: run Find suspects again to see it</span>")
            return
        self._there = (partner.split, partner.index)
        same = partner.split == flag["split"]
        self.partner_title.setText(f"<b>{'Earlier copy' if same else 'Matching image'}</b> "
                                   f"({partner.split})")
        self.partner_image.set_image(partner.image)
        text = f"<a href='#'>{partner.split} #{partner.index}</a>"
        if partner.label is not None and 0 <= partner.label < len(self.classes):
            text += f"  ·  labelled {self.classes[partner.label].label}"
            if partner.label != flag["given_label"]:
                text += f"<br><span style='color:{ERROR_COLOR}'>a different label</span>"
        self.partner_where.setText(text)
