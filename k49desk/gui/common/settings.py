"""Every QSettings key of the app, typed, in one place (labelme keeps a settings_version).

Only what belongs to the desktop session lives here: window geometry, the last and recent
data folders, the current model's path, the last export folder, the last training settings.
Tests point `K49DESK_SETTINGS` at an .ini file in tmp_path so they never touch the user's
settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

SETTINGS_VERSION = 2  # 2: model/current (was model/last_path)
MAX_RECENT = 8

_GEOMETRY = "window/geometry"
_LAST_FOLDER = "data/last_folder"
_RECENT = "recent_folders"
_MODEL = "model/current"
_TRAIN = "train/"
_EXPORT_DIR = "export/last_folder"


def qsettings() -> QSettings:
    path = os.environ.get("K49DESK_SETTINGS")
    s = QSettings(path, QSettings.Format.IniFormat) if path else QSettings("k49desk", "k49desk")
    _migrate(s)
    return s


def _migrate(s: QSettings) -> None:
    try:
        version = int(s.value("settings_version", 0) or 0)
    except (TypeError, ValueError):
        version = 0
    if version >= SETTINGS_VERSION:
        return
    if version < 2 and s.contains("model/last_path"):
        s.setValue(_MODEL, s.value("model/last_path"))
        s.remove("model/last_path")
    s.setValue("settings_version", SETTINGS_VERSION)


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):  # the ini format hands a one-item list back as a str
        value = [value]
    return [str(v) for v in (value or []) if v]


# ---- window -----------------------------------------------------------------------------
def window_geometry() -> QByteArray | None:
    v = qsettings().value(_GEOMETRY)
    return v if isinstance(v, QByteArray) else None


def set_window_geometry(geo: QByteArray) -> None:
    qsettings().setValue(_GEOMETRY, geo)


# ---- data folders -----------------------------------------------------------------------
def last_folder() -> Path | None:
    v = qsettings().value(_LAST_FOLDER)
    return Path(str(v)) if v else None


def recent_folders() -> list[str]:
    """Folders opened before, most recent first (at most MAX_RECENT)."""
    return _str_list(qsettings().value(_RECENT, []))[:MAX_RECENT]


def remember_folder(path: str | os.PathLike[str]) -> None:
    """A folder was opened: it becomes the last folder and the first recent one."""
    p = str(Path(path).resolve())
    s = qsettings()
    s.setValue(_LAST_FOLDER, p)
    s.setValue(_RECENT, ([p] + [f for f in recent_folders() if f != p])[:MAX_RECENT])


# ---- model ------------------------------------------------------------------------------
def current_model_path() -> Path | None:
    v = qsettings().value(_MODEL)
    return Path(str(v)) if v else None


def set_current_model_path(path: Path | None) -> None:
    s = qsettings()
    if path is None:
        s.remove(_MODEL)
    else:
        s.setValue(_MODEL, str(Path(path).resolve()))


# ---- exports ----------------------------------------------------------------------------
def export_dir() -> Path:
    """The folder of the last PNG/CSV export (File > Export and the panels' buttons), else
    the home folder: a save dialog opens where the user saved last."""
    v = qsettings().value(_EXPORT_DIR)
    p = Path(str(v)) if v else None
    return p if p is not None and p.is_dir() else Path.home()


def set_export_dir(path: str | os.PathLike[str]) -> None:
    """Remember the folder a file was just exported into (`path` is the file)."""
    qsettings().setValue(_EXPORT_DIR, str(Path(path).resolve().parent))


# ---- training form ----------------------------------------------------------------------
def _to_bool(v: Any) -> bool:
    return v if isinstance(v, bool) else str(v).strip().lower() in ("1", "true", "yes", "on")


def train_settings(defaults: dict[str, Any]) -> dict[str, Any]:
    """The last used training settings; each value converted to its default's type (the
    ini format hands strings back); anything missing or unreadable takes the default."""
    s = qsettings()
    out: dict[str, Any] = {}
    for k, d in defaults.items():
        v = s.value(_TRAIN + k, d)
        try:
            out[k] = _to_bool(v) if isinstance(d, bool) else type(d)(v)
        except (TypeError, ValueError):
            out[k] = d
    return out


def set_train_settings(values: dict[str, Any]) -> None:
    s = qsettings()
    for k, v in values.items():
        s.setValue(_TRAIN + k, v)
