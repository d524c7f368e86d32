"""Tests of auxpix.data: tiny data sets written here in the official formats, plus the real data."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from auxpix import celeba_crops, data, pyramid
from auxpix.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("AUXPIX_TEST_DATA") or REPO_ROOT.parent / "shared" / "data")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test reads the user's settings, writes to ~/.cache or touches the network."""
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.setenv(celeba_crops.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(urllib.request, "urlopen", _offline)


def _offline(*args, **kwargs):
    raise urllib.error.URLError("no network in tests")


# --------------------------------------------------------------------------- helpers


def write_batch(path: Path, images: np.ndarray, protocol: int = 2) -> None:
    """A batch file in the official layout: a dict with byte keys, images as uint8 (N, 3072)."""
    batch = {
        b"batch_label": b"fake batch",
        b"labels": [i % 10 for i in range(len(images))],
        b"data": images,
        b"filenames": [b"img_%d.png" % i for i in range(len(images))],
    }
    path.write_bytes(pickle.dumps(batch, protocol=protocol))


def images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def make_cifar(root: Path, n: int = 20) -> dict[str, np.ndarray]:
    """A fake cifar-10-batches-py with five train batches and a test batch of n images each."""
    folder = root / data.CIFAR_DIR
    folder.mkdir(parents=True)
    batches = {f"data_batch_{k}": images(n, k) for k in range(1, 6)} | {"test_batch": images(n, 0)}
    for name, array in batches.items():
        write_batch(folder / name, array)
    return batches


def make_lossless(root: Path) -> None:
    folder = root / data.CIFAR_LOSSLESS_DIR
    folder.mkdir(parents=True)
    write_batch(folder / "data_batch_1", images(40, 1), protocol=4)
    write_batch(folder / "test_batch", images(10, 0), protocol=4)


# The crop window of a 218x178 image and four flat colours in its quadrants, so that the
# decoded crop shows whether its edges, orientation and channel order are right.
TOP, BOTTOM, LEFT, RIGHT = 50, 178, 25, 153
QUADRANT_COLOURS = {
    (0, 0): (230, 20, 20),
    (0, 1): (20, 230, 20),
    (1, 0): (20, 20, 230),
    (1, 1): (240, 240, 240),
}


def face(level: int = 0) -> np.ndarray:
    """A 218x178 image: black outside the crop window, coloured quadrants inside (+ level)."""
    img = np.zeros((218, 178, 3), dtype=np.uint8)
    mid_r, mid_c = (TOP + BOTTOM) // 2, (LEFT + RIGHT) // 2
    for (qr, qc), colour in QUADRANT_COLOURS.items():
        rows = slice(TOP, mid_r) if qr == 0 else slice(mid_r, BOTTOM)
        cols = slice(LEFT, mid_c) if qc == 0 else slice(mid_c, RIGHT)
        img[rows, cols] = np.clip(np.array(colour) - level, 0, 255)
    return img


def save_jpeg(path: Path, img: np.ndarray) -> None:
    Image.fromarray(img).save(path, quality=100, subsampling=0)  # nearly lossless


def make_celeba(root: Path, levels: list[int], codes: list[int] | None = None) -> Path:
    """Images 000001.jpg... (image i darkened by levels[i]) and, if codes, a CRLF partition file."""
    celeba = root / "celeba"
    folder = celeba / "img_align_celeba"
    folder.mkdir(parents=True)
    for i, level in enumerate(levels, 1):
        save_jpeg(folder / f"{i:06d}.jpg", face(level))
    if codes is not None:
        lines = [f"{i:06d}.jpg {c}" for i, c in enumerate(codes, 1)] + [
            "999999.jpg 0"
        ]  # one absent
        (celeba / "list_eval_partition.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return celeba


def levels_of(x: torch.Tensor) -> list[int]:
    """Recovers each image's darkening from its (230, 20, 20) top-left quadrant."""
    return [round(230 - v) for v in x[:, 0, 10:50, 10:50].float().mean((1, 2)).tolist()]


def count_decodes(monkeypatch) -> list[Path]:
    decoded = []
    decode = celeba_crops._decode

    def counting(path):
        decoded.append(path)
        return decode(path)

    monkeypatch.setattr(celeba_crops, "_decode", counting)
    return decoded


# --------------------------------------------------------------------------- data dir


def test_resolve_data_dir_prefers_argument_then_env(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "env"))
    assert data.resolve_data_dir() == tmp_path / "env"
    assert data.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert data.resolve_data_dir(str(tmp_path)) == tmp_path


def test_resolve_data_dir_without_argument_or_env_says_how_to_point_it():
    with pytest.raises(DataError, match="pass --data DIR or set AUXPIX_DATA=DIR"):
        data.resolve_data_dir()


def test_loaders_use_env_var(tmp_path, monkeypatch):
    make_cifar(tmp_path)
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert data.load_cifar10("test").shape == (20, 3, 32, 32)


# --------------------------------------------------------------------------- CIFAR-10


def test_cifar10_train_and_test(tmp_path):
    batches = make_cifar(tmp_path)
    train = data.load_cifar10("train", tmp_path)
    test = data.load_cifar10("test", tmp_path)
    assert train.shape == (100, 3, 32, 32) and train.dtype == torch.uint8
    assert test.shape == (20, 3, 32, 32) and test.dtype == torch.uint8
    # Row layout: the red plane, then green, then blue, each row by row.
    assert np.array_equal(train[0].numpy(), batches["data_batch_1"][0].reshape(3, 32, 32))
    assert np.array_equal(train[20:40].numpy().reshape(20, -1), batches["data_batch_2"])
    assert np.array_equal(test.numpy().reshape(20, -1), batches["test_batch"])


def test_cifar10_lossless_subset(tmp_path):
    make_lossless(tmp_path)
    assert data.load_cifar10("train", tmp_path, lossless=True).shape == (40, 3, 32, 32)
    assert data.load_cifar10("test", tmp_path, lossless=True).shape == (10, 3, 32, 32)


def test_cifar10_missing_folder_without_download(tmp_path):
    with pytest.raises(DataError, match="AUXPIX_DATA") as e:
        data.load_cifar10("train", tmp_path, download=False)
    assert str(tmp_path / data.CIFAR_DIR) in str(e.value) and "\n" not in str(e.value)


def test_cifar10_lossless_missing_is_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", pytest.fail)
    with pytest.raises(DataError, match=data.CIFAR_LOSSLESS_DIR):
        data.load_cifar10("test", tmp_path, lossless=True)


def test_cifar10_offline_download_fails_cleanly(tmp_path):
    with pytest.raises(DataError, match="could not be downloaded.*URLError.*AUXPIX_DATA") as e:
        data.load_cifar10("train", tmp_path)
    assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []  # no temporary file or folder left behind


def test_cifar10_read_only_data_dir_is_not_downloaded_into(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", pytest.fail)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(DataError, match="not writable"):
            data.load_cifar10("train", tmp_path)
    finally:
        tmp_path.chmod(0o755)


def fake_archive(tmp_path: Path) -> bytes:
    """A cifar-10-python.tar.gz built from a fake cifar-10-batches-py."""
    source = tmp_path / "source"
    make_cifar(source)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(source / data.CIFAR_DIR, arcname=data.CIFAR_DIR)
    return buffer.getvalue()


def test_cifar10_download_verifies_and_unpacks(tmp_path, monkeypatch):
    archive = fake_archive(tmp_path)
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(archive))
    monkeypatch.setattr(data, "CIFAR_MD5", hashlib.md5(archive).hexdigest())
    root = tmp_path / "root"
    assert data.load_cifar10("train", root).shape == (100, 3, 32, 32)
    assert [p.name for p in root.iterdir()] == [data.CIFAR_DIR]


def test_cifar10_download_with_wrong_md5_is_discarded(tmp_path, monkeypatch):
    archive = fake_archive(tmp_path)
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(archive))
    root = tmp_path / "root"
    with pytest.raises(DataError, match="corrupt.*MD5"):
        data.load_cifar10("train", root)
    assert list(root.iterdir()) == []


