"""Tests of auxpix.train, auxpix.runs and auxpix.evaluate on tiny smoke models and synthetic images."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import auxpix
from auxpix import loop, runs
from auxpix import train as training
from auxpix.errors import CheckpointError, ConfigError, DataError
from auxpix.evaluate import evaluate, evaluate_part
from auxpix.pixelcnn import to_unit
from auxpix.runs import load_run, load_weights
from auxpix.train import train, train_part

REPO_ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


def small_model(kind: str = "pixelcnnpp", **overrides):
    """A smoke model at 8x8 with fixed initial weights."""
    torch.manual_seed(0)
    size = {"resolutions": (4, 8)} if kind == "pyramid" else {"image_size": 8}
    return auxpix.build(kind, preset="smoke", **size, **overrides)


def random_images(n: int = 32, size: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


def structured_images(n: int = 8, size: int = 8) -> torch.Tensor:
    """Flat colours plus a horizontal ramp: easy to model, so training must show progress."""
    colour = torch.randint(0, 200, (n, 3, 1, 1), generator=torch.Generator().manual_seed(0))
    ramp = torch.arange(size).view(1, 1, 1, size) * (48 // size)
    return (colour + ramp).expand(n, 3, size, size).to(torch.uint8).contiguous()


def metrics(run_dir: Path, part: str) -> list[dict]:
    return [
        json.loads(line) for line in (run_dir / part / runs.METRICS_FILE).read_text().splitlines()
    ]


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[name], sb[name]) for name in sa)


def quiet(**options):
    return {"progress": False, **options}


# --------------------------------------------------------------------------- training


def test_training_lowers_bpd(tmp_path):
    model = small_model(train={"lr": 0.01})
    train_part(
        model, "pixelcnnpp", structured_images(), run_dir=tmp_path, steps=30, log_every=1, **quiet()
    )
    bpd = [record["train_bpd"] for record in metrics(tmp_path, "pixelcnnpp")]
    assert len(bpd) == 30
    assert bpd[-1] < bpd[0] - 1.0


def test_run_directory_layout(tmp_path):
    model = small_model("grayscale")
    states = train(
        model,
        random_images(),
        run_dir=tmp_path,
        preset="smoke",
        steps=3,
        test_images=random_images(4, seed=2),
        eval_every=2,
        **quiet(),
    )
    run = json.loads((tmp_path / "run.json").read_text())
    assert (
        run["kind"] == "grayscale" and run["preset"] == "smoke" and run["config"]["image_size"] == 8
    )
    for part in ("aux", "cond"):
        state = json.loads((tmp_path / part / "state.json").read_text())
        assert state == states[part]
        assert (
            state["step"] == 3 and state["done"] and state["epoch"] == 0 and state["position"] == 3
        )
        folders = [p.name for p in (tmp_path / part).iterdir() if p.is_dir()]
        assert folders == [state["checkpoint"]]
        files = {p.name for p in (tmp_path / part / state["checkpoint"]).iterdir()}
        assert files == {
            "weights.safetensors",
            "ema.safetensors",
            "optimizer.pt",
            "rng.safetensors",
        }
        lines = metrics(tmp_path, part)
        assert [line["step"] for line in lines] == [2, 3]
        keys = {"step", "epoch", "seconds", "lr", "train_bpd", "test_bpd", "world_size", "threads"}
        assert all(line.keys() == keys and line["world_size"] == 1 for line in lines)
        assert lines[-1]["lr"] == pytest.approx(1e-3 * 0.99999**2)


def test_evaluations_are_skipped_while_they_take_more_than_their_share_of_the_time(tmp_path):
    options = dict(steps=5, test_images=random_images(4, seed=2), eval_every=1, **quiet())
    train_part(small_model(), "pixelcnnpp", random_images(), run_dir=tmp_path / "all", **options)
    train_part(
        small_model(),
        "pixelcnnpp",
        random_images(),
        run_dir=tmp_path / "none",
        eval_share=0.0,
        **options,
    )
    tested = lambda run: [
        r["step"] for r in metrics(tmp_path / run, "pixelcnnpp") if "test_bpd" in r
    ]  # noqa: E731
    assert tested("all") == [1, 2, 3, 4, 5]
    assert tested("none") == [
        1,
        5,
    ]  # the first evaluation spends the share; the last one is always made
    state = json.loads((tmp_path / "none" / "pixelcnnpp" / "state.json").read_text())
    assert 0 < state["eval_seconds"] < state["seconds"]


def test_batches_cover_each_epoch_once():
    images = torch.arange(32, dtype=torch.uint8).view(32, 1, 1, 1).expand(32, 3, 8, 8)
    epoch = [
        training._batch(images, step, 4, 8, seed=0, flip=False)[:, 0, 0, 0] for step in range(4)
    ]
    assert sorted(torch.cat(epoch).tolist()) == list(range(32))
    again = training._batch(images, 2, 4, 8, seed=0, flip=True)
    assert torch.equal(again, training._batch(images, 2, 4, 8, seed=0, flip=True))
    assert not torch.equal(
        training._batch(images, 4, 4, 8, seed=0, flip=False)[:, 0, 0, 0], epoch[0]
    )


def test_budget_in_epochs_and_minutes(tmp_path):
    model = small_model()
    state = train_part(
        model, "pixelcnnpp", random_images(32), run_dir=tmp_path / "e", epochs=1.5, **quiet()
    )
    assert (
        state["step"] == 6 and state["epoch"] == 1 and state["position"] == 2
    )  # 4 batches of 8 per epoch
    state = train_part(
        model, "pixelcnnpp", random_images(32), run_dir=tmp_path / "m", minutes=0.001, **quiet()
    )
    assert state["step"] >= 1 and state["done"]


def test_a_schedule_gives_the_budget_and_cadence_at_once(tmp_path):
    schedule = loop.Schedule(steps=3, log_every=1, checkpoint_every=2)
    state = train_part(
        small_model(), "pixelcnnpp", random_images(), run_dir=tmp_path, schedule=schedule, **quiet()
    )
    assert state["step"] == 3 and [r["step"] for r in metrics(tmp_path, "pixelcnnpp")] == [1, 2, 3]
    assert loop.Schedule(epochs=1.5).limits(steps_per_epoch=4) == (6, None)
    assert loop.Schedule(minutes=0.5).limits(steps_per_epoch=4) == (None, 30.0)
    with pytest.raises(ConfigError, match="give the schedule or its fields .steps., not both"):
        train_part(
            small_model(),
            "pixelcnnpp",
            random_images(),
            run_dir=tmp_path / "b",
            schedule=schedule,
            steps=2,
            **quiet(),
        )


class SlowClock:
    """A clock that advances one second per reading."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


