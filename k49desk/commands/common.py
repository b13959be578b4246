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


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def print_json(obj: object) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, allow_nan=False,
              default=lambda o: o.item() if hasattr(o, "item") else str(o))
    sys.stdout.write("\n")
    sys.stdout.flush()


def progress_bar(total: float | None, desc: str, unit: str = "it", **kw: object):  # noqa: ANN201
    """A tqdm bar on stderr (quiet when stderr is not a terminal and CI asks for less)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                leave=True, **kw)


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
