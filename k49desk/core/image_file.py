"""Reading an image file for `predict` and the drawing pad, bounded (docs/LIMITS.md).

Only a regular file; the pixel count is checked from the header before decoding (below
PIL's own decompression-bomb limit, and without its warning); large images are reduced
before anything else is done with them, then turned upright from their EXIF orientation.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from k49desk.core.errors import DataError


def load_image_file(path: str | Path) -> np.ndarray:
    """Read a PNG/JPEG/... file -> grayscale uint8 (H, W), any polarity (preprocess decides).

    Transparent backgrounds are composited so the ink stays visible; EXIF rotation is applied.
    Bounded: only a regular file, at most MAX_IMAGE_PIXELS decoded pixels (checked from the
    header, before decoding), and images larger than WORK_IMAGE_SIDE are reduced to it
    (a 28x28 classifier needs no more). Raises DataError naming the file when it is missing,
    not a readable image, or too large.
    """
    import warnings

    from k49desk.core.limits import MAX_IMAGE_FILE_BYTES, MAX_IMAGE_PIXELS, open_regular

    p = Path(path)
    with open_regular(p, DataError, what="image file", max_bytes=MAX_IMAGE_FILE_BYTES) as f:
        try:
            with warnings.catch_warnings():
                # Our own pixel limit (below PIL's) is checked next, with a plain message.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(f) as im:
                    w, h = im.size
                    if w * h > MAX_IMAGE_PIXELS:
                        raise DataError(
                            f"{p.name}: image is {w:,d}x{h:,d} = {w * h / 1e6:.0f} megapixels, "
                            f"over the {MAX_IMAGE_PIXELS / 1e6:.0f} MP limit (one character "
                            "needs far fewer; scale it down)")
                    gray = _decode_gray(im)
        except DataError:
            raise
        except UnidentifiedImageError:
            raise DataError(f"{p.name}: not an image file PIL can read (PNG, JPEG, BMP, "
                            "...)") from None
        except Image.DecompressionBombError:
            raise DataError(f"{p.name}: image too large (over PIL's decompression-bomb "
                            f"limit; k49desk accepts up to {MAX_IMAGE_PIXELS / 1e6:.0f} MP)"
                            ) from None
        except MemoryError:
            raise DataError(f"{p.name}: image too large to decode") from None
        except (OSError, ValueError, SyntaxError, EOFError, struct.error) as e:
            raise DataError(f"{p.name}: damaged or unreadable image ({e})") from e
    if gray.size == 0:
        raise DataError(f"{p.name}: image has no pixels")
    return np.clip(np.rint(gray * 255.0), 0, 255).astype(np.uint8)


_T = Image.Transpose
# EXIF orientation tag -> the transpose that shows the image upright (as ImageOps does)
_EXIF_TRANSPOSE = {2: _T.FLIP_LEFT_RIGHT, 3: _T.ROTATE_180, 4: _T.FLIP_TOP_BOTTOM,
                   5: _T.TRANSPOSE, 6: _T.ROTATE_270, 7: _T.TRANSVERSE, 8: _T.ROTATE_90}


def _decode_gray(im: Image.Image) -> np.ndarray:
    """Decode (reduced to WORK_IMAGE_SIDE when larger) -> float32 gray in [0, 1]."""
    from k49desk.core.limits import WORK_IMAGE_SIDE

    if max(im.size) > WORK_IMAGE_SIDE and im.format == "JPEG":
        im.draft("RGB" if im.mode != "L" else "L", (WORK_IMAGE_SIDE, WORK_IMAGE_SIDE))
    im.load()
    try:
        orientation = int(im.getexif().get(0x0112, 1))
    except Exception:  # a damaged EXIF block: show the pixels as stored
        orientation = 1
    if max(im.size) > WORK_IMAGE_SIDE:  # reduce first: the rotation then copies little
        im = im.copy()
        im.thumbnail((WORK_IMAGE_SIDE, WORK_IMAGE_SIDE), Image.Resampling.BOX)
    if orientation in _EXIF_TRANSPOSE:
        im = im.transpose(_EXIF_TRANSPOSE[orientation])
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(arr.max()) if arr.size else 0.0
        return np.clip(arr / (top if top > 0 else 1.0), 0.0, 1.0)
    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    arr = np.asarray(im.convert("RGBA" if has_alpha else "L"))
    return to_gray01(arr)


def to_gray01(image: np.ndarray) -> np.ndarray:
    """Gray, RGB or RGBA array (uint8, uint16, bool or float) -> float32 (H, W) in [0, 1]."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise ValueError(f"expected a gray, RGB or RGBA image, got shape {a.shape}")
    if a.size == 0:
        raise ValueError("empty image")
    if a.dtype == np.bool_:
        x = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.integer):
        x = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    else:
        x = np.nan_to_num(a.astype(np.float32))
        hi = float(x.max())
        if hi > 1.0:  # float data in 0..255
            x = x / 255.0
    x = np.clip(x, 0.0, 1.0)
    if x.ndim == 2:
        return x
    alpha = x[:, :, -1] if x.shape[2] in (2, 4) else None
    color = x[:, :, :3] if x.shape[2] >= 3 else x[:, :, :1]
    if color.shape[2] == 3:
        gray = color @ np.array([0.299, 0.587, 0.114], np.float32)
    else:
        gray = color[:, :, 0]
    if alpha is None or alpha.min() > 0.98:
        return gray
    # Transparent background: the ink is what is opaque. Put it on a background that contrasts
    # with the ink's own colour, so black-on-transparent and white-on-transparent both work.
    opaque = alpha > 0.5
    ink_level = float(gray[opaque].mean()) if opaque.any() else 0.0
    bg = 1.0 if ink_level < 0.5 else 0.0
    return gray * alpha + bg * (1.0 - alpha)