def test_cifar10_missing_batch_file(tmp_path):
    make_cifar(tmp_path)
    (tmp_path / data.CIFAR_DIR / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        data.load_cifar10("train", tmp_path)


def test_cifar10_truncated_pickle(tmp_path):
    make_cifar(tmp_path)
    path = tmp_path / data.CIFAR_DIR / "test_batch"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="test_batch is not a readable CIFAR-10 batch"):
        data.load_cifar10("test", tmp_path)


class Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar10_malicious_pickle_is_refused(tmp_path):
    make_cifar(tmp_path)
    marker = tmp_path / "pwned"
    (tmp_path / data.CIFAR_DIR / "test_batch").write_bytes(
        pickle.dumps({b"data": Exploit(marker)}, protocol=2)
    )
    with pytest.raises(DataError, match="refused to load (posix|os).system"):
        data.load_cifar10("test", tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [{b"labels": [1]}, [1, 2, 3], {"data": images(2, 0)}])
def test_cifar10_wrong_keys(tmp_path, content):
    make_cifar(tmp_path)
    (tmp_path / data.CIFAR_DIR / "test_batch").write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(DataError, match="no b'data' array"):
        data.load_cifar10("test", tmp_path)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((20, 3000), np.uint8),
        np.zeros((20, 3072), np.int64),
        np.zeros((20, 3, 32, 32), np.uint8),
    ],
)
def test_cifar10_wrong_shape_or_dtype(tmp_path, array):
    make_cifar(tmp_path)
    write_batch(tmp_path / data.CIFAR_DIR / "test_batch", array)
    with pytest.raises(DataError, match=r"expected uint8 \(N, 3072\)"):
        data.load_cifar10("test", tmp_path)


