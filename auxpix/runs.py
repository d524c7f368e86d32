"""The run directory: what a training run writes, and reading it back safely.

A run directory holds everything a run needs to be evaluated, sampled or resumed::

    RUN_DIR/run.json                   kind, preset and config of the model
    RUN_DIR/<part>/state.json          step, epoch, position, seconds, seed, done, the
                                       last metrics, and the name of the checkpoint folder
    RUN_DIR/<part>/ckpt-<step>-<id>/   weights.safetensors, ema.safetensors,
                                       optimizer.pt, rng.safetensors
    RUN_DIR/<part>/metrics.jsonl       one JSON object per logged step

Crash safety: a checkpoint is written whole into a new folder, then ``state.json`` is
atomically replaced to name it, and only then are older folders deleted. A crash at any
moment (even ``kill -9``) leaves ``state.json`` naming a complete checkpoint. Every problem
with a run's files is a one-line :class:`~auxpix.errors.CheckpointError` saying how to fix it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from .config import config_from_dict, config_to_dict, flat_config
from .device import resolve_device
from .errors import ArchitectureError, AuxpixError, CheckpointError, ConfigError, one_line
from .models import MODEL_CLASSES, AuxiliaryVariableModel, from_config

RUN_FILE = "run.json"
STATE_FILE = "state.json"
METRICS_FILE = "metrics.jsonl"
WEIGHTS_FILE = "weights.safetensors"
EMA_FILE = "ema.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
RNG_FILE = "rng.safetensors"
CHECKPOINT_PREFIX = "ckpt-"
WEIGHTS = ("ema", "raw")


def check_run(
    run_dir, model: AuxiliaryVariableModel, parts, *, seed: int = 0, resume: bool = False
) -> None:
    """Raise now, before any data is loaded, the error that training ``parts`` into ``run_dir`` would:
    an unknown part, a folder that is no run, a run of another model, a part that holds a
    checkpoint (without ``resume``) or was trained with another seed."""
    run_dir = Path(run_dir)
    for part in parts:
        if part not in model.parts:
            raise ConfigError(
                f"{model.kind} has no part {part!r}: its parts are {', '.join(model.parts)}"
            )
    if (run_dir / RUN_FILE).exists():
        _check_same_model(run_dir, model)
    elif run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise CheckpointError(
            f"{run_dir} exists and is not an auxpix run (no {RUN_FILE}); "
            "choose a new or empty folder"
        )
    for part in parts:
        state = read_state(run_dir / part)
        if state is not None and not resume:
            raise CheckpointError(
                f"{run_dir / part} already holds a checkpoint (step {state['step']}); "
                "pass --resume to continue it, or choose another run directory"
            )
        if state is not None and state["seed"] != seed:
            raise CheckpointError(
                f"{run_dir / part} was trained with seed {state['seed']}, not {seed}; "
                f"resume with --seed {state['seed']}"
            )


def open_run(
    run_dir: Path, model: AuxiliaryVariableModel, preset: str | None, *, init_from=None
) -> None:
    """Create ``run_dir`` and its run.json unless there (checked by :func:`check_run`);
    ``init_from``: the run it was fine-tuned from, recorded."""
    if (run_dir / RUN_FILE).exists():
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    run = {"kind": model.kind, "preset": preset, "config": config_to_dict(model.config)}
    if init_from is not None:
        run["init_from"] = str(init_from)
    write_atomic(run_dir / RUN_FILE, json.dumps(run, indent=2).encode())


def read_run(run_dir) -> dict:
    """run.json of ``run_dir``, checked: {"kind", "preset", "config" (the config object)}."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not path.is_file():
        what = "does not exist" if not run_dir.exists() else f"is not an auxpix run (no {RUN_FILE})"
        raise CheckpointError(
            f"run directory {run_dir} {what}; pass the --out folder of 'auxpix train'"
        )
    run = _read_json(path)
    try:
        if not isinstance(run, dict) or run.get("kind") not in MODEL_CLASSES:
            raise ConfigError(f"no known model kind (one of {', '.join(MODEL_CLASSES)})")
        return {**run, "config": config_from_dict(run["kind"], run["config"])}
    except (AuxpixError, KeyError, TypeError) as e:
        raise CheckpointError(
            f"{path} is corrupt ({one_line(e)}); restore it from a backup or train again"
        ) from e


def _check_same_model(run_dir: Path, model: AuxiliaryVariableModel) -> None:
    """A CheckpointError, saying what the run holds, unless it is of ``model``'s kind and config."""
    run = read_run(run_dir)
    holds = f"{run_dir} holds a {run['kind']} run (preset {run.get('preset') or 'unknown'})"
    if run["kind"] != model.kind:
        raise CheckpointError(
            f"{holds}, not a {model.kind} one; use that kind or another run directory"
        )
    if run["config"] != model.config:
        diff = _config_diff(config_to_dict(run["config"]), config_to_dict(model.config))
        raise CheckpointError(
            f"{holds} with another config ({diff}); use the run's preset and "
            "--set options, or another run directory"
        )


