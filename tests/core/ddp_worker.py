"""Run under torchrun by test_distributed.py (not a test module itself).

    torchrun --nproc_per_node 2 tests/core/ddp_worker.py OUT_DIR DATA_DIR

1. `fit` on tiny arrays (no dropout, so the run is comparable number for number with one
   process); each rank saves the weights it ends with to OUT_DIR/fit-rank<R>.pt.
2. `k49desk train` on DATA_DIR through the CLI (the real entry point): rank 0 prints its JSON
   summary and writes OUT_DIR/cli.pt; other ranks must print and write nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from k49helpers import make_images  # noqa: E402

from k49desk.cli import main  # noqa: E402
from k49desk.core import distributed  # noqa: E402
from k49desk.core.training import fit  # noqa: E402


def tiny_fit_config():  # noqa: ANN201  (shared with the test)
    from k49desk.core.model import ModelConfig
    from k49desk.core.training import TrainConfig

    return TrainConfig(epochs=2, batch_size=32, lr=1e-2, device="cpu", val_fraction=0.0,
                       ema_decay=0.9, model=ModelConfig(channels=(8, 16, 32), dropout=0.0))


def tiny_arrays():  # noqa: ANN201
    import numpy as np

    labels = np.repeat(np.arange(49, dtype=np.uint8), 8)  # 392 images: 12 full batches + 8
    return make_images(labels, 0), labels


if __name__ == "__main__":
    out, data = Path(sys.argv[1]), sys.argv[2]
    torch.set_num_threads(1)
    with distributed.init_from_env(torch.device("cpu")) as info:
        x, y = tiny_arrays()
        res = fit(tiny_fit_config(), x, y)
        torch.save(res.model.state_dict(), out / f"fit-rank{info.rank}.pt")
        code = main(["train", "--data-dir", data, "--epochs", "2", "--device", "cpu",
                     "--out", str(out / "cli.pt"), "--json"])
    sys.exit(code)
