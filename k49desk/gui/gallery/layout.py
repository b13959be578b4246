"""The Gallery panel's widgets and their layout: toolbar; class list and the model-predictions
box | request, query and task strips over the grid, the class/tag/note inputs and the key
hints under it | detail (with "find similar")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSplitter, QVBoxLayout, QWidget

from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.gui.common.class_input import RelabelBar
from k49desk.gui.common.similar_strip import SimilarStrip
from k49desk.gui.common.widgets import DemoBanner
from k49desk.gui.gallery.bars import KEYS_HINT, QueryBar, TaskStrip, TextBar
from k49desk.gui.gallery.model_box import ModelBox
from k49desk.gui.gallery.toolbar import GalleryToolbar, RequestBar

if TYPE_CHECKING:
    from k49desk.gui.gallery.panel import GalleryPanel


def build_ui(self: GalleryPanel) -> None:
    """Create the panel's widgets (attributes of the panel) and lay them out."""
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

    self.query_bar = QueryBar()
    self.task_strip = TaskStrip()
    self.count_label = QLabel()
    self.count_label.setStyleSheet("color:#4b5563;")
    self.count_label.setWordWrap(True)
    self.relabel_bar = RelabelBar(OFFICIAL_CLASSES, title="<b>Relabel as:</b>")
    self.relabel_bar.hide()
    self.text_bar = TextBar("<b>Tag:</b>", "")
    self.keys_hint = QLabel(KEYS_HINT)
    self.keys_hint.setWordWrap(True)
    self.keys_hint.setStyleSheet("color:#4b5563; font-size:12px;")
    self.empty_label = QLabel()
    self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    self.empty_label.setStyleSheet("color:#6b7280; font-size:14px;")
    self.empty_label.setWordWrap(True)
    self.empty_label.hide()

    center = QWidget()
    cl = QVBoxLayout(center)
    cl.setContentsMargins(0, 0, 0, 0)
    cl.addWidget(self.task_strip)
    cl.addWidget(self.request_bar)
    cl.addWidget(self.query_bar)
    cl.addWidget(self.count_label)
    cl.addWidget(self.view, 1)
    cl.addWidget(self.empty_label, 1)
    cl.addWidget(self.relabel_bar)
    cl.addWidget(self.text_bar)
    cl.addWidget(self.keys_hint)

    self.model_box = ModelBox()
    left = QWidget()
    ll = QVBoxLayout(left)
    ll.setContentsMargins(0, 0, 0, 0)
    ll.addWidget(self.filter, 1)
    ll.addWidget(self.model_box)
    self.similar = SimilarStrip(self.state, self.tasks, slot="similar")
    self.detail.add_similar(self.similar)

    self.filter.setMinimumWidth(200)
    self.view.setMinimumSize(150, 120)
    self.splitter = QSplitter(Qt.Orientation.Horizontal)
    self.splitter.addWidget(left)
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
