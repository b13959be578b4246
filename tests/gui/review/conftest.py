"""Fixtures of the Review panel tests: a panel on the tiny folder with 30 flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from k49helpers import make_flags
from review_helpers import new_panel, start_review

from k49desk.core.dataset import open_dataset
from k49desk.gui.common.state import AppState
from k49desk.gui.review.panel import ReviewPanel


@pytest.fixture
def messages(error_dialogs: list) -> list[tuple[str, str]]:
    """Error dialogs, recorded instead of shown (they would block an offscreen test)."""
    return error_dialogs


@pytest.fixture
def panel(qtbot, tiny_dir: Path, messages) -> ReviewPanel:  # noqa: ANN001
    state = AppState()
    ds = open_dataset(tiny_dir)
    state.set_dataset(ds)
    p = new_panel(qtbot, state)
    p.resize(1200, 800)
    p.show()
    labels = ds.split("train").labels
    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.ones(49), len(labels)).astype(np.float32)
    start_review(qtbot, p, make_flags(labels, n=30), proba, model="cv.pt", method="2-fold")
    return p
