"""The other splits' images also train a small split's fold models (never scored)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from k49desk.core import fold_config, issues, training
from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.dataset import K49Dataset, Split


def dataset(root: Path, n_train: int, n_test: int) -> K49Dataset:
    rng = np.random.default_rng(0)

    def split(name: str, n: int) -> Split:
        return Split(name, rng.integers(0, 255, (n, 28, 28), dtype=np.uint8),
                     (np.arange(n) % 4).astype(np.uint8))

    return K49Dataset(root=root, classes=OFFICIAL_CLASSES,
                      splits={"train": split("train", n_train), "test": split("test", n_test)})


def test_other_splits_join_only_small_splits_and_only_when_they_are_smaller(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = dataset(tmp_path, 40, 20)
    assert issues.other_split_names(ds, "train") == ["test"]  # 20 <= 0.5 x 40
    assert issues.other_split_names(ds, "test") == []  # 40 train images would triple the cost
    assert issues.other_split_names(dataset(tmp_path, 40, 21), "train") == []
    monkeypatch.setattr(fold_config, "SMALL_SPLIT", 39)  # a big split has data enough
    assert issues.other_split_names(ds, "train") == []


def test_fold_models_train_on_their_folds_plus_the_other_split(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from k49desk.core.model import ModelConfig
    from k49desk.core.training import TrainConfig

    seen: list[tuple[int, set[int]]] = []
    real_fit = training.fit

    def spy(cfg, images, labels, **kw):  # noqa: ANN001, ANN202
        seen.append((len(labels), {bytes(im) for im in np.asarray(images)[-20:]}))
        return real_fit(cfg, images, labels, **kw)

    monkeypatch.setattr(training, "fit", spy)
    ds = dataset(tmp_path, 40, 20)
    cfg = TrainConfig(epochs=1, batch_size=32, augment=False, imbalance="none",
                      val_fraction=0.0, seed=0, model=ModelConfig(channels=(4, 8, 8)))
    rep = issues.find_issues(ds, "train", folds=2, train_config=cfg, use_cache=False)
    test_images = {bytes(im) for im in ds.split("test").images}
    assert [n for n, _ in seen] == [20 + 20, 20 + 20]  # half of train + all of test, per fold
    assert all(last == test_images for _, last in seen)
    assert rep.proba.shape == (40, 49)  # only the scanned split is scored
    assert "test images also training them" in rep.method


def test_the_other_splits_are_part_of_the_cached_probabilities_name(tmp_path: Path) -> None:
    """A changed test split trains different fold models: train's cached probabilities must
    not be reused (and a split too big to join changes nothing)."""
    from k49desk.core.fold_cache import proba_cache_name

    a, b = dataset(tmp_path, 40, 20), dataset(tmp_path, 40, 20)
    assert proba_cache_name(a, "train", 2) == proba_cache_name(b, "train", 2)
    b.splits["test"] = Split("test", 255 - a.split("test").images, a.split("test").labels)
    assert proba_cache_name(a, "train", 2) != proba_cache_name(b, "train", 2)
    c = dataset(tmp_path, 40, 20)  # train changed: test's folds never see train (too big)
    c.splits["train"] = Split("train", 255 - a.split("train").images, a.split("train").labels)
    assert issues.other_split_names(a, "test") == []
    assert proba_cache_name(a, "test", 2) == proba_cache_name(c, "test", 2)


def test_the_epochs_reported_are_the_epochs_trained(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the schedule choosing the epochs, the other split's images make each fold's
    training set bigger and its epochs fewer: the method text, the Find suspects presets and
    their time estimate say what is trained (they said the epochs for the fold alone)."""
    from dataclasses import replace

    from k49desk.core.model import ModelConfig
    from k49desk.core.scan_plan import presets
    from k49desk.core.schedule import plan_training

    trained: list[int] = []
    real_fit = training.fit

    def spy(cfg, images, labels, **kw):  # noqa: ANN001, ANN202
        res = real_fit(replace(cfg, epochs=1), images, labels, **kw)  # quick; record the plan
        trained.append(plan_training(cfg, len(labels)).epochs)  # what fit would run
        return res

    monkeypatch.setattr(training, "fit", spy)
    ds = dataset(tmp_path, 4000, 1000)
    cfg = replace(fold_config.default_train_config(4000), model=ModelConfig(channels=(4, 8, 8)))
    rep = issues.find_issues(ds, "train", folds=2, train_config=cfg, use_cache=False,
                             init_model=False)
    assert len(set(trained)) == 1 and f"({trained[0]} epochs per fold" in rep.method
    want = fold_config.fold_epochs(cfg, 4000, 2, 1000)
    assert want == trained[0] != fold_config.fold_epochs(cfg, 4000, 2)
    assert presets(4000, 1000)[1].epochs == fold_config.fold_epochs(
        fold_config.default_train_config(4000), 4000, 5, 1000)
