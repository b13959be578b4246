"""Is there enough ink in an image to recognise a character at all?

A classifier always answers: a blank image or a dot came back as ゝ at 96%. The Draw panel
(`too_little_ink(paper28(canvas))`), the Gallery's detail pane, `predict` and the importer
(`too_little_ink_framed`, for framed images) ask first and say "too little ink" instead.

Thresholds measured on all 12,111 real images in /work/shared/data (kuzushiji-real10 train and
test, kmnist-train-part, k49-test-first100), counting pixels above 127:
- ink pixels: min 9 (a faint, thin つ), 0.1st percentile 18, median 140;
- extent (longer side of the bounding box of those pixels): min 11, 0.1st percentile 16.
A dot drawn on the pad, seen as the paper at 28x28 (`paper28`), is 1-2 px across with the
default pen and at most 5 with the widest (40 px of a 280 px paper). Both limits below sit
well under the real minimum, so no real character is caught, and above any dot or blank. A
character drawn on the pad is caught only when it spans less than a quarter of the paper.
"""

from __future__ import annotations

import numpy as np

MIN_INK_PIXELS = 5  # fewer pixels above 127 than this: blank or a speck (real min: 9)
MIN_EXTENT = 7  # ink spanning fewer pixels than this both ways: a dot (real min: 11)
INK_LEVEL = 127


def ink_extent(img28: np.ndarray) -> int:
    """Longer side, in pixels, of the bounding box of the pixels above INK_LEVEL (0: none)."""
    mask = np.asarray(img28) > INK_LEVEL
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return 0
    cols = np.flatnonzero(mask.any(axis=0))
    return int(max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1))


def too_little_ink(img28: np.ndarray) -> bool:
    """True for a blank image, a speck or a dot: white-on-black uint8, 28x28 (any 2-D size
    works; the thresholds are meant for 28x28, the size of a K49 image or of `paper28`)."""
    a = np.asarray(img28)
    if a.ndim != 2:
        raise ValueError(f"too_little_ink expects a 2-D gray image, got shape {a.shape}")
    n = int(np.count_nonzero(a > INK_LEVEL))
    return n < MIN_INK_PIXELS or ink_extent(a) < MIN_EXTENT


# A dot or a blob, once `preprocess` frames it (scales its bounding box up to the full 28
# pixels), becomes a disc filling the image: its ink survives 10-14 successive 3x3 erosions.
# Real K49 images (all 12,111 in /work/shared/data) survive at most 9 (median 3; the one at 9
# is an ink smear), so this rule catches no real character.
BLOB_DEPTH = 10


def ink_depth(img28: np.ndarray) -> int:
    """How many 3x3 erosions the ink (pixels > 127) survives: half the thickest stroke."""
    m = np.asarray(img28) > INK_LEVEL
    depth, side = 0, max(m.shape)
    while m.any() and depth < side:
        inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
        m = np.pad(inner, 1)
        depth += 1
    return depth


def too_little_ink_framed(img28: np.ndarray) -> bool:
    """`too_little_ink` for a FRAMED image (`preprocess` output: image files in `predict`
    and the importer; or a K49 image in the Gallery): blank or a speck, plus a dot, which
    framing blows up into a disc the plain rule (meant for the unframed paper, `paper28`)
    would take for ink. None of the 12,111 real images in /work/shared/data is caught."""
    return too_little_ink(img28) or ink_depth(img28) >= BLOB_DEPTH


def paper28(canvas: np.ndarray) -> np.ndarray:
    """The whole paper (white ink on black, square, side a multiple of 28) at 28x28, without
    cropping to the ink: a dot stays a dot instead of being framed (scaled up to fill the
    image) as `inference.preprocess` does for the model. Each pixel is the brightest of its
    block, not the mean: a character drawn with the thinnest pen (0.4 px at this size) must
    still count as ink."""
    a = np.asarray(canvas, dtype=np.uint8)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] % 28:
        raise ValueError(f"paper28 expects a square image with a side multiple of 28, "
                         f"got shape {a.shape}")
    k = a.shape[0] // 28
    return a.reshape(28, k, 28, k).max(axis=(1, 3)).astype(np.uint8)
