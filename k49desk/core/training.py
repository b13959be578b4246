"""Training and evaluation: `fit` (progress callback, should_stop), `train_folder`, `evaluate`.

Reads like pytorch/examples mnist/main.py (train_epoch, evaluate, a seed, a saved
state_dict) but progress goes to a callback and arguments are a frozen dataclass.
Balanced accuracy is the dataset authors' metric: the mean over the classes present in the
split of per-class accuracy (recall).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from k49desk.core.classes import N_CLASSES
from k49desk.core.errors import Cancelled, K49Error
from k49desk.core.model import (
    LoadedModel,
    ModelConfig,
    build_model,
    images_to_tensor,
    save_checkpoint,
)
from k49desk.core.progress import Progress, ShouldStop, report, stop_requested

IMBALANCE_CHOICES = ("none", "weights", "sampler")
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 8
    batch_size: int = 128
    lr: float = 3e-3  # peak learning rate of the one-cycle schedule (AdamW)
    augment: bool = True
    imbalance: str = "weights"  # "none" | "weights" (loss weights) | "sampler" (balanced draws)
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # 0: leave torch's thread count alone
    model: ModelConfig = field(default_factory=ModelConfig)
    weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2, got {self.batch_size}")
        if self.imbalance not in IMBALANCE_CHOICES:
            raise ValueError(f"imbalance must be one of {IMBALANCE_CHOICES}, "
                             f"got {self.imbalance!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.device not in DEVICE_CHOICES:
            raise ValueError(f"device must be one of {DEVICE_CHOICES}, got {self.device!r}")
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", ModelConfig.from_dict(self.model))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class TrainEvent:
    """The payload of `fit`'s progress reports: one per batch ("step") and per epoch."""

    kind: str  # "step" | "epoch"
    epoch: int  # 1-based
    epochs: int
    step: int  # 1-based within the epoch
    steps_per_epoch: int
    global_step: int
    loss: float | None  # running mean over the epoch so far
    acc: float | None  # running training accuracy over the epoch so far
    images_per_s: float
    eta_s: float
    val_loss: float | None = None
    val_balanced_accuracy: float | None = None
    val_accuracy: float | None = None
    batch_loss: float | None = None  # this batch's own loss (step events)
    n_train: int = 0  # images trained on per epoch
    n_val: int = 0  # images validated on per epoch

    @property
    def fraction(self) -> float:
        return self.global_step / max(1, self.steps_per_epoch * self.epochs)

    def describe(self) -> str:
        if self.kind == "epoch":
            val = ("" if self.val_balanced_accuracy is None
                   else f", val balanced acc {self.val_balanced_accuracy:.2%}")
            return f"Epoch {self.epoch}/{self.epochs} done: loss {self.loss:.4f}{val}"
        return (f"Epoch {self.epoch}/{self.epochs}, batch {self.step}/{self.steps_per_epoch}: "
                f"loss {self.loss:.3f}")


@dataclass
class TrainResult:
    model: nn.Module | None  # None once the result has crossed a process boundary
    history: list[TrainEvent]
    epochs_completed: int
    stopped: bool
    val_balanced_accuracy: float | None
    elapsed_s: float
    val_accuracy: float | None = None
    checkpoint: Path | None = None  # what train_folder saved last
    metrics: dict[str, Any] = field(default_factory=dict)  # the saved checkpoint's metrics
    trained_on: str = ""


