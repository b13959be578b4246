"""A bounded, streaming reader for official-format .npz files (one array `arr_0`).

`np.load` trusts the sizes a file states: a 3 MB archive of blank images that claims
4,000,000 of them is inflated whole (3.1 GB). Here the file is opened only if regular, the
zip directory and the .npy header are read and checked against `k49desk.core.limits`
(dtype, shape, count, inflated size against the compressed size) before one array byte is
allocated, and the data is then streamed in chunks: into one buffer and, optionally, at the
same time into a cache file, so a large array is never in memory twice.
"""

from __future__ import annotations

import ast
import math
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from k49desk.core import limits
from k49desk.core.errors import DataError

NPY_MAGIC = b"\x93NUMPY"
_CHUNK = 1 << 20
_MEMBER = "arr_0.npy"


@dataclass(frozen=True)
class NpyHeader:
    """What a .npy header claims: checked before anything is allocated."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    raw: bytes  # the header bytes exactly as stored (magic .. padding), for the cache copy

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def parse_npy_header(read: Callable[[int], bytes], name: str) -> NpyHeader:
    """Read and check a .npy header from `read` (a file's read). DataError naming `name`."""
    magic = read(8)
    if len(magic) < 8 or magic[:6] != NPY_MAGIC:
        raise DataError(f"{name}: not a .npy array (damaged or not written by numpy)")
    major = magic[6]
    if major not in (1, 2, 3):
        raise DataError(f"{name}: .npy format version {major} is not supported")
    size_fmt = "<H" if major == 1 else "<I"
    size_raw = read(struct.calcsize(size_fmt))
    if len(size_raw) < struct.calcsize(size_fmt):
        raise DataError(f"{name}: truncated .npy header")
    (hlen,) = struct.unpack(size_fmt, size_raw)
    if hlen > limits.MAX_NPY_HEADER_BYTES:
        raise DataError(f"{name}: its .npy header claims {hlen:,d} bytes, over the "
                        f"{limits.MAX_NPY_HEADER_BYTES:,d} allowed; refused")
    text_raw = read(hlen)
    if len(text_raw) < hlen:
        raise DataError(f"{name}: truncated .npy header")
    try:
        text = text_raw.decode("utf-8" if major == 3 else "latin1")
        d = ast.literal_eval(text)  # what numpy itself does, on at most 10 kB
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError) as e:
        raise DataError(f"{name}: damaged .npy header ({type(e).__name__})") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise DataError(f"{name}: damaged .npy header (not the three keys numpy writes)")
    shape, fortran = d["shape"], d["fortran_order"]
    if (not isinstance(shape, tuple) or len(shape) > 8
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                       for n in shape)
            or not isinstance(fortran, bool)):
        raise DataError(f"{name}: damaged .npy header (shape {shape!r})")
    try:
        dtype = np.lib.format.descr_to_dtype(d["descr"])
    except Exception:  # numpy raises several types for nonsense descriptors
        raise DataError(f"{name}: damaged .npy header (dtype {d['descr']!r})") from None
    if dtype.hasobject:
        raise DataError(f"{name}: holds pickled Python objects; k49desk only loads plain "
                        "arrays (allow_pickle=False), so it refuses this file")
    return NpyHeader(tuple(shape), dtype, fortran, magic + size_raw + text_raw)


def check_header_kind(name: str, h: NpyHeader, kind: str | None) -> None:
    """Images: uint8 (N, 28, 28); labels: uint8 (N,); N at most MAX_IMAGES."""
    if kind == "images":
        if h.dtype != np.uint8:
            raise DataError(f"{name}: images must be uint8, found {h.dtype}")
        if len(h.shape) != 3 or h.shape[1:] != (28, 28):
            raise DataError(f"{name}: images must have shape (N, 28, 28), found {h.shape}")
    elif kind == "labels":
        if h.dtype != np.uint8:
            raise DataError(f"{name}: labels must be uint8, found {h.dtype}")
        if len(h.shape) != 1:
            raise DataError(f"{name}: labels must have shape (N,), found {h.shape}")
    n = h.shape[0] if h.shape else 1
    if n > limits.MAX_IMAGES:
        raise DataError(f"{name}: claims {n:,d} entries, over the limit of "
                        f"{limits.MAX_IMAGES:,d} per split (see docs/LIMITS.md)")
    if h.nbytes > limits.MAX_IMAGES * 28 * 28:
        raise DataError(f"{name}: claims {limits.format_size(h.nbytes)} of data, over the "
                        f"{limits.format_size(limits.MAX_IMAGES * 784)} limit")


def _not_zip(name: str, head: bytes) -> DataError:
    if not head:
        return DataError(f"{name}: the file is empty (0 bytes)")
    if head.startswith(NPY_MAGIC):
        return DataError(f"{name}: is a bare .npy array, not a .npz archive")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return DataError(f"{name}: holds pickled Python objects; k49desk only loads plain "
                         "arrays (allow_pickle=False), so it refuses this file")
    return DataError(f"{name}: not a .npz archive (it does not start like a zip file)")


def _corrupt(name: str, e: BaseException) -> DataError:
    why = " ".join(str(e).split())[:200] or type(e).__name__
    return DataError(f"{name}: truncated or corrupt .npz ({why}); download or generate it "
                     "again")


