"""The exploratory summary of a data folder (what `k49desk info` and the Statistics panel show)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from k49desk.core.dataset import SPLITS, K49Dataset

UNDER_REPRESENTED_RATIO = 0.5  # a class is under-represented below half the largest class


def class_table(ds: K49Dataset) -> pd.DataFrame:
    """One row per class (all 49, empty ones included): counts and shares per split."""
    df = pd.DataFrame(
        {
            "index": [c.index for c in ds.classes],
            "char": [c.char for c in ds.classes],
            "romaji": [c.romaji for c in ds.classes],
        }
    )
    for s in SPLITS:
        counts = (
            ds.splits[s].counts(ds.n_classes)
            if s in ds.splits
            else np.zeros(ds.n_classes, np.int64)
        )
        total = counts.sum()
        df[s] = counts
        df[f"{s}_share"] = counts / total if total else 0.0
    df["total"] = df["train"] + df["test"]
    both = df["total"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        df["test_fraction"] = np.where(both > 0, df["test"] / np.maximum(both, 1), np.nan)
    return df


def under_represented(ds: K49Dataset, split: str | None = None) -> pd.DataFrame:
    """Classes below UNDER_REPRESENTED_RATIO of the largest class, rarest first.

    Columns: index, char, romaji, count, share, ratio_to_largest. Empty classes are included.
    """
    split = split or ("train" if "train" in ds.splits else ds.split_names[0])
    t = class_table(ds)
    counts = t[split]
    largest = counts.max() if len(counts) else 0
    ratio = counts / largest if largest else counts * 0.0
    out = pd.DataFrame(
        {
            "index": t["index"],
            "char": t["char"],
            "romaji": t["romaji"],
            "count": counts,
            "share": t[f"{split}_share"],
            "ratio_to_largest": ratio,
        }
    )
    out = out[out["ratio_to_largest"] < UNDER_REPRESENTED_RATIO]
    return out.sort_values(["count", "index"]).reset_index(drop=True)


def info_dict(ds: K49Dataset) -> dict:
    """JSON-ready summary: {"splits": {split: {"n", "counts": {char: count}}}, ...}."""
    t = class_table(ds)
    splits = {}
    for s in ds.split_names:
        splits[s] = {
            "n": int(t[s].sum()),
            "counts": {ch: int(n) for ch, n in zip(t["char"], t[s], strict=True)},
            "shares": {
                ch: round(float(x), 6) for ch, x in zip(t["char"], t[f"{s}_share"], strict=True)
            },
            "empty_classes": [ch for ch, n in zip(t["char"], t[s], strict=True) if n == 0],
        }
    ur = under_represented(ds) if ds.splits else None
    return {
        "data_dir": str(ds.root),
        "demo": ds.is_demo,
        "n_classes": ds.n_classes,
        "n_images": len(ds),
        "splits": splits,
        "under_represented": []
        if ur is None
        else [
            {
                "char": r.char,
                "romaji": r.romaji,
                "count": int(r.count),
                "share": round(float(r.share), 6),
            }
            for r in ur.itertuples()
        ],
    }