def test_cifar10_unknown_split(tmp_path):
    with pytest.raises(DataError, match="train, test"):
        data.load_cifar10("valid", tmp_path)


# --------------------------------------------------------------------------- CelebA


def test_celeba_crop_is_the_papers_window(tmp_path):
    make_celeba(tmp_path, [0, 0])
    x = data.load_celeba("train", tmp_path)
    assert x.shape == (2, 3, 128, 128) and x.dtype == torch.uint8
    for (qr, qc), colour in QUADRANT_COLOURS.items():
        quadrant = x[:, :, qr * 64 : (qr + 1) * 64, qc * 64 : (qc + 1) * 64].int()
        # Every pixel, the crop's border rows and columns included, has its quadrant's colour:
        # a window off by one pixel would take in a black row or column.
        assert (quadrant - torch.tensor(colour).view(1, 3, 1, 1)).abs().max() < 40


def test_celeba_official_partition(tmp_path):
    make_celeba(tmp_path, [0, 10, 20, 30, 40, 50], codes=[0, 2, 0, 1, 2, 0])
    assert levels_of(data.load_celeba("train", tmp_path, celeba_split="official")) == [0, 20, 50]
    assert levels_of(data.load_celeba("valid", tmp_path, celeba_split="official")) == [30]
    assert levels_of(data.load_celeba("test", tmp_path, celeba_split="official")) == [10, 40]
    # The default is the paper's random split, whatever the partition file says.
    assert levels_of(data.load_celeba("train", tmp_path)) == [0, 10, 20, 30, 40, 50]


def test_celeba_random_split_is_decided_by_each_file_name(tmp_path):
    levels = list(range(0, 240, 10))  # images 000001.jpg ... 000024.jpg
    celeba = make_celeba(tmp_path, levels, codes=[0] * len(levels))
    train, test = data.load_celeba("train", tmp_path), data.load_celeba("test", tmp_path)
    assert levels_of(test) == [110, 210]  # 000012.jpg and 000022.jpg: see the next test
    assert sorted(levels_of(train) + levels_of(test)) == levels
    for i in (1, 2, 3, 13, 23):  # other images gone: no image changes side
        (celeba / "img_align_celeba" / f"{i:06d}.jpg").unlink()
    assert levels_of(data.load_celeba("test", tmp_path)) == [110, 210]
    assert len(data.load_celeba("train", tmp_path)) == len(levels) - 2 - 5
    with pytest.raises(DataError, match="random 95/5 split .* has no 'valid' images.*official"):
        data.load_celeba("valid", tmp_path)


