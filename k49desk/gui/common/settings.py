"""QSettings in one place (geometry, recent folders, last hyperparameters).

Tests point K49DESK_SETTINGS at an .ini file in tmp_path so they never touch the user's.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

SETTINGS_VERSION = 1


def settings() -> QSettings:
    path = os.environ.get("K49DESK_SETTINGS")
    s = QSettings(path, QSettings.Format.IniFormat) if path else QSettings("k49desk", "k49desk")
    if s.value("settings_version") is None:
        s.setValue("settings_version", SETTINGS_VERSION)
    return s
