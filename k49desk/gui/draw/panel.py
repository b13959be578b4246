"""Draw tab: a canvas, live top-5 recognition, and the 28x28 image the model is given.

Recognition runs as the panel's long-lived service task (gui/common/tasks.py), latest request
wins: while one inference runs, further requests collapse into one that starts when it ends.
Preprocessing plus one forward pass is a few ms, but on a shared 2-core machine a single call
can take tens of ms, and the pen must never wait for it (benchmarks/bench_draw.py). One thread
for the panel's lifetime rather than a thread per request: measured under load, starting a
thread per stroke cost ~4 ms plus torch's per-thread set-up, over the 30 ms budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
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
from k49desk.core.ink import paper28, too_little_ink
from k49desk.gui.common.panel import Panel
from k49desk.gui.common.state import AppState, GalleryRequest
from k49desk.gui.common.widgets import export_with_dialog
from k49desk.gui.draw.canvas import (
    DEFAULT_PEN,
    MAX_PEN,
    MIN_PEN,
    REFERENCE_SIDE,
    DrawCanvas,
)
from k49desk.gui.draw.export import PAPER_SIDE, save_drawing
from k49desk.gui.draw.samples import SamplesMixin
from k49desk.gui.draw.similar import SimilarDrawMixin
from k49desk.gui.draw.strokes import Stroke
from k49desk.gui.draw.widgets import ROW_H, SIDE_W, CandidateButton, PixelView

if TYPE_CHECKING:
    from k49desk.core.model import LoadedModel

LIVE_INTERVAL_MS = 80  # live updates while drawing: at most ~12 per second
TOP_K = 5
WARN = "#92400e"  # amber-800: 6:1 on the window grey (amber-700 was under 4.5:1)
# Secondary text: gray-600 reads at 4.5:1 or better on the window grey (palette(mid) and
# palette(dark) were about 2:1 on a real desktop: the hints were hard to read).
MUTED = "#4b5563"
MESSAGE_STYLE = "color: {}; font-size: 13px; padding: 16px;"
EMPTY_TEXT = ("Draw a character on the paper:\nthe five most likely classes appear here as "
              "you draw.")
LITTLE_INK_TEXT = ("Too little ink to recognise.\n\nA dot or a tiny mark is not a character: "
                   "draw the whole character, at least a quarter of the paper high or wide.")


def little_ink(canvas_img: np.ndarray) -> bool:
    """A dot or a speck: judged on the whole paper at 28x28, before `preprocess` frames the
    ink (which would blow a dot up into a full-size blob the model reads as ゝ)."""
    return too_little_ink(paper28(canvas_img))


def recognise(canvas_img: np.ndarray, model: Any) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """Canvas pixels (white on black) -> (28x28 model input, top-5), or a blank input and []
    without a model or with too little ink (no confident answer for a dot)."""
    if little_ink(canvas_img):
        return np.zeros((28, 28), np.uint8), []
    img28 = preprocess(canvas_img, invert=False)
    if model is None or not img28.any():
        return img28, []
    return img28, topk(model, img28, TOP_K)


def _serve(request: tuple[str, np.ndarray, LoadedModel | None]) -> Any:
    """The recogniser thread's work: ("recognise", canvas, model) or ("warm", _, model)."""
    kind, img, model = request
    if kind == "warm":
        # One throw-away recognition of a small cross: the first call through preprocess and
        # torch on a thread was ~45 ms slower than the next (measured), so pay it when the
        # model arrives rather than at the user's first stroke.
        cross = np.zeros((280, 280), np.uint8)
        cross[60:220, 130:150] = 255
        cross[110:130, 60:220] = 255
        try:
            recognise(cross, model)
        except Exception:  # noqa: BLE001  (a broken model shows its error on first use)
            pass
        return None
    return recognise(img, model)


