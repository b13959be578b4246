"""Demo data: K49-format folders of generated hiragana, so everything works without a download.

`generate_demo` draws the images with `demo_render` (bundled fonts, random affine + elastic
distortion, K49 framing), shuffles them, makes exactly round(noise_fraction * n_train) train
labels wrong on purpose and lists them in `demo-truth.csv` (so the review mode can be checked
against the truth), and writes the official files. Same seed, same arrays, whatever the
number of threads.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from k49desk.core.atomic import atomic_write_text
from k49desk.core.classes import N_CLASSES, OFFICIAL_TEST_COUNTS, OFFICIAL_TRAIN_COUNTS
from k49desk.core.dataset import (
    CLASSMAP_FILE,
    DEMO_TRUTH_FILE,
    OFFICIAL_FILES,
    images_file,
    write_classmap,
    write_split,
)
from k49desk.core.demo_render import OUT, _templates, font_files, make_samples, render_char
from k49desk.core.errors import Cancelled, DataError
from k49desk.core.progress import Progress

__all__ = ["generate_demo", "render_char", "font_files", "make_samples"]

BATCH = 2048


DEFAULT_SCALE = 0.1  # one tenth of K49: 23,237 train / 3,855 test, ゑ and ゐ stay rare


def _split_counts(per_class: int | None, full: bool,
                  scale: float | None = None) -> dict[str, np.ndarray]:
    if full:
        return {"train": np.array(OFFICIAL_TRAIN_COUNTS), "test": np.array(OFFICIAL_TEST_COUNTS)}
    if per_class is None and scale is None:
        scale = DEFAULT_SCALE
    if scale is not None:
        if not (0.0 < scale <= 1.0):  # also refuses nan
            raise DataError(f"demo data: scale must be in (0, 1], got {scale}")
        return {s: np.maximum(1, np.rint(np.array(c) * scale)).astype(np.int64)
                for s, c in (("train", OFFICIAL_TRAIN_COUNTS), ("test", OFFICIAL_TEST_COUNTS))}
    if per_class < 1:
        raise DataError(f"demo data: per_class must be at least 1, got {per_class}")
    return {"train": np.full(N_CLASSES, per_class),
            "test": np.full(N_CLASSES, max(1, per_class // 6))}


def _truth_csv(split: str, given: np.ndarray, true: np.ndarray) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["split", "index", "given_label", "true_label"])
    for i in np.flatnonzero(given != true):
        w.writerow([split, int(i), int(given[i]), int(true[i])])
    return buf.getvalue()


def _noisy_labels(true: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of `true` with exactly round(fraction * n) labels, chosen uniformly, changed to a
    uniformly random *other* class."""
    given = true.copy()
    n_wrong = int(round(fraction * len(given)))
    wrong = rng.choice(len(given), size=n_wrong, replace=False)
    given[wrong] = (true[wrong].astype(np.int64) + rng.integers(1, N_CLASSES, n_wrong)) % N_CLASSES
    return given


def generate_demo(root: str | os.PathLike[str], *, per_class: int | None = None,
                  scale: float | None = None, full: bool = False, seed: int = 0,
                  noise_fraction: float = 0.01, progress: Progress | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Path:
    """Write a demo folder in the official K49 format; return its path.

    `full`: the official class counts (train 232,365 / test 38,547). `scale`: the official
    counts times `scale` (at least 1 per class), so the classes are as imbalanced as in K49;
    the default when neither `per_class` nor `scale` is given (DEFAULT_SCALE). `per_class`:
    that many train and max(1, per_class // 6) test images of every class.
    round(noise_fraction * n_train) train labels are wrong on purpose, listed in
    demo-truth.csv. Same seed, same arrays. Files are staged in a hidden subfolder and
    moved in at the end, so a cancel (Cancelled) or an error leaves the folder as it was.
    Refuses folders holding non-demo K49 files.
    """
    root = Path(root)
    if not 0.0 <= noise_fraction < 1.0:
        raise DataError(f"demo data: noise_fraction must be in [0, 1), got {noise_fraction}")
    if per_class is not None and scale is not None:
        raise DataError("demo data: give per_class or scale, not both")
    counts = _split_counts(per_class, full, scale)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: exists and is not a folder")
    # never overwrite real K49 files with generated ones
    if root.is_dir() and not (root / DEMO_TRUTH_FILE).exists():
        real = [f for f in OFFICIAL_FILES if f != CLASSMAP_FILE and (root / f).exists()]
        if real:
            raise DataError(f"{root}: holds {real[0]}, which is not demo data; choose an empty "
                            "folder for demo data")
    try:
        root.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".k49desk-demo-", dir=root))
    except OSError as e:
        raise DataError(f"{root}: cannot write there ({e.strerror or e})") from e
    try:
        _generate_into(stage, counts, seed, noise_fraction, progress, should_stop)
        # the truth file goes first: a folder left half-moved by a crash still says "demo"
        for name in (DEMO_TRUTH_FILE, *OFFICIAL_FILES):
            os.replace(stage / name, root / name)
    except OSError as e:
        raise DataError(f"{root}: cannot write the demo files ({e.strerror or e})") from e
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if progress is not None:
        progress(1.0, "Demo data written")
    return root