@pytest.mark.parametrize(
    "minutes", [0.05, 0.1]
)  # 3 and 6 clock readings: both parities of the step
def test_time_budget_ends_with_a_done_checkpoint_of_the_last_step(tmp_path, monkeypatch, minutes):
    """The step that exhausts a time budget is checkpointed as done, even when the clock
    passes the budget during that step's logging (once, that lost the last 200 steps)."""
    monkeypatch.setattr(loop, "time", SlowClock())
    state = train_part(
        small_model(),
        "pixelcnnpp",
        random_images(32),
        run_dir=tmp_path,
        minutes=minutes,
        test_images=random_images(8),
        eval_every=1,
        **quiet(),
    )
    saved = runs.read_state(tmp_path / "pixelcnnpp")
    assert (
        state["done"]
        and saved["done"]
        and saved["step"] == state["step"] == metrics(tmp_path, "pixelcnnpp")[-1]["step"]
    )
    assert saved["seconds"] >= minutes * 60


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"steps": 2, "epochs": 1}, ConfigError, "exactly one"),
        ({}, ConfigError, "exactly one"),
        ({"steps": 2, "part": "aux"}, ConfigError, "no part 'aux': its parts are pixelcnnpp"),
        ({"steps": 2, "images": random_images(4)}, DataError, "fewer than one batch of 8"),
        (
            {"steps": 2, "images": random_images(8, size=16)},
            ValueError,
            r"expects images shaped \[B, 3, 8, 8\]",
        ),
    ],
)
def test_bad_training_arguments(tmp_path, options, error, message):
    images, part = options.pop("images", random_images()), options.pop("part", "pixelcnnpp")
    with pytest.raises(error, match=message):
        train_part(small_model(), part, images, run_dir=tmp_path, **quiet(**options))


