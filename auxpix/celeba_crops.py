"""The paper's 128x128 crops of CelebA's aligned JPEGs, decoded once and then read from a
.npy cache; and :func:`may_write`, which keeps every file the loaders write (this cache, a
CIFAR-10 download) out of folders marked read-only."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError, one_line
from .progress import progress_bar

CACHE_ENV = "AUXPIX_CACHE"
CELEBA_SIZE = (178, 218)  # (width, height) of every img_align_celeba JPEG
CELEBA_CROP = (50, 178, 25, 153)  # the paper's window: img[50:178, 25:153], 128x128
CELEBA_RESOLUTION = 128


def cached_crops(celeba: Path, files: list[Path], split: str) -> np.ndarray:
    """The 128x128 crops of ``files``, decoded once and then read from a .npy cache.

    The cache name hashes the crop window and the names and sizes of the files, so a
    changed crop or image set is decoded afresh instead of silently reusing old pixels.
    """
    key = json.dumps([CELEBA_CROP, split, [(f.name, f.stat().st_size) for f in files]])
    name = f"celeba-{split}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
    dirs = _cache_dirs(celeba)
    for folder in dirs:
        cached = _read_cache(folder / name, len(files))
        if cached is not None:
            return cached
    crops = _decode_crops(files, split)
    if not any(_write_cache(folder / name, crops) for folder in dirs):
        warnings.warn(
            f"could not write the CelebA cache to {' or '.join(map(str, dirs))}; "
            f"set {CACHE_ENV} to a writable folder to avoid decoding again",
            stacklevel=2,
        )
    return crops


def _cache_dirs(celeba: Path) -> list[Path]:
    """Where the cache may live, best first: $AUXPIX_CACHE if set, else next to the images, else ~/.cache."""
    if os.environ.get(CACHE_ENV):
        return [Path(os.environ[CACHE_ENV]).expanduser()]
    return [celeba / ".cache", Path.home() / ".cache" / "auxpix"]


def _read_cache(path: Path, count: int) -> np.ndarray | None:
    """A cached array if it is there and intact, else None (it is then rebuilt)."""
    try:
        crops = np.load(path)
    except (OSError, ValueError, EOFError):
        return None
    size = CELEBA_RESOLUTION
    return crops if crops.dtype == np.uint8 and crops.shape == (count, 3, size, size) else None


def _write_cache(path: Path, crops: np.ndarray) -> bool:
    """Write atomically (temp file + rename) so readers never see half a file; False if not writable."""
    if not may_write(path.parent):
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.part")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, crops)
        os.replace(tmp, path)
        return True
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False


def _decode_crops(files: list[Path], split: str) -> np.ndarray:
    """Decode every JPEG and cut out the paper's window: uint8 [N, 3, 128, 128]."""
    top, bottom, left, right = CELEBA_CROP
    crops = np.empty((len(files), 3, bottom - top, right - left), dtype=np.uint8)
    for i, path in enumerate(progress_bar(files, desc=f"decoding CelebA {split}", unit="img")):
        crops[i] = _decode(path)[top:bottom, left:right].transpose(2, 0, 1)
    return crops


def _decode(path: Path) -> np.ndarray:
    """One aligned CelebA image as uint8 [218, 178, 3], checked for the official size."""
    try:
        with Image.open(path) as image:
            if image.size != CELEBA_SIZE:  # checked from the header, before decoding
                raise DataError(
                    f"{path} is {image.size[0]}x{image.size[1]}, expected "
                    f"{CELEBA_SIZE[0]}x{CELEBA_SIZE[1]} (aligned img_align_celeba); "
                    "use the original aligned images"
                )
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"cannot decode {path} ({one_line(e)}); replace or delete that file") from e


def may_write(folder: Path) -> bool:
    """Whether ``folder`` (or the nearest existing folder above it) is writable.

    Also requires a write bit in its mode: root may write anywhere, but a folder
    marked read-only, such as a shared copy of the data, must stay untouched.
    """
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)
