"""Download the five official K49 files: md5-checked, resumable, cancellable, with progress.

Each file streams into `<name>.part` beside its final name while its md5 is computed; only a
complete file with the right size and md5 is moved (os.replace, atomic) to the final name.
A stopped or interrupted transfer leaves the `.part`, and the next run resumes it with an
HTTP Range request (starting over when the server ignores Range). A file whose md5 is wrong
is kept as `<name>.bad` for inspection and never installed.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import io
import math
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from k49desk.core.dataset import OFFICIAL_FILES
from k49desk.core.errors import Cancelled, DownloadError
from k49desk.core.progress import Progress

BASE_URL = "http://codh.rois.ac.jp/kmnist/dataset/k49/"

# name -> (size in bytes, md5), from the dataset's README (shared/k49/FACTS.md); the default
# `expected` table of download_k49
EXPECTED: dict[str, tuple[int, str]] = {
    "k49-train-imgs.npz": (66_117_696, "7ac088b20481cf51dcd01ceaab89d821"),
    "k49-train-labels.npz": (164_485, "44a8e1b893f81e63ff38d73cad420f7a"),
    "k49-test-imgs.npz": (10_971_201, "d352e201d846ce6b94f42c990966f374"),
    "k49-test-labels.npz": (27_450, "4da6f7a62e67a832d5eb1bd85c5ee448"),
    "k49_classmap.csv": (697, "f7d0d0391f68bdf0fe4cf160ceb85753"),
}
OFFICIAL: dict[str, tuple[str, int, str]] = {
    name: (BASE_URL + name, size, md5) for name, (size, md5) in EXPECTED.items()
}
assert set(OFFICIAL) == set(OFFICIAL_FILES)
TOTAL_BYTES = sum(size for _, size, _ in OFFICIAL.values())  # 77,281,529: "about 77 MB"

CHUNK = 64 * 1024
_USER_AGENT = "k49desk (+https://github.com/rois-codh/kmnist dataset downloader)"


@dataclass(frozen=True)
class DownloadProgress:
    """One progress report; `status` says what is happening to `file`.

    status: "checking" (md5 of a file already there), "skipped" (already there, md5 ok),
    "downloading", "verifying", "installed".
    """

    file: str
    done_bytes: int
    total_bytes: int
    bytes_per_s: float
    overall_done: int
    overall_total: int
    status: str = "downloading"
    file_index: int = 0
    n_files: int = 1
    resumed_from: int = 0  # bytes already in the .part when this transfer started

    @property
    def fraction(self) -> float:
        return self.overall_done / self.overall_total if self.overall_total else 1.0

    def describe(self) -> str:
        """One line for a status label: '12.3 MB of 77.3 MB · 2.1 MB/s · k49-train-imgs.npz'."""
        text = f"{format_bytes(self.overall_done)} of {format_bytes(self.overall_total)}"
        if self.status == "downloading" and self.bytes_per_s > 0:
            text += f" · {format_bytes(self.bytes_per_s)}/s"
        return f"{text} · {self.file} ({self.status})"


def format_bytes(n: float) -> str:
    """Decimal units, as the dataset's own page gives sizes ('77.3 MB')."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class _Speed:
    """Bytes per second over the last few seconds (a whole-run average hides stalls)."""

    def __init__(self, window_s: float = 3.0) -> None:
        self.window = window_s
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, total: int) -> float:
        now = time.monotonic()
        self.samples.append((now, total))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window:
            self.samples.popleft()
        t0, b0 = self.samples[0]
        return (total - b0) / (now - t0) if now > t0 else 0.0