@dataclass
class EvalResult:
    balanced_accuracy: float
    accuracy: float
    n: int
    per_class: np.ndarray  # (n_classes,) float, nan where the class is absent from the split
    support: np.ndarray  # (n_classes,) int64
    confusion: np.ndarray  # (n_classes, n_classes) int64, rows true, cols predicted
    predictions: np.ndarray
    proba: np.ndarray
    loss: float = float("nan")


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA, then Apple MPS, then the CPU; an explicit GPU that is absent errors."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise K49Error("--device cuda: no CUDA GPU is available on this machine")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise K49Error("--device mps: Apple MPS is not available on this machine")
    return torch.device(name)


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_CLASSES) -> float:
    """Mean per-class recall over the classes present in `y_true` (the K49 authors' metric)."""
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    if y_true.size == 0:
        return float("nan")
    support = np.bincount(y_true, minlength=n_classes)
    hits = np.bincount(y_true[y_true == y_pred], minlength=n_classes)
    present = support > 0
    return float(np.mean(hits[present] / support[present]))


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


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Small random affine per image (rotate +-10 deg, scale +-10%, shear, shift +-2 px) done
    on the whole batch with affine_grid/grid_sample: cheap next to the convolutions."""
    n = x.shape[0]
    r = torch.rand(5, n, generator=gen) * 2 - 1
    ang, scale, shear = r[0] * math.radians(10), 1 + r[1] * 0.1, r[2] * 0.15
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.empty(n, 2, 3)
    theta[:, 0, 0] = cos / scale
    theta[:, 0, 1] = (-sin + shear * cos) / scale
    theta[:, 1, 0] = sin / scale
    theta[:, 1, 1] = (cos + shear * sin) / scale
    theta[:, 0, 2] = r[3] * (2 / 14)  # +-2 px of a 28 px image in [-1, 1] coordinates
    theta[:, 1, 2] = r[4] * (2 / 14)
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency loss weights, mean 1 over the training images; 0 for absent classes."""
    counts = np.bincount(labels, minlength=n_classes)[:n_classes].astype(np.float64)
    w = np.zeros(n_classes)
    present = counts > 0
    w[present] = counts[present].sum() / (present.sum() * counts[present])
    return w.astype(np.float32)


@torch.inference_mode()
def _predict(model: nn.Module, images: np.ndarray, device: torch.device, batch_size: int,
             should_stop: ShouldStop | None = None,
             progress: Progress | None = None) -> np.ndarray:
    model.eval()
    n = images.shape[0]
    out = np.empty((n, model_n_classes(model)), np.float32)
    for s in range(0, n, batch_size):
        if stop_requested(should_stop):
            raise Cancelled("evaluation stopped")
        x = images_to_tensor(images[s:s + batch_size]).to(device)
        out[s:s + batch_size] = torch.softmax(model(x).float(), 1).cpu().numpy()
        report(progress, min(n, s + batch_size) / n, "Evaluating")
    return out


def model_n_classes(model: nn.Module) -> int:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    return int(last.out_features)


def evaluate(model_or_loaded: nn.Module | LoadedModel, images: np.ndarray, labels: np.ndarray,
             *, batch_size: int = 1024, progress: Progress | None = None,
             should_stop: ShouldStop | None = None,
             device: torch.device | str = "cpu") -> EvalResult:
    """Predictions, balanced and plain accuracy, per-class accuracy and confusion matrix."""
    model = model_or_loaded.model if isinstance(model_or_loaded, LoadedModel) else model_or_loaded
    device = torch.device(device)
    was_training = model.training
    proba = _predict(model, np.asarray(images), device, batch_size, should_stop, progress)
    if was_training:
        model.train()
    k = proba.shape[1]
    y = np.asarray(labels, np.int64)
    pred = proba.argmax(1).astype(np.int64)
    confusion = np.bincount(y * k + pred, minlength=k * k).reshape(k, k).astype(np.int64)
    support = confusion.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(confusion) / np.maximum(support, 1), np.nan)
    n = int(y.size)
    p_true = proba[np.arange(n), y] if n else np.empty(0)
    loss = float(-np.mean(np.log(np.clip(p_true, 1e-12, 1.0)))) if n else float("nan")
    return EvalResult(
        balanced_accuracy=balanced_accuracy(y, pred, k) if n else float("nan"),
        accuracy=float((pred == y).mean()) if n else float("nan"), n=n,
        per_class=per_class.astype(np.float64), support=support, confusion=confusion,
        predictions=pred, proba=proba, loss=loss,
    )


EpochHook = Callable[[TrainEvent, nn.Module], None]


