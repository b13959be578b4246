"""Training benchmark: accuracy against CPU time, the default `k49desk train` next to the K49
authors' Keras simple-CNN baseline, in one run.

For each data folder, on ONE torch thread with process CPU time (contention from other
processes barely moves it):
1. the Keras baseline (its authors' script: 12 epochs, Adadelta, batch 128) on the whole train
   split, scored on the test split after every epoch (scoring not counted): its curve, and
   the CPU time of its 12 epochs, the budget of the bar;
2. the default `k49desk train` (the same `train_folder` call as the CLI: schedule sized to the
   data, a validation split held out, validation every epoch, the test split scored; all of
   it counted): test balanced accuracy and CPU time -> PASS when >= --bar within the budget;
3. `--curve E1,E2,...`: the default recipe with --epochs E (the accuracy-vs-CPU-time curve);
4. `--variants`: the default schedule with one setting changed (what each ingredient buys);
5. `--extra DIR`: the same with DIR's train split added to the training images (how the
   curve scales with data; the test split stays the folder's own).
`--throughput` adds training images per CPU second and the extrapolated full-K49 epoch
(232,365 images) on 2 threads and on one core.

    python benchmarks/bench_train.py --data /work/shared/data/kuzushiji-real10 --seeds 3 \
        --curve 10,20,30,45,60 --variants
    python benchmarks/bench_train.py --data /tmp/k49demo-200 --curve 5,10,20
    python benchmarks/bench_train.py --data /work/shared/data/kuzushiji-real10 \
        --extra /work/shared/data/kmnist-train-part --curve 10,20,30 --no-baseline
    python benchmarks/bench_train.py --data /tmp/k49demo-full --throughput --no-baseline \
        --no-default

Results: benchmarks/RESULTS.md, "Training schedule and recipe".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from k49desk.core.augment import augment, augment_params
from k49desk.core.dataset import open_dataset, write_classmap, write_split
from k49desk.core.model import ModelConfig, build_model
from k49desk.core.training import TrainConfig, balanced_accuracy, train_folder

FULL_K49_TRAIN = 232_365
EPOCH_BUDGET_S = 120.0  # one full-K49 epoch on 2 cores (issue 14)
VARIANTS: dict[str, dict] = {
    "no label smoothing": {"label_smoothing": 0.0},
    "batch 128": {"batch_size": 128},
    "batch 32": {"batch_size": 32},
    "EMA of weights 0.995": {"ema_decay": 0.995},
    "no cutout": {"cutout": 0.0},
    "no augmentation": {"augment": False},
    "width 24-48-96-192": {"model": ModelConfig(channels=(24, 48, 96, 192))},
    "no validation split": {"val_fraction": 0.0},
}


def keras_baseline(n_classes: int = 49) -> nn.Module:
    """The authors' Keras simple CNN (benchmarks/kuzushiji_mnist_cnn.py), ported to torch."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(64 * 12 * 12, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, n_classes),
    )


def baseline_optimizer(m: nn.Module) -> torch.optim.Optimizer:
    # Keras Adadelta(lr=1.0) as in the authors' script: rho 0.95, epsilon 1e-7
    return torch.optim.Adadelta(m.parameters(), lr=1.0, rho=0.95, eps=1e-7)


def _batches(x8: torch.Tensor, y: torch.Tensor, bs: int, rng: np.random.Generator):  # noqa: ANN202
    order = torch.from_numpy(rng.permutation(len(y)))
    for s in range(0, len(y), bs):
        idx = order[s:s + bs]
        if len(idx) > 1:
            yield x8[idx].unsqueeze(1).float().div_(255.0), y[idx]


def _score(m: nn.Module, xt: np.ndarray, yt: np.ndarray) -> float:
    m.eval()
    with torch.inference_mode():
        pred = torch.cat([m(torch.from_numpy(xt[s:s + 1024].copy()).unsqueeze(1).float() / 255)
                          .argmax(1) for s in range(0, len(yt), 1024)]).numpy()
    m.train()
    return balanced_accuracy(yt, pred)


