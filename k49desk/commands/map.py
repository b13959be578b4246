"""`k49desk map`: a 2D map of the images of a data folder (CSV split,index,x,y,label)."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from k49desk.commands.common import (
    CliProgress,
    add_data_dir,
    add_json,
    ctrl_c_requests_stop,
    print_json,
)
from k49desk.commands.similar import add_model, model_outputs


def register(sub: argparse._SubParsersAction) -> None:
    from k49desk.core.projection import DEFAULT_METHOD, METHODS

    p = sub.add_parser(
        "map", help="2D map of every image (t-SNE of the model's embeddings) as CSV",
        description="Runs the model over the data folder (cached), projects the embeddings "
                    "of the chosen split (default: all splits together) to 2D and writes "
                    "split,index,x,y,label, one row per image. The map is cached too. "
                    "Ctrl-C stops cleanly.")
    add_data_dir(p)
    p.add_argument("--split", default=None,
                   help="split to map: train, test or all (default all)")
    add_model(p)
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help=f"projection (default {DEFAULT_METHOD}; pca is instant but coarse)")
    p.add_argument("--out", required=True, metavar="MAP.csv", help="CSV to write")
    add_json(p)
    p.set_defaults(func=run)


def write_map_csv(res: object, path: str | Path) -> None:
    """split,index,x,y,label rows of a `MapResult`, atomically."""
    import numpy as np
    import pandas as pd

    from k49desk.core.atomic import atomic_write_text

    which, local = res.locate(np.arange(len(res)))
    df = pd.DataFrame({"split": res.split_column(), "index": local, "x": res.xy[:, 0],
                       "y": res.xy[:, 1], "label": res.labels.astype(np.int64)})
    atomic_write_text(path, df.to_csv(index=False, float_format="%.5g"))


def run(args: argparse.Namespace) -> int:
    from k49desk.commands.common import check_output_file
    from k49desk.core.errors import Cancelled
    from k49desk.core.projection import compute_map, map_label_agreement

    out = Path(args.out)
    check_output_file(out, "--out")
    try:
        ds, lm, res = model_outputs(args, "Model outputs")
        splits = None if args.split in (None, "all") else [args.split]
        if splits:
            ds.split(args.split)
        stop = threading.Event()
        with CliProgress("Map", enabled=not args.json) as bar, ctrl_c_requests_stop(stop):
            threads = 0 if args.threads is None else max(0, args.threads)
            m = compute_map(res, ds, splits, args.method, threads=threads, progress=bar,
                            should_stop=stop.is_set)
    except Cancelled:
        print("k49desk: map stopped; nothing was written", file=sys.stderr)
        return 130
    write_map_csv(m, out)
    agree = map_label_agreement(m.xy, m.labels, k=10)
    if args.json:
        print_json({"out": str(out), "n": len(m), "splits": list(m.split_names),
                    "method": m.method, "model": str(lm.path), "data_dir": str(ds.root),
                    "cached": m.cached, "elapsed_s": round(m.elapsed_s, 3),
                    "label_agreement_10nn": None if agree != agree else round(agree, 4)})
        return 0
    print(f"Mapped {len(m):,d} images of {'+'.join(m.split_names)} by {m.method} in "
          f"{m.elapsed_s:.1f} s{' (cached)' if m.cached else ''}; the 10 nearest points of an "
          f"image share its label {agree:.1%} of the time.")
    print(f"Wrote {out}")
    return 0
