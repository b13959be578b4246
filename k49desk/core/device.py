"""Where the heavy work runs: device choice, mixed precision, batched prediction.

One helper for every heavy command (train, find-issues, predict --data-dir, the embedding
work), so `--device auto|cpu|cuda|mps` means the same everywhere and results written on a
GPU box open unchanged in the desktop app (the files never hold device-specific tensors).

Mixed precision is used on CUDA only (`autocast`): bfloat16 where the GPU supports it, else
float16 with a gradient scaler (`grad_scaler`). The CPU and Apple MPS run in float32.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from k49desk.core.errors import Cancelled, K49Error
from k49desk.core.progress import Progress, ShouldStop, report, stop_requested

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA, then Apple MPS, then the CPU; an explicit GPU that is absent errors.

    Under torchrun (LOCAL_RANK set) a CUDA device is this process's own GPU, cuda:LOCAL_RANK.
    """
    if name not in DEVICE_CHOICES:
        raise K49Error(f"--device {name}: not one of {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise K49Error("--device cuda: no CUDA GPU is available on this machine")
        local = int(os.environ.get("LOCAL_RANK", "0") or 0)
        if local >= torch.cuda.device_count():
            raise K49Error(f"--device cuda: process LOCAL_RANK={local} has no GPU of its own "
                           f"({torch.cuda.device_count()} visible)")
        return torch.device("cuda", local)
    if name == "mps" and not _mps_available():
        raise K49Error("--device mps: Apple MPS is not available on this machine")
    return torch.device(name)


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype on this device, or None (no mixed precision)."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision on CUDA; a no-op elsewhere."""
    dtype = amp_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    """Loss scaling for float16 training; disabled (a pass-through) for any other precision."""
    return torch.amp.GradScaler("cuda", enabled=amp_dtype(device) == torch.float16)


def to_input(images_u8: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [0, 1] on `device` (converted there,
    so only bytes cross to a GPU)."""
    if isinstance(images_u8, np.ndarray):
        arr = np.ascontiguousarray(images_u8, dtype=np.uint8)
        images_u8 = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    return images_u8.to(device, non_blocking=True).unsqueeze(1).float().div_(255.0)


def _views(x: torch.Tensor, tta: bool) -> Iterator[torch.Tensor]:
    yield x
    if tta:  # one-pixel shifts: cheap, and a shift does not change a character
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            yield torch.roll(x, shifts=(dy, dx), dims=(2, 3))


@torch.inference_mode()
def predict_proba(model: nn.Module, images: np.ndarray, *, device: torch.device | str = "cpu",
                  batch_size: int = 1024, tta: bool = False,
                  progress: Progress | None = None, should_stop: ShouldStop | None = None,
                  text: str = "Predicting") -> np.ndarray:
    """Softmax probabilities (N, n_classes) float32 of uint8 images (N, 28, 28), in batches.

    The model is put in eval mode on `device` (and left there). `tta` averages the
    probabilities over the image and its four one-pixel shifts (5x the cost).
    """
    device = torch.device(device)
    model.eval().to(device)
    images = np.asarray(images)
    n = images.shape[0]
    out: np.ndarray | None = None
    for s in range(0, n, batch_size):
        if stop_requested(should_stop):
            raise Cancelled(f"{text.lower()} was stopped")
        x = to_input(images[s:s + batch_size], device)
        with autocast(device):
            p = sum(torch.softmax(model(v).float(), 1) for v in _views(x, tta))
        p = (p / (5 if tta else 1)).cpu().numpy()
        if out is None:
            out = np.empty((n, p.shape[1]), np.float32)
        out[s:s + batch_size] = p
        report(progress, min(n, s + batch_size) / n, text)
    if out is None:
        with autocast(device):
            k = int(model(torch.zeros(1, 1, 28, 28, device=device)).shape[1])
        out = np.empty((0, k), np.float32)
    return out

