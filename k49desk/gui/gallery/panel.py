"""The Gallery panel: every image of a split as thumbnails, filtered by class, flag or request.

Wiring only: GalleryModel (numpy filtering), ThumbDelegate (painting), ClassFilter (the 49
classes), DetailPane (one image large). See gallery_model.py for the data path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QLabel,
    QMenu,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.classes import N_CLASSES
from k49desk.gui.common.panel import Panel
from k49desk.gui.common.state import AppState, GalleryRequest
from k49desk.gui.common.widgets import DemoBanner
from k49desk.gui.gallery.class_filter import ClassFilter
from k49desk.gui.gallery.delegate import ThumbDelegate
from k49desk.gui.gallery.detail import DetailPane
from k49desk.gui.gallery.model import SPLIT_CHOICES, GalleryModel
from k49desk.gui.gallery.toolbar import DEFAULT_ZOOM, GalleryToolbar, RequestBar
from k49desk.gui.gallery.view import ThumbView

if TYPE_CHECKING:
    from k49desk.core.model import LoadedModel  # torch: imported off the GUI thread

def _top5(request: tuple[LoadedModel, np.ndarray]) -> list[tuple[int, float]]:
    from k49desk.core.inference import topk

    model, image = request
    return topk(model, image, k=5)


class GalleryPanel(Panel):
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
        self._build_ui()
        self._set_zoom(DEFAULT_ZOOM)
        self._connect()
        # The detail pane's top-5: one long-lived thread, latest image wins (as the Draw pad).
        self.predictor = self.tasks.service("predict", _top5, on_finished=self._on_top5,
                                            on_failed=self._on_top5_failed)
        self.set_dataset(state.dataset)

    # ---- layout --------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.demo_banner = DemoBanner()

        self.toolbar = GalleryToolbar()
        tb = self.toolbar
        self.split_combo, self.order_combo = tb.split_combo, tb.order_combo
        self.shuffle_button, self.flagged_check = tb.shuffle_button, tb.flagged_check
        self.labels_check, self.invert_check = tb.labels_check, tb.invert_check
        self.zoom, self.zoom_label, self.jump_edit = tb.zoom, tb.zoom_label, tb.jump_edit

        self.request_bar = RequestBar()
        self.request_title = self.request_bar.title
        self.clear_button = self.request_bar.clear_button

        self.count_label = QLabel()
        self.count_label.setStyleSheet("color:#4b5563;")
        self.count_label.setWordWrap(True)
        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color:#6b7280; font-size:14px;")
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()

        center = QWidget()
        cl = QVBoxLayout(center)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.request_bar)
        cl.addWidget(self.count_label)
        cl.addWidget(self.view, 1)
        cl.addWidget(self.empty_label, 1)

        self.filter.setMinimumWidth(200)
        self.view.setMinimumSize(150, 120)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.filter)
        self.splitter.addWidget(center)
        # Scrollable so the pane never sets the window's minimum height (small screens).
        self.detail_scroll = QScrollArea()
        self.detail_scroll.setWidget(self.detail)
        self.detail_scroll.setWidgetResizable(True)
        self.detail_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.detail_scroll.setMinimumWidth(180)
        self.splitter.addWidget(self.detail_scroll)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([250, 850, 290])
        self.splitter.setChildrenCollapsible(False)

        lay = QVBoxLayout(self)
        lay.addWidget(self.demo_banner)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.splitter, 1)

    def _connect(self) -> None:
        st = self.state
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
        self.detail.clear()
        self._hide_request_bar()
        self.model.set_dataset(ds)  # type: ignore[arg-type]
        self.demo_banner.follow(ds)
        if ds is not None:
            self.filter.set_classes(ds.classes)  # type: ignore[attr-defined]
        self.filter.set_selected(None)
        self._on_flags_changed()
        self._sync_split_combo()
        self._update_counts()

    def set_split(self, name: str) -> None:
        if name not in SPLIT_CHOICES:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLIT_CHOICES)}")
        if name == self.model.split_name and self.model.explicit is None:
            return
        self._hide_request_bar()
        self.model.configure(split=name, explicit=None, captions={})
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

    def apply_request(self, req: GalleryRequest) -> None:
        self.filter.set_selected(req.classes)
        if self.flagged_check.isChecked():
            self.flagged_check.blockSignals(True)
            self.flagged_check.setChecked(False)
            self.flagged_check.blockSignals(False)
        explicit = None if req.indices is None else np.asarray(req.indices, np.int64)
        self.model.configure(split=req.split, classes=req.classes, flagged_only=False,
                             explicit=explicit, captions=dict(req.captions or {}))
        self._sync_split_combo()
        self._relayout()  # captions add a line under each thumbnail
        if req.title or explicit is not None:
            n = self.model.rowCount()
            self.request_title.setText(f"{req.title or 'Selected images'}  ·  {n:,d} images")
            self.request_bar.show()
        else:
            self._hide_request_bar()
        self._update_counts()
        if req.select is not None:
            self.select(req.split if req.split != "both" else "train", int(req.select))

    def clear_request(self) -> None:
        self._hide_request_bar()
        self.model.configure(explicit=None, captions={})
        self._relayout()

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
            if self.flagged_check.isChecked():
                self.flagged_check.blockSignals(True)
                self.flagged_check.setChecked(False)
                self.flagged_check.blockSignals(False)
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
        self.count_label.setText(self.model.summary())
        if ds is None:
            self.empty_label.setText(
                "No data folder open.\nOpen a K49 folder or generate demo data.")
        elif n == 0:
            self.empty_label.setText("No images match this filter.")
        self.empty_label.setVisible(ds is None or n == 0)
        self.view.setVisible(not self.empty_label.isVisible())
        if self.detail.split is not None and self.detail.index is not None:
            row = self.model.row_of(self.detail.split, self.detail.index)
            if row is not None:
                self.view.selectionModel().setCurrentIndex(
                    self.model.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _on_current(self, cur: QModelIndex, _prev: QModelIndex) -> None:
        if cur.isValid():
            sm = self.view.selectionModel()
            if not sm.isSelected(cur):
                # Focus-in makes an item current without selecting it; the frame should
                # mark the image the detail pane shows.
                sm.select(cur, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            self._show_row(cur.row())

    def _show_current(self) -> None:
        cur = self.view.currentIndex()
        if cur.isValid():
            self._show_row(cur.row())

    def _show_row(self, row: int) -> None:
        ds = self.model.dataset
        if ds is None:
            return
        sp, i = self.model.locate(row)
        flag, decision = self.model.flag_of(sp.name, i)
        image = np.ascontiguousarray(sp.images[i])
        model = self.state.model
        self.detail.show_item(split=sp.name, index=i, image=image,
                              cls=ds.classes[int(sp.labels[i])], flag=flag, decision=decision,
                              caption=self.model.caption_of(sp.name, i), demo=ds.is_demo,
                              model=model)
        if model is not None:
            self.predictor.submit((model, image))
        self.current_changed.emit((sp.name, i))

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

    def _hide_request_bar(self) -> None:
        self.request_bar.hide()
        self.request_title.setText("")
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

