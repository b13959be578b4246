"""File > Import images… and File > Merge folders…: what to read, where to write. The work
itself runs as a Gallery task (folders.py); these dialogs only collect the choices."""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.classes import class_for_text
from k49desk.core.importer import IMAGE_SUFFIXES

if TYPE_CHECKING:
    from k49desk.core.merge import MergeResult
    from k49desk.core.model import LoadedModel


def new_folder_name(parent: Path, stem: str) -> Path:
    """parent/stem-YYYYmmdd-HHMM, with -2, -3... when that exists already."""
    base = parent / f"{stem}-{datetime.now():%Y%m%d-%H%M}"
    p, k = base, 2
    while p.exists():
        p, k = base.with_name(f"{base.name}-{k}"), k + 1
    return p


class _Sources(QWidget):
    """A list of files/folders with Add buttons and Remove."""

    def __init__(self, files: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setMinimumHeight(90)
        buttons = QHBoxLayout()
        if files:
            add_files = QPushButton("Add images…")
            add_files.clicked.connect(self._add_files)
            buttons.addWidget(add_files)
        add_folder = QPushButton("Add a folder…")
        add_folder.clicked.connect(self._add_folder)
        remove = QPushButton("Remove")
        remove.clicked.connect(lambda: [self.list.takeItem(self.list.row(i))
                                        for i in self.list.selectedItems()])
        buttons.addWidget(add_folder)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.list)
        lay.addLayout(buttons)

    def add(self, paths: list[str]) -> None:
        have = set(self.paths())
        for p in paths:
            if p not in have:
                self.list.addItem(p)
                have.add(p)

    def paths(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _add_files(self) -> None:
        pattern = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        files, _ = QFileDialog.getOpenFileNames(self, "Images to import", "",
                                                f"Images ({pattern});;All files (*)")
        self.add(files)

    def _add_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Add a folder")
        if d:
            self.add([d])


def _out_row(edit: QLineEdit, title: str) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    choose = QPushButton("Choose…")

    def pick() -> None:
        d = QFileDialog.getExistingDirectory(edit, title, str(Path(edit.text()).parent))
        if d:
            edit.setText(d)

    choose.clicked.connect(pick)
    row.addWidget(choose)
    return row


class ImportDialog(QDialog):
    """Images (files or folders) -> a new K49 folder, pre-labelled by the current model (or
    every image given one class); an earlier import folder is appended to."""

    def __init__(self, model: LoadedModel | None, default_out: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import images")
        self.sources = _Sources(files=True)
        self.recursive = QCheckBox("Include subfolders")
        self.out = QLineEdit(str(default_out))
        name = (model.path.name if model is not None and model.path else "the current model")
        self.model_note = QLabel(
            f"Each image is pre-labelled with the top-1 class of <b>{escape(name)}</b> and "
            "marked <i>unconfirmed</i>; the Gallery then shows them least confident first: "
            "<b>K</b> confirms, typing a class corrects." if model is not None else
            "<span style='color:#b91c1c'>No model is loaded: give every image one class "
            "below, or load a model first (Model &gt; Load checkpoint).</span>")
        self.model_note.setWordWrap(True)
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("optional: one class for every image (ka or か)")
        self.error = QLabel("")
        self.error.setStyleSheet("color:#b91c1c;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("<b>Images</b> (PNG, JPEG, … or folders of them)"))
        lay.addWidget(self.sources)
        lay.addWidget(self.recursive)
        lay.addWidget(QLabel("<b>Into the folder</b> (new, or an earlier import to add to)"))
        lay.addLayout(_out_row(self.out, "Folder to import into"))
        lay.addWidget(self.model_note)
        lay.addWidget(self.label_edit)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self.resize(560, 420)
        self.has_model = model is not None

    def label(self) -> int | None:
        text = self.label_edit.text().strip()
        return class_for_text(text) if text else None

    def _check(self) -> None:
        text = self.label_edit.text().strip()
        if not self.sources.paths():
            self.error.setText("Add images or a folder first.")
        elif not self.out.text().strip():
            self.error.setText("Choose the folder to import into.")
        elif text and self.label() is None:
            self.error.setText(f"“{text}” is not a class: type romaji (ka) or the character.")
        elif not text and not self.has_model:
            self.error.setText("No model is loaded: type one class for every image.")
        else:
            self.accept()


class MergeDialog(QDialog):
    """Several K49 folders (each with its decisions applied) -> one new folder."""

    def __init__(self, sources: list[str], default_out: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Merge folders")
        self.sources = _Sources(files=False)
        self.sources.add(sources)
        self.out = QLineEdit(str(default_out))
        self.drop = QCheckBox("Leave out unconfirmed pre-labels")
        self.drop.setToolTip("Imported images nobody confirmed are not merged (otherwise they "
                             "are, still marked unconfirmed)")
        self.error = QLabel("")
        self.error.setStyleSheet("color:#b91c1c;")
        note = QLabel("Each folder's decisions are applied: relabels give the new class, "
                      "unusable images are left out. The folders themselves are not changed.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Merge")
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("<b>Folders</b>, in this order"))
        lay.addWidget(self.sources)
        lay.addWidget(note)
        lay.addWidget(QLabel("<b>Into the new folder</b>"))
        lay.addLayout(_out_row(self.out, "Folder to merge into"))
        lay.addWidget(self.drop)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self.resize(560, 400)

    def _check(self) -> None:
        if len(self.sources.paths()) < 1:
            self.error.setText("Add the folders to merge.")
        elif not self.out.text().strip():
            self.error.setText("Choose the folder to merge into.")
        else:
            self.accept()


def merge_summary_html(r: MergeResult) -> str:
    """The per-folder table shown after a merge."""
    head = ("<tr><th align=left>Folder</th><th>Split</th><th>Images</th><th>Merged</th>"
            "<th>Relabelled</th><th>Unusable (left out)</th><th>Unconfirmed</th></tr>")
    rows = "".join(
        f"<tr><td>{escape(Path(c.source).name)}</td><td>{c.split}</td>"
        f"<td align=right>{c.images:,d}</td><td align=right>{c.merged:,d}</td>"
        f"<td align=right>{c.relabelled:,d}</td><td align=right>{c.dropped_unusable:,d}</td>"
        f"<td align=right>{c.unconfirmed:,d}</td></tr>" for c in r.counts)
    totals = ", ".join(f"{s} {n:,d}" for s, n in r.totals.items())
    extra = (" Unconfirmed pre-labels were left out." if r.drop_unconfirmed else
             f" {r.unconfirmed:,d} unconfirmed pre-labels are still marked so in the new "
             "folder." if r.unconfirmed else "")
    return (f"<p>Merged into <b>{escape(str(r.folder))}</b>: {totals}.{extra}</p>"
            f"<table cellspacing=0 cellpadding=3 border=1>{head}{rows}</table>")