def test_run_directory_is_never_overwritten(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="not an auxpix run"):
        train_part(
            small_model(), "pixelcnnpp", random_images(), run_dir=tmp_path, steps=1, **quiet()
        )
    run = tmp_path / "run"
    train_part(small_model(), "pixelcnnpp", random_images(), run_dir=run, steps=1, **quiet())
    with pytest.raises(CheckpointError, match="already holds a checkpoint .step 1.; pass --resume"):
        train_part(small_model(), "pixelcnnpp", random_images(), run_dir=run, steps=2, **quiet())
    with pytest.raises(CheckpointError, match="trained with seed 0, not 5"):
        train_part(
            small_model(),
            "pixelcnnpp",
            random_images(),
            run_dir=run,
            steps=2,
            seed=5,
            resume=True,
            **quiet(),
        )


# --------------------------------------------------------------------------- exact resumption


def test_resume_reaches_the_uninterrupted_weights(tmp_path):
    """Grayscale (two parts, an embedding, flips on CIFAR-10) stopped after a checkpoint at step 3."""
    options = quiet(test_images=random_images(4, seed=2), eval_every=2, log_every=1)
    whole = small_model("grayscale")
    train(whole, random_images(), run_dir=tmp_path / "whole", steps=6, **options)
    stopped = small_model("grayscale")
    train(stopped, random_images(), run_dir=tmp_path / "stopped", steps=3, **options)
    resumed = small_model("grayscale")
    train(resumed, random_images(), run_dir=tmp_path / "stopped", steps=6, resume=True, **options)
    assert_same_weights(whole, resumed)
    assert_same_weights(
        load_run(tmp_path / "whole"), load_run(tmp_path / "stopped")
    )  # the averaged weights
    for part in ("aux", "cond"):
        losses = [
            [(r["step"], r["train_bpd"]) for r in metrics(tmp_path / run, part)]
            for run in ("whole", "stopped")
        ]
        assert losses[0] == losses[1]


def test_crash_while_saving_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    images, run = random_images(), tmp_path / "run"
    write = runs._write_file

    def crash_in_second_checkpoint(path, content):
        if path.name == "ema.safetensors" and path.parent.name.startswith("ckpt-00000004-"):
            raise OSError("disk full")
        write(path, content)

    monkeypatch.setattr(runs, "_write_file", crash_in_second_checkpoint)
    with pytest.raises(OSError, match="disk full"):
        train_part(
            small_model(),
            "pixelcnnpp",
            images,
            run_dir=run,
            steps=4,
            checkpoint_every=2,
            **quiet(log_every=1),
        )
    monkeypatch.setattr(runs, "_write_file", write)
    assert json.loads((run / "pixelcnnpp" / "state.json").read_text())["step"] == 2
    load_run(run)  # the step-2 checkpoint is intact
    resumed = small_model()
    train_part(
        resumed, "pixelcnnpp", images, run_dir=run, steps=4, resume=True, log_every=1, **quiet()
    )
    whole = small_model()
    train_part(whole, "pixelcnnpp", images, run_dir=tmp_path / "whole", steps=4, **quiet())
    assert_same_weights(whole, resumed)
    assert [r["step"] for r in metrics(run, "pixelcnnpp")] == [1, 2, 3, 4]
    assert (
        len([p for p in (run / "pixelcnnpp").iterdir() if p.is_dir()]) == 1
    )  # the broken folder is gone


KILLED_RUN = """
import sys
sys.path.insert(0, sys.argv[1])
from test_train import random_images, small_model
import torch
from auxpix.train import train_part
torch.set_num_threads(1)
train_part(small_model(), "pixelcnnpp", random_images(), run_dir=sys.argv[2], steps=1000,
           checkpoint_every=1, resume=True, progress=False)
"""


