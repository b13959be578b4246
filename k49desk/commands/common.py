"""Helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

from k49desk.paths import resolve_data_dir

MAX_SEED = 2**32 - 1


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None,
                   help="K49 data folder (default: $K49DESK_DATA_DIR or ./data)")


def add_device_argument(p: argparse.ArgumentParser) -> None:
    """`--device auto|cpu|cuda|mps`, the same on every heavy command."""
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                   help="where to compute: auto picks a CUDA GPU, then Apple MPS, then the CPU "
                        "(default auto)")


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def print_json(obj: object) -> None:
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False,
                      default=lambda o: o.item() if hasattr(o, "item") else str(o))
    # A path that is not valid UTF-8 holds lone surrogates: write them as JSON's own \udcXX
    # escapes, so the output stays valid UTF-8 JSON and still round-trips.
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        text = _escape_surrogates(text)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _escape_surrogates(text: str) -> str:
    return "".join(f"\\u{ord(ch):04x}" if "\ud800" <= ch <= "\udfff" else ch for ch in text)


# ---- argparse types: every number and URL is checked where it enters ----------------------
def int_range(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number from lo to hi."""
    def parse(text: str) -> int:
        t = text.strip()
        if not t.lstrip("+-").isdigit() or len(t) > 20:
            raise argparse.ArgumentTypeError(f"expected a whole number from {lo:,d} to "
                                             f"{hi:,d}, got {text[:30]!r}")
        v = int(t)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo:,d} to {hi:,d}, got {v:,d}")
        return v
    parse.__name__ = "integer"
    return parse


def float_range(lo: float, hi: float, *, lo_open: bool = False,
                hi_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [lo, hi] (or open at either end)."""
    lb, rb = "(" if lo_open else "[", ")" if hi_open else "]"
    span = f"{lb}{lo:g}, {hi:g}{rb}"

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number in {span}, "
                                             f"got {text[:30]!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number in {span}, got {text!r}")
        if v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
            raise argparse.ArgumentTypeError(f"must be in {span}, got {v:g}")
        return v
    parse.__name__ = "number"
    return parse


def http_url(text: str) -> str:
    """An argparse type: an http:// or https:// URL with a host."""
    from urllib.parse import urlsplit

    try:
        u = urlsplit(text)
        _ = u.port  # raises ValueError for a port that is not a number
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a valid URL: {text[:80]!r}") from None
    if u.scheme not in ("http", "https") or not u.hostname:
        raise argparse.ArgumentTypeError(
            f"expected an http:// or https:// URL with a host, got {text[:80]!r}")
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise argparse.ArgumentTypeError(f"the URL holds spaces or control characters: "
                                         f"{text[:80]!r}")
    return text


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask where there is one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


MAX_THREADS_ARG = 1_000_000  # far beyond any machine: capped; more is refused outright


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int_range(0, MAX_THREADS_ARG), default=0,
                   help="CPU threads for torch; 0 (default) lets torch choose; more than "
                        "the machine has is capped to what it has")


def cap_threads(n: int) -> int:
    """--threads above the CPUs available is capped (one line on stderr says so): far more
    threads than cores only slow torch down, and 100,000 made it crash."""
    cpus = available_cpus()
    if n > cpus:
        print(f"k49desk: --threads {n:,d} capped to {cpus} (the CPUs available here)",
              file=sys.stderr)
        return cpus
    return n


