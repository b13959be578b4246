"""Safe checkpoints (weights_only load, clear errors) and the loaded model; the CNN and its
frozen config live in net.py (re-exported here).

A checkpoint is a plain dict that `torch.load(..., weights_only=True)` accepts:
`{"format": "k49desk-checkpoint", "version": 1, "model": state_dict, "config": asdict(cfg),
"classes": [[index, codepoint, char, romaji], ...], "metrics": {...}, "trained_on": str,
"created": ISO str, "train_config": {...}}`. Only tensors, str, int, float, bool, None,
lists and dicts: nothing that needs pickle's code execution.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from k49desk.core.atomic import atomic_write_bytes
from k49desk.core.classes import N_CLASSES, OFFICIAL_CLASSES, ClassInfo
from k49desk.core.errors import CheckpointError
from k49desk.core.net import (  # noqa: F401  (re-exported: callers import them from here)
    K49Net,
    ModelConfig,
    build_model,
)

CHECKPOINT_FORMAT = "k49desk-checkpoint"
CHECKPOINT_VERSION = 1
_REQUIRED_KEYS = ("model", "config", "classes")


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    arr = np.ascontiguousarray(images, dtype=np.uint8)
    if not arr.flags.writeable:  # read-only memmap: torch wants memory it may write
        arr = arr.copy()
    t = torch.from_numpy(arr)
    return t.unsqueeze(1).float().div_(255.0)


@dataclass
class LoadedModel:
    model: nn.Module  # eval mode, on the CPU
    config: ModelConfig
    classes: tuple[ClassInfo, ...] = OFFICIAL_CLASSES
    metrics: dict = field(default_factory=dict)
    trained_on: str = ""
    created: str = ""
    path: Path | None = None
    train_config: dict = field(default_factory=dict)
    activation_bytes: int = 0  # float32 bytes of all layer outputs for one image (estimate)

    def batch_size_for(self, wanted: int = 1024) -> int:
        """`wanted`, reduced so one batch's activations stay within ACTIVATION_BUDGET_BYTES
        (a wide model from an untrusted checkpoint must not take gigabytes per batch)."""
        from k49desk.core.model_checks import ACTIVATION_BUDGET_BYTES

        if self.activation_bytes <= 0:
            return max(1, wanted)
        return max(1, min(wanted, ACTIVATION_BUDGET_BYTES // self.activation_bytes))

    @property
    def is_demo(self) -> bool:
        """Trained on generated demo data (not K49): the one place this rule lives."""
        data = self.metrics.get("data") if isinstance(self.metrics, dict) else None
        if isinstance(data, dict) and "is_demo" in data:
            return bool(data["is_demo"])
        return "not k49" in str(self.trained_on).lower()

    @property
    def caution(self) -> str | None:
        """One sentence a person should read before trusting the model on real Kuzushiji
        (None: trained on real data only)."""
        if self.is_demo:
            return ("Trained on generated data, not on K49: real kuzushiji will be "
                    "recognised less well.")
        data = self.metrics.get("data") if isinstance(self.metrics, dict) else None
        if isinstance(data, dict) and data.get("mixed_demo_and_real"):
            real = data.get("real_per_class")
            n = sum(1 for v in real if v) if isinstance(real, list) else None
            some = f"{n} classes" if n else "some classes"
            return (f"Has read real Kuzushiji of {some} only; the others were learnt from "
                    "generated images and are recognised less well on real ones.")
        return None

    @property
    def headline_metric(self) -> tuple[str, float] | None:
        """("test" | "val", balanced accuracy) from the checkpoint's metrics, test first."""
        for key, what in (("test_balanced_accuracy", "test"), ("val_balanced_accuracy", "val")):
            v = self.metrics.get(key) if isinstance(self.metrics, dict) else None
            if isinstance(v, int | float) and v == v:
                return what, float(v)
        return None

    def summary(self) -> str:
        """One line: 'name · trained on X · balanced accuracy 99.1% (test)'."""
        parts = [self.path.name if self.path is not None else "unsaved model"]
        data = self.metrics.get("data") if isinstance(self.metrics, dict) else None
        heldout = self.metrics.get("heldout") if isinstance(self.metrics, dict) else None
        real = heldout.get("all held-out real") if isinstance(heldout, dict) else None
        if isinstance(data, dict) and data.get("mixed_demo_and_real") and isinstance(real, dict):
            # the shipped default: its one figure that speaks of real Kuzushiji
            parts += ["trained on generated + real Kuzushiji images",
                      f"balanced accuracy {float(real['balanced_accuracy']):.1%} on held-out "
                      "real images"]
            return " · ".join(parts)
        if isinstance(data, dict) and data.get("data_dir"):
            parts.append(f"trained on {Path(str(data['data_dir'])).name}")
        elif self.trained_on:
            parts.append(f"trained on {Path(self.trained_on.split(' (')[0]).name}")
        head = self.headline_metric
        if head is not None:
            parts.append(f"balanced accuracy {head[1]:.1%} ({head[0]})")
        return " · ".join(parts)

    def card(self) -> dict[str, str]:
        """Human-readable fields for a model card (GUI and CLI)."""
        n_params = sum(p.numel() for p in self.model.parameters())
        card = {
            "File": str(self.path) if self.path else "(not saved)",
            "Created": self.created or "unknown",
            "Trained on": self.trained_on or "unknown",
            "Architecture": (f"CNN {'-'.join(map(str, self.config.channels))}, "
                             f"{n_params:,d} parameters, {self.config.n_classes} classes"),
        }
        for key, label in (("val_balanced_accuracy", "Validation balanced accuracy"),
                           ("test_balanced_accuracy", "Test balanced accuracy"),
                           ("test_accuracy", "Test accuracy")):
            v = self.metrics.get(key)
            if isinstance(v, int | float):
                card[label] = f"{v:.2%}"
        if self.is_demo:
            card["Note"] = ("trained on generated demo data, not on K49: the scores above are "
                            "on demo images; expect much less on real Kuzushiji")
        if isinstance(self.metrics.get("note"), str) and self.metrics["note"]:
            card["Note"] = self.metrics["note"]
        if "epochs_completed" in self.metrics:
            card["Epochs"] = str(self.metrics["epochs_completed"])
        tc = self.train_config
        if tc:
            card["Training"] = (f"epochs {tc.get('epochs')}, batch {tc.get('batch_size')}, "
                                f"lr {tc.get('lr')}, imbalance {tc.get('imbalance')}, "
                                f"augment {tc.get('augment')}, seed {tc.get('seed')}")
        return card

    @torch.inference_mode()
    def predict_proba(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """uint8 (N, 28, 28) -> float32 (N, n_classes) softmax probabilities."""
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        self.model.eval()
        batch_size = self.batch_size_for(batch_size)
        out = np.empty((images.shape[0], self.config.n_classes), np.float32)
        for s in range(0, images.shape[0], batch_size):
            x = images_to_tensor(images[s:s + batch_size])
            out[s:s + batch_size] = torch.softmax(self.model(x), 1).numpy()
        return out


def _plain(obj: Any) -> Any:
    """Numbers from numpy/torch -> Python, so the checkpoint stays weights_only-loadable."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return str(obj)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, cfg: ModelConfig,
                    classes: Sequence[ClassInfo], *, metrics: dict, trained_on: str,
                    train_config: dict, created: str | None = None) -> None:
    """Write a weights_only-loadable checkpoint atomically (CheckpointError on failure)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": state,
        "config": _plain(asdict(cfg)),
        "classes": [[c.index, c.codepoint, c.char, c.romaji] for c in classes],
        "metrics": _plain(metrics),
        "trained_on": str(trained_on),
        "created": created or now_iso(),
        "train_config": _plain(train_config),
    }
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    path = Path(path)
    if not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CheckpointError(f"{path.parent}: cannot create the folder ({e.strerror})") from e
    atomic_write_bytes(path, buf.getvalue(), error=CheckpointError)
    # mkstemp made the file 0600; a model is meant to be shared like any document.
    # (Not umask-based: reading the umask means setting it, which races with other threads.)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o644)