def _saved_step(state: Path) -> int:
    try:
        return json.loads(state.read_text())["step"]
    except FileNotFoundError:
        return 0


def test_kill_9_then_resume_reaches_the_uninterrupted_weights(tmp_path):
    run = tmp_path / "run"
    state = run / "pixelcnnpp" / "state.json"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(Path(__file__).parent), str(run)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while _saved_step(state) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)  # most likely in the middle of writing a checkpoint
    assert process.wait() == -signal.SIGKILL, process.stderr.read().decode()
    killed_at = _saved_step(state)
    assert 3 <= killed_at < 12
    resumed = small_model()
    train_part(
        resumed, "pixelcnnpp", random_images(), run_dir=run, steps=12, resume=True, **quiet()
    )
    whole = small_model()
    train_part(
        whole, "pixelcnnpp", random_images(), run_dir=tmp_path / "whole", steps=12, **quiet()
    )
    assert_same_weights(whole, resumed)


# --------------------------------------------------------------------------- loading


@pytest.fixture(scope="module")
def trained_run(one_thread, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("trained") / "run"
    train_part(
        small_model(),
        "pixelcnnpp",
        random_images(),
        run_dir=run,
        preset="smoke",
        steps=3,
        **quiet(),
    )
    return run


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


def checkpoint_file(run: Path, name: str) -> Path:
    state = json.loads((run / "pixelcnnpp" / "state.json").read_text())
    return run / "pixelcnnpp" / state["checkpoint"] / name


def test_load_run_gives_averaged_or_raw_weights(trained_run):
    model = small_model()
    train_part(
        model,
        "pixelcnnpp",
        random_images(),
        run_dir=trained_run.parent / "again",
        steps=3,
        **quiet(),
    )
    raw = load_run(trained_run, weights="raw")
    assert not raw.training and raw.config == model.config
    assert_same_weights(raw, model)
    ema = load_run(trained_run)
    assert any(
        not torch.equal(a, b) for a, b in zip(ema.state_dict().values(), raw.state_dict().values())
    )
    with pytest.raises(ValueError, match="weights must be one of ema, raw"):
        load_run(trained_run, weights="best")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda run: _truncate(checkpoint_file(run, "ema.safetensors")),
            r"ema\.safetensors is unreadable",
        ),
        (
            lambda run: (run / "pixelcnnpp" / "state.json").write_text("{garbage"),
            r"cannot read .*state\.json",
        ),
        (
            lambda run: (run / "pixelcnnpp" / "state.json").write_text("[1, 2]"),
            r"state\.json is corrupt",
        ),
        (lambda run: (run / "run.json").unlink(), r"not an auxpix run \(no run\.json\)"),
        (lambda run: (run / "run.json").write_text('{"kind": "vae"}'), r"run\.json is corrupt"),
        (
            lambda run: checkpoint_file(run, "ema.safetensors").unlink(),
            r"ema\.safetensors is missing",
        ),
        (
            lambda run: checkpoint_file(run, "ema.safetensors").write_bytes(
                checkpoint_file(run, "ema.safetensors")
                .read_bytes()
                .replace(b'"step":"3"', b'"step":"2"')
            ),
            "belongs to step 2, not to the step 3",
        ),
    ],
)
def test_damaged_checkpoints_are_refused(run_copy, damage, message):
    damage(run_copy)
    with pytest.raises(CheckpointError, match=message):
        load_run(run_copy)


@pytest.mark.parametrize("name", ["weights.safetensors", "optimizer.pt", "rng.safetensors"])
def test_resume_refuses_a_damaged_checkpoint(run_copy, name):
    _truncate(checkpoint_file(run_copy, name))
    with pytest.raises(
        CheckpointError, match=f"{name} is unreadable.*delete .*pixelcnnpp to train that part again"
    ):
        train_part(
            small_model(),
            "pixelcnnpp",
            random_images(),
            run_dir=run_copy,
            steps=4,
            resume=True,
            **quiet(),
        )


