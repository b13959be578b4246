"""Draw tab: a canvas, live top-5 recognition, and the 28x28 image the model is given.

Recognition runs on the panel's own worker thread (`Recogniser`), latest request wins: while
one inference runs, further requests collapse into one that starts when it ends.
Preprocessing plus one forward pass is a few ms, but on a shared 2-core machine a single call
can take tens of ms, and the pen must never wait for it (benchmarks/bench_draw.py).
"""

from __future__ import annotations

import atexit
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSlider,
    QStackedWidget,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.inference import preprocess, topk
from k49desk.gui.common.state import AppState, GalleryRequest
from k49desk.gui.draw.canvas import (
    DEFAULT_PEN,
    MAX_PEN,
    MIN_PEN,
    REFERENCE_SIDE,
    DrawCanvas,
)
from k49desk.gui.draw.strokes import Stroke
from k49desk.gui.draw.widgets import ROW_H, SIDE_W, CandidateButton, PixelView

LIVE_INTERVAL_MS = 80  # live updates while drawing: at most ~12 per second
TOP_K = 5
WARN = "#b45309"


_THREADS: set[QThread] = set()  # recogniser threads still running


@atexit.register
def _stop_threads() -> None:
    for t in list(_THREADS):
        t.quit()
        t.wait(2000)


def recognise(canvas_img: np.ndarray, model: Any) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """Canvas pixels (white on black) -> (28x28 model input, top-5 or [] without a model)."""
    img28 = preprocess(canvas_img, invert=False)
    if model is None or not img28.any():
        return img28, []
    return img28, topk(model, img28, TOP_K)


def card_summary(model: Any) -> tuple[str, bool]:
    """One line for the model card, and whether the model was trained on generated data."""
    metrics = getattr(model, "metrics", {}) or {}
    trained_on = str(getattr(model, "trained_on", "") or "")
    data = metrics.get("data") if isinstance(metrics.get("data"), dict) else {}
    is_demo = bool(data.get("is_demo")) or "not k49" in trained_on.lower()
    path = getattr(model, "path", None)
    name = path.name if path is not None else "unsaved model"
    parts = [name]
    if data.get("data_dir"):
        parts.append(f"trained on {str(data['data_dir']).rstrip('/').rsplit('/', 1)[-1]}")
    elif trained_on:
        parts.append(f"trained on {trained_on.split(' (')[0].rsplit('/', 1)[-1]}")
    for key, what in (("test_balanced_accuracy", "test"), ("val_balanced_accuracy", "val")):
        v = metrics.get(key)
        if isinstance(v, int | float):
            parts.append(f"balanced accuracy {v:.1%} ({what})")
            break
    return " · ".join(parts), is_demo


class Recogniser(QObject):
    """Lives on the panel's own long-lived QThread and runs `recognise` for each request.

    One thread for the panel's lifetime instead of `run_task` per request: measured under
    load, starting a thread per stroke cost ~4 ms plus torch's per-thread set-up inside
    the ~12 ms compute, and stroke end -> top-5 went over the 30 ms budget.
    """

    finished = Signal(int, object)  # seq, (img28, top-k)
    failed = Signal(int, object)  # seq, exception

    @Slot(int, object, object)
    def run(self, seq: int, img: np.ndarray, model: Any) -> None:
        try:
            result = recognise(img, model)
        except Exception as e:  # noqa: BLE001  (shown in the panel, never lost)
            self.failed.emit(seq, e)
        else:
            self.finished.emit(seq, result)

    @Slot(object)
    def warm_up(self, model: Any) -> None:
        """One throw-away recognition of a small cross: the first call through preprocess
        and torch on a thread was ~45 ms slower than the next (measured), so pay it when the
        model arrives rather than at the user's first stroke."""
        img = np.zeros((280, 280), np.uint8)
        img[60:220, 130:150] = 255
        img[110:130, 60:220] = 255
        try:
            recognise(img, model)
        except Exception:  # noqa: BLE001  (a broken model shows its error on first use)
            pass


