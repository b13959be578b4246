"""What File > Export offers for the Gallery: the image in the detail pane, the list of the
images shown, the thumbnails in view. Each write is atomic."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from k49desk.core.atomic import atomic_write_text
from k49desk.gui.common.files import save_image
from k49desk.gui.common.widgets import gray_qimage

if TYPE_CHECKING:
    from PySide6.QtGui import QImage

    from k49desk.gui.gallery.model import GalleryModel


def save_image28(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """One dataset image, exactly its 28x28 pixels (white ink on black), as a PNG."""
    a = np.asarray(image)
    if a.shape != (28, 28):
        raise ValueError(f"expected a 28x28 image, got {a.shape}")
    return save_image(gray_qimage(a), path)


def shown_table(model: GalleryModel) -> pd.DataFrame:
    """The images the grid shows, in display order: split, index, label, char, romaji."""
    ds = model.dataset
    if ds is None:
        return pd.DataFrame(columns=["split", "index", "label", "char", "romaji"])
    names = np.asarray(model.shown_split_names(), dtype=object)
    split = names[model.split_codes()] if len(names) else np.zeros(0, object)
    index = model.indices()
    labels = np.zeros(len(index), np.int64)
    for name in model.shown_split_names():
        sel = split == name
        labels[sel] = np.asarray(ds.splits[name].labels)[index[sel]]
    chars = np.array([c.char for c in ds.classes], dtype=object)
    romaji = np.array([c.romaji for c in ds.classes], dtype=object)
    return pd.DataFrame({"split": split, "index": index, "label": labels,
                         "char": chars[labels], "romaji": romaji[labels]})


def save_shown_csv(path: str | os.PathLike[str], model: GalleryModel) -> Path:
    """The shown images' split, index and label as UTF-8 CSV (the characters included)."""
    p = Path(path)
    atomic_write_text(p, shown_table(model).to_csv(index=False))
    return p


def save_view_png(path: str | os.PathLike[str], image: QImage) -> Path:
    """The thumbnails in view, as the grid paints them."""
    return save_image(image, path)
