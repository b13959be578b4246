"""Resource limits for untrusted input, and a safe way to open a file that must be regular.

Every size read from a file is a claim: it is compared with these limits before anything is
allocated. The numbers admit the real data with room (K49 train is 232,365 images, a 66 MB
.npz, a 697-byte class map; the shipped model is a few MB) and refuse absurd claims.
docs/LIMITS.md states them for users.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from k49desk.core.errors import K49Error

# ---- data files (.npz) ----
MAX_IMAGES = 1_000_000  # per split: 4.3x the real K49 train split (232,365)
MAX_NPZ_FILE_BYTES = 1 << 30  # a .npz on disk (real train: 66 MB; uncompressed: 182 MB)
# Decompressed bytes may exceed the compressed file only by this floor plus a ratio. Real
# K49 inflates 2.8x (images) and 1.4x (labels); an archive of blank images inflates ~1000x,
# which is how a 3 MB file could claim 3 GB.
INFLATE_FLOOR_BYTES = 64 << 20
MAX_INFLATE_RATIO = 32
MAX_NPY_HEADER_BYTES = 10_000  # numpy's own safe default for .npy headers
MAX_ZIP_MEMBERS = 64  # an official .npz holds one
MAX_CACHE_MANIFEST_BYTES = 1 << 20

# ---- class map ----
MAX_CLASSMAP_BYTES = 64 << 10  # the official one is 697 bytes

# ---- images given to predict / the drawing pad ----
MAX_IMAGE_PIXELS = 40_000_000  # decoded pixels (PIL's default warning is at 89 M)
MAX_IMAGE_FILE_BYTES = 200 << 20
WORK_IMAGE_SIDE = 2048  # larger images are reduced to this longer side before processing

# ---- checkpoints ----
MAX_CHECKPOINT_BYTES = 256 << 20  # the shipped model is a few MB
MAX_CHECKPOINT_INFLATED_BYTES = 512 << 20  # sum of the zip members' sizes
MAX_CHECKPOINT_MEMBERS = 10_000  # torch.save writes a few per tensor
MAX_CHECKPOINT_INFLATE_GROWTH = 16 << 20  # torch.save stores members uncompressed
MAX_METADATA_ITEMS = 20_000  # values in a checkpoint's metrics / train_config, all levels
MAX_METADATA_DEPTH = 6
MAX_METADATA_STRING = 16_384


def format_size(n: float) -> str:
    """Binary units, as limits are set ('64.0 MiB')."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], error: type[K49Error], *,
                 max_bytes: int | None = None, what: str = "file",
                 follow_symlinks: bool = True) -> BinaryIO:
    """Open `path` for binary reading only if it is a regular file of at most `max_bytes`.

    Opened non-blocking first, so a FIFO named like a data file cannot hang the open, then
    checked with fstat (no race between the check and the read). Raises `error` naming the
    file: missing, a folder, a FIFO or device, unreadable, or too large.
    """
    p = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise error(f"{p.name}: {what} not found in {p.parent}") from None
    except PermissionError as e:
        raise error(f"{p}: not readable ({e.strerror}); check its permissions") from None
    except IsADirectoryError:
        raise error(f"{p}: is a folder, not a {what}") from None
    except OSError as e:
        if e.errno == errno.ELOOP and not follow_symlinks:
            raise error(f"{p}: is a symbolic link; refused") from None
        raise error(f"{p}: cannot be opened ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{p}: is {_kind(st.st_mode)}, not a regular {what}; refused")
        if max_bytes is not None and st.st_size > max_bytes:
            raise error(f"{p.name}: {st.st_size:,d} bytes, over the {format_size(max_bytes)} "
                        f"limit for a {what} (see docs/LIMITS.md)")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def zip_entry_count(f: BinaryIO) -> int | None:
    """The entry count a zip's end record claims, read before zipfile parses (and allocates
    for) the whole directory; None when there is no plain end record (zip64, damage)."""
    import struct

    try:
        size = f.seek(0, 2)
        back = min(size, 22 + 65_535)
        f.seek(size - back)
        tail = f.read(back)
    except OSError:
        return None
    finally:
        f.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    total = struct.unpack("<H", tail[at + 10:at + 12])[0]
    return None if total == 0xFFFF else total
