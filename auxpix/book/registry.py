"""The book's results folder: the committed runs it loads (trained only when asked), the
sizing pilots, and the record of every number a notebook reports.

A chapter never trains unless asked (``-p train True``): a run that is missing, unfinished or
no longer loads (saved by a version of auxpix whose models differ from today's) stops it with
one line saying how to train it (:func:`trained`).

Layout of the results folder::

    <results>/runs/<kind>-<preset>/    a run the book loads (see ``auxpix.runs``)
    <results>/pilot/<kind>-<preset>-*  the sizing pilots' candidate runs
    <results>/<preset>/<notebook>.json a notebook's numbers, each with how it was measured
    <results>/samples/<preset>/*.npz   samples a chapter shows, kept (see :func:`kept_samples`)

The folder is ``$AUXPIX_RESULTS`` when set, else the one given to :func:`use_results`, else
the repository's ``results/``: the variable points a whole book build elsewhere without
editing a notebook.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import safetensors
import torch

from ..budgets import budget
from ..config import config_to_dict, flat_config
from ..config import preset as preset_config
from ..data import celeba_split_of, load_dataset
from ..device import compute_label
from ..errors import ArchitectureError, CheckpointError, ConfigError, RunUnavailable
from ..models import from_config
from ..runs import EMA_FILE, load_run, read_run, read_state, run_model, write_atomic
from ..sampling_io import draw
from ..train import train_part
from .training_record import record_training

RESULTS_ENV = "AUXPIX_RESULTS"
# The book's results when nothing else is named: the repository's, wherever a chapter is started.
REPOSITORY_RESULTS = Path(__file__).resolve().parents[2] / "results"
TEST_SUBSET_DURING_TRAINING = 500  # test images scored every EVAL_EVERY steps while training
EVAL_EVERY = 100  # often enough for a training curve
# ... as long as the evaluations take at most this share of a part's time: a pyramid level's
# 500 test images cost about 10 of its steps at 32x32, but whole 128x128 test faces cost tens
# of that level's crop steps.
EVAL_SHARE = 0.1

_default_results: Path | None = None


def use_results(path) -> Path:
    """Make ``path`` the results folder unless ``$AUXPIX_RESULTS`` names another; returns the one in use."""
    global _default_results
    _default_results = Path(path).expanduser().resolve()
    return results_dir()


def results_dir() -> Path:
    """The results folder: ``$AUXPIX_RESULTS``, else the one given to :func:`use_results`, else
    the repository's ``results/`` (wherever the process was started)."""
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV]).expanduser()
    return _default_results or REPOSITORY_RESULTS


def run_dir(kind: str, preset: str) -> Path:
    """Where the book keeps its run of ``kind`` at ``preset``."""
    return results_dir() / "runs" / f"{kind}-{preset}"


def pilot_runs(kind: str, preset: str) -> dict[str, Path]:
    """The sizing pilot of ``kind`` at ``preset`` (scripts/size_cpu_preset.sh): the runs in
    <results>/pilot/ trained for the same budget, side by side, labelled by the config fields
    in which they differ (as ``--set`` names them), the one whose fields are the preset's
    marked "(the preset)" and listed first; empty without a pilot.

    The fields are compared among the pilot's own runs (as saved), so that a pilot run saved
    by an older version of auxpix, whose configs differ from today's preset, is still
    labelled by what it varied."""
    pilot = {path: read_run(path) for path in sorted((results_dir() / "pilot").glob(f"{kind}-*"))}
    configs = {
        path: flat_config(config_to_dict(run["config"]))
        for path, run in pilot.items()
        if run["preset"] == preset
    }
    if len(configs) < 2:
        return {}
    first = next(iter(configs.values()))
    changed = [
        key for key in first if len({repr(config.get(key)) for config in configs.values()}) > 1
    ]
    today = flat_config(config_to_dict(preset_config(kind, preset)))

    def is_preset(config: dict) -> bool:
        return all(config[key] == today.get(key) for key in changed)

    def label(config: dict) -> str:
        name = " ".join(f"{key}={config[key]}" for key in changed)
        return f"{name} (the preset)" if is_preset(config) else name

    ordered = sorted(configs.items(), key=lambda item: not is_preset(item[1]))
    return {label(config): path for path, config in ordered}


