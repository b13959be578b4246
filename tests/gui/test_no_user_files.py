"""The test suite never touches the user's files (a test once wrote 'ValueError: boom in a
slot' into ~/.local/state/k49desk/log/k49desk.log).

A few GUI tests that write a log, settings (window geometry, recent folders, the export
folder) run in a child pytest whose HOME is an empty folder and whose environment has none
of the K49DESK_* / XDG_* redirections: only tests/conftest.py may redirect them. Afterwards
nothing named k49desk may exist under that home.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
WRITERS = [
    "gui/test_main_window.py::test_excepthook_logs_and_shows_dialog_never_in_the_users_log",
    "gui/test_main_window.py::test_geometry_is_restored",
    "gui/data/test_data_panel.py::test_open_valid_folder_sets_dataset_and_remembers_it",
    "gui/test_main_window_chrome.py::test_every_message_is_kept_in_a_log_that_opens_from_the_bar_and_the_menu",
]


def test_gui_tests_write_nothing_under_the_users_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("K49DESK_", "XDG_", "PYTEST_"))}
    env.update(HOME=str(home), QT_QPA_PLATFORM="offscreen")
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "basetemp"), *[str(TESTS / t) for t in WRITERS]],
        cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"{len(WRITERS)} passed" in r.stdout
    touched = [str(p.relative_to(home)) for p in home.rglob("*") if "k49desk" in str(p).lower()]
    assert touched == [], f"tests wrote into the user's home: {touched}"
