"""Write a whole folder atomically: build it in a hidden staging folder beside the target, then
rename it into place. A failure (or a cancel) leaves no folder behind and the target as it was.

Used by `import` (a new folder) and `merge`. Renames are atomic within one file system, which
is why the staging folder sits beside the target rather than in /tmp.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

# k49desk's cache in a folder it opened: rebuilt on demand, never a reason to refuse a target.
from k49desk.core.dataset import CACHE_DIR_NAME
from k49desk.core.errors import K49Error


def describe_os_error(path: Path, e: OSError) -> str:
    """One line naming `path` and what went wrong, in words a person can act on."""
    if e.errno == errno.ENOSPC:
        return f"{path}: the disk is full; nothing was changed"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: not writable ({e.strerror}); nothing was changed"
    if e.errno == errno.ENOENT:
        return f"{path}: the folder does not exist"
    return f"{path}: cannot be written ({e.strerror or e})"


def folder_entries(folder: Path) -> list[str]:
    """Names in `folder`, without k49desk's own cache; [] when it does not exist."""
    try:
        return sorted(n for n in os.listdir(folder) if n != CACHE_DIR_NAME)
    except FileNotFoundError:
        return []


def check_target(folder: Path, error: type[K49Error]) -> None:
    """`folder` may be created (its nearest existing ancestor is a folder) or is a folder."""
    if folder.exists():
        if not folder.is_dir():
            raise error(f"{folder}: is a file, not a folder")
        return
    anc = folder.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise error(f"{folder}: {anc} is a file, not a folder")


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable (best effort: not every platform allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _move_into_place(stage: Path, folder: Path, replace: Iterable[str] | None) -> None:
    """Rename `stage` to `folder`. An existing `folder` must be empty, or hold only names in
    `replace` (an earlier output of the same kind: it is replaced whole)."""
    old = None
    if folder.is_dir():
        names = folder_entries(folder)
        allowed = set(replace or ())
        foreign = [n for n in names if n not in allowed]
        if foreign:  # something appeared while we worked: never clobber it
            raise FileExistsError(errno.EEXIST, f"now holds {', '.join(foreign[:3])}")
        if os.listdir(folder):
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.rename(folder, old)
        else:
            os.rmdir(folder)
    try:
        os.rename(stage, folder)
    except OSError:
        if old is not None:
            os.rename(old, folder)
        raise
    fsync_dir(folder.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike[str], error: type[K49Error], *,
                  replace: Iterable[str] | None = None) -> Iterator[Path]:
    """Yield an empty hidden folder beside `folder`; fill it. On normal exit it is renamed
    to `folder` (which must then be missing, empty, or hold only names in `replace`); on
    any exception it is deleted and `folder` is untouched. OSErrors become `error` naming
    `folder` (never the staging folder)."""
    folder = Path(folder)
    check_target(folder, error)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        # Not mkdtemp: it makes the folder private (0700); mkdir applies the umask, as for
        # any folder the person creates.
        stage = folder.parent / f".{folder.name}.staging-{os.getpid()}-{secrets.token_hex(4)}"
        stage.mkdir(0o777)
    except OSError as e:
        raise error(describe_os_error(folder, e)) from e
    try:
        yield stage
        fsync_dir(stage)
        _move_into_place(stage, folder, replace)
    except BaseException as e:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(e, K49Error) and str(stage) in str(e):
            raise type(e)(str(e).replace(str(stage), str(folder))) from e
        if isinstance(e, FileExistsError):
            raise error(f"{folder}: {e.strerror}; nothing was written") from e
        if isinstance(e, OSError):
            raise error(describe_os_error(folder, e)) from e
        raise