def level_pilot_runs(preset: str) -> tuple[Path, Path] | None:
    """scripts/pilot_pyramid_level.sh's light-net run of the CIFAR-10 pyramid's 32x32 level at
    ``preset`` and the unconditional PixelCNN++ of the recipe pilot it is compared with (the
    same recipe and test images), or None when either is missing."""
    level = results_dir() / "pilot" / f"pyramid-{preset}-cifar-32-light"
    unconditional = results_dir() / "pilot" / f"recipe-pixelcnnpp-{preset}-fp32-linear-b16"
    if not ((level / "aux_ablation.json").is_file() and (unconditional / "run.json").is_file()):
        return None
    return level, unconditional


def trained_parameters(path: Path, part: str) -> int:
    """The number of trained parameters of part ``part`` of the run at ``path``, read from its
    last checkpoint's averaged weights (so also for a run saved by an older version of auxpix)."""
    state = read_state(Path(path) / part)
    if state is None:
        raise CheckpointError(f"{path} has no checkpoint of part {part!r}")
    with safetensors.safe_open(
        Path(path) / part / state["checkpoint"] / EMA_FILE, framework="pt"
    ) as f:
        return sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys())


def trained(
    kind: str,
    preset: str,
    *,
    train: bool = False,
    data_dir=None,
    device="auto",
    progress=False,
    compile=False,
    command: str | None = None,
):
    """The trained model of ``kind`` at ``preset`` (averaged weights, eval mode).

    Loads the committed run. Trains only when asked (``train``): a missing run, or one that no
    longer loads, is a one-line ``RunUnavailable`` that says how to train it.
    A (re)training goes into ``<run>.training`` and replaces the old run only when it is done,
    so an interrupted one loses nothing (and calling again resumes it); one line per part, or
    progress bars with ``progress``. ``compile``: train through ``torch.compile``;
    ``command``: the command that trains it, recorded in the run. Parts trained already by
    :func:`train_parts` are kept.
    """
    final = run_dir(kind, preset)
    if train:
        model = from_config(preset_config(kind, preset))
        staging = train_parts(
            kind,
            preset,
            list(model.parts),
            data_dir=data_dir,
            device=device,
            progress=progress,
            compile=compile,
        )
        record_training(staging, command=command, compile=compile)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    elif not complete(final):
        raise RunUnavailable(f"{final} is missing or unfinished: {_how_to_train(preset)}")
    try:
        return load_run(final, device=device)
    except ArchitectureError as e:
        raise RunUnavailable(
            f"{final} does not fit this version of auxpix's models: {_how_to_train(preset)}"
        ) from e


def _how_to_train(preset: str) -> str:
    base = preset.split("-")[0]
    return f"train it with `-p train True` (papermill) or scripts/train_book_runs.sh {base}"


def needs_training(kind: str, preset: str) -> bool:
    """Whether the run of ``kind`` at ``preset`` is missing, unfinished, or saved by an older
    version of auxpix (its saved config no longer builds a model, or its weights do not fit it)."""
    path = run_dir(kind, preset)
    return not complete(path) or not loads(path)


def loads(path: Path) -> bool:
    """Whether the run at ``path`` loads with this library (False for a run saved by an older
    version whose models differ, e.g. a sizing pilot's); any other problem (a corrupt run) is
    raised."""
    try:
        load_run(Path(path), device="cpu")
    except ArchitectureError:
        return False
    return True


def complete(path: Path) -> bool:
    """Whether every part of the run at ``path`` finished training; a run whose config no
    longer builds a model counts as complete (:func:`loads` tells it apart)."""
    if not (path / "run.json").is_file():
        return False
    try:
        model = run_model(path)
    except ArchitectureError:
        return True
    return all((read_state(path / name) or {}).get("done") for name in model.parts)


