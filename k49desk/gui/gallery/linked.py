"""The Gallery's selection, published for the other panels (`AppState.set_selection`): the
map highlights it. Coalesced (a rubber-band drag changes the selection at every mouse move)
and only sent when it changed, so a filter change that keeps an empty selection empty does
not clear what another panel selected."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QTimer

if TYPE_CHECKING:
    from k49desk.gui.gallery.panel import GalleryPanel

PUBLISH_MS = 60


class SelectionPublisher(QObject):
    def __init__(self, panel: GalleryPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.last: dict[str, np.ndarray] = {}
        self.timer = QTimer(self, singleShot=True, interval=PUBLISH_MS)
        self.timer.timeout.connect(self.publish)
        panel.view.selection_changed.connect(self.timer.start)

    def publish(self) -> None:
        p = self.panel
        sel = p.model.by_split(p.view.selected_rows()) if p.model.dataset is not None else {}
        if sel.keys() == self.last.keys() and all(
                np.array_equal(v, self.last[k]) for k, v in sel.items()):
            return
        self.last = sel
        p.state.set_selection("gallery", sel)