def _worker_count() -> int:
    """Threads drawing batches: as many as torch may use (tests set 1), at most 4."""
    import torch

    return max(1, min(4, torch.get_num_threads()))


def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)  # per worker thread (OpenMP's setting is thread-local)


def _draw_split(labels: np.ndarray, seed: np.random.SeedSequence, workers: int,
                on_batch: Callable[[int], None], stopped: Callable[[], bool]) -> np.ndarray:
    """Images for `labels`, drawn in batches of BATCH with one seed per batch, so the result
    does not depend on how batches are spread over threads. Each thread runs torch with one
    intra-op thread: on this small per-op work, data-parallel threads scale, while torch's
    own parallel ops mostly wait on each other (3x slower per image on a busy 2-core box)."""
    images = np.empty((len(labels), OUT, OUT), np.uint8)
    starts = list(range(0, len(labels), BATCH))
    seeds = seed.spawn(len(starts))

    def job(i: int) -> int:
        lo, hi = starts[i], min(starts[i] + BATCH, len(labels))
        images[lo:hi] = make_samples(labels[lo:hi], np.random.default_rng(seeds[i]))
        return hi - lo

    if workers == 1:
        for i in range(len(starts)):
            if stopped():
                raise Cancelled("stopped")
            on_batch(job(i))
        return images
    import torch

    before = torch.get_num_threads()
    try:
        with ThreadPoolExecutor(workers, initializer=_one_torch_thread) as pool:
            futures = [pool.submit(job, i) for i in range(len(starts))]
            try:
                for f in futures:
                    if stopped():
                        raise Cancelled("stopped")
                    on_batch(f.result())
            finally:
                for f in futures:
                    f.cancel()  # the running batches finish, the rest never start
    finally:
        # torch keeps the last set_num_threads as the default for threads started later
        torch.set_num_threads(before)
    return images


def _generate_into(stage: Path, counts: dict[str, np.ndarray], seed: int, noise_fraction: float,
                   progress: Progress | None, should_stop: Callable[[], bool] | None) -> None:
    s_order, s_noise, s_train, s_test = np.random.SeedSequence(seed).spawn(4)
    total = int(sum(c.sum() for c in counts.values()))
    done = {"all": 0, "split": 0}
    _templates()  # build before the first progress tick so the bar moves steadily afterwards
    order_rng = np.random.default_rng(s_order)
    workers = _worker_count()
    writer = ThreadPoolExecutor(max_workers=1)
    pending = None
    try:
        for split, s_img in (("train", s_train), ("test", s_test)):
            true = np.repeat(np.arange(N_CLASSES, dtype=np.uint8), counts[split])
            true = true[order_rng.permutation(len(true))]
            done["split"] = 0

            def on_batch(n: int, split: str = split, size: int = len(true)) -> None:
                done["all"] += n
                done["split"] += n
                if progress is not None:
                    progress(done["all"] / total * 0.9,
                             f"Generating {split} images ({done['split']:,d}/{size:,d})")

            try:
                images = _draw_split(true, s_img, workers, on_batch,
                                     lambda: should_stop is not None and should_stop())
            except Cancelled:
                raise Cancelled(f"{stage.parent}: demo data generation stopped; the folder "
                                "was left as it was") from None
            if split == "train":
                given = _noisy_labels(true, noise_fraction, np.random.default_rng(s_noise))
                atomic_write_text(stage / DEMO_TRUTH_FILE, _truth_csv("train", given, true),
                                  error=DataError)
                # compress the big train file on another core while the test split is drawn
                # (zlib and torch both release the GIL)
                pending = writer.submit(write_split, stage, "train", images, given)
            else:
                if progress is not None:
                    progress(0.9, f"Writing {images_file('train')} and {images_file('test')}")
                write_split(stage, "test", images, true)
                write_classmap(stage)
        assert pending is not None
        pending.result()
    finally:
        # on cancel or error too: the train writer must finish before the stage is removed
        writer.shutdown(wait=True)
