"""The Gallery's filters and sorts on the current model's outputs, as one small value.

`OutputQuery` is the `model` field of `GalleryQuery`: predicted class, "prediction differs
from the label", a confidence range and a sort (highest loss first, ...). Like the rest of the
query it is numpy over whole arrays: `mask(outputs)` over one split's `SplitOutputs`
(core/outputs.py, computed once per model and folder by the shared hub), and `order` picks the
split's cached sort order, so a sorted, filtered view of 232,365 images is one gather.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from k49desk.core.classes import ClassInfo
    from k49desk.core.outputs import SplitOutputs

# key -> (SplitOutputs field, descending, text in the Sort menu, words in the query line)
SORTS: dict[str, tuple[str, bool, str, str]] = {
    "loss": ("loss", True, "Highest loss first", "highest loss first"),
    "least_confident": ("confidence", False, "Least confident first",
                        "least confident first"),
    "most_confident": ("confidence", True, "Most confident first", "most confident first"),
    "margin": ("margin", False, "Smallest margin first", "smallest top-1 − top-2 margin first"),
}


@dataclass(frozen=True)
class OutputQuery:
    predicted: tuple[int, ...] | None = None  # classes the model predicts; None: any
    disagree: bool = False  # the prediction differs from the label in the data
    confidence: tuple[float, float] = (0.0, 1.0)  # closed range of the top-1 probability
    sort: str | None = None  # a key of SORTS; None: the Gallery's own order

    def __post_init__(self) -> None:
        if self.sort is not None and self.sort not in SORTS:
            raise ValueError(f"unknown sort {self.sort!r}; expected one of {', '.join(SORTS)}")
        lo, hi = self.confidence
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"confidence range {lo}..{hi} is not within 0..1")
        if self.predicted is not None:
            object.__setattr__(self, "predicted", tuple(sorted({int(c) for c in self.predicted})))

    @property
    def active(self) -> bool:
        """Anything set: the rows depend on the model's outputs."""
        return self.filters or self.sort is not None  # (cheap: read per painted cell)

    @property
    def filters(self) -> bool:
        """A condition on the rows (not only a sort)."""
        return (self.predicted is not None or self.disagree
                or self.confidence != (0.0, 1.0))

    def words(self, classes: tuple[ClassInfo, ...] | None = None) -> str:
        """ "predicted ね · prediction ≠ label · confidence 0.00–0.50 · highest loss first"."""
        bits = []
        if self.predicted is not None:
            names = [classes[c].label if classes and c < len(classes) else str(c)
                     for c in self.predicted[:3]]
            more = f" and {len(self.predicted) - 3} more" if len(self.predicted) > 3 else ""
            bits.append("predicted " + ", ".join(names) + more)
        if self.disagree:
            bits.append("prediction ≠ label")
        lo, hi = self.confidence
        if (lo, hi) != (0.0, 1.0):
            bits.append(f"confidence {lo:.2f}–{hi:.2f}")
        if self.sort is not None:
            bits.append(SORTS[self.sort][3])
        return " · ".join(bits)

    def mask(self, out: SplitOutputs) -> np.ndarray:
        """bool per image of the split: passes every model-output condition."""
        n = len(out)
        m = np.ones(n, bool)
        if self.predicted is not None:
            lut = np.zeros(256, bool)
            lut[[c for c in self.predicted if 0 <= c < 256]] = True
            m &= lut[out.predicted]
        if self.disagree:
            m &= out.predicted != out.labels
        lo, hi = self.confidence
        if lo > 0.0:
            m &= out.confidence >= np.float32(lo)
        if hi < 1.0:
            m &= out.confidence <= np.float32(hi)
        return m

    def sort_key(self) -> tuple[str, bool] | None:
        """(SplitOutputs field, descending) of the sort, or None."""
        return None if self.sort is None else SORTS[self.sort][:2]  # type: ignore[return-value]


def sorted_rows(parts: list[tuple[SplitOutputs, np.ndarray, int]], key: tuple[str, bool]
                ) -> np.ndarray:
    """Global ids of the rows passing each split's mask, ordered by `key` across the splits.

    parts: (outputs, mask, first global id) per shown split. Each split's order comes from
    `SplitOutputs.sort_order` (computed once, then a gather); two splits are merged by a
    stable sort of two already sorted runs, which timsort does in linear time."""
    field, desc = key
    runs, keys = [], []
    for out, mask, offset in parts:
        o = out.sort_order(field, desc)
        o = o[mask[o]]
        runs.append(o + offset)
        if len(parts) > 1:
            v = getattr(out, field)[o].astype(np.float64)
            keys.append(-v if desc else v)
    if len(parts) == 1:
        return runs[0].astype(np.int64, copy=False)
    rows = np.concatenate(runs)
    return rows[np.argsort(np.concatenate(keys), kind="stable")].astype(np.int64, copy=False)


def sort_explicit(rows: np.ndarray, values: np.ndarray, desc: bool) -> np.ndarray:
    """An explicit request's rows (any order) ordered by `values` (one per row), ties kept."""
    v = values.astype(np.float64)
    return rows[np.argsort(-v if desc else v, kind="stable")]
