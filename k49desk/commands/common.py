"""Helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import json
import sys

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
