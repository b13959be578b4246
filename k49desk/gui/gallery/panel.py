"""The Gallery panel: every image of a split as thumbnails, filtered by a query (classes,
flags, decisions, tags, the model's predictions) or a request; select any number of them and
annotate by keyboard; find the images most similar to one.

Wiring only: GalleryModel (numpy filtering; query.py, marks.py), ThumbView (grid; selection.py
keeps the selection as a numpy mask), ThumbDelegate (painting), ClassFilter (the 49 classes),
DetailPane (one image large, its decision history), NavigationMixin (requests, Back, jumps),
AnnotateMixin (keys and writes through the shared annotation hub), FoldersMixin (import,
merge, selection CSV), ExportMixin (File > Export), ModelOutputsMixin (model-output filters,
the pass computing them, find similar). See model.py for the data path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QWidget,
)

from k49desk.core.classes import N_CLASSES
from k49desk.core.ink import too_little_ink_framed
from k49desk.core.lazy import pd  # pandas only once there are flags (launch time)
from k49desk.gui.common.panel import Panel
from k49desk.gui.common.state import AppState
from k49desk.gui.gallery.annotate import AnnotateMixin
from k49desk.gui.gallery.class_filter import ClassFilter
from k49desk.gui.gallery.delegate import ThumbDelegate
from k49desk.gui.gallery.detail import DetailPane
from k49desk.gui.gallery.export import ExportMixin
from k49desk.gui.gallery.folders import FoldersMixin
from k49desk.gui.gallery.layout import build_ui
from k49desk.gui.gallery.linked import SelectionPublisher
from k49desk.gui.gallery.model import SPLIT_CHOICES, GalleryModel
from k49desk.gui.gallery.navigation import NavigationMixin
from k49desk.gui.gallery.outputs_link import ModelOutputsMixin
from k49desk.gui.gallery.query import GalleryQuery
from k49desk.gui.gallery.toolbar import DEFAULT_ZOOM
from k49desk.gui.gallery.view import ThumbView

if TYPE_CHECKING:
    from k49desk.core.model import LoadedModel  # torch: imported off the GUI thread

def _top5(request: tuple[LoadedModel, np.ndarray]) -> list[tuple[int, float]]:
    from k49desk.core.inference import topk

    model, image = request
    return topk(model, image, k=5)


class GalleryPanel(AnnotateMixin, FoldersMixin, ExportMixin, NavigationMixin,
                   ModelOutputsMixin, Panel):
    title = "Gallery"
    current_changed = Signal(object)  # (split, index) | None
    predictions_shown = Signal()  # the detail pane's top-5 arrived

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.model = GalleryModel(self)
        self.delegate = ThumbDelegate(self.model, self)
        self.view = ThumbView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(self.delegate)
        self.filter = ClassFilter()
        self.detail = DetailPane()
        # The annotation hub's stack, shared with Review: Edit > Undo undoes the last
        # annotation whichever panel made it.
        self.undo_stack = state.annotations.undo_stack
        self._pending_selection: Path | None = None  # --indices before a folder is open
        self._text_kind = "tag"  # what the text bar is asking for: "tag" or "note"
        self.last_summary: object = None  # the last import/merge summary box (non-modal)
        self.last_merge: object = None  # the last MergeResult
        build_ui(self)
        self._set_zoom(DEFAULT_ZOOM)
        self._connect()
        self.selection_publisher = SelectionPublisher(self)  # the map highlights it
        self._connect_outputs()
        # The detail pane's top-5: one long-lived thread, latest image wins (as the Draw pad).
        self.predictor = self.tasks.service("predict", _top5, on_finished=self._on_top5,
                                            on_failed=self._on_top5_failed)
        self.set_dataset(state.dataset)

    # ---- layout --------------------------------------------------------------------------
    def _connect(self) -> None:
        st = self.state
        hub = st.annotations
        hub.ready.connect(self._on_store_ready)
        hub.changed.connect(self._on_annotations_changed)
        self.view.key_handler = self._on_key
        self.view.selection_changed.connect(
            lambda: self.query_bar.set_selected(self.view.selected_count()))
        self.query_bar.decision_chosen.connect(self.set_decision_filter)
        self.query_bar.tag_chosen.connect(self.set_tag_filter)
        self.query_bar.reset_clicked.connect(self.reset_query)
        self.task_strip.cancel_clicked.connect(self.cancel_folder_task)
        self.relabel_bar.chosen.connect(self._on_relabel_chosen)
        self.relabel_bar.cancelled.connect(self._on_input_cancelled)
        self.relabel_bar.preview.connect(self._set_preview)
        self.text_bar.accepted.connect(self._on_text)
        self.text_bar.cancelled.connect(self._on_input_cancelled)
        st.dataset_changed.connect(self.set_dataset)
        st.flags_changed.connect(self._on_flags_changed)
        st.gallery_requested.connect(self.apply_request)
        st.model_changed.connect(lambda _m: self._show_current())
        self.split_combo.currentIndexChanged.connect(
            lambda _i: self.set_split(self.split_combo.currentData()))
        self.order_combo.currentIndexChanged.connect(
            lambda _i: self.set_order(self.order_combo.currentData()))
        self.shuffle_button.clicked.connect(self.reshuffle)
        self.flagged_check.toggled.connect(self.set_flagged_only)
        self.labels_check.toggled.connect(self._set_show_labels)
        self.invert_check.toggled.connect(self._set_invert)
        self.zoom.valueChanged.connect(self._set_zoom)
        self.view.zoom_step.connect(lambda d: self.zoom.setValue(self.zoom.value() + d))
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.jump_edit.returnPressed.connect(lambda: self.jump_to_text(self.jump_edit.text()))
        self.clear_button.clicked.connect(self.clear_request)
        self.filter.classes_changed.connect(self._on_filter_classes)
        self.view.selectionModel().currentChanged.connect(self._on_current)
        self.model.modelReset.connect(self._after_reset)
        self.detail.copied.connect(lambda t: st.status(f"Copied index {t}"))
        self.detail.reveal_requested.connect(
            lambda: self.jump_to(self.detail.index or 0, self.detail.split))
        for keys, fn in ((QKeySequence.StandardKey.Copy, self.detail.copy_index),
                         ("]", lambda: self.filter.cycle(1)),
                         ("[", lambda: self.filter.cycle(-1)),
                         ("Ctrl+K", lambda: self.filter.cycle(1)),
                         ("Ctrl+Shift+K", lambda: self.filter.cycle(-1)),
                         ("Ctrl+G", self._focus_jump)):
            sc = QShortcut(QKeySequence(keys), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(fn)

    # ---- public API ----------------------------------------------------------------------
    def set_dataset(self, ds: object) -> None:
        """A new folder: every filter is reset, in the grid and in the class list alike."""
        self.detail.clear()
        self._hide_request_bar()
        self._set_flagged_check(False)
        self.model.set_dataset(ds)  # type: ignore[arg-type]  (resets classes and flags)
        self.demo_banner.follow(ds)
        self._hide_inputs()
        if ds is not None:
            self.filter.set_classes(ds.classes)  # type: ignore[attr-defined]
            self.relabel_bar.classes = ds.classes  # type: ignore[attr-defined]
            self.model_box.set_classes(ds.classes)  # type: ignore[attr-defined]
        self.filter.set_selected(None)
        self._on_flags_changed()
        self._sync_split_combo()
        self._update_counts()
        self._ensure_stores()
        self._refresh_tags()
        if ds is not None and self._pending_selection is not None:
            self.open_selection_csv(self._pending_selection)
        self._outputs_declined = False  # a new folder: its own pass
        if self.isVisible():
            self.ensure_outputs()
        self._sync_model_box()

    def _ensure_stores(self) -> None:
        """Open (in the background) the annotation stores of the splits shown."""
        hub = self.state.annotations
        for split in self.model.shown_split_names():
            store = hub.ensure(split)
            if store is not None and self.model.marks.store(split) is not store:
                self.model.set_store(split, store)

    def set_split(self, name: str) -> None:
        if name not in SPLIT_CHOICES:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLIT_CHOICES)}")
        if name == self.model.split_name and self.model.explicit is None:
            return
        self._hide_request_bar()
        self.model.configure(split=name, explicit=None, captions={})
        self._ensure_stores()
        self._sync_split_combo()
        self._update_counts()

    def set_class_filter(self, classes: list[int] | None) -> None:
        self.filter.set_selected(classes)
        self.model.configure(classes=classes)

    def set_flagged_only(self, on: bool) -> None:
        if self.flagged_check.isChecked() != on:
            self.flagged_check.setChecked(on)  # re-enters through toggled
            return
        self.model.configure(flagged_only=on)

    def set_decision_filter(self, decision: str | None) -> None:
        """Show only images with this decision (a key of query.DECISION_FILTERS; None: all)."""
        self.model.configure(decision=decision)

    def set_tag_filter(self, tag: str | None) -> None:
        self.model.configure(tag=tag)

    def set_query(self, query: GalleryQuery) -> None:
        """Show the images matching `query` (the class list and checkboxes follow)."""
        self._hide_request_bar()
        self.filter.set_selected(None if query.classes is None else list(query.classes))
        self._set_flagged_check(query.flagged_only and self.model.has_flags)
        self.model.configure(query=query, explicit=None, captions={})
        self._ensure_stores()

    def reset_query(self) -> None:
        """Every image of the split again: one click on Reset."""
        self.set_query(GalleryQuery())

    def set_order(self, order: str, seed: int | None = None) -> None:
        i = self.order_combo.findData(order)
        if i < 0:
            raise ValueError(f"unknown order {order!r}")
        if self.order_combo.currentIndex() != i:
            self.order_combo.blockSignals(True)
            self.order_combo.setCurrentIndex(i)
            self.order_combo.blockSignals(False)
        self.model.configure(order=order, seed=seed)

    def reshuffle(self) -> None:
        """A new seeded random order."""
        self.set_order("random", seed=self.model.seed + 1)

    def current_indices(self) -> np.ndarray:
        """Dataset indices of the images shown, in display order."""
        return self.model.indices()

    def on_shown(self) -> None:
        self.view.setFocus()

    def show_class(self, label: int) -> None:
        self.set_class_filter([label])

    # ---- reactions -----------------------------------------------------------------------
    def _on_filter_classes(self, classes: list[int] | None) -> None:
        self.model.configure(classes=classes)

    def _on_flags_changed(self, _split: str = "") -> None:
        frames = [f for f in self.state.flags.values() if f is not None and len(f)]
        self.model.set_flags(pd.concat(frames, ignore_index=True) if frames else None)
        has = self.model.has_flags
        self.flagged_check.setEnabled(has)
        if not has and self.flagged_check.isChecked():
            self.flagged_check.setChecked(False)
        self._update_flag_count()

    def _update_flag_count(self) -> None:
        masks = [self.model.flagged_mask(s) for s in self.model.shown_split_names()]
        n = sum(int(m.sum()) for m in masks if m is not None)
        self.flagged_check.setText(f"Flagged only ({n:,d})" if self.model.has_flags
                                   else "Flagged only")

    def _after_reset(self) -> None:
        n = self.model.rowCount()
        ds = self.model.dataset
        q = self.model.query
        words = "" if q.is_empty else "  ·  " + q.words(ds.classes if ds else None)
        self.count_label.setText(self.model.summary() + words)
        self.query_bar.show_query(q.decision, q.is_empty)
        self._refresh_tags()
        resorted = self._after_reset_outputs()
        if ds is None:
            self.empty_label.setText(
                "No data folder open.\nOpen a K49 folder or generate demo data.")
        elif n == 0 and q.uses_annotations and any(
                not self.model.marks.has(sp) for sp in self.model.shown_split_names()):
            self.empty_label.setText("Opening the annotations…")
        elif n == 0 and self.model.outputs_pending:
            self.empty_label.setText(self._waiting_text())
        elif n == 0:
            self.empty_label.setText("No images match this filter.\n"
                                     "Reset (above) shows every image again.")
        self.empty_label.setVisible(ds is None or n == 0)
        self.view.setVisible(not self.empty_label.isVisible())
        row = None
        if self.detail.split is not None and self.detail.index is not None:
            row = self.model.row_of(self.detail.split, self.detail.index)
            # The pane keeps the image, but says when the new filter hides it.
            self.detail.set_hidden_by_filter(row is None)
        if row is not None:
            if self.view.selected_count():  # the selection was carried over: keep it
                self.view.set_current_row(row)
            else:
                self.view.select_only(row)
            if not resorted:  # a new sort starts at its top (highest loss first...)
                self.view.scrollTo(self.model.index(row),
                                   QAbstractItemView.ScrollHint.PositionAtCenter)
        if row is None or resorted:
            # A new filter starts at its first image, not at the old scroll offset (which
            # left a short result scrolled to its very end).
            self.view.scrollToTop()

    def _on_current(self, cur: QModelIndex, _prev: QModelIndex) -> None:
        if cur.isValid():  # (the view selects a row made current from outside)
            self._show_row(cur.row())

    def _show_current(self) -> None:
        """Show the detail pane's image again (a model arrived or changed): even when the
        filter hides it from the grid, the pane must not keep stale predictions."""
        split, index = self.detail.split, self.detail.index
        if split is not None and index is not None:
            self._show(split, index)

    def _show_row(self, row: int) -> None:
        if self.model.dataset is not None:
            sp, i = self.model.locate(row)
            self._show(sp.name, i)

    def _show(self, split: str, i: int) -> None:
        ds = self.model.dataset
        if ds is None or split not in ds.splits or not 0 <= i < len(ds.splits[split]):
            return
        sp = ds.splits[split]
        flag, decision = self.model.flag_of(split, i)
        image = np.ascontiguousarray(sp.images[i])
        model = self.state.model
        self.detail.show_item(split=split, index=i, image=image,
                              cls=ds.classes[int(sp.labels[i])], flag=flag, decision=decision,
                              caption=self.model.caption_of(split, i), demo=ds.is_demo,
                              model=model)
        self.detail.set_hidden_by_filter(self.model.row_of(split, i) is None)
        self._show_outputs_line()
        self.similar.set_target(split, i)
        self.detail.annotations.show_image(self.state.annotations.store(split), i,
                                           int(sp.labels[i]), ds.classes)
        if model is not None:
            if too_little_ink_framed(image):  # a blank image gets no confident class
                self.predictor.invalidate()
                self.detail.show_too_little_ink()
            else:
                self.predictor.submit((model, image))
        self.current_changed.emit((split, i))

    def _on_top5(self, top: list[tuple[int, float]]) -> None:
        self.detail.show_predictions(self.state.model, top)
        self.predictions_shown.emit()

    def _on_top5_failed(self, e: BaseException) -> None:
        self.detail.show_prediction_error(e)

    def _update_counts(self) -> None:
        self._update_flag_count()
        ds = self.model.dataset
        counts = np.zeros(ds.n_classes if ds else N_CLASSES, np.int64)
        if ds is not None:
            for s in self.model.shown_split_names():
                counts += ds.splits[s].counts(ds.n_classes)
        self.filter.set_counts(counts)

    def _sync_split_combo(self) -> None:
        i = self.split_combo.findData(self.model.split_name)
        if i >= 0 and i != self.split_combo.currentIndex():
            self.split_combo.blockSignals(True)
            self.split_combo.setCurrentIndex(i)
            self.split_combo.blockSignals(False)

    def _set_flagged_check(self, on: bool) -> None:
        """Tick or untick "Flagged only" without filtering again (the caller configures)."""
        if self.flagged_check.isChecked() != on:
            self.flagged_check.blockSignals(True)
            self.flagged_check.setChecked(on)
            self.flagged_check.blockSignals(False)

    def _hide_request_bar(self) -> None:
        self.request_bar.dismiss()
        if self.model.captions:
            self.model.captions = {}
            self._relayout()

    def _set_zoom(self, z: int) -> None:
        self.delegate.thumb = 28 * int(z)
        self.zoom_label.setText(f"{28 * int(z)} px")
        self._relayout()

    def _set_show_labels(self, on: bool) -> None:
        self.delegate.show_labels = on
        self._relayout()

    def _set_invert(self, on: bool) -> None:
        self.delegate.invert = on
        self.detail.invert = on
        self._show_current()
        self.view.viewport().update()

    def _relayout(self) -> None:
        cell = self.delegate.cell_size()
        self.view.setGridSize(QSize(cell.width() + 4, cell.height() + 4))
        cur = self.view.currentIndex()
        if cur.isValid():  # zooming keeps the image you were looking at in view
            self.view.scrollTo(cur, QAbstractItemView.ScrollHint.PositionAtCenter)
