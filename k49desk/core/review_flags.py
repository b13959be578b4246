"""Flag tables and decision records for the review: normalising, reading find-issues CSVs,
typical samples, checks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from k49desk.core.classes import OFFICIAL_CLASSES, ClassInfo
from k49desk.core.errors import ReviewError

FLAG_COLUMNS: tuple[str, ...] = ("split", "index", "issue", "given_label", "given_char",
                                 "suggested_label", "suggested_char", "quality")
N_EXEMPLARS = 8
DECISIONS: tuple[str, ...] = ("keep", "accept", "relabel", "unusable", "unsure")
ERROR_DECISIONS: tuple[str, ...] = ("accept", "relabel", "unusable")  # the flag was right


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Decision:
    decision: str
    final_label: int | None = None
    decided_at: str = ""


@dataclass
class Filters:
    issue: str | None = None
    given: int | None = None  # given label
    suggested: int | None = None  # suggested label
    undecided_only: bool = False  # "open" cards: no decision yet, or unsure


@dataclass
class ReviewStats:
    total: int = 0
    decided: int = 0  # decisions other than unsure
    unsure: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def confirmed_errors(self) -> int:
        return sum(self.counts.get(d, 0) for d in ERROR_DECISIONS)

    @property
    def precision(self) -> float | None:
        """The detector's observed precision: confirmed errors / decided (unsure excluded)."""
        return self.confirmed_errors / self.decided if self.decided else None


def class_char(label: int | None, classes: tuple[ClassInfo, ...]) -> str:
    return classes[label].char if label is not None and 0 <= label < len(classes) else ""


def normalize_flags(df: pd.DataFrame, split: str, source: str = "flags",
                    classes: tuple[ClassInfo, ...] = OFFICIAL_CLASSES) -> pd.DataFrame:
    """The flags of `split` with every FLAG_COLUMNS column; suggested_label -1 = no suggestion."""
    missing = [c for c in ("index", "issue", "given_label") if c not in df.columns]
    if missing:
        raise ReviewError(f"{source}: missing column(s) {', '.join(missing)} "
                          f"(expected {','.join(FLAG_COLUMNS)})")
    out = df.copy()
    if "split" in out.columns:
        out = out[out["split"].astype(str) == split]
    out["split"] = split
    try:
        out["index"] = pd.to_numeric(out["index"]).astype(np.int64)
        out["given_label"] = pd.to_numeric(out["given_label"]).astype(np.int64)
        sug = pd.to_numeric(out.get("suggested_label", pd.Series(np.nan, index=out.index)))
        out["suggested_label"] = sug.fillna(-1).astype(np.int64)
        q = pd.to_numeric(out.get("quality", pd.Series(np.nan, index=out.index)))
        out["quality"] = q.astype(np.float64)
    except (ValueError, TypeError) as e:
        raise ReviewError(f"{source}: a label, index or quality is not a number ({e})") from e
    n = len(classes)
    for col in ("given_label", "suggested_label"):
        bad = out[(out[col] < -1) | (out[col] >= n) | ((col == "given_label") & (out[col] < 0))]
        if len(bad):
            raise ReviewError(f"{source}: {col} {int(bad[col].iloc[0])} outside 0..{n - 1}")
    out["issue"] = out["issue"].astype(str)
    out["given_char"] = [class_char(int(v), classes) for v in out["given_label"]]
    out["suggested_char"] = [class_char(int(v), classes) for v in out["suggested_label"]]
    return out[list(FLAG_COLUMNS)].reset_index(drop=True)


def read_flags_csv(path: str | os.PathLike[str], split: str) -> pd.DataFrame:
    """Flags from a CSV written by `k49desk find-issues` (or any CSV with the flag columns)."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise ReviewError(f"{path.name}: file not found in {path.parent}") from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise ReviewError(f"{path.name}: cannot be read as CSV ({e})") from e
    return normalize_flags(df, split, source=path.name)


def typical_indices(labels: np.ndarray, cls: int, k: int = N_EXEMPLARS,
                    proba: np.ndarray | None = None, exclude: np.ndarray | None = None,
                    seed: int = 0) -> list[int]:
    """`k` typical training samples of `cls`: the most confident ones under `proba`, else random."""
    idx = np.flatnonzero(np.asarray(labels) == cls)
    if exclude is not None and len(exclude) and len(idx) > k:
        idx = idx[~np.isin(idx, exclude)]
    if len(idx) <= k:
        return [int(i) for i in idx]
    if proba is not None:
        order = np.argsort(-proba[idx, cls], kind="stable")[:k]
        return [int(i) for i in idx[order]]
    rng = np.random.default_rng(seed + cls)
    return sorted(int(i) for i in rng.choice(idx, size=k, replace=False))



def summarise_proba(flags: pd.DataFrame, proba: np.ndarray | None, labels: np.ndarray | None
                    ) -> tuple[list | None, dict[int, list[int]] | None]:
    """Top-3 (class, p) per flag, and the most confident unflagged samples of every class."""
    if proba is None:
        return None, None
    proba = np.asarray(proba)
    idx = flags["index"].to_numpy()
    p = proba[idx]
    top = np.argsort(-p, axis=1, kind="stable")[:, :3]
    top3 = [[[int(c), round(float(row[c]), 4)] for c in t] for t, row in zip(top, p, strict=True)]
    if labels is None:
        return top3, None
    return top3, {c: typical_indices(labels, c, proba=proba, exclude=idx)
                  for c in range(proba.shape[1])}


def check_flags(flags: pd.DataFrame, labels: np.ndarray, name: str) -> None:
    if not len(flags):
        return
    idx = flags["index"].to_numpy()
    n = len(labels)
    if idx.min() < 0 or idx.max() >= n:
        bad = int(idx[(idx < 0) | (idx >= n)][0])
        raise ReviewError(f"{name}: flagged index {bad} is outside this split (0..{n - 1}); "
                          "the flags belong to other data")
    given = flags["given_label"].to_numpy()
    wrong = np.flatnonzero(np.asarray(labels)[idx] != given)
    if len(wrong):
        w = int(wrong[0])
        raise ReviewError(f"{name}: image {int(idx[w])} is labelled {int(labels[idx[w]])} in the "
                          f"data but {int(given[w])} in the flags ({len(wrong)} such); the flags "
                          "belong to other data")
