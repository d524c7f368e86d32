"""Loading the paper's data sets as uint8 image tensors [N, 3, H, W].

CIFAR-10 comes in the official "python version" pickle layout; CelebA as the aligned
``img_align_celeba`` JPEGs, cropped to the paper's 128x128 face window. Every problem
with the input is raised as a one-line :class:`DataError` that says what is wrong,
where we looked and how to fix it.

CelebA's split (``celeba_split``): the paper holds out a random 5 % of the images for
testing and trains on the other 95 % (section 4.2), so ``"random"``, the default, is that:
the SHA-256 of an image's file name alone puts it in the test set (5 %) or the training
set, the same on every machine and for any subset of the 202,599 images. It has no
validation images: asking for "valid" is an error. ``"official"`` reads CelebA's own
partition, ``celeba/list_eval_partition.txt`` (train / valid / test, about 80/10/10).
"""

from __future__ import annotations

import codecs
import hashlib
import http.client
import os
import pickle
import re
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from .auxvars import downsample
from .celeba_crops import CELEBA_RESOLUTION, cached_crops, may_write
from .errors import DataError, one_line

try:
    from numpy._core.multiarray import _reconstruct as _numpy_reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct as _numpy_reconstruct

DATA_ENV = "AUXPIX_DATA"
DATASETS = ("cifar10", "cifar10-lossless", "celeba")

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_LOSSLESS_DIR = "cifar-10-lossless-subset"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR_SPLITS = ("train", "test")
CIFAR_CLASSES = 10
DOWNLOAD_TIMEOUT_S = 30

CELEBA_SPLITS = {"train": 0, "valid": 1, "test": 2}  # codes of list_eval_partition.txt
CELEBA_SPLIT_CHOICES = ("random", "official")  # the paper's random 95/5, or CelebA's partition file
CELEBA_TEST_PERCENT = 5  # the paper's held-out share under the random split

_HOW_TO_POINT = f"pass --data DIR or set {DATA_ENV}=DIR"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else $AUXPIX_DATA; the library assumes no layout."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    raise DataError(f"no data folder given: {_HOW_TO_POINT}")


def load_dataset(
    name: str,
    split: str,
    data_dir=None,
    *,
    resolution: int | None = None,
    limit: int | None = None,
    celeba_split: str = "random",
) -> torch.Tensor:
    """The one entry point for training and evaluation images: the first ``limit`` (default:
    all) images of ``split`` of data set ``name`` at ``resolution``, uint8 [N, 3, H, W].
    ``celeba_split`` chooses how CelebA is split (see the module's docstring)."""
    if name == "celeba":
        resolution = CELEBA_RESOLUTION if resolution is None else resolution
        images = load_celeba(split, data_dir, resolution=resolution, celeba_split=celeba_split)
    elif name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    elif resolution not in (None, 32):
        raise DataError(
            f"{name} images are 32x32, got resolution={resolution}; omit the resolution for CIFAR-10"
        )
    else:
        images = load_cifar10(split, data_dir, lossless=name == "cifar10-lossless")
    return images[:limit] if limit else images


def celeba_split_of(config) -> str:
    """The CelebA split a model config asks for: its ``celeba_split`` field (pyramid configs
    have one), else the paper's random 95/5."""
    return getattr(config, "celeba_split", "random")


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2: the paper's CIFAR-10 augmentation."""
    device = generator.device if generator is not None else x.device
    flip = torch.rand(x.shape[0], generator=generator, device=device).to(x.device) < 0.5
    return torch.where(flip.view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)


# --------------------------------------------------------------------------- CIFAR-10


def load_cifar10(
    split: str, data_dir=None, *, lossless: bool = False, download: bool = True
) -> torch.Tensor:
    """CIFAR-10 images of ``split`` ("train" or "test") as uint8 [N, 3, 32, 32].

    ``lossless=True`` reads the exact-pixel subset (4,000 train / 1,000 test images)
    instead of the full, JPEG-decoded copy. Only the full set can be downloaded.
    """
    batches = _cifar_batches(split, data_dir, lossless, download)
    return torch.from_numpy(
        np.concatenate([images for _, images, _ in batches]).reshape(-1, 3, 32, 32)
    )


def load_labelled_cifar10(
    split: str, data_dir=None, *, lossless: bool = False, download: bool = True
):
    """(images, labels) of ``split``: :func:`load_cifar10`'s images and their class labels
    (int64 0..9), from one reading of the files."""
    batches = _cifar_batches(split, data_dir, lossless, download)
    images = np.concatenate([images for _, images, _ in batches]).reshape(-1, 3, 32, 32)
    labels = np.concatenate(
        [_cifar_labels(path, batch, len(rows)) for path, rows, batch in batches]
    )
    return torch.from_numpy(images), torch.from_numpy(labels)


