"""Writing GUI outputs (PNG exports, screenshots) atomically: a failure leaves no partial file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PySide6.QtGui import QImage

from k49desk.core.errors import K49Error


def save_image(image: QImage, path: str | os.PathLike[str], fmt: str = "PNG") -> Path:
    """Encode `image` into a temp file beside `path`, then move it into place."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise K49Error(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise K49Error(f"{path}: the folder {folder} is not writable")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        if not image.save(tmp, fmt):
            raise K49Error(f"{path}: could not write the image (is the disk full?)")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise K49Error(f"{path}: could not write the image ({e.strerror or e})") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