def preset_model(kind: str, preset: str, parts: list[str]):
    """A new model of ``kind`` at ``preset``, checked to have the parts named ``parts``."""
    model = from_config(preset_config(kind, preset))
    unknown = sorted(set(parts) - set(model.parts))
    if unknown:
        raise ConfigError(
            f"{kind} at preset {preset} has no part {', '.join(unknown)}: "
            f"its parts are {', '.join(model.parts)}"
        )
    return model


def train_parts(
    kind: str,
    preset: str,
    parts: list[str],
    *,
    data_dir=None,
    device="auto",
    progress=False,
    compile=False,
) -> Path:
    """Train parts ``parts`` of the run of ``kind`` at ``preset`` into ``<run>.training`` for
    their budgets (resuming any begun, skipping any done), and return that folder: two
    processes can train a model's parts side by side; :func:`trained` then finishes the run."""
    final = run_dir(kind, preset)
    staging = final.with_name(final.name + ".training")
    model = preset_model(kind, preset, parts)
    # a part kept or trained already is not loaded again: a committed run has no raw weights
    done = [part for part in parts if (read_state(staging / part) or {}).get("done")]
    for part in done:
        print(f"{kind} part {part} at preset {preset}: trained already in {staging}", flush=True)
    todo = [part for part in parts if part not in done]
    if not todo:
        return staging
    train_images = model_images(model, "train", data_dir=data_dir)
    test_images = model_images(model, "test", data_dir=data_dir, limit=TEST_SUBSET_DURING_TRAINING)
    for part in todo:
        limit = budget(kind, preset, part, list(model.parts))
        print(
            f"training {kind} part {part} at preset {preset} for {limit} into {staging}", flush=True
        )
        state = train_part(
            model,
            part,
            train_images,
            run_dir=staging,
            preset=preset,
            test_images=test_images,
            eval_every=EVAL_EVERY,
            eval_share=EVAL_SHARE,
            device=device,
            resume=True,
            progress=progress,
            compile=compile,
            **limit,
        )
        metrics = state["metrics"]
        print(
            f"  {state['step']} steps, {state['seconds'] / 60:.1f} min: train {metrics['train_bpd']:.3f}, "
            f"test {metrics.get('test_bpd', float('nan')):.3f} bits/dim",
            flush=True,
        )
    return staging


# scripts/finetune_exact.sh's runs: the book's PixelCNN++ trained on for the same extra budget
# on each data set, into <results>/runs/pixelcnnpp-<preset>-then-<data set>.
FINE_TUNES = {
    "cifar10": "PixelCNN++, then JPEG-decoded",
    "cifar10-lossless": "PixelCNN++, then exact pixels",
}


def fine_tuned(preset: str) -> dict[str, Path]:
    """{label: run directory} of the exact-pixel experiment's runs at ``preset`` that exist."""
    paths = {
        label: results_dir() / "runs" / f"pixelcnnpp-{preset}-then-{data}"
        for data, label in FINE_TUNES.items()
    }
    return {label: path for label, path in paths.items() if (path / "run.json").is_file()}


def model_images(model, split: str, *, data_dir=None, limit=None):
    """The first ``limit`` ``split`` images of the data set ``model`` was trained on, at its
    resolution (CelebA: under the split its config names)."""
    name = model.config.dataset
    resolution = model.image_size if name == "celeba" else None
    return load_dataset(
        name,
        split,
        data_dir,
        resolution=resolution,
        limit=limit,
        celeba_split=celeba_split_of(model.config),
    )


# A re-run reproduces a record when every number agrees to this relative precision: far
# above the rounding noise of another thread count (about 1e-10 measured), far below the
# digits the book prints.
SAME_NUMBER = 1e-6


