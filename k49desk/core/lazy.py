"""Modules imported on first use, for code on the app's launch path.

pandas costs 0.35-0.45 s to import, a quarter of the 1.5 s launch budget, and the window needs
it only once a flags table or an export is used. A module on the launch path writes
`from k49desk.core.lazy import pd` instead of `import pandas as pd`: the same name, loaded
when an attribute is first read (`pd.DataFrame`, `pd.read_csv`). Annotations stay strings
(`from __future__ import annotations`), so type hints never trigger the import.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for a module; imports it the first time one of its attributes is read."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:  # only called for names not found normally
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r} ({state})>"


pd: Any = LazyModule("pandas")
