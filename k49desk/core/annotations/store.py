"""AnnotationStore: every decision, tag and note on the images of one split, in SQLite.

One store (one connection, the only writer of this process) per split; other processes may
write the same file at the same time: SQLite serialises them (BEGIN IMMEDIATE, busy timeout)
and each keeps all its changes. A change is durable when the method returns (WAL,
synchronous=FULL: the commit is fsynced), so kill -9 loses nothing acknowledged.

Every public write is one transaction and one undoable step, however many images it touches.
Undo and redo are one history for the whole application (Review and Gallery share the store);
undoing a step restores only images nobody changed since, so an undo never clobbers a later
change made here or by another process.

The GUI reads per-image numpy arrays kept in memory: decision_codes(), final_labels(),
tag_mask(tag), updated in place by this process's writes; refresh_if_changed() (PRAGMA
data_version) loads what another process wrote.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from k49desk.core.annotations import changes
from k49desk.core.annotations import location as loc
from k49desk.core.annotations.db import SessionCorrupt, describe_sql_error, open_db, open_snapshot
from k49desk.core.annotations.edits import StoreEdits
from k49desk.core.annotations.queries import StoreQueries
from k49desk.core.annotations.records import (
    CODE_SQL,
    now_iso,
)
from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.errors import ReviewError
from k49desk.core.review_legacy import LegacySession

# One integer a row is read about 30% faster than three (232,365 rows: 160 vs 230 ms CPU).
PACKED_SQL = f"(image << 16) | (({CODE_SQL}) << 8) | (coalesce(final_label, -1) + 1)"


def _unpack(cur: sqlite3.Cursor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, decision code, final label) from rows of PACKED_SQL."""
    v = np.fromiter(itertools.chain.from_iterable(cur), np.int64)
    return v >> 16, ((v >> 8) & 255).astype(np.int8), ((v & 255) - 1).astype(np.int16)


