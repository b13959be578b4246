"""What the map's colours mean: one category per point for each colour mode (no Qt here).

A `Colouring` is a category code per map row (-1: the grey "other" group: not flagged, no
decision), the categories' names and colours, and their counts, for the legend. Isolating
categories (a click in the legend) keeps their colours and greys out the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from k49desk.core.selection import CORRECT_COLOURS, GREY, category_colours, class_palette
from k49desk.gui.map.raster import rgba_to_rgb32

if TYPE_CHECKING:
    import pandas as pd

    from k49desk.core.classes import ClassInfo
    from k49desk.core.outputs import ModelOutputs
    from k49desk.core.projection import MapResult

MODES: tuple[tuple[str, str], ...] = (
    ("given", "Given label"),
    ("predicted", "Predicted label"),
    ("correct", "Correct vs wrong"),
    ("flag", "Review flag"),
    ("decision", "Decision"),
)
ISOLATED_OUT = (229, 231, 235, 255)  # points outside an isolated category: light grey
FLAG_COLOURS = ((217, 119, 6, 255), (107, 114, 128, 255), (37, 99, 235, 255),
                (147, 51, 234, 255), (220, 38, 38, 255))
DECISION_COLOURS = {"keep": (21, 128, 61, 255), "accept": (167, 139, 250, 255),
                    "relabel": (124, 58, 237, 255), "unusable": (185, 28, 28, 255),
                    "unsure": (180, 83, 9, 255), "prelabel": (156, 163, 175, 255)}


@dataclass
class Colouring:
    mode: str
    codes: np.ndarray  # int16 (N,) category of each row, -1: other
    names: list[str]  # legend text per category
    palette: np.ndarray  # (K, 4) uint8 RGBA
    other: str | None = None  # legend text of the -1 group (None: no such group)
    hiragana: bool = False  # names are class labels ("あ (a)"): shown in the hiragana font
    note: str = ""  # why the colours may be incomplete ("no flags yet", ...)

    @property
    def counts(self) -> np.ndarray:
        """Points per category, then the "other" group last."""
        k = len(self.names)
        return np.bincount(np.where(self.codes < 0, k, self.codes), minlength=k + 1)

    def rgb32(self, isolated: Sequence[int] = ()) -> np.ndarray:
        """uint32 colour per row; with `isolated` categories, every other row light grey
        (-1 stands for the "other" group)."""
        rgba = category_colours(self.codes, self.palette)
        if isolated:
            rgba[~self.isolated_mask(isolated)] = ISOLATED_OUT
        return rgba_to_rgb32(rgba)

    def isolated_mask(self, isolated: Sequence[int]) -> np.ndarray:
        return np.isin(self.codes, np.asarray(list(isolated), np.int16))

    def draw_order(self, base: np.ndarray, isolated: Sequence[int] = ()) -> np.ndarray:
        """`base` (a shuffle of the rows) with the isolated rows moved last: on top."""
        if not isolated:
            return base
        on = self.isolated_mask(isolated)[base]
        return np.concatenate([base[~on], base[on]])


def colouring(mode: str, m: MapResult, *, classes: Sequence[ClassInfo],
              outputs: ModelOutputs | None = None,
              flags: Mapping[str, pd.DataFrame | None] | None = None,
              decisions: Mapping[str, np.ndarray | None] | None = None) -> Colouring:
    """The categories of `mode` (a key of MODES) for every row of the map `m`.

    `outputs` feeds the predicted and correct modes; `flags` ({split: review flag frame})
    the flag mode; `decisions` ({split: the store's decision codes, or None while it
    opens}) the decision mode."""
    n_classes = len(classes)
    if mode == "given":
        return Colouring(mode, m.labels.astype(np.int16), [c.label for c in classes],
                         class_palette(n_classes), hiragana=True)
    if mode in ("predicted", "correct"):
        if outputs is None:
            return _none(mode, m, "No model outputs yet")
        if mode == "predicted":
            return Colouring(mode, m.column(outputs, "predicted").astype(np.int16),
                             [c.label for c in classes], class_palette(n_classes),
                             hiragana=True)
        right = m.column(outputs, "correct").astype(np.int16)
        return Colouring(mode, right, ["wrong", "right"], CORRECT_COLOURS.copy())
    if mode == "flag":
        return _flag_colouring(m, flags or {})
    if mode == "decision":
        return _decision_colouring(m, decisions or {})
    raise ValueError(f"unknown colour mode {mode!r}")


def _none(mode: str, m: MapResult, note: str) -> Colouring:
    return Colouring(mode, np.full(len(m), -1, np.int16), [], np.zeros((0, 4), np.uint8),
                     other="all images", note=note)


def _flag_colouring(m: MapResult, flags: Mapping[str, pd.DataFrame | None]) -> Colouring:
    from k49desk.core.issues import ISSUE_TYPES

    codes = np.full(len(m), -1, np.int16)
    kinds = {k: i for i, k in enumerate(ISSUE_TYPES)}
    seen = False
    for split in m.split_names:
        frame = flags.get(split)
        if frame is None or not len(frame):
            continue
        seen = True
        rows = m.rows_of(split)
        idx = frame["index"].to_numpy(np.int64)
        code = frame["issue"].astype(str).map(kinds).fillna(-1).to_numpy(np.int16)
        ok = (idx >= 0) & (idx < rows.stop - rows.start) & (code >= 0)
        codes[rows.start + idx[ok]] = code[ok]
    pal = np.array(FLAG_COLOURS[:len(ISSUE_TYPES)], np.uint8)
    names = [k.replace("_", " ") for k in ISSUE_TYPES]
    note = "" if seen else "No review flags yet: Review > Find suspects flags images"
    return Colouring("flag", codes, names, pal, other="not flagged", note=note)


def _decision_colouring(m: MapResult, decisions: Mapping[str, np.ndarray | None]) -> Colouring:
    from k49desk.core.annotations import DECISION_NAMES

    names = list(DECISION_NAMES[1:])
    codes = np.full(len(m), -1, np.int16)
    missing = []
    for split in m.split_names:
        arr = decisions.get(split)
        rows = m.rows_of(split)
        if arr is None or len(arr) != rows.stop - rows.start:
            missing.append(split)
            continue
        codes[rows] = np.asarray(arr, np.int16) - 1  # code 0 (no decision) -> -1
    pal = np.array([DECISION_COLOURS.get(k, GREY) for k in names], np.uint8)
    note = f"Opening the {' and '.join(missing)} annotations…" if missing else ""
    return Colouring("decision", codes, names, pal, other="no decision", note=note)
