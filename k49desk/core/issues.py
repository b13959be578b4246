"""Out-of-sample probabilities -> ranked suspects: label issues, blanks, duplicates.

Label issues follow confident learning (Northcutt et al.), through cleanlab: every image of
the split is scored by a model that never trained on it (stratified k-fold; for a small
split, the other splits' images train those models too, and they are fine-tuned from the
bundled model rather than trained from scratch: fold_config.default_init_path), then
`cleanlab.filter.find_label_issues` flags images whose given label disagrees with what
the others teach, and `cleanlab.rank.get_label_quality_scores` orders them.
The probabilities are cached beside the data (keyed by the split's fingerprint and the
training settings), so a second run skips the training entirely.

quality (lower = more suspicious, in [0, 1]):
- label: cleanlab's label quality score (`LABEL_QUALITY_METHOD`);
- blank: 0.5 x ink fraction / blank threshold (an empty image is 0), or for a filled blob
  0.5 x blob threshold / its stroke thickness (see `k49desk.core.hashing.find_blank`);
- duplicate: `DUPLICATE_QUALITY` (0.5) for every copy after the first one of a group;
- train_test_duplicate: `TRAIN_TEST_EXACT_QUALITY` (0.45) for a byte-identical copy in the
  other split, `TRAIN_TEST_NEAR_QUALITY` (0.5) for a near-duplicate;
- outlier (only with `outlier_model`): cleanlab's outlier score, see k49desk.core.outliers.
A sample with several issues gets one row: the one with the lowest quality (ties go to the
first in ISSUE_TYPES); `IssueReport.all_issues` keeps all of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from k49desk.core import hashing
from k49desk.core.dataset import K49Dataset
from k49desk.core.errors import Cancelled, K49Error
from k49desk.core.fold_cache import (
    FoldCache,
    InitModel,
    proba_cache_name,
    resolve_config,
    resolve_init,
)
from k49desk.core.fold_config import (  # noqa: F401  (re-exported: the fold models' settings)
    BIG_SPLIT,
    OTHER_SPLITS_MAX_SHARE,
    SMALL_SPLIT,
    TTA_MAX_IMAGES,
    _cache_key,
    _split_fingerprint,
    default_folds,
    default_train_config,
    default_tta,
    fold_epochs,
    other_images,
    other_split_names,
)
from k49desk.core.progress import Progress, scaled

if TYPE_CHECKING:  # training imports torch: only load it when the label check runs
    from k49desk.core.model import LoadedModel
    from k49desk.core.training import TrainConfig, TrainEvent

ISSUE_TYPES: tuple[str, ...] = ("label", "blank", "duplicate", "train_test_duplicate",
                                 "outlier")
FLAG_COLUMNS: tuple[str, ...] = ("split", "index", "issue", "given_label", "given_char",
                                 "suggested_label", "suggested_char", "quality")
PAIR_COLUMNS: tuple[str, ...] = ("index", "issue", "other_split", "other_index", "similarity")
DUPLICATE_QUALITY = 0.5
TRAIN_TEST_EXACT_QUALITY = 0.45
TRAIN_TEST_NEAR_QUALITY = 0.5
# Measured on real10 with 5% flips (benchmarks/bench_issues.py), same probabilities: flags,
# precision, recall: prune_by_noise_rate (cleanlab's default) 280, 0.58, 0.81;
# prune_by_class 285, 0.61, 0.87; both 223, 0.69, 0.77; confident_learning 199, 0.68, 0.68;
# low_normalized_margin 199, 0.73, 0.73; low_self_confidence 199, 0.78, 0.78 (best F1).
# low_self_confidence flags as many as the confident joint estimates, lowest score first.
FILTER_BY = "low_self_confidence"
# How many labels are wrong: cleanlab's "off_diagonal" count only counts confidently
# mislabelled samples and comes out low when the fold models are unsure; its
# "off_diagonal_calibrated" count rescales to the label priors and also counts the models' own
# errors. Measured on real10 with 200 flips: 180 and 225 (precision@n 0.93/0.83, recall
# 0.84/0.93); their mean, 202, gives 0.87/0.87. On demo data both agree (138 of 147, all true).
# Both undercount when the fold models are very accurate: a class's threshold is the mean
# probability its own images get (0.98-0.99 on the full demo), so a wrong label whose true
# class gets "only" 0.9 is not counted. Full demo, one fold of 5 (473 wrong labels, the
# ranking puts all of them first): off_diagonal 423, calibrated 441, mean 432 (recall 0.913).
# Hence a floor: every image whose given label gets under CERTAIN_WRONG of the probability
# (the model is 99% sure it is wrong) counts: 473 flags, precision and recall 1.000. On real10
# the floor is below the mean (156-180 of 192-202), so nothing changes there.
CERTAIN_WRONG = 0.01
COUNT_METHOD = ("mean of cleanlab's off_diagonal and off_diagonal_calibrated estimates, at "
                f"least the images whose label gets under {CERTAIN_WRONG:.0%}")
LABEL_QUALITY_METHOD = "self_confidence"
StopFn = Callable[[], bool]


@dataclass
class IssueReport:
    """Flagged samples of one split, most suspicious first."""

    split: str
    flags: pd.DataFrame  # FLAG_COLUMNS, one row per flagged sample
    proba: np.ndarray | None  # (N, n_classes) out-of-sample probabilities (None: folds=0)
    method: str
    elapsed_s: float
    n_scanned: int
    all_issues: pd.DataFrame = field(default_factory=pd.DataFrame)  # every (index, issue)
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)  # PAIR_COLUMNS for duplicates
    proba_cached: bool = False

    @property
    def n_flagged(self) -> int:
        return int(len(self.flags))

    def counts(self) -> dict[str, int]:
        vc = self.flags["issue"].value_counts()
        return {t: int(vc.get(t, 0)) for t in ISSUE_TYPES}


# ---- out-of-sample probabilities ------------------------------------------------------------
def stratified_folds(labels: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold number (0..k-1) per sample; every class spread evenly over the folds."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    fold = np.empty(labels.shape[0], np.int64)
    start = 0
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        # Continue the round-robin where the previous class stopped, so folds stay equal-sized.
        fold[idx] = (start + np.arange(idx.size)) % k
        start = (start + idx.size) % k
    return fold


def out_of_sample_proba(images: np.ndarray, labels: np.ndarray, *, folds: int,
                        train_config: TrainConfig, tta: bool = False,
                        progress: Progress | None = None,
                        should_stop: StopFn | None = None,
                        fold_cache: FoldCache | None = None,
                        extra: tuple[np.ndarray, np.ndarray] | None = None,
                        init: dict | None = None) -> np.ndarray:
    """(N, n_classes) probabilities, each row from the fold model that did not see it;
    folds kept in `fold_cache` (core.fold_cache: resume after a stop) are not retrained.

    `tta`: average each held-out image's probabilities over one-pixel shifts of it.
    `extra`: (images, labels) added to every fold model's training set, never scored.
    `init`: the state dict every fold model starts from (fine-tuning), else random."""
    from k49desk.core.device import predict_proba, resolve_device
    from k49desk.core.training import fit

    labels = np.asarray(labels)
    fold = stratified_folds(labels, folds, getattr(train_config, "seed", 0))
    device = resolve_device(train_config.device)
    proba: np.ndarray | None = None
    for k in range(folds):
        if should_stop and should_stop():
            raise Cancelled("finding issues was stopped")
        held = np.flatnonzero(fold == k)
        train = np.flatnonzero(fold != k)
        if held.size == 0:
            continue
        kept = fold_cache.load(k, held.size) if fold_cache is not None else None
        if kept is not None:  # finished by an earlier, stopped run
            proba = np.zeros((labels.shape[0], kept.shape[1]), np.float32) if proba is None \
                else proba
            proba[held] = kept
            continue

        def on_progress(fraction: float | None, text: str, ev: TrainEvent | None = None,
                        k: int = k) -> None:
            if progress is not None and ev is not None and ev.kind == "step":
                progress((k + ev.fraction) / folds,
                         f"Fold {k + 1}/{folds}: training, epoch {ev.epoch}/{ev.epochs}", ev)

        x_train, y_train = np.asarray(images[train]), labels[train]
        if extra is not None and len(extra[1]):
            x_train = np.concatenate([x_train, np.asarray(extra[0])])
            y_train = np.concatenate([y_train, np.asarray(extra[1], y_train.dtype)])
        res = fit(train_config, x_train, y_train, val=None,
                  progress=on_progress, should_stop=should_stop, init=init)
        if res.stopped:
            raise Cancelled("finding issues was stopped")
        if progress:
            progress((k + 1) / folds, f"Fold {k + 1}/{folds}: scoring held-out images")
        # Not stopped mid-scoring: the trained fold (minutes) is kept for a resume, and
        # scoring its share takes seconds.
        p = predict_proba(res.model, np.asarray(images[held]), device=device, tta=tta)
        if fold_cache is not None:
            fold_cache.save(k, p)
        if proba is None:
            proba = np.zeros((labels.shape[0], p.shape[1]), np.float32)
        proba[held] = p
    assert proba is not None
    return proba


def _init_words(init: LoadedModel | None) -> str:
    if init is None:
        return ""
    return f", fine-tuned from {init.path.name if init.path is not None else 'a given model'}"


def _other_splits_data(ds: K49Dataset, names: list[str]
                       ) -> tuple[np.ndarray, np.ndarray] | None:
    if not names:
        return None
    parts = [ds.split(o) for o in names]
    return (np.concatenate([np.asarray(p.images) for p in parts]),
            np.concatenate([np.asarray(p.labels, np.int64) for p in parts]))


def _cache_dirs(root: Path) -> list[Path]:
    from k49desk.core.dataset import cache_dirs

    return cache_dirs(root)


def _load_cached(root: Path, name: str, n: int) -> np.ndarray | None:
    for d in _cache_dirs(root):
        path = d / name
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            continue
        if arr.ndim == 2 and arr.shape[0] == n and np.isfinite(arr).all():
            return arr
    return None


def _save_cached(root: Path, name: str, arr: np.ndarray) -> None:
    from k49desk.core.atomic import save_npy

    for d in _cache_dirs(root):
        try:
            d.mkdir(parents=True, exist_ok=True)
            save_npy(d / name, arr)
            return
        except (OSError, K49Error):
            continue  # read-only data folder: try the user cache; neither: just don't cache


# ---- label issues ---------------------------------------------------------------------------
def label_issue_count(y: np.ndarray, p: np.ndarray) -> int:
    """How many labels look wrong (see COUNT_METHOD): `y` in 0..k-1, `p` (N, k) rows summing
    to 1 over the classes present."""
    from cleanlab.count import num_label_issues

    n = round((num_label_issues(y, p, estimation_method="off_diagonal")
               + num_label_issues(y, p, estimation_method="off_diagonal_calibrated")) / 2)
    certain = int((p[np.arange(y.shape[0]), y] < CERTAIN_WRONG).sum())
    return max(int(n), certain)


def label_issues(labels: np.ndarray, proba: np.ndarray, *, filter_by: str = FILTER_BY,
                 quality_method: str = LABEL_QUALITY_METHOD
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices, quality, suggested label) of likely label errors, via cleanlab.

    Only the classes present in `labels` take part: cleanlab needs every class column to
    have examples, and a split may leave some of the 49 classes empty.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, np.int64)
    present = np.unique(labels)
    if present.size < 2:
        return np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64)
    remap = np.full(proba.shape[1], -1, np.int64)
    remap[present] = np.arange(present.size)
    p = np.asarray(proba, np.float64)[:, present]
    p = np.clip(p, 1e-12, None)
    p /= p.sum(axis=1, keepdims=True)
    y = remap[labels]
    quality = get_label_quality_scores(y, p, method=quality_method)
    if filter_by == FILTER_BY:
        n = label_issue_count(y, p)
        idx = np.sort(np.argsort(quality, kind="stable")[:n])
    else:
        mask = find_label_issues(y, p, filter_by=filter_by, n_jobs=1)
        idx = np.flatnonzero(mask)
    return idx, np.clip(quality[idx], 0.0, 1.0), present[p[idx].argmax(axis=1)]


# ---- the whole scan -------------------------------------------------------------------------
def _check(should_stop: StopFn | None) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("finding issues was stopped")


def cheap_checks(ds: K49Dataset, split: str, progress: Progress | None = None,
                 should_stop: StopFn | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(issues, pairs) for blank images, duplicates within the split and across splits."""
    s = ds.split(split)
    images = s.images
    rows: list[pd.DataFrame] = []
    pairs: list[pd.DataFrame] = []
    blank_idx, blank_q = hashing.find_blank(images, s.labels)
    rows.append(pd.DataFrame({"index": blank_idx, "issue": "blank", "quality": blank_q}))
    _check(should_stop)
    if progress:
        progress(0.3, "Looking for exact duplicates")
    groups = hashing.exact_duplicate_groups(images, exclude=blank_idx)
    # The first copy of a group stays unflagged: removing the flagged ones leaves one copy.
    dup = np.concatenate([g[1:] for g in groups]) if groups else np.empty(0, np.int64)
    first = np.concatenate([np.full(g.size - 1, g[0]) for g in groups]) if groups else dup
    rows.append(pd.DataFrame({"index": dup, "issue": "duplicate", "quality": DUPLICATE_QUALITY}))
    pairs.append(pd.DataFrame({"index": dup, "issue": "duplicate", "other_split": split,
                               "other_index": first, "similarity": 1.0}))
    others = [o for o in ds.split_names if o != split]
    for o in others:
        _check(should_stop)
        if progress:
            progress(0.5, f"Comparing {split} with {o} (exact and near duplicates)")
        other = ds.split(o)
        o_blank, _ = hashing.find_blank(other.images, other.labels)
        qi, ri, exact, sim = hashing.cross_duplicates(images, other.images,
                                                      query_exclude=blank_idx,
                                                      ref_exclude=o_blank)
        q = np.where(exact, TRAIN_TEST_EXACT_QUALITY, TRAIN_TEST_NEAR_QUALITY)
        rows.append(pd.DataFrame({"index": qi, "issue": "train_test_duplicate", "quality": q}))
        pairs.append(pd.DataFrame({"index": qi, "issue": "train_test_duplicate",
                                   "other_split": o, "other_index": ri, "similarity": sim}))
    issues = pd.concat(rows, ignore_index=True)
    pair_df = pd.concat(pairs, ignore_index=True)[list(PAIR_COLUMNS)]
    return issues, pair_df


