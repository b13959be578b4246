"""Test set-up: Qt offscreen, settings and caches redirected, tiny K49 folders on demand."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from k49helpers import make_k49_folder  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL10 = SHARED_DATA / "kuzushiji-real10"
FIRST100 = SHARED_DATA / "k49-test-first100"
SHARED_K49 = Path(__file__).resolve().parents[2] / "shared" / "k49"


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("K49DESK_SETTINGS", str(home / "settings.ini"))
    monkeypatch.setenv("K49DESK_LOG_DIR", str(home / "log"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("K49DESK_MODELS_DIR", str(home / "models"))
    monkeypatch.delenv("K49DESK_DATA_DIR", raising=False)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


class ErrorDialogs(list):
    """(title, text) of every error dialog the app showed (through gui.common.errors)."""

    def titles(self) -> list[str]:
        return [t for t, _ in self]

    def texts(self) -> list[str]:
        return [x for _, x in self]


@pytest.fixture(autouse=True)
def _error_dialogs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """No modal error box ever blocks a test: each is recorded; a test that did not ask for
    `error_dialogs` fails if one was shown (an error it did not expect)."""
    shown = ErrorDialogs()
    from k49desk.gui.common import errors  # imports no Qt

    monkeypatch.setattr(errors, "present",
                        lambda title, text, *_a, **_k: shown.append((title, text)))
    yield shown
    if "error_dialogs" not in request.fixturenames:
        assert not shown, f"unexpected error dialog(s): {list(shown)}"


@pytest.fixture
def error_dialogs(_error_dialogs: ErrorDialogs) -> ErrorDialogs:
    return _error_dialogs


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """A valid K49 folder: 49 classes, 12 train / 4 test images each, learnable patterns."""
    return make_k49_folder(tmp_path / "tiny", n_train=12, n_test=4)


def _private_copy(src: Path, dst: Path) -> Path:
    """The shared folder's files copied for one test: opening a folder may write beside it
    (the annotation store, the data cache) and the permission bits do not stop root."""
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


@pytest.fixture
def real10(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REAL10 / "k49-train-imgs.npz").exists():
        pytest.skip("../shared/data/kuzushiji-real10 is not available")
    return _private_copy(REAL10, tmp_path_factory.mktemp("shared") / REAL10.name)


@pytest.fixture
def first100(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (FIRST100 / "k49-test-imgs.npz").exists():
        pytest.skip("../shared/data/k49-test-first100 is not available")
    return _private_copy(FIRST100, tmp_path_factory.mktemp("shared") / FIRST100.name)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# ---- a local HTTP server with small K49-format files (download tests, start page tests) ----
@pytest.fixture(scope="module")
def k49_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    from k49desk.core.dataset import OFFICIAL_FILES

    src = make_k49_folder(tmp_path_factory.mktemp("src") / "k49", n_train=6, n_test=2)
    return {name: (src / name).read_bytes() for name in OFFICIAL_FILES}


@pytest.fixture
def expected(k49_files: dict[str, bytes]) -> dict[str, tuple[int, str]]:
    return {n: (len(b), hashlib.md5(b).hexdigest()) for n, b in k49_files.items()}


@pytest.fixture
def server(k49_files: dict[str, bytes]) -> Iterator:
    from httpserver import FileServer

    with FileServer(k49_files) as srv:
        yield srv
