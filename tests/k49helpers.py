"""Tiny K49-shaped folders for tests (no Qt, no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from k49desk.core.dataset import write_classmap, write_split


def class_pattern(c: int) -> np.ndarray:
    """A distinct, learnable 28x28 uint8 pattern per class: a bar at a class-specific place."""
    img = np.zeros((28, 28), np.uint8)
    r, k = divmod(c, 7)
    img[4 + 3 * r: 7 + 3 * r, 4:24] = 255  # horizontal bar, row by c // 7
    img[4:24, 4 + 3 * k: 7 + 3 * k] = 200  # vertical bar, column by c % 7
    return img


def make_images(labels: np.ndarray, seed: int = 0, noise: int = 30) -> np.ndarray:
    rng = np.random.default_rng(seed)
    imgs = np.stack([class_pattern(int(c)) for c in labels]).astype(np.int16)
    imgs += rng.integers(-noise, noise + 1, imgs.shape, dtype=np.int16)
    shifts = rng.integers(-1, 2, (len(labels), 2))
    for i, (dy, dx) in enumerate(shifts):
        imgs[i] = np.roll(imgs[i], (int(dy), int(dx)), axis=(0, 1))
    return np.clip(imgs, 0, 255).astype(np.uint8)


def make_k49_folder(root: Path, n_train: int = 12, n_test: int = 4,
                    classes: range | list[int] = range(49), seed: int = 0,
                    splits: tuple[str, ...] = ("train", "test")) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for si, (split, n) in enumerate((("train", n_train), ("test", n_test))):
        if split not in splits:
            continue
        labels = np.repeat(np.asarray(list(classes), np.uint8), n)
        rng = np.random.default_rng(seed + si)
        labels = labels[rng.permutation(len(labels))]
        write_split(root, split, make_images(labels, seed + 10 + si), labels)
    write_classmap(root)
    return root


def make_flags(labels: np.ndarray, n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Flags like find_issues': label issues suggesting label+1, plus a few blank ones."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), n, replace=False)
    issue = np.where(np.arange(n) % 5 == 4, "blank", "label")
    sug = np.where(issue == "label", (labels[idx].astype(int) + 1) % 49, -1)
    return pd.DataFrame({"split": "train", "index": idx, "issue": issue,
                         "given_label": labels[idx], "suggested_label": sug,
                         "quality": np.linspace(0.01, 0.5, n)})


def contrast(a: object, b: object) -> float:
    """WCAG contrast ratio of two colours with red(), green(), blue() (e.g. QColor)."""
    def lum(c: object) -> float:
        ch = [v / 255 for v in (c.red(), c.green(), c.blue())]  # type: ignore[attr-defined]
        ch = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
