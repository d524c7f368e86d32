"""Training, one part of a model at a time (paper, eq. 4: the parts share no parameters).

The paper's recipe (section 4): Adam, the learning rate multiplied by ``lr_decay`` after
every step, dropout (inside the model), random horizontal flips on CIFAR-10, and Polyak
averaged weights for evaluation. The loss is bits per dimension, as in PixelCNN++.

A run directory holds everything a run needs to be evaluated, sampled or resumed::

    RUN_DIR/run.json                   kind, preset and config of the model
    RUN_DIR/<part>/state.json          step, epoch, position, seconds, seed, done, the
                                       last metrics, and the name of the checkpoint folder
    RUN_DIR/<part>/ckpt-<step>-<id>/   weights.safetensors, ema.safetensors,
                                       optimizer.pt, rng.safetensors
    RUN_DIR/<part>/metrics.jsonl       one JSON object per logged step

Crash safety: a checkpoint is written whole into a new folder, then ``state.json`` is
atomically replaced to name it, and only then are older folders deleted. A crash at any
moment (even ``kill -9``) leaves ``state.json`` naming a complete checkpoint.

Exact resumption (on CPU, with the same seed): the data order and the flips are pure
functions of (seed, step), the learning rate a function of the step, and the optimizer,
the averaged weights and the global RNG (dropout) are saved, so a resumed run reaches
the same weights as an uninterrupted one.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from . import data
from .config import config_from_dict, config_to_dict, flat_config
from .errors import AuxpixError, CheckpointError, ConfigError, DataError
from .evaluate import evaluate_part, part_bpd
from .models import MODEL_CLASSES, AuxiliaryVariableModel, from_config
from .progress import progress_bar

RUN_FILE = "run.json"
STATE_FILE = "state.json"
METRICS_FILE = "metrics.jsonl"
WEIGHTS_FILE = "weights.safetensors"
EMA_FILE = "ema.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
RNG_FILE = "rng.safetensors"
CHECKPOINT_PREFIX = "ckpt-"
WEIGHTS = ("ema", "raw")
FLIPPED_DATASETS = ("cifar10", "cifar10-lossless")  # the paper flips CIFAR-10, not the aligned faces


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` is CUDA when available, else the CPU; asking for CUDA without it is a clear error."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu or cuda") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA is not available on this machine: use --device cpu (or auto)")
    return device


# --------------------------------------------------------------------------- training


def train(model: AuxiliaryVariableModel, train_images: torch.Tensor, *, run_dir, parts=None, seed: int = 0,
          resume: bool = False, **options) -> dict:
    """Train ``parts`` (default: all) one after another, each with the same budget.

    ``options`` are those of :func:`train_part`. Returns {part: its final state}.
    """
    parts = list(model.parts) if parts is None else list(parts)
    check_run(run_dir, model, parts, seed=seed, resume=resume)
    return {name: train_part(model, name, train_images, run_dir=run_dir, seed=seed, resume=resume, **options)
            for name in parts}  # fmt: skip


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
    checkpoint_every: int = 250,
    log_every: int = 10,
    device: str | torch.device = "cpu",
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train part ``part`` of ``model`` on ``train_images`` (uint8 [N, 3, H, W]) into ``run_dir``.

    The budget is ``steps``, ``epochs`` or wall-clock ``minutes`` (exactly one), counted
    over the part's whole training: resuming continues until the budget is reached.
    ``test_images`` (a small fixed subset keeps it cheap) are scored with the averaged
    weights every ``eval_every`` steps and at the end. A checkpoint is saved every
    ``checkpoint_every`` steps and at the end; ``resume`` continues from it (without
    ``resume`` an existing checkpoint of this part is an error, never overwritten).
    Returns the final state (as in ``state.json``).
    """
    check_run(run_dir, model, [part], seed=seed, resume=resume)
    model.check_images(train_images)
    cfg = model.config.train
    steps_per_epoch = len(train_images) // cfg.batch_size
    if steps_per_epoch == 0:
        raise DataError(f"{len(train_images)} training images are fewer than one batch of {cfg.batch_size}")
    max_steps, max_seconds = _budget(steps, epochs, minutes, steps_per_epoch)
    run_dir, device = Path(run_dir), resolve_device(device)
    _open_run(run_dir, model, preset)
    part_dir = run_dir / part
    net = model.to(device).parts[part]
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    ema = EMA(net, cfg.ema_decay)
    state = _start_or_resume(part_dir, net, ema, optimizer, seed=seed, device=device)
    flip = model.config.dataset in FLIPPED_DATASETS

    def reached(step: int, seconds: float) -> bool:
        return step >= max_steps if max_steps is not None else seconds >= max_seconds

    step, started = state["step"], time.monotonic() - state["seconds"]
    # Decided once per step, so that the step that reaches the budget is always logged and
    # checkpointed as done (re-reading the clock after it would skip that when the final
    # evaluation crosses a time budget). A part that was done under a smaller budget goes on.
    done = reached(step, state["seconds"])
    window: list[torch.Tensor] = []
    bar = progress_bar(total=max_steps, initial=step, desc=f"{model.kind} {part}", unit="step", show=progress)
    with bar, _metrics_log(part_dir / METRICS_FILE, after_step=step) as log:
        while not done:
            batch = _batch(train_images, step, steps_per_epoch, cfg.batch_size, seed, flip)
            _set_lr(optimizer, cfg.lr * cfg.lr_decay**step)
            window.append(train_step(model, part, batch.to(device), optimizer))
            step += 1
            ema.update(net, step)
            bar.update()
            seconds = time.monotonic() - started
            done = reached(step, seconds)
            if step % log_every == 0 or step % eval_every == 0 or done:
                record = {
                    "step": step,
                    "epoch": step / steps_per_epoch,
                    "seconds": round(seconds, 3),
                    "lr": optimizer.param_groups[0]["lr"],
                    "train_bpd": torch.stack(window).mean().item(),
                }
                if test_images is not None and (step % eval_every == 0 or done):
                    with ema.applied(net):
                        record["test_bpd"] = evaluate_part(model, part, test_images)
                log(record)
                bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k.endswith("bpd")})
                window, state["metrics"] = [], record
            if step % checkpoint_every == 0 or done:
                epoch, position = divmod(step, steps_per_epoch)
                state.update(step=step, epoch=epoch, position=position, seconds=round(seconds, 3), done=done)
                _save_checkpoint(part_dir, state, net, ema, optimizer, device)
    return state


