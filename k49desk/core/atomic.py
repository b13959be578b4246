"""Atomic writes: a temp file in the target folder, fsync, then os.replace."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from k49desk.core.errors import K49Error


def _describe(path: Path, e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return f"{path}: the disk is full; nothing was changed"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: not writable ({e.strerror}); nothing was changed"
    if e.errno == errno.ENOENT:
        if path.parent.is_dir():  # e.g. /proc: the folder is there but takes no new files
            return f"{path}: cannot create files in {path.parent} ({e.strerror})"
        return f"{path}: the folder {path.parent} does not exist"
    return f"{path}: cannot be written ({e.strerror or e})"


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb",
                error: type[K49Error] = K49Error) -> Iterator[IO]:
    """Open a temp file next to `path`; on success it replaces `path`, on failure it vanishes.

    OSErrors (unwritable folder, disk full) become `error` naming the file.
    """
    path = Path(path)
    encoding = None if "b" in mode else "utf-8"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise error(_describe(path, e)) from e
    try:
        # mkstemp creates 0600; keep the target's mode, or the usual 0644 for a new file.
        try:
            perms = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            perms = 0o644
        os.chmod(tmp, perms)
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise error(_describe(path, e)) from e
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes,
                       error: type[K49Error] = K49Error) -> None:
    with atomic_open(path, "wb", error) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str,
                      error: type[K49Error] = K49Error) -> None:
    with atomic_open(path, "w", error) as f:
        f.write(text)


def save_npz(path: str | os.PathLike[str], array: np.ndarray, compressed: bool = True,
             error: type[K49Error] = K49Error) -> None:
    """Write an official-format .npz (one array under `arr_0`) atomically."""
    with atomic_open(path, "wb", error) as f:
        if compressed:
            np.savez_compressed(f, array)
        else:
            np.savez(f, array)


def save_npy(path: str | os.PathLike[str], array: np.ndarray,
             error: type[K49Error] = K49Error) -> None:
    with atomic_open(path, "wb", error) as f:
        np.save(f, array, allow_pickle=False)
