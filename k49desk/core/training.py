"""Training: `fit` (progress callback, should_stop), `train_folder`; scoring re-exported.

Reads like pytorch/examples mnist/main.py (train_epoch, evaluate, a seed, a saved
state_dict) but progress goes to a callback and arguments are a frozen dataclass. How long to
train comes from core/schedule.py (sized to the data unless --epochs or --time-budget);
where, from core/device.py (mixed precision on CUDA); several processes under torchrun train
one DistributedDataParallel model (core/distributed.py) with the same result as one process.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from k49desk.core import distributed
from k49desk.core.augment import augment, augment_params
from k49desk.core.device import autocast, grad_scaler, resolve_device, to_input
from k49desk.core.errors import Cancelled, K49Error
from k49desk.core.evaluation import (  # noqa: F401  (re-exported: callers import them from here)
    EvalResult,
    balanced_accuracy,
    evaluate,
    model_n_classes,
)
from k49desk.core.model import build_model, save_checkpoint
from k49desk.core.progress import Progress, ShouldStop, report, stop_requested
from k49desk.core.schedule import TrainPlan, plan_training
from k49desk.core.train_config import (  # noqa: F401  (re-exported)
    IMBALANCE_CHOICES,
    TrainConfig,
    TrainEvent,
)
from k49desk.core.train_result import TrainResult


def stratified_split(labels: np.ndarray, fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx): `fraction` of each class held out (at least one image of every
    class with two or more, so rare classes are validated too)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    tr, va = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        k = int(round(fraction * idx.size))
        if fraction > 0 and idx.size >= 2:
            k = min(max(k, 1), idx.size - 1)
        va.append(idx[:k])
        tr.append(idx[k:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(va))


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency loss weights, mean 1 over the training images; 0 for absent classes."""
    counts = np.bincount(labels, minlength=n_classes)[:n_classes].astype(np.float64)
    w = np.zeros(n_classes)
    present = counts > 0
    w[present] = counts[present].sum() / (present.sum() * counts[present])
    return w.astype(np.float32)


EpochHook = Callable[[TrainEvent, nn.Module], None]


