"""The Gallery's list model: the dataset's numpy arrays plus one numpy array of visible rows.

A row is a position in a virtual concatenation of the shown splits ("global id": train index,
or len(train) + test index for split "both"), so "both" never copies the 212 MB of images.
Every filter is numpy work on the label arrays followed by one beginResetModel/endResetModel;
no Python object exists per image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

if TYPE_CHECKING:
    import pandas as pd

    from k49desk.core.dataset import K49Dataset, Split

LabelRole = Qt.ItemDataRole.UserRole + 1
IndexRole = Qt.ItemDataRole.UserRole + 2
SplitRole = Qt.ItemDataRole.UserRole + 3
FlagRole = Qt.ItemDataRole.UserRole + 4
CaptionRole = Qt.ItemDataRole.UserRole + 5
ImageRole = Qt.ItemDataRole.UserRole + 6
DecisionRole = Qt.ItemDataRole.UserRole + 7

SPLIT_CHOICES = ("train", "test", "both")

_Index = QModelIndex | QPersistentModelIndex


class GalleryModel(QAbstractListModel):
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
        self.classes: list[int] | None = None
        self.flagged_only = False
        self.order = "dataset"  # or "random"
        self.seed = 0
        self.explicit: np.ndarray | None = None  # request indices (within a single split)
        self.captions: dict[int, str] = {}
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
        # The previous folder's class filter must not survive (a Gallery still filtered to ゝ
        # after "Try with demo data" while the class list said "All 49 classes").
        self.classes, self.flagged_only = None, False
        if ds is not None and self.split_name != "both" and self.split_name not in ds.splits:
            self.split_name = ds.split_names[0] if ds.split_names else "train"
        self.refresh()

    @property
    def dataset(self) -> K49Dataset | None:
        return self._ds

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

    # ---- filtering -----------------------------------------------------------------------
    def _permutation(self, total: int) -> np.ndarray:
        key = (self.split_name, self.seed)
        pc = self._perm_cache
        if pc is None or pc[0] != key or len(pc[1]) != total:
            self._perm_cache = (key, np.random.default_rng(self.seed).permutation(total))
        return self._perm_cache[1]

    def _compute_rows(self) -> np.ndarray:
        names = self.shown_split_names()
        self._splits = [self._ds.splits[n] for n in names] if self._ds else []
        # Plain ndarray views of the memmaps: indexing a np.memmap goes through Python code.
        self._images = [np.asarray(s.images) for s in self._splits]
        self._labels = [np.asarray(s.labels) for s in self._splits]
        self._names = [s.name for s in self._splits]
        self._second = len(self._splits[0]) if len(self._splits) > 1 else -1
        sizes = [len(s) for s in self._splits]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        total = int(self._offsets[-1])
        if total == 0:
            return np.zeros(0, np.int64)
        lut = None
        if self.classes is not None:
            lut = np.zeros(256, bool)
            lut[[c for c in self.classes if 0 <= c < 256]] = True
        masks = []
        for sp in self._splits:
            m = lut[sp.labels] if lut is not None else np.ones(len(sp), bool)
            if self.flagged_only:
                fm = self.flagged_mask(sp.name)
                m &= fm if fm is not None else False
            masks.append(m)
        mask = np.concatenate(masks) if len(masks) > 1 else masks[0]
        if self.explicit is not None and len(self._splits) == 1:
            ex = self.explicit[(self.explicit >= 0) & (self.explicit < total)]
            rows = ex[mask[ex]]
            if self.order == "random":
                rows = rows[np.random.default_rng(self.seed).permutation(len(rows))]
            return rows.astype(np.int64, copy=False)
        if self.order == "random":
            # One fixed permutation of the whole split, filtered: changing the class filter
            # keeps the relative random order instead of reshuffling everything.
            perm = self._permutation(total)
            return perm[mask[perm]].astype(np.int64, copy=False)
        return np.flatnonzero(mask).astype(np.int64, copy=False)

    def refresh(self) -> None:
        self.beginResetModel()
        self._rows = self._compute_rows() if self._ds is not None else np.zeros(0, np.int64)
        self._n = int(self._rows.shape[0])
        self.endResetModel()

    def configure(self, *, split: str | None = None, classes: list[int] | None | str = "keep",
                  flagged_only: bool | None = None, order: str | None = None,
                  seed: int | None = None, explicit: np.ndarray | None | str = "keep",
                  captions: dict[int, str] | None = None) -> None:
        """Change several filter settings with a single model reset."""
        if split is not None:
            if split not in SPLIT_CHOICES:
                raise ValueError(f"unknown split {split!r}")
            self.split_name = split
        if classes != "keep":
            self.classes = None if classes is None else sorted({int(c) for c in classes})
        if flagged_only is not None:
            self.flagged_only = flagged_only
        if order is not None:
            self.order = order
        if seed is not None:
            self.seed = int(seed)
        if not isinstance(explicit, str):
            self.explicit = None if explicit is None else np.asarray(explicit, np.int64).ravel()
        if captions is not None:
            self.captions = dict(captions)
        self.refresh()

    def view_settings(self) -> dict[str, Any]:
        """What the user chose to see (split, classes, flagged only), to come back to it after
        another panel's request: `configure(**settings)` restores it."""
        return {"split": self.split_name, "flagged_only": self.flagged_only,
                "classes": None if self.classes is None else list(self.classes)}

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
        if self.explicit is None or split != self.split_name:
            return ""
        return self.captions.get(int(index), "")

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
            c = self._ds.classes[int(sp.labels[i])] if self._ds else None
            text = f"{sp.name} #{i:,d}" + (f" · {c.label}" if c else "")
            issue = self.flag_of(sp.name, i)[0]
            if issue:
                text += f" · flagged: {issue}"
            cap = self.caption_of(sp.name, i)
            return text + (f" · {cap}" if cap else "")
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemNeverHasChildren)
