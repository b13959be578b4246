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

from k49desk.core.errors import ReviewError

SCHEMA_VERSION = 1
APPLICATION_ID = 0x4B343964  # "K49d": marks the file as ours (PRAGMA application_id)
BUSY_TIMEOUT_S = 10.0  # how long a write waits for another process's transaction
HEADER = b"SQLite format 3\x00"
COMPANIONS = ("-wal", "-shm")

# decision IS NULL: no decision (the row may still carry a note or tags).
SCHEMA = (
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE flags(pos INTEGER PRIMARY KEY, image INTEGER NOT NULL, issue TEXT NOT NULL,"
    " given_label INTEGER NOT NULL, suggested_label INTEGER NOT NULL, quality REAL,"
    " partner_split TEXT, partner_index INTEGER, top3 TEXT)",
    "CREATE INDEX flags_image ON flags(image)",
    "CREATE TABLE annotations(image INTEGER PRIMARY KEY, decision TEXT, final_label INTEGER,"
    " source TEXT, confidence REAL, given_label INTEGER, decided_at TEXT, step INTEGER,"
    " note TEXT NOT NULL DEFAULT '', note_step INTEGER,"
    " CHECK (decision IS NULL OR decision IN"
    " ('keep', 'accept', 'relabel', 'unusable', 'unsure', 'prelabel')))",
    "CREATE TABLE tags(tag TEXT NOT NULL, image INTEGER NOT NULL, PRIMARY KEY (tag, image))"
    " WITHOUT ROWID",
    "CREATE INDEX tags_image ON tags(image)",
    # One row per undoable step (a bulk change, an undo, a redo); `reverts` names the step an
    # undo or redo reverted.
    "CREATE TABLE steps(id INTEGER PRIMARY KEY, label TEXT NOT NULL, source TEXT NOT NULL,"
    " at TEXT NOT NULL, reverts INTEGER)",
    # Append-only: every change of every image, with the value before it (what undo restores
    # and what the detail pane lists). what: 'decision', 'note', 'tag+', 'tag-' (text = tag).
    "CREATE TABLE history(id INTEGER PRIMARY KEY, step INTEGER NOT NULL,"
    " image INTEGER NOT NULL, what TEXT NOT NULL, decision TEXT, final_label INTEGER,"
    " source TEXT, confidence REAL, decided_at TEXT, old_decision TEXT,"
    " old_final_label INTEGER, old_source TEXT, old_confidence REAL, old_decided_at TEXT,"
    " text TEXT, old_text TEXT)",
    "CREATE INDEX history_image ON history(image)",
    "CREATE INDEX history_step ON history(step)",
)
TABLES = ("meta", "flags", "annotations", "tags", "steps", "history")

# Scratch tables of one connection (never in the file): the rows of the change being written.
TEMP_SCHEMA = (
    "CREATE TEMP TABLE IF NOT EXISTS sel(image INTEGER PRIMARY KEY, decision TEXT,"
    " final_label INTEGER, source TEXT, confidence REAL, given_label INTEGER, at TEXT)",
    "CREATE TEMP TABLE IF NOT EXISTS seln(image INTEGER PRIMARY KEY, text TEXT NOT NULL,"
    " given_label INTEGER)",
    "CREATE TEMP TABLE IF NOT EXISTS selt(image INTEGER PRIMARY KEY, given_label INTEGER)",
)


class SessionCorrupt(ReviewError):
    """A session/annotation file could not be read; it was renamed to `backup` (None: it could
    not be renamed) and is reported. Opening again starts a new one."""

    def __init__(self, message: str, backup: Path | None) -> None:
        super().__init__(message)
        self.backup = backup


class SessionTooNew(ReviewError):
    """The file was written by a newer k49desk; it was left untouched."""


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
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
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
