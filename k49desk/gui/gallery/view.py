"""The Gallery's grid view: a QListView whose geometry is arithmetic, O(visible) per change.

Measured at full scale (232,365 train rows), QListView's own item layout costs 0.4-1.5 s per
model reset (it asks the Python model for one index per row, IconMode or ListMode alike), and
Batched layout only hides that behind a growing scroll bar. Every cell here has the same size
(the grid size), so the row at a point and the rectangle of a row are two divisions: a filter
change touches only what is on screen. Selection, keyboard, delegate painting and the model
stay standard Qt; only the geometry virtuals are replaced.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    QRect,
    Qt,
    Signal,
)
from PySide6.QtGui import QPainter, QPaintEvent, QRegion, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyleOptionViewItem,
    QWidget,
)

_ENSURE_VISIBLE = QAbstractItemView.ScrollHint.EnsureVisible


class ThumbView(QListView):
    """A uniform grid of `gridSize()` cells, left to right, then top to bottom, centred."""

    zoom_step = Signal(int)  # Ctrl+wheel: +1 bigger, -1 smaller

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # The QListView settings that describe what this view draws (its own layout is unused).
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setSpacing(0)
        self.setMouseTracking(False)
        self._option = QStyleOptionViewItem()

    # ---- geometry ------------------------------------------------------------------------
    def _n(self) -> int:
        m = self.model()
        return m.rowCount() if m is not None else 0

    def _cell(self) -> tuple[int, int]:
        g = self.gridSize()
        return max(1, g.width()), max(1, g.height())

    def columns(self) -> int:
        return max(1, self.viewport().width() // self._cell()[0])

    def _x0(self) -> int:
        cw = self._cell()[0]
        return max(0, (self.viewport().width() - self.columns() * cw) // 2)

    def content_height(self) -> int:
        n, cols = self._n(), self.columns()
        return -(-n // cols) * self._cell()[1]

    def _content_rect(self, row: int) -> QRect:
        cw, ch = self._cell()
        cols = self.columns()
        r, c = divmod(row, cols)
        return QRect(self._x0() + c * cw, r * ch, cw, ch)

    def visualRect(self, index: QModelIndex) -> QRect:  # noqa: N802
        if not index.isValid() or index.model() is not self.model() or index.row() >= self._n():
            return QRect()
        return self._content_rect(index.row()).translated(0, -self.verticalOffset())

    def indexAt(self, p: QPoint) -> QModelIndex:  # noqa: N802
        cw, ch = self._cell()
        x = p.x() - self._x0()
        y = p.y() + self.verticalOffset()
        if x < 0 or y < 0:
            return QModelIndex()
        c, r = x // cw, y // ch
        if c >= self.columns():
            return QModelIndex()
        row = r * self.columns() + c
        return self.model().index(row, 0) if row < self._n() else QModelIndex()

    def horizontalOffset(self) -> int:  # noqa: N802
        return 0

    def verticalOffset(self) -> int:  # noqa: N802
        return self.verticalScrollBar().value()

    def isIndexHidden(self, index: QModelIndex) -> bool:  # noqa: N802
        return False

    def updateGeometries(self) -> None:  # noqa: N802
        ch = self._cell()[1]
        vh = self.viewport().height()
        sb = self.verticalScrollBar()
        sb.setRange(0, max(0, self.content_height() - vh))
        sb.setPageStep(max(1, vh))
        sb.setSingleStep(max(1, ch // 2))
        self.horizontalScrollBar().setRange(0, 0)

    def doItemsLayout(self) -> None:  # noqa: N802
        # Skip QListView's per-row layout; the base class only refreshes geometry and paints.
        QAbstractItemView.doItemsLayout(self)

    def resizeEvent(self, e: QResizeEvent) -> None:  # noqa: N802
        QAbstractItemView.resizeEvent(self, e)
        self.updateGeometries()

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802
        self.viewport().scroll(0, dy)

    def scrollTo(self, index: QModelIndex,  # noqa: N802
                 hint: QAbstractItemView.ScrollHint = _ENSURE_VISIBLE) -> None:
        if not index.isValid():
            return
        r = self._content_rect(index.row())
        sb = self.verticalScrollBar()
        top, vh = sb.value(), self.viewport().height()
        H = QAbstractItemView.ScrollHint
        if hint == H.PositionAtTop:
            sb.setValue(r.top())
        elif hint == H.PositionAtBottom:
            sb.setValue(r.bottom() + 1 - vh)
        elif hint == H.PositionAtCenter:
            sb.setValue(r.center().y() - vh // 2)
        elif r.top() < top:
            sb.setValue(r.top())
        elif r.bottom() + 1 > top + vh:
            sb.setValue(r.bottom() + 1 - vh)

    def moveCursor(self, action: QAbstractItemView.CursorAction,  # noqa: N802
                   modifiers: Qt.KeyboardModifier) -> QModelIndex:
        n = self._n()
        if n == 0:
            return QModelIndex()
        cur = self.currentIndex()
        row = cur.row() if cur.isValid() else -1
        cols = self.columns()
        page = max(1, self.viewport().height() // self._cell()[1]) * cols
        A = QAbstractItemView.CursorAction
        step = {A.MoveLeft: -1, A.MovePrevious: -1, A.MoveRight: 1, A.MoveNext: 1,
                A.MoveUp: -cols, A.MoveDown: cols, A.MovePageUp: -page, A.MovePageDown: page}
        if row < 0:
            new = 0
        elif action == A.MoveHome:
            new = 0
        elif action == A.MoveEnd:
            new = n - 1
        elif action in step:
            new = row + step[action]
            if action in (A.MoveUp, A.MoveDown) and not 0 <= new < n:
                new = row  # stay in the column at the first/last line
        else:
            new = row
        return self.model().index(min(max(new, 0), n - 1), 0)

    def _rows_in(self, rect: QRect) -> list[int]:
        """Rows whose cells intersect `rect` (viewport coordinates)."""
        n = self._n()
        if n == 0:
            return []
        cw, ch = self._cell()
        cols, x0, off = self.columns(), self._x0(), self.verticalOffset()
        r0 = max(0, (rect.top() + off) // ch)
        r1 = (rect.bottom() + off) // ch
        c0 = max(0, (rect.left() - x0) // cw)
        c1 = min(cols - 1, (rect.right() - x0) // cw)
        rows = []
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                row = r * cols + c
                if row >= n:
                    return rows
                rows.append(row)
        return rows

    def setSelection(self, rect: QRect, flags: QItemSelectionModel.SelectionFlag) -> None:  # noqa: N802
        rows = self._rows_in(rect.normalized())
        sel = QItemSelection()
        m = self.model()
        if rows:
            if self.selectionMode() == QAbstractItemView.SelectionMode.SingleSelection:
                rows = rows[:1]
            for row in rows:
                sel.select(m.index(row, 0), m.index(row, 0))
        self.selectionModel().select(sel, flags)

    def visualRegionForSelection(self, selection: QItemSelection) -> QRegion:  # noqa: N802
        region = QRegion()
        first = self.verticalOffset() // self._cell()[1] * self.columns()
        last = first + (self.viewport().height() // self._cell()[1] + 2) * self.columns()
        for rng in selection:
            for row in range(max(rng.top(), first), min(rng.bottom(), last) + 1):
                region += self._content_rect(row).translated(0, -self.verticalOffset())
        return region

    def wheelEvent(self, e: QWheelEvent) -> None:  # noqa: N802
        if e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            dy = e.angleDelta().y()
            if dy:
                self.zoom_step.emit(1 if dy > 0 else -1)
            e.accept()
            return
        super().wheelEvent(e)

    def keyboardSearch(self, search: str) -> None:  # noqa: N802
        # The base class would ask the model for DisplayRole of every row (270k Python calls).
        return

    # ---- painting ------------------------------------------------------------------------
    def paintEvent(self, e: QPaintEvent) -> None:  # noqa: N802
        m = self.model()
        if m is None:
            return
        rows = self._rows_in(e.rect())
        if not rows:
            return
        painter = QPainter(self.viewport())
        # Nearest-neighbour scaling keeps pixels exact; antialiasing only softens the markers.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        opt = self._option
        self.initViewItemOption(opt)
        base_state = opt.state & ~QStyle.StateFlag.State_Selected & ~QStyle.StateFlag.State_HasFocus
        selected = {i.row() for i in self.selectionModel().selectedIndexes()}
        cur = self.currentIndex().row() if self.currentIndex().isValid() else -1
        focus = self.hasFocus()
        off = self.verticalOffset()
        delegate = self.itemDelegate()
        cw, ch = self._cell()
        cols, x0 = self.columns(), self._x0()
        sel_flag, focus_flag = QStyle.StateFlag.State_Selected, QStyle.StateFlag.State_HasFocus
        index = m.index
        for row in rows:
            r, c = divmod(row, cols)
            opt.rect = QRect(x0 + c * cw, r * ch - off, cw, ch)
            st = base_state
            if row in selected:
                st |= sel_flag
            if row == cur and focus:
                st |= focus_flag
            opt.state = st
            delegate.paint(painter, opt, index(row, 0))
        painter.end()
