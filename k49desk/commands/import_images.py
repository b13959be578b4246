"""`k49desk import`: image files -> a K49-format folder of pre-labelled images to confirm.

Every file is preprocessed exactly like `k49desk predict` and the drawing pad; the model's
top-1 class becomes the label, marked 'pre-label, unconfirmed' in the folder's annotation
store (or every image gets --label). Open the folder in the app to confirm or correct them,
least confident first. Exit code 1 when some files could not be read (the rest are imported).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from k49desk.commands.common import CliProgress, add_json, print_json

if TYPE_CHECKING:
    from k49desk.core.importer import ImportResult


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import", help="import image files as a K49-format folder to label",
        description="Import PNG/JPEG images of one character each (any size, any polarity) "
                    "into a K49-format folder (train split), labelled by the model's top-1 "
                    "guess (marked unconfirmed: confirm them in the app's Gallery or Review, "
                    "least confident first) or by --label. Importing into an earlier import "
                    "adds the files it does not list yet. sources.csv in the folder maps "
                    "each image index to its file.")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER",
                   help="image files, or folders of them (PNG, JPEG, BMP, GIF, WebP, TIFF)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: new, empty, or an earlier import (files are added)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--model", default=None,
                     help="checkpoint giving the pre-labels (default: the shipped "
                          "models/k49desk-default.pt)")
    who.add_argument("--label", default=None, metavar="CHAR",
                     help="give every image this class instead (a character, romaji or index "
                          "0-48), recorded as confirmed")
    p.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="ink polarity, as in predict: auto-detect (default), or force "
                        "dark-ink-on-light (yes) or light-ink-on-dark (no)")
    p.add_argument("--recursive", action="store_true", help="also search subfolders")
    add_json(p)
    p.set_defaults(func=run)


def parse_label(text: str, classes: tuple) -> int:
    """A class given as a character, romaji or index -> its index; K49Error if unknown."""
    from k49desk.core.classes import class_for_text
    from k49desk.core.errors import K49Error

    t = text.strip()
    if t.isdigit():
        i = int(t)
    else:
        found = class_for_text(t, classes)
        i = -1 if found is None else found
    if not 0 <= i < len(classes):
        raise K49Error(f"import: --label {text!r} is not a class (give a character like か, "
                       f"its romaji like ka, or an index 0-{len(classes) - 1})")
    return i


def run(args: argparse.Namespace) -> int:
    from k49desk.core.classes import OFFICIAL_CLASSES, load_classmap
    from k49desk.core.dataset import CLASSMAP_FILE
    from k49desk.core.importer import import_images

    out = Path(args.out)
    model = label = None
    if args.label is not None:
        cm = out / CLASSMAP_FILE
        label = parse_label(args.label, load_classmap(cm) if cm.is_file() else OFFICIAL_CLASSES)
    else:
        from k49desk.core.model import load_checkpoint
        from k49desk.paths import DEFAULT_MODEL

        model = load_checkpoint(Path(args.model) if args.model else DEFAULT_MODEL)
    invert = {"auto": None, "yes": True, "no": False}[args.invert]
    with CliProgress("import", enabled=not args.json) as bar:
        res = import_images(args.inputs, out, model=model, label=label, invert=invert,
                            recursive=args.recursive, progress=bar)
    status = 1 if res.failed else 0  # all already imported: nothing to do, not an error
    if args.json:
        print_json(res.summary())
        return status
    _print_text(res)
    return status


def _print_text(res: ImportResult) -> None:
    import sys

    cls = res.classes
    for f, msg in res.failed:
        print(f"failed: {f}: {msg}", file=sys.stderr)
    if not res.written:
        skipped = (f"; {len(res.already_imported):,d} already imported"
                   if res.already_imported else "")
        print(f"Nothing imported into {res.folder}: {len(res.failed):,d} files failed"
              f"{skipped}; {res.n_total:,d} images in the folder.")
        return
    last = res.first_index + res.n_imported - 1
    how = (f"labelled {cls[res.label].label} (confirmed)" if res.label is not None else
           f"pre-labelled by {res.model or 'the model'} (unconfirmed)")
    print(f"Imported {res.n_imported:,d} images into {res.folder} (train indices "
          f"{res.first_index:,d}-{last:,d}; {res.n_total:,d} in the folder), {how}.")
    if res.confidences is not None:
        low = int((res.confidences < 0.5).sum())
        print(f"{low:,d} below 50% confidence. Open the folder in k49desk to confirm or "
              "correct the labels, least confident first.")
    if res.already_imported:
        print(f"Skipped {len(res.already_imported):,d} files already in this folder.")
    if res.little_ink:
        print(f"{len(res.little_ink):,d} images have too little ink to be a character "
              "(imported, tagged 'too little ink'):")
        for f in res.little_ink[:10]:
            print(f"    {f}")
    if res.repaired:
        print(f"Repaired: {res.repaired}.")
    if res.failed:
        print(f"{len(res.failed):,d} files failed (listed above); the others were imported.")