def _assemble(ds: K49Dataset, split: str, issues: pd.DataFrame,
              proba: np.ndarray | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = np.asarray(ds.split(split).labels, np.int64)
    chars = np.array([c.char for c in ds.classes] + [""], dtype=object)
    df = issues.copy()
    df["index"] = df["index"].astype(np.int64)
    df["quality"] = df["quality"].astype(np.float64).clip(0.0, 1.0)
    if "suggested_label" not in df.columns:
        df["suggested_label"] = -1
    df["suggested_label"] = df["suggested_label"].fillna(-1).astype(np.int64)
    if proba is not None and len(df):
        present = np.unique(labels)
        best = present[proba[:, present].argmax(axis=1)]
        df["suggested_label"] = best[df["index"].to_numpy()]
    df["given_label"] = labels[df["index"].to_numpy()]
    df["given_char"] = chars[df["given_label"].to_numpy()]
    df["suggested_char"] = chars[df["suggested_label"].to_numpy()]  # -1 -> ""
    df["split"] = split
    df["_order"] = df["issue"].map({t: i for i, t in enumerate(ISSUE_TYPES)})
    df = df.sort_values(["quality", "_order", "index"], kind="stable")
    all_issues = df[list(FLAG_COLUMNS)].reset_index(drop=True)
    flags = df.drop_duplicates("index", keep="first")[list(FLAG_COLUMNS)].reset_index(drop=True)
    return flags, all_issues


def find_issues(ds: K49Dataset, split: str = "train", *, folds: int | None = None,
                train_config: TrainConfig | None = None, progress: Progress | None = None,
                should_stop: StopFn | None = None, use_cache: bool = True,
                outlier_model: LoadedModel | str | Path | None = None,
                tta: bool | None = None, device: str | None = None,
                init_model: InitModel = None) -> IssueReport:
    """Scan one split for suspects; `folds=0` skips the label check (no training), None
    picks `default_folds(n)`. With `outlier_model`, also atypical images by that model's
    embeddings (`outlier`).

    The fold models use `train_config` (default: `default_train_config(n)`), on `device`
    if given ("auto", "cpu", "cuda", "mps"; it overrides the config's); `tta` (default:
    `default_tta(n)`) averages their probabilities over shifted copies of each image.
    They start from `init_model`'s weights (None: `default_init_path(n)`, the bundled model
    for small splits; False: random; or a checkpoint path / LoadedModel).
    progress(fraction, message); should_stop() -> raise Cancelled.
    """
    t0 = time.perf_counter()
    s = ds.split(split)
    n = len(s)
    if folds is None:
        folds = default_folds(n)
    if folds == 1 or folds < 0:
        raise K49Error(f"--folds {folds}: need at least 2 folds (or 0 to skip label checks)")
    if folds > 0 and n < 2 * folds:
        raise K49Error(f"{split} split has {n} images: too few for {folds}-fold scoring")
    cheap_share = 0.08 if folds else 1.0

    def sub(lo: float, hi: float) -> Progress | None:
        return scaled(progress, lo, hi)

    if progress:
        progress(0.0, f"Checking {split} for blank and duplicate images")
    issues, pairs = cheap_checks(ds, split, sub(0.0, cheap_share), should_stop)
    proba = None
    cached = False
    method = "checks only (blank, duplicates)"
    if folds:
        # The fold models cover all classes of the class map, whatever the config says.
        init = resolve_init(ds, split, init_model, train_config)
        cfg = resolve_config(ds, split, train_config, device, init)
        use_tta = default_tta(n) if tta is None else tta
        others = other_split_names(ds, split)
        epochs = fold_epochs(cfg, n, folds, other_images(ds, split))
        name = proba_cache_name(ds, split, folds, cfg, use_tta,
                                init if init is not None else False)
        if use_cache:
            proba = _load_cached(Path(ds.root), name, n)
            cached = proba is not None
        if proba is None:
            folds_kept = FoldCache(ds.root, name) if use_cache else None
            proba = out_of_sample_proba(s.images, s.labels, folds=folds, train_config=cfg,
                                        tta=use_tta, progress=sub(cheap_share, 0.97),
                                        should_stop=should_stop, fold_cache=folds_kept,
                                        extra=_other_splits_data(ds, others),
                                        init=None if init is None else
                                        init.model.state_dict())
            if folds_kept is not None:
                _save_cached(Path(ds.root), name, proba)
                folds_kept.clear()
        _check(should_stop)
        if progress:
            progress(0.97, "Ranking label issues (confident learning)")
        idx, q, _ = label_issues(s.labels, proba)
        issues = pd.concat([pd.DataFrame({"index": idx, "issue": "label", "quality": q}),
                            issues], ignore_index=True)
        method = (f"confident learning (cleanlab {FILTER_BY}, {LABEL_QUALITY_METHOD}; count: "
                  f"{COUNT_METHOD}) on "
                  f"{folds}-fold out-of-sample probabilities ({epochs} epochs per fold"
                  f"{', shift-averaged' if use_tta else ''}"
                  f"{''.join(f', {o} images also training them' for o in others)}"
                  f"{_init_words(init)}"
                  f"{', cached' if cached else ''}); blank and duplicate checks")
    if outlier_model is not None:  # all logic in core/outliers.py
        from k49desk.core.outliers import OUTLIER_METHOD, outlier_issues

        issues = pd.concat([issues, outlier_issues(ds, split, outlier_model, sub(0.97, 1.0),
                                                   should_stop)], ignore_index=True)
        method += OUTLIER_METHOD
    flags, all_issues = _assemble(ds, split, issues, proba)
    if progress:
        progress(1.0, f"{len(flags)} suspects in {split}")
    return IssueReport(split=split, flags=flags, proba=proba, method=method,
                       elapsed_s=time.perf_counter() - t0, n_scanned=n,
                       all_issues=all_issues, pairs=pairs.reset_index(drop=True),
                       proba_cached=cached)


def write_flags_csv(flags: pd.DataFrame, path: str | Path,
                    pairs: pd.DataFrame | None = None) -> None:
    """Write the flags table atomically, with partner_split/partner_index (the copy a
    duplicate flag was found with, from IssueReport.pairs; empty for other flags); an
    unwritable path raises K49Error naming it."""
    from k49desk.core.atomic import atomic_write_text
    from k49desk.core.review_flags import attach_partners

    out = flags[list(FLAG_COLUMNS)].assign(partner_split="", partner_index=np.int64(-1))
    out = attach_partners(out, pairs)
    out["partner_index"] = out["partner_index"].where(out["partner_index"] >= 0).astype("Int64")
    atomic_write_text(path, out.to_csv(index=False, float_format="%.6g"))
