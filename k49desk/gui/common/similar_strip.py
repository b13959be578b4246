""""Find similar": the k images nearest to one image (or to a drawing) by the current model's
embedding, cosine, across train and test, as a strip of thumbnails.

One widget for the three places that ask (the Gallery's detail pane, the Review card, the
drawing pad). The index is built once per model and folder in the background by the shared
hub (`state.outputs.ensure_index()`); while it is being built the strip shows the pass's
progress with a Cancel. A query runs on the strip's own service thread (latest wins): about
10 ms over 270,912 images, but a busy 2-core machine can make that much longer, and a drawing
also needs a forward pass (core.outputs.embed_images). Each tile shows split, index, label and
cosine distance; a click opens the neighbours in the Gallery with that image selected, "Open
all in Gallery" opens them with the query image (or the nearest) selected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.progress import ProgressUpdate
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.common.state import AppState, GalleryRequest

if TYPE_CHECKING:
    from k49desk.core.neighbors import Neighbor, NeighborIndex
    from k49desk.gui.common.tasks import TaskOwner

K = 12  # wraps evenly into rows of 2, 3, 4, 6 or 12 tiles
SCALE = 2  # 56 px images, pixel-exact
TILE_W, TILE_H = 78, 28 * SCALE + 34
MUTED = "#4b5563"
NO_MODEL = ("No model loaded: similar images are found by the model's embedding. Train one "
            "or load a checkpoint (Model menu).")
NO_DATA = "Open a data folder: similar images are searched in its train and test images."


def search(request: tuple[Any, ...]) -> tuple[int, list[Neighbor]]:
    """The strip's service thread: ("image", token, index, (split, i), k) or
    ("drawing", token, index, (model, img28), k) -> (token, neighbours nearest first)."""
    kind, token, index, what, k = request
    if kind == "image":
        return token, index.similar(what[0], int(what[1]), k)
    from k49desk.core.outputs import embed_images

    model, img28 = what
    vec = embed_images(model, index.outputs.embedder, img28)
    return token, index.similar_to(vec, k)


class _Tiles(QWidget):
    """The thumbnails, painted (one QImage per tile, no widget each), wrapping to the width."""

    clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.items: list[tuple[np.ndarray, str, str, str]] = []  # image, line 1, line 2, tip
        self._font = hiragana_font(8)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setMinimumWidth(TILE_W)

    def set_items(self, items: list[tuple[np.ndarray, str, str, str]]) -> None:
        self.items = items
        self._fit()
        self.update()

    def columns(self) -> int:
        return max(1, self.width() // TILE_W)

    def _fit(self) -> None:
        rows = -(-len(self.items) // self.columns()) if self.items else 0
        self.setMinimumHeight(rows * TILE_H)
        self.updateGeometry()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(TILE_W * min(max(len(self.items), 1), 6), TILE_H)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit()

    def tile_rect(self, i: int) -> QRect:
        c = self.columns()
        return QRect((i % c) * TILE_W, (i // c) * TILE_H, TILE_W, TILE_H)

    def tile_at(self, pos: QPoint) -> int | None:
        i = (pos.y() // TILE_H) * self.columns() + pos.x() // TILE_W
        ok = pos.x() < self.columns() * TILE_W and 0 <= i < len(self.items)
        return int(i) if ok else None

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        p.setFont(self._font)
        side = 28 * SCALE
        for i, (img, line1, line2, _tip) in enumerate(self.items):
            r = self.tile_rect(i)
            if not r.intersects(event.rect()):
                continue
            a = np.ascontiguousarray(img, np.uint8)
            q = QImage(a.data, 28, 28, a.strides[0], QImage.Format.Format_Grayscale8)
            target = QRect(r.x() + (TILE_W - side) // 2, r.y() + 2, side, side)
            p.drawImage(target, q)  # no smoothing: nearest neighbour
            p.setPen(QColor(MUTED))
            for k, text in enumerate((line1, line2)):
                p.drawText(QRect(r.x(), target.bottom() + 2 + 15 * k, TILE_W, 15),
                           Qt.AlignmentFlag.AlignCenter, text)
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        i = self.tile_at(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and i is not None:
            self.clicked.emit(i)
        super().mousePressEvent(event)

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip:
            i = self.tile_at(e.pos())  # type: ignore[attr-defined]
            if i is not None:
                QToolTip.showText(e.globalPos(), self.items[i][3], self)  # type: ignore[attr-defined]
            else:
                QToolTip.hideText()
            return True
        return super().event(e)


class SimilarStrip(QFrame):
    """The k nearest images to a target: an image of the open folder (`set_target`, then
    `find()` or the button) or a drawing (`find_like_drawing`). Once it has shown results it
    follows the target: a new target is searched at once."""

    results_shown = Signal()  # neighbours (or a message instead) are on screen

    def __init__(self, state: AppState, tasks: TaskOwner, *, k: int = K,
                 slot: str = "similar", button_text: str = "Find similar images",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.tasks, self.k, self.slot = state, tasks, k, slot
        self.target: tuple[str, int] | None = None  # an image of the open folder
        self.drawing: np.ndarray | None = None  # or a preprocessed 28x28 drawing
        self.neighbors: list[Neighbor] = []
        self.active = False  # searching or showing: follow the target
        self._waiting = False  # for the hub's index
        self._token = 0
        self._service = None
        self.find_button = QPushButton(button_text)
        self.find_button.setToolTip(f"The {k} nearest images by the model's embedding "
                                    "(cosine), in train and test")
        self.find_button.clicked.connect(self.find)
        self.open_button = QPushButton("Open all in Gallery")
        self.open_button.setToolTip("Show these images in the Gallery")
        self.open_button.clicked.connect(lambda: self.open_in_gallery(None))
        self.title = QLabel("")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color:{MUTED};")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumHeight(14)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop computing the model's predictions for the folder")
        self.cancel_button.clicked.connect(self._cancel_pass)
        self.tiles = _Tiles()
        self.tiles.clicked.connect(lambda i: self.open_in_gallery(i))
        wait = QHBoxLayout()
        wait.setContentsMargins(0, 0, 0, 0)
        wait.addWidget(self.progress, 1)
        wait.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 4)
        lay.setSpacing(4)
        lay.addWidget(self.find_button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.title)
        lay.addWidget(self.note)
        lay.addLayout(wait)
        lay.addWidget(self.tiles)
        lay.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignLeft)
        hub = state.outputs
        hub.index_ready.connect(self._on_index)
        hub.progress.connect(self._on_hub_progress)
        hub.busy_changed.connect(self._on_hub_busy)
        # Bound methods, not lambdas: Qt disconnects them when the strip is destroyed.
        state.dataset_changed.connect(self._dataset_changed)
        state.model_changed.connect(self._model_changed)
        self.clear()

    # ---- what to search -----------------------------------------------------------------
    def set_target(self, split: str | None, index: int | None) -> None:
        """The image the strip is about (None: none). Searched at once while active."""
        self.drawing = None
        self.target = None if split is None or index is None else (split, int(index))
        if self.active and self.target is not None:
            self.find()
        else:
            self._idle()

    def find_similar(self, split: str, index: int) -> None:
        self.drawing = None
        self.target = (split, int(index))
        self.find()

    def set_drawing(self, img28: np.ndarray | None) -> None:
        """A drawing (preprocessed to 28x28, white on black, as the model sees it; None: no
        drawing) instead of an image. Searched at once while active."""
        self.target = None
        self.drawing = None if img28 is None else np.ascontiguousarray(img28, np.uint8)
        if self.active and self.drawing is not None:
            self.find()
        else:
            self._idle()

    def find_like_drawing(self, img28: np.ndarray | None) -> None:
        self.target = None
        self.drawing = None if img28 is None else np.ascontiguousarray(img28, np.uint8)
        self.find()

    def find(self) -> None:
        """Search for the current target (or drawing), or say why it cannot."""
        if self.target is None and self.drawing is None:
            self._idle()
            return
        self.active = True
        reason = (NO_DATA if self.state.dataset is None else
                  NO_MODEL if self.state.model is None else None)
        index = None if reason is not None else self.state.outputs.ensure_index()
        if index is None:
            self.neighbors = []
            self.tiles.set_items([])
            if reason is not None:
                self._message(reason)
            else:
                self._waiting = True
                self._show_wait(self.state.outputs.last_progress)
            return
        self._submit(index)

    def clear(self) -> None:
        """Forget the target and the results (a new folder or model)."""
        self.target = self.drawing = None
        self.active = self._waiting = False
        self.neighbors = []
        self._token += 1
        self.tiles.set_items([])
        self._idle()

    def _dataset_changed(self, _ds: object) -> None:
        self.clear()

    def _model_changed(self, _model: object = None) -> None:
        self.neighbors = []
        self.tiles.set_items([])
        self._token += 1
        if self.active:
            self.find()  # with the new model (or say there is none)
        else:
            self._idle()

    def _cancel_pass(self) -> None:
        self.state.outputs.cancel()

    # ---- searching ----------------------------------------------------------------------
    def _submit(self, index: NeighborIndex) -> None:
        self._waiting = False
        self._token += 1
        if self._service is None:
            self._service = self.tasks.service(self.slot, search, on_finished=self._on_result,
                                               on_failed=self._on_failed,
                                               error_title="Cannot find similar images")
        if self.target is not None:
            req = ("image", self._token, index, self.target, self.k)
        else:
            req = ("drawing", self._token, index, (self.state.model, self.drawing), self.k)
        if not self.tiles.isVisible():  # else the old results stay until the new arrive
            self._show_wait(None, "Searching…")
        self._service.submit(req)

    def _on_index(self, index: NeighborIndex) -> None:
        if self._waiting and self.active:
            self._submit(index)

    def _on_hub_progress(self, u: ProgressUpdate) -> None:
        if self._waiting:
            self._show_wait(u)

    def _on_hub_busy(self, busy: bool) -> None:
        hub = self.state.outputs
        if self._waiting and not busy and hub.outputs is None and not hub.tasks.running():
            self._waiting = False
            self._message("The model's predictions for this folder were not computed "
                          "(stopped). Click the button to try again.")
            self.find_button.setVisible(True)

    def _on_result(self, result: tuple[int, list[Neighbor]]) -> None:
        token, found = result
        if token != self._token:
            return  # for an older target
        ds = self.state.dataset
        if ds is None:
            return
        self.neighbors = [n for n in found if n.split in ds.splits
                          and 0 <= n.index < len(ds.split(n.split))]
        items = []
        for n in self.neighbors:
            cls = ds.classes[n.label] if n.label < len(ds.classes) else None
            char = cls.char if cls else str(n.label)
            tip = (f"{n.split} #{n.index:,d} · labelled {cls.label if cls else n.label} · "
                   f"cosine distance {n.distance:.3f}\nClick: open in the Gallery")
            items.append((ds.split(n.split).images[n.index], f"{n.split} {n.index:,d}",
                          f"{char} · {n.distance:.2f}", tip))
        self.tiles.set_items(items)
        self._set_waiting(False)
        self.title.setText(f"<b>{len(items)} most similar</b> to {self._what()} "
                           "<span style='color:#4b5563'>(cosine distance, train + test)</span>")
        self.title.setVisible(True)
        self.note.setVisible(False)
        self.open_button.setVisible(bool(items))
        self.find_button.setVisible(False)
        self.tiles.setVisible(True)
        self.results_shown.emit()

    def _on_failed(self, e: BaseException) -> None:
        self._message(f"Cannot find similar images: {e}")

    # ---- showing ------------------------------------------------------------------------
    def _what(self) -> str:
        if self.target is not None:
            return f"{self.target[0]} #{self.target[1]:,d}"
        return "your drawing"

    def _set_waiting(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on and self._waiting)

    def _idle(self) -> None:
        self._waiting = False
        self._set_waiting(False)
        self.title.setVisible(False)
        self.note.setVisible(False)
        self.open_button.setVisible(False)
        self.tiles.setVisible(False)
        has = self.target is not None or self.drawing is not None
        self.find_button.setVisible(True)
        self.find_button.setEnabled(has)

    def _message(self, text: str) -> None:
        self._set_waiting(False)
        self.title.setVisible(False)
        self.open_button.setVisible(False)
        self.tiles.setVisible(False)
        self.note.setText(text)
        self.note.setVisible(True)
        self.results_shown.emit()

    def _show_wait(self, u: ProgressUpdate | None, text: str | None = None) -> None:
        if text is None:
            pct = "" if u is None or u.fraction is None else f" {u.fraction:.0%}"
            text = ("Preparing the search: the model looks at every image of the folder once "
                    f"(then cached){pct}…")
        self.note.setText(text)
        self.note.setVisible(True)
        self.title.setVisible(False)
        self.open_button.setVisible(False)
        self.find_button.setVisible(False)
        self.tiles.setVisible(False)
        self._set_waiting(True)
        if u is None or u.fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(max(0.0, min(1.0, u.fraction)) * 1000))

    # ---- to the Gallery -----------------------------------------------------------------
    def gallery_request(self, tile: int | None = None) -> GalleryRequest:
        """The neighbours (and the query image) as a Gallery request: one split alone, or
        "both" with {split: indices}; `tile` (or the query image, or the nearest) selected."""
        items = [(n.split, n.index, f"dist {n.distance:.2f}") for n in self.neighbors]
        if self.target is not None:
            items.insert(0, (self.target[0], self.target[1], "this image"))
        pick = items[tile + (1 if self.target is not None else 0)] if tile is not None \
            else items[0]
        splits = list(dict.fromkeys(s for s, _, _ in items))
        title = f"Similar to {self._what()} (nearest by the model's embedding)"
        if len(splits) == 1:
            return GalleryRequest(split=splits[0], title=title,
                                  indices=np.array([i for _, i, _ in items], np.int64),
                                  captions={i: c for _, i, c in items}, select=pick[1])
        return GalleryRequest(
            split="both", title=title,
            indices={s: np.array([i for t, i, _ in items if t == s], np.int64) for s in splits},
            captions={(s, i): c for s, i, c in items}, select=(pick[0], pick[1]))

    def open_in_gallery(self, tile: int | None) -> None:
        if self.neighbors:
            self.state.show_in_gallery(self.gallery_request(tile))