def record(name: str, preset: str, values: dict, *, data, device="auto") -> Path:
    """Save a notebook's numbers as <results>/<preset>/<name>.json, with how they were measured.

    ``data``: the data behind every value, or {value name: its data} when they differ.
    A re-run that reproduces the record (the same data, every number the same to
    ``SAME_NUMBER``) leaves it as it is, still naming the compute it was first measured on:
    so re-running the book changes no committed record unless a number changed."""
    path = results_dir() / preset / f"{name}.json"
    saved = recorded(name, preset)
    if saved is not None and saved["data"] == data and reproduces(saved["values"], values):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {
        "preset": preset,
        "data": data,
        "compute": compute_label(device),
        "python": sys.version.split()[0],
        "values": values,
    }
    write_atomic(path, (json.dumps(content, indent=2, sort_keys=True) + "\n").encode())
    return path


def reproduces(saved, values) -> bool:
    """Whether ``values`` (as :func:`record` takes them) are ``saved`` (as :func:`recorded`
    read them): the same structure, strings and flags, every number within ``SAME_NUMBER``."""
    return _same(saved, json.loads(json.dumps(values)))


def _same(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=SAME_NUMBER) or (math.isnan(a) and math.isnan(b))
    return a == b


def recorded(name: str, preset: str) -> dict | None:
    """What :func:`record` saved, or None if that notebook has not run at this preset."""
    path = results_dir() / preset / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def kept_samples(
    path: Path, run_dir: Path, sample, *, resample: bool = False, **settings
) -> tuple[dict, float]:
    """({name: uint8 tensor}, the seconds they took to draw): the samples kept in the .npz file
    at ``path`` when they came from the same weights (every part's checkpoint of the run at
    ``run_dir``) and ``settings``; else ``sample()``'s, timed and kept there. Samples of the
    cpu models take minutes to draw, so a chapter that shows kept ones re-runs in seconds,
    and draws again only when the run is retrained, a setting changes, or ``resample``."""
    key = sample_key(run_dir, **settings)
    if path.is_file() and not resample:
        with np.load(path) as kept:
            if str(kept["key"]) == key:
                names = [name for name in kept.files if name not in ("key", "seconds")]
                return {name: torch.from_numpy(kept[name]) for name in names}, float(
                    kept["seconds"]
                )
    started = time.perf_counter()
    arrays = sample()
    seconds = time.perf_counter() - started
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, **{name: a.cpu().numpy() for name, a in arrays.items()}, seconds=seconds, key=key
    )
    write_atomic(path, buffer.getvalue())
    return arrays, seconds


def sample_key(run_dir: Path, **settings) -> str:
    """What a kept sample set depends on: the checkpoint of every part of the run, and ``settings``."""
    run = read_run(run_dir)
    parts = sorted(p.name for p in run_dir.iterdir() if (p / "state.json").is_file())
    checkpoints = {name: read_state(run_dir / name)["checkpoint"] for name in parts}
    return json.dumps({"kind": run["kind"], "checkpoints": checkpoints, **settings}, sort_keys=True)


def slug(label: str) -> str:
    """``label`` as a file name: "Pyramid PixelCNN 8→32, MAP" → "pyramid-pixelcnn-8-32-map"."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower().replace("+", "p")).strip("-")


def kept_pyramid_samples(
    name: str,
    preset: str,
    model,
    n: int,
    *,
    seed: int,
    top_only: bool = False,
    resample: bool = False,
    **options,
) -> dict[str, torch.Tensor]:
    """The levels of ``n`` samples of the book's pyramid at ``preset``, named as its ``sample``
    names them (``options``: ``method``, ``map``, ``log_scale_shift``), seeded with ``seed``,
    kept in ``<results>/samples/<preset>/<name>.npz``; ``top_only``: only "image", the top."""
    top = str(model.image_size)  # the kept files name the top level by its resolution

    def sample():
        generator = torch.Generator(next(model.parameters()).device).manual_seed(seed)
        levels = draw(model, n, generator=generator, **options)
        levels = {"image": levels["image"]} if top_only else levels
        return {top if r == "image" else r: level for r, level in levels.items()}

    path = results_dir() / "samples" / preset / f"{name}.npz"
    levels, _ = kept_samples(
        path,
        run_dir("pyramid", preset),
        sample,
        resample=resample,
        n=n,
        seed=seed,
        top_only=top_only,
        **options,
    )
    return {"image" if r == top else r: levels[r] for r in sorted(levels, key=int)}
