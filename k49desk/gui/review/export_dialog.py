"""Where to write the corrected dataset: a parent folder and a NEW subfolder name.

The core refuses a folder holding other files (it replaces only an earlier export), so the
dialog proposes a name that does not exist yet (`<data>-corrected-<split>`, then -2, -3...)
and checks the choice before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.review_export import corrected_folder_problem, new_folder_name

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset


class CorrectedFolderDialog(QDialog):
    def __init__(self, ds: K49Dataset, split: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export the corrected {split} dataset")
        self.ds, self.split = ds, split
        self.base = f"{Path(ds.root).name}-corrected-{split}"
        self.parent_edit = QLineEdit()
        self.name_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        row = QHBoxLayout()
        row.addWidget(self.parent_edit, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("In folder:", row)
        form.addRow("New folder:", self.name_edit)
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        about = QLabel("A complete K49 folder: the corrected labels, the images and the other "
                       "split linked (or copied), unusable images listed, and the review table. "
                       "The data folder itself is never changed.")
        about.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(about)
        lay.addLayout(form)
        lay.addWidget(self.verdict)
        lay.addWidget(self.buttons)
        self.resize(560, self.sizeHint().height())
        self.parent_edit.textChanged.connect(self.check)
        self.name_edit.textChanged.connect(self.check)
        self.choose(Path(ds.root).parent)

    def folder(self) -> Path:
        return Path(self.parent_edit.text().strip()) / self.name_edit.text().strip()

    def choose(self, picked: str | Path) -> None:
        """Use `picked`: a folder that can take the export as it is (new, empty, an earlier
        export) is the target; any other folder becomes the parent of a proposed new one."""
        picked = Path(picked)
        if picked.is_dir() and corrected_folder_problem(picked, self.ds, self.split) is None:
            self.parent_edit.setText(str(picked.parent))
            self.name_edit.setText(picked.name)
        else:
            self.parent_edit.setText(str(picked))
            self.name_edit.setText(new_folder_name(picked, self.base).name)

    def browse(self) -> None:
        got = QFileDialog.getExistingDirectory(self, "Folder for the corrected dataset",
                                               self.parent_edit.text())
        if got:
            self.choose(got)

    def problem(self) -> str | None:
        if not self.parent_edit.text().strip() or not self.name_edit.text().strip():
            return "Give a folder and a name for the new folder."
        if "/" in self.name_edit.text() or "\\" in self.name_edit.text():
            return "The new folder's name cannot contain a slash."
        return corrected_folder_problem(self.folder(), self.ds, self.split)

    def check(self) -> None:
        problem = self.problem()
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(problem is None)
        target = self.folder()
        if problem:
            self.verdict.setText(f"<span style='color:#b91c1c'>{problem}</span>")
        elif target.exists() and any(target.iterdir()):
            self.verdict.setText(f"Replaces the earlier export in {target}.")
        else:
            self.verdict.setText(f"Creates {target}.")
