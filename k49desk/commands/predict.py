"""`k49desk predict`: top-k classes for PNG/JPEG images of any size and polarity.

Images go through `k49desk.core.inference.preprocess`, the same function as the drawing pad,
so a photo of black ink on paper is framed like a K49 image before the model sees it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from k49desk.commands import predict_data
from k49desk.commands.common import add_json, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify image files (PNG/JPEG, any size or polarity)")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files to classify")
    p.add_argument("--model", default=None,
                   help="checkpoint to use (default: the shipped models/k49desk-default.pt)")
    p.add_argument("--top", type=int, default=5, help="how many classes to list (default 5)")
    p.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="ink polarity: auto-detect (default), or force dark-ink-on-light (yes) "
                        "or light-ink-on-dark (no)")
    add_json(p)
    predict_data.add_arguments(p)  # --data-dir D --out P.csv: every image of whole splits
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from k49desk.core.errors import K49Error
    from k49desk.core.inference import load_image_file, preprocess, topk
    from k49desk.core.model import load_checkpoint
    from k49desk.paths import DEFAULT_MODEL

    if predict_data.wanted(args):
        return predict_data.run(args)
    if not args.images:
        raise K49Error("predict: give IMAGE files, or --data-dir D --out P.csv")
    if args.top < 1:
        raise K49Error(f"predict: --top must be at least 1, got {args.top}")
    model_path = Path(args.model) if args.model else DEFAULT_MODEL
    lm = load_checkpoint(model_path)
    invert = {"auto": None, "yes": True, "no": False}[args.invert]
    results = []
    for f in args.images:
        img28 = preprocess(load_image_file(f), invert=invert)
        top = topk(lm, img28, k=args.top)
        results.append({"file": str(f), "top": [
            {"label": int(i), "char": lm.classes[i].char, "romaji": lm.classes[i].romaji,
             "p": round(float(p), 6)} for i, p in top]})
    if args.json:
        print_json(results)
        return 0
    for r in results:
        best = r["top"][0]
        print(f"{r['file']}: {best['char']} ({best['romaji']}) {best['p']:.1%}")
        for t in r["top"][1:]:
            print(f"    {t['char']} ({t['romaji']}) {t['p']:.1%}")
    return 0
