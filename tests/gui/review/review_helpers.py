"""Helpers of the Review panel tests (fixtures are in this folder's conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from k49desk.core.review import ReviewSession
from k49desk.gui.common.state import AppState
from k49desk.gui.review.io import NewFlags
from k49desk.gui.review.panel import ReviewPanel


def start_review(qtbot, p: ReviewPanel, flags: pd.DataFrame, proba: np.ndarray | None = None,  # noqa: ANN001
                 split: str = "train", **kw: object) -> ReviewSession:
    """New flags for `split`, as Find suspects gives them; waits for the session."""
    p.sessions.replace(NewFlags(split, flags, proba, **kw))
    qtbot.waitUntil(lambda: p.sessions.get(split) is not None
                    and len(p.sessions.get(split)) == len(flags), timeout=10000)
    return p.sessions.get(split)


def new_panel(qtbot, state: AppState) -> ReviewPanel:  # noqa: ANN001
    p = ReviewPanel(state)
    qtbot.addWidget(p)
    ds = state.dataset
    if ds is not None:  # every split's session opens once its store is open
        qtbot.waitUntil(lambda: not any(p.sessions.opening(s) for s in ds.split_names),
                        timeout=10000)
    return p


def on_disk(p: ReviewPanel, split: str = "train") -> ReviewSession:
    """The review as another process would read it now (its own connection to the file)."""
    return ReviewSession.open(p.state.dataset.root, split)
