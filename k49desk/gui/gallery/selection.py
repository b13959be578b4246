"""The Gallery's selection: one numpy bool mask over the grid's rows, never a QModelIndex per
image (selecting 10,000 thumbnails is a slice assignment, painting reads one bool per cell).

`RowSelection` is the plain numpy part. `SelectionMixin` (mixed into ThumbView) gives the
grid the usual gestures on it: click, Ctrl/Cmd-click, Shift-click ranges, rubber-band drag
(with auto-scroll), Ctrl+A, Shift+arrows, Esc; it survives a filter change for the images
still shown (the mask is carried over by global id); and it repaints only the cells whose
state changed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QMouseEvent, QRegion
from PySide6.QtWidgets import QAbstractItemView, QApplication, QRubberBand

_NO_UPDATE = QItemSelectionModel.SelectionFlag.NoUpdate
_CTRL = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier
_SHIFT = Qt.KeyboardModifier.ShiftModifier
_A = QAbstractItemView.CursorAction
_NAV = {Qt.Key.Key_Left: _A.MoveLeft, Qt.Key.Key_Right: _A.MoveRight,
        Qt.Key.Key_Up: _A.MoveUp, Qt.Key.Key_Down: _A.MoveDown,
        Qt.Key.Key_Home: _A.MoveHome, Qt.Key.Key_End: _A.MoveEnd,
        Qt.Key.Key_PageUp: _A.MovePageUp, Qt.Key.Key_PageDown: _A.MovePageDown}


class RowSelection:
    """Selected rows as a bool mask; `anchor` is where Shift ranges start."""

    def __init__(self, n: int = 0) -> None:
        self.mask = np.zeros(n, bool)
        self.anchor = -1

    def __len__(self) -> int:
        return int(np.count_nonzero(self.mask))

    def rows(self) -> np.ndarray:
        return np.flatnonzero(self.mask)

    def ranged(self, a: int, b: int) -> np.ndarray:
        """A mask with rows a..b (inclusive, either order) selected."""
        m = np.zeros(len(self.mask), bool)
        lo, hi = sorted((a, b))
        m[max(lo, 0):hi + 1] = True
        return m


class SelectionMixin:
    """Mixed into ThumbView (a QListView with arithmetic geometry: `_rows_in_content`)."""

    selection_changed = Signal()

    def _init_selection(self) -> None:
        self.sel = RowSelection()
        self.key_handler: Callable[[QKeyEvent], bool] | None = None  # the panel's keys
        self._internal = False  # current index set by a gesture (it chose the selection)
        self._kept: tuple[np.ndarray, int] | None = None  # across a model reset
        self._press: tuple[QPoint, Qt.KeyboardModifier, np.ndarray] | None = None
        self._band: QRubberBand | None = None
        self._band_to = QPoint()
        self._scroll_timer = QTimer(self, interval=30)  # type: ignore[call-overload]
        self._scroll_timer.timeout.connect(self._auto_scroll)

    # ---- API ----------------------------------------------------------------------------
    def selected_rows(self) -> np.ndarray:
        return self.sel.rows()

    def selected_count(self) -> int:
        return len(self.sel)

    def is_selected(self, row: int) -> bool:
        return 0 <= row < len(self.sel.mask) and bool(self.sel.mask[row])

    def set_selection(self, mask: np.ndarray, current: int | None = None) -> None:
        """Replace the selection (a bool mask over the rows); repaint what changed."""
        mask = np.asarray(mask, bool)
        if len(mask) != len(self.sel.mask):
            raise ValueError(f"selection mask of {len(mask)} rows for {len(self.sel.mask)}")
        old = self.sel.mask
        self.sel.mask = mask
        self._repaint_changed(old, mask)
        if current is not None:
            self._set_current(current)
        self.selection_changed.emit()  # type: ignore[attr-defined]

    def select_rows(self, rows: np.ndarray, current: int | None = None) -> None:
        m = np.zeros(len(self.sel.mask), bool)
        m[np.asarray(rows, np.int64)] = True
        self.set_selection(m, current)

    def select_only(self, row: int) -> None:
        self.sel.anchor = row
        self.select_rows(np.array([row]), current=row)

    def select_all(self) -> None:
        self.set_selection(np.ones(len(self.sel.mask), bool))

    def clear_selection(self) -> None:
        if self.sel.mask.any():
            self.set_selection(np.zeros(len(self.sel.mask), bool))

    def set_current_row(self, row: int) -> None:
        """Make `row` current without touching the selection."""
        self._set_current(row)

    # ---- internals ----------------------------------------------------------------------
    def _set_current(self, row: int) -> None:
        self._internal = True
        try:
            self.selectionModel().setCurrentIndex(self.model().index(row, 0), _NO_UPDATE)
        finally:
            self._internal = False

    def currentChanged(self, cur: QModelIndex, prev: QModelIndex) -> None:  # noqa: N802
        super().currentChanged(cur, prev)  # type: ignore[misc]
        if not self._internal and cur.isValid() and not self.is_selected(cur.row()):
            # Made current from outside (a jump, a request, focus-in): select just it.
            self.sel.anchor = cur.row()
            self.select_rows(np.array([cur.row()]))

    def _repaint_changed(self, old: np.ndarray, new: np.ndarray) -> None:
        first, last = self._visible_rows()
        if last < first or len(old) != len(new):
            self.viewport().update()
            return
        diff = np.flatnonzero(old[first:last + 1] != new[first:last + 1]) + first
        if len(diff) > 64:
            self.viewport().update()
            return
        region = QRegion()
        for row in diff.tolist():
            region += self._content_rect(row).translated(0, -self.verticalOffset())
        self.viewport().update(region)

    def _visible_rows(self) -> tuple[int, int]:
        cw, ch = self._cell()
        cols, off = self.columns(), self.verticalOffset()
        first = off // ch * cols
        last = min(self._n(), (off + self.viewport().height()) // ch * cols + cols) - 1
        return first, last

    def setModel(self, model: object) -> None:  # noqa: N802
        super().setModel(model)  # type: ignore[misc]
        if model is not None:
            model.modelAboutToBeReset.connect(self._keep_selection)  # type: ignore[attr-defined]
        self.sel = RowSelection(self._n())

    def _keep_selection(self) -> None:
        ids = self.model().row_ids()
        cur = self.currentIndex()
        self._kept = (ids[self.sel.mask[:len(ids)]].copy(),
                      int(ids[cur.row()]) if cur.isValid() and cur.row() < len(ids) else -1)

    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        kept, self._kept = self._kept, None
        n = self._n()
        self.sel = RowSelection(n)
        if kept is not None and len(kept[0]) and n:
            self.sel.mask = np.isin(self.model().row_ids(), kept[0])
        self.selection_changed.emit()  # type: ignore[attr-defined]

    # ---- mouse --------------------------------------------------------------------------
    def _row_at(self, p: QPoint) -> int:
        mi = self.indexAt(p)
        return mi.row() if mi.isValid() else -1

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        p = e.position().toPoint()
        row, mods = self._row_at(p), e.modifiers()
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if e.button() == Qt.MouseButton.RightButton:
            if row >= 0 and not self.is_selected(row):  # the menu acts on what it points at
                self.select_only(row)
            return
        if e.button() != Qt.MouseButton.LeftButton:
            return
        if row >= 0 and mods & _SHIFT and self.sel.anchor >= 0:
            rng = self.sel.ranged(self.sel.anchor, row)
            self.set_selection(rng | self.sel.mask if mods & _CTRL else rng, current=row)
        elif row >= 0 and mods & _CTRL:
            m = self.sel.mask.copy()
            m[row] = not m[row]
            self.sel.anchor = row
            self.set_selection(m, current=row)
        elif row >= 0:
            self.select_only(row)
        elif not mods & (_CTRL | _SHIFT):
            self.clear_selection()
        base = self.sel.mask.copy() if mods & (_CTRL | _SHIFT) else np.zeros_like(self.sel.mask)
        self._press = (QPoint(p.x(), p.y() + self.verticalOffset()), mods, base)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self._press is None or not e.buttons() & Qt.MouseButton.LeftButton:
            return
        p = e.position().toPoint()
        start = self._press[0]
        if self._band is None:
            moved = QPoint(p.x(), p.y() + self.verticalOffset()) - start
            if moved.manhattanLength() < QApplication.startDragDistance():
                return
            self._band = QRubberBand(QRubberBand.Shape.Rectangle, self.viewport())
            self._band.show()
        self._band_to = p
        self._update_band()
        vh = self.viewport().height()
        if p.y() < 0 or p.y() > vh:
            if not self._scroll_timer.isActive():
                self._scroll_timer.start()
        else:
            self._scroll_timer.stop()

    def _update_band(self) -> None:
        start, _mods, base = self._press  # type: ignore[misc]
        off = self.verticalOffset()
        to = QPoint(self._band_to.x(), self._band_to.y() + off)
        rect = QRect(start, to).normalized()
        self._band.setGeometry(rect.translated(0, -off).intersected(  # type: ignore[union-attr]
            self.viewport().rect().adjusted(-1, -1, 1, 1)))
        m = base.copy()
        m[self._rows_in_content(rect)] = True
        rows_now = np.flatnonzero(m != self.sel.mask)
        if len(rows_now):
            self.set_selection(m)

    def _auto_scroll(self) -> None:
        if self._band is None:
            self._scroll_timer.stop()
            return
        y, vh = self._band_to.y(), self.viewport().height()
        step = (y - vh if y > vh else y) // 2 or (1 if y > vh else -1)
        sb = self.verticalScrollBar()
        sb.setValue(sb.value() + max(-200, min(200, step)))
        self._update_band()

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        self._scroll_timer.stop()
        if self._band is not None:
            self._band.hide()
            self._band.deleteLater()
            self._band = None
            rows = self.sel.rows()
            if len(rows):
                self.sel.anchor = int(rows[0])
                self._set_current(int(rows[-1]))
        self._press = None

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        self.mousePressEvent(e)

    # ---- keyboard -----------------------------------------------------------------------
    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802
        key, mods = e.key(), e.modifiers()
        n = self._n()
        if key in _NAV and n:
            row = self.moveCursor(_NAV[key], mods).row()
            if row < 0:
                return
            if mods & _SHIFT:
                if self.sel.anchor < 0:
                    self.sel.anchor = max(self.currentIndex().row(), 0)
                self.set_selection(self.sel.ranged(self.sel.anchor, row), current=row)
            elif mods & _CTRL:
                self._set_current(row)  # move without changing the selection
            else:
                self.select_only(row)
            self.scrollTo(self.model().index(row, 0))
            return
        if e.matches(QKeySequence.StandardKey.SelectAll):
            self.select_all()
            return
        if key == Qt.Key.Key_Space and mods & _CTRL and self.currentIndex().isValid():
            m = self.sel.mask.copy()
            r = self.currentIndex().row()
            m[r] = not m[r]
            self.set_selection(m)
            return
        if self.key_handler is not None and self.key_handler(e):
            return
        if key == Qt.Key.Key_Escape and self.sel.mask.any():
            self.clear_selection()
            return
        super().keyPressEvent(e)  # type: ignore[misc]
