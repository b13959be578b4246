"""The SQLite file of an annotation store: schema, opening with checks, backups, error text.

Opening never changes a file it refuses: the schema version (PRAGMA user_version) is read from
the file header before SQLite touches it, so a database written by a newer k49desk is left
byte for byte as it was. A file that is not a k49desk annotation database, or that fails
PRAGMA quick_check, is renamed to `<name>.corrupt-<time>` (with its -wal/-shm files) and
reported as SessionCorrupt; the caller then starts a new one. Nothing is deleted.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from k49desk.core.errors import ReviewError, SessionCorrupt, SessionTooNew  # noqa: F401  (re-exported)

SCHEMA_VERSION = 1
APPLICATION_ID = 0x4B343964  # "K49d": marks the file as ours (PRAGMA application_id)
BUSY_TIMEOUT_S = 10.0  # how long a write waits for another process's transaction
HEADER = b"SQLite format 3\x00"
COMPANIONS = ("-wal", "-shm")

# Rows are kept small, because a bulk change of random images rewrites most pages of the
# annotations table (measured: 10,000 of 232,365 images, 135 -> 62 ms CPU): the source and the
# time of a decision are those of its step (annotations.step), not copies in every row.
SCHEMA = (
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE flags(pos INTEGER PRIMARY KEY, image INTEGER NOT NULL, issue TEXT NOT NULL,"
    " given_label INTEGER NOT NULL, suggested_label INTEGER NOT NULL, quality REAL,"
    " partner_split TEXT, partner_index INTEGER, top3 TEXT)",
    "CREATE INDEX flags_image ON flags(image)",
    # decision NULL: none (the row may still carry a note or tags). step: the step whose change
    # set the decision (an undo puts back the earlier one); decided_at: only when it differs
    # from that step's time (decisions imported from an older file).
    "CREATE TABLE annotations(image INTEGER PRIMARY KEY, decision TEXT, final_label INTEGER,"
    " confidence REAL, given_label INTEGER, step INTEGER, decided_at TEXT,"
    " note TEXT NOT NULL DEFAULT '', note_step INTEGER,"
    " CHECK (decision IS NULL OR decision IN"
    " ('keep', 'accept', 'relabel', 'unusable', 'unsure', 'prelabel')))",
    "CREATE TABLE tags(tag TEXT NOT NULL, image INTEGER NOT NULL, PRIMARY KEY (tag, image))"
    " WITHOUT ROWID",
    "CREATE INDEX tags_image ON tags(image)",
    # One row per step: a change of any number of images, an undo or a redo (`reverts`: the
    # step it reverted). source: review / manual / import. Its history rows are the ids
    # first_id..last_id (written under the write lock, so contiguous: no index on step).
    "CREATE TABLE steps(id INTEGER PRIMARY KEY, label TEXT NOT NULL, source TEXT NOT NULL,"
    " at TEXT NOT NULL, reverts INTEGER, first_id INTEGER, last_id INTEGER)",
    # Append-only: every change of every image, the value after and before it (what undo
    # restores, what the detail pane lists). what: 'decision', 'note', 'tag+', 'tag-' (text =
    # the tag). ref / old_ref: the step that set the value after / before (annotations.step or
    # note_step).
    "CREATE TABLE history(id INTEGER PRIMARY KEY, step INTEGER NOT NULL,"
    " image INTEGER NOT NULL, what TEXT NOT NULL, decision TEXT, final_label INTEGER,"
    " confidence REAL, decided_at TEXT, ref INTEGER, old_decision TEXT,"
    " old_final_label INTEGER, old_confidence REAL, old_decided_at TEXT, old_ref INTEGER,"
    " text TEXT, old_text TEXT)",
    "CREATE INDEX history_image ON history(image)",
)
TABLES = ("meta", "flags", "annotations", "tags", "steps", "history")

# What a reader wants of a row: the source and time of its decision (from its step).
ANN_VIEW = (
    "CREATE TEMP VIEW IF NOT EXISTS ann AS SELECT a.image, a.decision, a.final_label,"
    " CASE WHEN a.decision IS NULL THEN NULL ELSE s.source END AS source, a.confidence,"
    " a.given_label, CASE WHEN a.decision IS NULL THEN NULL"
    " ELSE coalesce(a.decided_at, s.at) END AS decided_at, a.note"
    " FROM annotations a LEFT JOIN steps s ON s.id = a.step")
# Scratch tables of one connection (never in the file): the rows of the change being written.
TEMP_SCHEMA = (
    "CREATE TEMP TABLE IF NOT EXISTS sel(image INTEGER PRIMARY KEY, final_label INTEGER,"
    " confidence REAL, given_label INTEGER, decision TEXT, ref INTEGER, decided_at TEXT)",
    "CREATE TEMP TABLE IF NOT EXISTS seln(image INTEGER PRIMARY KEY, text TEXT NOT NULL,"
    " given_label INTEGER, ref INTEGER)",
    "CREATE TEMP TABLE IF NOT EXISTS selt(image INTEGER PRIMARY KEY, given_label INTEGER)",
    ANN_VIEW,
)


def back_up_files(path: Path, suffix: str = "corrupt",
                  companions: tuple[str, ...] = COMPANIONS) -> Path | None:
    """Rename `path` (and `path`+companion files) to *.<suffix>-<time>; never delete them."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.{suffix}-{stamp}")
    n = 1
    while backup.exists():  # two backups in one second must not overwrite each other
        n += 1
        backup = path.with_name(f"{path.name}.{suffix}-{stamp}-{n}")
    try:
        os.replace(path, backup)
    except OSError:
        return None
    for c in companions:
        side = path.with_name(path.name + c)
        if side.exists():
            with contextlib.suppress(OSError):
                os.replace(side, backup.with_name(backup.name + c))
    return backup


