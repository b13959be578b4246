"""The detail pane's annotation section: the image's decision, tags and note now, and the
history of its decisions (Review's and the Gallery's alike, undo and redo included), read
from the annotation store with two small SQL queries when the image is shown."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from k49desk.gui.common.class_input import RELABEL_COLOR
from k49desk.gui.common.fonts import hiragana_font

if TYPE_CHECKING:
    from k49desk.core.annotations import AnnotationStore, HistoryEntry
    from k49desk.core.classes import ClassInfo

MAX_HISTORY = 12  # newest first; the store keeps everything
DECISION_WORDS = {"keep": "kept (label confirmed)", "accept": "suggestion accepted",
                  "relabel": "relabelled", "unusable": "unusable", "unsure": "unsure",
                  "prelabel": "pre-label, unconfirmed"}
COLORS = {"keep": "#15803d", "accept": "#1d4ed8", "relabel": RELABEL_COLOR,
          "unusable": "#b91c1c", "unsure": "#b45309", "prelabel": "#6b7280"}


def _when(at: str) -> str:
    """"2024-05-01 14:03" from an ISO time (UTC as stored)."""
    return at[:16].replace("T", " ") if at else ""


def _class(classes: tuple[ClassInfo, ...], label: int | None) -> str:
    if label is None or not 0 <= int(label) < len(classes):
        return ""
    return classes[int(label)].label


def entry_text(e: HistoryEntry, classes: tuple[ClassInfo, ...]) -> str:
    """One line of history: "relabelled → ほ (ho) · manual"."""
    if e.what == "decision":
        if e.decision is None:
            what = "no decision" if e.reverts is not None else "decision cleared"
        else:
            what = DECISION_WORDS.get(e.decision, e.decision)
            if e.decision in ("relabel", "accept") and e.final_label is not None:
                what += f" → {_class(classes, e.final_label)}"
        if e.source:
            what += f" · {e.source}"
    elif e.what == "note":
        what = "note removed" if not e.text else f"note: “{e.text[:40]}”"
    else:
        what = ("tag " if e.what == "tag+" else "tag removed: ") + f"“{e.text}”"
    if e.reverts is not None:  # step label "undo: relabel 5 images as は"
        kind = (e.label or "undo").split(":")[0]
        what = f"{kind}: back to {what}" if kind == "undo" else f"{kind}: {what}"
    return what


class AnnotationBox(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.now = QLabel()
        self.now.setWordWrap(True)
        self.now.setFont(hiragana_font(11))
        self.now.setTextFormat(Qt.TextFormat.RichText)
        self.history = QLabel()
        self.history.setWordWrap(True)
        self.history.setFont(hiragana_font(10))
        self.history.setTextFormat(Qt.TextFormat.RichText)
        self.history.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.now)
        lay.addWidget(self.history)
        self.clear()

    def clear(self) -> None:
        self.now.setText("")
        self.history.setText("")
        self.hide()

    def show_image(self, store: AnnotationStore | None, index: int, given: int,
                   classes: tuple[ClassInfo, ...]) -> None:
        """What the store says about image `index` of its split (given: its label in the data)."""
        self.show()
        if store is None or store.closed:
            self.now.setText("<span style='color:#6b7280'>Annotations: opening…</span>")
            self.history.setText("")
            return
        ann = store.annotation(index)
        lines = []
        if ann is None or ann.decision is None:
            lines.append("<b>Decision:</b> <span style='color:#6b7280'>none yet</span>")
        else:
            color = COLORS.get(ann.decision, "#111827")
            text = DECISION_WORDS.get(ann.decision, ann.decision)
            if ann.decision in ("relabel", "accept") and ann.final_label is not None:
                text += (f" → <b>{escape(_class(classes, ann.final_label))}</b> "
                         f"(was {escape(_class(classes, given))})")
            if ann.decision == "prelabel" and ann.confidence is not None:
                text += f" · confidence {ann.confidence:.0%}"
            src = f" · {ann.source}" if ann.source else ""
            lines.append(f"<b>Decision:</b> <span style='color:{color}'>{text}</span>{src}")
        if ann is not None and ann.tags:
            lines.append("<b>Tags:</b> " + ", ".join(escape(t) for t in ann.tags))
        if ann is not None and ann.note:
            lines.append(f"<b>Note:</b> {escape(ann.note)}")
        self.now.setText("<br>".join(lines))
        hist = store.history(index)
        if not hist:
            self.history.setText("")
            return
        rows = [f"<span style='color:#6b7280'>{escape(_when(e.at))}</span> "
                f"{escape(entry_text(e, classes))}" for e in reversed(hist[-MAX_HISTORY:])]
        more = (f"<br><span style='color:#6b7280'>… {len(hist) - MAX_HISTORY} earlier</span>"
                if len(hist) > MAX_HISTORY else "")
        self.history.setText("<b>History</b> (newest first)<br>" + "<br>".join(rows) + more)
