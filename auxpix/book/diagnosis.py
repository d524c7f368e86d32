"""What went wrong with a pyramid's samples, read from ``scripts/diagnose_pyramid.py``'s records
(results/diagnosis/): a table per level and the sentences chapter 03 prints about it.

Consistency is ``mean |round(avg_pool(X, 2)) − X̂|`` in 0–255 units (:mod:`auxpix.diagnostics`);
the border band is one pooled pixel wide on every edge. The criterion, from the paper's
claim that each level refines the view it is given: a level's free-running samples stay
within ``CONSISTENT`` of their X̂, and its border band within ``BORDER_RATIO`` times its
interior.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .registry import results_dir

CONSISTENT = 3.0  # 0-255 units: real faces give about 0, a copy of the left neighbour 6-18
BORDER_RATIO = 2.0
BEFORE_FIX = "pyramid-cpu-before-fix"  # the CelebA run whose samples were streaked
CIFAR = ("pyramid-cpu-cifar", "pyramid-cpu-cifar-32-pilot")  # 9,204 and 1,600 steps at 32x32
NO_DIAGNOSIS = "No diagnosis at preset {preset!r}: scripts/diagnose_pyramid.py ran on the cpu runs."


def record(name: str) -> dict | None:
    """results/diagnosis/<name>.json, or None where it was not measured."""
    path = results_dir() / "diagnosis" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def records(preset: str) -> tuple[dict | None, tuple[dict | None, dict | None]]:
    """(the streaked CelebA run's diagnosis, the CIFAR-10 pair) at ``preset``: measured at cpu."""
    if preset != "cpu":
        return None, (None, None)
    return record(BEFORE_FIX), (record(CIFAR[0]), record(CIFAR[1]))


def steps(found: dict, level: str) -> int:
    """The optimizer steps of the checkpoint the diagnosis read (its name holds them)."""
    return int(Path(found["checkpoints"][level]).name.split("-")[1])


def _pair(summary: dict | None) -> tuple[float | None, float | None]:
    """(interior, border band) of a consistency summary."""
    return (summary["interior_mean"], summary["border_mean"]) if summary else (None, None)


def table(found: dict) -> pd.DataFrame:
    """One row per conditional level: steps, consistency (interior, border band) of the kept MAP
    samples, of free-running MAP draws given real faces' X̂ (also over the whole image) and of
    teacher-forced ones, the copy-the-left-neighbour baseline, the bits/dim given X̂ aligned and
    shifted by the best single pixel, and the per-pixel bits of border and interior."""
    rows = {}
    for level, values in found["levels"].items():
        if "shift_ablation" not in values:  # the base level conditions on nothing
            continue
        samples = values.get("kept_map_samples") or values.get("map_samples")
        shifted = {k: v for k, v in values["shift_ablation"].items() if k != "aligned"}
        rows[int(level)] = {
            "steps": steps(found, level),
            **dict(zip(("samples", "samples, border"), _pair(samples))),
            "free": values["free_running_given_real"]["mean"],
            **dict(zip(("free, inside", "free, border"), _pair(values["free_running_given_real"]))),
            **dict(zip(("teacher", "teacher, border"), _pair(values["teacher_forced_real"]))),
            "copy left": values["left_neighbour_copy"]["mean"],
            "bpd aligned": values["shift_ablation"]["aligned"],
            "bpd best shift": min(shifted.values()),
            "bits border": values["pixel_bits"]["border"],
            "bits interior": values["pixel_bits"]["interior"],
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("level").sort_index()


def failing(levels: pd.DataFrame) -> list[int]:
    """The levels whose free-running samples miss the criterion."""
    bad = (levels["free"] > CONSISTENT) | (
        levels["free, border"] > BORDER_RATIO * levels["free, inside"]
    )
    return [int(level) for level in levels.index[bad]]


def reading(found: dict, cifar: tuple[dict | None, dict | None] = (None, None)) -> str:
    """What the numbers say, hypothesis by hypothesis."""
    levels = table(found)
    sampler = next(v["sampler"] for v in found["levels"].values() if "sampler" in v)
    margin = (levels["bpd best shift"] - levels["bpd aligned"]).min()
    sentences = [
        f"Criterion, set before the numbers: free-running samples within {CONSISTENT:g} of "
        f"their X̂ and a border band at most {BORDER_RATIO:g}x the interior.",
        f"The sampler is not the cause: cached and naive draws differ in {sampler['differ']} "
        f"of {sampler['values']:,} values.",
        (
            f"Nor is alignment: X̂ as given beats every one-pixel shift at every level, by at "
            f"least {margin:.2f} bits/dim."
            if margin > 0
            else "X̂ shifted by one pixel scores better at some level: an alignment fault."
        ),
    ]
    bad = failing(levels)
    if not bad:
        return " ".join(sentences + ["Every level meets the criterion."])
    worst = levels.loc[bad]
    sentences.append(
        "Levels "
        + ", ".join(
            f"{level} ({int(row.steps):,} steps: free-running {row.free:.1f}, border band "
            f"{row['free, border']:.1f}; teacher-forced {row.teacher:.2f} inside)"
            for level, row in worst.iterrows()
        )
        + " miss it: fed the true prefix they stay close to X̂, run on their own samples they "
        "leave it, and most at the borders, where a pixel has the least context."
    )
    trained, short = cifar
    if trained and short:
        long_steps, short_steps = steps(trained, "32"), steps(short, "32")
        sentences.append(
            f"The same light net on CIFAR-10's 32x32 level drifted too after {short_steps:,} "
            f"steps ({short['levels']['32']['free_running_given_real']['mean']:.2f}) "
            f"and no longer after {long_steps:,} "
            f"({trained['levels']['32']['free_running_given_real']['mean']:.2f}): "
            "too few steps, not a fault of the architecture."
        )
    return " ".join(sentences)
