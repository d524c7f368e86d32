"""Training in 2 CPU processes (gloo) reaches what one process reaches on the same global batches."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import auxpix
from auxpix.runs import load_run
from auxpix.train import train_part

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("AUXPIX_DATA", REPO_ROOT.parent / "shared" / "data"))


def small_model():
    """An 8x8 smoke PixelCNN++ without dropout (random draws would differ between layouts)."""
    torch.manual_seed(0)
    return auxpix.build("pixelcnnpp", preset="smoke", image_size=8, net={"dropout": 0.0})


def images(n: int = 16) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )


def _train_in_process(
    rank: int, store: str, run_dir: str, steps: int, resume: bool, checkpoint_every: int
) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        test = (
            images(6) if checkpoint_every > 1 else None
        )  # the kill test times steps: no evaluation there
        train_part(
            small_model(),
            "pixelcnnpp",
            images(),
            run_dir=run_dir,
            steps=steps,
            test_images=test,
            eval_every=2,
            checkpoint_every=checkpoint_every,
            resume=resume,
            progress=False,
        )
    finally:
        dist.destroy_process_group()


def train_in_two_processes(
    tmp_path: Path, run_dir: Path, steps: int, resume: bool = False, checkpoint_every=2
):
    store = tmp_path / f"store-{run_dir.name}-{steps}-{resume}"
    mp.start_processes(
        _train_in_process,
        args=(str(store), str(run_dir), steps, resume, checkpoint_every),
        nprocs=2,
        start_method="spawn",
    )


def raw_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_run(run_dir, weights="raw").state_dict()


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[name] - b[name]).abs().max().item() for name in a)


@pytest.fixture(scope="module")
def one_process_run(one_thread, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("one") / "run"
    train_part(
        small_model(),
        "pixelcnnpp",
        images(),
        run_dir=run,
        steps=5,
        test_images=images(6),
        eval_every=2,
        checkpoint_every=2,
        progress=False,
    )
    return run


def test_two_processes_reach_the_weights_of_one(one_process_run, tmp_path):
    train_in_two_processes(tmp_path, tmp_path / "two", steps=5)
    assert max_difference(raw_weights(tmp_path / "two"), raw_weights(one_process_run)) < 1e-5
    one = [
        line for line in (one_process_run / "pixelcnnpp" / "metrics.jsonl").read_text().splitlines()
    ]
    two = [
        line
        for line in (tmp_path / "two" / "pixelcnnpp" / "metrics.jsonl").read_text().splitlines()
    ]
    assert len(one) == len(two) and '"world_size": 2' in two[-1]  # rank 0 alone wrote the log
    first, second = json.loads(one[-1]), json.loads(two[-1])
    assert first["test_bpd"] == pytest.approx(
        second["test_bpd"], abs=1e-5
    )  # the sharded evaluation
    assert first["train_bpd"] == pytest.approx(second["train_bpd"], abs=1e-5)


KILLED_RUN = """
import sys
sys.path.insert(0, sys.argv[1])
from test_distributed import train_in_two_processes
from pathlib import Path
train_in_two_processes(Path(sys.argv[2]), Path(sys.argv[2]) / "two", steps=int(sys.argv[3]), checkpoint_every=1)
"""


def test_two_processes_killed_and_resumed_reach_the_uninterrupted_weights(tmp_path):
    steps = 40
    whole = tmp_path / "uninterrupted"
    train_in_two_processes(tmp_path, whole, steps=steps, checkpoint_every=1)
    state = tmp_path / "two" / "pixelcnnpp" / "state.json"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(Path(__file__).parent), str(tmp_path), str(steps)],
        cwd=REPO_ROOT,
        start_new_session=True,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while _saved_step(state) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(
        process.pid, signal.SIGKILL
    )  # both training processes, most likely mid-step or mid-checkpoint
    process.wait()
    killed_at = _saved_step(state)
    assert 3 <= killed_at < steps, process.stderr.read().decode()
    train_in_two_processes(tmp_path, tmp_path / "two", steps=steps, resume=True, checkpoint_every=1)
    assert max_difference(raw_weights(tmp_path / "two"), raw_weights(whole)) == 0  # exactly


def _saved_step(state: Path) -> int:
    try:
        return json.loads(state.read_text())["step"]
    except (FileNotFoundError, ValueError):
        return 0


@pytest.mark.skipif(
    not (REAL_DATA / "cifar-10-batches-py").is_dir() or shutil.which("torchrun") is None,
    reason="needs the CIFAR-10 data and torchrun",
)
def test_torchrun_two_processes_give_the_weights_of_one_command(tmp_path):
    """The issue's own check: the same `auxpix train` command with and without torchrun."""
    command = [
        "train",
        "pixelcnnpp",
        "--preset",
        "smoke",
        "--set",
        "net.dropout=0",
        "--steps",
        "5",
        "--seed",
        "0",
        "--device",
        "cpu",
        "--eval-images",
        "0",
        "--data",
        str(REAL_DATA),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, "-m", "auxpix", *command, "--out", str(tmp_path / "one")],
        check=True,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
    )
    torchrun = [shutil.which("torchrun"), "--standalone", "--nproc_per_node=2", "-m", "auxpix"]
    subprocess.run(
        [*torchrun, *command, "--out", str(tmp_path / "two")],
        check=True,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
    )
    assert max_difference(raw_weights(tmp_path / "two"), raw_weights(tmp_path / "one")) < 1e-5