def run_baseline(x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray, seed: int,
                 epochs: int = 12) -> list[tuple[int, float, float]]:
    """(epoch, training CPU s so far, test balanced accuracy) after each epoch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    m = keras_baseline()
    opt = baseline_optimizer(m)
    x8, y64 = torch.from_numpy(np.array(x, np.uint8)), torch.from_numpy(y.astype(np.int64))
    cpu, curve = 0.0, []
    for ep in range(1, epochs + 1):
        c0 = time.process_time()
        m.train()
        for xb, yb in _batches(x8, y64, 128, rng):
            loss = F.cross_entropy(m(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        cpu += time.process_time() - c0
        curve.append((ep, cpu, _score(m, xt, yt)))
    return curve


def run_ours(folder: Path, cfg: TrainConfig) -> dict:
    """The CLI's `train_folder` call; CPU time of all of it (validation and test included)."""
    out = Path(tempfile.mkdtemp(prefix="k49-bench-train-")) / "m.pt"
    c0, w0 = time.process_time(), time.perf_counter()
    res = train_folder(cfg, folder, out)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    out.unlink(missing_ok=True)
    return {"epochs": res.plan.epochs, "cpu_s": cpu, "wall_s": wall,
            "bal": res.metrics.get("test_balanced_accuracy"),
            "val_bal": res.metrics.get("val_balanced_accuracy"), "n_train": res.plan.n_train}


def combined_folder(folder: Path, extra: Path) -> Path:
    """A temporary K49 folder: folder's train + extra's train, folder's test (outside the repo)."""
    a, b = open_dataset(folder), open_dataset(extra)
    root = Path(tempfile.mkdtemp(prefix="k49-bench-combined-"))
    write_split(root, "train", np.concatenate([np.asarray(a.split("train").images),
                                               np.asarray(b.split("train").images)]),
                np.concatenate([np.asarray(a.split("train").labels),
                                np.asarray(b.split("train").labels)]))
    write_split(root, "test", np.asarray(a.split("test").images),
                np.asarray(a.split("test").labels))
    write_classmap(root)
    return root


def _summ(vals: list[float]) -> str:
    if len(vals) == 1:
        return f"{vals[0]:.2%}"
    return f"{statistics.mean(vals):.2%} ({min(vals):.2%}-{max(vals):.2%})"


