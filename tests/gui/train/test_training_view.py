"""The Training tab's words and numbers: ETA agrees with the speed shown, exports only when
there are curves, the bar after a run, epochs counted in good English."""

from __future__ import annotations

from pathlib import Path

import pytest

from k49desk.core.errors import K49Error
from k49desk.core.training import TrainEvent
from k49desk.gui.train.training_view import SpeedMeter, TrainingView, fmt_eta, plural


def _step(g: int, *, spe: int = 10, epochs: int = 5, n_train: int = 1000) -> TrainEvent:
    e, s = divmod(g - 1, spe)
    # The core's own speed and ETA are deliberately off: the view must not mix them.
    return TrainEvent("step", e + 1, epochs, s + 1, spe, g, 1.0, 0.5, images_per_s=345.0,
                      eta_s=27.0, batch_loss=1.0, n_train=n_train)


def test_eta_is_the_work_left_at_the_speed_shown(qtbot) -> None:  # noqa: ANN001
    now = [0.0]
    v = TrainingView(lambda _t: None)
    qtbot.addWidget(v)
    v.speed = SpeedMeter(window_s=15.0, clock=lambda: now[0])
    v.begin("run-x", 5)
    v.show_events([_step(1)], stopping=False)
    now[0] = 10.0
    v.show_events([_step(11)], stopping=False)
    # 10 steps of 100 images in 10 s: 100 img/s; 39 steps of 100 images left: 39 s.
    assert "· 100 img/s · ETA 0:39" in v.progress.format()
    now[0] = 40.0  # the window slides: only the last 15 s count
    v.show_events([_step(21)], stopping=True)
    assert "· 33 img/s · ETA 1:27" in v.progress.format()  # 2900 images at 1000 per 30 s
    assert v.progress.format().endswith("— stopping…")
    assert v.progress.value() == 21 and v.progress.maximum() == 50


def test_speed_meter_falls_back_until_it_has_a_measure() -> None:
    m = SpeedMeter(clock=lambda: 0.0)
    assert m.rate(fallback=12.0) == 12.0
    m.add(100)
    assert m.rate(fallback=12.0) == 12.0
    assert SpeedMeter.eta_s(100, 0.0) is None and fmt_eta(None) == "—"
    assert fmt_eta(3725) == "1:02:05" and fmt_eta(59.6) == "1:00"


def test_curve_exports_only_when_there_are_curves(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    v = TrainingView(lambda _t: None)
    qtbot.addWidget(v)
    assert not v.csv_btn.isEnabled() and not v.png_btn.isEnabled()
    assert v.suggested_name("csv") == "curves.csv"  # was "curves-curves.csv"
    with pytest.raises(K49Error, match="no curves"):
        v.curves.export_csv(tmp_path / "c.csv")
    assert not (tmp_path / "c.csv").exists()  # no header-only file
    v.begin("run-20260101-000001", 5)
    assert not v.csv_btn.isEnabled()
    v.show_events([_step(1)], stopping=False)
    assert v.csv_btn.isEnabled() and v.png_btn.isEnabled()
    assert v.suggested_name("png") == "run-20260101-000001-curves.png"
    v.curves.export_png(tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
    v.begin("run-20260101-000002", 5)  # a new run starts empty again
    assert not v.csv_btn.isEnabled()


def test_end_of_run_bar_and_words(qtbot) -> None:  # noqa: ANN001
    v = TrainingView(lambda _t: None)
    qtbot.addWidget(v)
    v.begin("run-x", 5)
    v.show_events([_step(17)], stopping=True)
    v.end("stopped after 1 epoch of 5 · run-x.pt", full=False)
    assert v.progress.value() == 0 and v.progress.format() == "stopped after 1 epoch of 5 · " \
        "run-x.pt"
    v.end("done", full=True)
    assert v.progress.value() == v.progress.maximum()
    assert (plural(1, "epoch"), plural(2, "epoch"), plural(0, "epoch")) == (
        "1 epoch", "2 epochs", "0 epochs")
