"""Whether a finished run becomes the current model by itself, or is only offered. No Qt.

The rule (issue 9, item 7): a stopped run, or one that is worse than the current model on
the same test split, never replaces the current model without the user choosing it. A
completed run becomes current when there is no model, when it is at least as good as the
current one on the same test split, or (when they cannot be compared on the same data)
when the current model is only the bundled default.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Choice:
    make_current: bool
    reason: str  # one sentence for the log / the offer bar


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def choose(*, run: str, stopped: bool, epochs_done: int, epochs_planned: int,
           new_score: float | None, current: str | None, current_score: float | None,
           current_is_default: bool) -> Choice:
    """`new_score`/`current_score`: balanced accuracy of the run and of the current model on
    the same test split (None when unknown: no test split, not evaluated)."""
    if stopped:
        return Choice(False, f"Stopped after epoch {epochs_done} of {epochs_planned}: {run} "
                             "is saved but was not made the current model"
                      + (f" ({current} stays)." if current else "."))
    if current is None:
        return Choice(True, f"{run} is the current model (there was none).")
    if new_score is not None and current_score is not None:
        if new_score >= current_score:
            return Choice(True, f"{run} is the current model: {_pct(new_score)} balanced "
                                f"accuracy on this test split, {current} had "
                                f"{_pct(current_score)}.")
        return Choice(False, f"{run} scores {_pct(new_score)} on this test split, the current "
                             f"model {current} {_pct(current_score)}: {current} stays.")
    if current_is_default:
        return Choice(True, f"{run} replaces the bundled default model as the current model.")
    return Choice(False, f"{run} and the current model {current} were not measured on the "
                         f"same test data: {current} stays.")
