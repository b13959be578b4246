"""A run's side files beside its checkpoint `run-X.pt` (see `runs`, which re-exports these).

- `run-X.curves.json`: the epoch history and a subsampled step-loss curve, written once when
  the run ends (`save_curves`), read back after a restart (`load_curves`);
- `run-X.evals.json`: evaluations of that checkpoint on test splits, keyed by the split's
  fingerprint (`record_evaluation`, `evaluations`); dropped when the checkpoint changes.

The checkpoint itself is never rewritten. Writes are atomic; reading validates sizes, types
and lengths, and a damaged file raises K49Error naming it. Headless (no Qt, no torch).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k49desk.core.atomic import atomic_write_text
from k49desk.core.errors import K49Error

CURVES_SUFFIX = ".curves.json"
EVALS_SUFFIX = ".evals.json"
CURVES_VERSION = 1
EVALS_VERSION = 1
MAX_CURVE_POINTS = 2000  # step-loss points kept per run (bucket means beyond that)
MAX_SIDE_FILE_BYTES = 8 << 20  # a side file claiming more is not a file k49desk wrote
_evals_lock = threading.Lock()  # record_evaluation is read-modify-write


def _num(v: Any) -> float | None:
    """A finite number as float, else None (JSON has no NaN)."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _stat_key(p: Path) -> list[int]:
    st = p.stat()
    return [int(st.st_size), int(st.st_mtime_ns)]


def _side(checkpoint: str | os.PathLike[str], suffix: str) -> Path:
    p = Path(checkpoint)
    return p.with_name(p.stem + suffix)


def curves_path(checkpoint: str | os.PathLike[str]) -> Path:
    """`run-X.pt` -> `run-X.curves.json` beside it."""
    return _side(checkpoint, CURVES_SUFFIX)


def evals_path(checkpoint: str | os.PathLike[str]) -> Path:
    """`run-X.pt` -> `run-X.evals.json` beside it."""
    return _side(checkpoint, EVALS_SUFFIX)


def _read_side(path: Path, what: str) -> dict[str, Any]:
    """A side file's JSON object; K49Error naming the file when it is damaged."""
    try:
        size = path.stat().st_size
        if size > MAX_SIDE_FILE_BYTES:
            raise K49Error(f"{path.name}: damaged {what} file ({size:,d} bytes, more than "
                           f"k49desk ever writes)")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise K49Error(f"{path.name}: cannot read the {what} file ({e.strerror or e})") from e
    except ValueError as e:  # JSON or UTF-8
        raise K49Error(f"{path.name}: damaged {what} file (not JSON: {e})") from e
    if not isinstance(data, dict):
        raise K49Error(f"{path.name}: damaged {what} file (not a JSON object)")
    return data


def _write_side(path: Path, data: dict[str, Any]) -> None:
    # allow_nan=False: NaN is not JSON; callers turn it into null first.
    atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False)
                      + "\n")


def _floats(values: Any, path: Path, what: str) -> list[float]:
    """A JSON list of numbers or nulls -> floats (NaN for null); K49Error otherwise."""
    if not isinstance(values, list):
        raise K49Error(f"{path.name}: damaged curves file ({what} is not a list)")
    out = []
    for v in values:
        if v is None:
            out.append(math.nan)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out.append(float(v))
        else:
            raise K49Error(f"{path.name}: damaged curves file ({what} holds {v!r})")
    return out


EPOCH_FIELDS = ("x", "train_loss", "train_accuracy", "val_loss", "val_balanced_accuracy",
                "val_accuracy", "images_per_s")


@dataclass
class RunCurves:
    """A finished run's curves: one point per completed epoch, the step loss subsampled.

    x is in epochs (1.0 = end of the first epoch); missing values are NaN."""

    epochs: dict[str, list[float]]  # EPOCH_FIELDS -> one value per completed epoch
    step_x: list[float]
    step_loss: list[float]
    epochs_planned: int = 0
    stopped: bool = False
    step_every: int = 1  # each step point is the mean of this many batches

    @property
    def epochs_completed(self) -> int:
        return len(self.epochs.get("x", []))