def throughput(cfg: TrainConfig, threads: int, steps: int = 30, repeats: int = 3) -> dict:
    """Training images per second (wall) and per process CPU second, median of `repeats`."""
    torch.set_num_threads(threads)
    x8 = torch.randint(0, 256, (cfg.batch_size * steps, 28, 28), dtype=torch.uint8)
    y = torch.randint(0, 49, (cfg.batch_size * steps,))
    wall, cpu = [], []
    for r in range(repeats):
        m = build_model(cfg.model).train()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(r)
        it = list(_batches(x8, y, cfg.batch_size, np.random.default_rng(r)))
        for i, (xb, yb) in enumerate(it):
            if i == 3:
                t, c = time.perf_counter(), time.process_time()
            loss = F.cross_entropy(m(augment(xb, augment_params(len(yb), gen), cfg.cutout)), yb,
                                   label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        n = (len(it) - 3) * cfg.batch_size
        wall.append(n / (time.perf_counter() - t))
        cpu.append(n / max(time.process_time() - c, 1e-9))
    torch.set_num_threads(1)
    return {"img_s": statistics.median(wall), "img_cpu_s": statistics.median(cpu)}


def run_folder(folder: Path, args: argparse.Namespace, label: str) -> dict:
    ds = open_dataset(folder)
    tr, te = ds.split("train"), ds.split("test")
    x, y = np.asarray(tr.images), np.asarray(tr.labels)
    xt, yt = np.asarray(te.images), np.asarray(te.labels)
    print(f"\n== {label}: train {len(y):,d}, test {len(yt):,d}, "
          f"{int((tr.counts() > 0).sum())} classes; load {_load()}", flush=True)
    out: dict = {"data": label, "n_train": int(len(y)), "n_test": int(len(yt))}
    base_cfg = TrainConfig(device="cpu", threads=1)
    budget = None
    if not args.no_baseline:
        curves = [run_baseline(x, y, xt, yt, s) for s in range(args.seeds)]
        out["baseline"] = curves
        budget = statistics.median(c[-1][1] for c in curves)
        for ep in (1, 3, 6, 9, 12):
            cpu_ep = statistics.median(c[ep - 1][1] for c in curves)
            print(f"  Keras baseline {ep:2d} epochs: {cpu_ep:6.1f} CPU-s, test balanced acc "
                  f"{_summ([c[ep - 1][2] for c in curves])}", flush=True)
    if not args.no_default:
        runs = [run_ours(folder, replace(base_cfg, seed=s)) for s in range(args.seeds)]
        out["default"] = runs
        bal = [r["bal"] for r in runs]
        cpu = statistics.median(r["cpu_s"] for r in runs)
        print(f"  k49desk train (default: {runs[0]['epochs']} epochs over {runs[0]['n_train']:,d} "
              f"images): {cpu:6.1f} CPU-s (all of train_folder), test balanced acc "
              f"{_summ(bal)}", flush=True)
        if budget is not None:
            ok = min(bal) >= args.bar and cpu <= budget
            print(f"  bar: >= {args.bar:.0%} within the baseline's 12 epochs ({budget:.1f} CPU-s):"
                  f" worst seed {min(bal):.2%}, CPU ratio {cpu / budget:.2f} -> "
                  f"{'PASS' if ok else 'FAIL'}", flush=True)
            out["bar"] = {"budget_cpu_s": budget, "ours_cpu_s": cpu, "worst": min(bal),
                          "pass": ok}
    for e in [int(v) for v in args.curve.split(",") if v]:
        runs = [run_ours(folder, replace(base_cfg, seed=s, epochs=e)) for s in range(args.seeds)]
        out.setdefault("curve", []).append({"epochs": e, "runs": runs})
        print(f"  k49desk train --epochs {e:3d}: {statistics.median(r['cpu_s'] for r in runs):6.1f}"
              f" CPU-s, test balanced acc {_summ([r['bal'] for r in runs])}", flush=True)
    if args.variants:
        for name, change in VARIANTS.items():
            runs = [run_ours(folder, replace(base_cfg, seed=s, **change))
                    for s in range(args.seeds)]
            out.setdefault("variants", []).append({"variant": name, "runs": runs})
            print(f"  variant {name:<24} {statistics.median(r['cpu_s'] for r in runs):6.1f} CPU-s,"
                  f" test balanced acc {_summ([r['bal'] for r in runs])}", flush=True)
    if args.throughput:
        two, one = throughput(base_cfg, 2), throughput(base_cfg, 1)
        out["throughput"] = {"two_threads": two, "one_thread": one}
        print(f"  throughput: 2 threads {two['img_s']:,.0f} img/s -> full-K49 epoch "
              f"{FULL_K49_TRAIN / two['img_s']:.0f} s (budget {EPOCH_BUDGET_S:.0f} s, ratio "
              f"{FULL_K49_TRAIN / two['img_s'] / EPOCH_BUDGET_S:.2f}); 1 thread "
              f"{one['img_cpu_s']:,.0f} img per CPU-s -> {FULL_K49_TRAIN / one['img_cpu_s']:.0f} "
              f"s on one core; load {_load()}", flush=True)
    return out


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", action="append", required=True, help="K49 folder (repeatable)")
    p.add_argument("--extra", default=None, help="also train with this folder's train split")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--curve", default="", help="comma-separated epoch counts")
    p.add_argument("--variants", action="store_true", help="one-setting-changed variants")
    p.add_argument("--bar", type=float, default=0.97)
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--no-default", action="store_true")
    p.add_argument("--throughput", action="store_true")
    p.add_argument("--json-out", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, process CPU time; started "
          f"{time.strftime('%H:%M:%S')}, load {_load()}")
    out = []
    for d in args.data:
        folder = Path(d)
        out.append(run_folder(folder, args, str(folder)))
        if args.extra:
            out.append(run_folder(combined_folder(folder, Path(args.extra)), args,
                                  f"{folder.name} train + {Path(args.extra).name} train"))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=1, default=float))
    return 0 if all(o.get("bar", {}).get("pass", True) for o in out) else 1


if __name__ == "__main__":
    sys.exit(main())
