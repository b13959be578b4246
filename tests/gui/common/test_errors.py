"""The one error path: what the dialog says for an expected and an unexpected error."""

from __future__ import annotations

from pathlib import Path

import pytest

from k49desk.core.errors import DataError
from k49desk.gui.common import errors


def test_expected_errors_say_what_is_wrong_unexpected_ones_carry_their_traceback(
        qapp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: ANN001
    seen: list[tuple] = []
    monkeypatch.setattr(errors, "present", lambda *a, **k: seen.append(a))
    errors.show_error(None, "Cannot open", DataError("k49-train-imgs.npz: not a zip file"))
    title, text, informative, details, _parent = seen[-1]
    assert (title, text) == ("Cannot open", "k49-train-imgs.npz: not a zip file")
    assert informative == "" and details is None
    try:
        raise RuntimeError("boom")
    except RuntimeError as e:
        errors.show_error(None, "Export failed", e)
    title, text, informative, details, _parent = seen[-1]
    assert text == "RuntimeError: boom" and "bug in k49desk" in informative
    assert "Traceback" in details and "raise RuntimeError" in details
