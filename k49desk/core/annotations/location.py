"""Where the annotation database of a split lives (see review_store, which opens it): beside
the data, or in the user data folder when the data folder is read-only; plus the handling of
an old JSON review session's files (find, read or set aside, back up).

Kept apart from store.py so that AnnotationStore.open (store.py) can use it without
importing review_store, which imports the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path

from k49desk.core.annotations.db import back_up_files
from k49desk.core.annotations.records import flag_rows
from k49desk.core.errors import ReviewError
from k49desk.core.review_legacy import (
    LegacyDamaged,
    LegacySession,
    decisions_by_image,
    journal_path,
    legacy_filename,
    read_legacy,
)

_PROBES = itertools.count()
LEGACY_KEY = "legacy_import"  # meta: sha256 of the imported (or set aside) legacy snapshot


def db_filename(split: str) -> str:
    return f"k49desk-annotations-{split}.sqlite"


def dir_writable(folder: Path) -> bool:
    """Can we create files in `folder`? (A probe, because root ignores permission bits.)"""
    # A name of its own per call: the app opens two splits' stores on two threads at once,
    # and a shared name let one thread delete the other's probe (then: "read-only").
    probe = folder / f".k49desk-probe-{os.getpid()}-{threading.get_ident()}-{next(_PROBES)}"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    with contextlib.suppress(OSError):
        probe.unlink()
    return True


def fallback_dir(data_dir: Path) -> Path:
    import platformdirs

    key = hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    return Path(platformdirs.user_data_dir("k49desk")) / "reviews" / key


def session_location(data_dir: str | os.PathLike[str], split: str) -> tuple[Path, str]:
    """Where the database of `split` lives, plus a status-line note when not beside the data."""
    data_dir = Path(data_dir)
    if dir_writable(data_dir):
        return data_dir / db_filename(split), ""
    fb = fallback_dir(data_dir)
    try:
        fb.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReviewError(f"{data_dir}: not writable, and neither is {fb} ({e.strerror})") from e
    return fb / db_filename(split), f"data folder is read-only: review saved in {fb}"


def back_up_corrupt(path: Path, suffix: str = "corrupt") -> Path | None:
    """Rename a legacy session (and its journal) to *.<suffix>-<time>; never delete it."""
    backup = back_up_files(path, suffix, companions=())
    j = journal_path(path)
    if backup is not None and j.exists():
        with contextlib.suppress(OSError):
            os.replace(j, j.with_name(j.name + backup.name[len(path.name):]))
    return backup


def _copy_db(src: Path, dst: Path) -> None:
    """Copy the database `src` (possibly in a read-only folder) to `dst` atomically."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        try:
            s = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
            s.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error:  # a WAL database in a read-only folder: read the file as is
            s = sqlite3.connect(f"file:{src}?immutable=1", uri=True)
        try:
            d = sqlite3.connect(tmp)
            try:
                s.backup(d)
            finally:
                d.close()
        finally:
            s.close()
        os.replace(tmp, dst)
    except (sqlite3.Error, OSError) as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ReviewError(f"{src}: cannot be copied to {dst} ({e})") from e


def _find_legacy(folders: list[Path], split: str) -> Path | None:
    for f in folders:
        p = f / legacy_filename(split)
        if p.exists():
            return p
    return None


def digest(p: Path) -> str | None:
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError:
        return None


def read_or_set_aside(legacy: Path, split: str
                       ) -> tuple[LegacySession | None, tuple[str, Path | None] | None]:
    try:
        return read_legacy(legacy, split), None
    except LegacyDamaged as e:
        return None, (str(e), back_up_corrupt(legacy))


def find_database(data_dir: str | os.PathLike[str], split: str
                  ) -> tuple[Path, str, Path | None, LegacySession | None,
                             tuple[str, Path | None] | None]:
    """(database path, status-line note, legacy session file or None, the legacy session
    read or None, (why, backup) when it was damaged and set aside, or None).

    Moves the database to where it belongs first (see review_store). The legacy session is
    read only when no database exists yet; raises SessionTooNew then (nothing created)."""
    data_dir = Path(data_dir)
    path, note = session_location(data_dir, split)
    other = (data_dir if note else fallback_dir(data_dir)) / db_filename(split)
    if not path.exists() and other.exists():
        _copy_db(other, path)
        back_up_files(other, "moved")  # a read-only folder keeps it: harmless, not resumed
    legacy = _find_legacy([path.parent, other.parent], split)
    parsed: LegacySession | None = None
    damaged: tuple[str, Path | None] | None = None
    if legacy is not None and not path.exists():
        parsed, damaged = read_or_set_aside(legacy, split)  # SessionTooNew: nothing created
    return path, note, legacy, parsed, damaged


def legacy_import_data(s: LegacySession) -> tuple[list[tuple], dict[str, str], list[tuple]]:
    """(flag rows, flags meta, annotation rows) of a legacy session, for the store's import."""
    by_image = decisions_by_image(s)
    rows = [(img, d, f, None, g, at) for img, (d, f, at, g) in by_image.items()]
    meta = {"model": s.model, "method": s.method, "created": s.created,
            "exemplars": json.dumps({str(k): v for k, v in s.exemplars.items()}),
            "position": str(s.position), "filters": json.dumps(asdict(s.filters)),
            LEGACY_KEY: s.digest}
    return flag_rows(s.flags, s.top3), meta, rows
