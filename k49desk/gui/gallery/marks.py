"""The annotation store's numpy arrays, per split, as the Gallery reads them to filter and paint.

The stores (gui/common/annotations.Annotations, one per split) keep decision codes and final
labels per image in memory; this class holds them for the splits the Gallery shows, plus a
"has a tag" mask, all refreshed by `sync()` when the store's version moved (after a write, an
undo, another process's write), never per painted cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from k49desk.core.annotations import AnnotationStore

TAGGED = 1  # bit in extra(): the image carries at least one tag


class Marks:
    def __init__(self) -> None:
        self._stores: dict[str, AnnotationStore] = {}
        self._sizes: dict[str, int] = {}
        self._seen: dict[str, int] = {}
        self._codes: dict[str, np.ndarray] = {}
        self._finals: dict[str, np.ndarray] = {}
        self._extra: dict[str, np.ndarray] = {}
        self._prelabels: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
        # split -> (codes, finals, extra): one dict lookup per painted cell
        self.arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def set_store(self, split: str, store: AnnotationStore | None, size: int) -> None:
        if store is None:
            for d in (self._stores, self._seen, self._codes, self._finals, self._extra,
                      self._prelabels, self.arrays):
                d.pop(split, None)  # type: ignore[attr-defined]
            return
        self._stores[split] = store
        self._sizes[split] = size
        self._seen.pop(split, None)
        self.sync(split)

    def has(self, split: str) -> bool:
        return split in self._stores and not self._stores[split].closed

    def store(self, split: str) -> AnnotationStore | None:
        return self._stores.get(split)

    def sync(self, split: str | None = None) -> bool:
        """Take the stores' arrays again where their version moved; True if any did."""
        moved = False
        for name in [split] if split is not None else list(self._stores):
            st = self._stores.get(name)
            if st is None or st.closed or self._seen.get(name) == st.version:
                continue
            n = self._sizes[name]
            self._codes[name] = _fit(st.decision_codes(), n, 0)
            self._finals[name] = _fit(st.final_labels(), n, -1)
            extra = np.zeros(n, np.uint8)
            for tag in st.tags():
                extra[_fit(st.tag_mask(tag), n, False)] |= TAGGED
            self._extra[name] = extra
            self.arrays[name] = (self._codes[name], self._finals[name], extra)
            self._prelabels.pop(name, None)
            self._seen[name] = st.version
            moved = True
        return moved

    # ---- reads (numpy, O(1) per image) --------------------------------------------------
    def codes(self, split: str) -> np.ndarray | None:
        """int8 decision code per image (index into DECISION_NAMES), None: store not open."""
        return self._codes.get(split)

    def finals(self, split: str) -> np.ndarray | None:
        return self._finals.get(split)

    def extra(self, split: str) -> np.ndarray | None:
        return self._extra.get(split)

    def tag_mask(self, split: str, tag: str) -> np.ndarray:
        st = self._stores.get(split)
        if st is None or st.closed:
            return np.zeros(self._sizes.get(split, 0), bool)
        return _fit(st.tag_mask(tag), self._sizes[split], False)

    def tags(self) -> dict[str, int]:
        """Every tag in the open stores and how many images carry it."""
        out: dict[str, int] = {}
        for st in self._stores.values():
            if not st.closed:
                for t, k in st.tags().items():
                    out[t] = out.get(t, 0) + k
        return dict(sorted(out.items()))

    def prelabel_confidence(self, split: str) -> np.ndarray | None:
        """float per image: the pre-label's confidence (NaN: none), one SQL query per change."""
        st = self._stores.get(split)
        if st is None or st.closed:
            return None
        cached = self._prelabels.get(split)
        if cached is None or cached[0] != st.version:
            imgs, conf = st.prelabels()
            full = np.full(self._sizes[split], np.nan)
            ok = imgs < len(full)
            full[imgs[ok]] = conf[ok]
            cached = (st.version, imgs, full)
            self._prelabels[split] = cached
        return cached[2]


def _fit(a: np.ndarray, n: int, fill: object) -> np.ndarray:
    """`a` cut or padded to `n` entries (the store sizes its arrays to the split, but a store
    still opening may know fewer images)."""
    if len(a) == n:
        return a
    out = np.full(n, fill, dtype=a.dtype)
    k = min(n, len(a))
    out[:k] = a[:k]
    return out
