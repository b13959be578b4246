"""Command line: `k49desk` alone launches the GUI; sub-commands run the headless core.

Each sub-command lives in `k49desk/commands/<name>.py` with `register(subparsers)`, which adds
its parser and sets `func=run`. Nothing here imports Qt; only `gui` and the bare launch do.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from k49desk import __version__
from k49desk.core.errors import K49Error

COMMANDS = ("info", "download", "demo_data", "train", "evaluate", "predict", "find_issues", "gui",
            "import_images", "merge", "similar", "map")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="k49desk",
        description="Kuzushiji-49 workbench. Without a command, opens the desktop app.",
    )
    p.add_argument("--version", action="version", version=f"k49desk {__version__}")
    p.add_argument("--demo", action="store_true",
                   help="open the app on generated demo data (made on first use)")
    p.add_argument("--data-dir", dest="app_data_dir", default=None, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"k49desk.commands.{name}")
        except ModuleNotFoundError as e:  # a command still being built must not break the rest
            if e.name != f"k49desk.commands.{name}":
                raise
            continue
        mod.register(sub)
    return p


def _safe_streams() -> None:
    """A path that is not valid UTF-8 (or a character the terminal cannot show) is printed
    escaped instead of ending the command with a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")


def _one_line(text: str) -> str:
    """Control characters (a newline in a file name) escaped: an error stays one line."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _error(text: str) -> None:
    # Its own line: start one if a progress bar left the cursor mid-line on a terminal.
    text = _one_line(text)
    lead = "\n" if _stderr_mid_line() else ""
    print(f"{lead}k49desk: error: {text}", file=sys.stderr, flush=True)


def _stderr_mid_line() -> bool:
    from k49desk.commands.common import stderr_is_terminal

    return stderr_is_terminal() and _progress_open()


def _progress_open() -> bool:
    try:
        from tqdm import tqdm
    except ImportError:
        return False
    return any(not getattr(b, "disable", True) for b in list(getattr(tqdm, "_instances", ())))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _safe_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from k49desk.gui.app import run_app

            return run_app(data_dir=args.app_data_dir, demo=args.demo)
        return int(args.func(args) or 0)
    except K49Error as e:
        _error(str(e))
        return 2
    except MemoryError:
        _error("out of memory; nothing was written (see docs/LIMITS.md for the sizes "
               "k49desk accepts)")
        return 2
    except BrokenPipeError:  # `k49desk info | head`: the reader left; not an error
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("k49desk: interrupted", file=sys.stderr)
        return 130