def _bucket_means(x: Sequence[float], y: Sequence[float],
                  max_points: int) -> tuple[list[float], list[float], int]:
    import numpy as np

    xa, ya = np.asarray(x, np.float64), np.asarray(y, np.float64)
    k = max(1, -(-len(xa) // max(1, max_points)))
    if k == 1:
        return xa.tolist(), ya.tolist(), 1
    n = len(xa) // k * k
    xs = [float(v) for v in xa[:n].reshape(-1, k).mean(1)]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN bucket
        ys = [float(v) for v in np.nanmean(ya[:n].reshape(-1, k), 1)]
    if n < len(xa):  # the last, shorter bucket
        xs.append(float(xa[n:].mean()))
        tail = ya[n:][np.isfinite(ya[n:])]
        ys.append(float(tail.mean()) if len(tail) else math.nan)
    return xs, ys, k


def save_curves(checkpoint: str | os.PathLike[str], history: Iterable[Any], *,
                epochs_planned: int | None = None, stopped: bool = False,
                max_points: int = MAX_CURVE_POINTS) -> Path:
    """Write `<checkpoint stem>.curves.json` (atomically) from a run's `TrainEvent`s.

    Only what the kept checkpoint saw is written: the steps up to its last completed epoch
    (a stopped run's half epoch was dropped from the weights, so from the curves too). The
    step loss is each batch's own loss (`batch_loss`, else the running mean), reduced to at
    most `max_points` bucket means. Call it when a run ends (the GUI's training process
    does; so can the CLI). Returns the path written.
    """
    evs = list(history)
    ep = [e for e in evs if e.kind == "epoch"]
    last_step = ep[-1].global_step if ep else 0
    xs, ys = [], []
    for e in evs:
        if e.kind == "step" and e.global_step <= last_step:
            spe = max(int(e.steps_per_epoch or 0), 1)
            xs.append(e.global_step / spe)
            bl = getattr(e, "batch_loss", None)
            v = _num(e.loss if bl is None else bl)
            ys.append(math.nan if v is None else v)
    sx, sy, every = _bucket_means(xs, ys, max_points)
    epochs: dict[str, list[float | None]] = {k: [] for k in EPOCH_FIELDS}
    for e in ep:
        spe = max(int(e.steps_per_epoch or 0), 1)
        vals = (e.global_step / spe, e.loss, e.acc, e.val_loss, e.val_balanced_accuracy,
                e.val_accuracy, e.images_per_s)
        for k, v in zip(EPOCH_FIELDS, vals, strict=True):
            epochs[k].append(_num(v))
    planned = epochs_planned if epochs_planned is not None else (ep[-1].epochs if ep else 0)
    out = curves_path(checkpoint)
    _write_side(out, {
        "version": CURVES_VERSION, "checkpoint": Path(checkpoint).name,
        "epochs_planned": int(planned), "stopped": bool(stopped), "step_every": every,
        "epochs": epochs,
        "steps": {"x": [_num(v) for v in sx], "loss": [_num(v) for v in sy]},
    })
    return out


def load_curves(checkpoint: str | os.PathLike[str]) -> RunCurves:
    """The curves saved beside `checkpoint`. K49Error naming the file when it is missing or
    damaged (wrong version, wrong types, lists of different lengths)."""
    path = curves_path(checkpoint)
    if not path.is_file():
        raise K49Error(f"{path.name}: no saved curves for {Path(checkpoint).name} (runs "
                       "trained before curves were saved have none)")
    d = _read_side(path, "curves")
    if d.get("version") != CURVES_VERSION:
        raise K49Error(f"{path.name}: damaged curves file (version {d.get('version')!r}, "
                       f"expected {CURVES_VERSION})")
    raw_epochs, steps = d.get("epochs"), d.get("steps")
    if not isinstance(raw_epochs, dict) or not isinstance(steps, dict):
        raise K49Error(f"{path.name}: damaged curves file (epochs/steps missing)")
    epochs = {k: _floats(raw_epochs.get(k, []), path, f"epochs.{k}") for k in EPOCH_FIELDS}
    n = len(epochs["x"])
    bad = [k for k, v in epochs.items() if len(v) != n]
    if bad:
        raise K49Error(f"{path.name}: damaged curves file (epochs.{bad[0]} has "
                       f"{len(epochs[bad[0]])} values for {n} epochs)")
    sx, sy = _floats(steps.get("x"), path, "steps.x"), _floats(steps.get("loss"), path,
                                                                "steps.loss")
    if len(sx) != len(sy):
        raise K49Error(f"{path.name}: damaged curves file ({len(sx)} step positions for "
                       f"{len(sy)} losses)")
    planned, every = d.get("epochs_planned", 0), d.get("step_every", 1)
    if not isinstance(planned, int) or not isinstance(every, int) or every < 1:
        raise K49Error(f"{path.name}: damaged curves file (epochs_planned/step_every)")
    return RunCurves(epochs=epochs, step_x=sx, step_loss=sy, epochs_planned=planned,
                     stopped=bool(d.get("stopped", False)), step_every=every)


def record_evaluation(checkpoint: str | os.PathLike[str], fingerprint: str, *,
                      balanced_accuracy: float, accuracy: float, n: int,
                      data_dir: str = "", split: str = "test") -> None:
    """Remember an evaluation of `checkpoint` on the split whose fingerprint is given, in
    `<stem>.evals.json` (atomic). The checkpoint itself is never rewritten. Results recorded
    for an older version of the checkpoint (other size or mtime) are dropped."""
    ck = Path(checkpoint)
    with _evals_lock:
        key = _stat_key(ck)
        try:
            old = evaluations(ck)
        except K49Error:  # a damaged file is replaced by a good one
            old = {}
        old[str(fingerprint)] = {
            "balanced_accuracy": _num(balanced_accuracy), "accuracy": _num(accuracy),
            "n": int(n), "data_dir": str(data_dir), "split": split,
            "when": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
        _write_side(evals_path(ck), {"version": EVALS_VERSION, "checkpoint_stat": key,
                                     "evals": old})


def evaluations(checkpoint: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Recorded evaluations of `checkpoint` by split fingerprint ({} when none or when the
    checkpoint changed since). K49Error naming the file when it is damaged."""
    ck = Path(checkpoint)
    path = evals_path(ck)
    if not path.is_file():
        return {}
    d = _read_side(path, "evaluations")
    evals = d.get("evals")
    if d.get("version") != EVALS_VERSION or not isinstance(evals, dict) or not all(
            isinstance(v, dict) for v in evals.values()):
        raise K49Error(f"{path.name}: damaged evaluations file (unexpected layout)")
    try:
        if d.get("checkpoint_stat") != _stat_key(ck):
            return {}  # recorded for another version of the checkpoint
    except OSError:
        return {}
    return {str(k): v for k, v in evals.items()}


def evaluations_or_empty(checkpoint: Path) -> dict[str, dict[str, Any]]:
    """`evaluations`, with {} for a damaged file (listing runs must not fail on one)."""
    try:
        return evaluations(checkpoint)
    except K49Error:
        return {}


def save_run_side_files(checkpoint: str | os.PathLike[str], result: Any,
                        epochs_planned: int | None = None,
                        test: tuple[str, str] | None = None) -> list[str]:
    """When a run ends (`train_folder` returned `result`): write its curves beside the
    checkpoint and, when it measured a test result, record it under the test split's
    fingerprint (`test` = (fingerprint, data folder)). Returns warnings instead of raising:
    a side file that cannot be written must not fail a run whose checkpoint is saved.
    The GUI's training process calls it; the CLI can too."""
    out: list[str] = []
    try:
        save_curves(checkpoint, result.history, epochs_planned=epochs_planned,
                    stopped=bool(result.stopped))
    except (K49Error, OSError) as e:
        out.append(f"curves not saved: {e}")
    m = getattr(result, "metrics", None) or {}
    if test is not None and _num(m.get("test_accuracy")) is not None:
        try:
            record_evaluation(checkpoint, test[0],
                              balanced_accuracy=m.get("test_balanced_accuracy"),
                              accuracy=m["test_accuracy"], n=int(m.get("test_n") or 0),
                              data_dir=test[1])
        except (K49Error, OSError) as e:
            out.append(f"test result not recorded: {e}")
    return out