class AnnotationStore(StoreEdits, StoreQueries):
    """Annotations of one split. Open with AnnotationStore.open(data_dir, split, labels=...)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, split: str, *, note: str = "",
                 n_classes: int = len(OFFICIAL_CLASSES)) -> None:
        self._conn: sqlite3.Connection | None = conn
        self.path = Path(path)
        self.split = split
        self.note = note  # "" or a status-line remark (where the file is, what was imported)
        self.n_classes = n_classes
        self.labels: np.ndarray | None = None  # the split's labels, once set_labels was called
        self.version = 0  # bumped whenever the arrays change (own or another process's write)
        self.flags_version = 0  # meta flags_version: bumped by every replace_flags
        self.import_warnings: list[str] = []  # what a legacy import skipped (and why)
        self._depth = 0
        self._after: list[Callable[[], None]] = []
        self._undo: list[tuple[int, str]] = []
        self._redo: list[tuple[int, str]] = []
        self._tag_masks: dict[str, np.ndarray] = {}
        self._tag_counts: dict[str, int] | None = None
        self._codes = np.zeros(0, np.int8)
        self._finals = np.full(0, -1, np.int16)
        self._hist_seen = self._data_version = 0
        self._json = changes.has_json(conn)
        try:
            meta = self.meta()
            if meta.get("split", split) != split:
                raise ReviewError(f"{self.path.name}: holds the {meta['split']!r} split, "
                                  f"expected {split!r}")
            if "split" not in meta:
                self.set_meta({"split": split, "created": now_iso()}, durable=True)
            self._load(int(meta.get("n_images", "0") or 0))
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, data_dir: str | os.PathLike[str], split: str, *,
             labels: np.ndarray | None = None) -> AnnotationStore:
        """The store of `split` beside the data (or in the user data folder when the data
        folder is read-only); imports an old JSON review session once. See review_store."""
        return open_store(data_dir, split, labels=labels)

    @classmethod
    def open_path(cls, path: str | os.PathLike[str], split: str, *, note: str = "",
                  labels: np.ndarray | None = None) -> AnnotationStore:
        """Open the database file `path` itself (no location logic, no legacy import)."""
        store = cls(open_db(Path(path)), Path(path), split, note=note)
        if labels is not None:
            try:
                store.set_labels(labels)
            except BaseException:
                store.close()
                raise
        return store

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def snapshot(self) -> sqlite3.Connection:
        """A read-only view of the file as it is now, for another thread (an export): a
        connection holding a read transaction; close it when done. See db.open_snapshot."""
        self._c()
        return open_snapshot(self.path)

    @property
    def closed(self) -> bool:
        return self._conn is None

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ReviewError(f"{self.path.name}: the annotation store is closed")
        return self._conn

    # ---- memory arrays -----------------------------------------------------------------
    def _load(self, n: int) -> None:
        c = self._c()
        top = c.execute("SELECT max(image) FROM annotations").fetchone()[0]
        size = max(n, -1 if top is None else int(top) + 1, 0)
        self._codes = np.zeros(size, np.int8)
        self._finals = np.full(size, -1, np.int16)
        img, code, final = _unpack(c.execute(
            f"SELECT {PACKED_SQL} FROM annotations WHERE decision IS NOT NULL"))
        self._codes[img] = code
        self._finals[img] = final
        self._hist_seen, self.flags_version = self._marks(c)
        self._data_version = c.execute("PRAGMA data_version").fetchone()[0]
        self._tag_masks.clear()
        self._tag_counts = None
        self.version += 1

    @staticmethod
    def _marks(c: sqlite3.Connection) -> tuple[int, int]:
        top, fv = c.execute("SELECT (SELECT coalesce(max(id), 0) FROM history), (SELECT value"
                            " FROM meta WHERE key = 'flags_version')").fetchone()
        return int(top), int(fv or 0)

    def _grow(self, size: int) -> None:
        if size > len(self._codes):
            codes = np.zeros(size, np.int8)
            finals = np.full(size, -1, np.int16)
            codes[:len(self._codes)] = self._codes
            finals[:len(self._finals)] = self._finals
            self._codes, self._finals = codes, finals
            self._tag_masks.clear()

    @property
    def n_images(self) -> int:
        """Length of the arrays: the split's size once known, else the highest image + 1."""
        return len(self._codes)

    def decision_codes(self) -> np.ndarray:
        """int8 per image: index into DECISION_NAMES (0 = none). Read-only; updated in place by
        writes of this store (ask again after growing or refresh_if_changed)."""
        v = self._codes.view()
        v.flags.writeable = False
        return v

    def final_labels(self) -> np.ndarray:
        """int16 per image: the label an accept/relabel gives it, -1 = unchanged. Read-only."""
        v = self._finals.view()
        v.flags.writeable = False
        return v

    def tag_mask(self, tag: str) -> np.ndarray:
        """bool per image: carries `tag` (cached until a change of that tag)."""
        m = self._tag_masks.get(tag)
        if m is None or len(m) != self.n_images:
            idx = np.fromiter((r[0] for r in self._c().execute(
                "SELECT image FROM tags WHERE tag = ?", (tag,))), np.int64)
            m = np.zeros(self.n_images, bool)
            m[idx[idx < len(m)]] = True
            m.flags.writeable = False
            self._tag_masks[tag] = m
        return m

    def tags(self) -> dict[str, int]:
        """Every tag in use and how many images carry it."""
        if self._tag_counts is None:
            self._tag_counts = {t: int(n) for t, n in self._c().execute(
                "SELECT tag, count(*) FROM tags GROUP BY tag ORDER BY tag")}
        return dict(self._tag_counts)

    def refresh_if_changed(self) -> bool:
        """Load what another process wrote since the last look; True if anything changed."""
        c = self._c()
        try:
            v = c.execute("PRAGMA data_version").fetchone()[0]
            if v == self._data_version:
                return False
            self._data_version = v
            return self._catch_up(c)
        except sqlite3.Error as e:
            raise ReviewError(describe_sql_error(self.path, e, "reading")) from e

    def _catch_up(self, c: sqlite3.Connection) -> bool:
        top, fv = self._marks(c)
        changed = fv != self.flags_version
        self.flags_version = fv
        if top > self._hist_seen:
            seen = self._hist_seen
            imgs = np.fromiter((r[0] for r in c.execute(
                "SELECT DISTINCT image FROM history WHERE id > ?", (seen,))), np.int64)
            img, code, final = _unpack(c.execute(
                f"SELECT {PACKED_SQL} FROM annotations WHERE"
                " image IN (SELECT image FROM history WHERE id > ?)", (seen,)))
            self._grow(int(imgs.max()) + 1 if len(imgs) else 0)
            self._codes[imgs] = 0
            self._finals[imgs] = -1
            self._codes[img] = code
            self._finals[img] = final
            self._tag_masks.clear()
            self._tag_counts = None
            self._hist_seen = top
            changed = True
        if changed:
            self.version += 1
        return changed

    # ---- transactions ------------------------------------------------------------------
    @contextlib.contextmanager
    def _tx(self, doing: str, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction (nested calls join the outer one). Memory is changed by the
        callbacks in self._after, run only once the commit succeeded."""
        c = self._c()
        if self._depth:
            self._depth += 1
            try:
                yield c
            finally:
                self._depth -= 1
            return
        self._after = []
        try:
            if not durable:  # position/filters: an app crash keeps them, a power cut may not
                c.execute("PRAGMA synchronous=NORMAL")
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            self._sync_full(c)
            raise ReviewError(describe_sql_error(self.path, e, doing)) from e
        self._depth = 1
        try:
            self._catch_up(c)
            yield c
            marks = self._marks(c)
            c.execute("COMMIT")
        except BaseException as e:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            self._after = []
            if isinstance(e, sqlite3.Error):
                raise ReviewError(describe_sql_error(self.path, e, doing)) from e
            raise
        finally:
            self._depth = 0
            if not durable:
                self._sync_full(c)
        self._hist_seen, self.flags_version = marks
        after, self._after = self._after, []
        for f in after:
            f()

    @staticmethod
    def _sync_full(c: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            c.execute("PRAGMA synchronous=FULL")

    @contextlib.contextmanager
    def batch(self, doing: str = "the change") -> Iterator[AnnotationStore]:
        """Several writes as one transaction (all or nothing); each still its own undo step."""
        with self._tx(doing):
            yield self

    # ---- meta --------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self._c().execute("SELECT key, value FROM meta"))

    def set_meta(self, values: dict[str, str], durable: bool = False) -> None:
        """Store small text values (review position, filters, model name ...)."""
        with self._tx("the session state", durable=durable) as c:
            c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                          [(k, str(v)) for k, v in values.items()])

    # ---- labels of the split -----------------------------------------------------------
    def set_labels(self, labels: np.ndarray) -> None:
        """Tell the store the split's labels: sizes the arrays, records given labels with
        every change (for queries like 'relabelled from は'); ReviewError if the annotations
        name images or labels this split does not have (they belong to other data)."""
        labels = np.asarray(labels)
        n = len(labels)
        c = self._c()
        top = c.execute("SELECT max(m) FROM (SELECT max(image) AS m FROM annotations UNION ALL"
                        " SELECT max(image) FROM flags)").fetchone()[0]
        if top is not None and top >= n:
            raise ReviewError(f"{self.path.name}: image {top} is annotated but this split has "
                              f"{n} images (0..{n - 1}); the annotations belong to other data")
        known = np.array(c.execute("SELECT image, given_label FROM annotations WHERE"
                                   " given_label IS NOT NULL").fetchall(),
                         dtype=np.int64).reshape(-1, 2)
        bad = np.flatnonzero(labels[known[:, 0]] != known[:, 1])
        if len(bad):
            i, g = (int(v) for v in known[bad[0]])
            raise ReviewError(f"{self.path.name}: image {i} is labelled {int(labels[i])} in the "
                              f"data but {g} in the annotations ({len(bad)} such); the "
                              "annotations belong to other data")
        missing = [(int(labels[r[0]]), r[0]) for r in c.execute(
            "SELECT image FROM annotations WHERE given_label IS NULL")]
        if missing or self.meta().get("n_images") != str(n):
            with self._tx("the split size", durable=False) as c:
                c.executemany("UPDATE annotations SET given_label = ? WHERE image = ?", missing)
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('n_images', ?)",
                          (str(n),))
        self.labels = labels
        self._grow(n)

    # ---- flags of the review -----------------------------------------------------------
    def replace_flags(self, rows: list[tuple], meta: dict[str, str]) -> None:
        """Replace the flags table: rows (pos, image, issue, given_label, suggested_label,
        quality, partner_split, partner_index, top3_json); `meta` saved with them."""
        with self._tx("the new flags") as c:
            c.execute("DELETE FROM flags")
            c.executemany("INSERT INTO flags VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            fv = self._marks(c)[1] + 1
            c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                          [(k, str(v)) for k, v in {**meta, "flags_version": fv}.items()])
            self._after.append(lambda: setattr(self, "version", self.version + 1))

    def read_flags(self) -> list[tuple]:
        return self._c().execute(
            "SELECT pos, image, issue, given_label, suggested_label, quality, partner_split,"
            " partner_index, top3 FROM flags ORDER BY pos").fetchall()


def open_store(data_dir: str | os.PathLike[str], split: str, *,
               labels: np.ndarray | None = None) -> AnnotationStore:
    """The annotation store of `split` of `data_dir` (see review_store's docstring).

    Raises SessionTooNew (a newer database or legacy session: left untouched),
    SessionCorrupt (a damaged one: backed up, reported; opening again starts afresh) or
    ReviewError (e.g. annotations of other data, when `labels` are given)."""
    path, note, legacy, parsed, damaged = loc.find_database(data_dir, split)
    store = AnnotationStore.open_path(path, split, note=note)
    try:
        if legacy is not None and legacy.exists() and parsed is None and damaged is None:
            mark = store.meta().get(loc.LEGACY_KEY)
            if mark is None and store.is_blank():  # created, then killed before the import
                parsed, damaged = loc.read_or_set_aside(legacy, split)
            elif mark == loc.digest(legacy):  # imported, then killed before the rename
                loc.back_up_corrupt(legacy, "imported")
        if parsed is not None:
            _import(store, parsed)
            loc.back_up_corrupt(parsed.path, "imported")
        if damaged is not None:
            store.set_meta({loc.LEGACY_KEY: "damaged"}, durable=True)
            why, backup = damaged
            where = (f"it was renamed to {backup.name}" if backup else
                     "it could not be renamed")
            raise SessionCorrupt(f"{legacy.name}: the review session is damaged ({why}); "
                                 f"{where} and a new session starts", backup)
        if labels is not None:
            store.set_labels(labels)
    except BaseException:
        store.close()
        raise
    return store


def _import(store: AnnotationStore, s: LegacySession) -> None:
    """Flags, decisions, position and filters of a legacy session: one transaction."""
    flags, meta, rows = loc.legacy_import_data(s)
    label = f"import of {s.path.name}"
    with store.batch(label):
        store.replace_flags(flags, meta)
        store.import_rows(rows, label, source="review")
    msg = f"imported {s.path.name} ({len(rows)} decisions)"
    if s.warnings:
        msg += "; " + "; ".join(s.warnings)
    store.import_warnings = list(s.warnings)
    store.note = "; ".join(x for x in (store.note, msg) if x)