def test_foreign_runs_are_refused(trained_run):
    with pytest.raises(
        CheckpointError, match="holds a pixelcnnpp run .preset smoke., not a grayscale one"
    ):
        load_weights(small_model("grayscale"), trained_run)
    other = small_model(net={"nr_filters": 16})
    with pytest.raises(CheckpointError, match="another config .net.nr_filters: run 8, yours 16."):
        load_weights(other, trained_run)
    with pytest.raises(CheckpointError, match="another config"):
        train_part(
            other,
            "pixelcnnpp",
            random_images(),
            run_dir=trained_run,
            steps=4,
            resume=True,
            **quiet(),
        )


def test_a_part_without_checkpoint_cannot_be_loaded(tmp_path):
    train_part(
        small_model("grayscale"), "aux", random_images(), run_dir=tmp_path, steps=1, **quiet()
    )
    with pytest.raises(CheckpointError, match="no checkpoint of part 'cond' yet"):
        load_run(tmp_path)


# --------------------------------------------------------------------------- evaluation


def test_evaluate_grayscale_parts_add_up():
    model, images = small_model("grayscale"), random_images(10)
    result = evaluate(model, images, batch_size=4, progress=False)
    assert result["n_images"] == 10 and set(result["bpd"]) == {"aux", "cond", "total"}
    assert result["bpd"]["aux"] + result["bpd"]["cond"] == pytest.approx(result["bpd"]["total"])
    assert evaluate(model, images, batch_size=3, progress=False)["bpd"] == pytest.approx(
        result["bpd"]
    )
    assert evaluate_part(model, "cond", images) == pytest.approx(result["bpd"]["cond"])
    assert model.training  # evaluation leaves the mode as it was
    json.dumps(result)


def test_evaluate_pyramid_by_resolution():
    result = evaluate(small_model("pyramid"), random_images(6), progress=False)
    assert set(result["bpd"]) == {"4", "8", "total"} and set(result["bpd_by_resolution"]) == {
        "4",
        "8",
    }
    assert result["bpd_by_resolution"]["8"] == pytest.approx(result["bpd"]["total"])
    assert result["bpd_by_resolution"]["4"] == pytest.approx(result["bpd"]["4"])


def _layer_output_stats(
    model, part: str, images: torch.Tensor, *, training: bool = False
) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
    """(init_scale, per-channel mean, per-channel std) of every weight-normed layer's output
    (a transposed convolution's after its crop) in one pass over ``images`` (in training mode,
    dropout on, if ``training``)."""
    from auxpix.initialization import _hooked

    stats = []

    def record(layer):
        def hook(module, inputs, output):
            channels = output.transpose(0, 1).flatten(1)
            stats.append((layer.init_scale, channels.mean(1), channels.std(1, unbiased=False)))

        return hook

    net = model.parts[part].train(training)
    handles = [owner.register_forward_hook(record(layer)) for owner, layer in _hooked(net)]
    with torch.no_grad():
        model.part_bpd(part, images)
    for handle in handles:
        handle.remove()
    return stats


@pytest.mark.parametrize(
    "kind,part", [("pixelcnnpp", "pixelcnnpp"), ("grayscale", "cond"), ("pyramid", "8")]
)
def test_data_dependent_init_normalizes_every_layer_on_the_init_batch(kind, part):
    model, images = small_model(kind), random_images(16)
    before = _layer_output_stats(model, part, images)
    auxpix.data_dependent_init(model, part, images)
    after = _layer_output_stats(model, part, images)
    assert len(after) == len(before) > 10
    assert {scale for scale, _, _ in after} == {
        1.0,
        0.1,
    }  # the residual blocks' last convolutions start small
    for scale, mean, std in after:
        assert mean.abs().max() < 1e-4 * max(1.0, scale)
        assert torch.allclose(std, torch.full_like(std, scale), rtol=1e-3)
    assert any(
        not torch.allclose(std, torch.full_like(std, scale), rtol=0.1) for scale, _, std in before
    )