def check_run(run_dir, model: AuxiliaryVariableModel, parts, *, seed: int = 0, resume: bool = False) -> None:
    """Raise now, before any data is loaded, the error that training ``parts`` into ``run_dir`` would:
    an unknown part, a folder that is no run, a run of another model, a part that holds a
    checkpoint (without ``resume``) or was trained with another seed."""
    run_dir = Path(run_dir)
    for part in parts:
        if part not in model.parts:
            raise ConfigError(f"{model.kind} has no part {part!r}: its parts are {', '.join(model.parts)}")
    if (run_dir / RUN_FILE).exists():
        _check_same_model(run_dir, model)
    elif run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise CheckpointError(f"{run_dir} exists and is not an auxpix run (no {RUN_FILE}); "
                              "choose a new or empty folder")
    for part in parts:
        state = read_state(run_dir / part)
        if state is not None and not resume:
            raise CheckpointError(f"{run_dir / part} already holds a checkpoint (step {state['step']}); "
                                  "pass --resume to continue it, or choose another run directory")
        if state is not None and state["seed"] != seed:
            raise CheckpointError(f"{run_dir / part} was trained with seed {state['seed']}, not {seed}; "
                                  f"resume with --seed {state['seed']}")


def train_step(model: AuxiliaryVariableModel, part: str, batch: torch.Tensor, optimizer) -> torch.Tensor:
    """One Adam step on the mean bits/dim of part ``part`` over ``batch``; returns that loss (detached)."""
    model.parts[part].train()
    loss = part_bpd(model, part, batch).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def _budget(steps, epochs, minutes, steps_per_epoch: int) -> tuple[int | None, float | None]:
    """(step limit, seconds limit): exactly one of the three budgets, epochs counted in whole steps."""
    given = {name: value for name, value in (("steps", steps), ("epochs", epochs), ("minutes", minutes)) if value}
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


def _batch(images: torch.Tensor, step: int, steps_per_epoch: int, batch_size: int, seed: int, flip: bool):
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
        torch._foreach_lerp_([self.shadow[name] for name in current], list(current.values()), 1.0 - decay)

    @torch.no_grad()
    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        """Take saved averages (same names and shapes as the module's weights)."""
        if tensors.keys() != self.shadow.keys():
            raise ValueError(f"expected the tensors {sorted(self.shadow)[:3]}..., got {sorted(tensors)[:3]}...")
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


# --------------------------------------------------------------------------- run directory


def _open_run(run_dir: Path, model: AuxiliaryVariableModel, preset: str | None) -> None:
    """Create ``run_dir`` and its run.json unless there (checked by :func:`check_run`)."""
    if (run_dir / RUN_FILE).exists():
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    run = {"kind": model.kind, "preset": preset, "config": config_to_dict(model.config)}
    write_atomic(run_dir / RUN_FILE, json.dumps(run, indent=2).encode())


