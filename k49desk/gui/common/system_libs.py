"""System libraries that Qt's `xcb` platform plugin (X11 desktops) needs, checked before Qt.

PySide6 wheels bundle Qt itself but not the X11/xcb client libraries; since Qt 6.5 a desktop
without `libxcb-cursor0` (and, on a minimal Debian, `libxcb-icccm4`, `libxcb-keysyms1`, ...)
makes Qt abort while creating the QApplication. `k49desk` checks first and prints one line
naming what is missing and the command that installs it.

This file imports nothing from k49desk or Qt, so the README's launch line can run it with the
system Python before the virtual environment exists:

    python3 k49desk/gui/common/system_libs.py --install   # no-op off Linux / when complete
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys

# soname -> Debian/Ubuntu package: what libqxcb.so and libQt6XcbQpa.so.6 link against
# (`ldd` on PySide6 6.11), plus OpenGL/EGL/fontconfig/D-Bus that QtGui needs everywhere.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}


def uses_xcb(env: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """True when Qt would pick its xcb plugin: Linux/BSD, no explicit other platform, and not
    a Wayland session (where Qt uses its bundled wayland plugin)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not (platform.startswith("linux") or "bsd" in platform):
        return False
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip()
    if qpa:
        return qpa == "xcb"
    return not (env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland")


def missing_libraries(libraries: dict[str, str] | None = None) -> dict[str, str]:
    """The sonames (-> package) that the dynamic loader cannot find."""
    missing = {}
    for soname, package in (XCB_LIBRARIES if libraries is None else libraries).items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing[soname] = package
    return missing


def install_command(packages: list[str], root: bool | None = None) -> list[str] | None:
    """The apt-get command installing `packages` (with sudo unless root); None without apt."""
    if not shutil.which("apt-get"):
        return None
    root = (os.geteuid() == 0) if root is None else root
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    return cmd if root else ["sudo", *cmd]


def describe_missing(missing: dict[str, str]) -> str:
    """One line naming the missing libraries and how to install them."""
    libs = ", ".join(missing)
    cmd = install_command(sorted(set(missing.values())))
    how = (f"install them with: {' '.join(cmd)}" if cmd else
           "install them with your package manager (packages named like "
           f"{', '.join(sorted(set(missing.values())))})")
    return (f"k49desk: the desktop window needs system libraries that are missing "
            f"({libs}); {how}")


def check_before_qt() -> str | None:
    """None when the window can be created; else the one-line message to print."""
    if not uses_xcb():
        return None
    missing = missing_libraries()
    return describe_missing(missing) if missing else None


def venv_package() -> str | None:
    """Debian/Ubuntu split `venv`'s pip bootstrap into python3.X-venv: name it when absent."""
    try:
        import ensurepip  # noqa: F401
    except ImportError:
        return f"python{sys.version_info.major}.{sys.version_info.minor}-venv"
    return None


def install_missing() -> int:
    """Install what is missing (apt-get, with sudo when not root). 0 when nothing is missing
    afterwards or there is nothing to do on this system."""
    if not (sys.platform.startswith("linux")):
        return 0
    missing = missing_libraries()
    venv = venv_package()
    if venv and shutil.which("apt-get"):
        missing["python -m venv"] = venv
    if not missing:
        return 0
    packages = sorted(set(missing.values()))
    cmd = install_command(packages)
    if cmd is None:
        print(describe_missing(missing), file=sys.stderr)
        return 1
    print(f"k49desk needs {len(packages)} system libraries for its window: {' '.join(cmd)}",
          file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    update = [*cmd[:cmd.index("install")], "update", "-qq"]
    quiet = {"stdout": subprocess.DEVNULL}
    if (subprocess.call(update, env=env, **quiet) != 0
            or subprocess.call([*cmd[:-len(packages)], "-qq", *packages], env=env, **quiet) != 0):
        print(describe_missing(missing), file=sys.stderr)
        return 1
    still = missing_libraries()
    if venv_package():
        still["python -m venv"] = venv
    if still:
        print(describe_missing(still), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--install"]:
        sys.exit(install_missing())
    msg = check_before_qt()
    print(msg or "k49desk: every library the desktop window needs is present")
    sys.exit(1 if msg else 0)
