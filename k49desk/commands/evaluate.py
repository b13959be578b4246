"""`k49desk evaluate`: balanced accuracy (the K49 authors' metric), accuracy, per-class
accuracy and an optional confusion-matrix CSV for a saved model on a split."""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from k49desk.commands.common import (
    CliProgress,
    add_data_dir,
    add_json,
    check_output_file,
    int_range,
    open_data,
    pad,
    print_json,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="score a model on a split: balanced accuracy, accuracy, per class",
        description="Balanced accuracy is the mean over the classes present in the split of "
                    "per-class accuracy, as the K49 authors define it. Classes absent from the "
                    "split are left out of the mean and shown as null in --json. --model is "
                    "optional: without it the shipped default model is scored.")
    p.add_argument("--model", default=None, metavar="M",
                   help="checkpoint to evaluate (optional; default: the shipped "
                        "models/k49desk-default.pt)")
    add_data_dir(p)
    p.add_argument("--split", default="test", choices=("train", "test"),
                   help="split to score (default test)")
    p.add_argument("--confusion-out", default=None, metavar="C.csv",
                   help="write the confusion matrix (rows true, columns predicted) as CSV")
    p.add_argument("--batch-size", type=int_range(1, 65_536), default=1024,
                   help=argparse.SUPPRESS)
    add_json(p)
    p.set_defaults(func=run)


def confusion_csv(confusion: np.ndarray, chars: Sequence[str]) -> str:
    """Rows are true classes, columns predicted ones; first row and column are characters."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["true\\predicted", *chars])
    for ch, row in zip(chars, confusion, strict=True):
        w.writerow([ch, *(int(v) for v in row)])
    return buf.getvalue()


def per_class_lines(classes: Sequence, per_class: np.ndarray, support: np.ndarray,
                    cols: int = 3) -> list[str]:
    """The per-class table in aligned columns. Cells are padded by terminal width, so a
    two-cell hiragana and a long romaji (odoriji) do not push the numbers out of line."""
    romaji_w = max(len(c.romaji) for c in classes) + 1
    cells = []
    for c, v, n in zip(classes, per_class, support, strict=True):
        acc = "-" if math.isnan(v) else f"{v:.1%}"
        cells.append(f"{pad(c.char, 2)} {pad(c.romaji, romaji_w)}{pad(acc, 6, '>')} "
                     f"{int(n):>6,d}")
    return ["  " + "    ".join(cells[i:i + cols]) for i in range(0, len(cells), cols)]


def run(args: argparse.Namespace) -> int:
    from k49desk.core.atomic import atomic_write_text
    from k49desk.core.errors import K49Error
    from k49desk.core.model import load_checkpoint
    from k49desk.core.training import evaluate
    from k49desk.paths import DEFAULT_MODEL

    model_path = Path(args.model) if args.model else DEFAULT_MODEL
    if args.confusion_out:
        check_output_file(Path(args.confusion_out), "--confusion-out")
    lm = load_checkpoint(model_path)
    ds = open_data(args.data_dir)
    split = ds.split(args.split)
    if len(split) == 0:
        raise K49Error(f"{ds.root}: the {args.split} split has no images")
    with CliProgress(f"evaluate {args.split}", enabled=not args.json) as bar:
        r = evaluate(lm, split.images, split.labels, batch_size=lm.batch_size_for(args.batch_size),
                     progress=bar)
    chars = [c.char for c in lm.classes]
    if args.confusion_out:
        atomic_write_text(args.confusion_out, confusion_csv(r.confusion, chars))
    per_class = {ch: (None if math.isnan(v) else round(float(v), 6))
                 for ch, v in zip(chars, r.per_class, strict=True)}
    if args.json:
        print_json({
            "model": str(model_path), "data_dir": str(ds.root), "split": args.split,
            "balanced_accuracy": r.balanced_accuracy, "accuracy": r.accuracy, "n": r.n,
            "classes_present": int((r.support > 0).sum()),
            "per_class": per_class,
            "support": {ch: int(s) for ch, s in zip(chars, r.support, strict=True)},
            "confusion_out": args.confusion_out,
        })
        return 0
    present = int((r.support > 0).sum())
    print(f"{model_path.name} on {ds.root} [{args.split}], {r.n:,d} images, "
          f"{present} of {len(chars)} classes present")
    print(f"  balanced accuracy {r.balanced_accuracy:.2%}  (mean per-class accuracy over "
          f"the {present} classes present)")
    print(f"  accuracy          {r.accuracy:.2%}")
    print("\nPer-class accuracy (class, accuracy, images; - = absent from the split):")
    for line in per_class_lines(lm.classes, r.per_class, r.support):
        print(line)
    if present < len(chars):
        absent = [c.char for c, s in zip(lm.classes, r.support, strict=True) if s == 0]
        print(f"\nAbsent from this split (not in the mean): {' '.join(absent)}")
    if args.confusion_out:
        print(f"\nConfusion matrix written to {args.confusion_out}", file=sys.stderr)
    return 0
