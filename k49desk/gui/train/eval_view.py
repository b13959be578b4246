"""Evaluation view: the current model on the test split, from the headline number down to
the pictures behind each number (click a bar or a confusion cell).

`evaluate` runs in the background whenever the model or the data changed and the view is
visible (or on request); while it runs nothing of the previous result is shown. Its
`EvalResult` feeds the header, the plots, the precision/recall/F1 table and the CSV exports,
and is recorded beside the checkpoint (`runs.record_evaluation`) so Saved runs shows it.
The three views are tabs, inside a scroll area: each gets the whole width at 1024x700, and
a smaller window scrolls instead of cutting the plots off.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from k49desk.core import runs
from k49desk.core.atomic import atomic_write_text
from k49desk.core.classes import OFFICIAL_CLASSES, ClassInfo
from k49desk.core.errors import K49Error
from k49desk.core.progress import ProgressUpdate
from k49desk.gui.common.errors import show_error
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.common.state import AppState, GalleryRequest
from k49desk.gui.common.tasks import TaskOwner
from k49desk.gui.train.eval_parts import STRIP_MAX, FitScrollArea, ImageStrip, title_label, titled
from k49desk.gui.train.eval_plots import REFERENCES, ClassBarChart, ConfusionPlot
from k49desk.gui.train.eval_tables import (
    MetricsTable,
    confusion_table,
    per_class_table,
)

MIN_BODY = (520, 430)  # below this the view scrolls rather than squeezing the plots
HEADLINE_STYLE = "font-size: 24px; font-weight: bold; color: {};"


class EvalView(QWidget):
    evaluated = Signal(object)  # EvalResult, after the view shows it

    def __init__(self, state: AppState, tasks: TaskOwner | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        # The Train panel's task owner (slot "evaluate"); standing alone, its own.
        self.tasks = tasks if tasks is not None else TaskOwner(self, state.status)
        self.result: Any = None
        self.classes: tuple[ClassInfo, ...] = OFFICIAL_CLASSES
        self._key: tuple | None = None  # what the shown result was computed for
        self._pending_request: GalleryRequest | None = None

        self.headline = QLabel("—")
        self.headline.setStyleSheet(HEADLINE_STYLE.format("#1f77b4"))
        self.headline.setToolTip("Published balanced accuracy on K49: " + " · ".join(
            f"{n} {100 * v:.2f}%" for n, v in REFERENCES))
        self.subline = QLabel("No evaluation yet.")
        self.subline.setWordWrap(True)
        self.eval_btn = QPushButton("Evaluate")
        self.eval_btn.setToolTip("Evaluate the current model on the test split again")
        self.eval_btn.clicked.connect(self.evaluate_now)
        top = QHBoxLayout()
        top.addWidget(self.headline, 1)
        top.addWidget(self.eval_btn)

        self.bars = ClassBarChart()
        self.bars_title = title_label("Per-class accuracy on the test split, worst first; dashed "
                                 "lines: published results")
        self.confusion = ConfusionPlot()
        self.cm_title = title_label(self.confusion.title())
        self.mode_box = QComboBox()
        self.mode_box.addItem("Row-normalised", False)
        self.mode_box.addItem("Counts", True)
        self.mode_box.setToolTip("Colour each cell by its share of the true class's images, "
                                 "or by the number of images")
        self.mode_box.currentIndexChanged.connect(self._on_mode)
        self.log_box = QCheckBox("Log colour")
        self.log_box.setToolTip("Colour the confusion matrix on a log scale: rare confusions show")
        self.log_box.toggled.connect(self._on_log)
        self.cm_btn = QPushButton("Export CSV…")
        self.cm_btn.setToolTip("The confusion matrix as counts, rows true, columns predicted")
        self.cm_btn.clicked.connect(lambda: self._export_dialog("confusion"))
        cm_row = QHBoxLayout()
        cm_row.addWidget(self.cm_title, 1)
        for w in (self.mode_box, self.log_box, self.cm_btn):
            cm_row.addWidget(w)
        cm_page = QWidget()
        cl = QVBoxLayout(cm_page)
        cl.setContentsMargins(4, 4, 4, 4)
        cl.addLayout(cm_row)
        cl.addWidget(self.confusion, 1)
        self.metrics = MetricsTable(lambda: self._export_dialog("per-class"))
        self.per_class_btn = self.metrics.export_btn
        self.views = QTabWidget()
        self.views.addTab(titled(self.bars_title, self.bars), "Per-class accuracy")
        self.views.addTab(cm_page, "Confusion matrix")
        self.views.addTab(self.metrics, "Precision / recall / F1")
        self.bars.hovered.connect(self._on_bar_hover)
        self.bars.clicked.connect(lambda c: self.show_class_errors(c))
        self.confusion.hovered.connect(self._on_cell_hover)
        self.confusion.clicked.connect(lambda i, j: self.show_pair(i, j))

        self.info = QLabel("Hover over a bar or a cell; click it to see the images behind it.")
        self.info.setFont(hiragana_font(11))
        self.info.setWordWrap(True)
        self.strip_box = ImageStrip()  # shown once a number was clicked
        self.strip_title, self.strip = self.strip_box.title, self.strip_box.strip
        self.gallery_btn = self.strip_box.gallery_btn
        self.gallery_btn.clicked.connect(self.open_pending_in_gallery)

        body = QWidget()
        body.setMinimumSize(*MIN_BODY)
        lay = QVBoxLayout(body)
        lay.addLayout(top)
        lay.addWidget(self.subline)
        lay.addWidget(self.views, 1)
        lay.addWidget(self.info)
        lay.addWidget(self.strip_box)
        self.scroll = FitScrollArea(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)

        state.model_changed.connect(lambda _m: self._on_inputs_changed())
        state.dataset_changed.connect(lambda _d: self._on_inputs_changed())
        self._set_exports_enabled(False)

    # ---- when to evaluate ---------------------------------------------------------------
    def _inputs_key(self) -> tuple | None:
        ds, m = self.state.dataset, self.state.model
        if ds is None or m is None or "test" not in ds.splits or not len(ds.splits["test"]):
            return None
        return (id(m), str(self.state.model_path), str(ds.root), ds.splits["test"].fingerprint)

    def _on_inputs_changed(self) -> None:
        if self._inputs_key() == self._key:
            return
        self.tasks.cancel("evaluate")  # it was for the previous model or folder
        if self._inputs_key() is None:
            self._explain_missing()
        elif self.isVisible():
            self.evaluate_now()
        else:  # evaluated when shown; until then the old numbers must not stay up
            self._clear("Not evaluated yet: the model or the data changed.")

    def on_shown(self) -> None:
        if self._inputs_key() != self._key:
            self.evaluate_now()

    def showEvent(self, event: object) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)  # type: ignore[arg-type]
        self.on_shown()

    def _explain_missing(self) -> None:
        ds, m = self.state.dataset, self.state.model
        if m is None:
            msg = "No model yet: train one (Training tab) or load a checkpoint (Model menu)."
        elif ds is None:
            msg = "Open a data folder to evaluate the model on its test split."
        else:
            msg = f"{ds.root} has no test images to evaluate on."
        self._clear(msg)

    def _clear(self, message: str, headline: str = "—") -> None:
        """Show no result (an old one would be read as the new model's)."""
        self.result = None
        self._key = None
        self.headline.setText(headline)
        self.headline.setStyleSheet(HEADLINE_STYLE.format("#888"))
        self.subline.setText(message)
        self.bars.clear_data()
        self.confusion.clear_data()
        self.metrics.set_frame(None)
        self._set_exports_enabled(False)
        self.strip_box.hide()
        self._pending_request = None

    def evaluate_now(self) -> bool:
        """Evaluate the current model on the test split in the background."""
        key = self._inputs_key()
        if key is None:
            self._explain_missing()
            return False
        model, path = self.state.model, self.state.model_path
        ds = self.state.dataset
        test = ds.split("test")
        self.classes = tuple(ds.classes)
        name = Path(path).name if path else "the current model"
        self._clear(f"Evaluating {name} on {len(test):,d} test images…", "Evaluating…")
        self.eval_btn.setEnabled(False)
        fp, data_dir = test.fingerprint, str(Path(ds.root).resolve())

        def work(progress: Any, should_stop: Any) -> Any:
            from k49desk.core.training import evaluate

            r = evaluate(model, np.asarray(test.images), np.asarray(test.labels),
                         progress=progress, should_stop=should_stop)
            # Saved runs shows it: recorded beside a listed checkpoint, never inside it.
            if path is not None and fp and runs.is_listed(path) and Path(path).is_file():
                try:
                    runs.record_evaluation(path, fp, balanced_accuracy=r.balanced_accuracy,
                                           accuracy=r.accuracy, n=r.n, data_dir=data_dir)
                except K49Error:  # a read-only models folder: the result is still shown
                    pass
            return r

        def failed(e: BaseException) -> None:
            self._clear(f"Evaluation failed: {e}")
            self.tasks.report("Evaluation failed", e)

        def progress(u: ProgressUpdate) -> None:
            if u.fraction is not None:
                self.subline.setText(f"Evaluating {name} on {len(test):,d} test images… "
                                     f"{u.fraction:.0%}")

        # A newer evaluation (another model, another folder) supersedes this one.
        self.tasks.run("evaluate", work, on_progress=progress,
                       on_finished=lambda res: self._show(res, key), on_failed=failed,
                       on_cancelled=lambda: self._clear("Evaluation stopped."),
                       on_done=lambda: self.eval_btn.setEnabled(True))
        return True

    # ---- display ------------------------------------------------------------------------
    def _show(self, res: Any, key: tuple) -> None:
        self.result = res
        self._key = key
        absent = [self.classes[c].char for c in np.flatnonzero(np.isnan(res.per_class))]
        self.headline.setText(f"Balanced accuracy {100 * res.balanced_accuracy:.2f}%")
        self.headline.setStyleSheet(HEADLINE_STYLE.format("#1f77b4"))
        name = Path(self.state.model_path).name if self.state.model_path else "current model"
        sub = (f"accuracy {100 * res.accuracy:.2f}% · {res.n:,d} test images · "
               f"{len(res.per_class) - len(absent)} classes · model {name}")
        if absent:
            sub += f" · absent from the test split ({len(absent)}): {' '.join(absent)}"
        self.subline.setText(sub)
        self.bars.set_data(res.per_class, self.classes, res.balanced_accuracy)
        self.confusion.set_data(res.confusion, self.classes)
        self.metrics.set_frame(per_class_table(res, self.classes))
        self._set_exports_enabled(True)
        self.evaluated.emit(res)

    def _set_exports_enabled(self, on: bool) -> None:
        self.per_class_btn.setEnabled(on)
        self.cm_btn.setEnabled(on)

    def _on_mode(self) -> None:
        self.confusion.set_counts(bool(self.mode_box.currentData()))
        self.cm_title.setText(self.confusion.title())

    def _on_log(self, on: bool) -> None:
        self.confusion.set_log_scale(on)
        self.cm_title.setText(self.confusion.title())

    def _label(self, c: int) -> str:
        return self.classes[c].label

    def bar_text(self, c: int) -> str:
        """What hovering class c's bar says (and whether a click has anything to show)."""
        n = int(self.result.support[c])
        if n == 0:
            return f"{self._label(c)}: absent from the test split"
        wrong = n - int(self.result.confusion[c, c])
        if wrong == 0:
            return f"{self._label(c)}: all {n:,d} test images correct, no mistakes"
        row = self.result.confusion[c].copy()
        row[c] = 0
        worst = int(row.argmax())
        return (f"{self._label(c)}: {100 * self.result.per_class[c]:.2f}% of {n:,d} correct, "
                f"{wrong:,d} wrong; most often taken for {self._label(worst)} "
                f"({int(row[worst])}) — click to see the mistakes")

    def _on_bar_hover(self, c: int) -> None:
        if c >= 0 and self.result is not None:
            self.info.setText(self.bar_text(c))

    def _on_cell_hover(self, i: int, j: int) -> None:
        if i >= 0 and self.result is not None:
            n = int(self.result.confusion[i, j])
            self.info.setText(self.confusion.tip_text(i, j).replace("\n", " · ")
                              + (" — click to see them" if n else ""))

    # ---- from a number to the pictures --------------------------------------------------
    def _test_labels(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.state.dataset.split("test").labels), self.result.predictions

    def pair_indices(self, i: int, j: int) -> np.ndarray:
        y, pred = self._test_labels()
        return np.flatnonzero((y == i) & (pred == j))

    def show_pair(self, i: int, j: int, in_gallery: bool = False) -> GalleryRequest | None:
        """Images of true class i predicted as j: inline strip, and the Gallery if asked."""
        if self.result is None or self.state.dataset is None:
            return None
        idx = self.pair_indices(i, j)
        ci, cj = self.classes[i].char, self.classes[j].char
        verb = "correctly predicted" if i == j else "predicted"
        req = GalleryRequest(split="test", indices=idx,
                             captions={int(k): f"pred {cj} / true {ci}" for k in idx},
                             title=f"true {ci} → {verb} {cj} ({len(idx)})")
        return self._offer(req, in_gallery)

    def show_class_errors(self, c: int, in_gallery: bool = False) -> GalleryRequest | None:
        """Every misclassified test image of class c, captioned with its prediction."""
        if self.result is None or self.state.dataset is None:
            return None
        y, pred = self._test_labels()
        idx = np.flatnonzero((y == c) & (pred != c))
        ch = self.classes[c].char
        req = GalleryRequest(split="test", indices=idx,
                             captions={int(k): f"pred {self.classes[int(pred[k])].char} / "
                                               f"true {ch}" for k in idx},
                             title=f"true {ch}: misclassified ({len(idx)})")
        return self._offer(req, in_gallery)

    def _offer(self, req: GalleryRequest, in_gallery: bool) -> GalleryRequest:
        self._pending_request = req
        idx = req.indices if req.indices is not None else np.zeros(0, np.int64)
        imgs = np.asarray(self.state.dataset.split("test").images[idx[:STRIP_MAX]])
        self.strip_box.show_images(req.title, imgs, len(idx), self.width())
        if in_gallery and len(idx):
            self.state.show_in_gallery(req)
        return req

    def open_pending_in_gallery(self) -> None:
        if self._pending_request is not None:
            self.state.show_in_gallery(self._pending_request)

    # ---- export -------------------------------------------------------------------------
    def per_class_csv(self) -> str:
        buf = io.StringIO()
        per_class_table(self.result, self.classes).to_csv(buf, index=False, float_format="%.6f")
        return buf.getvalue()

    def confusion_csv(self) -> str:
        buf = io.StringIO()
        confusion_table(self.result, self.classes).to_csv(buf)
        return buf.getvalue()

    def export_per_class_csv(self, path: str | Path) -> None:
        atomic_write_text(path, self.per_class_csv())

    def export_confusion_csv(self, path: str | Path) -> None:
        atomic_write_text(path, self.confusion_csv())

    def _export_dialog(self, kind: str) -> None:
        if self.result is None:
            return
        stem = Path(self.state.model_path).stem if self.state.model_path else "model"
        f, _ = QFileDialog.getSaveFileName(self, f"Export {kind} CSV",
                                           str(Path.home() / f"{stem}-{kind}.csv"), "CSV (*.csv)")
        if not f:
            return
        try:
            (self.export_per_class_csv if kind == "per-class" else self.export_confusion_csv)(f)
        except (K49Error, OSError) as e:
            show_error(self, "Export failed", e)
            return
        self.state.status(f"Saved {f}")
