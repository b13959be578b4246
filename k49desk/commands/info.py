"""`k49desk info`: the exploratory summary a notebook would give."""

from __future__ import annotations

import argparse

from k49desk.commands.common import add_data_dir, add_json, open_data, pad, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="summarise a data folder: splits, class support, imbalance")
    add_data_dir(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from k49desk.core.stats import class_table, info_dict, under_represented

    ds = open_data(args.data_dir)
    if args.json:
        print_json(info_dict(ds))
        return 0
    kind = "generated demo data" if ds.is_demo else "K49 data"
    print(f"{ds.root}  ({kind}; class map: {ds.classmap_source})")
    for s in ds.split_names:
        print(f"  {s:5s} {len(ds.splits[s]):>8,d} images")
    print(f"  total {len(ds):>8,d} images, {ds.n_classes} classes\n")
    t = class_table(ds)
    print(
        f"{'idx':>3} {'char':^6} {'romaji':<8}{'train':>8} {'share':>6}"
        f"{'test':>8} {'share':>6} {'test/all':>8}"
    )
    for r in t.itertuples():
        tf = "" if r.test_fraction != r.test_fraction else f"{r.test_fraction:7.1%}"
        print(
            f"{r.index:>3} {pad(r.char, 6, '^')} {r.romaji:<8}{r.train:>8,d} {r.train_share:6.2%}"
            f"{r.test:>8,d} {r.test_share:6.2%} {tf:>8}"
        )
    ur = under_represented(ds)
    if len(ur):
        print("\nUnder-represented classes (< 50% of the largest class), rarest first:")
        print(
            "  "
            + ", ".join(
                f"{r.char} {r.romaji} {r['count']:,d} ({r.share:.2%})" for _, r in ur.iterrows()
            )
        )
    empty = [c.char for c, n in zip(ds.classes, t["total"], strict=True) if n == 0]
    if empty:
        print(f"\nClasses with no images: {' '.join(empty)}")
    return 0
