"""Data-parallel training with PyTorch's own engine: `torchrun ... -m k49desk train ...`.

torchrun starts N processes and sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR /
MASTER_PORT; `init_from_env` joins them into one process group (NCCL on CUDA, gloo on the
CPU) and `fit` then trains a `DistributedDataParallel` model: every process takes its share of
each batch, gradients are averaged, only rank 0 validates, prints and writes checkpoints.

Why a run on N processes gives the same model as a single process (up to float rounding, and
dropout masks, which each process draws for its own images): every process draws the same
shuffled order and the same augmentation for the whole batch and keeps its share; the loss is
scaled so the averaged gradient equals the single-process gradient of the whole batch; and
batch normalisation uses the statistics of the whole batch (`SyncedBatchNorm2d`, built on
differentiable all-reduces, so it runs on gloo as well as NCCL: PyTorch's own SyncBatchNorm
is GPU-only). The CPU (gloo) and GPU (NCCL) paths are the same code.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from k49desk.core.errors import K49Error


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a data-parallel run (a single process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


SINGLE = DistInfo()


def launched_by_torchrun() -> bool:
    """True in a process that torchrun (or another launcher) started as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def current() -> DistInfo:
    """The running process group's view of this process (SINGLE when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    return DistInfo(dist.get_rank(), dist.get_world_size(),
                    int(os.environ.get("LOCAL_RANK", "0") or 0))


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


@contextlib.contextmanager
def init_from_env(device: torch.device, timeout_s: float = 1800.0) -> Iterator[DistInfo]:
    """Join the process group torchrun described in the environment (no-op for one process);
    the group is destroyed on exit."""
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        yield current()
        return
    if not dist.is_available():
        raise K49Error("torchrun: this PyTorch build has no torch.distributed")
    backend = backend_for(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(backend=backend, timeout=_dt.timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError) as e:
        raise K49Error(f"torchrun: cannot join the process group ({backend}): {e}") from e
    try:
        yield current()
    finally:
        dist.destroy_process_group()


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """Element-wise sum over the processes (in place; the tensor itself when single)."""
    if not current().active:
        return t
    if dist.get_backend() == "nccl" and t.device.type != "cuda":  # NCCL only moves GPU memory
        g = t.to(torch.device("cuda", torch.cuda.current_device()))
        dist.all_reduce(g, op=dist.ReduceOp.SUM)
        t.copy_(g.cpu())
        return t
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def _ddp_buffer_option() -> dict[str, bool]:
    """DDP keyword that turns off the per-forward buffer broadcast (renamed in torch 2.13)."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    params = inspect.signature(DistributedDataParallel.__init__).parameters
    return ({"forward_sync_buffers": False} if "forward_sync_buffers" in params
            else {"broadcast_buffers": False})


DDP_NO_BUFFER_SYNC = _ddp_buffer_option()


class _AllSum(torch.autograd.Function):
    """Sum over the processes, differentiable: the gradient of a sum is summed too."""

    @staticmethod
    def forward(ctx: object, t: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        out = t.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        g = g.clone()
        dist.all_reduce(g, op=dist.ReduceOp.SUM)
        return g


def barrier() -> None:
    if current().active:
        dist.barrier()


class SyncedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the whole batch across processes.

    Same parameters and buffers as nn.BatchNorm2d (checkpoints do not change); behaves
    exactly like it outside a multi-process run and in eval mode.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and current().active):
            return super().forward(x)
        c = x.shape[1]
        xf = x.float()
        local = torch.cat([xf.sum((0, 2, 3)), (xf * xf).sum((0, 2, 3)),
                           xf.new_tensor([x.numel() // c])])
        total = _AllSum.apply(local)  # the backward pass all-reduces too
        n = total[-1]
        mean = total[:c] / n
        var = (total[c:2 * c] / n - mean * mean).clamp_min(0.0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else \
                    1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), m)
                unbiased = var.detach() * n / (n - 1).clamp_min(1.0)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), m)
        y = (xf - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(x.dtype)


def sync_batchnorm(model: nn.Module) -> nn.Module:
    """Swap every BatchNorm2d of `model` for a SyncedBatchNorm2d holding the same tensors."""
    for name, child in list(model.named_children()):
        if type(child) is nn.BatchNorm2d:
            new = SyncedBatchNorm2d(child.num_features, child.eps, child.momentum,
                                    child.affine, child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.to(next(iter(child.state_dict().values())).device)
            setattr(model, name, new)
        else:
            sync_batchnorm(child)
    return model


def plain_batchnorm(model: nn.Module) -> nn.Module:
    """Undo `sync_batchnorm` (for saving and evaluating: same keys, plain modules)."""
    for name, child in list(model.named_children()):
        if isinstance(child, SyncedBatchNorm2d):
            new = nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                 child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.to(child.running_mean.device if child.running_mean is not None else "cpu")
            setattr(model, name, new)
        else:
            plain_batchnorm(child)
    return model
