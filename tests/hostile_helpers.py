"""Helpers for the hostile-input suites (tests/core/test_hostile_*.py).

`run_cli` runs k49desk in a child process under a memory limit (RLIMIT_DATA: what the
process allocates, not what it maps from files) and a timeout, and reports its peak RSS
(VmHWM), so
a test proves both the message and that nothing large was allocated. `bomb_npz` writes a
valid .npz whose arr_0 inflates to n blank images, in milliseconds and a few MB, without
ever holding the inflated bytes (deflate of zeros repeats after a full flush; the CRC-32 of
zeros is combined, not computed).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GIB = 1 << 30
_CHILD = """
import resource, sys
limit = int(sys.argv[1])
if limit:
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
from k49desk.cli import main
try:
    rc = main(sys.argv[2:])
finally:
    # VmHWM: this program's own peak. ru_maxrss would include the parent's size at fork,
    # which Linux carries over exec.
    try:
        with open("/proc/self/status") as f:
            peak = next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM"))
    except (OSError, StopIteration):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stderr.write(f"\\n__MAXRSS_KB__ {peak}\\n")
sys.exit(rc)
"""


@dataclass
class Run:
    rc: int
    out: str
    err: str
    maxrss_mb: float

    @property
    def error_line(self) -> str:
        return next((ln for ln in self.err.splitlines() if ln.startswith("k49desk: error:")), "")


def run_cli(args: list[str], *, data_limit: int = GIB, timeout: float = 120,
            cwd: str | os.PathLike[str] | None = None) -> Run:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONIOENCODING="utf-8")
    p = subprocess.run([sys.executable, "-c", _CHILD, str(data_limit), *args],
                       capture_output=True, timeout=timeout, cwd=cwd, env=env)
    err = p.stderr.decode("utf-8", "backslashreplace")
    peak = 0.0
    lines = []
    for ln in err.splitlines():
        if ln.startswith("__MAXRSS_KB__"):
            peak = int(ln.split()[1]) / 1024
        else:
            lines.append(ln)
    return Run(p.returncode, p.stdout.decode("utf-8", "backslashreplace"),
               "\n".join(lines).strip() + "\n", peak)


# ---- CRC-32 of long runs of zeros, without the zeros (zlib's crc32_combine) --------------
def _gf2_times(mat: list[int], vec: int) -> int:
    s, i = 0, 0
    while vec:
        if vec & 1:
            s ^= mat[i]
        vec >>= 1
        i += 1
    return s


def _gf2_square(mat: list[int]) -> list[int]:
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A+B from crc32(A), crc32(B) and len(B)."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = _gf2_square(odd)
    odd = _gf2_square(even)
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def _crc_zeros(n: int) -> int:
    block = 1 << 20
    unit = zlib.crc32(bytes(block))
    crc, done, size = 0, 0, block
    # binary decomposition of n // block, then the rest
    k = n // block
    powers = []
    while k:
        powers.append((k & 1, unit, size))
        unit, size = crc32_combine(unit, unit, size), size * 2
        k >>= 1
    for bit, c, sz in powers:
        if bit:
            crc = crc32_combine(crc, c, sz)
            done += sz
    return crc32_combine(crc, zlib.crc32(bytes(n - done)), n - done)


def npy_header(shape: tuple[int, ...], descr: str = "|u1") -> bytes:
    d = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(d) + 1) % 64
    text = (d + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def _zip_one(path: Path, name: bytes, payload: bytes, crc: int, usize: int,
             method: int = 8) -> None:
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc,
                        len(payload), usize, len(name), 0) + name
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc,
                          len(payload), usize, len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central),
                      len(local) + len(payload), 0)
    path.write_bytes(local + payload + central + end)


def bomb_npz(path: Path, n: int, item_shape: tuple[int, ...] = (28, 28)) -> Path:
    """A valid .npz whose arr_0 is n blank uint8 images (deflated; tiny on disk)."""
    header = npy_header((n, *item_shape))
    total = n * int(np.prod(item_shape))
    block = 1 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)]
    piece = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    assert piece == again  # after a full flush the same input gives the same bytes
    k, rest = divmod(total, block)
    parts.append(piece * k)
    parts.append(c.compress(bytes(rest)) + c.flush())
    payload = b"".join(parts)
    crc = crc32_combine(zlib.crc32(header), _crc_zeros(total), total)
    _zip_one(path, b"arr_0.npy", payload, crc, len(header) + total)
    return path


def raw_npz(path: Path, member: bytes, name: bytes = b"arr_0.npy") -> Path:
    """An .npz holding `member` stored as is (to hand-craft headers and contents)."""
    _zip_one(path, name, member, zlib.crc32(member), len(member), method=0)
    return path