class DrawPanel(QWidget):
    predictions_updated = Signal()  # the top-5 and the 28x28 view show a new result
    _request = Signal(int, object, object)  # seq, canvas image, model -> Recogniser.run
    _warm = Signal(object)  # model -> Recogniser.warm_up

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.use_worker = True  # False: compute on the GUI thread (benchmarks compare both)
        self.last_image28 = np.zeros((28, 28), np.uint8)
        self.last_topk: list[tuple[int, float]] = []
        self._busy = False  # a request is on the recogniser's thread
        self._pending = False
        self._seq = 0  # bumped on every request
        self._valid_from = 0  # results of older requests are dropped (e.g. after a clear)
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_INTERVAL_MS)
        self._live_timer.timeout.connect(self.request_recognition)
        # No Qt parent: a running QThread deleted with its parent aborts the process. Kept in
        # _THREADS until it has finished; stopped by shutdown(), the panel's destruction, or
        # at interpreter exit, whichever comes first.
        self._thread = QThread()
        _THREADS.add(self._thread)
        self.destroyed.connect(self._thread.quit)
        self._recogniser = Recogniser()
        self._recogniser.moveToThread(self._thread)
        self._request.connect(self._recogniser.run)  # queued: runs on the thread
        self._warm.connect(self._recogniser.warm_up)
        self._recogniser.finished.connect(self._on_finished)
        self._recogniser.failed.connect(self._on_recognise_failed)
        self._thread.finished.connect(self._recogniser.deleteLater)
        thread = self._thread
        self._thread.finished.connect(lambda: _THREADS.discard(thread))
        self._thread.start()
        self._build_ui()
        self._connect()
        self._on_model_changed(state.model)

    # --- layout ----------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.canvas = DrawCanvas()
        tools = QHBoxLayout()
        tools.setSpacing(6)
        self.undo_btn = self._tool("Undo", "Undo the last stroke (Ctrl+Z)", self.canvas.undo)
        self.redo_btn = self._tool("Redo", "Redo (Ctrl+Shift+Z)", self.canvas.redo)
        self.clear_btn = self._tool("Clear", "Clear the drawing (Esc)", self.canvas.clear)
        pen_label = QLabel("Pen")
        self.pen_slider = QSlider(Qt.Orientation.Horizontal)
        self.pen_slider.setRange(MIN_PEN, MAX_PEN)
        self.pen_slider.setValue(DEFAULT_PEN)
        self.pen_slider.setMaximumWidth(160)
        self.pen_slider.setToolTip("Pen width (the model input is normalised to K49 strokes)")
        self.pen_value = QLabel(str(DEFAULT_PEN))
        self.pen_value.setMinimumWidth(22)
        self.live_check = QCheckBox("Live")
        self.live_check.setChecked(True)
        self.live_check.setToolTip("Update the predictions while drawing, not only when the "
                                   "pen is lifted")
        for w in (self.undo_btn, self.redo_btn, self.clear_btn):
            tools.addWidget(w)
        tools.addSpacing(12)
        for w in (pen_label, self.pen_slider, self.pen_value):
            tools.addWidget(w)
        tools.addStretch(1)
        tools.addWidget(self.live_check)
        left = QVBoxLayout()
        left.addWidget(self.canvas, 1)
        left.addLayout(tools)

        side = QVBoxLayout()
        side.setSpacing(8)
        heading = QLabel("Top 5")
        heading.setStyleSheet("font-weight: 600; font-size: 13px;")
        side.addWidget(heading)
        self.results = QStackedWidget()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet("color: palette(mid); font-size: 13px; padding: 16px;")
        rows_h = TOP_K * ROW_H + (TOP_K - 1) * 4
        self.message.setFixedHeight(rows_h)
        cand_box = QWidget()
        cand_lay = QVBoxLayout(cand_box)
        cand_lay.setContentsMargins(0, 0, 0, 0)
        cand_lay.setSpacing(4)
        self.candidates = [CandidateButton(i) for i in range(TOP_K)]
        for c in self.candidates:
            c.clicked.connect(lambda _=False, b=c: self._open_gallery(b))
            cand_lay.addWidget(c)
        cand_box.setFixedHeight(rows_h)
        self.results.addWidget(self.message)
        self.results.addWidget(cand_box)
        side.addWidget(self.results)
        side.addSpacing(6)
        sees = QLabel("What the model sees (28×28)")
        sees.setStyleSheet("font-weight: 600; font-size: 13px;")
        side.addWidget(sees)
        self.pixel_view = PixelView(5)
        explain = QLabel("White ink on black, the longer side filling all 28 pixels and "
                         "strokes brought to K49 widths: the form of the training images.")
        explain.setWordWrap(True)
        explain.setStyleSheet("font-size: 11px; color: palette(dark);")
        explain.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        sees_row = QHBoxLayout()
        sees_row.setSpacing(10)
        sees_row.addWidget(self.pixel_view, 0, Qt.AlignmentFlag.AlignTop)
        sees_row.addWidget(explain, 1)
        side.addLayout(sees_row)
        side.addStretch(1)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet("color: palette(midlight);")
        side.addWidget(line)
        self.card_label = QLabel()
        self.card_label.setWordWrap(True)
        self.card_label.setStyleSheet("font-size: 11px; color: palette(dark);")
        self.card_warning = QLabel("Trained on generated data, not on K49: real kuzushiji "
                                   "will be recognised less well.")
        self.card_warning.setWordWrap(True)
        self.card_warning.setStyleSheet(f"font-size: 11px; color: {WARN};")
        side.addWidget(self.card_label)
        side.addWidget(self.card_warning)
        side_w = QWidget()
        side_w.setLayout(side)
        # In a short window the predictions scroll instead of forcing a tall minimum size.
        scroll = QScrollArea()
        scroll.setWidget(side_w)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_w.setFixedWidth(SIDE_W)
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        scroll.setFixedWidth(SIDE_W + bar + 2)  # room for a vertical scroll bar
        scroll.setMinimumHeight(200)

        root = QHBoxLayout(self)
        root.setContentsMargins(8, 8, 4, 8)
        root.addLayout(left, 1)
        root.addSpacing(4)
        root.addWidget(scroll)

    def _tool(self, text: str, tip: str, slot: Any) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        b.clicked.connect(slot)
        return b

    def _connect(self) -> None:
        self.canvas.changed.connect(self._on_canvas_changed)
        self.canvas.stroke_finished.connect(self._on_stroke_finished)
        self.pen_slider.valueChanged.connect(self._on_pen)
        self.state.model_changed.connect(self._on_model_changed)
        # One action per command carrying all its keys: two QShortcuts on the same key would
        # be ambiguous and fire neither.
        for keys, slot in (([QKeySequence.StandardKey.Undo], self.canvas.undo),
                           ([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")],
                            self.canvas.redo),
                           ([QKeySequence(Qt.Key.Key_Escape)], self.canvas.clear)):
            act = QAction(self)
            act.setShortcuts(keys)
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
        self._sync_buttons()

    # --- recognition -------------------------------------------------------------------------
    def _on_canvas_changed(self) -> None:
        self._sync_buttons()
        # Throttle, not debounce: a restarting timer would never fire during a long stroke.
        if self.live_check.isChecked() and not self._live_timer.isActive():
            self._live_timer.start()

    def _on_stroke_finished(self) -> None:
        self._live_timer.stop()
        self._sync_buttons()
        self.request_recognition()

    def request_recognition(self) -> None:
        """Recognise the drawing now (or as soon as the running inference ends)."""
        self._seq += 1
        if self.canvas.is_empty():
            self._valid_from = self._seq
            self._show(np.zeros((28, 28), np.uint8), [])
            return
        if self._busy:
            self._pending = True
            return
        self._start()

    @property
    def busy(self) -> bool:
        """True while a recognition is running or waiting to run."""
        return self._busy or self._pending

    def _start(self) -> None:
        self._pending = False
        seq = self._seq
        img = self.canvas.render_array()
        model = self.state.model
        if not self.use_worker:
            self._on_result(seq, recognise(img, model))
            return
        if not self._thread.isRunning():  # shut down: nobody would answer
            return
        self._busy = True
        self._request.emit(seq, img, model)

    def _on_finished(self, seq: int, result: tuple[np.ndarray, list[tuple[int, float]]]) -> None:
        self._on_result(seq, result)
        self._next()

    def _on_recognise_failed(self, seq: int, e: BaseException) -> None:
        self._on_failed(e)
        self._next()

    def _next(self) -> None:
        self._busy = False
        if self._pending and self._thread.isRunning():
            self._start()

    def _on_result(self, seq: int, result: tuple[np.ndarray, list[tuple[int, float]]]) -> None:
        if seq < self._valid_from:
            return
        self._show(*result)

    def _on_failed(self, e: BaseException) -> None:
        self.message.setText(f"Recognition failed: {e}")
        self.results.setCurrentWidget(self.message)
        self.state.status_message.emit(f"Drawing recognition failed: {e}")

    def _show(self, img28: np.ndarray, top: list[tuple[int, float]]) -> None:
        self.last_image28, self.last_topk = img28, top
        self.pixel_view.set_image(img28)
        model = self.state.model
        if model is None:
            self.message.setText("No model loaded.\n\nTrain one in the Train tab, or use "
                                 "Model > Load checkpoint. You can still draw and see what "
                                 "the model would receive.")
            self.results.setCurrentWidget(self.message)
        elif not top:
            self.message.setText("Draw a character on the paper:\nthe five most likely "
                                 "classes appear here as you draw.")
            self.results.setCurrentWidget(self.message)
        else:
            classes = getattr(model, "classes", OFFICIAL_CLASSES) or OFFICIAL_CLASSES
            for btn, (label, prob) in zip(self.candidates, top, strict=False):
                info = classes[label] if label < len(classes) else OFFICIAL_CLASSES[label]
                btn.set_candidate(info, prob)
            for btn in self.candidates[len(top):]:
                btn.hide()
            for btn in self.candidates[:len(top)]:
                btn.show()
            self.results.setCurrentIndex(1)
        self.predictions_updated.emit()

    # --- reactions ---------------------------------------------------------------------------
    def _on_pen(self, v: int) -> None:
        self.canvas.set_pen_width(v)
        self.pen_value.setText(str(v))

    def _sync_buttons(self) -> None:
        self.undo_btn.setEnabled(self.canvas.can_undo())
        self.redo_btn.setEnabled(self.canvas.can_redo())
        self.clear_btn.setEnabled(not self.canvas.is_empty())

    def _on_model_changed(self, model: Any) -> None:
        if model is not None and self.use_worker and self._thread.isRunning():
            self._warm.emit(model)
        if model is None:
            self.card_label.setText("Model: none")
            self.card_label.setToolTip("")
            self.card_warning.hide()
        else:
            text, is_demo = card_summary(model)
            self.card_label.setText(f"Model: {text}")
            card = model.card() if hasattr(model, "card") else {}
            self.card_label.setToolTip("\n".join(f"{k}: {v}" for k, v in card.items()))
            self.card_warning.setVisible(is_demo)
        self.request_recognition()

    def _open_gallery(self, btn: CandidateButton) -> None:
        if btn.info is None:
            return
        self.state.show_in_gallery(GalleryRequest(
            split="train", classes=[btn.info.index],
            title=f"Training images of {btn.info.label} (from the drawing pad)"))

    def draw_class(self, label: int, font_index: int = 0) -> None:
        """Draw class `label`'s character from a bundled font as pen strokes (screenshots,
        demos): its skeleton, traced into strokes, drawn with the current pen."""
        from k49desk.core.demo import render_char
        from k49desk.gui.draw.glyphs import glyph_strokes

        glyph = render_char(OFFICIAL_CLASSES[label].char, 140, font_index)
        width = self.canvas.pen_width / REFERENCE_SIDE
        self.canvas.set_strokes([Stroke(width, pts) for pts in glyph_strokes(glyph)])
        self._sync_buttons()
        self.request_recognition()

    def on_shown(self) -> None:
        self.canvas.setFocus()

    def shutdown(self) -> bool:
        self._live_timer.stop()
        self._pending = False
        # quit() is thread-safe and ends the thread's event loop after the running request.
        self._thread.quit()
        self._thread.wait(5000)
        self._busy = False  # an answer still queued to this thread is no longer awaited
        return True
