"""The Statistics panel: what a notebook's first cells show, as interactive charts.

Images per class (train and test side by side, as shares or counts), the under-represented
classes, and a re-sampleable sheet of N random images per class. Every number comes from
`k49desk.core.stats` (the same as `k49desk info`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.dataset import K49Dataset
from k49desk.core.errors import K49Error
from k49desk.core.stats import UNDER_REPRESENTED_RATIO, class_table, under_represented
from k49desk.gui.common.files import save_image
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.common.panel import Panel
from k49desk.gui.common.state import AppState, GalleryRequest
from k49desk.gui.common.widgets import DemoBanner, export_with_dialog
from k49desk.gui.stats.chart import ClassChart
from k49desk.gui.stats.sheet import class_means, pick_samples, render_sheet


class StatsPanel(Panel):
    title = "Statistics"
    sheet_ready = Signal()  # the samples sheet was (re)drawn

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.ds: K49Dataset | None = None
        self.table: pd.DataFrame | None = None
        self.under: pd.DataFrame | None = None
        self.sample_seed = 0
        self.sheet_pending = False
        self.samples: dict[int, np.ndarray] = {}  # class -> dataset indices shown in the sheet
        self._sheet_hits: list[tuple[int, int, int, int, int, int]] = []  # x, y, w, h, cls, idx
        self._build_ui()
        state.dataset_changed.connect(self.set_dataset)
        self.set_dataset(state.dataset)

    # ---- layout --------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.demo_banner = DemoBanner()
        self.summary = QLabel("No data folder open.")
        self.summary.setStyleSheet("font-size:13px;")
        self.summary.setWordWrap(True)

        # Images per class.
        self.chart = ClassChart()
        c = self.chart
        self.plot, self.value_axis, self.mode_combo = c.plot, c.value_axis, c.mode_combo
        self.train_bars, self.test_bars, self.under_bands = c.train_bars, c.test_bars, c.under_bands
        self.hover_label, self.threshold = c.hover_label, c.threshold
        self.export_chart_button = c.export_button
        self.export_chart_button.clicked.connect(lambda: self._export_dialog("chart"))
        chart_box = c

        # Under-represented classes.
        self.under_split = QComboBox()
        self.under_split.currentIndexChanged.connect(lambda _i: self._fill_under())
        self.under_table = QTableWidget(0, 4)
        self.under_table.setHorizontalHeaderLabels(["Class", "Images", "Share", "vs largest"])
        self.under_table.verticalHeader().hide()
        self.under_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.under_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.under_table.setAlternatingRowColors(True)
        self.under_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.under_table.cellDoubleClicked.connect(self._under_to_gallery)
        self.under_table.setToolTip("Double-click a class to see it in the Gallery")
        self.under_summary = QLabel()
        self.under_summary.setWordWrap(True)
        under_box = QGroupBox("Under-represented classes")
        ub = QVBoxLayout(under_box)
        r2 = QHBoxLayout()
        r2.addWidget(QLabel("Split:"))
        r2.addWidget(self.under_split, 1)
        ub.addLayout(r2)
        ub.addWidget(self.under_summary)
        ub.addWidget(self.under_table, 1)

        # Samples per class.
        self.sheet_split = QComboBox()
        self.sheet_split.currentIndexChanged.connect(lambda _i: self.resample(keep_seed=True))
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 30)
        self.n_spin.setValue(12)
        self.n_spin.setSuffix(" per class")
        self.n_spin.valueChanged.connect(lambda _v: self.resample(keep_seed=True))
        self.mean_check = QCheckBox("Mean image")
        self.mean_check.setChecked(True)
        self.mean_check.setToolTip("Average of 300 random images of each class")
        self.mean_check.toggled.connect(lambda _on: self.resample(keep_seed=True))
        self._means: dict[int, np.ndarray] = {}
        self._means_key: tuple[int, str] | None = None
        self.resample_button = QPushButton("Resample")
        self.resample_button.setToolTip("Draw new random samples")
        self.resample_button.clicked.connect(lambda: self.resample())
        self.export_sheet_button = QPushButton("Export PNG…")
        self.export_sheet_button.clicked.connect(lambda: self._export_dialog("sheet"))
        self.sheet = QLabel()
        self.sheet.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.sheet.setToolTip("Click an image to open it in the Gallery")
        self.sheet.installEventFilter(self)
        self.sheet_scroll = QScrollArea()
        self.sheet_scroll.setWidget(self.sheet)
        self.sheet_scroll.setWidgetResizable(True)
        self.sheet_scroll.setStyleSheet("QScrollArea{background:white;}")
        sheet_box = QGroupBox("Samples per class")
        sb = QVBoxLayout(sheet_box)
        r3 = QHBoxLayout()
        r3.addWidget(self.sheet_split)
        r3.addWidget(self.n_spin)
        r3.addWidget(self.mean_check)
        r3.addStretch(1)
        r3.addWidget(self.resample_button)
        r3.addWidget(self.export_sheet_button)
        sb.addLayout(r3)
        sb.addWidget(self.sheet_scroll, 1)

        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(under_box)
        bottom.addWidget(sheet_box)
        bottom.setSizes([420, 980])
        bottom.setChildrenCollapsible(False)
        vsplit = QSplitter(Qt.Orientation.Vertical)
        vsplit.addWidget(chart_box)
        vsplit.addWidget(bottom)
        vsplit.setSizes([400, 460])
        vsplit.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.addWidget(self.demo_banner)
        lay.addWidget(self.summary)
        lay.addWidget(vsplit, 1)

    # ---- data ----------------------------------------------------------------------------
    def set_dataset(self, ds: K49Dataset | None) -> None:
        self.ds = ds
        self.demo_banner.follow(ds)
        for combo in (self.under_split, self.sheet_split):
            combo.blockSignals(True)
            combo.clear()
            for s in ds.split_names if ds is not None else []:
                combo.addItem(s.capitalize(), s)
            combo.blockSignals(False)
        if ds is None or not ds.splits:
            self.table = self.under = None
            self.summary.setText("No data folder open.")
            self._draw_bars()
            self._fill_under()
            self.sheet.setPixmap(QPixmap())
            return
        self.table = class_table(ds)
        kind = "generated demo data" if ds.is_demo else "K49 data"
        parts = [f"{s}: {len(ds.splits[s]):,d}" for s in ds.split_names]
        empty = int((self.table["total"] == 0).sum())
        text = (f"<b>{ds.root}</b> ({kind}) — {len(ds):,d} images ({', '.join(parts)}), "
                f"{ds.n_classes} classes")
        if empty:
            text += f", <b>{empty}</b> with no images"
        self.summary.setText(text)
        self._draw_bars()
        self._fill_under()
        self.resample(keep_seed=True)

    def _draw_bars(self) -> None:
        ds = self.ds
        under: set[int] = set()
        if ds is not None and ds.splits:
            under = {int(i) for i in under_represented(ds)["index"]}
        self.chart.set_data(self.table, ds.split_names if ds is not None else [], under,
                            bool(ds is not None and ds.is_demo))

    @property
    def hover_text(self) -> str:
        return self.chart.hover_text

    def hover_at(self, cls: int) -> str:
        """The exact values shown when hovering class `cls` (also used by tests)."""
        return self.chart.hover_at(cls)

    def _on_mouse_moved(self, pos: object) -> None:
        self.chart.on_mouse_moved(pos)

    def _fill_under(self) -> None:
        split = self.under_split.currentData()
        self.under_table.setRowCount(0)
        if self.ds is None or not self.ds.splits or split is None:
            self.under = None
            self.under_summary.setText("")
            return
        self.under = under_represented(self.ds, split)
        largest = int(self.table[split].max()) if self.table is not None else 0
        font = hiragana_font(11)
        self.under_table.setRowCount(len(self.under))
        for r, row in enumerate(self.under.itertuples()):
            cells = [f"{row.char}  {row.romaji}", f"{int(row.count):,d}", f"{row.share:.2%}",
                     f"{row.ratio_to_largest:.0%}"]
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                it.setData(Qt.ItemDataRole.UserRole, int(row.index))
                if c == 0:
                    it.setFont(font)
                else:
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.under_table.setItem(r, c, it)
        n = len(self.under)
        self.under_summary.setText(
            f"{n} of {self.ds.n_classes} classes have fewer than "
            f"{UNDER_REPRESENTED_RATIO:.0%} of the largest class ({largest:,d} images) in {split}. "
            "Use balanced accuracy, class weights or a balanced sampler.")

    def _under_to_gallery(self, row: int, _col: int) -> None:
        it = self.under_table.item(row, 0)
        if it is not None:
            split = self.under_split.currentData() or "train"
            self.state.show_in_gallery(GalleryRequest(split=split, classes=[int(it.data(
                Qt.ItemDataRole.UserRole))]))

    # ---- samples sheet -------------------------------------------------------------------
    def resample(self, keep_seed: bool = False) -> None:
        """Draw the samples (and class means) on a worker thread, then render the sheet."""
        if not keep_seed:
            self.sample_seed += 1
        ds, split = self.ds, self.sheet_split.currentData()
        if ds is None or split is None:
            self.tasks.cancel("sheet")
            self.samples = {}
            self.sheet_pending = False
            self.sheet.setPixmap(QPixmap())
            return
        sp, n, seed = ds.splits[split], self.n_spin.value(), self.sample_seed
        key = (id(sp), split)
        want_means = self.mean_check.isChecked()
        cached = self._means if self._means_key == key else None

        def work(_progress: object, _should_stop: object) -> tuple:
            samples = pick_samples(sp.labels, ds.n_classes, n, seed)
            means = cached
            if want_means and means is None:
                means = class_means(sp.labels, sp.images, ds.n_classes)
            return key, samples, means

        self.sheet_pending = True
        # A new request supersedes the running one: its result is dropped by the owner.
        self.tasks.run("sheet", work, on_finished=self._sheet_computed,
                       on_failed=self._sheet_failed)

    def _sheet_computed(self, result: tuple) -> None:
        key, samples, means = result
        ds = self.ds
        assert ds is not None  # a dataset change re-samples, superseding this task
        if means is not None:
            self._means, self._means_key = means, key
        split = key[1]
        sp, n = ds.splits[split], self.n_spin.value()
        self.samples = samples
        self.sheet_image, self._sheet_hits = render_sheet(
            ds.classes, sp.images, sp.counts(ds.n_classes), samples, n, ds.is_demo,
            means if self.mean_check.isChecked() else None)
        self.sheet.setPixmap(QPixmap.fromImage(self.sheet_image))
        self.sheet.setFixedSize(self.sheet_image.size())
        self.sheet_pending = False
        self.sheet_ready.emit()

    def _sheet_failed(self, e: BaseException) -> None:
        self.sheet_pending = False
        self.state.status(f"Samples per class: {e}")

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        if obj is self.sheet and ev.type() == QEvent.Type.MouseButtonRelease:
            assert isinstance(ev, QMouseEvent)
            pt = ev.position().toPoint()
            hit = self.sample_at(pt.x(), pt.y())
            if hit is not None:
                c, idx = hit
                split = self.sheet_split.currentData() or "train"
                self.state.show_in_gallery(GalleryRequest(split=split, classes=[c], select=idx))
                return True
        return super().eventFilter(obj, ev)

    def sample_at(self, x: int, y: int) -> tuple[int, int] | None:
        for hx, hy, hw, hh, c, idx in self._sheet_hits:
            if hx <= x < hx + hw and hy <= y < hy + hh:
                return c, idx
        return None

    # ---- export --------------------------------------------------------------------------
    def export_png(self, path: str | Path, which: str = "chart") -> Path:
        """Write the class chart ("chart") or the samples sheet ("sheet") as PNG."""
        if which == "chart":
            image = self.chart.export_image()  # the plot with its train/test legend
        elif which == "sheet":
            image = self.sheet.pixmap().toImage()
        else:
            raise ValueError(f"unknown chart {which!r}")
        if self.ds is None or image.isNull() or (which == "sheet" and self.sheet_pending):
            what = "samples sheet" if which == "sheet" else "chart"
            raise K49Error(f"{Path(path).name}: nothing to export yet: the {what} is "
                           + ("still being drawn; try again in a moment" if self.ds is not None
                              else "empty (no data folder is open)"))
        return save_image(image, path)

    def _export_dialog(self, which: str) -> None:
        name = "k49-images-per-class.png" if which == "chart" else "k49-samples-per-class.png"
        export_with_dialog(self, "Export PNG", name, "PNG image (*.png)",
                           lambda p: self.export_png(p, which), self.state.status)

    def export_actions(self) -> list[tuple[str, object]]:
        if self.ds is None:
            return []
        return [("Images per class (PNG)…", lambda: self._export_dialog("chart")),
                ("Samples per class (PNG)…", lambda: self._export_dialog("sheet"))]
