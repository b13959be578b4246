"""Application state shared by the panels: the open data folder, the current model, flags.

Panels take an `AppState` and listen to its signals; `MainWindow` wires navigation requests
(e.g. "show these images in the Gallery") from one panel to another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    import pandas as pd

    from k49desk.core.dataset import K49Dataset


@dataclass
class GalleryRequest:
    """Ask the Gallery to show something: a split, a set of classes, or explicit indices."""

    split: str = "train"
    classes: list[int] | None = None  # None: all classes
    indices: np.ndarray | None = None  # explicit subset (e.g. misclassified test images)
    title: str = ""
    captions: dict[int, str] = field(default_factory=dict)  # index -> extra text ("pred ね")
    select: int | None = None  # dataset index to select and show in the detail pane


class AppState(QObject):
    dataset_changed = Signal(object)  # K49Dataset | None
    model_changed = Signal(object)  # LoadedModel | None (k49desk.core.model)
    flags_changed = Signal()  # review flags / decisions changed
    gallery_requested = Signal(object)  # GalleryRequest
    status_message = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dataset: K49Dataset | None = None
        self.model: Any = None  # k49desk.core.model.LoadedModel
        self.model_path: Path | None = None
        # Flagged samples: DataFrame with at least split, index, issue (k49desk.core.issues).
        self.flags: pd.DataFrame | None = None

    def set_dataset(self, ds: K49Dataset | None) -> None:
        self.dataset = ds
        self.flags = None
        self.dataset_changed.emit(ds)

    def set_model(self, model: Any, path: Path | None = None) -> None:
        self.model = model
        self.model_path = path
        self.model_changed.emit(model)

    def set_flags(self, flags: pd.DataFrame | None) -> None:
        self.flags = flags
        self.flags_changed.emit()

    def show_in_gallery(self, request: GalleryRequest) -> None:
        self.gallery_requested.emit(request)
