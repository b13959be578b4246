"""The Map panel: every image of a split (or both) as a point of a 2D map of the current
model's embeddings, coloured by label, prediction, correctness, flag or decision.

Data path: the shared model outputs (`state.outputs`, computed once per model and folder)
-> `pca_map` shown at once -> `compute_map` (t-SNE, cached on disk) in the background with
progress and Cancel, replacing the preview when done. Selections are linked both ways
through `AppState.set_selection`: a lasso here is published (and "Show in Gallery" opens
it there, all selected, to annotate); a Gallery or Review selection is highlighted here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, QTimer
from PySide6.QtWidgets import QMenu, QWidget

from k49desk.core.progress import ProgressUpdate
from k49desk.core.projection import DEFAULT_METHOD, MapResult, compute_map, pca_map
from k49desk.gui.common.panel import Panel
from k49desk.gui.common.state import AppState, GalleryRequest
from k49desk.gui.map.colours import MODES, Colouring, colouring
from k49desk.gui.map.layout import SPLIT_CHOICES, MapLayout
from k49desk.gui.map.linking import rows_of_selection, selection_of_rows

if TYPE_CHECKING:
    from k49desk.core.outputs import ModelOutputs

KEEP_MAPS = 6  # finished maps kept in memory (2 MB each at full size)


class MapPanel(MapLayout, Panel):
    title = "Map"
    method = DEFAULT_METHOD  # the projection that replaces the PCA preview

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.outputs: ModelOutputs | None = None
        self.result: MapResult | None = None
        self.colouring: Colouring | None = None
        self.maps: dict[tuple, MapResult] = {}  # (outputs key, splits, method) -> finished map
        self.selected_rows = np.zeros(0, np.int64)  # the shared selection, as map rows
        self.selection_source = ""
        self._order = np.zeros(0, np.int64)
        self._wanted = False  # shown once: from then on the map follows model and folder
        self.build_ui()
        self._recolour_timer = QTimer(self, singleShot=True, interval=0)
        self._recolour_timer.timeout.connect(self.recolour)
        self._connect()
        self._show_message()

    def _connect(self) -> None:
        st, hub = self.state, self.state.outputs
        st.dataset_changed.connect(lambda _ds: self.reset())
        st.model_changed.connect(lambda _m: self.reset())
        st.selection_changed.connect(self._on_selection)
        st.flags_changed.connect(lambda _s: self._recolour_if("flag"))
        st.annotations.ready.connect(lambda _s: self._recolour_if("decision"))
        st.annotations.changed.connect(lambda _s, _i: self._recolour_if("decision"))
        hub.ready.connect(self._on_outputs)
        hub.progress.connect(self._on_outputs_progress)
        hub.busy_changed.connect(lambda _b: self._show_message() if self.result is None
                                 else None)
        self.split_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.colour_combo.currentIndexChanged.connect(lambda _i: self.recolour())
        self.legend.isolated_changed.connect(lambda _c: self._apply_colours())
        v = self.view
        v.selected.connect(self._on_shape)
        v.clicked.connect(self._on_click)
        v.double_clicked.connect(self._on_double_click)
        v.hovered.connect(self._on_hover)
        v.context_requested.connect(self._context_menu)
        self.strip_button.clicked.connect(self._on_strip_button)
        self.gallery_button.clicked.connect(self.show_in_gallery)
        self.fit_button.clicked.connect(lambda: self.view.fit())

    # ---- public API ---------------------------------------------------------------------
    @property
    def split_choice(self) -> str:
        return str(self.split_combo.currentData())

    def set_split(self, choice: str) -> None:
        """"train", "test" or "both"."""
        self.split_combo.setCurrentIndex([k for k, _ in SPLIT_CHOICES].index(choice))

    @property
    def colour_mode(self) -> str:
        return str(self.colour_combo.currentData())

    def set_colour_mode(self, mode: str) -> None:
        self.colour_combo.setCurrentIndex([k for k, _ in MODES].index(mode))

    def set_tool(self, tool: str) -> None:
        self.view.set_tool(tool)
        for name, b in self.tool_buttons.items():
            b.setChecked(name == tool)

    def on_shown(self) -> None:
        self._wanted = True
        self.refresh()
        self.view.setFocus()

    def show_class(self, label: int) -> None:
        if self.colour_mode not in ("given", "predicted"):
            self.set_colour_mode("given")
        self.legend.set_isolated([int(label)], emit=True)

    def export_actions(self) -> list[tuple[str, object]]:
        return [("Map image (PNG)…", self.export_png)] if self.result is not None else []

    # ---- following the model and folder -------------------------------------------------
    def reset(self) -> None:
        """The model or folder changed: what is shown belongs to something else."""
        self.tasks.cancel("map")
        self.outputs = self.result = self.colouring = None
        self.selected_rows = np.zeros(0, np.int64)
        self.view.set_points(np.zeros((0, 2), np.float32), np.zeros(0, np.uint32))
        self.view.set_highlight(self.selected_rows)
        self.hover_card.hide()
        self.demo_banner.follow(self.state.dataset)
        self._show_message()
        if self._wanted and self.isVisible():
            QTimer.singleShot(0, self.refresh)

    def refresh(self) -> None:
        """Show the map for the current model, folder and split choice, computing what is
        missing in the background."""
        if self.state.dataset is None or self.state.model is None:
            self._show_message()
            return
        out = self.state.outputs.ensure()  # None: being computed (ready follows)
        if out is None:
            self._show_message()
            return
        self._show_outputs(out)

    def split_names(self, out: ModelOutputs) -> tuple[str, ...]:
        choice = self.split_choice
        names = tuple(out.splits) if choice == "both" else (choice,)
        return tuple(n for n in names if n in out.splits) or tuple(out.splits)[:1]

    def _on_outputs(self, out: ModelOutputs) -> None:
        if self._wanted:
            self._show_outputs(out)

    def _show_outputs(self, out: ModelOutputs) -> None:
        self.outputs = out
        names = self.split_names(out)
        key = (out.key, names, self.method)
        if key in self.maps:
            if self.result is not self.maps[key]:
                self._set_result(self.maps[key])
            self._set_strip(self._done_text(self.result), "")
            return
        if self.result is not None and self.result.method == "pca" and \
                self.result.split_names == names and self.tasks.running("map"):
            return  # the preview is up and the projection is on its way
        self._set_result(pca_map(out, names))
        self.compute()

    def compute(self) -> None:
        """Start the projection of the current map (t-SNE; cached results return at once)."""
        out, ds = self.outputs, self.state.dataset
        if out is None or ds is None:
            return
        names = self.split_names(out)
        key = (out.key, names, self.method)
        method = self.method

        def work(progress, should_stop):  # noqa: ANN001, ANN202
            return compute_map(out, ds, names, method, progress=progress,
                               should_stop=should_stop)

        def done(m: MapResult) -> None:
            self.maps[key] = m
            while len(self.maps) > KEEP_MAPS:
                self.maps.pop(next(iter(self.maps)))
            if self.outputs is out and self.split_names(out) == names:
                self._set_result(m)
                self._set_strip(self._done_text(m), "")

        n = sum(len(out.split(s)) for s in names)
        self._set_strip(f"Preview (PCA) of {n:,d} images · computing the t-SNE map…",
                        "Cancel", busy=True)
        self.tasks.run("map", work, on_finished=done, on_progress=self._on_map_progress,
                       on_cancelled=lambda: self._set_strip(
                           "Stopped: showing the PCA preview", "Compute t-SNE map"),
                       error_title="Cannot compute the map")

    def _done_text(self, m: MapResult | None) -> str:
        if m is None:
            return ""
        where = " + ".join(m.split_names)
        how = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}.get(m.method, m.method)
        took = "from the cache" if m.cached else f"in {m.elapsed_s:.0f} s"
        return f"{how} map of {len(m):,d} {where} images ({took})"

    # ---- the map and its colours --------------------------------------------------------
    def _set_result(self, m: MapResult) -> None:
        fit = (self.result is None or self.result.split_names != m.split_names
               or self.result.method != m.method)
        self.result = m
        self._order = np.random.default_rng(0).permutation(len(m))
        self.pages.setCurrentIndex(1)
        self.colouring = None
        self.recolour(fit=fit)
        self._highlight_selection()

    def _recolour_if(self, mode: str) -> None:
        if self.result is not None and self.colour_mode == mode:
            self._recolour_timer.start()

    def recolour(self, fit: bool = False) -> None:
        m, ds = self.result, self.state.dataset
        if m is None or ds is None:
            return
        mode = self.colour_mode
        hub = self.state.annotations
        decisions = {}
        if mode == "decision":
            for s in m.split_names:
                store = hub.ensure(s)  # opening: `ready` recolours
                decisions[s] = None if store is None else store.decision_codes()
        self.colouring = colouring(mode, m, classes=ds.classes, outputs=self.outputs,
                                   flags=self.state.flags, decisions=decisions)
        self.legend.set_colouring(self.colouring, dict(MODES)[mode])
        self._apply_colours(fit)

    def _apply_colours(self, fit: bool = False) -> None:
        c, m = self.colouring, self.result
        if c is None or m is None:
            return
        iso = self.legend.isolated
        self.view.set_points(m.xy, c.rgb32(iso), c.draw_order(self._order, iso), fit=fit)

    # ---- selection ----------------------------------------------------------------------
    def _on_selection(self, source: str, _sel: object) -> None:
        self.selection_source = source
        self._highlight_selection()

    def _highlight_selection(self) -> None:
        m = self.result
        _src, sel = self.state.selection
        self.selected_rows = (rows_of_selection(m, sel) if m is not None
                              else np.zeros(0, np.int64))
        self.view.set_highlight(self.selected_rows)
        n = int(self.selected_rows.size)
        self.gallery_button.setEnabled(n > 0)
        self.gallery_button.setText(f"Show {n:,d} in Gallery" if n else "Show in Gallery")
        src = {"map": "on the map", "gallery": "in the Gallery", "review": "in Review"}
        self.selection_label.setText(
            f"{n:,d} selected {src.get(self.selection_source, '')}".strip() if n else "")

    def select_rows(self, rows: np.ndarray, how: str = "replace") -> None:
        """Make map rows the shared selection ("add"/"remove": combined with it)."""
        rows = np.asarray(rows, np.int64)
        if how == "add":
            rows = np.union1d(self.selected_rows, rows)
        elif how == "remove":
            rows = np.setdiff1d(self.selected_rows, rows)
        if self.result is not None:
            self.state.set_selection("map", selection_of_rows(self.result, rows))

    def _on_shape(self, rows: np.ndarray, how: str) -> None:
        self.select_rows(rows, how)
        n = int(self.selected_rows.size)
        self.state.status(f"{n:,d} images selected on the map" + (
            " · Enter shows them in the Gallery" if n else ""))

    def _on_click(self, row: int | None, how: str) -> None:
        if row is None:
            if how == "replace":
                self.select_rows(np.zeros(0, np.int64))
            return
        self.select_rows(np.array([row]), how)

    def _on_double_click(self, row: int) -> None:
        self.select_rows(np.array([row]))
        self.show_in_gallery()

    def show_in_gallery(self) -> None:
        """Open the selection in the Gallery: exactly those images, all selected."""
        m = self.result
        if m is None or not self.selected_rows.size:
            self.state.status("Select images on the map first (drag a lasso or a rectangle)")
            return
        sel = selection_of_rows(m, self.selected_rows)
        split = next(iter(sel)) if len(sel) == 1 else "both"
        self.state.show_in_gallery(GalleryRequest(
            split=split, selection=sel, title="Selected on the map"))

    def clear_selection(self) -> None:
        if self.legend.isolated:
            self.legend.set_isolated([], emit=True)
        elif self.selected_rows.size:
            self.select_rows(np.zeros(0, np.int64))

    # ---- hover and menu -----------------------------------------------------------------
    def _on_hover(self, row: int | None) -> None:
        from k49desk.gui.map.linking import hover_html

        m, ds = self.result, self.state.dataset
        if row is None or m is None or ds is None:
            self.hover_card.hide()
            return
        which, idx = m.locate(np.array([row]))
        split, i = m.split_names[int(which[0])], int(idx[0])
        html = hover_html(ds, split, i, self.outputs, self.state.annotations.store(split))
        pt = self.view.vb.mapViewToScene(QPointF(*map(float, m.xy[row])))
        self.hover_card.show_at(self.view.mapFromScene(pt), ds.split(split).images[i], html)

    def _context_menu(self, pos: object) -> None:
        menu = QMenu(self)
        n = int(self.selected_rows.size)
        menu.addAction(f"Show {n:,d} in Gallery (Enter)", self.show_in_gallery).setEnabled(
            n > 0)
        menu.addAction("Zoom to the selection (Z)",
                       lambda: self.view.fit(self.selected_rows)).setEnabled(n > 0)
        menu.addAction("Clear the selection (Esc)",
                       lambda: self.select_rows(np.zeros(0, np.int64))).setEnabled(n > 0)
        menu.addSeparator()
        menu.addAction("Show all points (F)", self.view.fit)
        menu.exec(pos)

    # ---- progress -----------------------------------------------------------------------
    def _on_outputs_progress(self, u: ProgressUpdate) -> None:
        if self._wanted and self.result is None:
            self._set_strip(f"Running the model over every image: {u.text}", "Cancel",
                            busy=True, fraction=u.fraction)

    def _on_map_progress(self, u: ProgressUpdate) -> None:
        n = len(self.result) if self.result is not None else 0
        self._set_strip(f"Preview (PCA) of {n:,d} images · {u.text}", "Cancel", busy=True,
                        fraction=u.fraction)

    def _on_strip_button(self) -> None:
        if self.tasks.running("map"):
            self.tasks.stop("map")
            self._set_strip("Stopping the map after the current step…", "", busy=True)
        elif self.state.outputs.busy:
            self.state.outputs.cancel()
        elif self.result is not None and self.result.method == "pca":
            self.compute()
        else:
            self.refresh()

    def shutdown(self) -> None:
        self.tasks.shutdown()

    def export_png(self) -> None:
        from k49desk.gui.common.files import save_image
        from k49desk.gui.common.widgets import export_with_dialog

        export_with_dialog(self, "Save the map", "k49-map.png", "PNG image (*.png)",
                           lambda p: save_image(self.view.grab().toImage(), p),
                           self.state.status)
