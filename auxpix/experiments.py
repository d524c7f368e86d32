"""What the book's notebooks call: the committed runs (trained when missing or asked),
test images, and the record of every number a notebook reports.

Runs live in ``results/runs/<kind>-<preset>/`` (see :mod:`auxpix.runs` for the layout);
numbers in ``results/<preset>/<notebook>.json``, each with how it was measured.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch

from . import data
from .config import config_to_dict, flat_config
from .config import preset as preset_config
from .models import AuxiliaryVariableModel, from_config
from .device import compute_label
from .runs import load_run, read_run, read_state, write_atomic
from .train import train_part

RESULTS = Path(__file__).resolve().parents[1] / "results"
TEST_SUBSET_DURING_TRAINING = 500  # test images scored every EVAL_EVERY steps while training
EVAL_EVERY = 100  # often enough for a training curve, cheap enough (~3% of the time)

# Training budget of each model when a notebook has to train it. The paper's epochs are
# section 4's. "cpu" gives each model an hour of wall-clock time on 2 cores, shared among its
# parts: the Grayscale PixelCNN's p(X̂) gets a quarter (16 values per pixel are learnt fast),
# a pyramid's levels get shares proportional to their resolution (the bits are at the top).
BUDGETS = {
    "smoke": {"steps": 150},
    "cpu": {"minutes": 60},
    "paper": {"epochs": 200},
}
PAPER_EPOCHS = {("grayscale", "aux"): 30, ("grayscale", "cond"): 200, ("pyramid", None): 60}
GRAYSCALE_MINUTE_SHARES = {"aux": 0.25, "cond": 0.75}


def run_dir(kind: str, preset: str) -> Path:
    return RESULTS / "runs" / f"{kind}-{preset}"


def pilot_runs(kind: str, preset: str) -> dict[str, Path]:
    """The sizing pilot of ``kind`` at ``preset`` (scripts/size_cpu_preset.sh): the committed
    run and each candidate trained for the same budget in results/pilot/, labelled by the
    config fields in which they differ (as ``--set`` names them); empty without candidates."""
    pilot = {path: read_run(path) for path in sorted((RESULTS / "pilot").glob(f"{kind}-*"))}
    configs = {path: flat_config(config_to_dict(run["config"])) for path, run in pilot.items() if run["preset"] == preset}
    if not configs:
        return {}
    base = flat_config(config_to_dict(preset_config(kind, preset)))
    changed = [key for key in base if any(config[key] != base[key] for config in configs.values())]

    def label(config: dict) -> str:
        return " ".join(f"{key}={config[key]}" for key in changed)

    return {f"{label(base)} (the preset)": run_dir(kind, preset), **{label(c): path for path, c in configs.items()}}


def budget(kind: str, preset: str, part: str, parts) -> dict:
    """The training budget of part ``part`` of a model whose parts are ``parts``."""
    base = preset.split("-")[0]
    if base == "paper":
        epochs = PAPER_EPOCHS.get((kind, part), PAPER_EPOCHS.get((kind, None), BUDGETS["paper"]["epochs"]))
        return {"epochs": epochs}
    if "minutes" not in BUDGETS[base]:
        return dict(BUDGETS[base])
    if kind == "grayscale":
        share = GRAYSCALE_MINUTE_SHARES[part]
    elif kind == "pyramid":
        share = int(part) / sum(int(name) for name in parts)
    else:
        share = 1.0
    return {"minutes": BUDGETS[base]["minutes"] * share}


def trained(kind: str, preset: str, *, train: bool = False, data_dir=None, device="auto", progress=False):
    """The trained model of ``kind`` at ``preset`` (averaged weights, eval mode).

    Loads the committed run; trains it first when it is missing or when ``train`` is set
    (one line per part, or progress bars with ``progress``).
    A retrain goes into ``<run>.training`` and replaces the old run only when it is done,
    so an interrupted retrain loses nothing (and calling again resumes it).
    """
    final = run_dir(kind, preset)
    if train or not _complete(final):
        _train_all(kind, preset, final, data_dir=data_dir, device=device, progress=progress)
    return load_run(final, device=device)


def _complete(path: Path) -> bool:
    if not (path / "run.json").is_file():
        return False
    model = from_config(read_run(path)["config"])
    return all((read_state(path / name) or {}).get("done") for name in model.parts)


def _train_all(kind, preset, final: Path, *, data_dir, device, progress) -> None:
    staging = final.with_name(final.name + ".training")
    model = from_config(preset_config(kind, preset))
    train_images = images(model, "train", data_dir=data_dir)
    test_images = images(model, "test", data_dir=data_dir, limit=TEST_SUBSET_DURING_TRAINING)
    for part in model.parts:
        limit = budget(kind, preset, part, list(model.parts))
        print(f"training {kind} part {part} at preset {preset} for {limit} into {staging}", flush=True)
        state = train_part(
            model, part, train_images, run_dir=staging, preset=preset, test_images=test_images,
            eval_every=EVAL_EVERY, device=device, resume=True, progress=progress, **limit,
        )  # fmt: skip
        metrics = state["metrics"]
        print(f"  {state['step']} steps, {state['seconds'] / 60:.1f} min: train {metrics['train_bpd']:.3f}, "
              f"test {metrics.get('test_bpd', float('nan')):.3f} bits/dim", flush=True)
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)


def images(model: AuxiliaryVariableModel, split: str, *, data_dir=None, limit=None, dataset=None) -> torch.Tensor:
    """``split`` images of the model's dataset (or ``dataset``) at the model's resolution,
    the first ``limit`` of them."""
    name = dataset or model.config.dataset
    resolution = model.image_size if name == "celeba" else None
    x = data.load_dataset(name, split, data_dir, resolution=resolution)
    return x[:limit] if limit else x


def training_summary(path: Path) -> dict:
    """Per part: steps, epochs and minutes trained (from the run's state files)."""
    model = from_config(read_run(path)["config"])
    summary = {}
    for name in model.parts:
        state = read_state(path / name)
        summary[name] = {
            "steps": state["step"],
            "epochs": round(state["metrics"]["epoch"], 2),
            "minutes": round(state["seconds"] / 60, 1),
        }
    return summary


def record(name: str, preset: str, values: dict, *, data: str, device="auto") -> Path:
    """Save a notebook's numbers as results/<preset>/<name>.json, with how they were measured."""
    path = RESULTS / preset / f"{name}.json"
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


def recorded(name: str, preset: str) -> dict | None:
    """What :func:`record` saved, or None if that notebook has not run at this preset."""
    path = RESULTS / preset / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None
