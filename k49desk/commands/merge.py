"""`k49desk merge A B ... --out C`: K49-format folders -> one, with their decisions applied."""

from __future__ import annotations

import argparse
import threading

from k49desk.commands.common import CliProgress, add_json, ctrl_c_requests_stop, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "merge", help="combine K49-format folders (their review decisions applied)",
        description="Concatenate the train and test splits of K49-format folders (e.g. K49, "
                    "your drawn samples, imported images) into a new folder. Each folder's "
                    "annotations are applied: relabelled images get their new class, images "
                    "marked unusable are left out, unconfirmed pre-labels are kept and "
                    "reported (still unconfirmed in the new folder). provenance.csv in the "
                    "new folder maps every image back to its folder, split and index.")
    p.add_argument("sources", nargs="+", metavar="FOLDER", help="K49-format folders, in order")
    p.add_argument("--out", required=True, metavar="DIR", help="new or empty output folder")
    p.add_argument("--drop-unconfirmed", action="store_true",
                   help="leave out imported images whose pre-label nobody confirmed")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from k49desk.core.merge import merge_folders

    stop = threading.Event()
    with ctrl_c_requests_stop(stop, "Stopping: nothing will be written (Ctrl-C again to "
                                    "abort now)"), \
            CliProgress("merge", enabled=not args.json) as bar:
        res = merge_folders(args.sources, args.out, drop_unconfirmed=args.drop_unconfirmed,
                            progress=bar, should_stop=stop.is_set)
    if args.json:
        print_json(res.summary())
        return 0
    sizes = ", ".join(f"{n:,d} {s}" for s, n in res.totals.items())
    print(f"Merged {len(args.sources)} folders into {res.folder}: {sizes} images"
          f"{' (demo data)' if res.is_demo else ''}.")
    for c in res.counts:
        notes = [f"{c.relabelled:,d} relabelled"] if c.relabelled else []
        if c.dropped_unusable:
            notes.append(f"{c.dropped_unusable:,d} unusable left out")
        if c.unconfirmed:
            notes.append(f"{c.unconfirmed:,d} unconfirmed pre-labels "
                         + ("left out" if res.drop_unconfirmed else "kept"))
        if c.unsure:
            notes.append(f"{c.unsure:,d} marked unsure (kept)")
        if not c.annotated:
            notes.append("no annotations")
        print(f"  {c.source} [{c.split}]: {c.merged:,d} of {c.images:,d}"
              + (f" ({'; '.join(notes)})" if notes else ""))
    if res.unconfirmed and not res.drop_unconfirmed:
        print(f"{res.unconfirmed:,d} images still carry unconfirmed pre-labels: confirm them "
              "in the app, or merge again with --drop-unconfirmed.")
    return 0
