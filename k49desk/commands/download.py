"""`k49desk download`: fetch the five official K49 files (md5-checked, resumable)."""

from __future__ import annotations

import argparse
import sys

from k49desk.commands.common import (
    add_data_dir,
    float_range,
    http_url,
    progress_bar,
    resolve_data_dir,
)


def register(sub: argparse._SubParsersAction) -> None:
    from k49desk.core.download import BASE_URL, TOTAL_BYTES, format_bytes

    p = sub.add_parser(
        "download",
        help=f"download Kuzushiji-49 (5 files, {format_bytes(TOTAL_BYTES)}), md5-checked",
        description="Download the official K49 files into the data folder. Each file is "
                    "checked against its published md5 before it is installed; an interrupted "
                    "download is resumed by running the command again.")
    add_data_dir(p)
    p.add_argument("--base-url", type=http_url, default=BASE_URL,
                   help=f"http(s) mirror holding the five files (default: {BASE_URL})")
    p.add_argument("--timeout", type=float_range(0.0, 3600.0, lo_open=True), default=30.0,
                   help="seconds to wait for the server before giving up, up to 3600 "
                        "(default: 30)")
    p.set_defaults(func=run)


class _Bars:
    """One tqdm bar per file, in bytes; tqdm shows the speed and the time left."""

    def __init__(self) -> None:
        self.bar = None
        self.file: str | None = None

    def __call__(self, fraction: float | None, text: str, ev: object = None) -> None:
        from tqdm import tqdm

        if ev.status == "checking":
            return
        if ev.status == "skipped":
            self.close()
            tqdm.write(f"{ev.file}: already present, md5 ok (skipped)", file=sys.stderr)
            return
        if ev.file != self.file:
            self.close()
            self.file = ev.file
            label = f"[{ev.file_index + 1}/{ev.n_files}] {ev.file}"
            self.bar = progress_bar(ev.total_bytes, label, unit="B", unit_scale=True,
                                    unit_divisor=1000, initial=ev.resumed_from)
            if ev.resumed_from:
                tqdm.write(f"{ev.file}: resuming after {ev.resumed_from:,} bytes", file=sys.stderr)
        if ev.status == "downloading" and self.bar is not None:
            self.bar.update(ev.done_bytes - self.bar.n)
        elif ev.status == "installed":
            if self.bar is not None:
                self.bar.update(ev.total_bytes - self.bar.n)
                self.bar.set_postfix_str("md5 ok", refresh=True)
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.file = None, None


def run(args: argparse.Namespace) -> int:
    from k49desk.core.download import download_k49, partial_files

    data_dir = resolve_data_dir(args.data_dir)
    bars = _Bars()
    try:
        paths = download_k49(data_dir, base_url=args.base_url, progress=bars,
                             timeout=args.timeout)
    except KeyboardInterrupt:
        bars.close()
        kept = "; partial download kept for resume" if partial_files(data_dir) else ""
        print(f"k49desk: interrupted{kept}", file=sys.stderr)
        return 130
    finally:
        bars.close()
    from k49desk.core.dataset import open_dataset

    # Opening once checks the arrays end to end and unpacks the fast cache the app will use.
    print("Checking the arrays and preparing the fast cache…", file=sys.stderr)
    ds = open_dataset(data_dir)
    counts = ", ".join(f"{s} {len(ds.splits[s]):,}" for s in ds.split_names)
    print(f"{len(paths)} files ready in {data_dir} (md5 verified; {counts} images). "
          f"Next: k49desk info --data-dir {data_dir}")
    return 0
