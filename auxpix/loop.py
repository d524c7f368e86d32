"""The one training loop of auxpix (after improved-diffusion's ``TrainLoop``): a model's parts
(:mod:`auxpix.train`) and the quality classifier (:mod:`auxpix.classifier`) both train here.

What is trained is a :class:`Trainee` (its network, optimizer, batches, loss, learning rate and
evaluation); how long, and how often it is evaluated, logged and checkpointed, is a
:class:`Schedule`. The loop writes what :mod:`auxpix.runs` describes into one folder: the
crash-safe checkpoints (safetensors, committed by an atomic state.json), and metrics.jsonl.

Exact resumption (on CPU, with the same seed): the batches are pure functions of (seed, step)
(:func:`generator`), the learning rate a function of the step, and the optimizer, the averaged
weights and the global RNG (dropout) are saved, so a resumed run reaches the same weights as
an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from . import distributed, runs
from .errors import ConfigError
from .progress import progress_bar


@dataclass(frozen=True)
class Schedule:
    """How long the loop trains, and how often it evaluates, logs and checkpoints.

    The budget is ``steps``, ``epochs`` or wall-clock ``minutes`` (exactly one), counted over the
    whole training: a resumed run goes on until the budget is reached. An evaluation falls due
    every ``eval_every`` steps (and at the end) only while the evaluations so far took at most
    ``eval_share`` of the time (at 0.1, a level whose test images cost more than its steps still
    spends 90 % of its budget training). Metrics are logged every ``log_every`` steps, a
    checkpoint is saved every ``checkpoint_every`` steps, both also at the end."""

    steps: int | None = None
    epochs: float | None = None
    minutes: float | None = None
    eval_every: int = 1000
    eval_share: float = 1.0
    checkpoint_every: int = 250
    log_every: int = 10

    def __post_init__(self):
        budgets = [value for value in (self.steps, self.epochs, self.minutes) if value]
        if len(budgets) != 1 or budgets[0] < 0:
            raise ConfigError("give exactly one positive training budget: steps, epochs or minutes")

    def limits(self, steps_per_epoch: int) -> tuple[int | None, float | None]:
        """(step limit, seconds limit), one of them None; epochs are counted in whole steps."""
        if self.minutes:
            return None, self.minutes * 60.0
        return (self.steps or math.ceil(self.epochs * steps_per_epoch)), None


class Trainee(Protocol):
    """What the loop trains: a part of a model (:class:`auxpix.train.PartTrainee`) or the
    quality classifier (:class:`auxpix.classifier.ClassifierTrainee`)."""

    name: str  # the progress bar's label
    net: nn.Module  # the weights trained and checkpointed
    optimizer: torch.optim.Optimizer
    steps_per_epoch: int
    precision: str  # "fp32", or "bf16": the loss computed under bfloat16 autocast
    ema_decay: float | None  # the decay of the averaged weights (:class:`EMA`); None: none kept
    ema_warmup: bool  # whether that decay ramps up over the first steps (:class:`EMA`)
    evaluates: bool  # whether :meth:`evaluate` has anything to score

    def initialize(self) -> None:
        """Prepare a fresh start (never a resumed one), after the global RNG is seeded."""

    def batch(self, step: int):
        """This process's batch of ``step``, on the device: a pure function of (seed, step)."""

    def loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of ``batch`` in training mode, and the metrics to log (detached scalars,
        averaged over the steps between two records), e.g. {"train_bpd": ...}."""

    def learning_rate(self, step: int, progress: float) -> float:
        """The learning rate of ``step``; ``progress``: the share of the budget spent."""

    def evaluate(self) -> dict[str, float]:
        """Scores to log (under the averaged weights, when there are), e.g. {"test_bpd": ...}."""


class TrainLoop:
    """Train ``trainee`` under ``schedule`` into ``part_dir``: :meth:`run` repeats :meth:`step`,
    :meth:`maybe_evaluate`, :meth:`log` and :meth:`checkpoint` until the budget is spent.
    A folder that holds a checkpoint is resumed from it. Under torchrun every process runs the
    loop alike (:mod:`auxpix.distributed`); only rank 0 writes."""

    def __init__(
        self,
        trainee: Trainee,
        schedule: Schedule,
        part_dir,
        *,
        seed: int,
        device: torch.device,
        progress: bool = True,
    ):
        self.trainee, self.schedule, self.part_dir = trainee, schedule, Path(part_dir)
        self.seed, self.device, self.progress = seed, device, progress
        self.max_steps, self.max_seconds = schedule.limits(trainee.steps_per_epoch)
        self.main = distributed.is_main()
        self.state, self.averaged = self._start()
        self.step_count = self.state["step"]
        self.started = time.monotonic() - self.state["seconds"]
        self.eval_seconds = self.state.get("eval_seconds", 0.0)
        self.window: list[dict[str, torch.Tensor]] = []
        # Decided once per step, so that the step that reaches the budget is always logged and
        # checkpointed as done (re-reading the clock after it would skip that when the final
        # evaluation crosses a time budget). A run that was done under a smaller budget goes on.
        self.done = self._reached(self.state["seconds"])

    def _start(self) -> tuple[dict, EMA | None]:
        """(state, averaged weights): fresh ones, or those of the folder's checkpoint."""
        trainee = self.trainee
        state = runs.read_state(self.part_dir)
        if state is None:  # dropout seeded per process
            torch.manual_seed(self.seed + distributed.rank())
            trainee.initialize()
        averaged = (
            None
            if trainee.ema_decay is None
            else EMA(trainee.net, trainee.ema_decay, warmup=trainee.ema_warmup)
        )
        if state is None:
            return runs.new_state(self.part_dir, self.seed), averaged
        rng = runs.load_checkpoint(
            self.part_dir,
            state,
            net=trainee.net,
            averaged=averaged,
            optimizer=trainee.optimizer,
            device=self.device,
        )
        distributed.restore_rng(rng, self.device, self.seed, state["step"])
        return state, averaged

    def run(self) -> dict:
        """Train until the budget is spent; returns the final state (what state.json holds)."""
        self.bar = progress_bar(
            total=self.max_steps,
            initial=self.step_count,
            desc=self.trainee.name,
            unit="step",
            show=self.progress and self.main,
        )
        metrics = self.part_dir / runs.METRICS_FILE
        with (
            self.bar,
            runs.metrics_log(metrics, after_step=self.step_count, write=self.main) as log,
        ):
            self.write = log
            while not self.done:
                self.step()
                seconds = time.monotonic() - self.started
                self.done = self._reached(seconds)
                scores = self.maybe_evaluate(seconds)
                if (
                    scores is not None
                    or self.done
                    or self.step_count % self.schedule.log_every == 0
                ):
                    self.log(seconds, scores or {})
                if self.done or self.step_count % self.schedule.checkpoint_every == 0:
                    self.checkpoint(seconds)
        return self.state

    def step(self) -> None:
        """One optimizer step on the batch of the current step; the averaged weights follow."""
        trainee, step = self.trainee, self.step_count
        batch = trainee.batch(step)
        lr = trainee.learning_rate(step, self._progress(time.monotonic() - self.started))
        for group in trainee.optimizer.param_groups:
            group["lr"] = lr
        metrics = descend(
            lambda: trainee.loss(batch), trainee.optimizer, self.device, trainee.precision
        )
        self.window.append(metrics)
        self.step_count += 1
        if self.averaged is not None:
            self.averaged.update(trainee.net, self.step_count)
        self.bar.update()

    def maybe_evaluate(self, seconds: float) -> dict[str, float] | None:
        """The trainee's scores, under the averaged weights, if an evaluation is due (always at
        the end), else None."""
        schedule = self.schedule
        due = self.trainee.evaluates and (
            self.done
            or self.step_count % schedule.eval_every == 0
            and distributed.any_process(
                self.eval_seconds <= schedule.eval_share * seconds, self.device
            )
        )
        if not due:
            return None
        started = time.monotonic()
        with self._averaged_weights():
            scores = self.trainee.evaluate()
        self.eval_seconds += time.monotonic() - started
        return scores

    def log(self, seconds: float, scores: dict[str, float]) -> None:
        """Append one record to metrics.jsonl: the training metrics averaged over the steps since
        the last record (and over the processes), and ``scores``."""
        world = distributed.world_size()
        train = {
            name: distributed.total(
                torch.stack([m[name] for m in self.window]).mean().item(), self.device
            )
            / world
            for name in self.window[-1]
        }
        record = {
            "step": self.step_count,
            "epoch": self.step_count / self.trainee.steps_per_epoch,
            "seconds": round(seconds, 3),
            "lr": self.trainee.optimizer.param_groups[0]["lr"],
            **train,
            "world_size": world,
            "threads": torch.get_num_threads(),
            **scores,
        }
        self.write(record)
        shown = {k: f"{v:.3f}" for k, v in record.items() if k.startswith(("train_", "test_"))}
        self.bar.set_postfix(shown)
        self.window, self.state["metrics"] = [], record

    def checkpoint(self, seconds: float) -> None:
        """Save this step's checkpoint, committed by replacing state.json (rank 0 writes)."""
        epoch, position = divmod(self.step_count, self.trainee.steps_per_epoch)
        self.state.update(
            step=self.step_count,
            epoch=epoch,
            position=position,
            seconds=round(seconds, 3),
            done=self.done,
            eval_seconds=round(self.eval_seconds, 3),
        )
        rng = distributed.rng_snapshot(self.device)  # every process takes part in the gathering
        if self.main:
            runs.save_checkpoint(
                self.part_dir,
                self.state,
                net=self.trainee.net,
                averaged=None if self.averaged is None else self.averaged.shadow,
                optimizer=self.trainee.optimizer,
                rng=rng,
            )

    def _reached(self, seconds: float) -> bool:
        if self.max_steps is not None:
            spent = self.step_count >= self.max_steps
        else:
            spent = seconds >= self.max_seconds
        return distributed.any_process(
            spent, self.device
        )  # one decision, or the processes part ways

    def _progress(self, seconds: float) -> float:
        if self.max_steps is not None:
            return self.step_count / self.max_steps
        return seconds / self.max_seconds

    def _averaged_weights(self):
        if self.averaged is None:
            return contextlib.nullcontext()
        return self.averaged.applied(self.trainee.net)


