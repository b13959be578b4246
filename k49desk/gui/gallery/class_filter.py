"""The Gallery's class filter: all 49 classes with character, romaji and count in the split."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.classes import OFFICIAL_CLASSES, ClassInfo
from k49desk.gui.common.fonts import hiragana_font

COL_INDEX, COL_CHAR, COL_ROMAJI, COL_COUNT = range(4)
_UR = Qt.ItemDataRole.UserRole
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class _Item(QTreeWidgetItem):
    def __lt__(self, other: QTreeWidgetItem) -> bool:
        # Numbers sort as numbers; ties on count fall back to class index (stable reading).
        col = self.treeWidget().sortColumn() if self.treeWidget() else COL_INDEX
        a = self.data(col, Qt.ItemDataRole.UserRole)
        b = other.data(col, Qt.ItemDataRole.UserRole)
        if a == b:
            tree = self.treeWidget()
            order = tree.header().sortIndicatorOrder() if tree is not None else None
            desc = order == Qt.SortOrder.DescendingOrder
            first = self.data(COL_INDEX, _UR) < other.data(COL_INDEX, _UR)
            return first != desc
        return a < b


class ClassFilter(QWidget):
    """Multi-select list of classes; an empty selection means "all classes"."""

    classes_changed = Signal(object)  # list[int] | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._classes: Sequence[ClassInfo] = OFFICIAL_CLASSES
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["#", "Char", "Romaji", "Count"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setSortingEnabled(True)
        self.tree.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        hdr = self.tree.header()
        hdr.setStretchLastSection(False)
        for col, mode in ((COL_INDEX, QHeaderView.ResizeMode.ResizeToContents),
                          (COL_CHAR, QHeaderView.ResizeMode.ResizeToContents),
                          (COL_ROMAJI, QHeaderView.ResizeMode.Stretch),
                          (COL_COUNT, QHeaderView.ResizeMode.ResizeToContents)):
            hdr.setSectionResizeMode(col, mode)
        self.tree.setToolTip("Click to show one class; Ctrl/Shift-click for several.\n"
                             "] or Ctrl+K: next class, [ or Ctrl+Shift+K: previous class.")
        self._char_font = hiragana_font(13)
        self.all_button = QPushButton("All classes")
        self.all_button.setToolTip("Show every class (clear the class selection)")
        self.sort_combo = QComboBox()
        self.sort_combo.addItems(["Sort by index", "Sort by count ↓", "Sort by count ↑"])
        self.summary = QLabel()
        self.summary.setObjectName("filterSummary")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.all_button)
        top.addWidget(self.sort_combo, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.summary)
        self._items: list[_Item] = []
        self._build()
        self.all_button.clicked.connect(lambda: self.set_selected(None, emit=True))
        self.sort_combo.currentIndexChanged.connect(self._apply_sort_combo)
        self.tree.itemSelectionChanged.connect(self._on_selection)
        self.tree.sortItems(COL_INDEX, Qt.SortOrder.AscendingOrder)

    def _build(self) -> None:
        with QSignalBlocker(self.tree):
            self.tree.clear()
            self._items = []
            for c in self._classes:
                it = _Item()
                it.setText(COL_INDEX, str(c.index))
                it.setData(COL_INDEX, Qt.ItemDataRole.UserRole, c.index)
                it.setText(COL_CHAR, c.char)
                it.setFont(COL_CHAR, self._char_font)
                it.setData(COL_CHAR, Qt.ItemDataRole.UserRole, c.index)
                it.setText(COL_ROMAJI, c.romaji)
                it.setData(COL_ROMAJI, Qt.ItemDataRole.UserRole, c.romaji)
                it.setData(COL_COUNT, Qt.ItemDataRole.UserRole, 0)
                it.setTextAlignment(COL_COUNT, _RIGHT)
                it.setTextAlignment(COL_INDEX, _RIGHT)
                self._items.append(it)
            self.tree.addTopLevelItems(self._items)

    def set_classes(self, classes: Sequence[ClassInfo]) -> None:
        if list(classes) != list(self._classes):
            self._classes = classes
            self._build()

    def set_counts(self, counts: Sequence[int]) -> None:
        """Counts in the shown split(s); empty classes stay listed, greyed, with 0."""
        grey = QBrush(QColor("#9ca3af"))
        for it, n in zip(self._items, counts, strict=False):
            it.setText(COL_COUNT, f"{int(n):,d}")
            it.setData(COL_COUNT, Qt.ItemDataRole.UserRole, int(n))
            for col in range(4):
                it.setForeground(col, grey if n == 0 else QBrush())
            label = self._classes[it.data(COL_INDEX, _UR)].label
            it.setToolTip(COL_CHAR, f"{label}: {int(n):,d} images")
        self.tree.sortItems(self.tree.sortColumn(), self.tree.header().sortIndicatorOrder())
        self._update_summary()

    def count_of(self, cls: int) -> int:
        return int(self._items[cls].data(COL_COUNT, Qt.ItemDataRole.UserRole))

    def _apply_sort_combo(self, i: int) -> None:
        if i == 0:
            self.tree.sortItems(COL_INDEX, Qt.SortOrder.AscendingOrder)
        else:
            order = Qt.SortOrder.DescendingOrder if i == 1 else Qt.SortOrder.AscendingOrder
            self.tree.sortItems(COL_COUNT, order)

    def sort_by(self, key: str) -> None:
        """"index", "count" (largest first) or "count_asc"."""
        self.sort_combo.setCurrentIndex({"index": 0, "count": 1, "count_asc": 2}[key])
        self._apply_sort_combo(self.sort_combo.currentIndex())

    def visible_order(self) -> list[int]:
        """Class indices in the order the list shows them."""
        return [self.tree.topLevelItem(r).data(COL_INDEX, Qt.ItemDataRole.UserRole)
                for r in range(self.tree.topLevelItemCount())]

    def selected_classes(self) -> list[int] | None:
        sel = sorted(it.data(COL_INDEX, _UR) for it in self.tree.selectedItems())
        return sel or None

    def set_selected(self, classes: list[int] | None, emit: bool = False) -> None:
        with QSignalBlocker(self.tree):
            self.tree.clearSelection()
            for c in classes or []:
                if 0 <= c < len(self._items):
                    self._items[c].setSelected(True)
            if classes:
                self.tree.scrollToItem(self._items[classes[0]])
        self._update_summary()
        if emit:
            self.classes_changed.emit(self.selected_classes())

    def cycle(self, step: int) -> int | None:
        """Select the next (step=1) or previous non-empty class in list order."""
        order = [c for c in self.visible_order() if self.count_of(c) > 0] or self.visible_order()
        if not order:
            return None
        cur = self.selected_classes()
        if cur and len(cur) == 1 and cur[0] in order:
            nxt = order[(order.index(cur[0]) + step) % len(order)]
        else:
            nxt = order[0] if step > 0 else order[-1]
        self.set_selected([nxt], emit=True)
        return nxt

    def _on_selection(self) -> None:
        self._update_summary()
        self.classes_changed.emit(self.selected_classes())

    def _update_summary(self) -> None:
        sel = self.selected_classes()
        if not sel:
            self.summary.setText(f"All {len(self._classes)} classes")
        elif len(sel) == 1:
            self.summary.setText(f"Class {self._classes[sel[0]].label}")
        else:
            chars = " ".join(self._classes[c].char for c in sel)
            self.summary.setText(f"{len(sel)} classes: {chars}")