def read_run(run_dir) -> dict:
    """run.json of ``run_dir``, checked: {"kind", "preset", "config" (the config object)}."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not path.is_file():
        what = "does not exist" if not run_dir.exists() else f"is not an auxpix run (no {RUN_FILE})"
        raise CheckpointError(f"run directory {run_dir} {what}; pass the --out folder of 'auxpix train'")
    run = _read_json(path)
    try:
        if not isinstance(run, dict) or run.get("kind") not in MODEL_CLASSES:
            raise ConfigError(f"no known model kind (one of {', '.join(MODEL_CLASSES)})")
        return {**run, "config": config_from_dict(run["kind"], run["config"])}
    except (AuxpixError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} is corrupt ({_one_line(e)}); restore it from a backup or train again") from e


def _check_same_model(run_dir: Path, model: AuxiliaryVariableModel) -> None:
    """A CheckpointError, saying what the run holds, unless it is of ``model``'s kind and config."""
    run = read_run(run_dir)
    holds = f"{run_dir} holds a {run['kind']} run (preset {run.get('preset') or 'unknown'})"
    if run["kind"] != model.kind:
        raise CheckpointError(f"{holds}, not a {model.kind} one; use that kind or another run directory")
    if run["config"] != model.config:
        diff = _config_diff(config_to_dict(run["config"]), config_to_dict(model.config))
        raise CheckpointError(f"{holds} with another config ({diff}); use the run's preset and "
                              "--set options, or another run directory")


def _config_diff(run: dict, mine: dict) -> str:
    """The fields where two configs differ: "net.nr_filters: run 8, yours 160; ..."."""
    run, mine = flat_config(run), flat_config(mine)
    keys = sorted(key for key in run.keys() | mine.keys() if run.get(key) != mine.get(key))
    return "; ".join(f"{key}: run {run.get(key)}, yours {mine.get(key)}" for key in keys)


def load_run(run_dir, *, device: str | torch.device = "cpu", weights: str = "ema") -> AuxiliaryVariableModel:
    """The model of ``run_dir``, built from its run.json, with its trained weights
    (``"ema"``: the averaged ones, for evaluation and sampling; ``"raw"``: the last step's),
    on ``device`` and in eval mode."""
    model = from_config(read_run(run_dir)["config"])
    load_weights(model, run_dir, weights=weights)
    return model.to(resolve_device(device)).eval()


def load_weights(model: AuxiliaryVariableModel, run_dir, *, weights: str = "ema") -> None:
    """Load the last checkpoint of every part of ``run_dir`` into ``model`` (of the run's kind and config)."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    run_dir = Path(run_dir)
    _check_same_model(run_dir, model)
    for name, net in model.parts.items():
        state = read_state(run_dir / name)
        if state is None:
            raise CheckpointError(f"{run_dir} has no checkpoint of part {name!r} yet; train it first "
                                  f"('auxpix train {model.kind} --out {run_dir} --part {name} ...')")
        folder = run_dir / name / state["checkpoint"]
        _load_module(net, folder / (EMA_FILE if weights == "ema" else WEIGHTS_FILE), state["step"])


# --------------------------------------------------------------------------- checkpoints


def _start_or_resume(part_dir: Path, net, ema: EMA, optimizer, *, seed: int, device) -> dict:
    """The state to train from: a fresh one (dropout seeded by ``seed``) or the last checkpoint's."""
    state = read_state(part_dir)
    if state is None:
        part_dir.mkdir(exist_ok=True)
        torch.manual_seed(seed)
        return {"step": 0, "epoch": 0, "position": 0, "seconds": 0.0, "seed": seed, "done": False, "metrics": None}
    folder, step = part_dir / state["checkpoint"], state["step"]
    _load_module(net, folder / WEIGHTS_FILE, step)
    try:
        ema.load(_read_tensors(folder / EMA_FILE, step))
    except (ValueError, RuntimeError) as e:
        raise _corrupt(folder / EMA_FILE, f"does not fit the model ({_one_line(e)[:300]})") from e
    optimizer.load_state_dict(_read_optimizer(folder / OPTIMIZER_FILE, step, device))
    _set_rng_state(_read_tensors(folder / RNG_FILE, step), device)
    return state