def test_fresh_parts_are_initialized_from_data_and_resumed_ones_are_not(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        training,
        "data_dependent_init",
        lambda model, part, images, dropout: calls.append((part, len(images), dropout)),
    )
    images = random_images()
    train_part(small_model(), "pixelcnnpp", images, run_dir=tmp_path, steps=1, **quiet())
    train_part(
        small_model(), "pixelcnnpp", images, run_dir=tmp_path, steps=2, resume=True, **quiet()
    )
    # once, on the first batch (the smoke preset's batch of 8), dropout off
    assert calls == [("pixelcnnpp", 8, False)]


def test_adam_uses_pixelcnn_plus_plus_betas_unless_set():
    assert auxpix.preset("pixelcnnpp", "paper").train.betas == (0.95, 0.9995)
    net = small_model().parts["pixelcnnpp"]
    assert training.adam(net, auxpix.preset("pixelcnnpp", "smoke").train).defaults["betas"] == (
        0.95,
        0.9995,
    )
    config = auxpix.preset("pixelcnnpp", "smoke", assignments=["train.betas=0.9,0.999"])
    assert config.train.betas == (0.9, 0.999)


def test_bf16_runs_the_network_in_bfloat16_and_the_likelihood_in_float32():
    model, x = (
        small_model().eval(),
        random_images(4),
    )  # no dropout: both passes see the same network
    part = model.parts["pixelcnnpp"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        params = part(x)
        loss = model.part_bpd("pixelcnnpp", x).mean()
    assert params.dtype == torch.bfloat16 and loss.dtype == torch.float32
    # the same network outputs (those of the bf16 run), scored in float32 outside autocast
    reference = -part.log_prob_from_params(x, params.float()).sum(dim=(1, 2)) / (
        3 * 64 * math.log(2)
    )
    assert loss.item() == pytest.approx(reference.mean().item(), abs=1e-5)
    assert abs(loss.item() - model.part_bpd("pixelcnnpp", x).mean().item()) > 1e-6  # bf16 did run


def test_bf16_training_steps_and_is_recorded(tmp_path):
    model = small_model(train={"precision": "bf16"})
    state = train_part(model, "pixelcnnpp", random_images(), run_dir=tmp_path, steps=2, **quiet())
    assert math.isfinite(state["metrics"]["train_bpd"])
    assert json.loads((tmp_path / "run.json").read_text())["config"]["train"]["precision"] == "bf16"


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_budgeted_schedules_warm_up_then_end_at_the_floor(schedule):
    cfg = auxpix.preset(
        "pixelcnnpp", "smoke", train={"lr_schedule": schedule, "warmup_steps": 4, "lr": 1e-3}
    ).train
    rates = [
        training.learning_rate(cfg, step, progress)
        for step, progress in [(0, 0.0), (3, 0.0), (10, 0.5), (99, 1.0)]
    ]
    assert rates[0] == pytest.approx(2.5e-4) and rates[1] == pytest.approx(
        1e-3
    )  # warm-up over 4 steps
    assert rates[2] == pytest.approx(
        1e-3 * (1 + 0.05) / 2
    )  # half way (linear and cosine agree there)
    assert rates[3] == pytest.approx(5e-5)  # the floor, 5 % of lr, at the end of the budget
    paper = auxpix.preset("grayscale", "paper").train  # the paper's decay, 0.99999 per step
    assert training.learning_rate(paper, 1000, 0.3) == pytest.approx(1e-3 * 0.99999**1000)


def test_a_step_budget_run_ends_its_linear_schedule_at_the_floor(tmp_path):
    model = small_model(train={"lr_schedule": "linear", "lr_floor": 0.1})
    train_part(
        model, "pixelcnnpp", random_images(), run_dir=tmp_path, steps=4, **quiet(log_every=1)
    )
    rates = [line["lr"] for line in metrics(tmp_path, "pixelcnnpp")]
    assert rates == pytest.approx([1e-3 * (1 - 0.9 * step / 4) for step in range(4)])


# --------------------------------------------------------------------------- fine-tuning and crops


def test_fine_tuning_starts_from_the_runs_averaged_weights_and_records_it(
    trained_run, tmp_path, monkeypatch
):
    monkeypatch.setattr(
        training, "data_dependent_init", lambda *args: pytest.fail("fine-tuning re-initialized")
    )
    started, bits_per_dim = {}, training._bits_per_dim

    def first_weights(loss, *batch):
        started.setdefault("weights", {k: v.clone() for k, v in loss.net.state_dict().items()})
        return bits_per_dim(loss, *batch)

    monkeypatch.setattr(training, "_bits_per_dim", first_weights)
    model = small_model(
        dataset="cifar10-lossless", train={"lr": 1e-4}
    )  # another data set and optimizer
    train_part(
        model,
        "pixelcnnpp",
        random_images(),
        run_dir=tmp_path / "tuned",
        steps=1,
        init_from=trained_run,
        **quiet(),
    )
    source = load_run(trained_run).parts["pixelcnnpp"].state_dict()
    assert all(torch.equal(started["weights"][name], source[name]) for name in source)
    assert json.loads((tmp_path / "tuned" / runs.RUN_FILE).read_text())["init_from"] == str(
        trained_run
    )


@pytest.mark.parametrize(
    "kind, overrides, message",
    [
        (
            "grayscale",
            {},
            "holds a pixelcnnpp run; a grayscale model can start only from a grayscale run",
        ),
        ("pixelcnnpp", {"net": {"nr_filters": 4}}, "has other networks than this model's"),
    ],
)
def test_fine_tuning_refuses_a_run_of_other_networks(
    trained_run, tmp_path, kind, overrides, message
):
    model = small_model(kind, **overrides)
    with pytest.raises(CheckpointError, match=message):
        train_part(
            model,
            list(model.parts)[-1],
            random_images(),
            run_dir=tmp_path,
            steps=1,
            init_from=trained_run,
            **quiet(),
        )


def test_pyramid_crops_keep_the_half_resolution_view_aligned():
    model = auxpix.build("pyramid", preset="smoke", resolutions=(4, 8, 16), crop=8)
    images = random_images(4, size=16)
    whole_target, whole_aux = model.part_inputs("16", images)
    offsets = set()
    for seed in range(20):
        view = model.training_view("16", images, torch.Generator().manual_seed(seed))
        target, aux = model.part_inputs("16", view)
        assert target.shape[-1] == 8 and aux.shape[-1] == 4
        top, left = next(
            (i, j)
            for i in range(0, 9, 2)
            for j in range(0, 9, 2)
            if torch.equal(whole_target[..., i : i + 8, j : j + 8], target)
        )
        assert torch.equal(aux, whole_aux[..., top // 2 : top // 2 + 4, left // 2 : left // 2 + 4])
        offsets.add((top, left))
    assert len(offsets) > 5  # random offsets
    assert (
        model.training_view("8", images, torch.Generator()) is images
    )  # levels at or below the crop: whole
    with pytest.raises(ConfigError, match="crop must be an even size below 16"):
        auxpix.build("pyramid", preset="smoke", resolutions=(4, 8, 16), crop=7)


def test_a_cropped_pyramid_level_trains(tmp_path):
    model = auxpix.build("pyramid", preset="smoke", resolutions=(4, 8, 16), crop=8)
    state = train_part(
        model, "16", random_images(16, size=16), run_dir=tmp_path, steps=2, **quiet()
    )
    assert state["done"] and math.isfinite(state["metrics"]["train_bpd"])


def test_input_noise_reaches_the_network_not_the_pixels_it_scores():
    model = auxpix.build(
        "pyramid", preset="smoke", resolutions=(4, 8, 16), crop=8, input_noise=(0.0, 0.05)
    ).eval()
    images = random_images(2, size=16)
    assert model.training_noise("8", images, torch.Generator()) is None  # std 0 at 8x8
    noise = model.training_noise("16", images, torch.Generator().manual_seed(0))
    assert noise.shape == (2, 3, 16, 16) and 0.04 < noise.std() < 0.06
    crop = model.training_view("16", images, torch.Generator())
    assert model.training_noise("16", crop, torch.Generator()).shape == (2, 3, 8, 8)
    target, aux = model.part_inputs("16", images)
    part = model.parts["16"]
    with torch.no_grad():
        noisy = model.part_bpd("16", images, input_noise=noise)
        inputs = part.embed(aux), to_unit(target, 256) + noise
        expected = part.log_prob_from_params(target, part.network(inputs[1], inputs[0]))
        assert torch.allclose(noisy, -expected.sum((1, 2)) / (3 * 16 * 16 * math.log(2)))
        assert not torch.allclose(noisy, model.part_bpd("16", images))
    with pytest.raises(ConfigError, match="input_noise must give a std >= 0 for each of the 2"):
        auxpix.build("pyramid", preset="smoke", resolutions=(4, 8, 16), input_noise=(0.1,))


def test_a_noisy_level_trains_on_the_same_noise_when_resumed(tmp_path):
    model = auxpix.build("pyramid", preset="smoke", resolutions=(4, 8, 16), input_noise=(0, 0.05))
    trainees = [
        training.PartTrainee(model, "16", random_images(16, size=16), device=torch.device("cpu"))
        for _ in range(2)
    ]
    (images, noise), (again, same) = (trainee.batch(3) for trainee in trainees)
    assert torch.equal(images, again) and torch.equal(noise, same)
    assert not torch.equal(noise, trainees[0].batch(4)[1])
    assert (
        trainees[0].batch(3)[1] is not None
        and training.PartTrainee(
            model, "8", random_images(16, size=16), device=torch.device("cpu")
        ).batch(3)[1]
        is None
    )
    state = train_part(
        model, "16", random_images(16, size=16), run_dir=tmp_path, steps=2, **quiet()
    )
    assert state["done"] and math.isfinite(state["metrics"]["train_bpd"])


def test_the_cpu_celeba_pyramid_trains_its_levels_on_noisy_inputs():
    """Chapter 03's diagnosis: without, their free-running samples leave X̂."""
    config = auxpix.preset("pyramid", "cpu")
    assert dict(zip(config.resolutions[1:], config.input_noise)) == {
        16: 0.04,
        32: 0.04,
        64: 0.04,
        128: 0.08,
    }
    assert auxpix.preset("pyramid", "paper").input_noise == ()  # the paper's recipe has none


@pytest.mark.parametrize("kind", ["grayscale", "pyramid"])
def test_a_part_alone_scores_what_the_whole_model_gives_that_part(kind):
    model = small_model(kind).eval()
    images = random_images(2, size=model.image_size)
    with torch.no_grad():
        whole = model.bpd(images)
        for part in model.parts:
            assert torch.allclose(model.part_bpd(part, images), whole[part])


def test_a_crop_is_scored_per_dimension_of_the_crop():
    """A crop-trained level's training loss is in the same bits/dim as its whole-image test score."""
    model = auxpix.build("pyramid", preset="smoke", resolutions=(4, 8, 16), crop=8).eval()
    crop = random_images(2, size=16)[..., 4:12, 6:14]
    with torch.no_grad():
        nats = -model.parts["16"].log_prob(*model.part_inputs("16", crop))
        assert torch.allclose(model.part_bpd("16", crop), nats / (3 * 8 * 8 * math.log(2)))
        uniform = model.part_bpd("16", random_images(2, size=16)).mean()
        assert (
            0.5 * uniform < model.part_bpd("16", crop).mean() < 2 * uniform
        )  # not 4x smaller: the crop's own dims


def test_aux_ablation_scores_a_part_given_its_own_another_and_a_flat_x_hat():
    from auxpix.evaluate import aux_ablation

    model = small_model("grayscale").eval()
    images = random_images(6)
    scores = aux_ablation(model, "cond", images)
    assert scores["own"] == pytest.approx(evaluate_part(model, "cond", images))
    assert len(set(scores.values())) == 3  # the part reads X̂
    with pytest.raises(ValueError, match="part 'aux' of the grayscale model is unconditional"):
        aux_ablation(model, "aux", images)
