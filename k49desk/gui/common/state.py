"""What the panels share, with one owner each: the open data folder, the current model, the
review flags per split. Panels never import each other; they meet here.

`AppState` owns the current model (and persists its path in settings, the only other place it
is written); `MainWindow` wires navigation requests (e.g. "show these images in the Gallery")
from one panel to another by showing the requested tab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from k49desk.gui.common import settings

if TYPE_CHECKING:
    import pandas as pd

    from k49desk.core.dataset import K49Dataset
    from k49desk.core.model import LoadedModel


@dataclass
class GalleryRequest:
    """Ask the Gallery to show something: a split, a set of classes, or explicit indices."""

    split: str = "train"
    classes: list[int] | None = None  # None: all classes
    # Explicit subset (e.g. misclassified test images); with split "both", {split: indices}.
    indices: np.ndarray | dict[str, np.ndarray] | None = None
    title: str = ""
    # index -> extra text ("pred ね"); with split "both", (split, index) -> text.
    captions: dict = field(default_factory=dict)
    # Dataset index to select and show in the detail pane; with split "both", (split, index).
    select: int | tuple[str, int] | None = None
    # Show exactly these images ({split: indices}) and select them all (a map lasso).
    selection: dict[str, np.ndarray] | None = None


Selection = dict[str, np.ndarray]  # {split: sorted unique int64 image indices}


def normalise_selection(selection: dict[str, object]) -> Selection:
    """{split: indices} as sorted unique int64 arrays, empty splits dropped."""
    out: Selection = {}
    for split, idx in selection.items():
        a = np.asarray(idx, np.int64).ravel()
        if a.size and not (a[1:] > a[:-1]).all():  # the cheap check first: usually sorted
            a = np.unique(a)
        if a.size:
            out[split] = a
    return out


class AppState(QObject):
    dataset_changed = Signal(object)  # K49Dataset | None
    model_changed = Signal(object)  # LoadedModel | None
    flags_changed = Signal(str)  # split whose review flags / decisions changed
    gallery_requested = Signal(object)  # GalleryRequest
    panel_requested = Signal(str)  # a panel key: "show this tab"
    status_message = Signal(str)
    # (source, {split: sorted int64 indices}): the images a panel has selected ("gallery",
    # "map", "review"); the map highlights them. An empty dict: nothing selected.
    selection_changed = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dataset: K49Dataset | None = None
        self.model: LoadedModel | None = None
        self.model_path: Path | None = None
        # Review flags per split: DataFrame with at least split, index, issue, decision.
        self.flags: dict[str, pd.DataFrame] = {}
        self.selection: tuple[str, Selection] = ("", {})  # the last set_selection
        from k49desk.gui.common.annotations import Annotations  # they import this module
        from k49desk.gui.common.outputs import ModelOutputsHub

        # Every annotation of the open folder (one SQLite store per split), shared.
        self.annotations = Annotations(self)
        # The current model's predictions and embeddings for the open folder, shared.
        self.outputs = ModelOutputsHub(self)

    def set_dataset(self, ds: K49Dataset | None) -> None:
        self.dataset = ds
        self.flags = {}
        self.selection = ("", {})
        self.dataset_changed.emit(ds)

    def set_model(self, model: LoadedModel | None, path: Path | None = None, *,
                  remember: bool = True) -> None:
        """Make `model` current; `remember` persists its path for the next start."""
        self.model = model
        self.model_path = Path(path) if path is not None else None
        if remember and model is not None and self.model_path is not None:
            settings.set_current_model_path(self.model_path)
        self.model_changed.emit(model)

    def flags_for(self, split: str) -> pd.DataFrame | None:
        return self.flags.get(split)

    def set_flags(self, split: str, flags: pd.DataFrame | None) -> None:
        if flags is None or len(flags) == 0:
            self.flags.pop(split, None)
        else:
            self.flags[split] = flags
        self.flags_changed.emit(split)

    def set_selection(self, source: str, selection: dict[str, object]) -> None:
        """Publish what panel `source` has selected now ({split: indices}; {} for nothing)."""
        sel = normalise_selection(selection)
        self.selection = (source, sel)
        self.selection_changed.emit(source, sel)

    def show_in_gallery(self, request: GalleryRequest) -> None:
        self.gallery_requested.emit(request)

    def status(self, text: str) -> None:
        self.status_message.emit(text)
