"""`k49desk gui`: launch the app on a folder/panel, or render it offscreen to a PNG and exit."""

from __future__ import annotations

import argparse
import os
import sys
import time

PANELS = ("data", "gallery", "stats", "draw", "train", "review")


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
        "--screenshot",
        default=None,
        metavar="OUT.png",
        help="render the window offscreen to this PNG and exit",
    )
    p.add_argument("--size", default="1400x900", help="window size for --screenshot (WxH)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.screenshot:
        from k49desk.gui.app import run_app

        return run_app(data_dir=args.data_dir, demo=args.demo, panel=args.panel)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return screenshot(args)


def _wait(app, cond, timeout_s: float) -> bool:  # noqa: ANN001
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def screenshot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from k49desk.core.classes import class_for_text
    from k49desk.core.dataset import open_dataset
    from k49desk.core.errors import K49Error
    from k49desk.gui.app import make_app
    from k49desk.gui.main_window import MainWindow
    from k49desk.paths import DEFAULT_MODEL, default_data_dir, resolve_data_dir

    try:
        w, h = (int(x) for x in args.size.lower().split("x"))
    except ValueError:
        raise K49Error(f"--size {args.size!r}: expected WIDTHxHEIGHT, e.g. 1400x900") from None
    cls = None
    if args.cls:
        cls = class_for_text(args.cls)
        if cls is None:
            raise K49Error(f"--class {args.cls!r}: not one of the 49 K49 characters or romaji")
    out = Path(args.screenshot)
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
    _wait(app, lambda: False, 1.0)  # let background work (thumbnails, charts, predictions) land
    img = win.grab().toImage()
    if (
        img.width() != w or img.height() != h
    ):  # window minimum larger than asked: crop, never stretch
        img = img.copy(0, 0, w, h)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not img.save(str(out)):
        raise K49Error(f"{out}: cannot write the screenshot")
    print(f"wrote {out} ({img.width()}x{img.height()}, panel {panel})", file=sys.stderr)
    win.close()
    return 0