def _config_diff(run: dict, mine: dict) -> str:
    """The fields where two configs differ: "net.nr_filters: run 8, yours 160; ..."."""
    run, mine = flat_config(run), flat_config(mine)
    keys = sorted(key for key in run.keys() | mine.keys() if run.get(key) != mine.get(key))
    return "; ".join(f"{key}: run {run.get(key)}, yours {mine.get(key)}" for key in keys)


def run_model(run_dir) -> AuxiliaryVariableModel:
    """A new model of the run's kind and config (untrained); an ``auxpix.errors.ArchitectureError`` when
    this version of auxpix no longer builds that config."""
    try:
        return from_config(read_run(run_dir)["config"])
    except ConfigError as e:
        raise ArchitectureError(
            f"{run_dir} was trained with networks that this version of auxpix no longer "
            f"builds ({one_line(e)[:300]}); train it again"
        ) from e


def load_run(
    run_dir, *, device: str | torch.device = "cpu", weights: str = "ema", parts=None
) -> AuxiliaryVariableModel:
    """The model of ``run_dir``, built from its run.json, with its trained weights
    (``"ema"``: the averaged ones, for evaluation and sampling; ``"raw"``: the last step's),
    on ``device`` and in eval mode; ``parts``: load only these (e.g. a pilot that trained one
    part), the others keep untrained weights. A run of an earlier architecture is an
    ``auxpix.errors.ArchitectureError``."""
    model = run_model(run_dir)
    load_weights(model, run_dir, weights=weights, parts=parts)
    return model.to(resolve_device(device)).eval()


def load_weights(
    model: AuxiliaryVariableModel, run_dir, *, weights: str = "ema", parts=None
) -> None:
    """Load the last checkpoint of every part of ``run_dir`` (or of ``parts``) into ``model``
    (of the run's kind and config)."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    run_dir = Path(run_dir)
    _check_same_model(run_dir, model)
    for name in parts or []:
        if name not in model.parts:
            raise ConfigError(
                f"{model.kind} has no part {name!r}: its parts are {', '.join(model.parts)}"
            )
    for name, net in model.parts.items():
        if parts is not None and name not in parts:
            continue
        state = read_state(run_dir / name)
        if state is None:
            raise CheckpointError(
                f"{run_dir} has no checkpoint of part {name!r} yet; train it first "
                f"('auxpix train {model.kind} --out {run_dir} --part {name} ...')"
            )
        folder = run_dir / name / state["checkpoint"]
        _load_module(net, folder / (EMA_FILE if weights == "ema" else WEIGHTS_FILE), state["step"])


def load_part(net: torch.nn.Module, run_dir, part: str, *, kind: str) -> None:
    """Load the averaged weights of part ``part`` of the run at ``run_dir`` (a ``kind`` run)
    into ``net``: the start of a fine-tuning run, whose config may differ in anything but
    that part's networks (its data set, its optimizer)."""
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    if run["kind"] != kind:
        raise CheckpointError(
            f"{run_dir} holds a {run['kind']} run; a {kind} model can start only from a {kind} run"
        )
    state = read_state(run_dir / part)
    if state is None:
        raise CheckpointError(
            f"{run_dir} has no checkpoint of part {part!r} to start from; train it first"
        )
    try:
        _load_module(net, run_dir / part / state["checkpoint"] / EMA_FILE, state["step"])
    except ArchitectureError as e:
        raise CheckpointError(
            f"part {part!r} of {run_dir} has other networks than this model's; start from a run "
            "of the same preset and network fields"
        ) from e


# --------------------------------------------------------------------------- checkpoints


def new_state(part_dir: Path, seed: int) -> dict:
    """The state of a part that starts training now (its folder is created)."""
    part_dir.mkdir(parents=True, exist_ok=True)
    return {
        "step": 0,
        "epoch": 0,
        "position": 0,
        "seconds": 0.0,
        "seed": seed,
        "done": False,
        "metrics": None,
    }


