"""Flag tables and decision records for the review: normalising, reading find-issues CSVs,
typical samples, checks."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from k49desk.core.classes import OFFICIAL_CLASSES, ClassInfo
from k49desk.core.errors import ReviewError

FLAG_COLUMNS: tuple[str, ...] = ("split", "index", "issue", "given_label", "given_char",
                                 "suggested_label", "suggested_char", "quality",
                                 "partner_split", "partner_index")
MAX_INDEX = 2**40  # no split is larger; the real bound is checked against the labels
_INT_TEXT = re.compile(r"[+-]?\d{1,15}(\.0*)?")
N_EXEMPLARS = 8
DECISIONS: tuple[str, ...] = ("keep", "accept", "relabel", "unusable", "unsure")
ERROR_DECISIONS: tuple[str, ...] = ("accept", "relabel", "unusable")  # the flag was right


@dataclass
class Decision:
    decision: str
    final_label: int | None = None  # relabel: the class picked; accept: the suggestion
    decided_at: str = ""
    source: str = ""  # review / manual / import ("" when not known yet)


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


def _cell_int(v: object) -> int | None:
    """A whole number from a CSV cell or a number (None: not one, or absurdly long)."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return int(v) if np.isfinite(v) and float(v).is_integer() else None
    if isinstance(v, str) and _INT_TEXT.fullmatch(v.strip()):
        return int(float(v)) if "." in v else int(v)
    return None


def _int_column(df: pd.DataFrame, col: str, source: str, lo: int, hi: int,
                missing: int | None = None, rows: str = "row") -> np.ndarray:
    """Column `col` as int64, every value a whole number in lo..hi (empty cells: `missing`,
    or refused when None); ReviewError names the source, the row and the value."""
    s = df[col]
    if s.dtype.kind in "iu":
        vals = s.to_numpy(np.int64)
        bad = np.flatnonzero((vals < lo) | (vals > hi))
    else:
        raw = s.to_numpy(object)
        na = pd.isna(raw)
        vals = np.empty(len(raw), np.int64)
        bad_list = []
        for i, (v, isna) in enumerate(zip(raw, na, strict=True)):
            x = missing if isna else _cell_int(v)
            if x is None or not lo <= x <= hi:
                bad_list.append(i)
                x = 0
            vals[i] = x
        bad = np.array(bad_list, np.int64)
    if len(bad):
        i = int(bad[0])
        v = s.iat[i]
        shown = "empty" if pd.isna(v) else repr(str(v) if len(str(v)) <= 24
                                                else str(v)[:20] + "...")
        where = f"{rows} {i + (2 if rows == 'line' else 1)}"
        raise ReviewError(f"{source}: {where}: {col} {shown} is not a whole number in "
                          f"{lo}..{hi}" + (f" ({len(bad)} such rows)" if len(bad) > 1 else ""))
    return vals


