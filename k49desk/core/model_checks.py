"""Checks a checkpoint must pass before a model is built from it.

A checkpoint is a claim: its config could ask for a 2,000,000-unit layer (9 GB) from a
630 KB file, its weights could be NaN, its metadata any type. `load_checkpoint` runs these
in order: config limits (before anything is built), the state dict against the shapes the
config implies (computed on torch's "meta" device, which allocates nothing), finite
weights, then the class list and metadata. Each raises ValueError with the reason; the
caller adds the file name.
"""

from __future__ import annotations

import math
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, BinaryIO

import torch
from torch import nn

from k49desk.core import limits
from k49desk.core.classes import N_CLASSES, ClassInfo, check_class_entry
from k49desk.core.errors import CheckpointError
from k49desk.core.net import build_model

# Per-field bounds of ModelConfig; fields added later get the generic bounds below.
CONFIG_LIMITS: dict[str, tuple[float, float]] = {
    "n_classes": (1, 4096),  # load_checkpoint then requires exactly 49
    "channels": (1, 512),  # per stage
    "convs_per_stage": (1, 8),
    "dropout": (0.0, 0.99),
    "pool": (1, 14),
    "hidden": (0, 4096),
}
MAX_STAGES = 8
GENERIC_INT = (0, 4096)
GENERIC_FLOAT = (0.0, 1000.0)
MAX_PARAMS = 64_000_000  # 256 MB of float32, the checkpoint size limit
# Activations of one image, summed over all layers: the batch size is chosen from this.
MAX_ACTIVATION_BYTES_PER_IMAGE = 64 << 20
ACTIVATION_BUDGET_BYTES = 256 << 20


def _check_number(name: str, v: Any, lo: float, hi: float) -> None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"config {name} = {v!r:.40} is not a number")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"config {name} = {v} is not finite")
    if not lo <= v <= hi:
        raise ValueError(f"config {name} = {v} is outside {lo:g}..{hi:g}")


def check_config_limits(cfg: Any) -> None:
    """Every field of a ModelConfig within sane bounds, before anything is built."""
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, tuple | list):
            if not 1 <= len(v) <= MAX_STAGES:
                raise ValueError(f"config {f.name} has {len(v)} entries (allowed 1..{MAX_STAGES})")
            lo, hi = CONFIG_LIMITS.get(f.name, GENERIC_INT)
            for x in v:
                _check_number(f.name, x, lo, hi)
                if not isinstance(x, int):
                    raise ValueError(f"config {f.name} holds {x!r}, not a whole number")
        elif f.name in CONFIG_LIMITS:
            lo, hi = CONFIG_LIMITS[f.name]
            _check_number(f.name, v, lo, hi)
        elif isinstance(v, str):
            if len(v) > 64:
                raise ValueError(f"config {f.name} is a {len(v)}-character string")
        elif isinstance(v, bool) or v is None:
            continue
        else:
            default = GENERIC_FLOAT if isinstance(v, float) else GENERIC_INT
            lo, hi = CONFIG_LIMITS.get(f.name, default)
            _check_number(f.name, v, lo, hi)


def meta_model(cfg: Any) -> nn.Module:
    """The model a config describes, on the meta device: shapes only, no memory."""
    with torch.device("meta"):
        return build_model(cfg)


def check_state_dict_matches(cfg: Any, state: Any) -> None:
    """The checkpoint's tensors have exactly the keys, shapes and kinds the config implies."""
    if not isinstance(state, Mapping):
        raise ValueError("'model' is not a state_dict")
    expected = meta_model(cfg).state_dict()
    n_params = sum(t.numel() for t in expected.values())
    if n_params > MAX_PARAMS:
        raise ValueError(f"the config implies {n_params:,d} weights, over the "
                         f"{MAX_PARAMS:,d} limit")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"state_dict entry {str(bad[0])[:60]!r} is not a tensor")
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}")
        if extra:
            parts.append(f"unexpected {', '.join(str(k)[:60] for k in extra[:3])}")
        raise ValueError(f"weights do not match the model config (state_dict mismatch: "
                         f"{'; '.join(parts)})")
    for k, want in expected.items():
        got = state[k]
        if tuple(got.shape) != tuple(want.shape):
            raise ValueError(f"weights do not match the model config (state_dict mismatch: "
                             f"{k} has shape "
                             f"{tuple(got.shape)}, the config implies {tuple(want.shape)})")
        if got.is_floating_point() != want.is_floating_point() or got.is_sparse:
            raise ValueError(f"weights do not match the model config (state_dict mismatch: "
                             f"{k} is {got.dtype}, "
                             f"expected {want.dtype})")


