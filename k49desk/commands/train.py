"""`k49desk train`: train the CNN on a data folder, with a progress bar and safe Ctrl-C."""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from k49desk.commands.common import (
    MAX_SEED,
    add_data_dir,
    add_device_argument,
    add_json,
    add_threads,
    cap_threads,
    check_output_file,
    ctrl_c_requests_stop,
    float_range,
    int_range,
    open_data,
    print_json,
    progress_bar,
    resolve_data_dir,
)

if TYPE_CHECKING:  # torch is slow to import: the CLI loads it only when a command runs
    import torch

    from k49desk.core.distributed import DistInfo
    from k49desk.core.training import TrainConfig


def _defaults():  # noqa: ANN202  (TrainConfig, imported lazily: torch is slow to import)
    from k49desk.core.training import TrainConfig

    return TrainConfig()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train the CNN on a data folder (Ctrl-C keeps the last finished epoch)",
        description="Train the k49desk CNN on the train split of a data folder. A stratified "
                    "part of train is held out for validation; the test split (if any) is "
                    "scored at the end. A checkpoint is written after every epoch, so Ctrl-C "
                    "keeps the last completed one. Deterministic for a given --seed on CPU. "
                    "Under torchrun (torchrun --nproc_per_node N -m k49desk train ...) the N "
                    "processes train one data-parallel model; only the first one prints and "
                    "writes.")
    add_data_dir(p)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int_range(1, 10_000), default=None,
                        help="passes over the data (default: sized to the data, shown before "
                             "training starts: many passes over a small folder, 6 over full "
                             "K49)")
    length.add_argument("--time-budget", type=float_range(1.0, 1e7), default=None,
                        metavar="SECONDS",
                        help="instead of --epochs: measure this machine's speed and fit the "
                             "schedule into about this many seconds of training")
    p.add_argument("--out", default=None,
                   help="checkpoint to write (default: models/k49desk-<timestamp>.pt)")
    add_device_argument(p)
    p.add_argument("--seed", type=int_range(0, MAX_SEED), default=0,
                   help="random seed, 0 to 2**32-1 (default 0)")
    p.add_argument("--batch-size", type=int_range(2, 65_536), default=None,
                   help="images per step (default: 64 below 60,000 training images, else 128)")
    p.add_argument("--lr", type=float_range(0.0, 10.0, lo_open=True), default=None,
                   help="peak learning rate of the one-cycle schedule, > 0 (default 3e-3)")
    p.add_argument("--no-augment", action="store_true",
                   help="turn off the small random affine augmentation")
    p.add_argument("--imbalance", choices=("none", "weights", "sampler"), default=None,
                   help="how to treat rare classes: inverse-frequency loss weights (default), "
                        "balanced sampling, or nothing")
    p.add_argument("--val-fraction", type=float_range(0.0, 0.9), default=None,
                   help="share of train held out for validation, 0 to 0.9 (default 0.1)")
    add_threads(p)
    add_json(p)
    p.set_defaults(func=run)


def default_out_path() -> Path:
    from k49desk.core.runs import models_dir  # reads $K49DESK_MODELS_DIR now, else MODELS_DIR

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = models_dir() / f"k49desk-{stamp}.pt"
    k = 2
    while path.exists():
        path = path.with_name(f"k49desk-{stamp}-{k}.pt")
        k += 1
    return path


STOP_MESSAGE = ("k49desk: stopping after this batch; the last completed epoch is kept "
                "(Ctrl-C again to abort)")


def build_config(args: argparse.Namespace):  # noqa: ANN201
    from k49desk.core.training import TrainConfig

    d = _defaults()
    try:
        return TrainConfig(
            epochs=args.epochs if args.epochs is not None else d.epochs,
            time_budget_s=args.time_budget,
            batch_size=args.batch_size if args.batch_size is not None else d.batch_size,
            lr=args.lr if args.lr is not None else d.lr,
            augment=not args.no_augment,
            imbalance=args.imbalance or d.imbalance,
            val_fraction=args.val_fraction if args.val_fraction is not None else d.val_fraction,
            seed=args.seed, device=args.device, threads=cap_threads(args.threads),
        )
    except ValueError as e:
        from k49desk.core.errors import K49Error

        raise K49Error(f"train: {e}") from e


def _check_train_split(data_dir: str | None, val_fraction: float) -> None:
    """Fail with a sentence, before a model is built, when there is too little to train on."""
    from k49desk.core.errors import K49Error

    ds = open_data(data_dir, mmap=True)  # only counted here: mapping is enough
    n = len(ds.split("train"))
    n_train = n - int(round(n * val_fraction))
    if n < 2 or n_train < 2:
        raise K49Error(f"{ds.root}: the train split has {n:,d} image{'' if n == 1 else 's'}; "
                       "training needs at least 2 (plus the validation share)")


def _describe_compute(device: object, threads: int) -> str:
    """'cpu, 2 threads (auto)': what the run really uses, not what was asked."""
    import torch

    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    n = threads or torch.get_num_threads()
    return f"{kind}, {n} CPU thread{'s' if n != 1 else ''}{' (auto)' if not threads else ''}"