def fit(cfg: TrainConfig, images: np.ndarray, labels: np.ndarray, *,
        val: tuple[np.ndarray, np.ndarray] | None = None,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
        on_epoch_end: EpochHook | None = None) -> TrainResult:
    """Train a fresh model on uint8 images (N, 28, 28) and labels (N,).

    `val=None` holds out a stratified `cfg.val_fraction` of the images. `progress(fraction,
    text, TrainEvent)` is called after every batch and epoch. `should_stop()` is polled
    between batches; then the result has stopped=True and the weights of the last completed
    epoch (or the partly trained weights if no epoch completed).
    `on_epoch_end(event, model)` runs after each epoch's validation (e.g. to save a checkpoint).
    """
    t0 = time.perf_counter()
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
        return _fit(cfg, images, labels, val, progress, should_stop, on_epoch_end, t0)
    finally:
        if cfg.threads > 0:
            torch.set_num_threads(old_threads)


def _fit(cfg: TrainConfig, images: np.ndarray, labels: np.ndarray,
         val: tuple[np.ndarray, np.ndarray] | None,
         progress: Progress | None,
         should_stop: ShouldStop | None, on_epoch_end: EpochHook | None,
         t0: float) -> TrainResult:
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    n_classes = cfg.model.n_classes
    model = build_model(cfg.model).to(device)
    # The whole training set as one uint8 tensor: 182 MB for full K49, cheap to index.
    arr = np.ascontiguousarray(images, dtype=np.uint8)
    x_all = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    y_np = np.asarray(labels, np.int64)
    y_all = torch.from_numpy(y_np)
    n = len(y_np)
    steps = max(1, n // cfg.batch_size + (1 if n % cfg.batch_size > 1 else 0))
    total_steps = steps * cfg.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
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

    history: list[TrainEvent] = []
    last_epoch_state: dict[str, torch.Tensor] | None = None
    n_val = 0 if val is None else len(val[1])
    completed, stopped, global_step = 0, False, 0
    last_val: tuple[float | None, float | None] = (None, None)
    t_train = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = (rng.choice(n, n, replace=True, p=sample_p) if sample_p is not None
                 else rng.permutation(n))
        order_t = torch.from_numpy(order)
        loss_sum, hit, seen = 0.0, 0, 0
        t_epoch = time.perf_counter()
        for step in range(1, steps + 1):
            if stop_requested(should_stop):
                stopped = True
                break
            idx = order_t[(step - 1) * cfg.batch_size: step * cfg.batch_size]
            x = x_all[idx].to(device).unsqueeze(1).float().div_(255.0)
            y = y_all[idx].to(device)
            if cfg.augment:
                x = _augment(x, gen)
            logits = model(x)
            loss = F.cross_entropy(logits, y, weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            global_step += 1
            b = int(y.shape[0])
            batch_loss = float(loss.detach())
            loss_sum += batch_loss * b
            hit += int((logits.detach().argmax(1) == y).sum())
            seen += b
            dt = time.perf_counter() - t_epoch
            ips = seen / dt if dt > 0 else 0.0
            done_s = time.perf_counter() - t_train
            eta = done_s / global_step * (total_steps - global_step)
            ev = TrainEvent("step", epoch, cfg.epochs, step, steps, global_step,
                            loss_sum / seen, hit / seen, ips, eta, batch_loss=batch_loss,
                            n_train=n, n_val=n_val)
            history.append(ev)
            report(progress, ev.fraction, ev.describe(), ev)
        if stopped:
            break
        completed = epoch
        vloss = vbal = vacc = None
        if val is not None and len(val[1]):
            r = evaluate(model, val[0], val[1], device=device)
            vloss, vbal, vacc = r.loss, r.balanced_accuracy, r.accuracy
            last_val = (vbal, vacc)
        model.train()
        done_s = time.perf_counter() - t_train
        ev = TrainEvent("epoch", epoch, cfg.epochs, steps, steps, global_step,
                        loss_sum / max(seen, 1), hit / max(seen, 1),
                        seen / max(time.perf_counter() - t_epoch, 1e-9),
                        done_s / global_step * (total_steps - global_step),
                        vloss, vbal, vacc, n_train=n, n_val=n_val)
        history.append(ev)
        last_epoch_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        report(progress, ev.fraction, ev.describe(), ev)
        if on_epoch_end is not None:
            on_epoch_end(ev, copy.deepcopy(model).cpu().eval())
    if stopped and last_epoch_state is not None:  # drop the half-trained epoch
        model.load_state_dict(last_epoch_state)
    model = model.cpu().eval()
    return TrainResult(model=model, history=history, epochs_completed=completed, stopped=stopped,
                       val_balanced_accuracy=last_val[0], elapsed_s=time.perf_counter() - t0,
                       val_accuracy=last_val[1])


def describe_data(ds: Any, n_train: int, n_val: int, n_test: int | None) -> str:
    kind = "generated demo data (not K49)" if ds.is_demo else "K49 data"
    test = f"{n_test:,d} test" if n_test is not None else "no test split"
    return (f"{Path(ds.root).resolve()} ({kind}): {n_train:,d} train, {n_val:,d} validation "
            f"(held out of train), {test}")


def train_folder(cfg: TrainConfig, data_dir: str | os.PathLike[str],
                 out_path: str | os.PathLike[str], *,
                 progress: Progress | None = None,
                 should_stop: ShouldStop | None = None) -> TrainResult:
    """Train on a K49 folder's train split, checkpoint after every completed epoch (atomic),
    then evaluate on its test split (when present) and save the final checkpoint.

    The result names the checkpoint (`.checkpoint`) and holds the metrics saved in it; load it
    with `load_checkpoint` where a `LoadedModel` is needed. Raises Cancelled if stopped before
    the first epoch completed (nothing was saved).
    """
    from k49desk.core.dataset import open_dataset

    ds = open_dataset(data_dir)
    train = ds.split("train")
    test = ds.splits.get("test")
    tr_idx, va_idx = stratified_split(train.labels, cfg.val_fraction, cfg.seed)
    x_tr, y_tr = np.asarray(train.images[tr_idx]), np.asarray(train.labels[tr_idx])
    val = (np.asarray(train.images[va_idx]), np.asarray(train.labels[va_idx]))
    trained_on = describe_data(ds, len(tr_idx), len(va_idx), len(test) if test else None)
    data_info = {"data_dir": str(Path(ds.root).resolve()), "is_demo": bool(ds.is_demo),
                 "n_train": int(len(tr_idx)), "n_val": int(len(va_idx)),
                 "n_test": int(len(test)) if test else None}
    out_path = Path(out_path)
    tc = cfg.to_dict()

    def metrics_for(ev: TrainEvent, stopped: bool = False) -> dict[str, Any]:
        return {"epochs_completed": ev.epoch, "epochs_planned": cfg.epochs, "stopped": stopped,
                "val_balanced_accuracy": ev.val_balanced_accuracy,
                "val_accuracy": ev.val_accuracy, "val_loss": ev.val_loss,
                "train_loss": ev.loss, "train_accuracy": ev.acc, "data": data_info}

    def save_epoch(ev: TrainEvent, model: nn.Module) -> None:
        save_checkpoint(out_path, model, cfg.model, ds.classes, metrics=metrics_for(ev),
                        trained_on=trained_on, train_config=tc)

    res = fit(cfg, x_tr, y_tr, val=val, progress=progress, should_stop=should_stop,
              on_epoch_end=save_epoch)
    if res.epochs_completed == 0:
        raise Cancelled(f"{out_path.name}: training stopped before the first epoch completed; "
                        "no model was saved")
    last = [e for e in res.history if e.kind == "epoch"][-1]
    res.checkpoint, res.trained_on = out_path, trained_on
    res.metrics = metrics_for(last)
    if res.stopped:  # mark the kept checkpoint as the result of an interrupted run
        res.metrics = metrics_for(last, stopped=True)
        save_checkpoint(out_path, res.model, cfg.model, ds.classes, metrics=res.metrics,
                        trained_on=trained_on, train_config=tc)
    elif test is not None and len(test):
        try:
            r = evaluate(res.model, test.images, test.labels, should_stop=should_stop)
        except Cancelled:  # the last epoch's checkpoint is already saved: keep it
            res.stopped = True
            return res
        metrics = metrics_for(last)
        metrics.update(test_balanced_accuracy=r.balanced_accuracy, test_accuracy=r.accuracy,
                       test_n=r.n, test_per_class=[None if np.isnan(v) else float(v)
                                                   for v in r.per_class])
        save_checkpoint(out_path, res.model, cfg.model, ds.classes, metrics=metrics,
                        trained_on=trained_on, train_config=tc)
        res.metrics = metrics
    return res
