"""Review session: the review workflow (ordered flags, filters, position, stats) as a view over
the split's AnnotationStore, where every decision lives (k49desk.core.annotations).

A decision is about an image, not a card: two cards of one image show the same decision, a
decision made in the Gallery shows on the card, and new flags of the same images keep them.
Every change is durable (committed and fsynced) before the method returns; undo/redo is the
store's one history, shared with the Gallery. The original .npz files are never written.

Decisions: keep (the given label is right), accept (the suggestion is right), relabel (neither:
the person picked `final_label`), unusable (the image is garbage), unsure (look again later).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from k49desk.core.annotations import (  # noqa: F401  (SessionCorrupt, SessionTooNew re-exported)
    AnnotationStore,
    SessionCorrupt,
    SessionTooNew,
    Step,
)
from k49desk.core.annotations.records import (
    ACCEPT,
    DECISION_NAMES,
    KEEP,
    RELABEL,
    UNSURE,
    UNUSABLE,
    flag_rows,
    now_iso,
)
from k49desk.core.classes import OFFICIAL_CLASSES, ClassInfo
from k49desk.core.review_export import EXPORT_COLUMNS  # noqa: F401  (re-exported)
from k49desk.core.review_flags import (  # noqa: F401  (decision types re-exported)
    DECISIONS,
    ERROR_DECISIONS,
    FLAG_COLUMNS,
    Decision,
    Filters,
    ReviewStats,
    attach_partners,
    check_flags,
    flags_from_rows,
    normalize_flags,
    read_flags_csv,
    summarise_proba,
)
from k49desk.core.review_snapshot import ReviewSnapshot
from k49desk.core.review_store import open_store

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset


def _filters(text: str | None) -> Filters:
    try:
        d = json.loads(text or "{}")
        return Filters(**d) if isinstance(d, dict) else Filters()
    except (ValueError, TypeError):
        return Filters()  # a view setting, not a decision: fall back rather than refuse


class ReviewSession:
    """The flags of one split and the decisions on their images, through an AnnotationStore."""

    def __init__(self, store: AnnotationStore, data_dir: Path | None = None, *,
                 owns_store: bool = True,
                 classes: tuple[ClassInfo, ...] = OFFICIAL_CLASSES) -> None:
        self.store = store
        self.data_dir = Path(data_dir) if data_dir is not None else store.path.parent
        self.classes = classes
        self._owns = owns_store
        self._load_flags()
        meta = store.meta()
        self.filters = _filters(meta.get("filters"))
        try:
            self.position = int(meta.get("position", "0"))
        except ValueError:
            self.position = 0
        self.position = min(max(self.position, 0), max(len(self.flags) - 1, 0))

    def _load_flags(self) -> None:
        st = self.store
        self.flags, self.top3 = flags_from_rows(st.read_flags(), st.split, self.classes)
        meta = st.meta()
        self.model, self.method = meta.get("model", ""), meta.get("method", "")
        self.created = meta.get("created", "")
        try:
            ex = json.loads(meta.get("exemplars") or "{}")
            self.exemplars = {int(k): [int(i) for i in v] for k, v in ex.items()}
        except (ValueError, TypeError, AttributeError):
            self.exemplars = {}
        self._flags_seen = st.flags_version
        self._img = self.flags["index"].to_numpy(np.int64)
        self._given = self.flags["given_label"].to_numpy(np.int64)
        self._sug = self.flags["suggested_label"].to_numpy(np.int64)
        self._cols: dict[str, np.ndarray] | None = None
        self._visible: np.ndarray | None = None
        self._vis_version = -1

    @property
    def path(self) -> Path:
        return self.store.path

    @property
    def split(self) -> str:
        return self.store.split

    @property
    def note(self) -> str:
        """"" or a status-line remark (the data folder is read-only; an old session imported)."""
        return self.store.note

    def close(self) -> None:
        if self._owns:
            self.store.close()

    def frozen(self) -> ReviewSnapshot:
        """The flags and annotations of this moment, for an export running on another thread
        while the person keeps deciding (a read snapshot of the file: cheap to take here,
        read by the export; see review_snapshot)."""
        return ReviewSnapshot(self.split, self.path, self.model, self.method, self.classes,
                              self.flags.copy(), reader=self.store.snapshot())

    # ---- opening ----------------------------------------------------------------------
    @classmethod
    def open(cls, data_dir: str | os.PathLike[str], split: str, flags: pd.DataFrame | None = None,
             *, proba: np.ndarray | None = None, labels: np.ndarray | None = None,
             model: str = "", method: str = "", pairs: pd.DataFrame | None = None,
             store: AnnotationStore | None = None) -> ReviewSession:
        """Resume the review of `split`, or start one from `flags` (decisions are per image,
        so earlier decisions on the same images stay). `pairs` (IssueReport.pairs) gives
        duplicate flags their partner; `store`: use this open store (not closed by close()).

        Raises SessionCorrupt after backing up a damaged file, SessionTooNew for a file of a
        newer k49desk (untouched), ReviewError for flags or annotations of other data."""
        own = store is None
        if store is None:
            store = open_store(data_dir, split, labels=labels)
        elif labels is not None:
            store.set_labels(labels)
        try:
            if flags is not None:
                flags = attach_partners(normalize_flags(flags, split), pairs)
                if labels is not None:
                    check_flags(flags, labels, store.path.name)
                top3, exemplars = summarise_proba(flags, proba, labels)
                store.replace_flags(flag_rows(flags, top3), {
                    "model": model, "method": method, "created": now_iso(),
                    "exemplars": json.dumps({str(k): v for k, v in (exemplars or {}).items()})})
            s = cls(store, Path(data_dir), owns_store=own)
            if flags is not None:
                s.position = s.next_open(-1) or 0
                s.save()
            elif labels is not None:
                check_flags(s.flags, labels, store.path.name)
        except BaseException:
            if own:
                store.close()
            raise
        return s

    def check_against(self, labels: np.ndarray) -> None:
        check_flags(self.flags, labels, self.path.name)
        self.store.set_labels(labels)

    def refresh_if_changed(self) -> bool:
        """Load what another process wrote (decisions, new flags); True if anything changed."""
        changed = self.store.refresh_if_changed()
        if self.store.flags_version != self._flags_seen:
            self._load_flags()
            self.position = min(max(self.position, 0), max(len(self.flags) - 1, 0))
            changed = True
        return changed

    # ---- reading ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.flags)

    def flag(self, pos: int) -> dict:
        """Card `pos` as plain Python values (from numpy columns: DataFrame.iloc is slow)."""
        if self._cols is None:
            self._cols = {c: self.flags[c].to_numpy() for c in FLAG_COLUMNS}
        d = {c: v[pos].item() if hasattr(v[pos], "item") else v[pos]
             for c, v in self._cols.items()}
        d["quality"] = None if d["quality"] != d["quality"] else d["quality"]  # NaN -> None
        d["top3"] = [(int(c), float(p)) for c, p in self.top3[pos]] if self.top3 else []
        return d

    def decision(self, pos: int) -> Decision | None:
        """The decision on the image of card `pos` (made here or in the Gallery)."""
        r = self.store.decision(int(self._img[pos]))
        return None if r is None else Decision(*r)

    @property
    def decisions(self) -> dict[int, Decision]:
        """Card position -> decision, for every decided card (one SQL query)."""
        d = self.store.decisions()
        return {p: Decision(*d[i]) for p, i in enumerate(self._img.tolist()) if i in d}

    def _card_codes(self) -> np.ndarray:
        codes = self.store.decision_codes()
        out = np.zeros(len(self._img), np.int8)
        ok = self._img < len(codes)
        out[ok] = codes[self._img[ok]]
        return out

    def final_labels(self) -> np.ndarray:
        """Per card: the label its image should carry after the decision, -1 while undecided,
        unsure or pre-labelled."""
        codes = self._card_codes()
        finals = self.store.final_labels()
        ok = self._img < len(finals)
        chosen = np.full(len(self._img), -1, np.int64)
        chosen[ok] = finals[self._img[ok]]
        out = np.where(np.isin(codes, (KEEP, UNUSABLE)), self._given, -1)
        return np.where(np.isin(codes, (ACCEPT, RELABEL)), chosen, out)

    def final_label(self, pos: int) -> int | None:
        """The label the sample should carry after this decision (None: undecided or unsure)."""
        i = int(self._img[pos])
        codes = self.store.decision_codes()
        c = int(codes[i]) if i < len(codes) else 0
        if c in (KEEP, UNUSABLE):
            return int(self._given[pos])
        f = int(self.store.final_labels()[i]) if c in (ACCEPT, RELABEL) else -1
        return None if f < 0 else f

    def visible(self) -> np.ndarray:
        """Positions passing the filters, in flag order (cached until something changes)."""
        if self._visible is None or self._vis_version != self.store.version:
            f, fl = self.filters, self.flags
            m = np.ones(len(fl), bool)
            if f.issue:
                m &= (fl["issue"] == f.issue).to_numpy()
            if f.given is not None:
                m &= self._given == f.given
            if f.suggested is not None:
                m &= self._sug == f.suggested
            if f.undecided_only:
                m &= self._open_mask()
            self._visible = np.flatnonzero(m)
            self._vis_version = self.store.version
        return self._visible

    def _open_mask(self) -> np.ndarray:
        return ~np.isin(self._card_codes(), (KEEP, ACCEPT, RELABEL, UNUSABLE))

    def is_open(self, pos: int) -> bool:
        """No decision yet, unsure, or an unconfirmed pre-label."""
        codes = self.store.decision_codes()
        i = int(self._img[pos])
        return i >= len(codes) or codes[i] not in (KEEP, ACCEPT, RELABEL, UNUSABLE)

    def next_open(self, after: int) -> int | None:
        """The first open visible card after position `after` (wrapping), else None."""
        vis = self.visible()
        if not len(vis):
            return None
        start = int(np.searchsorted(vis, after, side="right"))
        order = np.concatenate([vis[start:], vis[:start]])
        cand = order[self._open_mask()[order] & (order != after)]
        return int(cand[0]) if len(cand) else None

    def step(self, pos: int, delta: int) -> int | None:
        """The visible card `delta` places from `pos` (clamped), or None when nothing is visible."""
        vis = self.visible()
        if not len(vis):
            return None
        i = int(np.searchsorted(vis, pos))
        if i < len(vis) and vis[i] == pos:
            i += delta
        elif delta < 0:
            i -= 1
        return int(vis[min(max(i, 0), len(vis) - 1)])

    def stats(self) -> ReviewStats:
        n = np.bincount(self._card_codes(), minlength=len(DECISION_NAMES))
        counts = {d: int(n[DECISION_NAMES.index(d)]) for d in DECISIONS}
        return ReviewStats(total=len(self.flags),
                           decided=sum(counts.values()) - counts["unsure"],
                           unsure=int(n[UNSURE]), counts=counts)

    def flags_frame(self) -> pd.DataFrame:
        """Flags plus decision ("" = none) and final_label (-1 = none) columns, for the Gallery
        (state.set_flags)."""
        df = self.flags.copy()
        df["decision"] = np.array(DECISION_NAMES, dtype=object)[self._card_codes()]
        df["final_label"] = self.final_labels()
        return df

    # ---- changing ---------------------------------------------------------------------
    def decide(self, pos: int, decision: str, final_label: int | None = None) -> Step:
        """Record a decision on card `pos` (one undoable step) and save before returning."""
        if decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r} (one of {', '.join(DECISIONS)})")
        n = len(self.classes)
        if decision == "relabel" and (final_label is None or not 0 <= final_label < n):
            raise ValueError(f"relabel needs a class 0..{n - 1}, got {final_label!r}")
        return self._write(pos, Decision(decision, final_label), undoable=True)

    def set_decision(self, pos: int, decision: Decision | None) -> None:
        """Set (or clear, with None) the decision on `pos` and save, with the current position
        in the same transaction; not on the undo history. If the save fails nothing changes."""
        self._write(pos, decision, undoable=False)

    def _write(self, pos: int, d: Decision | None, undoable: bool) -> Step:
        if not 0 <= pos < len(self.flags):
            raise IndexError(f"card {pos} is outside 0..{len(self.flags) - 1}")
        final = None
        if d is not None and d.decision == "accept":
            final = d.final_label
            if final is None:
                final = int(self._sug[pos] if self._sug[pos] >= 0 else self._given[pos])
        elif d is not None and d.decision == "relabel":
            final = d.final_label
        return self.store.set_decisions(
            [int(self._img[pos])], None if d is None else d.decision, final, source="review",
            given_labels=[int(self._given[pos])], decided_at=(d.decided_at or None) if d else None,
            undoable=undoable, meta={"position": str(self.position)})

    def card_of(self, images: np.ndarray | list[int]) -> int | None:
        """The first card showing one of `images` (e.g. a Step's), None if no card does."""
        hit = np.flatnonzero(np.isin(self._img, np.asarray(images, np.int64)))
        return int(hit[0]) if len(hit) else None

    def _pos_of(self, step: Step | None) -> int | None:
        if step is None:
            return None
        pos = self.card_of(step.images)
        return self.position if pos is None else pos

    def undo(self) -> int | None:
        """Undo the last step of the shared history (a Gallery step too); returns the first
        card it changed (the current position when it changed no card), None if nothing."""
        return self._pos_of(self.store.undo())

    def redo(self) -> int | None:
        return self._pos_of(self.store.redo())

    def set_filters(self, filters: Filters, save: bool = True) -> None:
        self.filters = filters
        self._visible = None
        if save:
            self.save(durable=False)

    def set_position(self, pos: int, save: bool = True) -> None:
        self.position = int(pos)
        if save:
            self.save(durable=False)

    def save(self, durable: bool = True) -> None:
        """Save the position and filters (decisions are saved as they are made)."""
        self.store.set_meta({"position": str(self.position),
                             "filters": json.dumps(asdict(self.filters))}, durable=durable)

    # ---- export (k49desk.core.review_export, through a snapshot) ------------------------
    def _now(self) -> ReviewSnapshot:
        return ReviewSnapshot(self.split, self.path, self.model, self.method, self.classes,
                              self.flags, table=self.store.annotations_frame())

    def export_frame(self) -> pd.DataFrame:
        """EXPORT_COLUMNS: one row per flag, then one per other annotated image."""
        return self._now().export_frame()

    def export_csv(self, path: str | os.PathLike[str]) -> Path:
        return self._now().export_csv(path)

    def export_json(self, path: str | os.PathLike[str]) -> Path:
        return self._now().export_json(path)

    def corrected_labels(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels with every accept/relabel applied, sorted unusable indices)."""
        return self._now().corrected_labels(labels)

    def export_corrected(self, folder: str | os.PathLike[str], ds: K49Dataset) -> list[Path]:
        """A K49 folder with corrected labels of this split, unusable-<split>.csv, the images and
        class map (hard-linked, else copied), the other split unchanged; never the data folder."""
        return self._now().export_corrected(folder, ds)
