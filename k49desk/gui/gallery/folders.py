"""The Gallery's file work: import images, merge folders, selection CSVs, decision exports.

A mixin of GalleryPanel. Everything slow runs as one of the panel's tasks, in the "folder"
slot, with the progress strip above the grid (Cancel stops it); core does the work
(core.importer, core.merge, core.selection_csv, core.review_export through a ReviewSnapshot).
After an import the new folder is opened and the Gallery shows its unconfirmed pre-labels,
least confident first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from k49desk.core.progress import ProgressUpdate
from k49desk.gui.common import settings
from k49desk.gui.gallery.dialogs import (
    ImportDialog,
    MergeDialog,
    merge_summary_html,
    new_folder_name,
)
from k49desk.gui.gallery.query import GalleryQuery
from k49desk.paths import default_data_dir

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset
    from k49desk.core.importer import ImportResult
    from k49desk.core.merge import MergeResult

SLOT = "folder"


def _plural(n: int, word: str) -> str:
    return f"{n:,d} {word}" + ("" if n == 1 else "s")


class FoldersMixin:
    """Methods of GalleryPanel; uses its state, tasks, model, view and task_strip."""

    # ---- the task strip -----------------------------------------------------------------
    def _run_folder_task(self, text: str, work: Callable[..., Any],
                         finished: Callable[[Any], None], error_title: str) -> bool:
        if self.tasks.running(SLOT):
            self.state.status("Wait for the running import, merge or export to finish "
                              "(or cancel it)")
            return False
        self.task_strip.begin(text)
        self.tasks.run(SLOT, work, on_finished=finished, on_progress=self._on_folder_progress,
                       on_cancelled=lambda: self.state.status(f"{text.rstrip('…')}: cancelled"),
                       on_done=self.task_strip.end, error_title=error_title)
        return True

    def _on_folder_progress(self, u: ProgressUpdate) -> None:
        self.task_strip.progress(u.fraction, u.text)

    def cancel_folder_task(self) -> None:
        self.tasks.stop(SLOT)  # core stops between batches; the strip closes when it ends
        self.task_strip.cancel_button.setEnabled(False)

    def _info(self, title: str, html: str) -> QMessageBox:
        """A non-blocking summary (the work is done; nothing waits for the answer)."""
        box = QMessageBox(QMessageBox.Icon.Information, title, html,
                          QMessageBox.StandardButton.Ok, self)
        box.setModal(False)
        box.open()
        self.last_summary = box
        return box

    # ---- import -------------------------------------------------------------------------
    def import_dialog(self) -> None:
        dlg = ImportDialog(self.state.model,
                           new_folder_name(default_data_dir().resolve(), "imported"), self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.import_images(dlg.sources.paths(), Path(dlg.out.text().strip()),
                               label=dlg.label(), recursive=dlg.recursive.isChecked())

    def import_images(self, paths: list[str | Path], out: str | Path, *,
                      label: int | None = None, recursive: bool = False) -> bool:
        """Import image files/folders into `out` (core.importer) as a task, then open it and
        show the unconfirmed pre-labels, least confident first."""
        model = None if label is not None else self.state.model
        if model is None and label is None:
            self.state.status("Load a model first (Model > Load checkpoint), or give one class")
            return False
        out = Path(out)

        def work(progress, should_stop):  # noqa: ANN001, ANN202
            from k49desk.core.dataset import open_dataset
            from k49desk.core.importer import import_images

            r = import_images(list(paths), out, model=model, label=label, recursive=recursive,
                              progress=progress, should_stop=should_stop)
            return r, (open_dataset(r.folder) if r.written else None)

        return self._run_folder_task(f"Importing images into {out}…", work, self._on_imported,
                                     "Cannot import the images")

    def _on_imported(self, result: tuple[ImportResult, K49Dataset | None]) -> None:
        r, ds = result
        failed = "".join(f"<li>{Path(f).name}: {m}</li>" for f, m in r.failed[:20])
        if ds is None:
            self.state.status(f"Nothing imported into {r.folder}")
            self._info("Nothing imported", f"No image could be read.<ul>{failed}</ul>")
            return
        settings.remember_folder(ds.root)
        self.state.set_dataset(ds)
        idx = np.arange(r.first_index, r.first_index + r.n_imported, dtype=np.int64)
        if r.confidences is not None:
            self.set_query(GalleryQuery(decision="prelabel"))
            how = "least confident first: K confirms, typing a class corrects"
        else:
            self.show_selection({"train": idx}, f"Imported into {Path(r.folder).name}")
            how = "all labelled " + ds.classes[int(r.label or 0)].label
        self.state.status(f"Imported {_plural(r.n_imported, 'image')} into {r.folder} "
                          f"({how})" + (f"; {len(r.failed)} failed" if r.failed else ""))
        if r.failed:
            self._info("Some files were not imported",
                       f"{_plural(len(r.failed), 'file')} could not be read:<ul>{failed}</ul>")

    # ---- merge --------------------------------------------------------------------------
    def merge_dialog(self) -> None:
        ds = self.model.dataset
        parent = Path(ds.root).parent if ds is not None else default_data_dir()
        dlg = MergeDialog([str(ds.root)] if ds is not None else [],
                          new_folder_name(parent, "merged"), self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.merge_folders(dlg.sources.paths(), Path(dlg.out.text().strip()),
                               drop_unconfirmed=dlg.drop.isChecked())

    def merge_folders(self, sources: list[str | Path], out: str | Path, *,
                      drop_unconfirmed: bool = False) -> bool:
        out = Path(out)

        def work(progress, should_stop):  # noqa: ANN001, ANN202
            from k49desk.core.merge import merge_folders

            return merge_folders(list(sources), out, drop_unconfirmed=drop_unconfirmed,
                                 progress=progress, should_stop=should_stop)

        return self._run_folder_task(f"Merging {_plural(len(sources), 'folder')} into {out}…",
                                     work, self._on_merged, "Cannot merge the folders")

    def _on_merged(self, r: MergeResult) -> None:
        self.last_merge = r
        totals = ", ".join(f"{s} {n:,d}" for s, n in r.totals.items())
        self.state.status(f"Merged into {r.folder} ({totals})")
        box = self._info("Merged", merge_summary_html(r))
        open_btn = box.addButton("Open the merged folder", QMessageBox.ButtonRole.AcceptRole)
        open_btn.clicked.connect(lambda: self.open_folder(r.folder))

    def open_folder(self, folder: str | Path) -> None:
        """Open a data folder in the background and make it the app's."""
        def work(progress, should_stop):  # noqa: ANN001, ANN202, ARG001
            from k49desk.core.dataset import open_dataset

            return open_dataset(Path(folder), progress=progress)

        def opened(ds: K49Dataset) -> None:
            settings.remember_folder(ds.root)
            self.state.set_dataset(ds)

        self._run_folder_task(f"Opening {folder}…", work, opened, "Cannot open the folder")

    # ---- selection CSV ------------------------------------------------------------------
    def open_selection_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a selection CSV (split,index)",
                                              str(settings.export_dir()), "CSV (*.csv)")
        if path:
            self.open_selection_csv(path)

    def open_selection_csv(self, path: str | Path) -> None:
        """Show exactly the images a selection CSV names (columns split,index); waits for a
        folder when none is open yet (`k49desk gui --indices`)."""
        ds = self.state.dataset
        if ds is None:
            self._pending_selection = Path(path)
            return
        self._pending_selection = None

        def work(progress, should_stop):  # noqa: ANN001, ANN202, ARG001
            from k49desk.core.selection_csv import read_selection_csv

            return read_selection_csv(path, ds)

        self._run_folder_task(f"Reading {Path(path).name}…", work,
                              lambda sel: self.show_selection(sel, f"Selection from "
                                                                   f"{Path(path).name}"),
                              "Cannot read the selection")

    def _selection_frame(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """{split: indices} of these rows, each split in display order."""
        names = self.model.shown_split_names()
        codes = self.model.split_codes()[rows]
        idx = self.model.indices()[rows]
        return {n: idx[codes == k] for k, n in enumerate(names) if (codes == k).any()}

    def export_selection_csv(self, path: str | Path, which: str = "selection") -> int:
        """Write the selection (or the whole view) as split,index rows; the rows written."""
        from k49desk.core.selection_csv import write_selection_csv

        rows = (self.view.selected_rows() if which == "selection"
                else np.arange(self.model.rowCount()))
        return write_selection_csv(path, self._selection_frame(rows), ds=self.model.dataset)

    # ---- decisions of a split -----------------------------------------------------------
    def _snapshot(self, split: str) -> Any:
        from k49desk.core.review import ReviewSession

        store = self.state.annotations.store(split)
        ds = self.model.dataset
        if store is None or ds is None:
            self.state.status(f"The {split} annotations are still opening; try again")
            return None
        return ReviewSession(store, Path(ds.root), owns_store=False,
                             classes=ds.classes).frozen()

    def export_decisions(self, split: str, path: str | Path, kind: str = "csv") -> bool:
        """Every decision, tag and note of `split` (with Review's flags) as CSV or JSON."""
        snap = self._snapshot(split)
        if snap is None:
            return False
        path = Path(path)
        write = snap.export_json if kind == "json" else snap.export_csv
        return self._run_folder_task(
            f"Writing {path.name}…", lambda _p, _s: write(path),
            lambda _r: self.state.status(f"Saved the {split} decisions and tags to {path}"),
            "Export failed")

    def export_corrected(self, split: str, folder: str | Path) -> bool:
        """A K49 folder with `split`'s labels corrected by its decisions (unusable listed)."""
        snap, ds = self._snapshot(split), self.model.dataset
        if snap is None or ds is None:
            return False
        folder = Path(folder)
        return self._run_folder_task(
            f"Writing the corrected {split} folder…",
            lambda _p, _s: snap.export_corrected(folder, ds),
            lambda paths: self.state.status(f"Corrected {split} labels written to {folder} "
                                            f"({_plural(len(paths), 'file')})"),
            "Export failed")
