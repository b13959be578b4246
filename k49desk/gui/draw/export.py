"""Saving the drawing: the paper as drawn, and the 28x28 image the model is given."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from k49desk.gui.common.files import save_image
from k49desk.gui.common.widgets import gray_qimage

PAPER_SIDE = 560  # the saved drawing: twice the reference paper, crisp enough to reuse


def input_path(path: str | os.PathLike[str]) -> Path:
    """Where the 28x28 model input goes beside the drawing: drawing.png -> drawing-28x28.png."""
    p = Path(path)
    return p.with_name(f"{p.stem}-28x28.png")


def save_drawing(path: str | os.PathLike[str], paper: np.ndarray,
                 img28: np.ndarray) -> tuple[Path, Path]:
    """Write the drawing to `path` as it looks on the pad (dark ink on white; `paper` is the
    canvas rendered white on black) and the model input beside it (white on black, exactly
    the 28x28 array the model receives, like a K49 image). Both writes are atomic."""
    p = Path(path)
    if p.suffix.lower() != ".png":
        p = p.with_name(p.name + ".png")
    if np.asarray(img28).shape != (28, 28):
        raise ValueError(f"the model input must be 28x28, got {np.asarray(img28).shape}")
    first = save_image(gray_qimage(255 - np.asarray(paper, np.uint8)), p)
    second = save_image(gray_qimage(img28), input_path(p))
    return first, second
