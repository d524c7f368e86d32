"""Training, one part of a model at a time (paper, eq. 4: the parts share no parameters).

The paper's recipe (section 4): Adam, the learning rate multiplied by ``lr_decay`` after
every step, dropout (inside the model), random horizontal flips on CIFAR-10, and Polyak
averaged weights for evaluation; as in openai/pixel-cnn, a fresh part starts with the
data-dependent initialization (:func:`auxpix.data_dependent_init`) on its first batch. The loss is bits per dimension, as in PixelCNN++
(:meth:`~auxpix.models.AuxiliaryVariableModel.part_bpd`). What a run writes, and how it
survives a crash, is :mod:`auxpix.runs`.

Exact resumption (on CPU, with the same seed): the data order and the flips are pure
functions of (seed, step), the learning rate a function of the step, and the optimizer,
the averaged weights and the global RNG (dropout) are saved, so a resumed run reaches
the same weights as an uninterrupted one.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import data, distributed, runs
from .device import resolve_device
from .errors import ConfigError, DataError
from .evaluate import evaluate_part
from .initialization import data_dependent_init
from .models import AuxiliaryVariableModel
from .progress import progress_bar

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
    preset: str | None = None,
    steps: int | None = None,
    epochs: float | None = None,
    minutes: float | None = None,
    test_images: torch.Tensor | None = None,
    eval_every: int = 1000,
    eval_share: float = 1.0,
    checkpoint_every: int = 250,
    log_every: int = 10,
    device: str | torch.device = "cpu",
    seed: int = 0,
    resume: bool = False,
    compile: bool = False,
    init_from=None,
    progress: bool = True,
) -> dict:
    """Train part ``part`` of ``model`` on ``train_images`` (uint8 [N, 3, H, W]) into ``run_dir``.

    The budget is ``steps``, ``epochs`` or wall-clock ``minutes`` (exactly one), counted
    over the part's whole training: resuming continues until the budget is reached.
    ``test_images`` (a small fixed subset keeps it cheap) are scored with the averaged
    weights every ``eval_every`` steps and at the end; an evaluation falls due only while the
    evaluations so far took at most ``eval_share`` of the part's time (at 0.1, a level whose
    test images cost more than its steps still spends 90 % of its budget training). A
    checkpoint is saved every ``checkpoint_every`` steps and at the end; ``resume`` continues from it (without
    ``resume`` an existing checkpoint of this part is an error, never overwritten).
    ``compile``: run the part through ``torch.compile``. ``init_from``: a run whose averaged
    weights of this part a fresh part starts from (fine-tuning), instead of a data-dependent
    initialization; the run records it. A pyramid whose config sets ``crop`` trains its levels
    above that resolution on aligned random crops (:meth:`~auxpix.models.PyramidPixelCNN.training_view`).
    Under torchrun every process calls
    this alike (:mod:`auxpix.distributed`); only rank 0 writes. Returns the final state.
    """
    runs.check_run(run_dir, model, [part], seed=seed, resume=resume)
    distributed.barrier()  # every process has checked the run directory before rank 0 writes to it
    model.check_images(train_images)
    cfg = model.config.train
    steps_per_epoch = len(train_images) // cfg.batch_size
    if steps_per_epoch == 0:
        raise DataError(
            f"{len(train_images)} training images are fewer than one batch of {cfg.batch_size}"
        )
    max_steps, max_seconds = _budget(steps, epochs, minutes, steps_per_epoch)
    run_dir, device = Path(run_dir), resolve_device(device)
    if distributed.is_main():
        runs.open_run(run_dir, model, preset, init_from=init_from)
    part_dir = run_dir / part
    net = model.to(device).parts[part]
    optimizer = adam(net, cfg)
    flip = model.config.dataset in FLIPPED_DATASETS
    state = runs.read_state(part_dir)
    if (
        state is None
    ):  # a fresh part: dropout seeded per process, weights initialized on the first batch
        torch.manual_seed(seed + distributed.rank())
        if init_from is None:
            data_dependent_init(
                model, part, _batch(train_images, 0, steps_per_epoch, cfg.batch_size, seed, flip)
            )
        else:
            runs.load_part(net, init_from, part, kind=model.kind)
    ema = EMA(net, cfg.ema_decay)
    if state is None:
        state = runs.new_state(part_dir, seed)
    else:
        rng = runs.load_checkpoint(
            part_dir, state, net=net, averaged=ema, optimizer=optimizer, device=device
        )
        distributed.restore_rng(rng, device, seed, state["step"])
    loss = part_loss(model, part, device, compile=compile)

    def reached(step: int, seconds: float) -> bool:
        spent = step >= max_steps if max_steps is not None else seconds >= max_seconds
        return distributed.any_process(
            spent, device
        )  # one decision, or the processes would part ways

    def progress_at(step: int, seconds: float) -> float:
        return step / max_steps if max_steps is not None else seconds / max_seconds

    step, started = state["step"], time.monotonic() - state["seconds"]
    eval_seconds = state.get("eval_seconds", 0.0)
    # Decided once per step, so that the step that reaches the budget is always logged and
    # checkpointed as done (re-reading the clock after it would skip that when the final
    # evaluation crosses a time budget). A part that was done under a smaller budget goes on.
    done = reached(step, state["seconds"])
    window: list[torch.Tensor] = []
    main = distributed.is_main()
    bar = progress_bar(
        total=max_steps,
        initial=step,
        desc=f"{model.kind} {part}",
        unit="step",
        show=progress and main,
    )
    with bar, runs.metrics_log(part_dir / runs.METRICS_FILE, after_step=step, write=main) as log:
        while not done:
            batch = _batch(train_images, step, steps_per_epoch, cfg.batch_size, seed, flip)
            batch = model.training_view(part, batch, _generator(seed, "crop", step))
            _set_lr(
                optimizer, learning_rate(cfg, step, progress_at(step, time.monotonic() - started))
            )
            window.append(
                train_step(
                    loss, distributed.local_slice(batch).to(device), optimizer, cfg.precision
                )
            )
            step += 1
            ema.update(net, step)
            bar.update()
            seconds = time.monotonic() - started
            done = reached(step, seconds)
            evaluate = test_images is not None and (
                done
                or step % eval_every == 0
                and distributed.any_process(eval_seconds <= eval_share * seconds, device)
            )
            if step % log_every == 0 or evaluate or done:
                record = {
                    "step": step,
                    "epoch": step / steps_per_epoch,
                    "seconds": round(seconds, 3),
                    "lr": optimizer.param_groups[0]["lr"],
                    "train_bpd": distributed.total(torch.stack(window).mean().item(), device)
                    / distributed.world_size(),
                    "world_size": distributed.world_size(),
                    "threads": torch.get_num_threads(),
                }
                if evaluate:
                    evaluating = time.monotonic()
                    with ema.applied(net):
                        record["test_bpd"] = evaluate_part(model, part, test_images)
                    eval_seconds += time.monotonic() - evaluating
                log(record)
                bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k.endswith("bpd")})
                window, state["metrics"] = [], record
            if step % checkpoint_every == 0 or done:
                epoch, position = divmod(step, steps_per_epoch)
                state.update(
                    step=step,
                    epoch=epoch,
                    position=position,
                    seconds=round(seconds, 3),
                    done=done,
                    eval_seconds=round(eval_seconds, 3),
                )
                rng = distributed.rng_snapshot(device)  # every process takes part in the gathering
                if main:
                    runs.save_checkpoint(
                        part_dir, state, net=net, averaged=ema.shadow, optimizer=optimizer, rng=rng
                    )
    distributed.barrier()  # the next part (or the caller) reads what rank 0 wrote
    return state


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

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.bpd(batch).mean()


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
    """One Adam step on ``loss(batch)`` (a :func:`part_loss`); returns that loss (detached). With
    ``precision="bf16"`` the networks run under bfloat16 autocast; the likelihood stays float32."""
    loss.train()
    with torch.autocast(batch.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        value = loss(batch)
    optimizer.zero_grad(set_to_none=True)
    value.backward()
    optimizer.step()
    return value.detach()


def _budget(steps, epochs, minutes, steps_per_epoch: int) -> tuple[int | None, float | None]:
    """(step limit, seconds limit): exactly one of the three budgets, epochs counted in whole steps."""
    given = {
        name: value
        for name, value in (("steps", steps), ("epochs", epochs), ("minutes", minutes))
        if value
    }
    if len(given) != 1 or any(value < 0 for value in given.values()):
        raise ConfigError("give exactly one positive training budget: steps, epochs or minutes")
    if minutes:
        return None, minutes * 60.0
    return (steps if steps else math.ceil(epochs * steps_per_epoch)), None


def _set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _generator(seed: int, *keys) -> torch.Generator:
    """A CPU generator seeded by (seed, *keys): independent streams with nothing to save."""
    digest = hashlib.sha256(repr((seed, *keys)).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


def _batch(
    images: torch.Tensor, step: int, steps_per_epoch: int, batch_size: int, seed: int, flip: bool
):
    """The batch of ``step``: a fresh permutation each epoch (the incomplete last batch is
    dropped), randomly mirrored if ``flip``; a pure function of its arguments."""
    epoch, position = divmod(step, steps_per_epoch)
    order = torch.randperm(len(images), generator=_generator(seed, "order", epoch))
    batch = images[order[position * batch_size : (position + 1) * batch_size]]
    return data.random_flip(batch, _generator(seed, "flip", step)) if flip else batch


class EMA:
    """Polyak (exponential moving) average of a module's weights, used for evaluation.

    The decay ramps up as min(decay, (1 + step) / (10 + step)), as TensorFlow's
    ExponentialMovingAverage with ``num_updates`` does, so the average forgets the
    random initialization quickly and short runs are scored fairly.
    """

    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {name: value.detach().clone() for name, value in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
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
