"""The Gallery's list model: the dataset's numpy arrays plus one numpy array of visible rows.

A row is a position in a virtual concatenation of the shown splits ("global id": train index,
or len(train) + test index for split "both"), so "both" never copies the 212 MB of images.
Every filter (a GalleryQuery, see query.py; rows.py computes the rows) is numpy work on the
label, annotation and model-output arrays followed by one beginResetModel/endResetModel; no
Python object exists per image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from k49desk.core.annotations import DECISION_NAMES
from k49desk.gui.gallery.marks import Marks
from k49desk.gui.gallery.query import GalleryQuery
from k49desk.gui.gallery.rows import RowsMixin

if TYPE_CHECKING:
    import pandas as pd

    from k49desk.core.dataset import K49Dataset, Split
    from k49desk.core.outputs import ModelOutputs

LabelRole = Qt.ItemDataRole.UserRole + 1
IndexRole = Qt.ItemDataRole.UserRole + 2
SplitRole = Qt.ItemDataRole.UserRole + 3
FlagRole = Qt.ItemDataRole.UserRole + 4
CaptionRole = Qt.ItemDataRole.UserRole + 5
ImageRole = Qt.ItemDataRole.UserRole + 6
DecisionRole = Qt.ItemDataRole.UserRole + 7

SPLIT_CHOICES = ("train", "test", "both")

_Index = QModelIndex | QPersistentModelIndex


class GalleryModel(RowsMixin, QAbstractListModel):
    """Rows = the images passing the current filter, in dataset or seeded random order."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._ds: K49Dataset | None = None
        self._splits: list[Split] = []
        self._images: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._names: list[str] = []
        self._second = -1  # first global id of the second split ("both"), else -1
        self._offsets = np.zeros(1, np.int64)  # start of each shown split in global ids
        self._rows = np.zeros(0, np.int64)  # global ids of visible rows, in display order
        self._n = 0  # len(self._rows): QListView asks rowCount once per row while laying out
        self.split_name = "train"
        self.query = GalleryQuery()
        self.marks = Marks()  # the annotation stores' arrays of the shown splits
        self.order = "dataset"  # or "random"
        self.seed = 0
        # Request rows: indices within the single split shown, or {split: indices} ("both").
        self.explicit: np.ndarray | dict[str, np.ndarray] | None = None
        # Request captions: index -> text for one split; (split, index) -> text for "both".
        self.captions: dict[int | tuple[str, int], str] = {}
        self.outputs: ModelOutputs | None = None
        self._pred_captions = False
        # Per split: issue text per index ("" = not flagged) and decision text, or None.
        self._flag_issue: dict[str, np.ndarray] = {}
        self._flag_decision: dict[str, np.ndarray] = {}
        self._perm_cache: tuple[tuple[str, int], np.ndarray] | None = None

    # ---- configuration -------------------------------------------------------------------
    def set_dataset(self, ds: K49Dataset | None) -> None:
        """Show a new dataset from scratch: every filter (classes, flagged, request) is reset;
        the split and the order stay when they still apply."""
        self._ds = ds
        self._flag_issue, self._flag_decision = {}, {}
        self._perm_cache = None
        self.explicit, self.captions = None, {}
        self.outputs = None  # the hub computes them again for the new folder
        # The previous folder's class filter must not survive (a Gallery still filtered to ゝ
        # after "Try with demo data" while the class list said "All 49 classes").
        self.query = GalleryQuery()
        self.marks.clear()
        if ds is not None and self.split_name != "both" and self.split_name not in ds.splits:
            self.split_name = ds.split_names[0] if ds.split_names else "train"
        self.refresh()

    @property
    def dataset(self) -> K49Dataset | None:
        return self._ds

    @property
    def classes(self) -> list[int] | None:
        return None if self.query.classes is None else list(self.query.classes)

    @property
    def flagged_only(self) -> bool:
        return self.query.flagged_only

    def set_store(self, split: str, store: object) -> None:
        """A split's annotation store opened (or None: closed); filters on it run again."""
        if self._ds is None or split not in self._ds.splits:
            return
        self.marks.set_store(split, store, len(self._ds.splits[split]))  # type: ignore[arg-type]
        if self.query.uses_annotations and split in self.shown_split_names():
            self.refresh()

    def set_outputs(self, outputs: ModelOutputs | None) -> None:
        """The current model's outputs arrived (or went away with the model): a query on
        them runs again; otherwise only the captions and tooltips change."""
        self.outputs = outputs
        if self.query.uses_outputs:
            self.refresh()

    @property
    def has_captions(self) -> bool:
        """A line under each thumbnail: a request's captions, or "pred ね 0.97" while the
        query is on the model's outputs."""
        return bool(self.captions) or self.prediction_captions

    @property
    def prediction_captions(self) -> bool:
        """"pred ね 0.97" under each thumbnail (decided at each refresh: read per cell)."""
        return self._pred_captions

    def set_flags(self, flags: pd.DataFrame | None) -> None:
        """Index the flag table per split as arrays, so painting looks flags up in O(1)."""
        self._flag_issue, self._flag_decision = {}, {}
        if self._ds is not None and flags is not None and len(flags):
            for name, sp in self._ds.splits.items():
                sub = flags[flags["split"] == name]
                if not len(sub):
                    continue
                idx = sub["index"].to_numpy(np.int64)
                ok = (idx >= 0) & (idx < len(sp))
                issue = np.full(len(sp), "", dtype=object)
                issue[idx[ok]] = sub["issue"].astype(str).to_numpy()[ok]
                self._flag_issue[name] = issue
                if "decision" in sub.columns:
                    dec = np.full(len(sp), "", dtype=object)
                    vals = sub["decision"].fillna("").astype(str).to_numpy()
                    dec[idx[ok]] = vals[ok]
                    self._flag_decision[name] = dec
        if self.flagged_only:
            self.refresh()
        elif self.rowCount():
            self.dataChanged.emit(self.index(0), self.index(self.rowCount() - 1), [FlagRole])

    @property
    def has_flags(self) -> bool:
        return bool(self._flag_issue)

    def flagged_mask(self, split: str) -> np.ndarray | None:
        issue = self._flag_issue.get(split)
        return None if issue is None else issue != ""

    def shown_split_names(self) -> list[str]:
        if self._ds is None:
            return []
        if self.split_name == "both":
            return self._ds.split_names
        return [self.split_name] if self.split_name in self._ds.splits else []


    def refresh(self) -> None:
        self._pred_captions = (self.explicit is None and self.query.uses_outputs
                               and self.outputs is not None)
        self.beginResetModel()
        self._rows = self._compute_rows() if self._ds is not None else np.zeros(0, np.int64)
        self._n = int(self._rows.shape[0])
        self.endResetModel()

    def configure(self, *, split: str | None = None, classes: object = "keep",
                  flagged_only: bool | None = None, order: str | None = None,
                  seed: int | None = None, explicit: object = "keep",
                  captions: dict | None = None, decision: object = "keep",
                  tag: object = "keep", model: object = "keep",
                  query: GalleryQuery | None = None) -> None:
        """Change several filter settings with a single model reset ("keep": unchanged;
        `query` replaces the whole filter, the other arguments then change it)."""
        if split is not None:
            if split not in SPLIT_CHOICES:
                raise ValueError(f"unknown split {split!r}")
            self.split_name = split
        q = query if query is not None else self.query
        changes: dict[str, Any] = {}
        if classes != "keep":
            changes["classes"] = classes
        if flagged_only is not None:
            changes["flagged_only"] = bool(flagged_only)
        if decision != "keep":
            changes["decision"] = decision
        if tag != "keep":
            changes["tag"] = tag or None
        if model != "keep":
            changes["model"] = model
        self.query = q.with_(**changes) if changes else q
        if order is not None:
            self.order = order
        if seed is not None:
            self.seed = int(seed)
        if not isinstance(explicit, str):
            self.explicit = (None if explicit is None else explicit if isinstance(explicit, dict)
                             else np.asarray(explicit, np.int64).ravel())
        if captions is not None:
            self.captions = dict(captions)
        self.refresh()

    def view_settings(self) -> dict[str, Any]:
        """What the user chose to see (split and query), to come back to it after another
        panel's request: `configure(**settings)` restores it."""
        return {"split": self.split_name, "flagged_only": self.flagged_only,
                "classes": None if self.classes is None else list(self.classes),
                "query": self.query}

    def summary(self) -> str:
        """"Showing 6,000 of 232,365 train images · random order (seed 3)" for the header."""
        ds = self._ds
        total = sum(len(ds.splits[s]) for s in self.shown_split_names()) if ds else 0
        where = self.split_name if self.split_name != "both" else "train + test"
        bits = [f"Showing {self._n:,d} of {total:,d} {where} images"]
        if self.order == "random":
            bits.append(f"random order (seed {self.seed})")
        if ds is not None and ds.is_demo:
            bits.append("generated demo data")
        return "  ·  ".join(bits)

    # ---- lookups -------------------------------------------------------------------------
    def indices(self) -> np.ndarray:
        """Dataset indices of the visible rows (within their own split)."""
        if len(self._splits) <= 1:
            return self._rows.copy()
        return self._rows - self._offsets[np.searchsorted(self._offsets, self._rows, "right") - 1]

    def row_ids(self) -> np.ndarray:
        """Global ids of the visible rows (read-only view): stable across filter changes."""
        v = self._rows.view()
        v.flags.writeable = False
        return v

    def by_split(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """{split: sorted dataset indices} of the given rows (e.g. the selection)."""
        g = self._rows[np.asarray(rows, np.int64)]
        if len(self._splits) <= 1:
            return {self._names[0]: np.sort(g)} if self._names and len(g) else {}
        s = np.searchsorted(self._offsets, g, "right") - 1
        return {name: np.sort(g[s == k] - self._offsets[k])
                for k, name in enumerate(self._names) if (s == k).any()}

    def split_offset(self, split: str) -> int:
        """First global id of `split` among the shown splits."""
        return int(self._offsets[self._names.index(split)])

    def rows_of(self, split: str, indices: np.ndarray) -> np.ndarray:
        """Rows (in display order) showing these images of `split`; hidden ones are left out."""
        if split not in self._names:
            return np.zeros(0, np.int64)
        g = np.asarray(indices, np.int64) + self._offsets[self._names.index(split)]
        return np.flatnonzero(np.isin(self._rows, g))

    def mark_of(self, split: str, index: int) -> tuple[int, int, int]:
        """(decision code, final label or -1, extra bits) of an image: the painter's lookup."""
        a = self.marks.arrays.get(split)
        if a is None:
            return 0, -1, 0
        return int(a[0][index]), int(a[1][index]), int(a[2][index])

    def shown_label(self, split: str, index: int, label: int) -> int:
        """The label an image carries now: a relabel's (or accepted suggestion's) final label,
        else the one in the data."""
        code, final, _ = self.mark_of(split, index)
        return final if final >= 0 and DECISION_NAMES[code] in ("relabel", "accept") else label

    def split_codes(self) -> np.ndarray:
        """Position in shown_split_names() of each visible row's split."""
        return (np.searchsorted(self._offsets, self._rows, "right") - 1).astype(np.int64)

    def locate(self, row: int) -> tuple[Split, int]:
        g = int(self._rows[row])
        if len(self._splits) == 1:
            return self._splits[0], g
        s = int(np.searchsorted(self._offsets, g, "right") - 1)
        return self._splits[s], g - int(self._offsets[s])

    def paint_item(self, row: int) -> tuple[str, int, np.ndarray, int]:
        """(split, index, 28x28 image, label) of a row: the delegate's fast path."""
        g = int(self._rows[row])
        s = 0
        if 0 <= self._second <= g:
            s, g = 1, g - self._second
        return self._names[s], g, self._images[s][g], int(self._labels[s][g])

    def row_of(self, split: str, index: int) -> int | None:
        """Row showing (split, index), or None when it is filtered out."""
        names = [s.name for s in self._splits]
        if split not in names:
            return None
        g = int(self._offsets[names.index(split)]) + int(index)
        hits = np.flatnonzero(self._rows == g)
        return int(hits[0]) if hits.size else None

    def image(self, row: int) -> np.ndarray:
        sp, i = self.locate(row)
        return sp.images[i]

    def flag_of(self, split: str, index: int) -> tuple[str, str]:
        issue = self._flag_issue.get(split)
        dec = self._flag_decision.get(split)
        return (issue[index] if issue is not None else "", dec[index] if dec is not None else "")

    def caption_of(self, split: str, index: int) -> str:
        if self.prediction_captions:
            so = self.split_outputs(split)
            return "" if so is None else self.prediction_text(so, int(index))
        if self.explicit is None:
            return ""
        got = self.captions.get((split, int(index)))
        if got is None and split == self.split_name:
            got = self.captions.get(int(index))
        return got or ""

    def prediction_text(self, so: object, index: int) -> str:
        """ "pred ね 0.97": the model's class for an image and its probability."""
        return " ".join(self.prediction_parts_of(so, index))

    def prediction_parts(self, split: str, index: int) -> tuple[str, str]:
        so = self.split_outputs(split)
        return ("", "") if so is None else self.prediction_parts_of(so, index)

    def prediction_parts_of(self, so: object, index: int) -> tuple[str, str]:
        chars = self._ds.classes if self._ds is not None else ()
        p = int(so.predicted[index])  # type: ignore[attr-defined]
        char = chars[p].char if p < len(chars) else str(p)
        return f"pred {char}", f"{float(so.confidence[index]):.2f}"  # type: ignore[attr-defined]

    # ---- Qt model API --------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._n

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self._rows.shape[0]:
            return None
        sp, i = self.locate(index.row())
        if role == IndexRole:
            return i
        if role == LabelRole:
            return int(sp.labels[i])
        if role == SplitRole:
            return sp.name
        if role == ImageRole:
            return sp.images[i]
        if role == FlagRole:
            return self.flag_of(sp.name, i)[0] or None
        if role == DecisionRole:
            return self.flag_of(sp.name, i)[1] or None
        if role == CaptionRole:
            return self.caption_of(sp.name, i) or None
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return self._tooltip(sp, i)
        return None

    def _tooltip(self, sp: Split, i: int) -> str:
        """Split, index, the label now and (when a decision changed it) the original."""
        given = int(sp.labels[i])
        cl = self._ds.classes if self._ds else None
        code, final, extra = self.mark_of(sp.name, i)
        now = self.shown_label(sp.name, i, given)
        if cl is None:
            text = f"{sp.name} #{i:,d}"
        elif now != given:
            text = f"{sp.name} #{i:,d} · {cl[now].label} (relabelled; was {cl[given].label})"
        else:
            text = f"{sp.name} #{i:,d} · {cl[given].label}"
        name = DECISION_NAMES[code]
        if name and name not in ("relabel", "accept"):
            text += {"keep": " · label confirmed", "unusable": " · unusable",
                     "unsure": " · unsure", "prelabel": " · pre-label, unconfirmed"}[name]
        if extra:
            st = self.marks.store(sp.name)
            ann = st.annotation(i) if st is not None and not st.closed else None
            if ann is not None and ann.tags:
                text += " · tags: " + ", ".join(ann.tags)
        issue = self.flag_of(sp.name, i)[0]
        if issue:
            text += f" · flagged: {issue}"
        so = self.split_outputs(sp.name)
        if so is not None:
            text += (f" · model: {self.prediction_text(so, i)[5:]}, loss "
                     f"{float(so.loss[i]):.2f}")
        cap = "" if self.prediction_captions else self.caption_of(sp.name, i)
        return text + (f" · {cap}" if cap else "")

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemNeverHasChildren)
