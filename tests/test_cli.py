"""End-to-end tests of the ``auxpix`` command on smoke presets.

Most tests replace ``auxpix.data.load_dataset`` by tiny 8x8 synthetic images, so that the
smoke models can run at 8x8 (``--set image_size=8``) and sampling stays fast; one test
goes through the real CIFAR-10 reader with pickles written here in the official layout.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import auxpix
from auxpix import data
from auxpix.bench import sampling_speed
from auxpix.cli import main
from auxpix.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--preset", "smoke", "--set", "image_size=8"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def fake_data(monkeypatch):
    """load_dataset returns 16 train / 8 test random images at the requested resolution."""
    requests = []

    def load_dataset(name, split, data_dir=None, *, resolution=None, limit=None, **options):
        requests.append((name, split, resolution))
        n = {"train": 16, "test": 8}[split]
        seed = {"train": 1, "test": 2}[split]
        images = torch.randint(
            0,
            256,
            (n, 3, resolution, resolution),
            dtype=torch.uint8,
            generator=torch.Generator().manual_seed(seed),
        )
        return images[:limit] if limit else images

    monkeypatch.setattr(data, "load_dataset", load_dataset)
    return requests


def run(capsys, *argv) -> str:
    """main(argv), which must succeed; returns what it printed to stdout."""
    assert main([str(arg) for arg in argv]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def grid_size(n: int, blocks: int, size: int) -> tuple[int, int]:
    """(width, height) of a sample grid: n <= 8 images per row, 2-pixel gaps."""
    return n * (size + 2) + 2, blocks * (size + 4)


def test_grayscale_train_eval_sample(tmp_path, capsys, fake_data):
    out = tmp_path / "run"
    printed = run(
        capsys, "train", "grayscale", *SMALL, "--out", out, "--steps", 2, "--eval-images", 4
    )
    assert ("cifar10", "train", 8) in fake_data and ("cifar10", "test", 8) in fake_data
    assert printed.startswith("aux: step 2") and "cond: step 2" in printed and "test" in printed

    report = json.loads(run(capsys, "eval", out, "--json"))
    assert (
        report["weights"] == "ema" and report["split"] == "test" and report["dataset"] == "cifar10"
    )
    assert report["n_images"] == 8 and set(report["bpd"]) == {"aux", "cond", "total"}
    assert report["bpd"]["aux"] + report["bpd"]["cond"] == pytest.approx(report["bpd"]["total"])
    assert (
        json.loads(run(capsys, "eval", out, "--json", "--raw-weights", "--limit", 3))["n_images"]
        == 3
    )
    assert "total" in run(capsys, "eval", out)

    printed = run(
        capsys, "sample", out, "--n", 2, "--out", tmp_path / "gray.png", "--log-scale-shift", 1
    )
    assert "gray.png" in printed and "gray.npz" in printed
    assert Image.open(tmp_path / "gray.png").size == grid_size(2, 2, 8)
    arrays = np.load(tmp_path / "gray.npz")
    assert arrays["gray"].shape == (2, 1, 8, 8) and arrays["gray"].max() <= 15
    assert arrays["image"].shape == (2, 3, 8, 8) and arrays["image"].dtype == np.uint8


def test_colorize_test_images(tmp_path, capsys, fake_data):
    out = tmp_path / "run"
    run(capsys, "train", "grayscale", *SMALL, "--out", out, "--steps", 1, "--eval-images", 0)
    run(
        capsys,
        "sample",
        out,
        "--n",
        2,
        "--aux-from",
        "test",
        "--map",
        "--out",
        tmp_path / "colour.png",
    )
    arrays = np.load(tmp_path / "colour.npz")
    assert list(arrays) == ["original", "gray", "image"]
    assert np.array_equal(
        arrays["gray"], auxpix.grayscale_4bit(torch.from_numpy(arrays["original"])).numpy()
    )
    assert Image.open(tmp_path / "colour.png").size == grid_size(2, 3, 8)


def test_pixelcnnpp_resume_and_sample(tmp_path, capsys, fake_data):
    out = tmp_path / "run"
    run(capsys, "train", "pixelcnnpp", *SMALL, "--out", out, "--steps", 2)
    assert "step 4" in run(
        capsys, "train", "pixelcnnpp", *SMALL, "--out", out, "--steps", 4, "--resume"
    )
    run(capsys, "sample", out, "--n", 1, "--seed", 3, "--out", tmp_path / "one.png")
    assert np.load(tmp_path / "one.npy").shape == (1, 3, 8, 8)
    run(
        capsys,
        "sample",
        out,
        "--n",
        1,
        "--seed",
        3,
        "--method",
        "naive",
        "--out",
        tmp_path / "naive.png",
    )
    assert np.array_equal(np.load(tmp_path / "naive.npy"), np.load(tmp_path / "one.npy"))
    assert not (tmp_path / "one.npz").exists()


def no_compiling(monkeypatch) -> None:
    """torch.compile as the identity: the shape-static steps run eagerly (compiling them is
    tests/test_compiled_sampling.py's, and takes minutes for these nets)."""
    monkeypatch.setattr(torch, "compile", lambda function, **options: function)


def test_pyramid_end_to_end(tmp_path, capsys, fake_data, monkeypatch):
    out = tmp_path / "run"
    pyramid = ["--preset", "smoke", "--set", "resolutions=4,8"]
    run(capsys, "train", "pyramid", *pyramid, "--out", out, "--epochs", 0.5, "--part", "8")
    alone = json.loads(
        run(capsys, "eval", out, "--json", "--part", "8", "--aux-ablation")
    )  # part 4 untrained yet
    assert list(alone["bpd"]) == ["8"] and alone["aux_ablation"]["8"]["own"] == pytest.approx(
        alone["bpd"]["8"]
    )
    run(capsys, "train", "pyramid", *pyramid, "--out", out, "--epochs", 0.5, "--part", "4")
    report = json.loads(run(capsys, "eval", out, "--json"))
    assert set(report["bpd"]) == {"4", "8", "total"} and set(report["bpd_by_resolution"]) == {
        "4",
        "8",
    }
    assert (
        report["celeba_split"] == "random"
    )  # the paper's held-out 5 %, said with every CelebA number
    ablation = json.loads(run(capsys, "eval", out, "--json", "--aux-ablation"))["aux_ablation"]
    assert list(ablation) == ["8"] and list(ablation["8"]) == ["own", "another image's", "flat"]
    assert ablation["8"]["own"] == pytest.approx(report["bpd"]["8"])
    run(capsys, "sample", out, "--n", 1, "--out", tmp_path / "faces.png")
    arrays = np.load(tmp_path / "faces.npz")
    assert arrays["4"].shape == (1, 3, 4, 4) and arrays["image"].shape == (1, 3, 8, 8)
    assert Image.open(tmp_path / "faces.png").size == grid_size(1, 2, 8)  # levels upscaled to 8x8
    no_compiling(monkeypatch)
    printed = run(capsys, "sample", out, "--n", 2, "--compile", "--out", tmp_path / "fast.png")
    assert re.search(r"compiled the sampling steps in \d+\.\d s", printed)
    assert np.load(tmp_path / "fast.npz")["image"].shape == (2, 3, 8, 8)


def write_cifar(root: Path, n: int = 16) -> None:
    """A cifar-10-batches-py folder in the official pickle layout, n random images per batch."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": [0] * n}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


def test_real_cifar_reader(tmp_path, capsys):
    write_cifar(tmp_path / "data")
    out, data_dir = tmp_path / "run", tmp_path / "data"
    run(
        capsys,
        "train",
        "pixelcnnpp",
        "--preset",
        "smoke",
        "--out",
        out,
        "--data",
        data_dir,
        "--steps",
        1,
        "--eval-images",
        4,
    )
    report = json.loads(run(capsys, "eval", out, "--data", data_dir, "--limit", 4, "--json"))
    assert report["n_images"] == 4
    # A model smaller than the data set's images is refused by the reader, clearly.
    assert (
        main(
            [
                "train",
                "grayscale",
                *SMALL,
                "--out",
                str(tmp_path / "small"),
                "--data",
                str(data_dir),
                "--steps",
                "1",
            ]
        )
        == 2
    )
    assert "cifar10 images are 32x32" in capsys.readouterr().err


def test_bench(capsys, monkeypatch):
    no_compiling(monkeypatch)
    printed = run(
        capsys,
        "bench",
        "pixelcnnpp",
        "--preset",
        "smoke",
        "--steps",
        1,
        "--seconds",
        0.2,
        "--resolution",
        8,
        "--compile",
    )
    assert "images/s" in printed and "s/pixel" in printed and "extrapolated" in printed
    assert "compiled cached" in printed and "compiling the steps took" in printed
    with pytest.raises(
        ConfigError, match="unknown sampling method 'fancy': choose from cached, naive"
    ):
        sampling_speed("pixelcnnpp", preset="smoke", methods=("naive", "fancy"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "vae", "--out", "{tmp}/r", "--steps", "1"], "unknown model kind 'vae'"),
        (
            ["train", "grayscale", "--preset", "huge", "--out", "{tmp}/r", "--steps", "1"],
            "unknown preset 'huge'",
        ),
        (
            ["train", "grayscale", *SMALL, "--part", "rgb", "--out", "{tmp}/r", "--steps", "1"],
            "grayscale has no part 'rgb': its parts are aux, cond",
        ),
        (
            [
                "train",
                "grayscale",
                *SMALL,
                "--set",
                "net.nr_filters=4",
                "--out",
                "{tmp}/r",
                "--steps",
                "1",
            ],
            "GrayscaleConfig has no field 'net'",
        ),
        (
            [
                "train",
                "grayscale",
                *SMALL,
                "--set",
                "train.lr=fast",
                "--out",
                "{tmp}/r",
                "--steps",
                "1",
            ],
            "--set train.lr=fast: expected float",
        ),
        (
            ["train", "grayscale", *SMALL, "--out", "{tmp}/r", "--steps", "1", "--device", "tpu"],
            "unknown device",
        ),
        (["eval", "{tmp}/missing"], "run directory .*missing does not exist"),
        (
            ["sample", "{tmp}/missing", "--out", "{tmp}/s.png"],
            "run directory .*missing does not exist",
        ),
        (
            ["sample", "{tmp}/run", "--out", "{tmp}/s.png", "--compile", "--method", "window"],
            "--compile compiles the cached sampler, not --method window",
        ),
        (
            ["train", "grayscale", "--out", "{tmp}/r"],
            "one of the arguments --steps --epochs --minutes is required",
        ),
        (
            ["train", "grayscale", "--out", "{tmp}/r", "--steps", "-3"],
            "argument --steps: expected a positive int",
        ),
        (["eval"], "the following arguments are required: RUN_DIR"),
        (
            ["quality", "{tmp}/run"],
            "argument COMMAND: invalid choice: .*choose from .score., .train.",
        ),
        (["quality", "score", "{tmp}/run"], "the following arguments are required: --classifier"),
    ],
)
def test_errors_are_one_line(tmp_path, capsys, fake_data, argv, message):
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    try:
        status = main(argv)
    except SystemExit as e:  # argparse's usage errors
        status = e.code
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("auxpix: error: ") and "Traceback" not in err
    assert re.search(message, err), err


def test_runs_are_not_overwritten_or_mixed(tmp_path, capsys, fake_data):
    out = str(tmp_path / "run")
    run(capsys, "train", "pixelcnnpp", *SMALL, "--out", out, "--steps", 1)
    train, sample = (
        ["train", "pixelcnnpp", "--out", out, "--steps", "2"],
        ["sample", out, "--n", "1", "--out"],
    )
    for argv, message in [
        ([*train, *SMALL], "already holds a checkpoint .step 1.; pass --resume"),
        (
            [*train, *SMALL, "--resume", "--seed", "1"],
            "trained with seed 0, not 1; resume with --seed 0",
        ),
        ([*train, "--preset", "smoke", "--resume"], "another config .image_size: run 8, yours 32"),
        (
            ["train", "grayscale", *SMALL, "--out", out, "--steps", "2"],
            "holds a pixelcnnpp run .preset smoke., not a",
        ),
        (
            [*sample, str(tmp_path / "s.png"), "--aux-from", "test"],
            "a pixelcnnpp model has no auxiliary image to start from",
        ),
        ([*sample, str(tmp_path / "s.jpg")], "must end in .png"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(message, err), err


def test_python_m_auxpix():
    result = subprocess.run(
        [sys.executable, "-m", "auxpix", "train", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "--resume" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "auxpix", "eval", "/nonexistent/run"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stderr.startswith("auxpix: error: run directory")
