"""Command line: `k49desk` alone launches the GUI; sub-commands run the headless core.

Each sub-command lives in `k49desk/commands/<name>.py` with `register(subparsers)`, which adds
its parser and sets `func=run`. Nothing here imports Qt; only `gui` and the bare launch do.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from k49desk import __version__
from k49desk.core.errors import K49Error

COMMANDS = ("info", "download", "demo_data", "train", "evaluate", "predict", "find_issues",
            "similar", "map", "gui")


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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from k49desk.gui.app import run_app

            return run_app(data_dir=args.app_data_dir, demo=args.demo)
        return int(args.func(args) or 0)
    except K49Error as e:
        print(f"k49desk: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("k49desk: interrupted", file=sys.stderr)
        return 130