def header_version(path: Path) -> int | None:
    """PRAGMA user_version read from the file header (None: empty or missing file).

    ValueError if the file is not an SQLite database at all."""
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return None
    if not head:
        return None
    if len(head) < 100 or not head.startswith(HEADER):
        raise ValueError("not an SQLite database")
    return int.from_bytes(head[60:64], "big", signed=True)


def describe_sql_error(path: Path, e: sqlite3.Error, doing: str) -> str:
    """One line naming the file, what went wrong and what was not saved."""
    msg = str(e)
    low = msg.lower()
    if "locked" in low or "busy" in low:
        return (f"{path}: another program kept the annotation database locked for over "
                f"{BUSY_TIMEOUT_S:.0f} s; {doing} was not saved")
    if "full" in low:
        return f"{path}: the disk is full; {doing} was not saved"
    if "readonly" in low or "read-only" in low or "permission" in low:
        return f"{path}: not writable ({msg}); {doing} was not saved"
    if isinstance(e, sqlite3.DatabaseError) and ("malformed" in low or "not a database" in low):
        return (f"{path}: the annotation database is damaged ({msg}); {doing} was not saved. "
                "Reopen the data folder: the damaged file is then backed up and reported")
    return f"{path}: {doing} failed ({msg})"


def _damaged(conn: sqlite3.Connection | None, path: Path, why: str) -> SessionCorrupt:
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()
    backup = back_up_files(path)
    where = (f"it was renamed to {backup.name}" if backup else "it could not be renamed")
    return SessionCorrupt(f"{path.name}: the annotation database is damaged ({why}); {where} "
                          "and a new one starts", backup)


def _too_new(path: Path, version: int) -> SessionTooNew:
    return SessionTooNew(f"{path}: written by a newer k49desk (schema version {version}; this "
                         f"one reads up to {SCHEMA_VERSION}); it was left untouched: update "
                         "k49desk to open it")


def open_db(path: Path) -> sqlite3.Connection:
    """Open (or create) the annotation database at `path`: WAL, synchronous=FULL, checked.

    Raises SessionTooNew (file untouched), SessionCorrupt (file backed up) or ReviewError."""
    try:
        version = header_version(path)
    except ValueError as e:
        raise _damaged(None, path, str(e)) from None
    except OSError as e:
        raise ReviewError(f"{path}: cannot be read ({e.strerror or e})") from e
    if version is not None and version > SCHEMA_VERSION:
        raise _too_new(path, version)
    conn: sqlite3.Connection | None = None
    try:
        # Not tied to the opening thread: the GUI may open (quick_check: 0.5 s CPU at full
        # scale) on a worker, then use the store on its own thread, one thread at a time.
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:  # newer schema still in the -wal file
            conn.close()
            raise _too_new(path, version)
        check = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
        if check != ["ok"]:
            raise _damaged(conn, path, "; ".join(check[:3]))
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ReviewError(f"{path}: SQLite cannot use write-ahead logging here ({mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA temp_store=MEMORY")
        # A bulk change of random images touches most pages of the annotations table: a cache
        # that holds them (64 MiB at most, allocated as used) halves its CPU time.
        conn.execute("PRAGMA cache_size=-65536")
        if version == 0:
            _create(conn, path)
        _check_schema(conn, path)
        for sql in TEMP_SCHEMA:
            conn.execute(sql)
        return conn
    except sqlite3.DatabaseError as e:
        low = str(e).lower()
        if isinstance(e, sqlite3.OperationalError) and ("locked" in low or "unable to open"
                                                        in low or "readonly" in low):
            if conn is not None:
                conn.close()
            raise ReviewError(describe_sql_error(path, e, "opening")) from e
        raise _damaged(conn, path, str(e)) from e


def open_snapshot(path: Path) -> sqlite3.Connection:
    """A second connection holding a read transaction: it sees the database as it is now
    (write-ahead logging keeps that view while others write) until closed. Usable from any
    one thread."""
    try:
        r = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                            check_same_thread=False)
        r.execute(ANN_VIEW)
        r.execute("BEGIN")
        r.execute("SELECT count(*) FROM meta").fetchone()  # the read starts: the view is fixed
        return r
    except sqlite3.Error as e:
        raise ReviewError(describe_sql_error(path, e, "reading")) from e


def _create(conn: sqlite3.Connection, path: Path) -> None:
    """Create the schema once; a second process creating it at the same moment waits."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise _Foreign("tables of another program and no k49desk schema version")
            for sql in SCHEMA:
                conn.execute(sql)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


class _Foreign(sqlite3.DatabaseError):
    """A readable SQLite file that is not a k49desk annotation database."""


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    if app != APPLICATION_ID:
        raise _Foreign(f"application id {app:#x}, not a k49desk annotation database")
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = [t for t in TABLES if t not in names]
    if missing:
        raise _Foreign(f"table(s) {', '.join(missing)} missing")
