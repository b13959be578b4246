"""`k49desk find-issues`: rank suspected label errors, blank images and duplicates."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from k49desk.commands.common import (
    CliProgress,
    add_data_dir,
    add_device_argument,
    add_json,
    add_threads,
    cap_threads,
    check_output_file,
    ctrl_c_requests_stop,
    int_range,
    open_data,
    pad,
    print_json,
)


def _folds(text: str) -> int:
    v = int_range(0, 20)(text)
    if v == 1:
        raise argparse.ArgumentTypeError("must be 0 (skip the label check) or 2 to 20, got 1")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "find-issues", aliases=["find_issues"],
        help="flag suspected label errors, blank images and duplicates (CSV, most suspicious "
             "first)",
        description="Score every image of a split with models that never saw it (k-fold), "
                    "flag likely label errors by confident learning (cleanlab), plus blank "
                    "images, exact duplicates within the split and images that also appear "
                    "(exactly or nearly) in the other split. The probabilities are cached in "
                    "the data folder, so a second run is quick. Ctrl-C stops cleanly.")
    add_data_dir(p)
    p.add_argument("--split", default="train", choices=("train", "test"),
                   help="split to scan (default train)")
    p.add_argument("--folds", type=_folds, default=None,
                   help="cross-validation folds for the label check, 2 to 20; 0 skips it "
                        "(default 5)")
    p.add_argument("--epochs", type=int_range(1, 1000), default=None,
                   help="training epochs per fold (default: by split size, 3 for full K49)")
    p.add_argument("--out", default=None,
                   help="CSV to write (default: flags-<split>.csv in the current folder)")
    p.add_argument("--init-model", default=None, metavar="PATH|none",
                   help="checkpoint the fold models start from (fine-tuning); 'none' starts "
                        "them from random weights (default: the bundled model for splits of "
                        "up to 20,000 images, none above)")
    p.add_argument("--no-cache", action="store_true",
                   help="retrain the folds even when cached probabilities exist")
    add_threads(p)
    add_device_argument(p)
    p.add_argument("--model", default=None,
                   help="also flag atypical images (issue 'outlier') by this model's embeddings")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from k49desk.core.errors import Cancelled, K49Error
    from k49desk.core.issues import find_issues, write_flags_csv

    out = Path(args.out) if args.out else Path(f"flags-{args.split}.csv")
    check_output_file(out, "--out")  # before hours of training, not after
    if args.folds != 0 and args.device != "auto":  # an absent GPU fails before any work
        from k49desk.core.device import resolve_device

        resolve_device(args.device)
    ds = open_data(args.data_dir)
    ds.split(args.split)  # a missing split fails before any work
    cfg = None
    if args.folds != 0 and (args.epochs is not None or args.threads):
        from dataclasses import replace

        from k49desk.core.issues import default_train_config

        cfg = default_train_config(len(ds.split(args.split)))
        try:
            cfg = replace(cfg, epochs=args.epochs if args.epochs is not None else cfg.epochs,
                          threads=cap_threads(args.threads))
        except ValueError as e:
            raise K49Error(f"find-issues: {e}") from e

    from k49desk.core.model import load_checkpoint

    outlier_model = load_checkpoint(args.model) if args.model else None  # fails before work
    init_model = None
    if args.init_model is not None and args.folds != 0:
        init_model = False if args.init_model.lower() == "none" else load_checkpoint(
            args.init_model)
        from k49desk.core.fold_cache import resolve_init

        resolve_init(ds, args.split, init_model)  # other classes: fails before any work
    stop = threading.Event()
    bar = CliProgress(f"Finding issues in {args.split}")

    try:
        with ctrl_c_requests_stop(stop):
            report = find_issues(ds, args.split, folds=args.folds, train_config=cfg,
                                 progress=bar, should_stop=stop.is_set,
                                 use_cache=not args.no_cache, outlier_model=outlier_model,
                                 device=args.device, init_model=init_model)
    except Cancelled:
        bar.close()  # before the message, so the two do not interleave on stderr
        print("k49desk: find-issues stopped; nothing was written", file=sys.stderr)
        return 130
    finally:
        bar.close()
    write_flags_csv(report.flags, out, report.pairs)
    if args.json:
        print_json({"n_scanned": report.n_scanned, "n_flagged": report.n_flagged,
                    "elapsed_s": round(report.elapsed_s, 3), "method": report.method,
                    "split": args.split, "counts": report.counts(), "out": str(out),
                    "cached": report.proba_cached})
        return 0
    counts = ", ".join(f"{k} {v:,d}" for k, v in report.counts().items())
    print(f"Scanned {report.n_scanned:,d} {args.split} images in {report.elapsed_s:.1f} s: "
          f"{report.n_flagged:,d} suspects ({counts}).")
    print(f"Method: {report.method}")
    print(f"Wrote {out} (most suspicious first).")
    top = report.flags.head(10)
    if len(top):
        print(f"\n{'index':>7} {'issue':<21}{'given':^7}{'suggested':^11}{'quality':>8}")
        for r in top.itertuples():
            print(f"{r.index:>7} {r.issue:<21}{pad(r.given_char, 7, '^')}"
                  f"{pad(r.suggested_char or '-', 11, '^')}{r.quality:8.3f}")
    return 0
