"""The Gallery's navigation: requests from other panels (and Back), selecting an image,
jumping to an index, the thumbnails' context menu. A mixin of GalleryPanel, kept apart so
the panel stays readable; it uses the panel's model, view, filter, detail and request bar."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QAbstractItemView, QMenu

from k49desk.gui.common.state import GalleryRequest
from k49desk.gui.gallery.query import GalleryQuery


class NavigationMixin:
    """Methods of GalleryPanel (see the module docstring); not usable on its own."""

    def apply_request(self, req: GalleryRequest) -> None:
        """Show what another panel asks for; the bar says so (and any split it switched to)
        and its Back button returns to the view the user had before."""
        if req.selection is not None:  # show exactly these and select them all (map lasso)
            self.show_selection(req.selection, req.title or "Selected images")
            if self.model.rowCount():
                self.view.set_selection(np.ones(self.model.rowCount(), bool), current=0)
            return
        ind = req.indices
        explicit = (None if ind is None else
                    {s: np.asarray(v, np.int64) for s, v in ind.items()} if isinstance(ind, dict)
                    else np.asarray(ind, np.int64))
        self._show_explicit(req.split, explicit, req.title or self._classes_title(req.classes),
                            classes=req.classes, captions=dict(req.captions or {}))
        if isinstance(req.select, tuple):  # (split, index): with split "both"
            self.select(str(req.select[0]), int(req.select[1]))
        elif req.select is not None:
            self.select(req.split if req.split != "both" else "train", int(req.select))

    def show_selection(self, selection: dict[str, np.ndarray], title: str) -> None:
        """Show exactly these images ({split: indices}, in that order): one split alone, or
        'Train + test' when both are named (a selection CSV, an import)."""
        ds = self.model.dataset
        sel = {s: np.asarray(v, np.int64) for s, v in selection.items()
               if ds is not None and s in ds.splits}
        if len(sel) == 1:
            split, explicit = next(iter(sel.items()))
            self._show_explicit(split, explicit, title)
        else:
            self._show_explicit("both", sel, title)

    def _show_explicit(self, split: str, explicit: object, title: str, *,
                       classes: list[int] | None = None,
                       captions: dict | None = None) -> None:
        before = {**self.model.view_settings(), "item": (self.detail.split, self.detail.index)}
        self.filter.set_selected(classes)
        self._set_flagged_check(False)
        self.model.configure(split=split, explicit=explicit, captions=captions or {},
                             query=GalleryQuery(classes=None if classes is None
                                                else tuple(sorted(set(classes)))))
        self._ensure_stores()
        self._sync_split_combo()
        self._relayout()  # captions add a line under each thumbnail
        self.request_bar.show_request(title, self.model.rowCount(), split, before)
        self._update_counts()

    def clear_request(self) -> None:
        """Back to the view from before the request (split, query, image)."""
        before = self.request_bar.before
        self._hide_request_bar()
        if before is None:
            self.model.configure(explicit=None, captions={})
        else:
            q = before["query"]
            self.filter.set_selected(None if q.classes is None else list(q.classes))
            self._set_flagged_check(q.flagged_only)
            self.model.configure(split=before["split"], query=q, explicit=None, captions={})
            self._ensure_stores()
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
        self.view.select_only(row)
        self.view.scrollTo(self.model.index(row), QAbstractItemView.ScrollHint.PositionAtCenter)
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
            self.model.configure(split=target, query=GalleryQuery(), explicit=None,
                                 captions={})
            self._ensure_stores()
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
        if not self.view.is_selected(mi.row()):
            self.view.select_only(mi.row())
        self.view.set_current_row(mi.row())
        split, i, _img, label = self.model.paint_item(mi.row())
        n = self.view.selected_count()
        menu = QMenu(self)
        for text, fn in ((f"Keep the label of {n:,d} (K)", self.keep_selection),
                         (f"Relabel {n:,d}… (type a class)", self.start_relabel),
                         (f"Mark {n:,d} unusable (U)", self.mark_unusable_selection),
                         (f"Tag {n:,d}… (T)", self.start_tag),
                         (f"Note on {n:,d}… (N)", self.start_note),
                         (f"Clear the decision of {n:,d} (Del)",
                          self.clear_selection_decisions)):
            menu.addAction(text, fn)
        menu.addSeparator()
        menu.addAction(f"Copy index {i}", self.detail.copy_index)
        menu.addAction("Find similar images", lambda: self.find_similar(split, i))
        only = ds.classes[label].label
        menu.addAction(f"Show only {only}", lambda: self.set_class_filter([label]))
        if self.filter.selected_classes() is not None:
            menu.addAction("Show all classes", lambda: self.set_class_filter(None))
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _focus_jump(self) -> None:
        self.jump_edit.setFocus()
        self.jump_edit.selectAll()

