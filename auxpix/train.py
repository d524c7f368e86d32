"""Training, one part of a model at a time (paper, eq. 4: the parts share no parameters).

The paper's recipe (section 4): Adam, the learning rate multiplied by ``lr_decay`` after
every step, dropout (inside the model), random horizontal flips on CIFAR-10, and Polyak
averaged weights for evaluation; as in openai/pixel-cnn, a fresh part starts with the
data-dependent initialization (:func:`auxpix.data_dependent_init`) on an init batch (the
config's ``TrainConfig`` says which, whether dropout is on, and how the average starts). The
loss is bits per dimension, as in PixelCNN++
(:meth:`~auxpix.models.AuxiliaryVariableModel.part_bpd`). A part trains through
:class:`auxpix.loop.TrainLoop` as a :class:`PartTrainee`; what a run writes, and how it
survives a crash, is :mod:`auxpix.runs`; how it resumes exactly, :mod:`auxpix.loop`.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import data, distributed, runs
from .device import resolve_device
from .errors import ConfigError, DataError
from .evaluate import evaluate_part
from .initialization import data_dependent_init
from .loop import Schedule, TrainLoop, batch_indices, descend, generator
from .models import AuxiliaryVariableModel

FLIPPED_DATASETS = (
    "cifar10",
    "cifar10-lossless",
)  # the paper flips CIFAR-10, not the aligned faces


def train(
    model: AuxiliaryVariableModel,
    train_images: torch.Tensor,
    *,
    run_dir,
    parts=None,
    seed: int = 0,
    resume: bool = False,
    **options,
) -> dict:
    """Train ``parts`` (default: all) one after another, each with the same budget.

    ``options`` are those of :func:`train_part`. Returns {part: its final state}.
    """
    parts = list(model.parts) if parts is None else list(parts)
    runs.check_run(run_dir, model, parts, seed=seed, resume=resume)
    return {
        name: train_part(
            model, name, train_images, run_dir=run_dir, seed=seed, resume=resume, **options
        )
        for name in parts
    }


def train_part(
    model: AuxiliaryVariableModel,
    part: str,
    train_images: torch.Tensor,
    *,
    run_dir,
    schedule: Schedule | None = None,
    test_images: torch.Tensor | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    resume: bool = False,
    compile: bool = False,
    init_from=None,
    preset: str | None = None,
    progress: bool = True,
    **budget,
) -> dict:
    """Train part ``part`` of ``model`` on ``train_images`` (uint8 [N, 3, H, W]) into ``run_dir``.

    The budget and cadence are a :class:`~auxpix.loop.Schedule`, given as ``schedule`` or as its
    fields (``steps=``, ``epochs=`` or ``minutes=``; ``eval_every=``, ``eval_share=``,
    ``checkpoint_every=``, ``log_every=``). ``test_images`` (a small fixed subset keeps it
    cheap) are scored with the averaged weights when an evaluation falls due and at the end.
    ``resume`` continues from the part's checkpoint (without ``resume`` an existing checkpoint
    of this part is an error, never overwritten). ``compile``: run the part through
    ``torch.compile``. ``init_from``: a run whose averaged weights of this part a fresh part
    starts from (fine-tuning), instead of a data-dependent initialization; the run records it.
    A pyramid whose config sets ``crop`` trains its levels above that resolution on aligned
    random crops (:meth:`~auxpix.models.PyramidPixelCNN.training_view`). Under torchrun every
    process calls this alike (:mod:`auxpix.distributed`); only rank 0 writes. Returns the
    final state.
    """
    schedule = _schedule(schedule, budget)
    runs.check_run(run_dir, model, [part], seed=seed, resume=resume)
    distributed.barrier()  # every process has checked the run directory before rank 0 writes to it
    model.check_images(train_images)
    device = resolve_device(device)
    trainee = PartTrainee(
        model,
        part,
        train_images,
        test_images=test_images,
        device=device,
        seed=seed,
        compile=compile,
        init_from=init_from,
    )
    run_dir = Path(run_dir)
    if distributed.is_main():
        runs.open_run(run_dir, model, preset, init_from=init_from)
    loop = TrainLoop(trainee, schedule, run_dir / part, seed=seed, device=device, progress=progress)
    state = loop.run()
    distributed.barrier()  # the next part (or the caller) reads what rank 0 wrote
    return state


def _schedule(schedule: Schedule | None, budget: dict) -> Schedule:
    if schedule is None:
        return Schedule(**budget)
    if budget:
        raise ConfigError(f"give the schedule or its fields ({', '.join(budget)}), not both")
    return schedule


class PartTrainee:
    """One part of a model as :class:`~auxpix.loop.TrainLoop` trains it (a
    :class:`~auxpix.loop.Trainee`): bits/dim on batches flipped at random (CIFAR-10) and, for a
    cropped pyramid level, cropped; Adam under the config's learning rate; Polyak-averaged
    weights; the bits/dim of ``test_images`` as its evaluation."""

    def __init__(
        self,
        model: AuxiliaryVariableModel,
        part: str,
        images: torch.Tensor,
        *,
        test_images: torch.Tensor | None = None,
        device: torch.device,
        seed: int = 0,
        compile: bool = False,
        init_from=None,
    ):
        self.cfg = cfg = model.config.train
        self.steps_per_epoch = len(images) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise DataError(
                f"{len(images)} training images are fewer than one batch of {cfg.batch_size}"
            )
        self.model, self.part, self.images, self.test_images = model, part, images, test_images
        self.device, self.seed, self.compile, self.init_from = device, seed, compile, init_from
        self.name = f"{model.kind} {part}"
        self.net = model.to(device).parts[part]
        self.optimizer = adam(self.net, cfg)
        self.precision = cfg.precision
        self.ema_decay, self.ema_warmup = cfg.ema_decay, cfg.ema_warmup
        self.evaluates = test_images is not None
        self.flip = cfg.flip and model.config.dataset in FLIPPED_DATASETS

    def initialize(self) -> None:
        """A data-dependent initialization on the config's init batch, or ``init_from``'s
        weights."""
        if self.init_from is None:
            data_dependent_init(
                self.model, self.part, self._init_images(), dropout=self.cfg.init_dropout
            )
        else:
            runs.load_part(self.net, self.init_from, self.part, kind=self.model.kind)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the images of ``step``, the noise its network's inputs get or None): pure
        functions of the seed and the step, so a resumed run sees the same batches."""
        view = self.model.training_view(
            self.part, self._images_of(step), generator(self.seed, "crop", step)
        )
        noise = self.model.training_noise(self.part, view, generator(self.seed, "noise", step))
        if noise is not None:
            noise = distributed.local_slice(noise).to(self.device)
        return distributed.local_slice(view).to(self.device), noise

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor | None]):
        return _bits_per_dim(self._loss, *batch)

    def learning_rate(self, step: int, progress: float) -> float:
        return learning_rate(self.cfg, step, progress)

    def evaluate(self) -> dict[str, float]:
        return {"test_bpd": evaluate_part(self.model, self.part, self.test_images)}

    @functools.cached_property
    def _loss(self) -> nn.Module:
        """Built at the first step: after the initialization or the checkpoint's weights."""
        return part_loss(self.model, self.part, self.device, compile=self.compile)

    def _init_images(self) -> torch.Tensor:
        """``init_batch_size`` training images drawn for the initialization alone, or (0) the
        first training batch."""
        if self.cfg.init_batch_size == 0:
            return self._images_of(0)
        order = torch.randperm(len(self.images), generator=generator(self.seed, "init"))
        return self.images[order[: self.cfg.init_batch_size]]

    def _images_of(self, step: int) -> torch.Tensor:
        return _batch(
            self.images, step, self.steps_per_epoch, self.cfg.batch_size, self.seed, self.flip
        )


