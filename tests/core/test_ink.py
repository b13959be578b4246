"""too_little_ink: never a real character, always a blank image, a speck or a dot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from k49desk.core.ink import (
    MIN_EXTENT,
    ink_extent,
    paper28,
    too_little_ink,
    too_little_ink_framed,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _disk(side: int, cx: float, cy: float, diameter: float) -> np.ndarray:
    yy, xx = np.mgrid[:side, :side] + 0.5
    return (((xx - cx) ** 2 + (yy - cy) ** 2) <= (diameter / 2) ** 2).astype(np.uint8) * 255


def test_no_real_image_is_too_little_ink() -> None:
    files = sorted(SHARED.glob("*/k49-*-imgs.npz"))
    if not files:
        pytest.skip("../shared/data is not available")
    n = 0
    for f in files:
        with np.load(f, allow_pickle=False) as z:
            imgs = z["arr_0"]
        caught = [i for i in range(len(imgs))
                  if too_little_ink(imgs[i]) or too_little_ink_framed(imgs[i])]
        assert caught == [], f"{f.parent.name}/{f.name}: real images caught: {caught[:10]}"
        n += len(imgs)
    assert n >= 12_000


def test_blank_and_specks_are_too_little_ink() -> None:
    img = np.zeros((28, 28), np.uint8)
    assert too_little_ink(img)
    img[10, 10] = 255
    assert too_little_ink(img)
    img[10:12, 10:12] = 200  # 4 px: still a speck
    assert too_little_ink(img)
    faint = np.full((28, 28), 100, np.uint8)  # a grey wash, nothing above 127
    assert too_little_ink(faint)


@pytest.mark.parametrize("pen", [4, 14, 40])  # the pad's narrowest, default and widest pens
@pytest.mark.parametrize("where", [(140.0, 140.0), (15.0, 263.0), (145.0, 95.0)])
def test_a_dot_on_the_paper_is_too_little_ink(pen: int, where: tuple[float, float]) -> None:
    paper = _disk(280, *where, pen)
    small = paper28(paper)
    assert ink_extent(small) < MIN_EXTENT
    assert too_little_ink(small)


@pytest.mark.parametrize("pen", [4, 14, 40])
def test_a_stroke_across_a_quarter_of_the_paper_is_enough_ink(pen: int) -> None:
    paper = np.zeros((280, 280), np.uint8)
    for x in np.linspace(100, 100 + 70, 60):  # a 70 px stroke: a quarter of the paper
        paper = np.maximum(paper, _disk(280, x, 140.0, pen))
    assert not too_little_ink(paper28(paper))


def test_paper28_keeps_the_thinnest_pen_and_rejects_odd_sizes() -> None:
    paper = np.zeros((280, 280), np.uint8)
    paper[:, 141] = 255  # one pixel wide: a tenth of a pixel at 28x28
    assert paper28(paper)[:, 14].min() == 255
    with pytest.raises(ValueError, match="multiple of 28"):
        paper28(np.zeros((100, 100), np.uint8))
    with pytest.raises(ValueError, match="2-D"):
        too_little_ink(np.zeros((2, 28, 28), np.uint8))


def test_a_framed_dot_is_too_little_ink_but_a_framed_character_is_not() -> None:
    from k49desk.core.inference import preprocess

    paper = np.zeros((280, 280), np.uint8)
    paper += _disk(280, 140, 140, 12)
    framed = preprocess(paper, invert=False)  # the dot is blown up into a disc
    assert not too_little_ink(framed) and too_little_ink_framed(framed)
    stroke = np.zeros((280, 280), np.uint8)
    stroke[40:240, 130:146] = 255
    stroke[130:146, 60:220] = 255
    assert not too_little_ink_framed(preprocess(stroke, invert=False))
