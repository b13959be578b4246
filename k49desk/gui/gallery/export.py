"""What File > Export offers for the Gallery: the image in the detail pane, the list of the
images shown, the thumbnails in view, the selection or the view as a selection CSV
(split,index: `k49desk gui --indices` opens it), and per split its decisions and tags (CSV,
JSON) and the corrected official-format folder. Each write is atomic; the decision exports
run as tasks (folders.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QFileDialog

from k49desk.core.atomic import atomic_write_text
from k49desk.core.lazy import pd  # pandas on first use: not on the launch path
from k49desk.gui.common.files import save_image
from k49desk.gui.common.widgets import ask_save_path, export_with_dialog, gray_qimage

if TYPE_CHECKING:
    from PySide6.QtGui import QImage

    from k49desk.gui.gallery.model import GalleryModel

Action = tuple[str, Callable[[], object]]


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


def _new_folder(parent: Path, stem: str) -> Path:
    from k49desk.gui.gallery.dialogs import new_folder_name

    return new_folder_name(parent, stem)


def _plural(n: int, word: str) -> str:
    return f"{n:,d} {word}" + ("" if n == 1 else "s")


def save_view_png(path: str | os.PathLike[str], image: QImage) -> Path:
    """The thumbnails in view, as the grid paints them."""
    return save_image(image, path)


class ExportMixin:
    """File > Export for GalleryPanel (methods of the panel; see the module docstring)."""

    def export_actions(self) -> list[Action]:
        if self.model.dataset is None:
            return []
        acts: list[Action] = []
        if self.detail.index is not None:
            acts.append(("Image in the detail pane (PNG, 28×28)…", self._export_image))
        acts += [("List of the images shown (CSV)…", self._export_csv),
                 ("Thumbnails in view (PNG)…", self._export_view)]
        n = self.view.selected_count()
        if n:
            acts.append((f"Selected images ({n:,d}) as a selection CSV…",
                         lambda: self._export_selection("selection")))
        acts.append(("Images shown as a selection CSV…", lambda: self._export_selection("view")))
        for split in self.model.shown_split_names():
            acts += [(f"Decisions and tags of {split} (CSV)…",
                      lambda s=split: self._ask_decisions(s, "csv")),
                     (f"Decisions and tags of {split} (JSON)…",
                      lambda s=split: self._ask_decisions(s, "json")),
                     (f"Corrected {split} folder (official format)…",
                      lambda s=split: self._ask_corrected(s))]
        return acts

    def _export(self, title: str, name: str, file_filter: str,
                write: Callable[[Path], object]) -> None:
        export_with_dialog(self, title, name, file_filter, write, self.state.status)

    def _export_image(self) -> None:
        split, i = self.detail.split, self.detail.index
        ds = self.model.dataset
        if ds is None or split is None or i is None:
            return
        self._export("Export the image", f"k49-{split}-{i}.png", "PNG image (*.png)",
                     lambda p: save_image28(p, ds.splits[split].images[i]))

    def _export_csv(self) -> None:
        self._export("Export the list of images shown", "k49-gallery.csv", "CSV (*.csv)",
                     lambda p: save_shown_csv(p, self.model))

    def _export_view(self) -> None:
        self._export("Export the thumbnails in view", "k49-gallery.png", "PNG image (*.png)",
                     lambda p: save_view_png(p, self.view.viewport().grab().toImage()))

    def _export_selection(self, which: str) -> None:
        name = "k49-selection.csv" if which == "selection" else "k49-view.csv"
        path = ask_save_path(self, "Export the " + which + " (split,index CSV)", name,
                             "CSV (*.csv)")
        if path is not None:
            try:
                n = self.export_selection_csv(path, which)
            except (OSError, ValueError) as e:
                self.tasks.report("Export failed", e)
                return
            self.state.status(f"Saved {path} ({_plural(n, 'row')}; "
                              "k49desk gui --indices opens it)")

    def _ask_decisions(self, split: str, kind: str) -> None:
        path = ask_save_path(self, f"Export the {split} decisions and tags",
                             f"k49-decisions-{split}.{kind}", f"{kind.upper()} (*.{kind})")
        if path is not None:
            self.export_decisions(split, path, kind)

    def _ask_corrected(self, split: str) -> None:
        """Name the new folder (proposed beside the data folder; new, empty or an earlier
        export, which is replaced whole; never the data folder itself)."""
        ds = self.model.dataset
        if ds is None:
            return
        proposed = _new_folder(Path(ds.root).parent, f"{Path(ds.root).name}-corrected-{split}")
        path, _ = QFileDialog.getSaveFileName(
            self, f"Name of the new folder for the corrected {split} labels", str(proposed),
            "Folder (*)", options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.export_corrected(split, Path(path))
