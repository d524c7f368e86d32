"""How a book run was trained, recorded beside it (``training.json``): the command, whether
through torch.compile, torch's version, the processor, and each part's compute."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from ..runs import read_state, run_model

TRAINING_FILE = "training.json"


def record_training(path: Path, *, command: str | None, compile: bool) -> None:
    """Write ``training.json`` beside the run's parts: how it was trained (the command, whether
    through torch.compile, torch's version and the machine's processor) and, per part, its
    compute (steps, minutes, threads, core-hours) from its state files."""
    summary = training_summary(path)
    record = {
        "command": command,
        "compile": compile,
        "torch": torch.__version__,
        "processor": platform.processor() or platform.machine(),
        "parts": summary,
        "core_hours": round(sum(part["core_hours"] for part in summary.values()), 3),
    }
    (path / TRAINING_FILE).write_text(json.dumps(record, indent=2) + "\n")


def training_summary(path: Path) -> dict:
    """Per part: steps, epochs, minutes, threads and core-hours (minutes x threads x processes)
    trained (from the run's state files)."""
    model = run_model(path)
    summary = {}
    for name in model.parts:
        state = read_state(path / name)
        metrics = state["metrics"]
        threads = metrics.get("threads", 1) * metrics.get("world_size", 1)
        summary[name] = {
            "steps": state["step"],
            "epochs": round(metrics["epoch"], 2),
            "minutes": round(state["seconds"] / 60, 1),
            "threads": threads,
            "core_hours": round(state["seconds"] / 3600 * threads, 3),
        }
    return summary
