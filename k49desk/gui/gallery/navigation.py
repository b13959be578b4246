"""The Gallery's navigation: requests from other panels (and Back), selecting an image,
jumping to an index, the thumbnails' context menu. A mixin of GalleryPanel, kept apart so
the panel stays readable; it uses the panel's model, view, filter, detail and request bar."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QPoint
from PySide6.QtWidgets import QAbstractItemView, QMenu

from k49desk.gui.common.state import GalleryRequest


class NavigationMixin:
    """Methods of GalleryPanel (see the module docstring); not usable on its own."""

    def apply_request(self, req: GalleryRequest) -> None:
        """Show what another panel asks for; the bar says so (and any split it switched to)
        and its Back button returns to the view the user had before."""
        before = {**self.model.view_settings(), "item": (self.detail.split, self.detail.index)}
        self.filter.set_selected(req.classes)
        self._set_flagged_check(False)
        explicit = None if req.indices is None else np.asarray(req.indices, np.int64)
        self.model.configure(split=req.split, classes=req.classes, flagged_only=False,
                             explicit=explicit, captions=dict(req.captions or {}))
        self._sync_split_combo()
        self._relayout()  # captions add a line under each thumbnail
        self.request_bar.show_request(req.title or self._classes_title(req.classes),
                                      self.model.rowCount(), req.split, before)
        self._update_counts()
        if req.select is not None:
            self.select(req.split if req.split != "both" else "train", int(req.select))

    def clear_request(self) -> None:
        """Back to the view from before the request (split, classes, flagged only, image)."""
        before = self.request_bar.before
        self._hide_request_bar()
        if before is None:
            self.model.configure(explicit=None, captions={})
        else:
            self.filter.set_selected(before["classes"])
            self._set_flagged_check(before["flagged_only"])
            self.model.configure(split=before["split"], classes=before["classes"],
                                 flagged_only=before["flagged_only"], explicit=None,
                                 captions={})
            self._sync_split_combo()
            self._update_counts()
            if before["item"][0] is not None:
                self.select(*before["item"])
        self._relayout()

    def _classes_title(self, classes: list[int] | None) -> str:
        ds = self.model.dataset
        if not classes or ds is None:
            return "Selected images"
        if len(classes) == 1:
            return f"Images of {ds.classes[classes[0]].label}"
        return f"Images of {len(classes)} classes"

    def select(self, split: str, index: int) -> bool:
        """Select and show (split, index) if it is in the current view."""
        row = self.model.row_of(split, index)
        if row is None:
            return False
        mi = self.model.index(row)
        self.view.selectionModel().setCurrentIndex(
            mi, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.view.scrollTo(mi, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def jump_to(self, index: int, split: str | None = None) -> bool:
        """Go to a dataset index; widens the filter to the whole split if it is hidden."""
        ds = self.model.dataset
        if ds is None:
            return False
        names = self.model.shown_split_names()
        split = split or (names[0] if names else "train")
        if split not in ds.splits or not 0 <= index < len(ds.splits[split]):
            n = len(ds.splits[split]) if split in ds.splits else 0
            self.state.status(f"No image {index} in {split} (it has {n:,d})")
            return False
        if self.model.row_of(split, index) is None:
            self._hide_request_bar()
            self.filter.set_selected(None)
            self._set_flagged_check(False)
            target = split if self.model.split_name != "both" else "both"
            self.model.configure(split=target, classes=None, flagged_only=False,
                                 explicit=None, captions={})
            self._sync_split_combo()
            self._update_counts()
        self.view.setFocus()
        return self.select(split, index)

    def jump_to_text(self, text: str) -> bool:
        parts = text.replace(":", " ").replace("#", " ").split()
        split = None
        if parts and parts[0].lower() in ("train", "test"):
            split = parts.pop(0).lower()
        if len(parts) != 1 or not parts[0].replace(",", "").isdigit():
            self.state.status(f"Not an index: {text!r}")
            return False
        return self.jump_to(int(parts[0].replace(",", "")), split)

    def _context_menu(self, pos: QPoint) -> None:
        mi = self.view.indexAt(pos)
        ds = self.model.dataset
        if not mi.isValid() or ds is None:
            return
        self.view.setCurrentIndex(mi)
        split, i, _img, label = self.model.paint_item(mi.row())
        menu = QMenu(self)
        menu.addAction(f"Copy index {i}", self.detail.copy_index)
        only = ds.classes[label].label
        menu.addAction(f"Show only {only}", lambda: self.set_class_filter([label]))
        if self.filter.selected_classes() is not None:
            menu.addAction("Show all classes", lambda: self.set_class_filter(None))
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _focus_jump(self) -> None:
        self.jump_edit.setFocus()
        self.jump_edit.selectAll()