def check_weights_finite(state: Mapping[str, torch.Tensor]) -> None:
    """No NaN or infinity in any floating-point weight or buffer."""
    for k, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"weights hold NaN or infinite values ({k}); the model is broken "
                             "(its training diverged?) and is refused")


def activation_bytes_per_image(model_on_meta: nn.Module) -> int:
    """Float32 bytes of all layer outputs for one image (0 if it cannot be estimated)."""
    total = 0

    def hook(_m: nn.Module, _i: object, out: object) -> None:
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out.numel() * 4

    handles = [m.register_forward_hook(hook) for m in model_on_meta.modules()
               if not list(m.children())]
    try:
        with torch.no_grad():
            model_on_meta.eval()(torch.empty(1, 1, 28, 28, device="meta"))
    except Exception:  # an op without a meta kernel: no estimate, the default batch is used
        return 0
    finally:
        for h in handles:
            h.remove()
    return total


def check_classes(entries: Any) -> tuple[ClassInfo, ...]:
    """[[index, codepoint, char, romaji], ...] -> ClassInfo, each field checked."""
    if not isinstance(entries, list | tuple):
        raise ValueError(f"the class list is a {type(entries).__name__}, not a list")
    if len(entries) != N_CLASSES:
        raise ValueError(f"a class list of {len(entries)}, expected {N_CLASSES} (K49)")
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, list | tuple) or len(e) != 4:
            raise ValueError(f"class entry {i} is not [index, codepoint, char, romaji]")
        idx, cp, ch, ro = e
        if isinstance(idx, bool) or not isinstance(idx, int) or idx != i:
            raise ValueError(f"class entry {i} has index {idx!r:.20}, expected {i}")
        if not all(isinstance(x, str) for x in (cp, ch, ro)):
            raise ValueError(f"class entry {i} holds a non-text codepoint, char or romaji")
        problem = check_class_entry(cp, ch)
        if problem:
            raise ValueError(f"class entry {i}: {problem}")
        if not 1 <= len(ro) <= 16 or not ro.isprintable():
            raise ValueError(f"class entry {i}: romaji {ro[:20]!r} is not 1-16 printable "
                             "characters")
        out.append(ClassInfo(idx, cp.upper(), ch, ro))
    return tuple(out)


