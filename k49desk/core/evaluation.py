"""Scoring a model: balanced accuracy (the K49 authors' metric), per-class accuracy, confusion.

Balanced accuracy is the mean over the classes present in the split of per-class accuracy
(recall); classes absent from the split do not enter the mean, but predicting them is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from k49desk.core.classes import N_CLASSES
from k49desk.core.device import predict_proba
from k49desk.core.model import LoadedModel
from k49desk.core.progress import Progress, ShouldStop


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


def model_n_classes(model: nn.Module) -> int:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    return int(last.out_features)


def scores(proba: np.ndarray, labels: np.ndarray) -> EvalResult:
    """Every figure of an EvalResult from probabilities (N, k) and true labels (N,)."""
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


def evaluate(model_or_loaded: nn.Module | LoadedModel, images: np.ndarray, labels: np.ndarray,
             *, batch_size: int = 1024, progress: Progress | None = None,
             should_stop: ShouldStop | None = None,
             device: torch.device | str = "cpu") -> EvalResult:
    """Predictions, balanced and plain accuracy, per-class accuracy and confusion matrix.

    The model comes back in the mode and on the device it was in."""
    model = model_or_loaded.model if isinstance(model_or_loaded, LoadedModel) else model_or_loaded
    was_training = model.training
    try:
        home = next(model.parameters()).device
    except StopIteration:
        home = torch.device("cpu")
    try:
        proba = predict_proba(model, np.asarray(images), device=device, batch_size=batch_size,
                              progress=progress, should_stop=should_stop, text="Evaluating")
    finally:
        model.to(home)
        if was_training:
            model.train()
    return scores(proba, labels)
