"""`k49desk gui`: launch the app on a folder/panel, or render it offscreen to a PNG and exit."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from k49desk.commands.common import check_output_file

PANELS = ("data", "gallery", "stats", "draw", "train", "review", "map")  # = main_window.PANEL_KEYS
MIN_SIDE, MAX_SIDE = 100, 4096  # a 4096x4096 screenshot is 64 MB of pixels


def window_size(text: str) -> tuple[int, int]:
    """An argparse type: 'WIDTHxHEIGHT' with both sides in MIN_SIDE..MAX_SIDE."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(x.strip().isdigit() and len(x.strip()) < 7 for x in parts):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1400x900, got "
                                         f"{text[:30]!r}")
    w, h = (int(x) for x in parts)
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise argparse.ArgumentTypeError(f"each side must be from {MIN_SIDE} to {MAX_SIDE}, "
                                         f"got {w}x{h}")
    return w, h


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the app (or --screenshot it offscreen)")
    p.add_argument("--data-dir", default=None, help="data folder to open")
    p.add_argument("--demo", action="store_true", help="open the generated demo data")
    p.add_argument("--panel", choices=PANELS, default=None, help="panel to show")
    p.add_argument(
        "--class",
        dest="cls",
        default=None,
        metavar="CHAR",
        help="class to show: a character (か) or romaji (ka)",
    )
    p.add_argument("--model", default=None, help="checkpoint to use (default: the shipped model)")
    p.add_argument(
        "--indices",
        default=None,
        metavar="SEL.csv",
        help="open the Gallery on exactly the images of this selection CSV (columns split,index)",
    )
    p.add_argument(
        "--screenshot",
        default=None,
        metavar="OUT.png",
        help="render the window offscreen to this PNG and exit",
    )
    p.add_argument("--size", type=window_size, default="1400x900",
                   help=f"window size for --screenshot, WxH, each {MIN_SIDE} to {MAX_SIDE} "
                        "(default 1400x900)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    _check_indices(args)
    if not args.screenshot:
        from k49desk.gui.app import run_app

        return run_app(data_dir=args.data_dir, demo=args.demo, panel=args.panel,
                       show_class=_class_arg(args.cls), model=args.model,
                       indices=args.indices)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return screenshot(args)


def _check_indices(args: argparse.Namespace) -> None:
    """--indices: a readable file, said before any window opens (its rows are checked
    against the folder once it is open, and a bad row is reported there)."""
    from pathlib import Path

    from k49desk.core.errors import K49Error

    if args.indices is None:
        return
    p = Path(args.indices)
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "does not exist"
        raise K49Error(f"--indices {p}: {what}; expected a CSV with columns split,index")
    if args.panel not in (None, "gallery"):
        raise K49Error("--indices shows images in the Gallery; leave out --panel or use "
                       "--panel gallery")


def _class_arg(text: str | None) -> int | None:
    from k49desk.core.classes import class_for_text
    from k49desk.core.errors import K49Error

    if text is None:
        return None
    cls = class_for_text(text)
    if cls is None:
        raise K49Error(f"--class {text!r}: not one of the 49 K49 characters or romaji")
    return cls


def _wait(app, cond, timeout_s: float) -> bool:  # noqa: ANN001
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def save_png_atomic(img: object, out: Path) -> None:
    """Encode a QImage to PNG in memory, then write it atomically: a full disk leaves the old
    file (or nothing), never a partial PNG."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    from k49desk.core.atomic import atomic_write_bytes
    from k49desk.core.errors import K49Error

    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    ok = img.save(buf, "PNG")
    buf.close()
    if not ok:
        raise K49Error(f"{out}: the screenshot could not be encoded as PNG")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise K49Error(f"{out.parent}: cannot create the folder ({e.strerror or e})") from e
    atomic_write_bytes(out, bytes(data.data()), error=K49Error)


def screenshot(args: argparse.Namespace) -> int:
    from k49desk.core.dataset import open_dataset
    from k49desk.gui.app import make_app
    from k49desk.gui.main_window import MainWindow
    from k49desk.paths import DEFAULT_MODEL, default_data_dir, resolve_data_dir

    w, h = args.size if isinstance(args.size, tuple) else window_size(args.size)
    cls = _class_arg(args.cls)
    out = Path(args.screenshot)
    check_output_file(out, "--screenshot", create_folders=True)
    app = make_app()
    win = MainWindow()
    win.resize(w, h)
    folder = (
        default_data_dir() / "demo"
        if args.demo and not args.data_dir
        else resolve_data_dir(args.data_dir)
    )
    ds = None
    if folder.exists():
        ds = open_dataset(folder)
        win.state.set_dataset(ds)
    model_path = Path(args.model) if args.model else DEFAULT_MODEL
    if model_path.exists():
        from k49desk.core.model import load_checkpoint

        win.state.set_model(load_checkpoint(model_path), model_path, remember=False)
    panel = args.panel or ("gallery" if ds is not None else "data")
    win.show()
    win.show_panel(panel)
    if cls is not None:
        win.panel(panel).show_class(cls)
    if args.indices:
        win.panel("gallery").open_selection_csv(args.indices)
    if panel == "map" and ds is not None and model_path.exists():  # the finished map, not
        p = win.panel("map")                                  # the PCA preview (minutes)
        _wait(app, lambda: p.result is not None and p.result.method == p.method, 900.0)
    _wait(app, lambda: False, 1.0)  # let background work (thumbnails, charts, predictions) land
    img = win.grab().toImage()
    if (
        img.width() != w or img.height() != h
    ):  # window minimum larger than asked: crop, never stretch
        img = img.copy(0, 0, w, h)
    save_png_atomic(img, out)
    print(f"wrote {out} ({img.width()}x{img.height()}, panel {panel})", file=sys.stderr)
    win.close()
    return 0
