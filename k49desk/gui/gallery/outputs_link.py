"""The Gallery and the current model's outputs: the "Model predictions" box (filters and
sorts on predicted class, disagreement, confidence, loss), the pass that computes them (the
shared hub, `state.outputs`: started when the Gallery is shown with a model and a folder,
progress and Cancel in the box, cached so reopening is instant), the detail pane's line about
the image, and "find similar" (gui/common/similar_strip.py) in the detail pane.
A mixin of GalleryPanel, kept apart so the panel stays readable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QShowEvent

from k49desk.core.progress import ProgressUpdate
from k49desk.gui.gallery.model_box import NO_DATA, NO_MODEL, NOT_COMPUTED, ready_text
from k49desk.gui.gallery.model_query import OutputQuery

if TYPE_CHECKING:
    from k49desk.core.outputs import ModelOutputs


class ModelOutputsMixin:
    """Methods of GalleryPanel (see the module docstring); not usable on its own."""

    _outputs_declined = False  # the person cancelled the pass: not restarted on its own
    _scroll_to_similar = False

    def _connect_outputs(self) -> None:
        hub = self.state.outputs
        hub.ready.connect(self._on_outputs_ready)
        hub.progress.connect(self._on_outputs_progress)
        hub.busy_changed.connect(self._on_outputs_busy)  # bound: disconnected with the panel
        hub.failed.connect(self._on_outputs_failed)
        self.model_box.changed.connect(self.set_model_query)
        self.model_box.compute_clicked.connect(lambda: self.ensure_outputs(force=True))
        self.model_box.cancel_clicked.connect(self.cancel_outputs)
        self.state.model_changed.connect(self._on_model_for_outputs)
        self.similar.find_button.clicked.connect(self._want_similar_in_view)
        self.similar.results_shown.connect(self._similar_shown)

    # ---- the pass -----------------------------------------------------------------------
    def ensure_outputs(self, force: bool = False) -> ModelOutputs | None:
        """The current model's outputs for the folder; when they are not there, start the
        shared pass (`ready` follows) unless the person stopped it (`force` overrides)."""
        st = self.state
        if st.model is None or st.dataset is None or (self._outputs_declined and not force):
            self._sync_model_box()
            return None
        self._outputs_declined = False
        out = st.outputs.ensure(quiet=not force)  # asked for: a failure gets its dialog
        if out is not None and self.model.outputs is not out:
            self._on_outputs_ready(out)
        self._sync_model_box()
        return out

    def cancel_outputs(self) -> None:
        self._outputs_declined = True
        self.state.outputs.cancel()

    def set_model_query(self, q: OutputQuery) -> None:
        """Filter and sort by the model's outputs (the rest of the query stays)."""
        self.model.configure(model=q)
        if q.active:
            self.ensure_outputs(force=True)

    def _on_outputs_ready(self, out: ModelOutputs) -> None:
        if self.model.dataset is not self.state.dataset:
            return
        self.model.set_outputs(out)
        self._sync_model_box()
        self._sync_caption_line()
        self._show_outputs_line()
        self._warm_sort_orders(out)

    def _warm_sort_orders(self, out: ModelOutputs) -> None:
        """Each sort's order, computed once in the background: a first sort would otherwise
        pay a full argsort (15-90 ms over 232,365 images) on the GUI thread."""
        from k49desk.core.progress import check_stop
        from k49desk.gui.gallery.model_query import SORTS

        def work(_progress, should_stop):  # noqa: ANN001, ANN202
            for so in out.splits.values():
                for field, desc, _text, _words in SORTS.values():
                    check_stop(should_stop)
                    so.sort_order(field, desc)

        self.tasks.run("sort-orders", work, error_title="Cannot prepare the model sorts")

    def _on_outputs_busy(self, _busy: bool) -> None:
        self._sync_model_box()

    def _on_outputs_failed(self, _e: BaseException) -> None:
        self._outputs_declined = True  # not retried on every show; Compute retries
        self._sync_model_box()

    def _on_outputs_progress(self, u: ProgressUpdate) -> None:
        self.model_box.show_progress(u)
        if self.model.outputs_pending and self.model.rowCount() == 0:
            self.empty_label.setText(self._waiting_text())

    def _on_model_for_outputs(self, m: object) -> None:
        self._outputs_declined = False
        if m is None and self.model.query.uses_outputs:
            self.model.outputs = None
            self.model.configure(model=OutputQuery())  # no model: nothing to filter on
        else:
            self.model.set_outputs(None)
        self._sync_caption_line()
        if self.isVisible():
            self.ensure_outputs()
        self._sync_model_box()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)  # type: ignore[misc]
        self.ensure_outputs()

    def _sync_model_box(self) -> None:
        st, box = self.state, self.model_box
        hub = st.outputs
        out = self.model.outputs
        if st.model is None:
            box.show_state(NO_MODEL)
        elif st.dataset is None:
            box.show_state(NO_DATA)
        elif hub.busy:
            u = hub.last_progress
            box.show_state(u.text if u is not None and u.text else
                           "Computing the model's predictions…", enabled=True, busy=True)
        elif out is not None:
            n = sum(len(s) for s in out.splits.values())
            box.show_state(ready_text(n, out.cached, out.elapsed_s), enabled=True)
        elif hub.last_error is not None:
            box.show_state(f"Cannot compute the predictions: {hub.last_error}", enabled=True,
                           can_compute=True)
        else:
            box.show_state(NOT_COMPUTED + (" (stopped)" if self._outputs_declined else ""),
                           enabled=True, can_compute=True)
        if self.model.outputs_pending and self.model.rowCount() == 0:
            self.empty_label.setText(self._waiting_text())

    def _waiting_text(self) -> str:
        if self.state.model is None:
            return "No model loaded: the model filters need one."
        u = self.state.outputs.last_progress if self.state.outputs.busy else None
        if u is None:
            return ("This filter needs the model's predictions for the folder: "
                    "Compute them (left), or Reset (above).")
        pct = "" if u.fraction is None else f" ({u.fraction:.0%})"
        return f"Waiting for the model's predictions{pct}…\nThey are computed once, then cached."

    # ---- what the grid and the detail pane show -----------------------------------------
    def _sync_caption_line(self) -> None:
        """"pred ね 0.97" under each thumbnail while the query is on the model's outputs:
        the cells grow a line (or lose it)."""
        shown = self.model.has_captions
        if shown != getattr(self, "_caption_line", False):
            self._caption_line = shown
            self._relayout()

    def _after_reset_outputs(self) -> bool:
        """After every filter change: the box mirrors the query, the order box gives way to
        a model sort, the caption line follows. True when the model sort changed."""
        q = self.model.query
        resorted = q.model.sort is not None and q.model.sort != getattr(self, "_last_sort", None)
        self._last_sort = q.model.sort
        self.model_box.set_query(q.model)
        sorted_by_model = q.model.sort is not None
        self.order_combo.setEnabled(not sorted_by_model)
        self.shuffle_button.setEnabled(not sorted_by_model)
        self.order_combo.setToolTip("The model sort decides the order (Sort, left)"
                                    if sorted_by_model else "")
        self._sync_caption_line()
        return resorted

    def _show_outputs_line(self) -> None:
        """The detail pane's line from the whole-folder pass: predicted class, loss, margin."""
        split, i = self.detail.split, self.detail.index
        so = self.model.split_outputs(split) if split is not None else None
        if so is None or i is None or not 0 <= i < len(so):
            self.detail.show_outputs("")
            return
        self.detail.show_outputs(
            f"Whole-folder pass: {self.model.prediction_text(so, i)} · loss "
            f"{float(so.loss[i]):.2f} · margin {float(so.margin[i]):.2f}")

    # ---- find similar -------------------------------------------------------------------
    def find_similar(self, split: str | None = None, index: int | None = None) -> None:
        """The images most similar to (split, index) (default: the detail pane's image),
        shown in the detail pane's strip."""
        split = split if split is not None else self.detail.split
        index = index if index is not None else self.detail.index
        if split is None or index is None:
            return
        self._want_similar_in_view()
        self.similar.find_similar(split, index)

    def _want_similar_in_view(self) -> None:
        self._scroll_to_similar = True

    def _similar_shown(self) -> None:
        if self._scroll_to_similar:  # asked for: bring it into view (following: stay put)
            self._scroll_to_similar = False
            QTimer.singleShot(0, self._scroll_similar_into_view)  # once laid out

    def _scroll_similar_into_view(self) -> None:
        """The strip's top at the top of the detail pane (it is taller than a short pane)."""
        bar = self.detail_scroll.verticalScrollBar()
        top = self.similar.mapTo(self.detail, self.similar.rect().topLeft()).y()
        bar.setValue(min(bar.maximum(), max(0, top - 8)))
