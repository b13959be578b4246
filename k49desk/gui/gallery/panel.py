"""The Gallery panel: every image of a split as thumbnails, filtered by class, flag or request.

Wiring only: GalleryModel (numpy filtering), ThumbDelegate (painting), ClassFilter (the 49
classes), DetailPane (one image large), NavigationMixin (requests, Back, jumps), export.py
(File > Export). See model.py for the data path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QLabel,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.classes import N_CLASSES
from k49desk.core.ink import too_little_ink_framed
from k49desk.gui.common.panel import Panel
from k49desk.gui.common.state import AppState
from k49desk.gui.common.widgets import DemoBanner, export_with_dialog
from k49desk.gui.gallery import export
from k49desk.gui.gallery.class_filter import ClassFilter
from k49desk.gui.gallery.delegate import ThumbDelegate
from k49desk.gui.gallery.detail import DetailPane
from k49desk.gui.gallery.model import SPLIT_CHOICES, GalleryModel
from k49desk.gui.gallery.navigation import NavigationMixin
from k49desk.gui.gallery.toolbar import DEFAULT_ZOOM, GalleryToolbar, RequestBar
from k49desk.gui.gallery.view import ThumbView

if TYPE_CHECKING:
    from k49desk.core.model import LoadedModel  # torch: imported off the GUI thread

def _top5(request: tuple[LoadedModel, np.ndarray]) -> list[tuple[int, float]]:
    from k49desk.core.inference import topk

    model, image = request
    return topk(model, image, k=5)


class GalleryPanel(NavigationMixin, Panel):
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

    def on_shown(self) -> None:
        self.view.setFocus()

    # ---- File > Export -------------------------------------------------------------------
    def export_actions(self) -> list[tuple[str, Callable[[], object]]]:
        if self.model.dataset is None:
            return []
        acts: list[tuple[str, Callable[[], object]]] = []
        if self.detail.index is not None:
            acts.append(("Image in the detail pane (PNG, 28×28)…", self._export_image))
        return acts + [("List of the images shown (CSV)…", self._export_csv),
                       ("Thumbnails in view (PNG)…", self._export_view)]

    def _export(self, title: str, name: str, file_filter: str,
                write: Callable[[Path], object]) -> None:
        export_with_dialog(self, title, name, file_filter, write, self.state.status)

    def _export_image(self) -> None:
        split, i = self.detail.split, self.detail.index
        ds = self.model.dataset
        if ds is None or split is None or i is None:
            return
        self._export("Export the image", f"k49-{split}-{i}.png", "PNG image (*.png)",
                     lambda p: export.save_image28(p, ds.splits[split].images[i]))

    def _export_csv(self) -> None:
        self._export("Export the list of images shown", "k49-gallery.csv", "CSV (*.csv)",
                     lambda p: export.save_shown_csv(p, self.model))

    def _export_view(self) -> None:
        self._export("Export the thumbnails in view", "k49-gallery.png", "PNG image (*.png)",
                     lambda p: export.save_view_png(p, self.view.viewport().grab().toImage()))

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
        row = None
        if self.detail.split is not None and self.detail.index is not None:
            row = self.model.row_of(self.detail.split, self.detail.index)
            # The pane keeps the image, but says when the new filter hides it.
            self.detail.set_hidden_by_filter(row is None)
        if row is not None:
            mi = self.model.index(row)
            self.view.selectionModel().setCurrentIndex(
                mi, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            self.view.scrollTo(mi, QAbstractItemView.ScrollHint.PositionAtCenter)
        else:
            # A new filter starts at its first image, not at the old scroll offset (which
            # left a short result scrolled to its very end).
            self.view.scrollToTop()

    def _on_current(self, cur: QModelIndex, _prev: QModelIndex) -> None:
        if cur.isValid():
            sm = self.view.selectionModel()
            if not sm.isSelected(cur):
                # Focus-in makes an item current without selecting it; the frame should
                # mark the image the detail pane shows.
                sm.select(cur, QItemSelectionModel.SelectionFlag.ClearAndSelect)
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