def _cifar_batches(
    split: str, data_dir, lossless: bool, download: bool
) -> list[tuple[Path, np.ndarray, dict]]:
    """(path, b"data" array, the whole batch) of every batch file of ``split``."""
    if split not in CIFAR_SPLITS:
        raise DataError(
            f"unknown CIFAR-10 split {split!r}; choose one of {', '.join(CIFAR_SPLITS)}"
        )
    root = resolve_data_dir(data_dir)
    folder = root / (CIFAR_LOSSLESS_DIR if lossless else CIFAR_DIR)
    if not folder.is_dir():
        if lossless or not download:
            raise DataError(
                f"CIFAR-10 not found: no folder {folder}; {_HOW_TO_POINT} "
                f"to a folder that holds {folder.name}/"
            )
        _download_cifar10(root)
    return [
        (path, *_read_cifar_batch(path)) for path in _cifar_batch_files(folder, split, lossless)
    ]


def _cifar_labels(path: Path, batch: dict, count: int) -> np.ndarray:
    """The b"labels" of a batch file, checked: ``count`` classes in 0..9."""
    labels = np.asarray(batch.get(b"labels", []), dtype=np.int64)
    if (
        labels.shape != (count,)
        or labels.min(initial=0) < 0
        or labels.max(initial=0) >= CIFAR_CLASSES
    ):
        raise DataError(
            f"{path}: b'labels' are not {count} classes 0..{CIFAR_CLASSES - 1}; "
            "restore the official CIFAR-10 file"
        )
    return labels


