"""Evaluation view: the current model on the test split, from the headline number down to
the pictures behind each number (click a bar or a confusion cell).

`evaluate` runs in the background whenever the model or the data changed and the view is
visible (or on request); its `EvalResult` feeds the header, the plots and the CSV exports.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.atomic import atomic_write_text
from k49desk.core.classes import OFFICIAL_CLASSES, ClassInfo
from k49desk.core.errors import K49Error
from k49desk.core.progress import ProgressUpdate
from k49desk.gui.common.errors import show_error
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.common.state import AppState, GalleryRequest
from k49desk.gui.common.tasks import TaskOwner
from k49desk.gui.train.eval_plots import REFERENCES, ClassBarChart, ConfusionPlot

STRIP_MAX = 36  # images in the inline strip; the Gallery shows all of them


def per_class_table(result: Any, classes: tuple[ClassInfo, ...]) -> pd.DataFrame:
    """One row per class: support, correct, accuracy (NaN if absent), most confused with."""
    cm = np.asarray(result.confusion, np.int64)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    worst = off.argmax(1)
    rows = []
    for c in range(cm.shape[0]):
        n = int(cm[c].sum())
        rows.append({
            "index": c, "char": classes[c].char, "romaji": classes[c].romaji, "support": n,
            "correct": int(cm[c, c]),
            "accuracy": float(result.per_class[c]) if n else np.nan,
            "most_confused_with": classes[int(worst[c])].char if off[c].max() > 0 else "",
            "most_confused_count": int(off[c].max()),
        })
    return pd.DataFrame(rows)


def confusion_table(result: Any, classes: tuple[ClassInfo, ...]) -> pd.DataFrame:
    cm = np.asarray(result.confusion, np.int64)
    labels = [f"{c.index} {c.char}" for c in classes[:cm.shape[0]]]
    df = pd.DataFrame(cm, index=pd.Index(labels, name="true \\ predicted"), columns=labels)
    return df


def mosaic(images: np.ndarray, cols: int = 12, scale: int = 2) -> QImage:
    """uint8 (N, 28, 28) -> one grayscale QImage grid (one pixmap, not N widgets)."""
    n = len(images)
    rows = max(1, -(-n // cols))
    pad = 2
    cell = 28 + pad
    grid = np.full((rows * cell + pad, min(n, cols) * cell + pad), 60, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        grid[pad + r * cell: pad + r * cell + 28, pad + c * cell: pad + c * cell + 28] = img
    grid = np.ascontiguousarray(np.kron(grid, np.ones((scale, scale), np.uint8)))
    qimg = QImage(grid.data, grid.shape[1], grid.shape[0], grid.strides[0],
                  QImage.Format.Format_Grayscale8)
    return qimg.copy()  # detach from the numpy buffer


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
        self._pending: list[int] = []  # the images behind the last clicked number
        self._pending_request: GalleryRequest | None = None

        self.headline = QLabel("—")
        self.headline.setStyleSheet("font-size: 30px; font-weight: bold; color: #1f77b4;")
        self.subline = QLabel("No evaluation yet.")
        self.subline.setWordWrap(True)
        self.reference = QLabel("Published balanced accuracy: " + " · ".join(
            f"{n} {100 * v:.2f}%" for n, v in REFERENCES))
        self.reference.setStyleSheet("color: #555;")
        self.reference.setWordWrap(True)
        self.eval_btn = QPushButton("Evaluate")
        self.eval_btn.setToolTip("Evaluate the current model on the test split again")
        self.eval_btn.clicked.connect(self.evaluate_now)
        self.log_box = QCheckBox("Log colour")
        self.log_box.setToolTip("Colour the confusion matrix on a log scale: rare confusions show")
        self.log_box.toggled.connect(lambda on: self.confusion.set_log_scale(on))
        self.per_class_btn = QPushButton("Export per-class CSV…")
        self.per_class_btn.clicked.connect(lambda: self._export_dialog("per-class"))
        self.cm_btn = QPushButton("Export confusion CSV…")
        self.cm_btn.clicked.connect(lambda: self._export_dialog("confusion"))
        head = QVBoxLayout()
        head.addWidget(self.headline)
        head.addWidget(self.subline)
        head.addWidget(self.reference)
        top = QHBoxLayout()
        for w in (self.eval_btn, self.log_box):
            top.addWidget(w)
        top.addStretch(1)
        for w in (self.per_class_btn, self.cm_btn):
            top.addWidget(w)
        head.addLayout(top)

        self.bars = ClassBarChart()
        self.confusion = ConfusionPlot()
        self.bars.hovered.connect(self._on_bar_hover)
        self.bars.clicked.connect(lambda c: self.show_class_errors(c))
        self.confusion.hovered.connect(self._on_cell_hover)
        self.confusion.clicked.connect(lambda i, j: self.show_pair(i, j))
        self.info = QLabel("Hover over a bar or a cell; click it to see the images behind it.")
        self.info.setFont(hiragana_font(11))
        self.strip_title = QLabel()
        self.strip_title.setFont(hiragana_font(11))
        self.strip = QLabel()
        self.strip.setMinimumHeight(70)
        # A wide mosaic must not dictate the view's minimum width (it is cut, not squeezed).
        self.strip.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        for lab in (self.info, self.strip_title):
            lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.strip.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.gallery_btn = QPushButton("Open in Gallery")
        self.gallery_btn.setToolTip("Show all these test images in the Gallery")
        self.gallery_btn.clicked.connect(self.open_pending_in_gallery)
        self.gallery_btn.setEnabled(False)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.bars)
        split.addWidget(self.confusion)
        split.setSizes([600, 520])
        srow = QHBoxLayout()
        srow.addWidget(self.strip_title, 1)
        srow.addWidget(self.gallery_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(split, 1)
        lay.addWidget(self.info)
        lay.addLayout(srow)
        lay.addWidget(self.strip)

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
        self.headline.setText("—")
        self.subline.setText(msg)

    def evaluate_now(self) -> bool:
        """Evaluate the current model on the test split in the background."""
        key = self._inputs_key()
        if key is None:
            self._explain_missing()
            return False
        model = self.state.model
        test = self.state.dataset.split("test")
        self.classes = tuple(self.state.dataset.classes)
        self.subline.setText(f"Evaluating on {len(test):,d} test images…")
        self.eval_btn.setEnabled(False)

        def work(progress: Any, should_stop: Any) -> Any:
            from k49desk.core.training import evaluate

            return evaluate(model, np.asarray(test.images), np.asarray(test.labels),
                            progress=progress, should_stop=should_stop)

        def done(res: object) -> None:
            self._show(res, key)

        def failed(e: BaseException) -> None:
            self.subline.setText(f"Evaluation failed: {e}")
            self.tasks.report("Evaluation failed", e)

        def progress(u: ProgressUpdate) -> None:
            if u.fraction is not None:
                self.subline.setText(f"Evaluating on {len(test):,d} test images… "
                                     f"{u.fraction:.0%}")

        # A newer evaluation (another model, another folder) supersedes this one.
        self.tasks.run("evaluate", work, on_progress=progress, on_finished=done,
                       on_failed=failed, on_done=lambda: self.eval_btn.setEnabled(True))
        return True

    # ---- display ------------------------------------------------------------------------
    def _show(self, res: Any, key: tuple) -> None:
        self.result = res
        self._key = key
        absent = [self.classes[c].char for c in np.flatnonzero(np.isnan(res.per_class))]
        self.headline.setText(f"Balanced accuracy {100 * res.balanced_accuracy:.2f}%")
        name = Path(self.state.model_path).name if self.state.model_path else "current model"
        sub = (f"accuracy {100 * res.accuracy:.2f}% · {res.n:,d} test images · "
               f"{len(res.per_class) - len(absent)} classes · model {name}")
        if absent:
            sub += f" · absent from the test split ({len(absent)}): {' '.join(absent)}"
        self.subline.setText(sub)
        self.bars.set_data(res.per_class, self.classes, res.balanced_accuracy)
        self.confusion.set_data(res.confusion, self.classes)
        self._set_exports_enabled(True)
        self.evaluated.emit(res)

    def _set_exports_enabled(self, on: bool) -> None:
        self.per_class_btn.setEnabled(on)
        self.cm_btn.setEnabled(on)

    def _label(self, c: int) -> str:
        return self.classes[c].label

    def _on_bar_hover(self, c: int) -> None:
        if c < 0 or self.result is None:
            return
        n = int(self.result.support[c])
        if n == 0:
            self.info.setText(f"{self._label(c)}: absent from the test split")
            return
        row = self.result.confusion[c].copy()
        row[c] = 0
        worst = int(row.argmax())
        txt = (f"{self._label(c)}: {100 * self.result.per_class[c]:.2f}% of {n:,d} correct, "
               f"{n - int(self.result.confusion[c, c]):,d} wrong")
        if row[worst]:
            txt += f"; most often taken for {self._label(worst)} ({int(row[worst])})"
        self.info.setText(txt + " — click to see the mistakes")

    def _on_cell_hover(self, i: int, j: int) -> None:
        if i < 0 or self.result is None:
            return
        n = int(self.result.support[i])
        count = int(self.result.confusion[i, j])
        share = f" ({100 * count / n:.1f}% of {n:,d})" if n else " (class absent from the split)"
        self.info.setText(f"true {self._label(i)} → predicted {self._label(j)}: "
                          f"{count:,d} images{share}")
        self.confusion.setToolTip(self.info.text())

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
        self.strip_title.setText(req.title + (f" — first {STRIP_MAX} shown" if len(idx) >
                                              STRIP_MAX else ""))
        if len(idx):
            imgs = np.asarray(self.state.dataset.split("test").images[idx[:STRIP_MAX]])
            cols = max(6, (max(self.width(), 400) - 20) // 60)  # 28 px x2 + padding per cell
            self.strip.setPixmap(QPixmap.fromImage(mosaic(imgs, cols=cols)))
        else:
            self.strip.setPixmap(QPixmap())
            self.strip.setText("(no images)")
        self.gallery_btn.setEnabled(len(idx) > 0)
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