def test_random_celeba_split_is_pinned_and_holds_out_5_percent():
    names = [f"{i:06d}.jpg" for i in range(1, 202_600)]  # every CelebA image
    test = [name for name in names if data.in_random_celeba_test(name)]
    assert test[:6] == [
        "000012.jpg",
        "000022.jpg",
        "000036.jpg",
        "000047.jpg",
        "000065.jpg",
        "000094.jpg",
    ]
    assert len(test) == 10_158  # 5.01 %


def test_configs_record_their_celeba_split():
    from auxpix.config import config_from_dict, config_to_dict, preset

    pyramid_config = preset("pyramid", "paper")
    assert pyramid_config.celeba_split == "random" == data.celeba_split_of(pyramid_config)
    saved = config_to_dict(preset("pyramid", "cpu", celeba_split="official"))
    assert config_from_dict("pyramid", saved).celeba_split == "official"
    # runs saved before the field existed were trained on the official partition
    del saved["celeba_split"]
    assert config_from_dict("pyramid", saved).celeba_split == "official"
    assert data.celeba_split_of(preset("grayscale", "cpu")) == "random"  # no field: the paper's


def test_celeba_official_split_needs_the_partition_file(tmp_path):
    make_celeba(tmp_path, [0])
    with pytest.raises(
        DataError, match="celeba_split='official' needs .*list_eval_partition.txt.*'random'"
    ):
        data.load_celeba("train", tmp_path, celeba_split="official")


def test_celeba_unknown_split_choice(tmp_path):
    make_celeba(tmp_path, [0])
    with pytest.raises(
        DataError, match="unknown celeba_split 'paper'; choose one of random, official"
    ):
        data.load_dataset("celeba", "train", tmp_path, celeba_split="paper")


def test_celeba_cache_is_reused_and_rebuilt(tmp_path, monkeypatch):
    monkeypatch.delenv(celeba_crops.CACHE_ENV)
    celeba = make_celeba(tmp_path, [0, 10, 20])
    decoded = count_decodes(monkeypatch)
    first = data.load_celeba("train", tmp_path)
    assert len(decoded) == 3 and len(list((celeba / ".cache").glob("*.npy"))) == 1
    assert torch.equal(data.load_celeba("train", tmp_path), first)
    assert len(decoded) == 3  # read from the cache

    changed = celeba / "img_align_celeba" / "000002.jpg"
    old_size = changed.stat().st_size
    Image.fromarray(face(70)).save(changed, quality=90)
    assert changed.stat().st_size != old_size  # the cache key sees names and sizes
    assert levels_of(data.load_celeba("train", tmp_path)) == [0, 70, 20]
    assert len(decoded) == 6

    monkeypatch.setattr(celeba_crops, "CELEBA_CROP", (49, 177, 25, 153))  # changed crop window
    data.load_celeba("train", tmp_path)
    assert len(decoded) == 9 and len(list((celeba / ".cache").glob("*.npy"))) == 3


def test_celeba_corrupt_cache_is_rebuilt(tmp_path):
    make_celeba(tmp_path, [0, 10])
    expected = data.load_celeba("train", tmp_path)
    (cache,) = (tmp_path / "cache").glob("*.npy")
    cache.write_bytes(b"not an array")
    assert torch.equal(data.load_celeba("train", tmp_path), expected)