# ---- terminal columns (hiragana are two cells wide) ---------------------------------------
def display_width(text: str) -> int:
    """Terminal cells `text` takes: East Asian wide and fullwidth characters take two."""
    return sum(0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, width: int, align: str = "<") -> str:
    """`text` padded with spaces to `width` terminal cells ('<', '>' or '^')."""
    gap = max(0, width - display_width(text))
    if align == ">":
        return " " * gap + text
    if align == "^":
        return " " * (gap // 2) + text + " " * (gap - gap // 2)
    return text + " " * gap


# ---- files the commands write and folders they read ---------------------------------------
def check_output_file(path: Path, option: str, *, create_folders: bool = False) -> None:
    """Fail before any work when `path` cannot be written: it is a folder, its folder is
    missing (unless `create_folders`) or not writable. Says which, naming the option."""
    from k49desk.core.errors import K49Error

    if path.is_dir():
        raise K49Error(f"{option} {path}: is a folder; give a file name")
    folder = path.parent
    if not folder.exists():
        if not create_folders:
            raise K49Error(f"{option} {path}: the folder {folder} does not exist")
        folder = next((a for a in folder.parents if a.exists()), Path("."))
    if not folder.is_dir():
        raise K49Error(f"{option} {path}: {folder} is not a folder")
    why = _cannot_write_in(folder)
    if why is None and path.exists() and not os.access(path, os.W_OK):
        why = "the file is read-only"
    if why is not None:
        raise K49Error(f"{option} {path}: the folder {folder} is not writable ({why})")


def _cannot_write_in(folder: Path) -> str | None:
    """Why no file can be created in `folder`, or None. A real try (an empty temp file):
    root passes os.access everywhere, and /proc or a read-only mount only refuse on write."""
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=".k49desk-probe-", dir=folder)
    except OSError as e:
        return e.strerror or str(e)
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    return None


def open_data(data_dir: str | None, **kw: object):  # noqa: ANN201 (K49Dataset; lazy import)
    """open_dataset on --data-dir (or the default folder). When the default folder has no
    K49 files but the demo made by `k49desk --demo` exists, the error says how to use it."""
    from k49desk.core.dataset import open_dataset
    from k49desk.core.errors import DataError

    root = resolve_data_dir(data_dir)
    try:
        return open_dataset(root, **kw)
    except DataError as e:
        demo = root / "demo"
        no_data = "no K49 files here" in str(e) or "folder not found" in str(e)
        if data_dir is None and no_data and (demo / "k49-train-labels.npz").exists():
            raise DataError(f"{e}. The demo data made by `k49desk --demo` is in {demo}: "
                            f"add --data-dir {demo}") from None
        raise


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(total: float | None, desc: str, unit: str = "it", **kw: object):  # noqa: ANN201
    """A tqdm bar on stderr. When stderr is not a terminal (a log file, CI) there is no
    animation: tqdm redraws at most every 30 s instead of a line per update."""
    from tqdm import tqdm

    if not stderr_is_terminal():
        kw.setdefault("mininterval", 30.0)
        kw.setdefault("maxinterval", 60.0)
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                leave=True, **kw)


class CliProgress:
    """The core `Progress` on stderr: a percentage bar on a terminal; elsewhere one line per
    phase (text before the first ':' changes) or per 10%, so a log file stays readable.
    A context manager: the bar is closed (and its line ended) on exit."""

    def __init__(self, desc: str, *, enabled: bool = True) -> None:
        self.desc, self.enabled = desc, enabled
        self.tty = stderr_is_terminal()
        self.bar = None
        self._last_decile, self._last_phase = -1, None

    def __call__(self, fraction: float | None, text: str, payload: object = None) -> None:
        if not self.enabled:
            return
        f = min(max(fraction, 0.0), 1.0) if fraction is not None else None
        if self.tty:
            if self.bar is None:
                self.bar = progress_bar(
                    100, self.desc, unit="%",
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
            if f is not None:
                self.bar.n = round(100 * f, 1)
            self.bar.set_description_str(text or self.desc, refresh=False)
            self.bar.refresh()
            return
        phase = (text or "").split(":")[0]
        decile = -1 if f is None else int(f * 10)
        if phase != self._last_phase or decile > self._last_decile:
            self._last_phase, self._last_decile = phase, max(decile, self._last_decile)
            pct = "" if f is None else f"{100 * f:3.0f}% "
            print(f"{self.desc}: {pct}{text}", file=sys.stderr, flush=True)

    def write(self, line: str) -> None:
        """A line of its own (not glued onto the bar)."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> CliProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def ctrl_c_requests_stop(flag: threading.Event, message: str | None = None) -> Iterator[None]:
    """First Ctrl-C sets `flag` (core code polls it and stops cleanly); a second one aborts.

    `message`, if given, is printed on the first Ctrl-C. Outside the main thread (tests that
    call main() from a worker) signals cannot be handled, so this does nothing there.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()
        if message:
            print(f"\n{message}", file=sys.stderr)

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
