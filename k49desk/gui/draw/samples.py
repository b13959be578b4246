"""Draw > Add to my samples (Ctrl+S): the drawing, preprocessed to a 28x28 K49 image, with its
class, appended to a samples folder (core.samples.append_samples; default data/my-samples).

The class is explicit and quick: the bar under the paper always shows the class Ctrl+S will
save with, the model's top-1 unless the person typed another (romaji or the character, in the
same field; Ctrl+Shift+S or a click puts the cursor there). The append runs as a task; the
status line and the bar say where it went. The paper is then cleared for the next sample
(Ctrl+Z brings the drawing back).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QWidget,
)

from k49desk.core.classes import (
    OFFICIAL_CLASSES,
    ClassInfo,
    class_for_text,
    romaji_prefix_matches,
)
from k49desk.gui.common import settings
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.common.widgets import ElidedLabel

if TYPE_CHECKING:
    from k49desk.core.samples import AppendResult

MUTED = "#4b5563"


def class_of_text(text: str, classes: tuple[ClassInfo, ...] = OFFICIAL_CLASSES) -> int | None:
    """The class typed: exact romaji/character, else a unique romaji prefix."""
    c = class_for_text(text.strip(), classes)
    if c is None and text.strip():
        hits = romaji_prefix_matches(text.strip(), classes)
        c = hits[0] if len(hits) == 1 else None
    return c


class SamplesBar(QWidget):
    """"[Add to my samples] as [は] (top-1 · Ctrl+S)  → ~/k49desk-data/my-samples  […]"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes: tuple[ClassInfo, ...] = OFFICIAL_CLASSES
        self.pinned = False  # the person typed a class: predictions no longer change it
        self.button = QToolButton()
        self.button.setText("Add to my samples")
        self.button.setToolTip("Save the drawing (as the model sees it, 28×28) with the class "
                               "shown, in your samples folder (Ctrl+S)")
        self.edit = QLineEdit()
        self.edit.setFont(hiragana_font(12))
        self.edit.setFixedWidth(74)
        self.edit.setPlaceholderText("class")
        self.edit.setToolTip("The class to save with: the model's top-1, or type another "
                             "(romaji or the character); Ctrl+Shift+S puts the cursor here")
        self.how = QLabel()
        self.how.setStyleSheet(f"color:{MUTED}; font-size:12px;")
        self.where = ElidedLabel()
        self.where.setStyleSheet(f"color:{MUTED}; font-size:12px;")
        self.folder_button = QToolButton()
        self.folder_button.setText("Folder…")
        self.folder_button.setToolTip("Choose the samples folder")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.button)
        lay.addWidget(QLabel("as"))
        lay.addWidget(self.edit)
        lay.addWidget(self.how)
        lay.addWidget(self.where, 1)
        lay.addWidget(self.folder_button)
        self.edit.textEdited.connect(self._typed)
        self.folder_button.clicked.connect(self._choose_folder)
        self.show_folder()
        self._typed("")

    def folder(self) -> Path:
        from k49desk.core.samples import default_samples_dir

        return (settings.samples_dir() or default_samples_dir()).resolve()

    def show_folder(self, text: str = "") -> None:
        self.where.setText(text or f"→ {self.folder()}")

    def choice(self) -> int | None:
        return class_of_text(self.edit.text(), self.classes)

    def set_suggestion(self, label: int | None) -> None:
        """The model's top-1 for the drawing (None: no prediction) unless a class was typed."""
        if self.pinned:
            return
        self.edit.setText("" if label is None else self.classes[label].char)
        self._describe()

    def unpin(self) -> None:
        self.pinned = False
        self.edit.clear()
        self._describe()

    def _typed(self, text: str) -> None:
        self.pinned = bool(text.strip())
        self._describe()

    def _describe(self) -> None:
        c = self.choice()
        if c is None:
            self.how.setText("<span style='color:#b91c1c'>type a class</span>"
                             if self.edit.text().strip() else "")
        else:
            src = "typed" if self.pinned else "top-1"
            self.how.setText(f"{self.classes[c].romaji} ({src}) · Ctrl+S")

    def _choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Samples folder", str(self.folder().parent))
        if d:
            settings.set_samples_dir(d)
            self.show_folder()


class SamplesMixin:
    """Methods of DrawPanel: the "Add to my samples" part."""

    def _build_samples(self) -> SamplesBar:
        self.samples_bar = SamplesBar()
        self.samples_bar.button.clicked.connect(self.add_to_samples)
        for keys, fn in (("Ctrl+S", self.add_to_samples),
                         ("Ctrl+Shift+S", self._focus_sample_class)):
            a = QAction(self)
            a.setShortcut(QKeySequence(keys))
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            a.triggered.connect(fn)
            self.addAction(a)
        self.samples_bar.edit.returnPressed.connect(self.add_to_samples)
        return self.samples_bar

    def _focus_sample_class(self) -> None:
        self.samples_bar.edit.setFocus()
        self.samples_bar.edit.selectAll()

    def add_to_samples(self) -> bool:
        """Append the drawing with the class shown in the bar (as a task); False when there
        is nothing to add (empty paper, too little ink, no class)."""
        from k49desk.core.inference import preprocess
        from k49desk.core.ink import paper28, too_little_ink

        bar = self.samples_bar
        # the drawing pad's own test (draw.panel.little_ink), straight from core.ink
        if self.canvas.is_empty() or too_little_ink(paper28(self.canvas.render_array())):
            self.state.status("Nothing to add: draw a whole character first")
            return False
        label = bar.choice()
        if label is None:
            self._focus_sample_class()
            self.state.status("Which class? Type it in the field after “as” (ka or か)")
            return False
        img28 = preprocess(self.canvas.render_array(), invert=False)
        folder = bar.folder()

        def work(progress, should_stop):  # noqa: ANN001, ANN202, ARG001
            from k49desk.core.samples import append_samples

            return append_samples(folder, img28, label, source="draw")

        self.tasks.run("samples", work, on_finished=lambda r: self._on_sample_added(r, label),
                       error_title="Cannot add to my samples")
        return True

    def _on_sample_added(self, r: AppendResult, label: int) -> None:
        c = self.samples_bar.classes[label]
        text = (f"Added to my samples as {c.label}: image #{r.first_index} of {r.folder} "
                f"({r.n_total:,d} in all)")
        self.state.status(text)
        self.samples_bar.show_folder(f"Last: #{r.first_index} {c.char} → {r.folder}")
        self.last_sample: Any = r
        self.canvas.clear()  # ready for the next one; Ctrl+Z brings this drawing back
        self.samples_bar.unpin()
        self.canvas.setFocus()
