"""Run history: the checkpoints saved under the models folder and their metrics.

The checkpoints are the truth; `runs.json` beside them is only an index (so listing a
folder of runs does not unpickle every file each time). Which model is current is the app's
business (its settings), not this folder's.
An index entry is trusted while its file's size and mtime are unchanged; otherwise the
checkpoint's metadata is read again. Files that vanished drop out; new `*.pt` files appear.

Beside a checkpoint `run-X.pt` live two optional side files (never inside the checkpoint,
which is not rewritten behind the user's back):
- `run-X.curves.json`: the run's epoch history and a subsampled step-loss curve, written
  once when the run ends (`save_curves`), so its curves survive a restart (`load_curves`);
- `run-X.evals.json`: evaluations of that checkpoint on test splits, keyed by the split's
  fingerprint (`record_evaluation`, `evaluations`); dropped when the checkpoint changes.
Both are validated on reading: a damaged file raises K49Error naming it, never a traceback.
Headless: no Qt, so the CLI and tests use it too.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k49desk.core.atomic import atomic_write_text
from k49desk.core.errors import CheckpointError, K49Error
from k49desk.core.run_files import (  # noqa: F401  (re-exported: runs is the one entry point)
    CURVES_SUFFIX,
    EPOCH_FIELDS,
    EVALS_SUFFIX,
    RunCurves,
    _num,
    _stat_key,
    curves_path,
    evals_path,
    evaluations,
    evaluations_or_empty,
    load_curves,
    record_evaluation,
    save_curves,
    save_run_side_files,
)

INDEX_FILE = "runs.json"
INDEX_VERSION = 1
RUN_PREFIX = "run-"


def models_dir(d: str | os.PathLike[str] | None = None) -> Path:
    """`d`, else $K49DESK_MODELS_DIR read now (tests change it per test), else paths.MODELS_DIR."""
    if d is not None:
        return Path(d)
    env = os.environ.get("K49DESK_MODELS_DIR")
    if env:
        return Path(env)
    from k49desk.paths import MODELS_DIR

    return MODELS_DIR


def is_listed(path: str | os.PathLike[str], d: str | os.PathLike[str] | None = None) -> bool:
    """True when `path` lies in the models folder, i.e. `list_runs` shows it (so results
    recorded beside it reach the Saved runs list)."""
    try:
        return Path(path).resolve().parent == models_dir(d).resolve()
    except OSError:
        return False


@dataclass
class RunRecord:
    """One saved model as the history list shows it."""

    path: Path
    created: str = ""
    trained_on: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # non-empty when the checkpoint could not be read
    evals: dict[str, dict[str, Any]] = field(default_factory=dict)  # fingerprint -> result
    has_curves: bool = False

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_default(self) -> bool:
        return is_default_model(self.path)

    def test_result(self, fingerprint: str | None = None) -> tuple[float | None, float | None,
                                                                  str]:
        """(balanced accuracy, accuracy, where from) on a test split: the recorded evaluation
        on `fingerprint` when there is one, else the test metrics saved in the checkpoint
        (measured on the folder it was trained on), else (None, None, "")."""
        e = self.evals.get(fingerprint or "")
        if e is not None:
            return (_num(e.get("balanced_accuracy")), _num(e.get("accuracy")),
                    f"evaluated on {e.get('data_dir') or 'this folder'}'s test split")
        bal, acc = self.metric("test_balanced_accuracy"), self.metric("test_accuracy")
        if bal is None and acc is None:
            return None, None, ""
        data = self.metrics.get("data")
        where = data.get("data_dir", "") if isinstance(data, dict) else ""
        return bal, acc, f"measured at the end of training on {where or 'its folder'}'s test split"

    def metric(self, key: str) -> float | None:
        v = self.metrics.get(key)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    @property
    def epochs(self) -> int | None:
        v = self.metrics.get("epochs_completed")
        return int(v) if isinstance(v, int | float) else None

    @property
    def stopped(self) -> bool:
        return bool(self.metrics.get("stopped", False))


def new_run_path(d: str | os.PathLike[str] | None = None,
                 now: _dt.datetime | None = None) -> Path:
    """A fresh, unused `run-YYYYmmdd-HHMMSS.pt` path in the models folder (made if missing)."""
    folder = models_dir(d)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"{folder}: cannot create the models folder ({e.strerror})") from e
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    path = folder / f"{RUN_PREFIX}{stamp}.pt"
    k = 2
    while path.exists():
        path = folder / f"{RUN_PREFIX}{stamp}-{k}.pt"
        k += 1
    return path


def is_default_model(path: str | os.PathLike[str]) -> bool:
    """True for the bundled default model (never deleted, never rewritten)."""
    from k49desk.paths import DEFAULT_MODEL

    try:
        return Path(path).resolve() == DEFAULT_MODEL.resolve()
    except OSError:
        return False


def read_run_metadata(path: Path) -> dict[str, Any]:
    """Metadata of one checkpoint without building the model (weights_only load)."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises assorted types for garbage: name the file instead
        raise CheckpointError(f"{path.name}: not a readable k49desk checkpoint "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                              ) from e
    if not isinstance(obj, dict) or "model" not in obj:
        raise CheckpointError(f"{path.name}: not a k49desk checkpoint")
    return {
        "created": str(obj.get("created", "")),
        "trained_on": str(obj.get("trained_on", "")),
        "metrics": dict(obj.get("metrics") or {}),
        "train_config": dict(obj.get("train_config") or {}),
    }