class NpzArrayReader:
    """Opens `path`, checks the zip and the header of `arr_0`; `read` then streams the data.

    `kind` ("images", "labels" or None) adds the K49 dtype/shape checks. A context manager.
    """

    def __init__(self, path: str | Path, kind: str | None = None) -> None:
        self.path = Path(path)
        self.name = name = self.path.name
        self._f: BinaryIO = limits.open_regular(self.path, DataError, what=".npz file",
                                                max_bytes=limits.MAX_NPZ_FILE_BYTES)
        try:
            self.file_size = self._f.seek(0, 2)
            self._f.seek(0)
            head = self._f.read(8)
            self._f.seek(0)
            if head[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
                raise _not_zip(name, head)
            claimed = limits.zip_entry_count(self._f)
            if claimed is not None and claimed > limits.MAX_ZIP_MEMBERS:
                raise DataError(f"{name}: holds {claimed:,d} entries; an .npz of K49 holds one")
            try:
                self._zip = zipfile.ZipFile(self._f)
                infos = self._zip.infolist()
            except Exception as e:  # zipfile raises many types for damaged archives
                raise _corrupt(name, e) from e
            if len(infos) > limits.MAX_ZIP_MEMBERS:
                raise DataError(f"{name}: holds {len(infos):,d} entries; an .npz of K49 holds "
                                "one")
            info = next((i for i in infos if i.filename == _MEMBER), None)
            if info is None:
                found = ", ".join(i.filename.removesuffix(".npy") for i in infos[:10])
                raise DataError(f"{name}: no array named 'arr_0' (found: {found or 'nothing'})")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise DataError(f"{name}: arr_0 uses zip compression method "
                                f"{info.compress_type}; numpy writes only stored or deflated")
            self._info = info
            try:
                self._stream = self._zip.open(info)
            except Exception as e:
                raise _corrupt(name, e) from e
            self.header = self._read_header(kind)
        except BaseException:
            self.close()
            raise

    def _read_header(self, kind: str | None) -> NpyHeader:
        name = self.name
        try:
            h = parse_npy_header(self._stream.read, name)
        except DataError:
            raise
        except Exception as e:
            raise _corrupt(name, e) from e
        check_header_kind(name, h, kind)
        budget = limits.INFLATE_FLOOR_BYTES + limits.MAX_INFLATE_RATIO * self.file_size
        if h.nbytes > budget:
            floor = limits.format_size(limits.INFLATE_FLOOR_BYTES)
            raise DataError(
                f"{name}: claims {limits.format_size(h.nbytes)} of data from a "
                f"{limits.format_size(self.file_size)} file, more than "
                f"{limits.MAX_INFLATE_RATIO}x it plus {floor} (real K49 inflates 2.8x); "
                "refused as a decompression bomb")
        if self._info.file_size != len(h.raw) + h.nbytes:
            raise DataError(f"{name}: arr_0 is {self._info.file_size:,d} bytes in the zip "
                            f"directory but its header implies {len(h.raw) + h.nbytes:,d}; "
                            "the file is damaged")
        return h

    def read(self, *, sink: BinaryIO | None = None, keep: bool = True,
             progress: Callable[[float], None] | None = None) -> tuple[np.ndarray | None, int]:
        """Stream the data: into a new array (`keep`) and/or to `sink` after the header.

        Returns (array or None, crc32 of the data bytes). Errors reading the source raise
        DataError naming it; an OSError writing `sink` propagates as SinkError.
        """
        h, name = self.header, self.name
        n = h.nbytes
        flat = np.empty(n, np.uint8) if keep else None
        view = memoryview(flat) if flat is not None else None
        crc = 0
        if sink is not None:
            _sink_write(sink, h.raw)
        done = 0
        try:
            while done < n:
                block = self._stream.read(min(_CHUNK, n - done))
                if not block:
                    raise DataError(f"{name}: truncated .npz (arr_0 ends after {done:,d} of "
                                    f"{n:,d} bytes); download or generate it again")
                if view is not None:
                    view[done:done + len(block)] = block
                if sink is not None:
                    _sink_write(sink, block)
                crc = zlib.crc32(block, crc)
                done += len(block)
                if progress is not None:
                    progress(done / n)
            if self._stream.read(1):  # also makes zipfile check the CRC at the end
                raise DataError(f"{name}: arr_0 holds more bytes than its header says; "
                                "the file is damaged")
        except (DataError, SinkError):
            raise
        except Exception as e:  # zlib.error, EOFError, BadZipFile (bad CRC), OSError
            raise _corrupt(name, e) from e
        if flat is None:
            return None, crc
        arr = flat.view(h.dtype).reshape(h.shape, order="F" if h.fortran_order else "C")
        return arr, crc

    def close(self) -> None:
        for attr in ("_stream", "_zip", "_f"):
            obj = getattr(self, attr, None)
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # closing a half-opened zip must not hide the real error
                    pass

    def __enter__(self) -> NpzArrayReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SinkError(Exception):
    """Writing the cache copy failed (disk full...): the source itself is fine."""

    def __init__(self, e: OSError) -> None:
        super().__init__(str(e))
        self.os_error = e


def _sink_write(sink: BinaryIO, data: bytes) -> None:
    try:
        sink.write(data)
    except OSError as e:
        raise SinkError(e) from e


def read_npz_array(path: str | Path, kind: str | None = None) -> np.ndarray:
    """The `arr_0` array of an official-format .npz, bounded and checked; DataError names
    the file and the problem (missing, not regular, not a zip, pickled, truncated, too big)."""
    with NpzArrayReader(path, kind) as r:
        arr, _ = r.read()
    assert arr is not None
    return arr
