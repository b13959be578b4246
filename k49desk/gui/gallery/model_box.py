"""The Gallery's "Model predictions" box, under the class list: filter and sort by the current
model's outputs (predicted class, prediction ≠ label, a confidence range, highest loss first),
with the progress of the pass that computes them, and why the filters are disabled when they
cannot work (no model, no folder)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from k49desk.core.classes import OFFICIAL_CLASSES, ClassInfo
from k49desk.core.progress import ProgressUpdate
from k49desk.gui.gallery.model_query import SORTS, OutputQuery

MUTED = "#4b5563"
NO_MODEL = ("No model loaded: these filters need one. Train a model or load a checkpoint "
            "(Model menu).")
NO_DATA = "Open a data folder to filter by the model's predictions."
NOT_COMPUTED = "The model's predictions for this folder are not computed."


class ModelBox(QGroupBox):
    changed = Signal(object)  # OutputQuery, when the person changes a widget
    compute_clicked = Signal()
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model predictions", parent)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet(f"color:{MUTED};")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumHeight(16)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop computing the predictions (what is cached stays)")
        self.compute_button = QPushButton("Compute")
        self.compute_button.setToolTip("Run the model once over every image of the folder "
                                       "(in the background; cached for next time)")
        self.predicted_combo = QComboBox()
        self.predicted_combo.setMaxVisibleItems(20)
        self.predicted_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.predicted_combo.setMinimumContentsLength(8)
        self.predicted_combo.setToolTip("Only images the model assigns to this class")
        self.disagree_check = QCheckBox("Prediction ≠ label")
        self.disagree_check.setToolTip("Only images whose predicted class differs from their "
                                       "label in the data")
        self.conf_lo, self.conf_hi = QDoubleSpinBox(), QDoubleSpinBox()
        for box, value in ((self.conf_lo, 0.0), (self.conf_hi, 1.0)):
            box.setRange(0.0, 1.0)
            box.setSingleStep(0.05)
            box.setDecimals(2)
            box.setValue(value)
            box.setToolTip("Confidence: the probability of the predicted class")
        self.sort_combo = QComboBox()
        self.sort_combo.addItem("Gallery order", None)
        for key, (_f, _d, text, _w) in SORTS.items():
            self.sort_combo.addItem(text, key)
        self.sort_combo.setToolTip("Order the images by the model's view of them")
        self.set_classes(OFFICIAL_CLASSES)
        run = QHBoxLayout()
        run.setContentsMargins(0, 0, 0, 0)
        run.addWidget(self.progress, 1)
        run.addWidget(self.cancel_button)
        run.addWidget(self.compute_button)
        conf = QHBoxLayout()
        conf.setContentsMargins(0, 0, 0, 0)
        conf.addWidget(self.conf_lo)
        conf.addWidget(QLabel("to"))
        conf.addWidget(self.conf_hi)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setVerticalSpacing(3)
        grid.addWidget(self.status, 0, 0, 1, 2)
        grid.addLayout(run, 1, 0, 1, 2)
        grid.addWidget(QLabel("Predicted:"), 2, 0)
        grid.addWidget(self.predicted_combo, 2, 1)
        grid.addWidget(self.disagree_check, 3, 0, 1, 2)
        grid.addWidget(QLabel("Confidence:"), 4, 0)
        grid.addLayout(conf, 4, 1)
        grid.addWidget(QLabel("Sort:"), 5, 0)
        grid.addWidget(self.sort_combo, 5, 1)
        grid.setColumnStretch(1, 1)
        self._controls = (self.predicted_combo, self.disagree_check, self.conf_lo, self.conf_hi,
                          self.sort_combo)
        self._tips = {w: w.toolTip() for w in self._controls}
        self.predicted_combo.activated.connect(self._emit)
        self.sort_combo.activated.connect(self._emit)
        self.disagree_check.toggled.connect(self._emit)
        self.conf_lo.valueChanged.connect(self._emit)
        self.conf_hi.valueChanged.connect(self._emit)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self.compute_button.clicked.connect(self.compute_clicked)
        self._quiet = False
        self.show_state(NO_MODEL)

    def set_classes(self, classes: Sequence[ClassInfo]) -> None:
        cur = self.predicted_combo.currentData()
        self.predicted_combo.blockSignals(True)
        self.predicted_combo.clear()
        self.predicted_combo.addItem("any class", None)
        for c in classes:
            self.predicted_combo.addItem(c.label, c.index)
        self.predicted_combo.setCurrentIndex(max(0, self.predicted_combo.findData(cur)))
        self.predicted_combo.blockSignals(False)

    # ---- the query ----------------------------------------------------------------------
    def query(self) -> OutputQuery:
        lo, hi = self.conf_lo.value(), self.conf_hi.value()
        p = self.predicted_combo.currentData()
        return OutputQuery(predicted=None if p is None else (int(p),),
                           disagree=self.disagree_check.isChecked(),
                           confidence=(min(lo, hi), max(lo, hi)),
                           sort=self.sort_combo.currentData())

    def set_query(self, q: OutputQuery) -> None:
        """Show `q` without emitting `changed` (the Gallery's query is the truth)."""
        self._quiet = True
        try:
            p = None if q.predicted is None else q.predicted[0]
            self.predicted_combo.setCurrentIndex(max(0, self.predicted_combo.findData(p)))
            self.disagree_check.setChecked(q.disagree)
            self.conf_lo.setValue(q.confidence[0])
            self.conf_hi.setValue(q.confidence[1])
            self.sort_combo.setCurrentIndex(max(0, self.sort_combo.findData(q.sort)))
        finally:
            self._quiet = False

    def _emit(self, *_args: object) -> None:
        if not self._quiet:
            self.changed.emit(self.query())

    # ---- state --------------------------------------------------------------------------
    def show_state(self, text: str, *, enabled: bool = False, busy: bool = False,
                   can_compute: bool = False) -> None:
        """A line of status, and whether the filters work (else the line says why)."""
        self.status.setText(text)
        self.status.setToolTip(text)
        for w in self._controls:
            w.setEnabled(enabled)
            w.setToolTip(self._tips[w] if enabled else text)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.compute_button.setVisible(can_compute and not busy)
        if busy and self.progress.value() <= 0:
            self.progress.setRange(0, 0)

    def show_progress(self, u: ProgressUpdate) -> None:
        if u.fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(max(0.0, min(1.0, u.fraction)) * 1000))
        if u.text:
            self.status.setText(u.text)


def ready_text(n_images: int, cached: bool, seconds: float) -> str:
    how = "from the cache" if cached else f"computed in {seconds:.0f} s"
    return f"Predictions for {n_images:,d} images ({how})."

