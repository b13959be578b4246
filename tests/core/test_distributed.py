"""Data-parallel training under torchrun (gloo, 2 CPU processes) equals one process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ddp_worker import tiny_arrays, tiny_fit_config

from k49desk.core import distributed
from k49desk.core.model import load_checkpoint
from k49desk.core.training import fit

WORKER = Path(__file__).with_name("ddp_worker.py")


def test_synced_batchnorm_outside_a_process_group_is_plain_batchnorm() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    ref.load_state_dict(net.state_dict())
    distributed.sync_batchnorm(net)
    assert isinstance(net[1], distributed.SyncedBatchNorm2d)
    x = torch.rand(8, 1, 10, 10)
    torch.testing.assert_close(net(x), ref(x))  # training mode: batch statistics
    torch.testing.assert_close(net[1].running_mean, ref[1].running_mean)
    distributed.plain_batchnorm(net)
    assert type(net[1]) is torch.nn.BatchNorm2d
    assert set(net.state_dict()) == set(ref.state_dict())
    assert distributed.current() == distributed.SINGLE


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_torchrun_two_processes_train_the_same_model_as_one(tiny_dir: Path,
                                                             tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    cmd = ([torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"])
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [*cmd, "--standalone", "--nproc_per_node", "2", str(WORKER), str(out),
         str(tiny_dir)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    # 1. Same weights as one process on the whole batches (float rounding apart), on both ranks.
    x, y = tiny_arrays()
    single = fit(tiny_fit_config(), x, y).model.state_dict()
    ranks = [torch.load(out / f"fit-rank{r}.pt", weights_only=True) for r in (0, 1)]
    for k, v in single.items():
        torch.testing.assert_close(ranks[0][k], ranks[1][k], rtol=0, atol=0)
        torch.testing.assert_close(ranks[0][k].float(), v.float(), rtol=1e-3, atol=1e-4,
                                   msg=k)
    # 2. The CLI: one JSON summary (rank 0 only), one checkpoint, saying 2 processes.
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, run.stdout
    summary = json.loads(lines[0])
    assert summary["processes"] == 2 and summary["epochs"] == 2
    assert summary["test_balanced_accuracy"] is not None
    assert sorted(p.name for p in out.glob("*.pt")) == ["cli.pt", "fit-rank0.pt",
                                                         "fit-rank1.pt"]
    lm = load_checkpoint(out / "cli.pt")
    assert lm.metrics["processes"] == 2 and lm.metrics["epochs_completed"] == 2
