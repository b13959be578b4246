"""Find suspects plans: presets from the CLI's defaults, expected times, time left."""

from __future__ import annotations

from pathlib import Path

import pytest
from k49helpers import make_k49_folder

from k49desk.core.dataset import open_dataset
from k49desk.core.issues import default_train_config
from k49desk.core.scan_plan import (
    CHECKS_S_PER_IMAGE,
    Eta,
    ScanPlan,
    estimate_seconds,
    format_duration,
    images_to_train,
    measure_speed,
    presets,
    train_config,
)


def test_presets_are_quick_the_cli_default_and_checks_only() -> None:
    from k49desk.core.issues import default_folds, fold_epochs

    for n in (5_000, 60_000, 232_365):
        quick, thorough, checks = presets(n)
        f = default_folds(n)
        e = fold_epochs(default_train_config(n), n, f)
        assert (thorough.folds, thorough.epochs) == (f, e)  # `k49desk find-issues` as is
        assert (quick.folds, quick.epochs) == (3, max(1, fold_epochs(default_train_config(n),
                                                                     n, 3) // 2))
        assert checks.folds == 0 and "no label check" in checks.describe()


def test_train_config_changes_only_the_epochs(tmp_path: Path) -> None:
    ds = open_dataset(make_k49_folder(tmp_path / "d", n_train=2, n_test=1))
    thorough = presets(len(ds.split("train")))[1]
    assert train_config(ds, "train", thorough) is None  # find_issues' own default
    cfg = train_config(ds, "train", ScanPlan("custom", "Custom", 4, 2))
    assert cfg.epochs == 2 and cfg.model == default_train_config(98).model
    assert train_config(ds, "train", ScanPlan("checks", "Checks only", 0)) is None


def test_expected_time_counts_the_images_each_fold_trains_on() -> None:
    # 5 folds x 3 epochs x 4/5 of 100k images = 1.2M images; at 10k/s: 120 s of training
    assert images_to_train(100_000, 5, 3) == pytest.approx(1_200_000)
    assert images_to_train(100_000, 5, 3, done_folds=2) == pytest.approx(720_000)
    plan = ScanPlan("custom", "Custom", 5, 3)
    est = estimate_seconds(100_000, plan, 10_000.0)
    assert est == pytest.approx(100_000 * CHECKS_S_PER_IMAGE + 120 * 1.05)
    assert estimate_seconds(100_000, plan, None) is None  # speed not measured yet
    assert estimate_seconds(100_000, ScanPlan("checks", "C", 0), None) == pytest.approx(
        100_000 * CHECKS_S_PER_IMAGE)
    assert [format_duration(s) for s in (3, 41, 130, 3600, 4800, None)] == [
        "about 5 s", "about 40 s", "about 2 min", "about 1 h", "about 1 h 20 min", ""]


def test_eta_extrapolates_from_the_training_updates_only() -> None:
    now = [0.0]
    eta = Eta(min_seconds=3.0, clock=lambda: now[0])
    assert eta.update(0.08, training=False) is None  # the checks: not the training's speed
    now[0] = 10.0
    assert eta.update(0.10) is None  # the first training update starts the clock
    now[0] = 12.0
    assert eta.update(0.12) is None  # not enough seconds yet
    now[0] = 20.0
    assert eta.update(0.30) == pytest.approx(10 / 0.2 * 0.7)


def test_measure_speed_trains_briefly_on_the_split(tmp_path: Path) -> None:
    from k49desk.core.model import ModelConfig
    from k49desk.core.training import TrainConfig

    ds = open_dataset(make_k49_folder(tmp_path / "d", n_train=12, n_test=1))
    s = ds.split("train")
    cfg = TrainConfig(epochs=5, batch_size=32, augment=False, val_fraction=0.0,
                      model=ModelConfig(channels=(8, 16, 32)))
    ips = measure_speed(s.images, s.labels, cfg, seconds=0.2)
    assert 50 < ips < 1e6  # images per second on this machine, whatever its load
    assert measure_speed(s.images, s.labels, cfg, should_stop=lambda: True) == 0.0


def test_measure_speed_with_the_small_split_default_config(tmp_path: Path) -> None:
    """find_issues' config for small splits leaves the batch size to the schedule (None):
    the Find suspects dialog measured nothing and said so ("NoneType * int")."""
    from k49desk.core.fold_config import default_train_config

    ds = open_dataset(make_k49_folder(tmp_path / "d", n_train=12, n_test=1))
    s = ds.split("train")
    cfg = default_train_config(len(s))
    assert cfg.batch_size is None
    assert measure_speed(s.images, s.labels, cfg, seconds=0.2) > 0