class DrawPanel(SamplesMixin, SimilarDrawMixin, Panel):
    title = "Draw"
    needs_data = False
    predictions_updated = Signal()  # the top-5 and the 28x28 view show a new result

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.use_worker = True  # False: compute on the GUI thread (benchmarks compare both)
        self.last_image28 = np.zeros((28, 28), np.uint8)
        self.last_topk: list[tuple[int, float]] = []
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_INTERVAL_MS)
        self._live_timer.timeout.connect(self.request_recognition)
        self.recogniser = self.tasks.service("recognise", _serve, on_finished=self._on_result,
                                             on_failed=self._on_failed)
        self._build_ui()
        self.undo_stack = self.canvas.undo_stack
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
        self.save_btn = self._tool("Save PNG…", "Save the drawing and the 28×28 image the "
                                   "model sees as PNG files (also File > Export)",
                                   self.save_dialog)
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
        for w in (self.undo_btn, self.redo_btn, self.clear_btn, self.save_btn):
            tools.addWidget(w)
        tools.addSpacing(12)
        for w in (pen_label, self.pen_slider, self.pen_value):
            tools.addWidget(w)
        tools.addStretch(1)
        tools.addWidget(self.live_check)
        left = QVBoxLayout()
        left.addWidget(self.canvas, 1)
        left.addLayout(tools)
        left.addWidget(self._build_samples())  # Add to my samples (Ctrl+S)

        side = QVBoxLayout()
        side.setSpacing(8)
        heading = QLabel("Top 5")
        heading.setStyleSheet("font-weight: 600; font-size: 13px;")
        side.addWidget(heading)
        self.results = QStackedWidget()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet(MESSAGE_STYLE.format(MUTED))
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
        explain.setStyleSheet(f"font-size: 12px; color: {MUTED};")
        explain.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        sees_row = QHBoxLayout()
        sees_row.setSpacing(10)
        sees_row.addWidget(self.pixel_view, 0, Qt.AlignmentFlag.AlignTop)
        sees_row.addWidget(explain, 1)
        side.addLayout(sees_row)
        side.addWidget(self._build_similar())  # find images like my drawing (similar.py)
        side.addStretch(1)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet("color: palette(midlight);")
        side.addWidget(line)
        self.card_label = QLabel()
        self.card_label.setWordWrap(True)
        self.card_label.setStyleSheet(f"font-size: 12px; color: {MUTED};")
        self.card_warning = QLabel("Trained on generated data, not on K49: real kuzushiji "
                                   "will be recognised less well.")
        self.card_warning.setWordWrap(True)
        self.card_warning.setStyleSheet(f"font-size: 12px; color: {WARN};")
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
        # After the stack has moved (a command's undo() runs before canRedo() turns true).
        self.canvas.undo_stack.indexChanged.connect(self._sync_buttons)
        self.pen_slider.valueChanged.connect(self._on_pen)
        self.state.model_changed.connect(self._on_model_changed)
        # Undo/redo keys are the window's Edit menu, which drives this stack (one history
        # per tab); Esc clears (itself undoable).
        esc = QAction(self)
        esc.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        esc.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        esc.triggered.connect(self.canvas.clear)
        self.addAction(esc)
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
        img = None if self.canvas.is_empty() else self.canvas.render_array()
        if img is None or little_ink(img):  # a 0.1 ms check: no thread needed
            self.recogniser.invalidate()  # an answer still on its way is for an old drawing
            self._show(np.zeros((28, 28), np.uint8), [])
            return
        if not self.use_worker:
            self._on_result(recognise(img, self.state.model))
            return
        self.recogniser.submit(("recognise", img, self.state.model))

    @property
    def busy(self) -> bool:
        """True while a recognition is running or waiting to run."""
        return self.recogniser.busy

    def _on_result(self, result: tuple[np.ndarray, list[tuple[int, float]]] | None) -> None:
        if result is not None:  # None: the warm-up
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
            self.message.setStyleSheet(MESSAGE_STYLE.format(MUTED))
            self.results.setCurrentWidget(self.message)
        elif not top:
            # Nothing drawn, or too little ink (a dot): no answer rather than a confident ゝ.
            little = not self.canvas.is_empty()
            self.message.setText(LITTLE_INK_TEXT if little else EMPTY_TEXT)
            self.message.setStyleSheet(MESSAGE_STYLE.format(WARN if little else MUTED))
            self.results.setCurrentWidget(self.message)
        else:
            classes = model.classes or OFFICIAL_CLASSES
            for btn, (label, prob) in zip(self.candidates, top, strict=False):
                info = classes[label] if label < len(classes) else OFFICIAL_CLASSES[label]
                btn.set_candidate(info, prob)
            for btn in self.candidates[len(top):]:
                btn.hide()
            for btn in self.candidates[:len(top)]:
                btn.show()
            self.results.setCurrentIndex(1)
        self.samples_bar.set_suggestion(top[0][0] if top and model is not None else None)
        self.predictions_updated.emit()

    # --- reactions ---------------------------------------------------------------------------
    def _on_pen(self, v: int) -> None:
        self.canvas.set_pen_width(v)
        self.pen_value.setText(str(v))

    def _sync_buttons(self) -> None:
        self.undo_btn.setEnabled(self.canvas.can_undo())
        self.redo_btn.setEnabled(self.canvas.can_redo())
        self.clear_btn.setEnabled(not self.canvas.is_empty())
        self.save_btn.setEnabled(not self.canvas.is_empty())

    # --- saving --------------------------------------------------------------------------
    def save_png(self, path: str | Path) -> tuple[Path, Path]:
        """Save the drawing (dark ink on white, 560x560) to `path` and the 28x28 model input
        (white on black, as K49) beside it as <name>-28x28.png."""
        img28 = preprocess(self.canvas.render_array(), invert=False)  # a few ms, once
        return save_drawing(path, self.canvas.render_array(PAPER_SIDE), img28)

    def save_dialog(self) -> None:
        if self.canvas.is_empty():
            self.state.status("Nothing to save: the paper is empty")
            return
        saved: list[Path] = []
        export_with_dialog(self, "Save the drawing", "drawing.png", "PNG image (*.png)",
                           lambda p: saved.extend(self.save_png(p)))
        if saved:
            self.state.status(f"Saved {saved[0]} and {saved[1].name} (the 28×28 model input)")

    def export_actions(self) -> list[tuple[str, Any]]:
        if self.canvas.is_empty():
            return []
        return [("Drawing (PNG)…", self.save_dialog)]

    def _on_model_changed(self, model: LoadedModel | None) -> None:
        if model is not None and self.use_worker:
            self.recogniser.submit(("warm", None, model))
        if model is None:
            self.card_label.setText("Model: none")
            self.card_label.setToolTip("")
            self.card_warning.hide()
        else:
            self.card_label.setText(f"Model: {model.summary()}")
            self.card_label.setToolTip("\n".join(f"{k}: {v}" for k, v in model.card().items()))
            caution = model.caution
            self.card_warning.setText(caution or "")
            self.card_warning.setVisible(caution is not None)
        if not self.canvas.is_empty() or model is None:
            self.request_recognition()
        else:
            self._show(np.zeros((28, 28), np.uint8), [])

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

    def show_class(self, label: int) -> None:
        self.draw_class(label)

    def shutdown(self) -> None:
        self._live_timer.stop()
        super().shutdown()