def load_checkpoint(
    part_dir: Path, state: dict, *, net, averaged, optimizer, device
) -> dict[str, torch.Tensor]:
    """Load the checkpoint that ``state`` names into ``net`` (raw weights), ``averaged`` (an
    :class:`~auxpix.loop.EMA`, or None where no average is kept) and ``optimizer``; returns the
    saved RNG states (dropout)."""
    folder, step = part_dir / state["checkpoint"], state["step"]
    _load_module(net, folder / WEIGHTS_FILE, step)
    try:
        if averaged is not None:
            averaged.load(_read_tensors(folder / EMA_FILE, step))
    except (ValueError, RuntimeError) as e:
        raise _corrupt(folder / EMA_FILE, f"does not fit the model ({one_line(e)[:300]})") from e
    optimizer.load_state_dict(_read_optimizer(folder / OPTIMIZER_FILE, step, device))
    return _read_tensors(folder / RNG_FILE, step)


def save_checkpoint(
    part_dir: Path,
    state: dict,
    *,
    net,
    averaged: dict[str, torch.Tensor] | None,
    optimizer,
    rng: dict[str, torch.Tensor],
) -> None:
    """Write a whole checkpoint (raw and ``averaged`` weights, the latter unless None,
    optimizer, ``rng`` states) into a new folder, then commit it by replacing state.json."""
    step = state["step"]
    folder = Path(tempfile.mkdtemp(prefix=f"{CHECKPOINT_PREFIX}{step:08d}-", dir=part_dir))
    meta = {"step": str(step)}
    _write_file(folder / WEIGHTS_FILE, _safetensors_bytes(net.state_dict(), meta))
    if averaged is not None:
        _write_file(folder / EMA_FILE, _safetensors_bytes(averaged, meta))
    _write_file(
        folder / OPTIMIZER_FILE, _torch_bytes({"step": step, "optimizer": optimizer.state_dict()})
    )
    _write_file(folder / RNG_FILE, _safetensors_bytes(rng, meta))
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
    if not isinstance(state, dict) or not all(
        isinstance(state.get(k), t) for k, t in fields.items()
    ):
        raise CheckpointError(
            f"{path} is corrupt (expected an object with {', '.join(fields)}); "
            f"delete {part_dir} to train that part again, or restore it from a backup"
        )
    name = state["checkpoint"]
    if Path(name).name != name or not name.startswith(CHECKPOINT_PREFIX):
        raise CheckpointError(
            f"{path} is corrupt (checkpoint {name!r} is not a checkpoint folder); "
            f"delete {part_dir} to train that part again"
        )
    return state


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"cannot read {path} ({one_line(e)}); restore it from a backup "
            f"or delete {path.parent} to start it again"
        ) from e


def _corrupt(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint file {path} {problem}; delete {path.parent.parent} to train "
        "that part again, or restore the run directory from a backup"
    )


def _read_tensors(path: Path, step: int) -> dict[str, torch.Tensor]:
    """A safetensors file of the checkpoint of ``step`` (its metadata must say so)."""
    if not path.is_file():
        raise _corrupt(path, "is missing")
    try:
        with safetensors.safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as e:  # a truncated or garbled file fails in the Rust reader in many ways
        raise _corrupt(path, f"is unreadable ({one_line(e)})") from e
    if meta.get("step") != str(step):
        raise _corrupt(
            path, f"belongs to step {meta.get('step')}, not to the step {step} of state.json"
        )
    return tensors


def _read_optimizer(path: Path, step: int, device) -> dict:
    """The optimizer state of the checkpoint of ``step``, loaded without running code from the file."""
    if not path.is_file():
        raise _corrupt(path, "is missing")
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # unpickling errors of a damaged file have no common type
        raise _corrupt(path, f"is unreadable ({one_line(e)})") from e
    if not isinstance(saved, dict) or saved.get("step") != step:
        raise _corrupt(path, f"does not hold the optimizer of step {step}")
    return saved["optimizer"]


def _load_module(net: torch.nn.Module, path: Path, step: int) -> None:
    try:
        net.load_state_dict(_read_tensors(path, step))
    except RuntimeError as e:  # names or shapes differ: networks of another architecture
        raise ArchitectureError(
            f"checkpoint file {path} does not fit the model ({one_line(e)[:300]}); it was "
            "trained with networks that this version of auxpix builds differently: train "
            f"{path.parent.parent} again"
        ) from e


@contextmanager
def metrics_log(path: Path, *, after_step: int, write: bool = True):
    """A function that appends one JSON line per record to ``path`` (one that does nothing
    unless ``write``: the processes of a distributed run other than rank 0).

    Lines past ``after_step`` (the checkpoint resumed from) are dropped first: those
    steps are trained again, and a crash may have cut the last line short.
    """
    if not write:
        yield lambda record: None
        return
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


def read_metrics(run_dir, part: str) -> list[dict]:
    """The records of a part's metrics.jsonl, oldest first."""
    path = Path(run_dir) / part / METRICS_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _safetensors_bytes(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> bytes:
    return safetensors.torch.save(
        {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=meta
    )


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
