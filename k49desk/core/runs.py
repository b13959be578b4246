"""Run history: the checkpoints saved under the models folder and their metrics.

The checkpoints are the truth; `runs.json` beside them is only an index (so listing a
folder of runs does not unpickle every file each time). Which model is current is the app's
business (its settings), not this folder's.
An index entry is trusted while its file's size and mtime are unchanged; otherwise the
checkpoint's metadata is read again. Files that vanished drop out; new `*.pt` files appear.
Headless: no Qt, so the CLI and tests use it too.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k49desk.core.atomic import atomic_write_text
from k49desk.core.errors import CheckpointError, K49Error

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


@dataclass
class RunRecord:
    """One saved model as the history list shows it."""

    path: Path
    created: str = ""
    trained_on: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # non-empty when the checkpoint could not be read

    @property
    def name(self) -> str:
        return self.path.name

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


def _stat_key(p: Path) -> list[int]:
    st = p.stat()
    return [int(st.st_size), int(st.st_mtime_ns)]


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
                         error=str(e.get("error", "")))
               for name, e in fresh.items()]
    # Newest first: the ISO creation time, falling back to the file name's timestamp.
    records.sort(key=lambda r: (r.created or "", r.name), reverse=True)
    return records


def delete_run(path: str | os.PathLike[str], d: str | os.PathLike[str] | None = None) -> None:
    """Delete a run's checkpoint and forget it. The bundled default model is refused."""
    from k49desk.paths import DEFAULT_MODEL

    path = Path(path)
    if path.resolve() == DEFAULT_MODEL.resolve():
        raise CheckpointError(f"{path.name}: is the bundled default model; it is not deleted")
    folder = models_dir(d)
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be deleted ({e.strerror})") from e
    data = _load_index(folder)
    data["runs"].pop(path.name, None)
    if folder.is_dir():
        _save_index(folder, data)
