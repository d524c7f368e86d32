"""Training a book run's parts in two processes, and retraining only some parts of a committed
run: when a change of recipe touches some levels of a pyramid, the others are kept as trained
(scripts/train_book_runs.sh cpu celeba 16,32,128)."""

from __future__ import annotations

import json
import shutil

from ..budgets import budget
from ..config import config_to_dict
from ..config import preset as preset_config
from ..errors import RunUnavailable
from ..models import from_config
from ..runs import RUN_FILE, read_run, write_atomic
from .registry import complete, preset_model, run_dir


def part_streams(
    kind: str, preset: str, streams: int = 2, parts: list[str] | None = None
) -> list[list[str]]:
    """The parts of ``kind`` at ``preset`` (or only ``parts``) dealt to ``streams`` processes so
    that their budgets are as even as they can be (the longest part first, to the least loaded
    stream)."""
    every = list(from_config(preset_config(kind, preset)).parts)
    parts = every if parts is None else parts
    cost = {part: list(budget(kind, preset, part, every).values())[0] for part in parts}
    dealt: list[list[str]] = [[] for _ in range(streams)]
    for part in sorted(parts, key=lambda name: -cost[name]):
        min(dealt, key=lambda names: sum(cost[name] for name in names)).append(part)
    return dealt


def stage_retraining(kind: str, preset: str, parts: list[str]):
    """Begin retraining ``parts`` of the committed run of ``kind`` at ``preset``: its staging
    folder ``<run>.training`` gets every other part as trained and today's preset config, so
    that :func:`~auxpix.book.registry.trained` trains only ``parts``, then replaces the run.
    A staging folder already there is a retraining begun: it is kept, to resume. Returns the
    folder."""
    final = run_dir(kind, preset)
    staging = final.with_name(final.name + ".training")
    config = preset_model(kind, preset, parts).config
    if staging.exists():
        return staging
    if not complete(final):
        raise RunUnavailable(
            f"{final} is missing or unfinished: train it whole (scripts/train_book_runs.sh "
            f"{preset.split('-')[0]} {'cifar-pyramid' if preset.endswith('-cifar') else 'celeba'}) "
            "before retraining some of its parts"
        )
    kept = [part for part in from_config(read_run(final)["config"]).parts if part not in parts]
    partial = final.with_name(final.name + ".staging")  # complete before it is named staging
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    for part in kept:
        shutil.copytree(final / part, partial / part)
    run = {"kind": kind, "preset": preset, "config": config_to_dict(config)}
    write_atomic(partial / RUN_FILE, json.dumps(run, indent=2).encode())
    partial.rename(staging)
    return staging
