"""One pass of a model over whole splits: predictions and embeddings for every image.

`compute_outputs(loaded, ds)` runs the model once over every image of the open splits and
keeps, per image: predicted class, confidence, loss (-log p[given label]), margin (p1 - p2),
the top-5 classes with their probabilities, and an embedding. The Gallery's queries, the map,
similar images and the outlier check all read this one result.

Embedding: the input of the model's final `nn.Linear` (the penultimate features, found
generically, so a wider or deeper K49Net needs no change here), L2-normalised, then reduced
by PCA to at most `EMBED_DIM` dimensions. The PCA basis is fitted on an evenly spaced sample
of the images, so it depends only on the model and the data. The reduction keeps memory and
query time small (270,912 x 1,152 float32 is 1.25 GB; x 128 is 139 MB) while nearest
neighbours barely change (measured in benchmarks/bench_similar.py). `Embedder.transform`
maps a new image (a drawing) into the same space.

Results are cached under the data folder's cache (`dataset.cache_dirs`), keyed by a hash of
the model's weights and the data fingerprints; a damaged or mismatched cache is rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator

import numpy as np
import torch

from k49desk.core.dataset import K49Dataset, Split
from k49desk.core.errors import K49Error
from k49desk.core.model import LoadedModel, images_to_tensor
from k49desk.core.outputs_types import (  # noqa: F401  (re-exported: callers import them here)
    _PER_SPLIT,
    CACHE_SUBDIR,
    EMBED_DIM,
    KEEP_CACHED,
    OUTPUTS_VERSION,
    TOPK,
    Embedder,
    ModelOutputs,
    SplitOutputs,
    cache_folder_candidates,
    remove_tree,
    stage_dir,
)
from k49desk.core.progress import Progress, ShouldStop, check_stop, report

BASIS_SAMPLE = 10_000  # images whose features fit the PCA basis
BATCH = 256  # small batches stay in cache: faster than big ones on a CPU
# One thread: on small batches it already runs ~10,000 img/s, and on a shared 2-core machine
# two threads mostly wait for each other (measured 1,000-4,500 img/s at load 3-5); it also
# leaves a core for the GUI. Callers on a quiet machine may pass threads=0 (all cores).
THREADS = 1


# ---- fingerprints ----------------------------------------------------------------------------
def model_fingerprint(loaded: LoadedModel) -> str:
    """A hash of the weights (and the architecture): cheap, and changes when the model does."""
    h = hashlib.sha1(repr(loaded.config).encode())
    for name, t in sorted(loaded.model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def data_fingerprint(split: Split) -> str:
    """The split's file fingerprint, or for an in-memory split a hash of its content."""
    return split.data_fingerprint()


def final_linear(model: torch.nn.Module) -> torch.nn.Linear:
    """The last `nn.Linear` of the model: its input is the penultimate feature vector."""
    last = None
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            last = m
    if last is None:
        raise K49Error("the model has no linear layer: cannot find its penultimate features")
    return last


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with `n` intra-op threads (0: all cores), then restore the previous count."""
    prev = torch.get_num_threads()
    want = n if n > 0 else (os.cpu_count() or 1)
    if want != prev:
        torch.set_num_threads(want)
    try:
        yield
    finally:
        if want != prev:
            torch.set_num_threads(prev)


def inference_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` for fast CPU inference: each Conv2d followed by a BatchNorm2d (in a
    Sequential) fused into one conv, weights in channels-last layout. Measured on 2 cores
    with real images (default K49Net, one thread): 3,200 img/s plain, 8,800 channels-last,
    10,000 fused and channels-last; the outputs agree to 1e-5. The caller's model (shared
    with the GUI) is left untouched."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    m = copy.deepcopy(model).eval()
    for seq in m.modules():
        if not isinstance(seq, torch.nn.Sequential):
            continue
        items = list(seq._modules.items())
        for (n1, a), (n2, b) in zip(items, items[1:], strict=False):
            if isinstance(a, torch.nn.Conv2d) and isinstance(b, torch.nn.BatchNorm2d):
                seq._modules[n1] = fuse_conv_bn_eval(a, b)
                seq._modules[n2] = torch.nn.Identity()
    return m.to(memory_format=torch.channels_last)


def forward_features(loaded: LoadedModel, images: np.ndarray, batch_size: int = BATCH,
                     progress: Progress | None = None, should_stop: ShouldStop | None = None,
                     device: torch.device | str = "cpu"
                     ) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Yield (slice, log-probabilities (B, C), penultimate features (B, D)) batch by batch,
    computed on `device` (mixed precision on CUDA), returned as CPU numpy arrays."""
    from k49desk.core.device import autocast

    device = torch.device(device)
    model = inference_copy(loaded.model).to(device)
    captured: list[torch.Tensor] = []
    hook = final_linear(model).register_forward_hook(
        lambda _m, inp, _out: captured.append(inp[0]))
    n = images.shape[0]
    try:
        with torch.inference_mode():
            for s in range(0, n, batch_size):
                check_stop(should_stop)
                sl = slice(s, min(s + batch_size, n))
                captured.clear()
                x = images_to_tensor(np.asarray(images[sl])).to(device, non_blocking=True)
                with autocast(device):
                    logits = model(x.contiguous(memory_format=torch.channels_last))
                feats = captured[-1].reshape(logits.shape[0], -1)
                yield (sl, torch.log_softmax(logits.float(), 1).cpu().numpy(),
                       feats.float().cpu().numpy())
                report(progress, sl.stop / max(n, 1), f"{sl.stop:,d}/{n:,d} images")
    finally:
        hook.remove()


