"""Map rows <-> images ({split: indices}), and the hover card's text. No Qt here.

A map's rows are the images of its splits one split after the other (`MapResult.offsets`),
so both directions are one offset per split, no search: 10,000 rows convert in well under a
millisecond.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import numpy as np

from k49desk.core.annotations import DECISION_NAMES

if TYPE_CHECKING:
    from k49desk.core.annotations import AnnotationStore
    from k49desk.core.dataset import K49Dataset
    from k49desk.core.outputs import ModelOutputs
    from k49desk.core.projection import MapResult


def rows_of_selection(m: MapResult, selection: dict[str, np.ndarray]) -> np.ndarray:
    """Sorted map rows of the selected images that are on the map (other splits, indices
    past a split's end are left out)."""
    parts = []
    for k, split in enumerate(m.split_names):
        idx = selection.get(split)
        if idx is None or not len(idx):
            continue
        idx = np.asarray(idx, np.int64)
        n = int(m.offsets[k + 1] - m.offsets[k])
        parts.append(idx[(idx >= 0) & (idx < n)] + m.offsets[k])
    if not parts:
        return np.zeros(0, np.int64)
    rows = np.concatenate(parts)
    return rows if (rows[1:] > rows[:-1]).all() else np.unique(rows)


def selection_of_rows(m: MapResult, rows: np.ndarray) -> dict[str, np.ndarray]:
    """{split: sorted image indices} of sorted map rows."""
    rows = np.asarray(rows, np.int64)
    out = {}
    for k, split in enumerate(m.split_names):
        lo, hi = np.searchsorted(rows, m.offsets[k:k + 2])
        if hi > lo:
            out[split] = rows[lo:hi] - m.offsets[k]
    return out


def hover_html(ds: K49Dataset, split: str, index: int, outputs: ModelOutputs | None,
               store: AnnotationStore | None) -> str:
    """"train #1,234 / label あ (a) / predicted い (i) 87% ✗ / decision: relabel → う"."""
    classes = ds.classes
    label = int(ds.split(split).labels[index])
    lines = [f"<b>{split} #{index:,d}</b>", f"label {escape(classes[label].label)}"]
    if outputs is not None and split in outputs.splits:
        so = outputs.split(split)
        pred, p = int(so.predicted[index]), float(so.confidence[index])
        mark = ("<span style='color:#15803d'>✓</span>" if pred == label
                else "<span style='color:#b91c1c'>✗</span>")
        lines.append(f"predicted {escape(classes[pred].label)} {p:.0%} {mark}")
    if store is not None and index < store.n_images:
        code = int(store.decision_codes()[index])
        if code:
            final = int(store.final_labels()[index])
            to = f" → {escape(classes[final].label)}" if final >= 0 else ""
            lines.append(f"decision: {DECISION_NAMES[code]}{to}")
    return "<br>".join(lines)