def adam(net: torch.nn.Module, cfg) -> torch.optim.Adam:
    """The optimizer of a part: Adam with the config's learning rate and betas (a TrainConfig)."""
    return torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=cfg.betas)


def learning_rate(cfg, step: int, progress: float) -> float:
    """The learning rate of ``step`` under the config's schedule (a TrainConfig); ``progress``
    is the share of the budget spent (steps or seconds), which the budgeted schedules end at."""
    if cfg.lr_schedule == "exponential":
        return cfg.lr * cfg.lr_decay**step
    warmup = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    progress = min(max(progress, 0.0), 1.0)
    fall = progress if cfg.lr_schedule == "linear" else (1 - math.cos(math.pi * progress)) / 2
    return cfg.lr * warmup * (1 - (1 - cfg.lr_floor) * fall)


class PartLoss(nn.Module):
    """The training loss of one part, mean bits/dim over a batch, as a module that holds that
    part's parameters alone: what DistributedDataParallel and torch.compile wrap."""

    def __init__(self, model: AuxiliaryVariableModel, part: str):
        super().__init__()
        self.net = model.parts[part]
        self.bpd = functools.partial(model.part_bpd, part)  # runs self.net

    def forward(self, batch: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.bpd(batch, input_noise=noise).mean()


def part_loss(
    model: AuxiliaryVariableModel, part: str, device: torch.device, *, compile: bool = False
) -> nn.Module:
    """:class:`PartLoss` of ``part``, under DistributedDataParallel when several processes train."""
    loss = PartLoss(model, part)
    if distributed.world_size() > 1:
        loss = DistributedDataParallel(loss, device_ids=[device] if device.type == "cuda" else None)
    return torch.compile(loss) if compile else loss


def train_step(
    loss: nn.Module, batch: torch.Tensor, optimizer, precision: str = "fp32"
) -> torch.Tensor:
    """One optimizer step on ``loss(batch)`` (a :func:`part_loss`); returns that loss (detached).
    With ``precision="bf16"`` the networks run under bfloat16 autocast; the likelihood stays
    float32."""
    metrics = descend(lambda: _bits_per_dim(loss, batch), optimizer, batch.device, precision)
    return metrics["train_bpd"]


def _bits_per_dim(loss: nn.Module, batch: torch.Tensor, noise: torch.Tensor | None = None):
    """(the loss of ``batch`` in training mode, its network's inputs plus ``noise`` if any,
    {"train_bpd": it, detached})."""
    loss.train()
    value = loss(batch, noise)
    return value, {"train_bpd": value.detach()}


def _batch(
    images: torch.Tensor, step: int, steps_per_epoch: int, batch_size: int, seed: int, flip: bool
):
    """The batch of ``step`` (:func:`~auxpix.loop.batch_indices`), randomly mirrored if
    ``flip``; a pure function of its arguments."""
    batch = images[batch_indices(len(images), step, steps_per_epoch, batch_size, seed)]
    return data.random_flip(batch, generator(seed, "flip", step)) if flip else batch
