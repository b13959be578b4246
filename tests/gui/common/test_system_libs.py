"""The desktop check before Qt: name the missing X11 libraries and the command, never abort."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from k49desk.gui.common import system_libs as sl


def test_xcb_is_only_checked_where_qt_would_use_it() -> None:
    assert sl.uses_xcb({}, "linux")
    assert sl.uses_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not sl.uses_xcb({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not sl.uses_xcb({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"},
                           "linux")
    assert not sl.uses_xcb({}, "darwin") and not sl.uses_xcb({}, "win32")


def test_a_missing_library_is_named_with_its_install_command(
        monkeypatch: pytest.MonkeyPatch) -> None:
    libs = {"libc.so.6": "libc6", "libk49desk-nope.so.9": "libk49desk-nope9"}
    assert sl.missing_libraries(libs) == {"libk49desk-nope.so.9": "libk49desk-nope9"}
    monkeypatch.setattr(sl.shutil, "which", lambda name: "/usr/bin/apt-get")
    assert sl.install_command(["a", "b"], root=True) == [
        "apt-get", "install", "-y", "--no-install-recommends", "a", "b"]
    assert sl.install_command(["a"], root=False)[:2] == ["sudo", "apt-get"]
    msg = sl.describe_missing({"libxcb-cursor.so.0": "libxcb-cursor0"})
    assert "libxcb-cursor.so.0" in msg and "apt-get install" in msg and "libxcb-cursor0" in msg
    assert "\n" not in msg  # one line
    monkeypatch.setattr(sl.shutil, "which", lambda name: None)  # not Debian/Ubuntu
    assert "package manager" in sl.describe_missing({"libxcb-cursor.so.0": "libxcb-cursor0"})


def test_launch_prints_the_line_and_exits_instead_of_a_qt_abort(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from k49desk.gui.common import system_libs as sl\n"
        "sl.XCB_LIBRARIES['libk49desk-nope.so.9'] = 'libk49desk-nope9'\n"
        "from k49desk.gui.app import run_app\n"
        "rc = run_app()\n"
        "print('qt loaded' if 'PySide6.QtWidgets' in sys.modules else 'no qt', rc)\n")
    env = {"DISPLAY": ":99", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert "libk49desk-nope.so.9" in out.stderr and "libk49desk-nope9" in out.stderr
    assert out.stdout.split() == ["no", "qt", "3"]


def test_the_install_script_runs_without_the_package(tmp_path: Path) -> None:
    # The README runs it with the system python before the venv exists: no k49desk imports.
    import ast

    script = Path(sl.__file__)
    imported = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert not imported & {"k49desk", "PySide6"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert out.returncode in (0, 1) and "k49desk" in out.stdout