def _plain_json(obj: Any, what: str, budget: list[int], depth: int = 0) -> Any:
    """A bounded copy of JSON-like data: non-finite floats become None; anything else (or
    too deep, too many items, too long a string) raises ValueError."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"checkpoint metadata '{what}' is too large "
                         f"(over {limits.MAX_METADATA_ITEMS:,d} values)")
    if depth > limits.MAX_METADATA_DEPTH:
        raise ValueError(f"checkpoint metadata '{what}' is nested too deeply")
    if obj is None or isinstance(obj, bool | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, str):
        if len(obj) > limits.MAX_METADATA_STRING:
            raise ValueError(f"checkpoint metadata '{what}' holds a {len(obj):,d}-character "
                             "string")
        return obj
    if isinstance(obj, list | tuple):
        return [_plain_json(v, what, budget, depth + 1) for v in obj]
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ValueError(f"checkpoint metadata '{what}' has a non-text key")
            out[_plain_json(k, what, budget, depth + 1)] = _plain_json(v, what, budget, depth + 1)
        return out
    raise ValueError(f"checkpoint metadata '{what}' holds a {type(obj).__name__}")


def check_metadata(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """metrics and train_config: dicts (or absent); trained_on and created: text (or absent).

    Returns them cleaned (bounded, finite); a wrong type raises ValueError naming the key.
    """
    out: dict[str, Any] = {}
    for key, kind in (("metrics", dict), ("train_config", dict), ("trained_on", str),
                      ("created", str)):
        v = ckpt.get(key)
        if v is None:
            out[key] = kind()
            continue
        if not isinstance(v, kind):
            shown = f" ({v!r:.40})" if isinstance(v, int | float | str) else ""
            raise ValueError(f"checkpoint metadata '{key}' must be a "
                             f"{'dict' if kind is dict else 'string'}, found "
                             f"{type(v).__name__}{shown}")
        out[key] = _plain_json(v, key, [limits.MAX_METADATA_ITEMS])
    return out


# ---- the file itself -----------------------------------------------------------------
def check_checkpoint_zip(f: BinaryIO, name: str) -> None:
    """torch.save writes a zip; a cut-off one makes torch fail with vague errors (EINVAL),
    and a non-zip goes to torch's legacy loader, which allocates what the file claims. So
    look at the archive first: zip only, its members' sizes bounded, CRCs intact."""
    from k49desk.core.limits import (
        MAX_CHECKPOINT_INFLATED_BYTES,
        MAX_CHECKPOINT_MEMBERS,
        format_size,
        zip_entry_count,
    )

    try:
        head = f.read(4)
        f.seek(0)
        if head != b"PK\x03\x04":
            if not head:
                raise CheckpointError(f"{name}: the file is empty (0 bytes)")
            if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
                raise CheckpointError(f"{name}: holds pickled Python objects in torch's legacy "
                                      "format, not a zip checkpoint; k49desk refuses it")
            raise CheckpointError(f"{name}: not a k49desk checkpoint (not a zip archive as "
                                  "torch.save writes)")
        claimed = zip_entry_count(f)
        if claimed is not None and claimed > MAX_CHECKPOINT_MEMBERS:
            raise CheckpointError(f"{name}: holds {claimed:,d} zip entries, over the "
                                  f"{MAX_CHECKPOINT_MEMBERS:,d} a model file may have")
        with zipfile.ZipFile(f) as z:
            total = sum(i.file_size for i in z.infolist())
            if total > MAX_CHECKPOINT_INFLATED_BYTES:
                raise CheckpointError(f"{name}: its members claim {format_size(total)}, over "
                                      f"the {format_size(MAX_CHECKPOINT_INFLATED_BYTES)} limit")
            # torch.save stores every member uncompressed: growth on inflating is a bomb.
            grown = sum(max(0, i.file_size - i.compress_size) for i in z.infolist())
            if grown > limits.MAX_CHECKPOINT_INFLATE_GROWTH:
                raise CheckpointError(
                    f"{name}: its compressed members inflate by {format_size(grown)}, over the "
                    f"{format_size(limits.MAX_CHECKPOINT_INFLATE_GROWTH)} allowed (torch.save "
                    "stores them uncompressed); refused as a decompression bomb")
            bad = z.testzip()
    except CheckpointError:
        raise
    except OSError as e:
        raise CheckpointError(f"{name}: cannot be read ({e.strerror or e})") from e
    except Exception as e:  # zipfile raises many types for damaged archives
        raise CheckpointError(f"{name}: truncated or corrupt model file ({e})") from e
    finally:
        f.seek(0)
    if bad is not None:
        raise CheckpointError(f"{name}: truncated or corrupt model file (bad CRC in {bad})")


def torch_load_checked(f: BinaryIO, name: str) -> Any:
    """torch.load(weights_only=True) with every failure turned into a CheckpointError."""
    try:
        return torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", msg)
        if m or "Unsupported global" in msg:
            what = f" ({m.group(1)})" if m else ""
            raise CheckpointError(
                f"{name}: holds pickled Python objects{what} that a safe load refuses "
                "(weights_only=True); k49desk only loads plain checkpoints") from e
        raise CheckpointError(f"{name}: not a k49desk checkpoint (unreadable pickle data)") from e
    except (zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"{name}: truncated or corrupt model file ({e})") from e
    except RuntimeError as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "zip" in msg.lower() or "central directory" in msg.lower() or "read" in msg.lower():
            raise CheckpointError(f"{name}: truncated or corrupt model file ({msg})") from e
        raise CheckpointError(f"{name}: not a k49desk checkpoint ({msg[:200]})") from e
    except OSError as e:
        raise CheckpointError(f"{name}: cannot be read ({e.strerror or e})") from e
    except MemoryError as e:
        raise CheckpointError(f"{name}: not a k49desk checkpoint (it asks for more memory "
                              "than there is)") from e
    except Exception as e:  # torch raises assorted types for garbage input
        raise CheckpointError(f"{name}: not a k49desk checkpoint ({type(e).__name__}: "
                              f"{str(e)[:200]})") from e
