"""What the Gallery shows, as one small value: classes, flags, decisions, a tag.

`GalleryQuery` is the filter state of the grid (the split, the order and another panel's
request are the view around it). It describes itself in words for the bar above the grid and
resets in one call. `rows_mask` turns it into a numpy mask over one split, so a filter is a few
vector operations over the split whatever its size; the annotation parts read the numpy arrays
the SQLite store keeps in memory (see marks.py), never a Python loop over images.

The model's outputs (predicted class, disagreement, confidence, a sort by loss...) are one
field, `model` (an OutputQuery, see model_query.py): a line in `words`, a line in `rows_mask`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from k49desk.core.annotations import DECISION_CODES
from k49desk.gui.gallery.model_query import OutputQuery

if TYPE_CHECKING:
    from k49desk.core.classes import ClassInfo
    from k49desk.core.outputs import SplitOutputs
    from k49desk.gui.gallery.marks import Marks

# key -> (text in the "Show" menu, words in the query line). None = no decision filter.
DECISION_FILTERS: dict[str | None, tuple[str, str]] = {
    None: ("All images", ""),
    "undecided": ("No decision yet", "without a decision"),
    "decided": ("Any decision", "with a decision"),
    "prelabel": ("Unconfirmed pre-labels", "unconfirmed pre-labels, least confident first"),
    "keep": ("Kept / confirmed", "kept (label confirmed)"),
    "changed": ("Relabelled", "relabelled"),
    "unusable": ("Unusable", "marked unusable"),
    "unsure": ("Unsure", "marked unsure"),
}
# Decision codes each key selects ("changed": relabel, or a suggestion accepted in Review).
_CODES: dict[str, tuple[int, ...]] = {
    "decided": tuple(DECISION_CODES[d] for d in ("keep", "accept", "relabel", "unusable",
                                                  "unsure")),
    "prelabel": (DECISION_CODES["prelabel"],),
    "keep": (DECISION_CODES["keep"],),
    "changed": (DECISION_CODES["relabel"], DECISION_CODES["accept"]),
    "unusable": (DECISION_CODES["unusable"],),
    "unsure": (DECISION_CODES["unsure"],),
}


@dataclass(frozen=True)
class GalleryQuery:
    classes: tuple[int, ...] | None = None  # labels in the data; None: every class
    flagged_only: bool = False  # flagged by Find suspects
    decision: str | None = None  # a key of DECISION_FILTERS
    tag: str | None = None  # images carrying this tag
    model: OutputQuery = OutputQuery()  # the current model's predictions (and a sort)
    extra: dict = field(default_factory=dict, compare=False)  # room for later filters

    def __post_init__(self) -> None:
        if self.decision not in DECISION_FILTERS:
            raise ValueError(f"unknown decision filter {self.decision!r}; expected one of "
                             f"{', '.join(str(k) for k in DECISION_FILTERS if k)}")

    def with_(self, **changes: object) -> GalleryQuery:
        """A copy with some fields changed (classes given as any iterable, sorted here)."""
        if "classes" in changes and changes["classes"] is not None:
            changes["classes"] = tuple(sorted({int(c) for c in changes["classes"]}))  # type: ignore[union-attr]
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def is_empty(self) -> bool:
        """Nothing filtered: every image of the split."""
        return self == GalleryQuery()

    @property
    def uses_annotations(self) -> bool:
        """The rows depend on the annotation store (so a write may change them)."""
        return self.decision is not None or self.tag is not None

    @property
    def uses_outputs(self) -> bool:
        """The rows depend on the current model's outputs (computed in the background)."""
        return self.model.active

    @property
    def by_confidence(self) -> bool:
        """Unconfirmed pre-labels are shown least confident first."""
        return self.decision == "prelabel"

    def words(self, classes: tuple[ClassInfo, ...] | None = None) -> str:
        """The query as a phrase: "images of は · relabelled · tagged “blurry”"."""
        bits = []
        if self.classes is not None:
            names = [classes[c].label if classes and c < len(classes) else str(c)
                     for c in self.classes[:4]]
            more = f" and {len(self.classes) - 4} more" if len(self.classes) > 4 else ""
            given = "labelled " + ", ".join(names) + more
            bits.append(("relabelled from " + ", ".join(names) + more)
                        if self.decision == "changed" else given)
        if self.decision is not None and not (self.decision == "changed" and self.classes):
            bits.append(DECISION_FILTERS[self.decision][1])
        if self.tag is not None:
            bits.append(f"tagged “{self.tag}”")
        if self.flagged_only:
            bits.append("flagged by Find suspects")
        if self.model.active:
            bits.append(self.model.words(classes))
        return " · ".join(bits) if bits else "all images"


def rows_mask(q: GalleryQuery, split: str, labels: np.ndarray, flagged: np.ndarray | None,
              marks: Marks | None, outputs: SplitOutputs | None = None) -> np.ndarray:
    """bool per image of `split`: passes every condition of `q`. An annotation condition
    with the split's store not open yet, or a model condition before the model's outputs
    arrive, passes nothing (the grid says what it waits for)."""
    n = len(labels)
    if q.classes is not None:
        lut = np.zeros(256, bool)
        lut[[c for c in q.classes if 0 <= c < 256]] = True
        m = lut[labels]
    else:
        m = np.ones(n, bool)
    if q.flagged_only:
        m &= flagged if flagged is not None else False
    if q.model.active:
        if outputs is None or len(outputs) != n:
            return np.zeros(n, bool)
        m &= q.model.mask(outputs)
    if q.uses_annotations:
        codes = marks.codes(split) if marks is not None else None
        if codes is None:
            return np.zeros(n, bool)
        codes = codes[:n]
        if q.decision == "undecided":
            m &= codes == 0
        elif q.decision is not None:
            m &= np.isin(codes, _CODES[q.decision])
        if q.tag is not None:
            m &= marks.tag_mask(split, q.tag)[:n]  # type: ignore[union-attr]
    return m