def normalize_flags(df: pd.DataFrame, split: str, source: str = "flags",
                    classes: tuple[ClassInfo, ...] = OFFICIAL_CLASSES,
                    rows: str = "row") -> pd.DataFrame:
    """The flags of `split` with every FLAG_COLUMNS column; suggested_label -1 = no suggestion,
    partner_split "" / partner_index -1 = no partner. Every value is checked (a whole number
    in range, a finite quality): a bad one is a ReviewError naming `source` and the row
    (rows="line": the line of a CSV file, counting its header)."""
    missing = [c for c in ("index", "issue", "given_label") if c not in df.columns]
    if missing:
        raise ReviewError(f"{source}: missing column(s) {', '.join(missing)} "
                          f"(expected {','.join(FLAG_COLUMNS)})")
    out = df.reset_index(drop=True).copy()
    n = len(classes)
    out["index"] = _int_column(out, "index", source, 0, MAX_INDEX, rows=rows)
    out["given_label"] = _int_column(out, "given_label", source, 0, n - 1, rows=rows)
    for col, lo, hi in (("suggested_label", -1, n - 1), ("partner_index", -1, MAX_INDEX)):
        if col in out.columns:
            out[col] = _int_column(out, col, source, lo, hi, missing=-1, rows=rows)
        else:
            out[col] = np.int64(-1)
    try:
        q = pd.to_numeric(out["quality"]) if "quality" in out.columns else np.nan
        out["quality"] = pd.Series(q, index=out.index, dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise ReviewError(f"{source}: a quality is not a number ({e})") from e
    if np.isinf(out["quality"].to_numpy()).any():
        raise ReviewError(f"{source}: a quality is infinite")
    empty = out["issue"].isna() | (out["issue"].astype(str).str.strip() == "")
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise ReviewError(f"{source}: {rows} {i + (2 if rows == 'line' else 1)}: issue is empty")
    out["issue"] = out["issue"].astype(str)
    ps = out["partner_split"] if "partner_split" in out.columns else pd.Series("", out.index)
    out["partner_split"] = ps.fillna("").astype(str)
    if "split" in out.columns:
        out = out[out["split"].astype(str) == split]
    out["split"] = split
    out["given_char"] = [class_char(int(v), classes) for v in out["given_label"]]
    out["suggested_char"] = [class_char(int(v), classes) for v in out["suggested_label"]]
    return out[list(FLAG_COLUMNS)].reset_index(drop=True)


def read_flags_csv(path: str | os.PathLike[str], split: str) -> pd.DataFrame:
    """Flags from a CSV written by `k49desk find-issues` (or any CSV with the flag columns;
    partner_split/partner_index of a train_test_duplicate are read when present)."""
    path = Path(path)
    try:
        # As text: numbers are checked by normalize_flags (a 400-digit label, an index 1.5).
        df = pd.read_csv(path, dtype=str, keep_default_na=True)
    except FileNotFoundError:
        raise ReviewError(f"{path.name}: file not found in {path.parent}") from None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise ReviewError(f"{path.name}: cannot be read as CSV ({e})") from e
    return normalize_flags(df, split, source=path.name, rows="line")


def attach_partners(flags: pd.DataFrame, pairs: pd.DataFrame | None) -> pd.DataFrame:
    """Fill partner_split/partner_index from IssueReport.pairs (index, issue, other_split,
    other_index, similarity): the most similar partner of each flagged (index, issue)."""
    if pairs is None or not len(pairs) or not len(flags):
        return flags
    need = {"index", "issue", "other_split", "other_index"}
    if not need <= set(pairs.columns):
        gone = ", ".join(sorted(need - set(pairs.columns)))
        raise ReviewError(f"duplicate pairs: missing column(s) {gone}")
    p = pairs
    if "similarity" in p.columns:
        p = p.sort_values("similarity", ascending=False, kind="stable")
    p = p.drop_duplicates(["index", "issue"])
    key = pd.MultiIndex.from_arrays([p["index"].astype(np.int64), p["issue"].astype(str)])
    look = pd.MultiIndex.from_arrays([flags["index"], flags["issue"]])
    where = key.get_indexer(look)
    hit = where >= 0
    out = flags.copy()
    if hit.any():
        ps = out["partner_split"].to_numpy(object).copy()
        pi = out["partner_index"].to_numpy(np.int64).copy()
        ps[hit] = p["other_split"].astype(str).to_numpy()[where[hit]]
        pi[hit] = p["other_index"].astype(np.int64).to_numpy()[where[hit]]
        out["partner_split"], out["partner_index"] = ps, pi
    return out


def flags_from_rows(rows: list[tuple], split: str, classes: tuple[ClassInfo, ...]
                    ) -> tuple[pd.DataFrame, list | None]:
    """(normalised flags, top3 or None) from the rows of the store's flags table."""
    cols = ["pos", "index", "issue", "given_label", "suggested_label", "quality",
            "partner_split", "partner_index", "top3"]
    df = pd.DataFrame(rows, columns=cols)
    top3 = None
    if len(df) and df["top3"].notna().all():
        top3 = [json.loads(t) for t in df["top3"]]
    df["split"] = split
    df["quality"] = pd.to_numeric(df["quality"]).astype(np.float64)
    df["partner_split"] = df["partner_split"].fillna("").astype(str)
    df["partner_index"] = pd.to_numeric(df["partner_index"]).fillna(-1).astype(np.int64)
    for c in ("index", "given_label", "suggested_label"):
        df[c] = df[c].astype(np.int64)
    df["issue"] = df["issue"].astype(str)
    df["given_char"] = [class_char(int(v), classes) for v in df["given_label"]]
    df["suggested_char"] = [class_char(int(v), classes) for v in df["suggested_label"]]
    return df[list(FLAG_COLUMNS)].reset_index(drop=True), top3


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