def fit(cfg: TrainConfig, images: np.ndarray, labels: np.ndarray, *,
        val: tuple[np.ndarray, np.ndarray] | None = None,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
        on_epoch_end: EpochHook | None = None,
        plan: TrainPlan | None = None,
        init: dict[str, torch.Tensor] | None = None) -> TrainResult:
    """Train a fresh model on uint8 images (N, 28, 28) and labels (N,).

    `val=None` holds out a stratified `cfg.val_fraction` of the images. The schedule is
    `plan` if given, else `plan_training(cfg, n_train)`. `progress(fraction, text, TrainEvent)`
    is called after every batch and epoch. `should_stop()` is polled between batches; then
    the result has stopped=True and the weights of the last completed epoch (or the partly
    trained weights if no epoch completed). `on_epoch_end(event, model)` runs after each
    epoch's validation (e.g. to save a checkpoint). With `cfg.ema_decay` the moving average
    of the weights is what is validated, passed on and returned.

    Inside a torchrun process group this trains one DistributedDataParallel model: only rank
    0 validates, reports and calls `on_epoch_end`; every rank returns the same weights.

    `init`: start from these weights (a state dict of a `cfg.model` network, e.g. a trained
    checkpoint's) instead of a random initialisation: fine-tuning.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.shape[0] != labels.shape[0]:
        raise K49Error(f"fit: need images (N, 28, 28) and N labels, got {images.shape} and "
                       f"{labels.shape}")
    if val is None and cfg.val_fraction > 0:
        tr_idx, va_idx = stratified_split(labels, cfg.val_fraction, cfg.seed)
        val = (images[va_idx], labels[va_idx])
        images, labels = images[tr_idx], labels[tr_idx]
    if len(labels) < 2:
        raise K49Error(f"fit: need at least 2 training images, got {len(labels)}")
    old_threads = torch.get_num_threads()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    try:
        if plan is None:
            plan = plan_training(cfg, len(labels))
        res = _fit(cfg, plan, images, labels, val, progress, should_stop, on_epoch_end, init)
    finally:
        if cfg.threads > 0:
            torch.set_num_threads(old_threads)
    res.elapsed_s, res.cpu_s = time.perf_counter() - t0, time.process_time() - c0
    return res


class _Ema:
    """Exponential moving average of the weights (BatchNorm statistics copied as they are).
    The decay ramps up from 0.1 so the average does not drag the random initialisation."""

    def __init__(self, net: nn.Module, decay: float) -> None:
        self.model = distributed.plain_batchnorm(copy.deepcopy(net)).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.decay, self.n = decay, 0

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        self.n += 1
        d = min(self.decay, (1 + self.n) / (10 + self.n))
        for pe, pm in zip(self.model.parameters(), net.parameters(), strict=True):
            pe.lerp_(pm.detach(), 1 - d)
        for be, bm in zip(self.model.buffers(), net.buffers(), strict=True):
            be.copy_(bm)


def _fit(cfg: TrainConfig, plan: TrainPlan, images: np.ndarray, labels: np.ndarray,
         val: tuple[np.ndarray, np.ndarray] | None, progress: Progress | None,
         should_stop: ShouldStop | None, on_epoch_end: EpochHook | None,
         init: dict[str, torch.Tensor] | None = None) -> TrainResult:
    info = distributed.current()
    if not info.is_main:
        progress, on_epoch_end = None, None
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    n_classes = cfg.model.n_classes
    net = build_model(cfg.model)  # the same start on every rank (same seed)
    if init is not None:
        try:
            net.load_state_dict(init)
        except RuntimeError as e:  # another architecture or class count
            raise K49Error(f"fit: the starting weights do not fit {cfg.model}: "
                           f"{str(e).splitlines()[0]}") from e
    net = net.to(device)
    model: nn.Module = net
    if info.active:
        from torch.nn.parallel import DistributedDataParallel

        distributed.sync_batchnorm(net)
        model = DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None,
            **distributed.DDP_NO_BUFFER_SYNC)  # synced BatchNorm keeps the buffers equal
    ema = _Ema(net, cfg.ema_decay) if cfg.ema_decay > 0 else None
    # The whole training set as one uint8 tensor (182 MB for full K49), cheap to index; on a
    # GPU it lives there, so only indices cross per batch.
    arr = np.ascontiguousarray(images, dtype=np.uint8)
    x_all = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    y_np = np.asarray(labels, np.int64)
    y_all = torch.from_numpy(y_np)
    if device.type == "cuda":
        x_all, y_all = x_all.to(device), y_all.to(device)
    n, bs = len(y_np), plan.batch_size
    steps, epochs = plan.steps_per_epoch, plan.epochs
    total_steps = plan.total_steps
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = grad_scaler(device)
    sched: torch.optim.lr_scheduler.LRScheduler
    if total_steps >= 20:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total_steps,
                                                    pct_start=0.25)
    else:  # OneCycle needs a few steps per phase; a tiny run just decays linearly
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / (total_steps + 1))
    weight = None
    if cfg.imbalance == "weights":
        weight = torch.from_numpy(class_weights(y_np, n_classes)).to(device)
    sample_p = None
    if cfg.imbalance == "sampler":
        cw = class_weights(y_np, n_classes).astype(np.float64)[y_np]
        sample_p = cw / cw.sum()
    result_net = ema.model if ema is not None else net  # what is validated, saved, returned

    history: list[TrainEvent] = []
    last_epoch_state: dict[str, torch.Tensor] | None = None
    n_val = 0 if val is None else len(val[1])
    completed, stopped, global_step = 0, False, 0
    last_val: tuple[float | None, float | None] = (None, None)
    t_train = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = (rng.choice(n, n, replace=True, p=sample_p) if sample_p is not None
                 else rng.permutation(n))
        order_t = torch.from_numpy(order).to(y_all.device)
        loss_sum, hit, seen = 0.0, 0, 0
        t_epoch = time.perf_counter()
        for step in range(1, steps + 1):
            stop = stop_requested(should_stop)
            if info.active:  # every rank stops at the same step, or none does
                stop = bool(distributed.all_sum(torch.tensor([float(stop)])).item() > 0)
            if stop:
                stopped = True
                break
            idx = order_t[(step - 1) * bs: step * bs]
            b = int(idx.shape[0])
            r = augment_params(b, gen) if cfg.augment else None
            y_batch = y_all[idx]
            if info.active:  # this rank's share of the batch (and of its random draws)
                part = torch.tensor_split(torch.arange(b), info.world_size)[info.rank]
                idx = idx[part.to(idx.device)]
                r = r[:, part] if r is not None else None
            x = to_input(x_all[idx], device)
            y = y_all[idx]
            if r is not None:
                x = augment(x, r, cfg.cutout)
            with autocast(device):
                logits = model(x)
            per = F.cross_entropy(logits.float(), y, weight=weight, reduction="none",
                                  label_smoothing=cfg.label_smoothing)
            # The weighted mean over the WHOLE batch; DDP averages gradients over the ranks,
            # hence x world_size: the same gradient as one process on the whole batch.
            denom = weight[y_batch].sum() if weight is not None else float(b)
            if cfg.drop_high_loss > 0 and global_step >= total_steps // 3:
                # Noise-robust ("small-loss") training: once the model has learnt the easy
                # majority, the batch's highest losses are mostly wrong labels: leave them
                # out. (Under torchrun each process drops within its own share.)
                keep = max(1, int(round(per.shape[0] * (1 - cfg.drop_high_loss))))
                kept = per.detach().topk(keep, largest=False).indices
                loss = per[kept].sum() * (info.world_size * per.shape[0] / keep / denom)
            else:
                loss = per.sum() * (info.world_size / denom)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            if ema is not None:
                ema.update(net)
            global_step += 1
            stats = torch.stack([per.detach().sum(),
                                 (logits.detach().argmax(1) == y).sum().float()]).cpu()
            if info.active:
                distributed.all_sum(stats)
            batch_loss = float(stats[0] / float(denom))
            loss_sum += batch_loss * b
            hit += int(stats[1])
            seen += b
            dt = time.perf_counter() - t_epoch
            done_s = time.perf_counter() - t_train
            ev = TrainEvent("step", epoch, epochs, step, steps, global_step,
                            loss_sum / seen, hit / seen, seen / dt if dt > 0 else 0.0,
                            done_s / global_step * (total_steps - global_step),
                            batch_loss=batch_loss, n_train=n, n_val=n_val,
                            lr=float(sched.get_last_lr()[0]))
            history.append(ev)
            report(progress, ev.fraction, ev.describe(), ev)
        if stopped:
            break
        completed = epoch
        vloss = vbal = vacc = None
        if info.is_main and val is not None and len(val[1]):
            r_val = evaluate(result_net, val[0], val[1], device=device)
            vloss, vbal, vacc = r_val.loss, r_val.balanced_accuracy, r_val.accuracy
            last_val = (vbal, vacc)
        done_s = time.perf_counter() - t_train
        ev = TrainEvent("epoch", epoch, epochs, steps, steps, global_step,
                        loss_sum / max(seen, 1), hit / max(seen, 1),
                        seen / max(time.perf_counter() - t_epoch, 1e-9),
                        done_s / global_step * (total_steps - global_step),
                        vloss, vbal, vacc, n_train=n, n_val=n_val)
        history.append(ev)
        last_epoch_state = {k: v.detach().clone() for k, v in result_net.state_dict().items()}
        report(progress, ev.fraction, ev.describe(), ev)
        if on_epoch_end is not None:
            on_epoch_end(ev, _portable(result_net))
    if stopped and last_epoch_state is not None:  # drop the half-trained epoch
        result_net.load_state_dict(last_epoch_state)
    return TrainResult(model=_portable(result_net), history=history, epochs_completed=completed,
                       stopped=stopped, val_balanced_accuracy=last_val[0], elapsed_s=0.0,
                       val_accuracy=last_val[1], plan=plan)


def _portable(net: nn.Module) -> nn.Module:
    """A CPU copy in eval mode with plain BatchNorm: what is saved and used after training."""
    return distributed.plain_batchnorm(copy.deepcopy(net)).cpu().eval()


def describe_data(ds: Any, n_train: int, n_val: int, n_test: int | None) -> str:
    kind = "generated demo data (not K49)" if ds.is_demo else "K49 data"
    test = f"{n_test:,d} test" if n_test is not None else "no test split"
    return (f"{Path(ds.root).resolve()} ({kind}): {n_train:,d} train, {n_val:,d} validation "
            f"(held out of train), {test}")


def train_folder(cfg: TrainConfig, data_dir: str | os.PathLike[str],
                 out_path: str | os.PathLike[str], *,
                 progress: Progress | None = None,
                 should_stop: ShouldStop | None = None,
                 plan: TrainPlan | None = None) -> TrainResult:
    """Train on a K49 folder's train split, checkpoint after every completed epoch (atomic),
    then evaluate on its test split (when present) and save the final checkpoint.

    The result names the checkpoint (`.checkpoint`) and holds the metrics saved in it; load it
    with `load_checkpoint` where a `LoadedModel` is needed. Raises Cancelled if stopped before
    the first epoch completed (nothing was saved). The schedule is `plan` (e.g. the one shown
    to the user) or `plan_training(cfg, n_train)`. Under torchrun only rank 0 writes.
    """
    from k49desk.core.dataset import open_dataset

    ds = open_dataset(data_dir)
    train = ds.split("train")
    test = ds.splits.get("test")
    tr_idx, va_idx = stratified_split(train.labels, cfg.val_fraction, cfg.seed)
    x_tr, y_tr = np.asarray(train.images[tr_idx]), np.asarray(train.labels[tr_idx])
    val = (np.asarray(train.images[va_idx]), np.asarray(train.labels[va_idx]))
    if plan is None:
        plan = plan_training(cfg, len(tr_idx))
    cfg = replace(cfg, epochs=plan.epochs, batch_size=plan.batch_size)  # records what ran
    trained_on = describe_data(ds, len(tr_idx), len(va_idx), len(test) if test else None)
    data_info = {"data_dir": str(Path(ds.root).resolve()), "is_demo": bool(ds.is_demo),
                 "n_train": int(len(tr_idx)), "n_val": int(len(va_idx)),
                 "n_test": int(len(test)) if test else None}
    out_path = Path(out_path)
    tc = cfg.to_dict()
    main = distributed.current().is_main

    def metrics_for(ev: TrainEvent, stopped: bool = False) -> dict[str, Any]:
        return {"epochs_completed": ev.epoch, "epochs_planned": plan.epochs, "stopped": stopped,
                "val_balanced_accuracy": ev.val_balanced_accuracy,
                "val_accuracy": ev.val_accuracy, "val_loss": ev.val_loss,
                "train_loss": ev.loss, "train_accuracy": ev.acc, "data": data_info,
                "schedule": plan.to_dict(), "processes": distributed.current().world_size}

    def save(model: nn.Module, metrics: dict[str, Any]) -> None:
        save_checkpoint(out_path, model, cfg.model, ds.classes, metrics=metrics,
                        trained_on=trained_on, train_config=tc)

    res = fit(cfg, x_tr, y_tr, val=val, progress=progress, should_stop=should_stop,
              on_epoch_end=lambda ev, model: save(model, metrics_for(ev)), plan=plan)
    if res.epochs_completed == 0:
        raise Cancelled(f"{out_path.name}: training stopped before the first epoch completed; "
                        "no model was saved")
    res.trained_on = trained_on
    if not main:
        return res
    last = [e for e in res.history if e.kind == "epoch"][-1]
    res.checkpoint = out_path
    res.metrics = metrics_for(last)
    if res.stopped:  # mark the kept checkpoint as the result of an interrupted run
        res.metrics = metrics_for(last, stopped=True)
        save(res.model, res.metrics)
    elif test is not None and len(test):
        try:
            r = evaluate(res.model, test.images, test.labels, should_stop=should_stop,
                         device=resolve_device(cfg.device))
        except Cancelled:  # the last epoch's checkpoint is already saved: keep it
            res.stopped = True
            return res
        metrics = metrics_for(last)
        metrics.update(test_balanced_accuracy=r.balanced_accuracy, test_accuracy=r.accuracy,
                       test_n=r.n, test_per_class=[None if np.isnan(v) else float(v)
                                                   for v in r.per_class])
        save(res.model, metrics)
        res.metrics = metrics
    return res


def plan_for_folder(cfg: TrainConfig, data_dir: str | os.PathLike[str], *,
                    measure: bool = True) -> TrainPlan:
    """The schedule `train_folder(cfg, data_dir, ...)` will run, for showing before it starts
    (CLI, Train panel). `measure` times a few batches here (about half a second on a CPU) for
    the time estimate; a time budget always measures. Under torchrun every process gets rank
    0's figures, so all of them run the same schedule."""
    from k49desk.core.dataset import open_dataset
    from k49desk.core.schedule import measure_images_per_s

    labels = open_dataset(data_dir).split("train").labels
    n_train = len(stratified_split(labels, cfg.val_fraction, cfg.seed)[0])
    info = distributed.current()
    plan0 = plan_training(replace(cfg, time_budget_s=None), n_train)
    ips = None
    if measure or cfg.time_budget_s is not None:
        ips = measure_images_per_s(cfg, batch_size=plan0.batch_size) if info.is_main else 0.0
        if info.active:  # rank 0's measure for all; N processes train about N times faster
            ips = float(distributed.all_sum(torch.tensor([ips], dtype=torch.float64)).item())
            ips *= info.world_size
    return plan_training(cfg, n_train, images_per_s=ips)
