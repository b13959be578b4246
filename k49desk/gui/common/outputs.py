"""The current model's view of the open folder: one shared pass over every image.

Predictions (class, confidence, loss, margin, top-5) and embeddings for every image of the
open splits (core/outputs.py) feed the Gallery's queries, the map and "find similar". They
are computed once per (model, folder) in the background, with progress and cancel, cached on
disk by model and data fingerprint (reopening is instant), and shared here: a panel calls
`ensure()` and listens to `ready`. The similar-image index is built from them on demand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from k49desk.core.progress import ProgressUpdate
from k49desk.gui.common.tasks import TaskOwner

if TYPE_CHECKING:
    from k49desk.core.neighbors import NeighborIndex
    from k49desk.core.outputs import ModelOutputs
    from k49desk.gui.common.state import AppState


class ModelOutputsHub(QObject):
    ready = Signal(object)  # ModelOutputs for the current model and folder
    progress = Signal(object)  # ProgressUpdate while computing
    busy_changed = Signal(bool)
    index_ready = Signal(object)  # NeighborIndex
    failed = Signal(object)  # the exception, when a quiet pass failed (see ensure)

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        self.state = state
        self.tasks = TaskOwner(self, state.status)
        self.outputs: ModelOutputs | None = None
        self.index: NeighborIndex | None = None
        self.last_progress: ProgressUpdate | None = None
        self.last_error: BaseException | None = None  # of the last pass, until the next
        self._index_wanted = False
        state.dataset_changed.connect(lambda _ds: self.reset())
        state.model_changed.connect(lambda _m: self.reset())

    @property
    def busy(self) -> bool:
        return self.outputs is None and self.tasks.running("outputs")

    def reset(self) -> None:
        """The model or the folder changed: what was computed is for something else."""
        self.tasks.cancel("outputs")
        self.tasks.cancel("index")
        self.outputs = self.index = None
        self.last_progress = self.last_error = None
        self._index_wanted = False
        self.busy_changed.emit(False)

    def ensure(self, *, quiet: bool = False) -> ModelOutputs | None:
        """The outputs if ready; else start computing them (`ready` follows). None also when
        there is no model or no folder. `quiet`: a pass nobody asked for explicitly (a panel
        was shown) reports a failure by `failed` and the status line, not a dialog."""
        if self.outputs is not None or self.busy:
            return self.outputs
        model, ds = self.state.model, self.state.dataset
        if model is None or ds is None:
            return None

        def work(progress, should_stop):  # noqa: ANN001, ANN202
            from k49desk.core.outputs import compute_outputs

            return compute_outputs(model, ds, progress=progress, should_stop=should_stop)

        def done(out: ModelOutputs) -> None:
            self.outputs = out
            self.busy_changed.emit(False)
            if self._index_wanted:
                self._build_index(out)
            self.state.status(
                f"Model outputs for {sum(len(s) for s in out.splits.values()):,d} images "
                + ("loaded from the cache" if out.cached else f"in {out.elapsed_s:.0f} s"))
            self.ready.emit(out)

        def progressed(u: ProgressUpdate) -> None:
            self.last_progress = u
            self.progress.emit(u)

        def failed(e: BaseException) -> None:
            self.last_error = e
            if quiet:
                self.state.status(f"Cannot compute the model's predictions: {e}")
            else:
                self.tasks.report("Cannot compute the model's predictions", e)
            self.failed.emit(e)

        self.last_error = None
        self.tasks.run("outputs", work, on_finished=done, on_progress=progressed,
                       on_failed=failed, on_cancelled=lambda: self.busy_changed.emit(False),
                       on_done=lambda: self.busy_changed.emit(self.busy),
                       # every update: the throttle dropped "Fitting the embedding space"
                       # (50 ms after the cache look-up) and left the old text for seconds
                       min_interval_s=0.0)
        self.busy_changed.emit(True)
        return None

    def cancel(self) -> None:
        self.tasks.stop("outputs")

    def ensure_index(self) -> NeighborIndex | None:
        """The similar-image index (all splits) if built; else build it once the outputs are
        there (`index_ready` follows)."""
        if self.index is not None or self.tasks.running("index"):
            return self.index
        out = self.ensure()
        if out is None:
            self._index_wanted = True  # built when the outputs are ready
        else:
            self._build_index(out)
        return None

    def _build_index(self, out: ModelOutputs) -> None:
        self._index_wanted = False

        def work(progress, should_stop):  # noqa: ANN001, ANN202, ARG001
            from k49desk.core.neighbors import NeighborIndex

            return NeighborIndex(out)

        def done(index: NeighborIndex) -> None:
            if self.outputs is out:
                self.index = index
                self.index_ready.emit(index)

        self.tasks.run("index", work, on_finished=done,
                       error_title="Cannot build the similar-image index")
