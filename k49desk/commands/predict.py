"""`k49desk predict`: top-k classes for PNG/JPEG images of any size and polarity.

Images go through `k49desk.core.inference.preprocess`, the same function as the drawing pad,
so a photo of black ink on paper is framed like a K49 image before the model sees it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from k49desk.commands import predict_data
from k49desk.commands.common import add_json, int_range, print_json

TOO_LITTLE_INK = "too little ink (blank, or only a dot); no prediction"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="classify image files (PNG/JPEG, any size or polarity)",
        description="Top-k classes for each image. An image with too little ink to be a "
                    "character (blank, or only a dot) gets no prediction. --json prints one "
                    "object: {\"model\": path, \"results\": [{\"file\", \"too_little_ink\", "
                    "\"top\": [{\"label\", \"char\", \"romaji\", \"p\"}, ...]}, ...]}.")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files to classify")
    p.add_argument("--model", default=None,
                   help="checkpoint to use (default: the shipped models/k49desk-default.pt)")
    p.add_argument("--top", type=int_range(1, 49), default=5,
                   help="how many classes to list, 1 to 49 (default 5)")
    p.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="ink polarity: auto-detect (default), or force dark-ink-on-light (yes) "
                        "or light-ink-on-dark (no)")
    add_json(p)
    predict_data.add_arguments(p)  # --data-dir D --out P.csv: every image of whole splits
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from k49desk.core.inference import (
        load_image_file,
        preprocess,
        too_little_ink,
        topk,
    )
    from k49desk.paths import DEFAULT_MODEL

    if predict_data.wanted(args):
        return predict_data.run(args)
    if not args.images:
        from k49desk.core.errors import K49Error

        raise K49Error("predict: give IMAGE files, or --data-dir D --out P.csv")
    model_path = Path(args.model) if args.model else DEFAULT_MODEL
    invert = {"auto": None, "yes": True, "no": False}[args.invert]
    # Every image is read (and refused if bad) before the model is loaded: a wrong file
    # fails in a moment, and only the 28x28 results are kept.
    framed = [preprocess(load_image_file(f), invert=invert) for f in args.images]
    from k49desk.core.model import load_checkpoint  # imports torch: only now

    lm = load_checkpoint(model_path)
    results = []
    for f, img28 in zip(args.images, framed, strict=True):
        blank = too_little_ink(img28)
        top = [] if blank else topk(lm, img28, k=args.top)
        results.append({"file": str(f), "too_little_ink": blank, "top": [
            {"label": int(i), "char": lm.classes[i].char, "romaji": lm.classes[i].romaji,
             "p": round(float(p), 6)} for i, p in top]})
    if args.json:
        print_json({"model": str(model_path), "results": results})
        return 0
    for r in results:
        if r["too_little_ink"]:
            print(f"{r['file']}: {TOO_LITTLE_INK}")
            continue
        best = r["top"][0]
        print(f"{r['file']}: {best['char']} ({best['romaji']}) {best['p']:.1%}")
        for t in r["top"][1:]:
            print(f"    {t['char']} ({t['romaji']}) {t['p']:.1%}")
    return 0
