"""Where the annotation database of a split lives, and opening it: moving it between the data
folder and the user data folder, importing an old JSON review session once.

`k49desk-annotations-<split>.sqlite` sits beside the data; when the data folder is read-only
it goes to the user data folder (platformdirs, one folder per data folder). When the data
folder becomes writable again (or read-only), the database is copied over and the copy left
behind is renamed *.moved-<time>. An old `k49desk-review-<split>.json` (+ .journal.jsonl) is
imported into a new database in one transaction, then renamed *.imported-<time> and kept.
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

import numpy as np

from k49desk.core.annotations import (
    AnnotationStore,
    SessionCorrupt,
    back_up_files,
)
from k49desk.core.errors import ReviewError
from k49desk.core.review_flags import flag_rows
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


def open_store(data_dir: str | os.PathLike[str], split: str, *,
               labels: np.ndarray | None = None) -> AnnotationStore:
    """The annotation store of `split` of `data_dir` (see the module docstring).

    Raises SessionTooNew (a newer database or legacy session: left untouched),
    SessionCorrupt (a damaged one: backed up, reported; opening again starts afresh) or
    ReviewError (e.g. annotations of other data, when `labels` are given)."""
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
        parsed, damaged = _read_or_set_aside(legacy, split)  # SessionTooNew: nothing created
    store = AnnotationStore.open_path(path, split, note=note)
    try:
        if legacy is not None and legacy.exists() and parsed is None and damaged is None:
            mark = store.meta().get(LEGACY_KEY)
            if mark is None and store.is_blank():  # created, then killed before the import
                parsed, damaged = _read_or_set_aside(legacy, split)
            elif mark == _digest(legacy):  # imported, then killed before the rename
                back_up_corrupt(legacy, "imported")
        if parsed is not None:
            _import(store, parsed)
            back_up_corrupt(parsed.path, "imported")
        if damaged is not None:
            store.set_meta({LEGACY_KEY: "damaged"}, durable=True)
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


def _digest(p: Path) -> str | None:
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError:
        return None


def _read_or_set_aside(legacy: Path, split: str
                       ) -> tuple[LegacySession | None, tuple[str, Path | None] | None]:
    try:
        return read_legacy(legacy, split), None
    except LegacyDamaged as e:
        return None, (str(e), back_up_corrupt(legacy))


def _import(store: AnnotationStore, s: LegacySession) -> None:
    """Flags, decisions, position and filters of a legacy session: one transaction."""
    by_image = decisions_by_image(s)
    rows = [(img, d, f, None, g, at) for img, (d, f, at, g) in by_image.items()]
    label = f"import of {s.path.name}"
    with store.batch(label):
        store.replace_flags(flag_rows(s.flags, s.top3), {
            "model": s.model, "method": s.method, "created": s.created,
            "exemplars": json.dumps({str(k): v for k, v in s.exemplars.items()}),
            "position": str(s.position), "filters": json.dumps(asdict(s.filters)),
            LEGACY_KEY: s.digest})
        store.import_rows(rows, label, source="review")
    msg = f"imported {s.path.name} ({len(by_image)} decisions)"
    if s.warnings:
        msg += "; " + "; ".join(s.warnings)
    store.import_warnings = list(s.warnings)
    store.note = "; ".join(x for x in (store.note, msg) if x)