def _md5_of(path: Path, should_stop: Callable[[], bool] | None = None) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            if should_stop and should_stop():
                raise Cancelled(f"{path.name}: stopped while checking md5")
            h.update(block)
    return h.hexdigest()


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _reason(e: BaseException) -> str:
    r = getattr(e, "reason", e)
    if isinstance(r, socket.gaierror):
        return f"name lookup failed ({r.strerror or r}); is the computer offline?"
    if isinstance(r, ConnectionRefusedError):
        return "connection refused"
    if isinstance(r, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(r, OSError) and r.strerror:
        return r.strerror
    return " ".join(str(r).split()) or type(r).__name__


def _write_error(path: Path, e: OSError) -> DownloadError:
    if e.errno == errno.ENOSPC:
        why = "the disk is full"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = f"not writable ({e.strerror})"
    else:
        why = f"cannot be written ({e.strerror or e})"
    return DownloadError(f"{path}: {why}; the final file was not changed")


class _Fetcher:
    """Downloads one file into its .part, resuming; raises DownloadError / Cancelled."""

    def __init__(self, url: str, final: Path, size: int, md5: str, *, timeout: float,
                 chunk_size: int, report: Callable[[str, int, float, int], None],
                 should_stop: Callable[[], bool]) -> None:
        self.url, self.final, self.size, self.md5 = url, final, size, md5
        self.part = final.with_name(final.name + ".part")
        self.timeout, self.chunk = timeout, chunk_size
        self.report, self.should_stop = report, should_stop

    def _open(self, offset: int) -> http.client.HTTPResponse | None:
        """The response for bytes `offset`.., or None when the .part is already complete."""
        headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        req = urllib.request.Request(self.url, headers=headers)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout)  # noqa: S310 (http(s) only)
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 416 and offset:
                return None  # nothing after `offset`: the .part holds the whole file (or more)
            raise DownloadError(f"{self.url}: HTTP {e.code} {e.reason}") from e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise DownloadError(f"cannot reach {_host(self.url)}: {_reason(e)}") from e

    def fetch(self) -> None:
        offset = self.part.stat().st_size if self.part.exists() else 0
        if offset > self.size:
            offset = self._restart()
        h = hashlib.md5()
        if offset:
            # The md5 must cover the whole file, so hash the bytes we already have first.
            with open(self.part, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
        resp = self._open(offset) if offset < self.size else None
        if resp is None and offset < self.size:  # 416: the server's file is shorter than ours
            offset, h = self._restart(), hashlib.md5()
            resp = self._open(0)
        if resp is not None and offset and not self._range_honoured(resp, offset):
            offset, h = self._restart(), hashlib.md5()
            if resp.status != 200:  # a 206 for other bytes than asked: ask for the whole file
                resp.close()
                resp = self._open(0)
        resumed_from = offset
        if resp is not None:
            with resp:
                length = resp.headers.get("Content-Length")
                if length is not None and length.isdigit() and offset + int(length) != self.size:
                    raise DownloadError(
                        f"{self.url}: the server offers {offset + int(length):,} bytes but "
                        f"{self.final.name} has {self.size:,}; not installed")
                offset = self._stream(resp, offset, h, resumed_from)
        self.report("verifying", offset, 0.0, resumed_from)
        if offset < self.size:
            raise DownloadError(
                f"{self.final.name}: transfer ended after {offset:,} of {self.size:,} bytes "
                f"(connection closed early); the partial file is kept, run again to resume")
        if offset > self.size:
            self.part.unlink(missing_ok=True)
            raise DownloadError(f"{self.final.name}: got {offset:,} bytes, expected "
                                f"{self.size:,}; not installed")
        got = h.hexdigest()
        if got != self.md5:
            bad = self.final.with_name(self.final.name + ".bad")
            try:
                os.replace(self.part, bad)
                kept = f"kept as {bad.name} for inspection"
            except OSError:
                self.part.unlink(missing_ok=True)
                kept = "removed"
            raise DownloadError(f"{self.final.name}: md5 mismatch (got {got}, expected "
                                f"{self.md5}); the download was {kept} and not installed")
        try:
            os.replace(self.part, self.final)
        except OSError as e:
            raise _write_error(self.final, e) from e
        self.report("installed", offset, 0.0, resumed_from)

    def _range_honoured(self, resp: http.client.HTTPResponse, offset: int) -> bool:
        if resp.status != 206:
            return False  # a plain 200: the server ignored Range and sends the whole file
        # "bytes 1000-1999/2000": the body must start where the .part ends
        cr = resp.headers.get("Content-Range", "")
        return cr.replace("=", " ").split(" ")[-1].split("-")[0] == str(offset)

    def _restart(self) -> int:
        try:
            self.part.unlink(missing_ok=True)
        except OSError as e:
            raise _write_error(self.part, e) from e
        return 0

    def _stream(self, resp: http.client.HTTPResponse, offset: int, h: hashlib._Hash,
                resumed_from: int) -> int:
        speed = _Speed()
        speed.add(offset)
        try:
            # Unbuffered: what was received is on disk at once, so an interrupt loses nothing.
            f = open(self.part, "ab" if offset else "wb", buffering=0)  # noqa: SIM115
        except OSError as e:
            raise _write_error(self.part, e) from e
        try:
            while True:
                if self.should_stop():
                    raise Cancelled(f"{self.final.name}: download stopped at {offset:,} of "
                                    f"{self.size:,} bytes; the partial file is kept for resume")
                try:
                    # read1: whatever has arrived (one socket read), so a slow link still
                    # reports progress and sees a stop request between small pieces.
                    block = resp.read1(self.chunk)
                except (OSError, http.client.HTTPException) as e:
                    raise DownloadError(
                        f"{self.final.name}: connection lost after {offset:,} of {self.size:,} "
                        f"bytes ({_reason(e)}); the partial file is kept, run again to resume"
                    ) from e
                if not block:
                    break
                if offset + len(block) > self.size:  # never store more than the file can hold
                    block = block[: self.size + 1 - offset]
                _write_all(f, block, self.part)
                h.update(block)
                offset += len(block)
                if offset > self.size:
                    break
                self.report("downloading", offset, speed.add(offset), resumed_from)
            os.fsync(f.fileno())
        except OSError as e:
            raise _write_error(self.part, e) from e
        finally:
            f.close()
        return offset


def _write_all(f: io.RawIOBase, data: bytes, path: Path) -> None:
    view = memoryview(data)
    while view:
        try:
            n = f.write(view)
        except OSError as e:
            raise _write_error(path, e) from e
        view = view[n or 0:]


def check_base_url(url: str) -> str:
    """The mirror URL with a trailing slash; DownloadError unless it is http(s) with a host."""
    try:
        u = urllib.parse.urlsplit(url)
        _ = u.port  # a port that is not a number raises ValueError
    except (ValueError, TypeError, AttributeError):
        raise DownloadError(f"base URL {str(url)[:80]!r}: not a valid URL") from None
    if u.scheme not in ("http", "https") or not u.hostname:
        raise DownloadError(f"base URL {url[:80]!r}: expected an http:// or https:// URL "
                            "with a host")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise DownloadError(f"base URL {url[:80]!r}: holds spaces or control characters")
    return url if url.endswith("/") else url + "/"


def _check_targets(final: Path) -> None:
    """The final name and its .part must be regular files (or absent): a folder there would
    otherwise surface as a raw IsADirectoryError halfway through."""
    for p, what in ((final, "the file to install"), (final.with_name(final.name + ".part"),
                                                      "the partial download")):
        if (p.exists() or p.is_symlink()) and not p.is_file():
            kind = "a folder" if p.is_dir() else "not a regular file"
            raise DownloadError(f"{p}: {what} is {kind}; move it away and run again")


def download_k49(data_dir: str | os.PathLike[str], *, base_url: str = BASE_URL,
                 files: Iterable[str] | None = None,
                 expected: dict[str, tuple[int, str]] | None = None,
                 progress: Progress | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 timeout: float = 30.0, chunk_size: int = CHUNK) -> list[Path]:
    """Fetch the official files into `data_dir`; return the installed paths (in order).

    `progress(fraction, text, DownloadProgress)` reports bytes and status per file.
    `expected` maps name -> (size, md5) (default: the official table); `files` picks a subset
    of its names. Files already present with the right md5 are skipped. Raises DownloadError
    (network, HTTP status, size, md5, disk) or Cancelled (should_stop() turned true; the
    `.part` is kept for resume). A final name only ever holds a complete, verified file.
    """
    if (isinstance(timeout, bool) or not isinstance(timeout, int | float)
            or not math.isfinite(timeout) or timeout <= 0):
        raise DownloadError(f"timeout {timeout!r}: must be a finite number of seconds above 0")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise DownloadError(f"chunk_size {chunk_size!r}: must be a positive whole number")
    base = check_base_url(base_url)
    table = dict(expected) if expected is not None else dict(EXPECTED)
    names = list(files) if files is not None else list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise DownloadError(f"unknown file(s) {', '.join(unknown)}; known: {', '.join(table)}")
    root = Path(data_dir)
    if root.exists() and not root.is_dir():
        raise DownloadError(f"{root}: not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"{root}: cannot create the folder ({e.strerror or e})") from e
    if not root.is_dir():
        raise DownloadError(f"{root}: not a folder")
    stop = should_stop or (lambda: False)
    overall_total = sum(table[n][0] for n in names)
    finished_bytes = 0
    out: list[Path] = []
    for i, name in enumerate(names):
        size, md5 = table[name]
        final = root / name
        _check_targets(final)

        def report(status: str, done: int, bps: float, resumed: int = 0, *, _name: str = name,
                   _size: int = size, _i: int = i, _base: int = finished_bytes) -> None:
            if progress is not None:
                ev = DownloadProgress(_name, done, _size, bps, _base + done, overall_total,
                                      status, _i, len(names), resumed)
                progress(ev.fraction, ev.describe(), ev)

        if final.is_file() and final.stat().st_size == size:
            report("checking", 0, 0.0)
            if _md5_of(final, stop) == md5:
                finished_bytes += size
                report("skipped", size, 0.0)
                out.append(final)
                continue
        if stop():
            raise Cancelled(f"{name}: download stopped before it began")
        fetcher = _Fetcher(urllib.parse.urljoin(base, name), final, size, md5, timeout=timeout,
                           chunk_size=chunk_size, report=report, should_stop=stop)
        fetcher.fetch()
        finished_bytes += size
        out.append(final)
    return out


def partial_files(data_dir: str | os.PathLike[str]) -> list[Path]:
    """The `.part` files a stopped download left in `data_dir` (resumed by the next run)."""
    root = Path(data_dir)
    return sorted(root.glob("*.part")) if root.is_dir() else []