def descend(objective, optimizer, device: torch.device, precision: str = "fp32") -> dict:
    """One optimizer step on the loss of ``objective()``, which returns (loss, metrics); returns
    the metrics. With ``precision="bf16"`` the objective runs under bfloat16 autocast."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss, metrics = objective()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return metrics


def generator(seed: int, *keys) -> torch.Generator:
    """A CPU generator seeded by (seed, *keys): independent streams with nothing to save."""
    digest = hashlib.sha256(repr((seed, *keys)).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


def batch_indices(count: int, step: int, steps_per_epoch: int, batch_size: int, seed: int):
    """The indices (of ``count`` examples) in the batch of ``step``: a fresh permutation each
    epoch, the incomplete last batch dropped; a pure function of its arguments."""
    epoch, position = divmod(step, steps_per_epoch)
    order = torch.randperm(count, generator=generator(seed, "order", epoch))
    return order[position * batch_size : (position + 1) * batch_size]


class EMA:
    """Polyak (exponential moving) average of a module's weights, used for evaluation.

    The decay is constant (openai/pixel-cnn's), or with ``warmup`` ramps up as
    min(decay, (1 + step) / (10 + step)), as TensorFlow's ExponentialMovingAverage with
    ``num_updates`` does, so the average forgets the initial weights within tens of steps.
    """

    def __init__(self, module: torch.nn.Module, decay: float, *, warmup: bool = True):
        self.decay, self.warmup = decay, warmup
        self.shadow = {name: value.detach().clone() for name, value in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay
        current = module.state_dict()
        torch._foreach_lerp_(
            [self.shadow[name] for name in current], list(current.values()), 1.0 - decay
        )

    @torch.no_grad()
    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        """Take saved averages (same names and shapes as the module's weights)."""
        if tensors.keys() != self.shadow.keys():
            raise ValueError(
                f"expected the tensors {sorted(self.shadow)[:3]}..., got {sorted(tensors)[:3]}..."
            )
        for name, value in self.shadow.items():
            value.copy_(tensors[name])

    @contextmanager
    def applied(self, module: torch.nn.Module):
        """Give ``module`` the averaged weights inside the block, its own ones after."""
        own = {name: value.clone() for name, value in module.state_dict().items()}
        module.load_state_dict(self.shadow)
        try:
            yield
        finally:
            module.load_state_dict(own)