def _save_checkpoint(part_dir: Path, state: dict, net, ema: EMA, optimizer, device: torch.device) -> None:
    """Write a whole checkpoint into a new folder, then commit it by replacing state.json."""
    step = state["step"]
    folder = Path(tempfile.mkdtemp(prefix=f"{CHECKPOINT_PREFIX}{step:08d}-", dir=part_dir))
    meta = {"step": str(step)}
    _write_file(folder / WEIGHTS_FILE, _safetensors_bytes(net.state_dict(), meta))
    _write_file(folder / EMA_FILE, _safetensors_bytes(ema.shadow, meta))
    _write_file(folder / OPTIMIZER_FILE, _torch_bytes({"step": step, "optimizer": optimizer.state_dict()}))
    _write_file(folder / RNG_FILE, _safetensors_bytes(_rng_state(device), meta))
    state["checkpoint"] = folder.name
    write_atomic(part_dir / STATE_FILE, json.dumps(state, indent=2).encode())
    for old in part_dir.glob(f"{CHECKPOINT_PREFIX}*"):
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)


def read_state(part_dir: Path) -> dict | None:
    """The part's state.json, checked, or None if the part has no checkpoint yet."""
    path = part_dir / STATE_FILE
    if not path.exists():
        return None
    state = _read_json(path)
    fields = {"step": int, "seed": int, "seconds": (int, float), "checkpoint": str}
    if not isinstance(state, dict) or not all(isinstance(state.get(k), t) for k, t in fields.items()):
        raise CheckpointError(f"{path} is corrupt (expected an object with {', '.join(fields)}); "
                              f"delete {part_dir} to train that part again, or restore it from a backup")
    name = state["checkpoint"]
    if Path(name).name != name or not name.startswith(CHECKPOINT_PREFIX):
        raise CheckpointError(f"{path} is corrupt (checkpoint {name!r} is not a checkpoint folder); "
                              f"delete {part_dir} to train that part again")
    return state


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read {path} ({_one_line(e)}); restore it from a backup "
                              f"or delete {path.parent} to start it again") from e


def _corrupt(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(f"checkpoint file {path} {problem}; delete {path.parent.parent} to train "
                           "that part again, or restore the run directory from a backup")


def _read_tensors(path: Path, step: int) -> dict[str, torch.Tensor]:
    """A safetensors file of the checkpoint of ``step`` (its metadata must say so)."""
    if not path.is_file():
        raise _corrupt(path, "is missing")
    try:
        with safetensors.safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as e:  # a truncated or garbled file fails in the Rust reader in many ways
        raise _corrupt(path, f"is unreadable ({_one_line(e)})") from e
    if meta.get("step") != str(step):
        raise _corrupt(path, f"belongs to step {meta.get('step')}, not to the step {step} of state.json")
    return tensors


def _read_optimizer(path: Path, step: int, device) -> dict:
    """The optimizer state of the checkpoint of ``step``, loaded without running code from the file."""
    if not path.is_file():
        raise _corrupt(path, "is missing")
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # unpickling errors of a damaged file have no common type
        raise _corrupt(path, f"is unreadable ({_one_line(e)})") from e
    if not isinstance(saved, dict) or saved.get("step") != step:
        raise _corrupt(path, f"does not hold the optimizer of step {step}")
    return saved["optimizer"]


def _load_module(net: torch.nn.Module, path: Path, step: int) -> None:
    try:
        net.load_state_dict(_read_tensors(path, step))
    except RuntimeError as e:
        raise _corrupt(path, f"does not fit the model ({_one_line(e)[:300]})") from e


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The global RNG states that dropout draws from."""
    state = {"torch_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["torch_cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["torch_cpu"])
    if device.type == "cuda" and "torch_cuda" in state:
        torch.cuda.set_rng_state(state["torch_cuda"], device)


@contextmanager
def _metrics_log(path: Path, *, after_step: int):
    """A function that appends one JSON line per record to ``path``.

    Lines past ``after_step`` (the checkpoint resumed from) are dropped first: those
    steps are trained again, and a crash may have cut the last line short.
    """
    kept = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= after_step:
                    kept.append(line + "\n")
            except (ValueError, KeyError, TypeError):
                break
    write_atomic(path, "".join(kept).encode())
    with open(path, "a") as f:

        def log(record: dict) -> None:
            f.write(json.dumps(record) + "\n")
            f.flush()

        yield log


def _safetensors_bytes(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> bytes:
    return safetensors.torch.save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=meta)


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _write_file(path: Path, content: bytes) -> None:
    """Write and flush to disk, so that a file named by a commit is complete even after a power cut."""
    with open(path, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path: Path, content: bytes) -> None:
    """Replace ``path`` all at once: readers see the old or the new content, never a mix."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        _write_file(Path(tmp), content)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())