class _TrainBar:
    """The progress bar and epoch lines. An epoch line says '[saved]' only once the
    checkpoint of that epoch is on disk: the save happens after the epoch event, so the line
    waits for the next event (or the end of training)."""

    def __init__(self, out: Path) -> None:
        self.out, self.bar, self.pending = out, None, None

    def __call__(self, fraction: float | None, text: str, ev: object) -> None:
        self.flush(saved=True)
        if self.bar is None:
            self.bar = progress_bar(ev.steps_per_epoch * ev.epochs, "train", unit="batch")
        if ev.kind == "step":
            self.bar.set_description(f"epoch {ev.epoch}/{ev.epochs}", refresh=False)
            self.bar.set_postfix_str(f"loss {ev.loss:.3f} acc {ev.acc:.1%} "
                                     f"{ev.images_per_s:,.0f} img/s ETA {_hms(ev.eta_s)}",
                                     refresh=False)
            self.bar.update(ev.global_step - self.bar.n)
        else:
            val = ("" if ev.val_balanced_accuracy is None else
                   f", val balanced acc {ev.val_balanced_accuracy:.2%}, "
                   f"val acc {ev.val_accuracy:.2%}")
            self.pending = (f"epoch {ev.epoch}/{ev.epochs}: loss {ev.loss:.4f}, train acc "
                            f"{ev.acc:.2%}{val}")

    def flush(self, saved: bool) -> None:
        if self.pending is not None and self.bar is not None:
            tail = f"  [saved {self.out.name}]" if saved else "  [not saved]"
            self.bar.write(self.pending + tail, file=sys.stderr)
        self.pending = None

    def close(self, saved: bool) -> None:
        self.flush(saved)
        if self.bar is not None:
            self.bar.close()  # ends the bar's line: an error after it gets a line of its own
            self.bar = None


def run(args: argparse.Namespace) -> int:
    from k49desk.core import distributed
    from k49desk.core.device import resolve_device

    cfg = build_config(args)
    data_dir = resolve_data_dir(args.data_dir)
    device = resolve_device(cfg.device)  # fail early on an absent GPU
    _check_train_split(args.data_dir, cfg.val_fraction)
    with distributed.init_from_env(device) as info:
        return _train(args, cfg, data_dir, device, info)


def _train(args: argparse.Namespace, cfg: TrainConfig, data_dir: Path, device: torch.device,
           info: DistInfo) -> int:
    from k49desk.core.errors import Cancelled
    from k49desk.core.training import plan_for_folder, train_folder

    main = info.is_main
    out = Path(args.out) if args.out else (default_out_path() if main else Path("unused.pt"))
    if main:
        check_output_file(out, "--out", create_folders=True)
    stop = threading.Event()
    quiet = args.json or not main
    log = (lambda s: None) if quiet else (lambda s: print(s, file=sys.stderr))
    plan = plan_for_folder(cfg, data_dir, measure=not args.json)  # same choice on every rank
    compute = _describe_compute(device, cfg.threads)
    procs = f", {info.world_size} processes" if info.active else ""
    log(f"Training on {data_dir} ({compute}{procs}) -> {out}")
    log(f"Schedule: {plan.describe()}")
    bar = _TrainBar(out)

    try:
        with ctrl_c_requests_stop(stop, None if quiet else STOP_MESSAGE):
            res = train_folder(cfg, data_dir, out, progress=None if quiet else bar,
                               should_stop=stop.is_set, plan=plan)
    except Cancelled as e:
        bar.close(saved=False)
        if main:
            print(f"k49desk: {e}", file=sys.stderr)
        return 130
    except BaseException:
        bar.close(saved=False)
        raise
    bar.close(saved=True)
    if not main:
        return 130 if res.stopped else 0
    from k49desk.core.runs import save_run_side_files

    for warning in save_run_side_files(out, res, plan.epochs):  # curves, for Saved runs
        log(f"k49desk: {warning}")
    m = res.metrics
    test_bal = m.get("test_balanced_accuracy")
    if args.json:
        print_json({
            "model": str(out), "epochs": res.epochs_completed, "elapsed_s": round(res.elapsed_s, 3),
            "val_balanced_accuracy": m.get("val_balanced_accuracy"),
            "test_balanced_accuracy": test_bal, "test_accuracy": m.get("test_accuracy"),
            "stopped": res.stopped, "device": device.type, "compute": compute,
            "trained_on": res.trained_on, "plan": plan.to_dict(),
            "processes": info.world_size, "cpu_s": round(res.cpu_s, 3),
        })
    else:
        print(f"Saved {out}")
        print(f"  epochs completed  {res.epochs_completed}/{plan.epochs}"
              f"{' (stopped early)' if res.stopped else ''} in {_hms(res.elapsed_s)} "
              f"({compute})")
        if m.get("val_balanced_accuracy") is not None:
            print(f"  validation        balanced accuracy {m['val_balanced_accuracy']:.2%}, "
                  f"accuracy {m['val_accuracy']:.2%}")
        if test_bal is not None:
            print(f"  test              balanced accuracy {test_bal:.2%}, "
                  f"accuracy {m['test_accuracy']:.2%}")
        elif not res.stopped:
            print("  test              (no test split in this folder)")
    return 130 if res.stopped else 0


def _hms(s: float) -> str:
    s = max(0, int(round(s)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"
