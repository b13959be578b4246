"""fit / train_folder / evaluate / balanced_accuracy on tiny K49-shaped data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from k49helpers import make_images

from k49desk.core.dataset import open_dataset
from k49desk.core.errors import Cancelled
from k49desk.core.model import ModelConfig, load_checkpoint
from k49desk.core.training import (
    TrainConfig,
    TrainEvent,
    balanced_accuracy,
    class_weights,
    evaluate,
    fit,
    stratified_split,
    train_folder,
)

TINY = ModelConfig(channels=(8, 16, 32), dropout=0.0)


def _cfg(**kw: object) -> TrainConfig:
    base = dict(epochs=2, batch_size=32, lr=1e-2, augment=False, device="cpu", model=TINY)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _tiny_arrays(n_per_class: int = 8, classes: range = range(49),
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat(np.asarray(list(classes), np.uint8), n_per_class)
    return make_images(labels, seed), labels


def test_balanced_accuracy_matches_hand_computation() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 2])
    p = np.array([0, 0, 0, 1, 1, 0, 2])
    # class 0: 3/4, class 1: 1/2, class 2: 1/1 -> mean of three present classes
    assert balanced_accuracy(y, p) == pytest.approx((0.75 + 0.5 + 1.0) / 3)


def test_balanced_accuracy_ignores_classes_absent_from_the_split() -> None:
    # real10-like: only classes 4 and 6 present; predictions into absent classes still count
    # as errors, but absent classes do not enter the mean.
    y = np.array([4, 4, 6, 6, 6, 6])
    p = np.array([4, 30, 6, 6, 6, 1])
    assert balanced_accuracy(y, p, 49) == pytest.approx((0.5 + 0.75) / 2)
    assert (p == y).mean() == pytest.approx(4 / 6)


def test_stratified_split_holds_out_every_class_including_rare_ones() -> None:
    labels = np.array([0] * 100 + [1] * 3 + [2] * 1)
    tr, va = stratified_split(labels, 0.1, seed=0)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == len(labels)
    assert np.bincount(labels[va], minlength=3).tolist() == [10, 1, 0]


def test_class_weights_are_inverse_frequency_with_mean_one_per_image() -> None:
    labels = np.array([0] * 6 + [1] * 2)
    w = class_weights(labels, 3)
    assert w[0] == pytest.approx(8 / (2 * 6)) and w[1] == pytest.approx(8 / (2 * 2))
    assert w[2] == 0.0
    assert w[labels].mean() == pytest.approx(1.0)


def test_fit_reports_progress_and_stops_early_with_a_usable_model() -> None:
    x, y = _tiny_arrays()
    events: list[TrainEvent] = []
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3  # three batches, then stop mid-epoch

    res = fit(_cfg(epochs=3), x, y, progress=lambda f, t, ev: events.append(ev),
              should_stop=should_stop)
    assert res.stopped and res.epochs_completed == 0
    assert [e.kind for e in events] == ["step"] * 3
    assert [e.global_step for e in events] == [1, 2, 3]
    e = events[-1]
    assert e.epochs == 3 and e.steps_per_epoch > 3 and e.loss is not None and e.eta_s > 0
    assert 0.0 <= e.acc <= 1.0 and e.images_per_s > 0
    out = res.model(torch.rand(2, 1, 28, 28))
    assert out.shape == (2, 49) and torch.isfinite(out).all()


def test_stop_after_first_epoch_keeps_that_epochs_weights() -> None:
    x, y = _tiny_arrays()
    saved: list[dict[str, torch.Tensor]] = []
    steps = {"n": 0}

    def should_stop() -> bool:
        steps["n"] += 1
        return steps["n"] > 13  # 12 steps/epoch with 392 train images: stop in epoch 2

    res = fit(_cfg(epochs=3), x, y, should_stop=should_stop,
              on_epoch_end=lambda ev, m: saved.append(m.state_dict()))
    assert res.stopped and res.epochs_completed == 1 and len(saved) == 1
    for k, v in res.model.state_dict().items():
        assert torch.equal(v, saved[0][k]), k


def test_fit_is_deterministic_for_a_seed_on_cpu() -> None:
    x, y = _tiny_arrays(6)
    cfg = _cfg(epochs=1, augment=True, imbalance="sampler", seed=3)
    a, b = fit(cfg, x, y), fit(cfg, x, y)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    assert a.val_balanced_accuracy == b.val_balanced_accuracy
    c = fit(_cfg(epochs=1, augment=True, imbalance="sampler", seed=4), x, y)
    assert not torch.equal(c.model.state_dict()["features.0.weight"],
                           a.model.state_dict()["features.0.weight"])


@pytest.mark.parametrize("imbalance", ["weights", "sampler", "none"])
def test_tiny_model_learns_the_tiny_patterns(imbalance: str) -> None:
    x, y = _tiny_arrays(12)
    vx, vy = _tiny_arrays(4, seed=7)
    res = fit(_cfg(epochs=6, imbalance=imbalance), x, y, val=(vx, vy))
    assert res.epochs_completed == 6 and not res.stopped
    # chance is 1/49 ~ 2%; the patterns are easy, so demand far more
    assert res.val_balanced_accuracy > 0.8
    epochs = [e for e in res.history if e.kind == "epoch"]
    assert len(epochs) == 6 and epochs[-1].val_accuracy is not None


def test_evaluate_equals_a_manual_computation() -> None:
    x, y = _tiny_arrays(3, classes=range(5, 15))
    res = fit(_cfg(epochs=1), x, y)
    r = evaluate(res.model, x, y, batch_size=7)
    with torch.no_grad():
        logits = res.model(torch.from_numpy(x).unsqueeze(1).float() / 255)
    pred = logits.argmax(1).numpy()
    assert np.array_equal(r.predictions, pred)
    assert r.n == len(y) and r.accuracy == pytest.approx((pred == y).mean())
    per = [np.mean(pred[y == c] == c) for c in range(5, 15)]
    assert r.balanced_accuracy == pytest.approx(np.mean(per))
    assert np.isnan(r.per_class[:5]).all() and np.isnan(r.per_class[15:]).all()
    np.testing.assert_allclose(r.per_class[5:15], per)
    assert r.confusion.sum() == len(y) and r.confusion.dtype == np.int64
    assert r.support[5:15].tolist() == [3] * 10 and r.support.sum() == len(y)
    assert r.proba.shape == (len(y), 49)


def test_train_folder_saves_checkpoint_with_test_metrics_and_provenance(tiny_dir: Path) -> None:
    out = tiny_dir.parent / "models" / "m.pt"
    events: list[TrainEvent] = []
    res = train_folder(_cfg(epochs=2), tiny_dir, out,
                       progress=lambda f, t, ev: events.append(ev))
    lm = load_checkpoint(out)
    assert out.exists() and lm.path == out and res.checkpoint == out
    assert res.metrics == lm.metrics
    steps = [e for e in events if e.kind == "step"]
    assert steps and all(e.batch_loss is not None for e in steps)
    assert steps[0].n_train + steps[0].n_val == 49 * 12
    assert res.epochs_completed == 2 and not res.stopped
    m = lm.metrics
    assert m["epochs_completed"] == 2
    assert m["data"]["is_demo"] is False and m["data"]["n_test"] == 49 * 4
    assert m["data"]["n_train"] + m["data"]["n_val"] == 49 * 12
    assert 0 <= m["test_balanced_accuracy"] <= 1 and len(m["test_per_class"]) == 49
    assert str(tiny_dir.resolve()) in lm.trained_on and "K49 data" in lm.trained_on
    assert lm.train_config["epochs"] == 2 and lm.train_config["model"]["channels"] == [8, 16, 32]
    ds = open_dataset(tiny_dir)
    r = evaluate(lm, ds.split("test").images, ds.split("test").labels)
    assert r.balanced_accuracy == pytest.approx(m["test_balanced_accuracy"])


def test_stopping_train_folder_keeps_the_last_completed_epoch(tiny_dir: Path) -> None:
    out = tiny_dir.parent / "m.pt"
    seen: list[TrainEvent] = []

    def should_stop() -> bool:
        # stop as soon as epoch 2 has started (like Ctrl-C / the Stop button)
        return any(e.kind == "step" and e.epoch == 2 for e in seen)

    res = train_folder(_cfg(epochs=4), tiny_dir, out,
                       progress=lambda f, t, ev: seen.append(ev), should_stop=should_stop)
    lm = load_checkpoint(out)
    assert res.stopped and res.epochs_completed == 1
    assert lm.metrics["epochs_completed"] == 1 and "test_balanced_accuracy" not in lm.metrics
    again = load_checkpoint(out)
    for k, v in res.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k]), k


def test_stopping_before_the_first_epoch_saves_nothing(tiny_dir: Path) -> None:
    out = tiny_dir.parent / "m.pt"
    with pytest.raises(Cancelled, match="m.pt: training stopped before the first epoch"):
        train_folder(_cfg(), tiny_dir, out, should_stop=lambda: True)
    assert not out.exists()


def test_bad_train_config_values_are_refused() -> None:
    with pytest.raises(ValueError, match="imbalance"):
        TrainConfig(imbalance="oversample")
    with pytest.raises(ValueError, match="val_fraction"):
        TrainConfig(val_fraction=1.0)
    assert TrainConfig.from_dict(TrainConfig(epochs=3).to_dict()) == TrainConfig(epochs=3)
