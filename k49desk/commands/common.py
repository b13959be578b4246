"""Helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator

from k49desk.paths import resolve_data_dir  # noqa: F401  (re-exported for commands)


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
    json.dump(obj, sys.stdout, ensure_ascii=False, allow_nan=False,
              default=lambda o: o.item() if hasattr(o, "item") else str(o))
    sys.stdout.write("\n")
    sys.stdout.flush()


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
