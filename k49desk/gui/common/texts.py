"""Rich texts the window shows in dialogs: the model card and the keyboard shortcuts."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from k49desk.core.model import LoadedModel

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Ctrl+O", "open a data folder"),
    ("Ctrl+1…6", "switch panels"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo (Edit menu): annotations in Gallery and Review share "
                              "one history; the Draw tab has the drawing's"),
    ("Ctrl+L / Ctrl+I", "load a model / show its card"),
    ("Gallery: arrows, PgUp/PgDn", "move; [ ] or Ctrl+K cycle classes; Ctrl+G jumps to index"),
    ("Gallery: click, Ctrl/Shift-click, drag, Ctrl+A", "select images (Esc: none)"),
    ("Gallery: type a class (R or F2 first for k/t/n/u…)", "relabel the selection"),
    ("Gallery: K / U / Del", "keep (confirm) / unusable / clear the decision"),
    ("Gallery: T / N", "add a tag (-tag removes it) / set a note"),
    ("Draw: Ctrl+S / Ctrl+Shift+S", "add the drawing to my samples / choose its class first"),
    ("Draw: Esc", "clear the drawing"),
    ("Review: 1 2 3 4 ?", "keep / accept / relabel (type romaji) / unusable / unsure"),
    ("Review: ← →", "previous / next card"),
    ("Ctrl+Shift+M", "all status messages of this session (or click the message)"),
    ("F11", "full screen"),
    ("Ctrl+Q", "quit"),
)


def shortcuts_html() -> str:
    rows = "".join(f"<tr><td><b>{escape(k)}</b>&nbsp;&nbsp;</td><td>{escape(v)}</td></tr>"
                   for k, v in SHORTCUTS)
    return f"<table>{rows}</table>"


def model_card_html(model: LoadedModel | None) -> str:
    if model is None:
        return ("No model is loaded. Train one in the Train panel or load a checkpoint "
                "(Ctrl+L).")
    return "<br>".join(f"<b>{escape(k)}</b>: {escape(v)}" for k, v in model.card().items())