def _cifar_batch_files(folder: Path, split: str, lossless: bool) -> list[Path]:
    """The batch files of a split; the lossless subset has fewer (and fewer-image) batches."""
    if split == "test":
        names = ["test_batch"]
    elif lossless:
        names = sorted(
            (p.name for p in folder.iterdir() if re.fullmatch(r"data_batch_\d+", p.name)),
            key=lambda name: int(name.rsplit("_", 1)[1]),
        )
        if not names:
            raise DataError(
                f"no data_batch_* file in {folder}; restore the CIFAR-10 lossless subset there"
            )
    else:
        names = [f"data_batch_{k}" for k in range(1, 6)]
    paths = [folder / name for name in names]
    for path in paths:
        if not path.is_file():
            raise DataError(
                f"CIFAR-10 file missing: {path}; restore the complete {folder.name}/ folder"
            )
    return paths


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays, nothing else.

    A pickle can name any importable callable; refusing all but numpy's array
    reconstruction means a tampered data file cannot run code when it is loaded.
    ``_codecs.encode`` (str -> bytes) is allowed too: Python 3 stores bytes that way
    under protocol 2, the protocol of the official files.
    """

    def find_class(self, module: str, name: str):
        if (module, name) in (
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
        ):
            return _numpy_reconstruct  # numpy 1 and numpy 2 pickles name it differently
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):
            return codecs.encode
        raise pickle.UnpicklingError(
            f"refused to load {module}.{name} (only numpy arrays are allowed)"
        )


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, dict]:
    """The b"data" array of one batch file, checked: uint8 [N, 3072]; and the whole batch."""
    hint = f"replace {path} with the official CIFAR-10 file"
    try:
        with open(path, "rb") as f:
            batch = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except OSError as e:
        raise DataError(
            f"cannot read {path} ({one_line(e)}); check that the file is readable"
        ) from e
    except Exception as e:  # a truncated or garbled pickle can fail in almost any way
        raise DataError(f"{path} is not a readable CIFAR-10 batch ({one_line(e)}); {hint}") from e
    data = batch.get(b"data") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray):
        raise DataError(f"{path} has no b'data' array, so it is not a CIFAR-10 batch; {hint}")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(
            f"{path}: b'data' is {data.dtype} {data.shape}, expected uint8 (N, 3072); {hint}"
        )
    return data, batch


def _download_cifar10(root: Path) -> None:
    """Fetch and unpack the official archive into ``root``, all or nothing.

    The archive goes to a temporary file and is unpacked into a temporary folder
    inside ``root``; only a complete, MD5-verified copy is renamed into place, so an
    interrupted download never leaves data that looks usable.
    """
    how = (
        f"put the official {CIFAR_DIR}/ folder (from {CIFAR_URL}) in {root}, "
        f"or {_HOW_TO_POINT} to a folder that holds it"
    )
    if not may_write(root):
        raise DataError(
            f"CIFAR-10 not found in {root / CIFAR_DIR} and cannot be downloaded there "
            f"(folder not writable); {how}"
        )
    archive = unpack_dir = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, suffix=".tar.gz.part", delete=False) as archive:
            md5 = _fetch(CIFAR_URL, archive)
        if md5 != CIFAR_MD5:
            raise DataError(
                f"CIFAR-10 download from {CIFAR_URL} is corrupt (MD5 {md5}, expected {CIFAR_MD5}); {how}"
            )
        unpack_dir = Path(tempfile.mkdtemp(dir=root, prefix=".cifar-unpack-"))
        with tarfile.open(archive.name, "r:gz") as tar:
            tar.extractall(unpack_dir, filter="data")
        os.replace(unpack_dir / CIFAR_DIR, root / CIFAR_DIR)
    except (
        OSError,
        http.client.HTTPException,
        tarfile.TarError,
    ) as e:  # offline, read-only dir, bad archive
        raise DataError(
            f"CIFAR-10 not found in {root / CIFAR_DIR} and could not be downloaded "
            f"({one_line(e)}); {how}"
        ) from e
    finally:
        if archive is not None:
            Path(archive.name).unlink(missing_ok=True)
        if unpack_dir is not None:
            shutil.rmtree(unpack_dir, ignore_errors=True)


def _fetch(url: str, out: BinaryIO) -> str:
    """Stream ``url`` into ``out``; returns the MD5 hex digest of what was written."""
    md5 = hashlib.md5()
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        while chunk := response.read(1 << 20):
            md5.update(chunk)
            out.write(chunk)
    return md5.hexdigest()


# --------------------------------------------------------------------------- CelebA


def load_celeba(
    split: str, data_dir=None, *, resolution: int = CELEBA_RESOLUTION, celeba_split: str = "random"
) -> torch.Tensor:
    """CelebA faces of ``split`` ("train", "valid", "test") as uint8 [N, 3, resolution, resolution].

    ``celeba_split``: "random" (the paper's 95/5, no "valid") or "official" (the partition
    file); see the module's docstring. Each image is the paper's 128x128 crop; a smaller
    resolution 128 / f is ``auxpix.downsample(crop, f)``, the Pyramid PixelCNN's own view
    of the crop at that size, so a 64x64 training image is the 64x64 level of its pyramid.
    """
    if split not in CELEBA_SPLITS:
        raise DataError(f"unknown CelebA split {split!r}; choose one of {', '.join(CELEBA_SPLITS)}")
    if celeba_split not in CELEBA_SPLIT_CHOICES:
        raise DataError(
            f"unknown celeba_split {celeba_split!r}; choose one of {', '.join(CELEBA_SPLIT_CHOICES)}"
        )
    factor = _shrink_factor(resolution)
    celeba = resolve_data_dir(data_dir) / "celeba"
    files = _celeba_split(celeba, _celeba_files(celeba / "img_align_celeba"), split, celeba_split)
    x = torch.from_numpy(cached_crops(celeba, files, split))
    return downsample(x, factor) if factor > 1 else x


def _shrink_factor(resolution: int) -> int:
    """The power of 2 that shrinks 128 to ``resolution``."""
    for k in range(CELEBA_RESOLUTION.bit_length()):
        if CELEBA_RESOLUTION >> k == resolution:
            return 2**k
    raise DataError(f"CelebA resolution must be 128 / 2^k (128, 64, 32, ...), got {resolution}")


def _celeba_files(folder: Path) -> list[Path]:
    """All JPEGs of the image folder, sorted by name."""
    how = f"{_HOW_TO_POINT} to a folder that holds celeba/img_align_celeba/*.jpg"
    if not folder.is_dir():
        raise DataError(f"CelebA not found: no folder {folder}; {how}")
    files = sorted(folder.glob("*.jpg"))
    if not files:
        raise DataError(f"CelebA folder {folder} holds no .jpg images; {how}")
    return files


def _celeba_split(celeba: Path, files: list[Path], split: str, celeba_split: str) -> list[Path]:
    """The images of ``split`` under ``celeba_split``: the paper's random 95/5 or the partition file."""
    partition = celeba / "list_eval_partition.txt"
    if celeba_split == "random":
        if split == "valid":
            raise DataError(
                "CelebA's random 95/5 split (the paper's) has no 'valid' images; "
                "use 'train' or 'test', or celeba_split='official' for the partition file's"
            )
        chosen = [f for f in files if in_random_celeba_test(f.name) == (split == "test")]
        source = f"the random {100 - CELEBA_TEST_PERCENT}/{CELEBA_TEST_PERCENT} split"
    elif not partition.is_file():
        raise DataError(
            f"celeba_split='official' needs CelebA's partition file, not found at {partition}; "
            "put the official list_eval_partition.txt there or use celeba_split='random'"
        )
    else:
        code = _read_partition(partition)
        chosen = [f for f in files if code.get(f.name) == CELEBA_SPLITS[split]]
        source = str(partition)
    if not chosen:
        raise DataError(
            f"CelebA split {split!r} is empty: none of the {len(files)} images in "
            f"{files[0].parent} belongs to it under {source}"
        )
    return chosen


def in_random_celeba_test(name: str) -> bool:
    """Whether the image file ``name`` (e.g. "000001.jpg") is a test image of the random split.

    Decided by the SHA-256 of the name alone, not by file order or a random generator: the
    same on every machine and whichever other images a folder holds.
    """
    return (
        int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % 100
        < CELEBA_TEST_PERCENT
    )


def _read_partition(path: Path) -> dict[str, int]:
    """``list_eval_partition.txt`` as {file name: 0 train / 1 valid / 2 test}."""
    code = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataError(
                f"{path}, line {number}: expected 'NNNNNN.jpg <0|1|2>', got {line.strip()!r}; "
                "replace it with the official list_eval_partition.txt or delete it"
            )
        code[fields[0]] = int(fields[1])
    return code
