"""Which rows the Gallery shows, in which order: the GalleryModel's filtering, as a mixin.

Every step is numpy over whole splits: one bool mask per shown split from the query
(query.rows_mask: classes, flags, annotations, the model's outputs), then the order: the
request's own, a seeded permutation, the pre-labels' confidence, or a model-output sort
(model_query.sorted_rows: each split's cached order, one gather).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from k49desk.gui.gallery.model_query import sort_explicit, sorted_rows
from k49desk.gui.gallery.query import rows_mask

if TYPE_CHECKING:
    from k49desk.core.outputs import ModelOutputs, SplitOutputs


class RowsMixin:
    """Part of GalleryModel (it owns the attributes used here); not usable on its own."""

    outputs: ModelOutputs | None = None  # the current model's outputs for this folder

    def split_outputs(self, split: str) -> SplitOutputs | None:
        """The model's outputs for `split`, when they are there and match its size."""
        out = self.outputs
        so = out.splits.get(split) if out is not None else None
        ds = self._ds
        if so is None or ds is None or split not in ds.splits or len(so) != len(ds.splits[split]):
            return None
        return so

    @property
    def outputs_pending(self) -> bool:
        """The query needs the model's outputs for a shown split and they are not there."""
        return self.query.uses_outputs and any(
            self.split_outputs(n) is None for n in self.shown_split_names())

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
        outs = [self.split_outputs(n) for n in self._names]
        masks = [rows_mask(self.query, sp.name, lab, self.flagged_mask(sp.name), self.marks, o)
                 for sp, lab, o in zip(self._splits, self._labels, outs, strict=True)]
        mask = np.concatenate(masks) if len(masks) > 1 else masks[0]
        key = self.query.model.sort_key()
        if key is not None and any(o is None for o in outs):
            return np.zeros(0, np.int64)  # the sort waits for the outputs (rows_mask too)
        if self.explicit is not None:
            ex = self._explicit_ids(total)
            rows = ex[mask[ex]]
            if key is not None:
                values = np.concatenate([getattr(o, key[0]) for o in outs])  # type: ignore[union-attr]
                return sort_explicit(rows, values[rows], key[1]).astype(np.int64, copy=False)
            if self.order == "random":
                rows = rows[np.random.default_rng(self.seed).permutation(len(rows))]
            return rows.astype(np.int64, copy=False)
        if key is not None:  # the model's sort decides the order (the order box says so)
            return sorted_rows([(o, m, int(off)) for o, m, off in  # type: ignore[misc]
                                zip(outs, masks, self._offsets[:-1], strict=True)], key)
        if self.order == "random":
            # One fixed permutation of the whole split, filtered: changing the class filter
            # keeps the relative random order instead of reshuffling everything.
            perm = self._permutation(total)
            return perm[mask[perm]].astype(np.int64, copy=False)
        rows = np.flatnonzero(mask).astype(np.int64, copy=False)
        if self.query.by_confidence:  # unconfirmed pre-labels: least confident first
            conf = [self.marks.prelabel_confidence(n) for n in self._names]
            full = np.concatenate([c if c is not None else np.full(len(sp), np.nan)
                                   for c, sp in zip(conf, self._splits, strict=True)])
            rows = rows[np.argsort(full[rows], kind="stable")]
        return rows

    def _explicit_ids(self, total: int) -> np.ndarray:
        ex = self.explicit
        if isinstance(ex, dict):
            parts = []
            for k, name in enumerate(self._names):
                if name in ex:
                    idx = np.asarray(ex[name], np.int64).ravel()
                    idx = idx[(idx >= 0) & (idx < len(self._splits[k]))]
                    parts.append(idx + self._offsets[k])
            ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        elif len(self._splits) == 1:
            ids = np.asarray(ex, np.int64)
        else:  # plain indices while both splits are shown: the first split's
            ids = np.asarray(ex, np.int64)
            ids = ids[ids < self._offsets[1]]
        return ids[(ids >= 0) & (ids < total)]
