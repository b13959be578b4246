"""`k49desk similar`: the images nearest to one image in the model's embedding space.

The model's outputs for every image of the data folder are computed once (progress on
stderr, Ctrl-C stops) and cached, so later queries start in about a second.
"""

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
    ctrl_c_requests_stop,
    print_json,
    resolve_data_dir,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "similar", help="the k most similar images to one image (cosine, model embeddings)",
        description="Nearest neighbours by cosine distance between the model's penultimate-"
                    "layer embeddings, searched across all splits of the data folder. The "
                    "query image itself is never listed. Query with --split/--index, or "
                    "with --image FILE (a photo or drawing, framed like a K49 image first).")
    add_data_dir(p)
    p.add_argument("--split", default=None, help="split of the query image (train or test)")
    p.add_argument("--index", type=int, default=None, help="index of the query image")
    p.add_argument("--image", default=None, metavar="FILE",
                   help="query with an image file instead (PNG/JPEG, any size or polarity)")
    p.add_argument("--k", type=int, default=10, help="how many neighbours (default 10)")
    add_model(p)
    add_json(p)
    p.set_defaults(func=run)


def add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="checkpoint to use (default: the shipped models/k49desk-default.pt)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads for the model pass (default 1; 0: all cores)")
    add_device_argument(p)


def model_outputs(args: argparse.Namespace, what: str):  # noqa: ANN201
    """(dataset, loaded model, ModelOutputs) for a command's --data-dir and --model; the
    model pass shows progress on stderr unless --json, and the first Ctrl-C stops it."""
    from k49desk.core.dataset import open_dataset
    from k49desk.core.model import load_checkpoint
    from k49desk.core.outputs import THREADS, compute_outputs
    from k49desk.paths import DEFAULT_MODEL

    lm = load_checkpoint(Path(args.model) if args.model else DEFAULT_MODEL)
    ds = open_dataset(resolve_data_dir(args.data_dir))
    threads = THREADS if args.threads is None else max(0, args.threads)
    stop = threading.Event()
    with CliProgress(what, enabled=not getattr(args, "json", False)) as bar, \
            ctrl_c_requests_stop(stop):
        res = compute_outputs(lm, ds, threads=threads, progress=bar, should_stop=stop.is_set,
                              device=getattr(args, "device", "cpu"))
    return ds, lm, res


def run(args: argparse.Namespace) -> int:
    from k49desk.core.errors import Cancelled, K49Error
    from k49desk.core.neighbors import NeighborIndex

    if args.k < 1:
        raise K49Error(f"similar: --k must be at least 1, got {args.k}")
    by_index = args.split is not None or args.index is not None
    if by_index == (args.image is not None):
        raise K49Error("similar: give either --split and --index, or --image FILE")
    if by_index and (args.split is None or args.index is None):
        raise K49Error("similar: --split and --index go together")
    if args.image is not None:
        from k49desk.core.inference import load_image_file, preprocess

        img28 = preprocess(load_image_file(args.image))  # fail on a bad file before the pass
    try:
        ds, lm, res = model_outputs(args, "Model outputs")
    except Cancelled:
        print("k49desk: similar stopped", file=sys.stderr)
        return 130
    if by_index:
        ds.split(args.split)  # a clear error for a split the folder lacks
    index = NeighborIndex(res)
    chars = [c.char for c in ds.classes]
    if by_index:
        neighbors = index.similar(args.split, args.index, k=args.k)
        label = int(ds.split(args.split).labels[args.index])
        query = {"split": args.split, "index": args.index, "label": label,
                 "char": chars[label]}
    else:
        from k49desk.core.outputs import embed_images

        neighbors = index.similar_to(embed_images(lm, res.embedder, img28), k=args.k)
        query = {"image": str(args.image)}
    rows = [{"split": n.split, "index": n.index, "label": n.label, "char": chars[n.label],
             "distance": round(n.distance, 6)} for n in neighbors]
    if args.json:
        print_json({"query": query, "k": args.k, "neighbors": rows,
                    "model": str(lm.path), "data_dir": str(ds.root),
                    "metric": "cosine distance of model embeddings", "cached": res.cached})
        return 0
    if by_index:
        print(f"{args.k} nearest to {args.split} #{args.index} ({query['char']}, label "
              f"{query['label']}) by cosine distance of {Path(str(lm.path)).name} embeddings:")
    else:
        print(f"{args.k} nearest to {args.image} by cosine distance of "
              f"{Path(str(lm.path)).name} embeddings:")
    print(f"{'split':<6}{'index':>8}{'label':>7}  char  {'distance':>8}")
    for r in rows:
        print(f"{r['split']:<6}{r['index']:>8}{r['label']:>7}  {r['char']:^4}  "
              f"{r['distance']:8.4f}")
    return 0
