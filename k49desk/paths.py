"""Where the project's folders are: resources, default models, default data."""

from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent
REPO_ROOT = _PKG.parent
RESOURCES_DIR = Path(os.environ.get("K49DESK_RESOURCES", REPO_ROOT / "resources"))
FONTS_DIR = RESOURCES_DIR / "fonts"
MODELS_DIR = Path(os.environ.get("K49DESK_MODELS_DIR", REPO_ROOT / "models"))
DEFAULT_MODEL = REPO_ROOT / "models" / "k49desk-default.pt"


def default_data_dir() -> Path:
    """`K49DESK_DATA_DIR` if set, else `./data` (relative to the working directory)."""
    env = os.environ.get("K49DESK_DATA_DIR")
    return Path(env) if env else Path("data")


def resolve_data_dir(arg: str | os.PathLike[str] | None) -> Path:
    """`--data-dir` wins over `K49DESK_DATA_DIR`, which wins over `./data`."""
    return Path(arg) if arg else default_data_dir()