def _cache_key(mfp: str, ds: K49Dataset, dim: int) -> str:
    blob = json.dumps({"v": OUTPUTS_VERSION, "model": mfp, "dim": dim, "topk": TOPK,
                       "data": {n: [len(s), data_fingerprint(s)] for n, s in ds.splits.items()}},
                      sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def _basis_sample(ds: K49Dataset, n: int) -> np.ndarray:
    total = len(ds)
    picks = np.unique(np.linspace(0, total - 1, min(n, total)).astype(np.int64))
    parts, start = [], 0
    for s in ds.splits.values():
        local = picks[(picks >= start) & (picks < start + len(s))] - start
        if local.size:
            parts.append(np.asarray(s.images[local]))
        start += len(s)
    return np.concatenate(parts)


def compute_outputs(loaded: LoadedModel, ds: K49Dataset, *, use_cache: bool = True,
                    dim: int = EMBED_DIM, batch_size: int = BATCH, threads: int = THREADS,
                    progress: Progress | None = None, should_stop: ShouldStop | None = None,
                    device: str = "cpu") -> ModelOutputs:
    """Predictions and embeddings of `loaded` for every image of every split of `ds`.

    Cached by model and data fingerprint, not by device (a second call is a file read;
    outputs made on a GPU box are reused on the desktop). `threads`: torch threads for the
    pass (0: all cores); `device`: "cpu", "cuda", "mps" or "auto". Raises Cancelled when
    `should_stop()` turns true.
    """
    from k49desk.core import outputs_cache
    from k49desk.core.device import resolve_device

    dev = resolve_device(device)  # an absent GPU fails before any work

    t0 = time.perf_counter()
    if len(ds) == 0:
        raise K49Error(f"{ds.root}: no images to run the model on")
    mfp = model_fingerprint(loaded)
    key = _cache_key(mfp, ds, dim)
    if use_cache:
        report(progress, None, "Looking for cached model outputs")
        hit = outputs_cache.load(ds, key, loaded.config.n_classes)
        if hit is not None:
            hit.model_fingerprint = mfp
            hit.elapsed_s = time.perf_counter() - t0
            report(progress, 1.0, "Model outputs loaded from the cache")
            return hit
    with torch_threads(threads):
        report(progress, 0.0, "Fitting the embedding space")
        feats = np.concatenate([f for _, _, f in forward_features(
            loaded, _basis_sample(ds, BASIS_SAMPLE), batch_size, should_stop=should_stop,
            device=dev)])
        embedder = Embedder.fit(feats, dim)
        del feats
        lo = min(0.05, BASIS_SAMPLE / max(len(ds), 1))
        done = 0
        splits: dict[str, SplitOutputs] = {}
        for name, s in ds.splits.items():
            out = SplitOutputs.empty(name, np.asarray(s.labels), embedder.dim)
            span = len(s) / len(ds)
            f0 = lo + (1 - lo) * done / len(ds)

            def sub(f: float | None, text: str, payload: object = None, *, _n: str = name,
                    _f0: float = f0, _span: float = span) -> None:
                report(progress, None if f is None else _f0 + (1 - lo) * _span * f,
                       f"Running the model on {_n}: {text}", payload)

            for sl, logp, f in forward_features(loaded, s.images, batch_size, sub, should_stop,
                                                dev):
                out.fill(sl, logp, embedder.transform(f))
            splits[name] = out
            done += len(s)
    res = ModelOutputs(splits, embedder, mfp, key, cached=False,
                       elapsed_s=time.perf_counter() - t0,
                       meta={"model": str(loaded.path or ""), "n_classes":
                             loaded.config.n_classes})
    if use_cache:
        outputs_cache.save(ds, res)
    report(progress, 1.0, f"Model outputs for {len(ds):,d} images")
    return res


def embed_images(loaded: LoadedModel, embedder: Embedder, images: np.ndarray) -> np.ndarray:
    """Embeddings (N, d) of new 28x28 uint8 images (e.g. a preprocessed drawing)."""
    images = np.asarray(images, np.uint8)
    if images.ndim == 2:
        images = images[None]
    with torch_threads(1):  # a few images: threads would only wait (see inference.topk)
        feats = [f for _, _, f in forward_features(loaded, images)]
        return embedder.transform(np.concatenate(feats))
