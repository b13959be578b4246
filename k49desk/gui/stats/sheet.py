"""The "samples per class" sheet: N random images of every class, drawn into one QImage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter

from k49desk.core.classes import ClassInfo
from k49desk.gui.common.fonts import hiragana_font

SCALE = 2  # tiles at 56 px
GAP = 2
LABEL_W = 120
BANNER_H = 26
HEADER_H = 18
MEAN_GAP = 10  # a little air between the mean image and the samples
Hit = tuple[int, int, int, int, int, int]  # x, y, w, h, class, dataset index


def pick_samples(labels: np.ndarray, n_classes: int, n: int, seed: int) -> dict[int, np.ndarray]:
    """Up to `n` distinct random indices per class (sorted), seeded; empty classes get none."""
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_classes + 1))
    out: dict[int, np.ndarray] = {}
    for c in range(n_classes):
        members = order[bounds[c]:bounds[c + 1]]
        k = min(n, len(members))
        out[c] = np.sort(rng.choice(members, size=k, replace=False)) if k else members
    return out


def class_means(labels: np.ndarray, images: np.ndarray, n_classes: int, k: int = 300,
                seed: int = 0) -> dict[int, np.ndarray]:
    """The mean image of each non-empty class over up to `k` random members (uint8 28x28).

    A sample keeps it cheap on 232k images (49 x 300 reads) and the mean barely moves.
    """
    picks = pick_samples(labels, n_classes, k, seed)
    return {c: np.asarray(images[idx], np.float32).mean(axis=0).round().astype(np.uint8)
            for c, idx in picks.items() if len(idx)}


def render_sheet(classes: Sequence[ClassInfo], images: np.ndarray, counts: np.ndarray,
                 samples: dict[int, np.ndarray], n: int, demo: bool = False,
                 means: dict[int, np.ndarray] | None = None) -> tuple[QImage, list[Hit]]:
    """One row per class: character, romaji, count, [mean image], then samples at 2x."""
    tile = 28 * SCALE
    step = tile + GAP
    top = 4 + (BANNER_H if demo else 0) + (HEADER_H if means is not None else 0)
    first = LABEL_W + (step + MEAN_GAP if means is not None else 0)
    w = max(first + n * step + 8, 420)
    h = top + len(classes) * step + 4
    img = QImage(w, h, QImage.Format.Format_RGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
    p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    if demo:  # the exported PNG must say so too
        p.fillRect(0, 0, w, BANNER_H, QColor("#fef3c7"))
        p.setPen(QColor("#92400e"))
        p.setFont(hiragana_font(10, bold=True))
        p.drawText(QRect(0, 0, w, BANNER_H), Qt.AlignmentFlag.AlignCenter,
                   "Generated demo data — not real K49")
    char_font, small = hiragana_font(20), hiragana_font(9)  # 9 pt: ~12 px, readable
    if means is not None:
        p.setPen(QColor("#6b7280"))
        p.setFont(small)
        y0 = top - HEADER_H
        p.drawText(QRect(LABEL_W, y0, tile, HEADER_H), Qt.AlignmentFlag.AlignCenter, "mean")
        p.drawText(QRect(first, y0, w - first, HEADER_H),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "random samples")
    hits: list[Hit] = []
    for c, info in enumerate(classes):
        y = top + c * step
        if c % 2:
            p.fillRect(0, y - 1, w, step, QColor("#f9fafb"))
        p.setPen(QColor("#111827") if counts[c] else QColor("#9ca3af"))
        p.setFont(char_font)
        p.drawText(6, y, 40, tile, Qt.AlignmentFlag.AlignCenter, info.char)
        p.setFont(small)
        p.drawText(50, y + 8, LABEL_W - 54, 16, Qt.AlignmentFlag.AlignLeft, info.romaji)
        p.drawText(50, y + 26, LABEL_W - 54, 16, Qt.AlignmentFlag.AlignLeft, f"{int(counts[c]):,d}")
        mean = means.get(c) if means is not None else None
        if mean is not None:
            q = QImage(mean, 28, 28, mean.strides[0], QImage.Format.Format_Grayscale8)
            p.drawImage(QRect(LABEL_W, y, tile, tile), q)
            p.setPen(QColor("#2563eb"))
            p.drawRect(LABEL_W, y, tile - 1, tile - 1)
        idx = samples.get(c, np.zeros(0, np.int64))
        if not len(idx):
            p.setPen(QColor("#9ca3af"))
            p.drawText(first, y, 300, tile, Qt.AlignmentFlag.AlignVCenter,
                       "no images of this class in this split")
            continue
        block = np.ascontiguousarray(images[idx])  # k x 28 x 28, kept alive while drawn
        for j in range(len(idx)):
            x = first + j * step
            row = block[j]
            q = QImage(row, 28, 28, row.strides[0], QImage.Format.Format_Grayscale8)
            p.drawImage(QRect(x, y, tile, tile), q)
            hits.append((x, y, tile, tile, c, int(idx[j])))
    p.end()
    return img, hits