def _read(path: Path) -> dict:
    from k49desk.core.limits import MAX_CHECKPOINT_BYTES, open_regular
    from k49desk.core.model_checks import check_checkpoint_zip, torch_load_checked

    name = path.name
    with open_regular(path, CheckpointError, what="model file",
                      max_bytes=MAX_CHECKPOINT_BYTES) as f:
        check_checkpoint_zip(f, name)
        obj = torch_load_checked(f, name)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{name}: not a k49desk checkpoint (holds a {type(obj).__name__}, "
                              "not a dict)")
    return obj


def load_checkpoint(path: str | os.PathLike[str]) -> LoadedModel:
    """Load a checkpoint safely; CheckpointError names the file and what is wrong.

    Nothing is built before the config passed its limits and the weights matched the
    shapes it implies (see k49desk.core.model_checks); NaN/inf weights are refused.
    """
    from k49desk.core import model_checks as mc

    path = Path(path)
    name = path.name
    ckpt = _read(path)
    missing = [k for k in _REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{name}: not a complete k49desk checkpoint (missing keys: "
                              f"{', '.join(missing)})")
    fmt, version = ckpt.get("format", CHECKPOINT_FORMAT), ckpt.get("version", CHECKPOINT_VERSION)
    if fmt != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{name}: format {fmt!r:.60} is not {CHECKPOINT_FORMAT}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{name}: checkpoint version {version!r:.40} is not a version")
    if version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{name}: checkpoint version {version} is newer than this "
                              f"k49desk reads ({CHECKPOINT_VERSION}); update k49desk")
    if not isinstance(ckpt["config"], dict):
        raise CheckpointError(f"{name}: bad model config (a {type(ckpt['config']).__name__}, "
                              "not a dict)")
    try:
        cfg = ModelConfig.from_dict(dict(ckpt["config"]))
        mc.check_config_limits(cfg)
    except (TypeError, ValueError, OverflowError) as e:
        raise CheckpointError(f"{name}: bad model config ({str(e)[:200]})") from e
    try:
        entries = ckpt["classes"]
        n_list = len(entries) if isinstance(entries, list | tuple) else 0
        if cfg.n_classes != N_CLASSES or n_list != N_CLASSES:
            raise ValueError(f"model has {cfg.n_classes} classes and a class list of "
                             f"{n_list}, expected {N_CLASSES} (K49)")
        classes = mc.check_classes(entries)
        state = ckpt["model"]
        mc.check_state_dict_matches(cfg, state)
        mc.check_weights_finite(state)
        meta = mc.check_metadata(ckpt)
    except ValueError as e:
        raise CheckpointError(f"{name}: {e}") from e
    try:
        model = build_model(cfg)
        model.load_state_dict(state, strict=True)
    except Exception as e:
        first = str(e).splitlines()
        detail = " ".join(s.strip() for s in first[:3])[:300]
        raise CheckpointError(f"{name}: weights do not match the model config "
                              f"(state_dict mismatch: {detail})") from e
    model.eval()
    return LoadedModel(
        model=model, config=cfg, classes=classes, metrics=meta["metrics"],
        trained_on=meta["trained_on"], created=meta["created"], path=path,
        train_config=meta["train_config"],
        activation_bytes=mc.activation_bytes_per_image(mc.meta_model(cfg)),
    )
