"""Annotating in the Gallery: keys on the selection, one store write per split, reactions.

A mixin of GalleryPanel (like navigation.py). Every write goes through the app's annotation
hub (`state.annotations.write`): one SQLite transaction per split, durable when it returns,
one step on the undo stack the Review panel shares (a selection over both splits is one
macro, so one Edit > Undo). Keys, with the grid focused and no Ctrl/Alt:

- a letter or a kana: the class input opens with it (Review's key-3 input), the selected
  thumbnails preview the class; Enter relabels, Esc cancels. R (or F2) opens it empty, for
  romaji starting with the command letters below;
- K keep (confirms a pre-label), U unusable, T tag (completion from the tags in use; "-tag"
  removes it), N note, Del/Backspace clears the decision (tags and notes stay).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QRegion

from k49desk.core.classes import OFFICIAL_CLASSES, class_for_text

if TYPE_CHECKING:
    from k49desk.core.annotations import AnnotationStore, Step

_MODS = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier \
    | Qt.KeyboardModifier.MetaModifier
_K = Qt.Key


def _n(n: int) -> str:
    return f"{n:,d} image" + ("" if n == 1 else "s")


class AnnotateMixin:
    """Methods of GalleryPanel; uses its model, view, delegate, detail, state and bars."""

    # ---- keys ---------------------------------------------------------------------------
    def _on_key(self, e: QKeyEvent) -> bool:
        if e.modifiers() & _MODS:
            return False
        key, text = e.key(), e.text()
        actions: dict[int, Callable[[], object]] = {
            _K.Key_K: self.keep_selection, _K.Key_U: self.mark_unusable_selection,
            _K.Key_T: self.start_tag, _K.Key_N: self.start_note,
            _K.Key_R: self.start_relabel, _K.Key_F2: self.start_relabel,
            _K.Key_Delete: self.clear_selection_decisions,
            _K.Key_Backspace: self.clear_selection_decisions}
        if key in actions:
            actions[key]()
            return True
        if len(text) == 1 and not text.isspace() and text.isprintable():
            if (text.isascii() and text.isalpha()) or class_for_text(text) is not None:
                self.start_relabel(text.lower() if text.isascii() else text)
                return True
        return False

    # ---- inputs -------------------------------------------------------------------------
    def _need_selection(self) -> int:
        n = self.view.selected_count()
        if not n:
            self.state.status("Select images first: click, Ctrl-click, Shift-click, drag a "
                              "rectangle or Ctrl+A")
        return n

    def start_relabel(self, text: str = "") -> None:
        n = self._need_selection()
        if n:
            self._hide_inputs()
            self.relabel_bar.title.setText(f"<b>Relabel {_n(n)} as:</b>")
            self.relabel_bar.start(text)

    def start_tag(self) -> None:
        n = self._need_selection()
        if n:
            self._hide_inputs()
            self._text_kind = "tag"
            self.text_bar.edit.setPlaceholderText("a tag, e.g. blurry (-blurry removes it)")
            self.text_bar.start(f"<b>Tag {_n(n)}:</b>", "", list(self.model.marks.tags()))

    def start_note(self) -> None:
        n = self._need_selection()
        if not n:
            return
        self._hide_inputs()
        self._text_kind = "note"
        old = ""
        if n == 1:
            split, idx = next(iter(self.model.by_split(self.view.selected_rows()).items()))
            st = self.state.annotations.store(split)
            ann = st.annotation(int(idx[0])) if st is not None else None
            old = ann.note if ann is not None else ""
        self.text_bar.edit.setPlaceholderText("a note (empty removes it)")
        self.text_bar.start(f"<b>Note on {_n(n)}:</b>", old)

    def _hide_inputs(self) -> None:
        self.relabel_bar.hide()
        self.text_bar.hide()
        self._set_preview(None)

    def _on_text(self, text: str) -> None:
        if self._text_kind == "tag":
            tag = text.strip()
            if tag.startswith("-") and tag[1:].strip():
                self.untag_selection(tag[1:].strip())
            elif tag:
                self.tag_selection(tag)
        else:
            self.note_selection(text.strip())
        self.view.setFocus()

    def _on_relabel_chosen(self, label: int) -> None:
        self._set_preview(None)
        self.relabel_selection(label)
        self.view.setFocus()

    def _on_input_cancelled(self) -> None:
        self._set_preview(None)
        self.view.setFocus()

    def _set_preview(self, label: int | None) -> None:
        if self.delegate.preview_label != label:
            self.delegate.preview_label = label
            self._repaint_rows(self.view.selected_rows())

    # ---- writes -------------------------------------------------------------------------
    def _classes(self) -> tuple:
        ds = self.model.dataset
        return ds.classes if ds is not None else OFFICIAL_CLASSES

    def relabel_selection(self, label: int) -> bool:
        c = self._classes()[label]
        return self.annotate(f"relabel {{n}} as {c.char}",
                             lambda st, idx: st.relabel(idx, label),
                             f"Relabelled {{n}} as {c.label}")

    def keep_selection(self) -> bool:
        return self.annotate("keep {n}", lambda st, idx: st.keep(idx),
                             "Kept the label of {n} (confirmed)")

    def mark_unusable_selection(self) -> bool:
        return self.annotate("mark {n} unusable", lambda st, idx: st.mark_unusable(idx),
                             "Marked {n} unusable")

    def clear_selection_decisions(self) -> bool:
        return self.annotate("clear the decision of {n}", lambda st, idx: st.clear_decision(idx),
                             "Cleared the decision of {n} (tags and notes stay)")

    def tag_selection(self, tag: str) -> bool:
        return self.annotate(f"tag {{n}} “{tag}”", lambda st, idx: st.add_tag(idx, tag),
                             f"Tagged {{n}} “{tag}”")

    def untag_selection(self, tag: str) -> bool:
        return self.annotate(f"untag {{n}} “{tag}”", lambda st, idx: st.remove_tag(idx, tag),
                             f"Removed the tag “{tag}” from {{n}}")

    def note_selection(self, text: str) -> bool:
        return self.annotate("note on {n}", lambda st, idx: st.set_note(idx, text),
                             "Removed the note of {n}" if not text else "Noted {n}")

    def annotate(self, label: str, fn: Callable[[AnnotationStore, np.ndarray], Step],
                 done: str) -> bool:
        """Apply `fn(store, indices)` to the selection: one write per split through the hub,
        one undo step in all ("{n}" in the texts becomes "5,000 images")."""
        rows = self.view.selected_rows()
        if not self._need_selection():
            return False
        parts = self.model.by_split(rows)
        hub = self.state.annotations
        opening = [s for s in parts if hub.store(s) is None]
        if opening:
            for s in opening:
                hub.ensure(s)
            self.state.status("The annotations are still opening; try again in a moment")
            return False
        n = _n(len(rows))
        stack = hub.undo_stack
        macro = len(parts) > 1
        if macro:
            stack.beginMacro(label.replace("{n}", n))
        ok = True
        try:
            for split, idx in parts.items():
                step = hub.write(split, lambda st, idx=idx: fn(st, idx))
                ok = ok and step is not None
        finally:
            if macro:
                stack.endMacro()
        self._after_write(int(rows[0]))
        if ok:
            self.state.status(done.replace("{n}", n) + "  ·  Ctrl+Z undoes")
        return ok

    def _after_write(self, first_row: int) -> None:
        """When the written images left the view (e.g. confirmed pre-labels), carry on with
        the image that took their place: a queue worked through by keyboard."""
        n = self.model.rowCount()
        if n and not self.view.selected_count():
            row = min(first_row, n - 1)
            self.view.select_only(row)
            self.view.scrollTo(self.model.index(row))

    # ---- reactions ----------------------------------------------------------------------
    def _on_store_ready(self, split: str) -> None:
        self.model.set_store(split, self.state.annotations.store(split))
        self._refresh_tags()
        self._refresh_detail_annotations(split, None)
        self.view.viewport().update()

    def _on_annotations_changed(self, split: str, images: np.ndarray | None) -> None:
        """A write (here, in Review, an undo, another process): marks, rows, detail."""
        self.model.marks.sync(split)
        if split in self.model.shown_split_names():
            if self.model.query.uses_annotations:
                self.model.refresh()  # the rows depend on annotations; selection is kept
            elif images is None:
                self.view.viewport().update()
            else:
                self._repaint_images(split, images)
        self._refresh_tags()
        self._refresh_detail_annotations(split, images)

    def _repaint_images(self, split: str, images: np.ndarray) -> None:
        """Repaint the cells on screen showing any of these images of `split` (the
        membership test runs over the ~200 cells in view, not the whole split)."""
        first, last = self.view._visible_rows()
        names = self.model.shown_split_names()
        if last < first or split not in names:
            return
        ids = self.model.row_ids()[first:last + 1]
        offset = self.model.split_offset(split)
        hit = np.flatnonzero(np.isin(ids - offset, images)) + first
        self._repaint_rows(hit)

    def _repaint_rows(self, rows: np.ndarray) -> None:
        """Repaint just these cells (those on screen)."""
        first, last = self.view._visible_rows()
        rows = np.asarray(rows, np.int64)
        rows = rows[(rows >= first) & (rows <= last)]
        if len(rows) > 64:  # most of the screen: one update is cheaper than a region
            self.view.viewport().update()
            return
        region = QRegion()
        for row in rows.tolist():
            region += self.view.visualRect(self.model.index(row))
        if not region.isEmpty():
            self.view.viewport().update(region)

    def _refresh_tags(self) -> None:
        tags = self.model.marks.tags()
        if (tags, self.model.query.tag) != getattr(self, "_tags_shown", None):
            self._tags_shown = (tags, self.model.query.tag)
            self.query_bar.set_tags(tags, self.model.query.tag)

    def _refresh_detail_annotations(self, split: str, images: np.ndarray | None) -> None:
        d = self.detail
        if d.split != split or d.index is None:
            return
        if images is not None and not np.isin(d.index, images):
            return
        ds = self.model.dataset
        if ds is not None and split in ds.splits:
            d.annotations.show_image(self.state.annotations.store(split), d.index,
                                     int(ds.splits[split].labels[d.index]), ds.classes)
