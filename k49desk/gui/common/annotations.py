"""The open folder's annotation stores, one per split, shared by every panel.

Review decisions and Gallery annotations are one SQLite store per split (core/annotations).
`Annotations` (owned by `AppState`) opens a split's store off the GUI thread the first time a
panel asks for it (`ensure(split)`, then `ready(split)`), is the only place panels write
through, and mirrors every undoable step on ONE `QUndoStack`
that the Gallery and Review panels both expose, so the window's Edit menu undoes the last
annotation whichever panel made it. A 2-second timer (and window activation) picks up what
another process wrote to the same files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from k49desk.core.errors import K49Error
from k49desk.gui.common.tasks import TaskOwner

if TYPE_CHECKING:
    from k49desk.core.annotations import AnnotationStore, Step
    from k49desk.core.dataset import K49Dataset
    from k49desk.gui.common.state import AppState

REFRESH_MS = 2000


class _StoreStep(QUndoCommand):
    """One undoable store step on the shared stack; undo/redo are the store's own."""

    def __init__(self, hub: Annotations, split: str, step: Step) -> None:
        super().__init__(step.label or "annotation")
        self.hub, self.split, self.first = hub, split, True

    def redo(self) -> None:
        if self.first:  # push() calls redo(): the store has done the step already
            self.first = False
            return
        self.hub._history(self.split, redo=True)

    def undo(self) -> None:
        self.hub._history(self.split, redo=False)


class Annotations(QObject):
    ready = Signal(str)  # split: its store is open (and its arrays are loaded)
    changed = Signal(str, object)  # split, images touched (int64 array) or None: everything

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        self.state = state
        self.tasks = TaskOwner(self, state.status)
        self.stores: dict[str, AnnotationStore] = {}
        self.undo_stack = QUndoStack(self)
        self._dataset: K49Dataset | None = None
        self._timer = QTimer(self, interval=REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        state.dataset_changed.connect(self._on_dataset)

    # ---- opening ------------------------------------------------------------------------
    def _on_dataset(self, ds: K49Dataset | None) -> None:
        self.close()
        self._dataset = ds

    def ensure(self, split: str) -> AnnotationStore | None:
        """The split's store if open; else start opening it (`ready(split)` follows)."""
        store = self.stores.get(split)
        ds = self._dataset
        if store is None and ds is not None and split in ds.splits \
                and not self.tasks.running(f"open-{split}"):
            self._open(ds, split)
        return store

    def _open(self, ds: K49Dataset, split: str, retry: bool = True) -> None:
        from k49desk.core.annotations import AnnotationStore, SessionCorrupt

        labels = np.asarray(ds.split(split).labels)

        def work(progress, should_stop):  # noqa: ANN001, ANN202, ARG001
            return AnnotationStore.open(ds.root, split, labels=labels)

        def opened(store: AnnotationStore) -> None:
            if self._dataset is not ds:  # another folder meanwhile
                store.close()
                return
            self.stores[split] = store
            if store.note:
                self.state.status(store.note)
            self._timer.start()
            self.ready.emit(split)

        def failed(e: BaseException) -> None:
            self.tasks.report(f"Annotations of {split} are not available", e)
            if isinstance(e, SessionCorrupt) and retry:  # set aside, reported: start anew
                self._open(ds, split, retry=False)

        self.tasks.run(f"open-{split}", work, on_finished=opened, on_failed=failed)

    def close(self) -> None:
        self._timer.stop()
        for slot in [s for s in self.tasks.tasks if s.startswith("open-")]:
            self.tasks.cancel(slot)
        for store in self.stores.values():
            store.close()
        self.stores.clear()
        self.undo_stack.clear()

    def store(self, split: str) -> AnnotationStore | None:
        return self.stores.get(split)

    # ---- writing ------------------------------------------------------------------------
    def write(self, split: str, fn: Callable[[AnnotationStore], Step | None],
              what: str = "Cannot save the annotation") -> Step | None:
        """Run one store write on the GUI thread (one transaction, durable on return); an
        undoable step goes on the shared undo stack. Errors are shown, never raised."""
        store = self.stores.get(split)
        if store is None:
            self.state.status(f"The {split} annotations are still opening; try again")
            return None
        try:
            step = fn(store)
        except (K49Error, ValueError, IndexError) as e:
            self.tasks.report(what, e)
            return None
        if step is not None:
            if store.last_undoable() == step.id:  # an undoable step: mirror it
                self.undo_stack.push(_StoreStep(self, split, step))
            self.changed.emit(split, step.images)
        return step

    def _history(self, split: str, redo: bool) -> None:
        store = self.stores.get(split)
        if store is None:
            return
        try:
            step = store.redo() if redo else store.undo()
        except K49Error as e:
            self.tasks.report("Cannot undo" if not redo else "Cannot redo", e)
            return
        self.changed.emit(split, None if step is None else step.images)

    # ---- other processes ----------------------------------------------------------------
    def refresh(self) -> None:
        for split, store in list(self.stores.items()):
            try:
                if store.refresh_if_changed():
                    self.changed.emit(split, None)
            except K49Error as e:
                self._timer.stop()  # once, not every two seconds
                self.tasks.report(f"Cannot read the {split} annotations", e)
