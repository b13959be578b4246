"""Review session: a person's decisions on flagged samples, autosaved, undoable, exportable.

The session lives beside the data, never in the original .npz files: a snapshot
`k49desk-review-<split>.json` (flags + decisions, written atomically: temp + fsync + replace)
and a journal `k49desk-review-<split>.journal.jsonl` to which every change is appended and
fsynced before `decide`/`set_decision` return, so a killed process loses nothing (see
review_store for why, with figures). The flags part of the snapshot never changes, so its JSON
text is built once and reused.

Decisions: keep (the given label is right), accept (the suggestion is right), relabel (neither:
the person picked `final_label`), unusable (the image is garbage), unsure (look again later).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from k49desk.core import review_export
from k49desk.core.atomic import atomic_write_text
from k49desk.core.classes import OFFICIAL_CLASSES, ClassInfo
from k49desk.core.errors import ReviewError
from k49desk.core.review_export import EXPORT_COLUMNS  # noqa: F401  (re-exported)
from k49desk.core.review_flags import (  # noqa: F401  (decision types re-exported)
    DECISIONS,
    ERROR_DECISIONS,
    FLAG_COLUMNS,
    Decision,
    Filters,
    ReviewStats,
    check_flags,
    normalize_flags,
    now_iso,  # noqa: F401  (FLAG_COLUMNS, read_flags_csv re-exported)
    read_flags_csv,
    summarise_proba,
)
from k49desk.core.review_store import (
    COMPACT_EVERY,
    ReviewJournal,
    back_up_corrupt,
    fallback_dir,
    journal_path,
    read_journal,
    session_filename,
    session_location,
)

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset

FORMAT = "k49desk-review"
VERSION = 1


class SessionCorrupt(ReviewError):
    """The session file could not be read; it was renamed to `backup` and is reported."""

    def __init__(self, message: str, backup: Path | None) -> None:
        super().__init__(message)
        self.backup = backup


class ReviewSession:
    """Flags of one split plus a person's decisions; every change is saved before returning."""

    def __init__(self, path: Path, data_dir: Path, split: str, flags: pd.DataFrame, *,
                 top3: list[list[list[float]]] | None = None,
                 exemplars: dict[int, list[int]] | None = None, model: str = "",
                 method: str = "", created: str = "", note: str = "",
                 classes: tuple[ClassInfo, ...] = OFFICIAL_CLASSES) -> None:
        self.path = path
        self.data_dir = data_dir
        self.split = split
        self.flags = flags
        self.top3 = top3
        self.exemplars = exemplars or {}
        self.model = model
        self.method = method
        self.created = created or now_iso()
        self.note = note  # "" or why the file is not beside the data
        self.classes = classes
        self.decisions: dict[int, Decision] = {}
        self.position = 0
        self.filters = Filters()
        self._undo: list[tuple[int, Decision | None, Decision | None]] = []
        self._redo: list[tuple[int, Decision | None, Decision | None]] = []
        self._visible: np.ndarray | None = None
        self._cols: dict[str, np.ndarray] | None = None
        self._static_json = self._build_static_json()
        self.snapshot_id = ""
        self.journal = ReviewJournal(journal_path(path))

    def move_to(self, path: Path) -> None:
        """Save to `path` from now on (the data folder turned out to be read-only)."""
        self.journal.close()
        self.path = path
        self.journal = ReviewJournal(journal_path(path))

    def close(self) -> None:
        self.journal.close()

    def frozen(self) -> ReviewSession:
        """A read-only view of the current decisions, for an export running on another thread
        while the person keeps deciding (it must never write the session)."""
        c = copy.copy(self)
        c.decisions = dict(self.decisions)
        return c

    # ---- opening ----------------------------------------------------------------------
    @classmethod
    def open(cls, data_dir: str | os.PathLike[str], split: str, flags: pd.DataFrame | None = None,
             *, proba: np.ndarray | None = None, labels: np.ndarray | None = None,
             model: str = "", method: str = "") -> ReviewSession:
        """Resume the session of `split`, or start one from `flags` (keeping earlier decisions
        on the same (index, issue)). Raises SessionCorrupt after backing up an unreadable file."""
        data_dir = Path(data_dir)
        path, note = session_location(data_dir, split)
        old = cls._load(path, data_dir, split, note) if path.exists() else None
        moved = False
        # The other place: beside the data (now read-only), or the fallback (now writable).
        other = (data_dir if note else fallback_dir(data_dir)) / session_filename(split)
        if old is None and other.exists():
            old = cls._load(other, data_dir, split, note)
            old.move_to(path)
            moved = True
        if flags is None:
            if old is None:
                old = cls(path, data_dir, split, normalize_flags(pd.DataFrame(
                    columns=list(FLAG_COLUMNS)), split), note=note)
            if labels is not None:
                old.check_against(labels)
            # Opening only reads (a second reader must not pull the journal from under the
            # owner), except to move the session or fold a long journal into a snapshot.
            if moved or old.journal.entries >= COMPACT_EVERY:
                old.save()
            if moved:  # keep the copy left behind, renamed so it is never resumed by mistake
                back_up_corrupt(other, suffix="moved")
            return old
        flags = normalize_flags(flags, split)
        if labels is not None:
            check_flags(flags, labels, path.name)
        top3, exemplars = summarise_proba(flags, proba, labels)
        s = cls(path, data_dir, split, flags, top3=top3, exemplars=exemplars, model=model,
                method=method, note=note)
        if old is not None:
            s._carry_over(old)
            old.close()
        s.save()
        return s

    @classmethod
    def _load(cls, path: Path, data_dir: Path, split: str, note: str) -> ReviewSession:
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            if d.get("format") != FORMAT:
                raise ValueError("not a k49desk review session")
            if d.get("version") != VERSION:
                raise ValueError(f"version {d.get('version')}, this k49desk reads {VERSION}")
            if d.get("split") != split:
                raise ValueError(f"holds the {d.get('split')!r} split, expected {split!r}")
            flags = normalize_flags(pd.DataFrame(d["flags"]), split, path.name)
            s = cls(path, data_dir, split, flags, top3=d.get("top3"),
                    exemplars={int(k): [int(i) for i in v]
                               for k, v in d.get("exemplars", {}).items()},
                    model=str(d.get("model", "")), method=str(d.get("method", "")),
                    created=str(d.get("created", "")), note=note)
            for pos, dec, final, at in d["decisions"]:
                if not (0 <= int(pos) < len(flags)) or dec not in DECISIONS:
                    raise ValueError(f"bad decision {dec!r} for card {pos}")
                final = None if final is None else int(final)
                s.decisions[int(pos)] = Decision(dec, final, str(at))
            s.filters = Filters(**d.get("filters", {}))
            s.position = int(d.get("position", 0))
            if s.top3 is not None and len(s.top3) != len(flags):
                raise ValueError("top3 does not match the flags")
            s.snapshot_id = str(d.get("snapshot_id", ""))
            entries = read_journal(s.journal.path, s.snapshot_id) if s.snapshot_id else []
            for e in entries:
                s._replay(e)
            s.journal.entries = len(entries)
            s.position = min(max(s.position, 0), max(len(flags) - 1, 0))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, ReviewError) as e:
            backup = back_up_corrupt(path)
            where = f"it was renamed to {backup.name}" if backup else "it could not be renamed"
            raise SessionCorrupt(f"{path.name}: the review session is damaged ({e}); {where} and "
                                 "a new session starts", backup) from e
        return s

    def _replay(self, e: dict) -> None:
        if "pos" in e:
            pos, d = int(e["pos"]), e["d"]
            if not 0 <= pos < len(self.flags) or (d is not None and d[0] not in DECISIONS):
                raise ValueError(f"journal: bad decision {d!r} for card {pos}")
            self._put(pos, None if d is None else
                      Decision(d[0], None if d[1] is None else int(d[1]), str(d[2])))
        if "position" in e:
            self.position = int(e["position"])
        if "filters" in e:
            self.filters = Filters(**e["filters"])
            self._visible = None

    def check_against(self, labels: np.ndarray) -> None:
        check_flags(self.flags, labels, self.path.name)

    def _carry_over(self, old: ReviewSession) -> None:
        keys = {(int(i), str(t)): p for p, (i, t) in
                enumerate(zip(old.flags["index"], old.flags["issue"], strict=True))}
        pairs = zip(self.flags["index"], self.flags["issue"], strict=True)
        for pos, (i, t) in enumerate(pairs):
            p = keys.get((int(i), str(t)))
            if p is not None and p in old.decisions:
                self.decisions[pos] = old.decisions[p]
        self.filters = old.filters
        self.position = self.next_open(-1) or 0

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
        return self.decisions.get(pos)

    def final_label(self, pos: int) -> int | None:
        """The label the sample should carry after this decision (None: undecided or unsure)."""
        d = self.decisions.get(pos)
        if d is None or d.decision == "unsure":
            return None
        if d.decision == "accept":
            s = int(self.flags["suggested_label"].iat[pos])
            return s if s >= 0 else int(self.flags["given_label"].iat[pos])
        if d.decision == "relabel":
            return d.final_label
        return int(self.flags["given_label"].iat[pos])

    def visible(self) -> np.ndarray:
        """Positions passing the filters, in flag order (cached until something changes)."""
        if self._visible is None:
            f, fl = self.filters, self.flags
            m = np.ones(len(fl), bool)
            if f.issue:
                m &= (fl["issue"] == f.issue).to_numpy()
            if f.given is not None:
                m &= (fl["given_label"] == f.given).to_numpy()
            if f.suggested is not None:
                m &= (fl["suggested_label"] == f.suggested).to_numpy()
            if f.undecided_only:
                m[[p for p, d in self.decisions.items() if d.decision != "unsure"]] = False
            self._visible = np.flatnonzero(m)
        return self._visible

    def is_open(self, pos: int) -> bool:
        d = self.decisions.get(pos)
        return d is None or d.decision == "unsure"

    def next_open(self, after: int) -> int | None:
        """The first open visible card after position `after` (wrapping), else None."""
        vis = self.visible()
        if not len(vis):
            return None
        start = int(np.searchsorted(vis, after, side="right"))
        for p in np.concatenate([vis[start:], vis[:start]]):
            if self.is_open(int(p)) and int(p) != after:
                return int(p)
        return None

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
        counts = {d: 0 for d in DECISIONS}
        for d in self.decisions.values():
            counts[d.decision] += 1
        return ReviewStats(total=len(self.flags), decided=len(self.decisions) - counts["unsure"],
                           unsure=counts["unsure"], counts=counts)

    def flags_frame(self) -> pd.DataFrame:
        """Flags plus decision and final_label columns, for the Gallery (state.set_flags)."""
        df = self.flags.copy()
        dec = np.full(len(df), "", dtype=object)
        final = np.full(len(df), -1, dtype=np.int64)
        for p, d in self.decisions.items():
            dec[p] = d.decision
            f = self.final_label(p)
            final[p] = -1 if f is None else f
        df["decision"] = dec
        df["final_label"] = final
        return df

    # ---- changing ---------------------------------------------------------------------
    def decide(self, pos: int, decision: str, final_label: int | None = None) -> None:
        """Record a decision on card `pos` (undoable) and save before returning."""
        if decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r} (one of {', '.join(DECISIONS)})")
        n = len(self.classes)
        if decision == "relabel" and (final_label is None or not 0 <= final_label < n):
            raise ValueError(f"relabel needs a class 0..{n - 1}, got {final_label!r}")
        new = Decision(decision, final_label if decision == "relabel" else None, now_iso())
        old = self.decisions.get(pos)
        self.set_decision(pos, new)
        self._undo.append((pos, old, new))
        self._redo.clear()

    def set_decision(self, pos: int, decision: Decision | None) -> None:
        """Set (or clear, with None) the decision on `pos` and save; no undo history.

        If the save fails the decision is rolled back, so memory and disk never disagree."""
        if not 0 <= pos < len(self.flags):
            raise IndexError(f"card {pos} is outside 0..{len(self.flags) - 1}")
        old = self.decisions.get(pos)
        self._put(pos, decision)
        d = None if decision is None else [decision.decision, decision.final_label,
                                           decision.decided_at]
        try:
            self._record({"pos": pos, "d": d, "position": self.position})
        except ReviewError:
            self._put(pos, old)
            raise

    def _put(self, pos: int, decision: Decision | None) -> None:
        if decision is None:
            self.decisions.pop(pos, None)
        else:
            self.decisions[pos] = decision
        if self.filters.undecided_only:
            self._visible = None

    def undo(self) -> int | None:
        """Undo the last decision; returns its card position (None when nothing to undo)."""
        if not self._undo:
            return None
        pos, old, new = self._undo.pop()
        self.set_decision(pos, old)
        self._redo.append((pos, old, new))
        return pos

    def redo(self) -> int | None:
        if not self._redo:
            return None
        pos, old, new = self._redo.pop()
        self.set_decision(pos, new)
        self._undo.append((pos, old, new))
        return pos

    def set_filters(self, filters: Filters, save: bool = True) -> None:
        self.filters = filters
        self._visible = None
        if save:
            self._record({"position": self.position, "filters": asdict(filters)})

    def set_position(self, pos: int, save: bool = True) -> None:
        self.position = int(pos)
        if save:
            self._record({"position": self.position, "filters": asdict(self.filters)})

    # ---- saving -----------------------------------------------------------------------
    def _build_static_json(self) -> str:
        fl = self.flags
        cols = {c: [None if isinstance(v, float) and np.isnan(v) else v for v in fl[c].tolist()]
                for c in FLAG_COLUMNS}
        static = {"format": FORMAT, "version": VERSION, "split": self.split,
                  "data_dir": str(self.data_dir), "model": self.model, "method": self.method,
                  "created": self.created, "flags": cols, "top3": self.top3,
                  "exemplars": {str(k): v for k, v in self.exemplars.items()}}
        return json.dumps(static, ensure_ascii=False, allow_nan=False)[:-1]

    def _record(self, entry: dict) -> None:
        """Make one change durable: a journal line now, a full snapshot now and then."""
        if not self.snapshot_id:
            self.save()
            return
        self.journal.append({"id": self.snapshot_id, **entry})
        if self.journal.entries >= COMPACT_EVERY:
            # The change is already durable; a failed compaction is retried next time.
            with contextlib.suppress(ReviewError):
                self.save()

    def save(self) -> None:
        """Write a full snapshot atomically (temp + fsync + replace), then empty the journal."""
        dec = [[p, d.decision, d.final_label, d.decided_at]
               for p, d in sorted(self.decisions.items())]
        snap = uuid.uuid4().hex[:16]
        tail = json.dumps({"updated": now_iso(), "snapshot_id": snap, "position": self.position,
                           "filters": asdict(self.filters), "decisions": dec},
                          ensure_ascii=False, allow_nan=False)
        atomic_write_text(self.path, self._static_json + ", " + tail[1:], error=ReviewError)
        self.snapshot_id = snap
        self.journal.reset()

    # ---- export (k49desk.core.review_export) ----------------------------------------------
    def export_frame(self) -> pd.DataFrame:
        """One row per flag with EXPORT_COLUMNS; decision/final_label empty while undecided."""
        return review_export.export_frame(self)

    def export_csv(self, path: str | os.PathLike[str]) -> Path:
        return review_export.export_csv(self, Path(path))

    def export_json(self, path: str | os.PathLike[str]) -> Path:
        return review_export.export_json(self, Path(path))

    def corrected_labels(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels with decided changes applied, sorted unusable indices); latest decision wins."""
        return review_export.corrected_labels(self, labels)

    def export_corrected(self, folder: str | os.PathLike[str], ds: K49Dataset) -> list[Path]:
        """A K49 folder with corrected labels of this split, unusable-<split>.csv, the images and
        class map (hard-linked, else copied), the other split unchanged; never the data folder."""
        return review_export.write_corrected_folder(self, Path(folder), ds)
