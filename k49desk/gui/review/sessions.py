"""The Review panel's sessions, one per split, as views over the app's shared stores.

Every split of the open folder gets its `ReviewSession` as soon as `AppState.annotations`
has opened that split's store (never a second store on the same file), so each split's flags
reach the Gallery (`state.set_flags(split, ...)`) whichever split the panel shows, and stay
there when another split gets new flags. Decisions go through `write` (the hub: one undo
history shared with the Gallery); any change made elsewhere (the Gallery, Edit ▸ Undo,
another k49desk process) is passed on as `changed(split, images | None)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from k49desk.core.errors import K49Error
from k49desk.core.review import ReviewSession

if TYPE_CHECKING:
    from k49desk.core.annotations import AnnotationStore, Step
    from k49desk.core.dataset import K49Dataset
    from k49desk.gui.common.state import AppState
    from k49desk.gui.review.io import NewFlags

PUBLISH_MS = 150  # flags to the Gallery: soon, but off the key-press path


class ReviewSessions(QObject):
    opened = Signal(str, str)  # split, what to say: its session is open or has new flags
    changed = Signal(str, object)  # split, images (int64) | None: changed elsewhere

    def __init__(self, state: AppState, report: Callable[[str, BaseException], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.hub = state.annotations
        self.report = report
        self.sessions: dict[str, ReviewSession] = {}
        self._pending: dict[str, NewFlags] = {}
        self._dirty: set[str] = set()
        self._writing = False
        self._timer = QTimer(self, singleShot=True, interval=PUBLISH_MS)
        self._timer.timeout.connect(self.publish)
        self.hub.ready.connect(self._on_ready)
        self.hub.changed.connect(self._on_changed)

    def get(self, split: str) -> ReviewSession | None:
        return self.sessions.get(split)

    def opening(self, split: str) -> bool:
        """The split's store is still being opened (in the background)."""
        return split not in self.sessions and self.hub.tasks.running(f"open-{split}")

    # ---- opening ------------------------------------------------------------------------
    def start(self, ds: K49Dataset | None) -> None:
        """A folder was opened (or closed): a session per split once its store is open."""
        self.close()
        if ds is None:
            return
        for split in ds.split_names:
            if self.hub.ensure(split) is not None:
                self._open(split)

    def replace(self, new: NewFlags) -> None:
        """Start the review of `new.split` from new flags (earlier decisions stay: they are
        per image); done at once, or as soon as the split's store is open."""
        self._pending[new.split] = new
        if self.hub.ensure(new.split) is not None:
            self._open(new.split)

    def _on_ready(self, split: str) -> None:
        ds = self.state.dataset
        if ds is not None and split in ds.splits:
            self._open(split)

    def _open(self, split: str) -> None:
        ds, store = self.state.dataset, self.hub.store(split)
        if ds is None or store is None:
            return
        new = self._pending.pop(split, None)
        args: dict = {}
        if new is not None:
            args = dict(flags=new.flags, proba=new.proba, pairs=new.pairs, model=new.model,
                        method=new.method)
        try:
            s = ReviewSession.open(ds.root, split, labels=ds.split(split).labels, store=store,
                                   **args)
        except K49Error as e:
            self.report("Cannot load the flags" if new is not None else
                        f"Cannot open the review of {split}", e)
            if split in self.sessions or new is None:
                return
            s = ReviewSession.open(ds.root, split, labels=ds.split(split).labels, store=store)
        self.sessions[split] = s
        self._mark(split)
        self.opened.emit(split, new.done_text if new is not None else s.note)

    def close(self) -> None:
        """Forget the sessions (the stores are the hub's: it closes them)."""
        for s in self.sessions.values():
            s.close()
        self.sessions.clear()
        self._pending.clear()
        self._dirty.clear()
        self._timer.stop()

    # ---- changes ------------------------------------------------------------------------
    def write(self, split: str, fn: Callable[[AnnotationStore], Step | None],
              what: str = "Cannot save the decision") -> Step | None:
        """A decision of this panel, through the hub (durable on return, undoable)."""
        self._writing = True
        try:
            return self.hub.write(split, fn, what)
        finally:
            self._writing = False

    def _on_changed(self, split: str, images: object) -> None:
        s = self.sessions.get(split)
        if s is None:
            return
        if images is None:  # another process (maybe new flags) or an undo with no effect
            before = s.flags
            try:
                s.refresh_if_changed()
            except K49Error as e:
                self.report(f"Cannot read the review of {split}", e)
            if s.flags is not before:
                self._mark(split)
                self.opened.emit(split, f"New flags for {split} from another k49desk window.")
                return
        self._mark(split)
        if not self._writing:
            self.changed.emit(split, images)

    def _mark(self, split: str) -> None:
        self._dirty.add(split)
        self._timer.start()

    def publish(self) -> None:
        """Each changed split's flags and decisions to the Gallery (state.flags[split])."""
        self._timer.stop()
        dirty, self._dirty = self._dirty, set()
        for split in sorted(dirty):
            s = self.sessions.get(split)
            if s is not None:
                self.state.set_flags(split, s.flags_frame() if len(s) else None)