def _load_index(folder: Path) -> dict[str, Any]:
    p = folder / INDEX_FILE
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"version": INDEX_VERSION, "runs": {}}
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION \
            or not isinstance(data.get("runs"), dict):
        return {"version": INDEX_VERSION, "runs": {}}
    return data


def _save_index(folder: Path, data: dict[str, Any]) -> None:
    # The index is a cache: a read-only models folder must not break listing.
    try:
        atomic_write_text(folder / INDEX_FILE, json.dumps(data, indent=1, ensure_ascii=False,
                                                          default=str) + "\n")
    except K49Error:
        pass


def list_runs(d: str | os.PathLike[str] | None = None,
              reader: Callable[[Path], dict[str, Any]] = read_run_metadata) -> list[RunRecord]:
    """Every `*.pt` in the models folder, newest first, with metrics from its card."""
    folder = models_dir(d)
    if not folder.is_dir():
        return []
    data = _load_index(folder)
    old: dict[str, Any] = data["runs"]
    fresh: dict[str, Any] = {}
    changed = False
    for p in sorted(folder.glob("*.pt")):
        if not p.is_file():
            continue
        try:
            key = _stat_key(p)
        except OSError:
            continue
        entry = old.get(p.name)
        if not isinstance(entry, dict) or entry.get("stat") != key:
            try:
                meta = reader(p)
                entry = {"stat": key, **meta}
            except K49Error as e:
                entry = {"stat": key, "error": str(e)}
            changed = True
        fresh[p.name] = entry
    if changed or set(fresh) != set(old) or "current" in data:
        _save_index(folder, {"version": INDEX_VERSION, "runs": fresh})
    records = [RunRecord(path=folder / name, created=str(e.get("created", "")),
                         trained_on=str(e.get("trained_on", "")),
                         metrics=dict(e.get("metrics") or {}),
                         train_config=dict(e.get("train_config") or {}),
                         error=str(e.get("error", "")),
                         evals=evaluations_or_empty(folder / name),
                         has_curves=curves_path(folder / name).is_file())
               for name, e in fresh.items()]
    # Newest first: the ISO creation time, falling back to the file name's timestamp.
    records.sort(key=lambda r: (r.created or "", r.name), reverse=True)
    return records


def delete_run(path: str | os.PathLike[str], d: str | os.PathLike[str] | None = None) -> None:
    """Delete a run's checkpoint and its side files, and forget it. The bundled default
    model is refused."""
    path = Path(path)
    if is_default_model(path):
        raise CheckpointError(f"{path.name}: is the bundled default model; it is not deleted")
    folder = models_dir(d)
    for p in (path, curves_path(path), evals_path(path)):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise CheckpointError(f"{p}: cannot be deleted ({e.strerror})") from e
    data = _load_index(folder)
    data["runs"].pop(path.name, None)
    if folder.is_dir():
        _save_index(folder, data)


def settings_diff(records: Sequence[RunRecord],
                  only_differing: bool = True) -> list[tuple[str, list[Any]]]:
    """(setting, value per run) for the runs' training settings and data, in a stable order;
    with `only_differing`, just the rows where the runs disagree."""
    def flat(rec: RunRecord) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in rec.train_config.items():
            if isinstance(v, dict):
                out.update({f"{k}.{kk}": vv for kk, vv in v.items()})
            else:
                out[k] = v
        data = rec.metrics.get("data")
        if isinstance(data, dict):
            out.update({f"data.{k}": v for k, v in data.items()})
        out["epochs completed"] = rec.epochs
        out["stopped"] = rec.stopped
        return out

    flats = [flat(r) for r in records]
    keys: list[str] = []
    for f in flats:
        keys += [k for k in f if k not in keys]
    rows = [(k, [f.get(k) for f in flats]) for k in keys]
    if only_differing:
        rows = [(k, vs) for k, vs in rows
                if len({json.dumps(v, sort_keys=True, default=str) for v in vs}) > 1]
    return rows
