"""The `.npy` cache of a data folder's `.npz` files, which checks itself.

Trust nothing in it: the manifest is schema-checked (garbage means an empty cache, never a
traceback); an entry is used only while the source's size, mtime AND the hash of its last
64 kB match (a zip ends with its directory, which holds the CRC-32 of every member, so a
same-size rewrite with a restored mtime still changes it); a cached array must match the
entry's header, size and CRC-32, else it is rebuilt from the source, and only a fault of the
source is reported against the source. A `.k49desk-cache` that is a symbolic link is not
followed (the user cache is used instead).

By default a cached array is read into memory (one streamed pass with its CRC): a mapped
file kills the process with SIGBUS when someone truncates it, and a read copy cannot be
changed under the app. `mmap=True` maps it instead (2 ms instead of ~0.2 s for full K49,
shared between processes) for callers that accept that risk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from k49desk.core import limits
from k49desk.core.atomic import atomic_open, atomic_write_text
from k49desk.core.errors import DataError, K49Error
from k49desk.core.npz import NpyHeader, NpzArrayReader, SinkError, parse_npy_header

CACHE_DIR_NAME = ".k49desk-cache"
MANIFEST = "manifest.json"
CACHE_VERSION = 2
_TAIL = 64 * 1024
_FREE_MARGIN = 16 << 20
_ENTRY_KEYS = {"size": int, "mtime_ns": int, "tail": str, "shape": list, "descr": str,
               "fortran": bool, "header_bytes": int, "crc32": int}


def source_key(path: Path) -> dict[str, Any]:
    """Size, mtime and a hash of the last 64 kB of a regular source file."""
    with limits.open_regular(path, DataError, what=".npz file",
                             max_bytes=limits.MAX_NPZ_FILE_BYTES) as f:
        st = os.fstat(f.fileno())
        f.seek(max(0, st.st_size - _TAIL))
        tail = hashlib.sha1(f.read(_TAIL)).hexdigest()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "tail": tail}


def fallback_cache_dir(root: Path) -> Path:
    import platformdirs

    # fsencode: a folder name that is not valid UTF-8 must still give a key
    key = hashlib.sha1(os.fsencode(str(root.resolve()))).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("k49desk")) / key


def _looks_writable(folder: Path) -> bool:
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(folder, os.W_OK)


def _is_symlink(p: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(p).st_mode)
    except OSError:
        return False


def cache_dirs(root: Path) -> list[Path]:
    """Where caches for a data folder may go, in order: beside the data, else the user cache.

    A folder marked read-only is left alone even when the process (root) could write there;
    a cache folder that is a symbolic link is never used (it could point anywhere).
    """
    cands = [root / CACHE_DIR_NAME, fallback_cache_dir(root)]
    if not _looks_writable(root):
        cands = cands[1:]
    return [c for c in cands if not _is_symlink(c)]


def _valid_entry(e: object) -> bool:
    if not isinstance(e, dict) or set(e) != set(_ENTRY_KEYS):
        return False
    for k, t in _ENTRY_KEYS.items():
        v = e[k]
        if not isinstance(v, t) or (t is int and isinstance(v, bool)):
            return False
    return all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in e["shape"])


def _read_manifest(d: Path) -> dict[str, dict]:
    """The valid entries of a manifest; anything unreadable or malformed counts as empty."""
    try:
        with limits.open_regular(d / MANIFEST, K49Error, follow_symlinks=False,
                                 max_bytes=limits.MAX_CACHE_MANIFEST_BYTES) as f:
            m = json.loads(f.read().decode("utf-8"))
    except (K49Error, OSError, ValueError, RecursionError):
        return {}
    if not isinstance(m, dict) or m.get("version") != CACHE_VERSION:
        return {}
    files = m.get("files")
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and _valid_entry(v)}


class DataCache:
    """The cache of one data folder; silently disabled where nothing is writable."""

    def __init__(self, root: Path, *, mmap: bool = False) -> None:
        self.mmap = mmap
        self.dir: Path | None = None
        for cand in cache_dirs(root):
            try:
                cand.mkdir(parents=True, exist_ok=True)
                if _is_symlink(cand) or not cand.is_dir():  # raced into a link: not ours
                    continue
                probe = cand / f".probe-{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError:
                continue
            self.dir = cand
            break
        self.files: dict[str, dict] = _read_manifest(self.dir) if self.dir else {}

    # ---- reading -------------------------------------------------------------------------
    def load(self, src: Path, kind: str, check: Callable[[np.ndarray], None],
             progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, dict]:
        """The array of `src` (from the cache when valid, else from the source, caching it),
        after `check` accepted it. Returns (array, source key)."""
        key = source_key(src)
        arr = self._cached(src.name, key)
        if arr is not None:
            try:
                check(arr)
                return arr, key
            except DataError:  # wrong in the cache only: rebuild, do not blame the source
                self._drop(src.name)
        arr = self._build(src, key, kind, progress)
        check(arr)  # fresh from the source: a failure is the source's
        return arr, key

    def _npy(self, name: str) -> Path:
        assert self.dir is not None
        return self.dir / (name.removesuffix(".npz") + ".npy")

    def _cached(self, name: str, key: dict) -> np.ndarray | None:
        e = self.files.get(name)
        if self.dir is None or e is None or any(e[k] != key[k] for k in key):
            return None
        npy = self._npy(name)
        try:
            with limits.open_regular(npy, K49Error, follow_symlinks=False) as f:
                h = parse_npy_header(f.read, npy.name)
                size = os.fstat(f.fileno()).st_size
                if (list(h.shape) != e["shape"] or h.dtype.str != e["descr"]
                        or h.fortran_order != e["fortran"] or len(h.raw) != e["header_bytes"]
                        or size != len(h.raw) + h.nbytes):
                    return None
                if self.mmap:
                    return np.memmap(npy, dtype=h.dtype, mode="r", offset=len(h.raw),
                                     shape=h.shape, order="F" if h.fortran_order else "C")
                return _read_verified(f, h, e["crc32"])
        except (K49Error, OSError, ValueError):
            return None

    # ---- building ------------------------------------------------------------------------
    def _build(self, src: Path, key: dict, kind: str,
               progress: Callable[[float], None] | None) -> np.ndarray:
        with NpzArrayReader(src, kind) as r:
            h = r.header
            if self.dir is None or not self._room_for(h.nbytes):
                arr, _ = r.read(progress=progress)
                assert arr is not None
                return _readonly(arr)
            npy = self._npy(src.name)
            try:
                with atomic_open(npy, "wb", error=K49Error) as f:
                    arr, crc = r.read(sink=f, keep=not self.mmap, progress=progress)
            except SinkError:
                arr = None  # the cache could not be written: fall through to a plain read
            except K49Error as e:
                if isinstance(e, DataError):
                    raise
                arr = None  # fsync/replace of the cache failed
            else:
                self._record(src.name, key, h, crc)
                if arr is not None:
                    return _readonly(arr)
                with contextlib.suppress(OSError, ValueError):
                    return np.memmap(npy, dtype=h.dtype, mode="r", offset=len(h.raw),
                                     shape=h.shape, order="F" if h.fortran_order else "C")
        # Caching failed half-way: read the source again, into memory only.
        with NpzArrayReader(src, kind) as r:
            arr, _ = r.read(progress=progress)
        assert arr is not None
        return _readonly(arr)

    def _room_for(self, nbytes: int) -> bool:
        assert self.dir is not None
        try:
            return shutil.disk_usage(self.dir).free >= nbytes + _FREE_MARGIN
        except OSError:
            return False

    def _record(self, name: str, key: dict, h: NpyHeader, crc: int) -> None:
        assert self.dir is not None
        self.files = {**_read_manifest(self.dir), **self.files}  # keep another process' work
        self.files[name] = {**key, "shape": list(h.shape), "descr": h.dtype.str,
                            "fortran": h.fortran_order, "header_bytes": len(h.raw),
                            "crc32": crc}
        self._write_manifest()

    def _drop(self, name: str) -> None:
        self.files.pop(name, None)
        if self.dir is not None:
            with contextlib.suppress(OSError):
                self._npy(name).unlink()
            self._write_manifest()

    def _write_manifest(self) -> None:
        assert self.dir is not None
        text = json.dumps({"version": CACHE_VERSION, "files": self.files}, indent=1)
        with contextlib.suppress(K49Error):
            atomic_write_text(self.dir / MANIFEST, text)


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False  # shared by the whole app, as the memmap used to be
    return arr


def _read_verified(f: Any, h: NpyHeader, crc_expected: int) -> np.ndarray | None:
    """Read the data after the header into memory; None unless its CRC-32 matches."""
    n = h.nbytes
    flat = np.empty(n, np.uint8)
    view = memoryview(flat)
    crc, done = 0, 0
    while done < n:
        got = f.readinto(view[done:done + (4 << 20)])
        if not got:
            return None
        crc = zlib.crc32(view[done:done + got], crc)
        done += got
    if crc != crc_expected:
        return None
    arr = flat.view(h.dtype).reshape(h.shape, order="F" if h.fortran_order else "C")
    return _readonly(arr)
