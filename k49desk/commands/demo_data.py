"""`k49desk demo-data`: write generated hiragana in the official K49 format."""

from __future__ import annotations

import argparse

from k49desk.commands.common import (
    MAX_SEED,
    CliProgress,
    add_data_dir,
    add_json,
    float_range,
    int_range,
    print_json,
    resolve_data_dir,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo-data",
        help="generate demo data in the K49 format (no download needed)",
        description="Write generated images of the 49 classes, rendered from bundled fonts "
                    "with handwriting-like variation, in the official file format. "
                    "1% of the train labels are wrong on purpose; demo-truth.csv lists them.",
    )
    add_data_dir(p)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--scale", type=float_range(0.0, 1.0, lo_open=True), default=None,
                      metavar="F",
                      help="the official class counts times F, in (0, 1], as imbalanced as K49 "
                           "(default: 0.1, 23,237 train / 3,855 test images)")
    size.add_argument("--per-class", type=int_range(1, 10_000), default=None, metavar="N",
                      help="N train images of every class instead (balanced), 1 to 10,000; "
                           "the test split gets max(1, N // 6) per class")
    size.add_argument("--full", action="store_true",
                      help="the official class counts: 232,365 train / 38,547 test images")
    p.add_argument("--seed", type=int_range(0, MAX_SEED), default=0,
                   help="random seed, 0 to 2**32-1 (default: 0)")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from k49desk.core.dataset import DEMO_TRUTH_FILE, SPLITS, labels_file, read_npz_array
    from k49desk.core.demo import generate_demo

    root = resolve_data_dir(args.data_dir)
    with CliProgress("demo data", enabled=not args.json) as bar:
        generate_demo(root, per_class=args.per_class, scale=args.scale, full=args.full,
                      seed=args.seed,
                      progress=bar)
    with (root / DEMO_TRUTH_FILE).open(encoding="utf-8") as f:
        n_wrong = sum(1 for _ in f) - 1
    counts = {s: len(read_npz_array(root / labels_file(s))) for s in SPLITS}
    if args.json:
        print_json({"data_dir": str(root), "demo": True, "seed": args.seed, "splits": counts,
                    "wrong_labels": n_wrong, "truth_file": DEMO_TRUTH_FILE})
        return 0
    print(f"Wrote GENERATED demo data (not real K49) to {root}: {counts['train']:,d} train / "
          f"{counts['test']:,d} test images, 49 classes, seed {args.seed}; {n_wrong:,d} train "
          f"labels are wrong on purpose (listed in {root / DEMO_TRUTH_FILE}).")
    return 0
