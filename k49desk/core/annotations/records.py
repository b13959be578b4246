"""Plain records of the annotation store: decision codes, an image's annotation, its history."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# Index = the code in decision_codes(): 0 = no decision.
DECISION_NAMES: tuple[str, ...] = ("", "keep", "accept", "relabel", "unusable", "unsure",
                                   "prelabel")
DECISION_CODES: dict[str, int] = {name: i for i, name in enumerate(DECISION_NAMES) if name}
NONE, KEEP, ACCEPT, RELABEL, UNUSABLE, UNSURE, PRELABEL = range(7)
LABEL_DECISIONS: tuple[str, ...] = ("accept", "relabel")  # carry a final_label
SOURCES: tuple[str, ...] = ("review", "manual", "import")
MAX_TAG_CHARS = 64
MAX_NOTE_CHARS = 10_000
# The SQL expression turning annotations.decision into its code.
CODE_SQL = "CASE decision " + " ".join(
    f"WHEN '{n}' THEN {i}" for i, n in enumerate(DECISION_NAMES) if n) + " ELSE 0 END"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Step:
    """One undoable change: its id in the steps table, a label for the Edit menu, the images it
    changed (sorted), and for an undo or redo the step it reverted."""

    id: int
    label: str
    images: np.ndarray
    reverts: int | None = None


@dataclass(frozen=True)
class Annotation:
    """Everything recorded about one image now."""

    image: int
    decision: str | None = None  # one of DECISION_NAMES[1:], or None
    final_label: int | None = None  # accept / relabel only
    source: str | None = None  # review / manual / import (of the decision)
    confidence: float | None = None  # prelabel: the model's probability of its top-1
    given_label: int | None = None  # the label in the data when this was recorded
    decided_at: str | None = None
    note: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class HistoryEntry:
    """One change of one image (oldest first in AnnotationStore.history)."""

    step: int
    at: str
    label: str  # the step's label, e.g. "relabel 5,000 images as は"
    what: str  # "decision", "note", "tag+" or "tag-"
    decision: str | None = None
    final_label: int | None = None
    source: str | None = None
    old_decision: str | None = None
    old_final_label: int | None = None
    text: str | None = None  # note text or tag
    old_text: str | None = None  # note before
    reverts: int | None = None  # set for an undo / redo step


def flag_rows(flags: pd.DataFrame, top3: list | None) -> list[tuple]:
    """Normalised flags as rows of the store's flags table (see AnnotationStore.replace_flags)."""
    q = flags["quality"].to_numpy(np.float64)
    return [(pos, int(i), str(t), int(g), int(s), None if np.isnan(qq) else float(qq),
             ps or None, None if pi < 0 else int(pi),
             None if top3 is None else json.dumps(top3[pos]))
            for pos, (i, t, g, s, qq, ps, pi) in enumerate(zip(
                flags["index"], flags["issue"], flags["given_label"], flags["suggested_label"],
                q, flags["partner_split"], flags["partner_index"], strict=True))]