def test_celeba_read_only_folder_caches_in_home(tmp_path, monkeypatch):
    monkeypatch.delenv(celeba_crops.CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    celeba = make_celeba(tmp_path, [0, 10])
    celeba.chmod(0o555)
    try:
        assert len(data.load_celeba("train", tmp_path)) == 2
    finally:
        celeba.chmod(0o755)
    assert not (celeba / ".cache").exists()
    assert len(list((tmp_path / "home" / ".cache" / "auxpix").glob("*.npy"))) == 1


def test_celeba_unwritable_cache_only_warns(tmp_path):
    make_celeba(tmp_path, [0])
    (tmp_path / "cache").mkdir(mode=0o555)
    with pytest.warns(UserWarning, match="could not write the CelebA cache"):
        assert len(data.load_celeba("train", tmp_path)) == 1
    (tmp_path / "cache").chmod(0o755)


def test_celeba_lower_resolution_is_the_pyramids_view(tmp_path):
    auxvars = pytest.importorskip("auxpix.auxvars")
    celeba = make_celeba(tmp_path, [0])
    noise = np.random.default_rng(0).integers(
        0, 256, (218, 178, 3), dtype=np.uint8
    )  # many .5 averages
    save_jpeg(celeba / "img_align_celeba" / "000002.jpg", noise)
    full = data.load_celeba("train", tmp_path)
    for resolution, factor in ((64, 2), (32, 4)):
        low = data.load_celeba("train", tmp_path, resolution=resolution)
        assert low.shape == (2, 3, resolution, resolution) and low.dtype == torch.uint8
        # the authors' view of the 128x128 crop, which the pyramid conditions on
        assert torch.equal(low, torch.round(F.avg_pool2d(full.double(), factor)).to(torch.uint8))
        assert torch.equal(low, auxvars.pyramid(full, factor.bit_length())[0])


def test_celeba_bad_resolution(tmp_path):
    make_celeba(tmp_path, [0])
    with pytest.raises(DataError, match="128 / 2"):
        data.load_celeba("train", tmp_path, resolution=100)


def test_celeba_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no folder .*img_align_celeba.*AUXPIX_DATA"):
        data.load_celeba("train", tmp_path)


def test_celeba_empty_folder(tmp_path):
    (tmp_path / "celeba" / "img_align_celeba").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no .jpg images"):
        data.load_celeba("train", tmp_path)


@pytest.mark.parametrize("damage", [lambda b: b"garbage" * 100, lambda b: b[: len(b) // 2]])
def test_celeba_undecodable_jpeg_is_named(tmp_path, damage):
    celeba = make_celeba(tmp_path, [0, 10])
    path = celeba / "img_align_celeba" / "000002.jpg"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match="cannot decode .*000002.jpg"):
        data.load_celeba("train", tmp_path)


def test_celeba_wrong_image_size_is_named(tmp_path):
    celeba = make_celeba(tmp_path, [0])
    save_jpeg(celeba / "img_align_celeba" / "000001.jpg", np.zeros((200, 200, 3), np.uint8))
    with pytest.raises(DataError, match="000001.jpg is 200x200, expected 178x218"):
        data.load_celeba("train", tmp_path)


def test_celeba_malformed_partition_file(tmp_path):
    celeba = make_celeba(tmp_path, [0])
    (celeba / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg train\n")
    with pytest.raises(DataError, match="line 2"):
        data.load_celeba("train", tmp_path, celeba_split="official")


def test_celeba_unknown_split(tmp_path):
    with pytest.raises(DataError, match="train, valid, test"):
        data.load_celeba("val", tmp_path)


# --------------------------------------------------------------------------- dispatch and flips


def test_load_dataset_dispatch(tmp_path):
    make_cifar(tmp_path)
    make_lossless(tmp_path)
    make_celeba(tmp_path, [0], codes=[2])
    assert data.load_dataset("cifar10", "test", tmp_path).shape == (20, 3, 32, 32)
    assert data.load_dataset("cifar10-lossless", "train", tmp_path).shape == (40, 3, 32, 32)
    assert data.load_dataset("celeba", "train", tmp_path).shape == (1, 3, 128, 128)  # random split
    assert data.load_dataset(
        "celeba", "test", tmp_path, resolution=32, celeba_split="official"
    ).shape == (1, 3, 32, 32)
    with pytest.raises(DataError, match="cifar10, cifar10-lossless, celeba"):
        data.load_dataset("mnist", "train", tmp_path)
    with pytest.raises(DataError, match="32x32"):
        data.load_dataset("cifar10", "train", tmp_path, resolution=64)


def test_random_flip_mirrors_about_half():
    x = torch.randint(0, 256, (1000, 3, 4, 4), dtype=torch.uint8)
    y = data.random_flip(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    kept = (y == x).flatten(1).all(1)
    flipped = (y == x.flip(-1)).flatten(1).all(1)
    assert (kept | flipped).all()
    assert 400 < flipped.sum() < 600
    assert torch.equal(data.random_flip(x, torch.Generator().manual_seed(0)), y)


# --------------------------------------------------------------------------- the real data

real = pytest.mark.skipif(
    not REAL_DATA.is_dir(), reason=f"no real data at {REAL_DATA} (set AUXPIX_TEST_DATA)"
)


@real
def test_real_cifar10():
    train = data.load_cifar10("train", REAL_DATA, download=False)
    assert train.shape == (50000, 3, 32, 32) and train.dtype == torch.uint8
    assert abs(train[:, 0].double().mean().item() - 0.49 * 255) < 1
    assert data.load_cifar10("test", REAL_DATA, download=False).shape == (10000, 3, 32, 32)


@real
def test_real_cifar10_lossless_matches_the_jpeg_copy():
    exact = data.load_cifar10("test", REAL_DATA, lossless=True)
    assert exact.shape == (1000, 3, 32, 32)
    assert data.load_cifar10("train", REAL_DATA, lossless=True).shape == (4000, 3, 32, 32)
    jpeg = data.load_cifar10("test", REAL_DATA, download=False)[:1000]
    mse = (exact.double() - jpeg.double()).pow(2).mean().item()
    assert 29 < 10 * np.log10(255**2 / mse) < 31  # README: 29.97 dB, same images, same order


@pytest.fixture(scope="module")
def real_celeba(tmp_path_factory):
    """Decodes each real split once per session; the cache goes to a temporary folder
    because the shared data folder must stay untouched."""
    before = _listing(REAL_DATA / "celeba")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(celeba_crops.CACHE_ENV, str(tmp_path_factory.mktemp("celeba-cache")))
        splits = {
            split: data.load_celeba(split, REAL_DATA, celeba_split="official")
            for split in ("train", "valid", "test")
        }
    assert _listing(REAL_DATA / "celeba") == before, "reading the shared data folder wrote into it"
    yield splits


def _listing(folder: Path) -> list[tuple[str, int, int]]:
    """Every file below ``folder`` with its size and modification time (what a write changes)."""
    return sorted(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    )


@real
def test_real_celeba_official_split(real_celeba):
    assert {split: len(x) for split, x in real_celeba.items()} == {
        "train": 4657,
        "valid": 780,
        "test": 660,
    }
    for x in real_celeba.values():
        assert x.shape[1:] == (3, 128, 128) and x.dtype == torch.uint8
    mean = real_celeba["train"].numpy().mean((0, 2, 3)) / 255
    assert np.allclose(mean, [0.5423, 0.4193, 0.3538], atol=0.03)  # README, over another subset


@real
def test_real_celeba_random_split():
    before = _listing(REAL_DATA / "celeba")
    folder = REAL_DATA / "celeba" / "img_align_celeba"
    files = data._celeba_files(folder)
    train, test = (
        data._celeba_split(folder.parent, files, split, "random") for split in ("train", "test")
    )
    assert (len(train), len(test)) == (5775, 322)  # 5.3 % of our 6,097 faces; 5.01 % of all 202,599
    assert sorted(train + test) == files and [f.name for f in test[:3]] == [
        "000012.jpg",
        "000022.jpg",
        "000036.jpg",
    ]
    faces = data.load_celeba("test", REAL_DATA)
    assert faces.shape == (322, 3, 128, 128)
    # a 64x64 training image is the pyramid's 64x64 view of its 128x128 crop
    assert torch.equal(data.load_celeba("test", REAL_DATA, resolution=64), pyramid(faces, 2)[0])
    assert _listing(REAL_DATA / "celeba") == before
