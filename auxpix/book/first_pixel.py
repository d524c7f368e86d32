"""The first pixel a pyramid level draws, read from the maps behind
``scripts/diagnose_pyramid.py``'s records (results/diagnosis/<name>.npz, each averaged over the
images): pixel (0, 0) is drawn before any other, so nothing but X̂ informs it (chapter 03)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .diagnosis import (
    BEFORE_FIX,
    CIFAR,
    CIFAR_FIXED,
    FIXED,
    MORE_STEPS,
    NOISY,
    NOISY_TOP,
    committed_run_diagnosis,
    record,
    steps,
)
from .registry import results_dir


def maps(name: str) -> dict[str, np.ndarray] | None:
    """The maps of diagnosis <name> (results/diagnosis/<name>.npz), keyed "<level>/<measure>":
    consistency per pooled pixel and bits per pixel, each averaged over the images; None where
    not measured."""
    path = results_dir() / "diagnosis" / f"{name}.npz"
    if not path.is_file():
        return None
    with np.load(path) as found:
        return {key: found[key] for key in found.files}


def table(found: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per conditional level, from a diagnosis's ``maps``: the bits/dim of pixel (0, 0), the
    first drawn, which sees nothing but X̂, against the level's mean; the consistency of its 2x2
    block (the first pooled pixel), teacher-forced and free-running; and the free-running border
    band (one pooled pixel wide) with and without that block, against the interior."""
    rows = {}
    for level in sorted(
        {int(key.split("/")[0]) for key in found if key.endswith("/free_running_given_real")}
    ):
        bits, free = found[f"{level}/pixel_bits"], found[f"{level}/free_running_given_real"]
        band = np.ones_like(free, dtype=bool)
        band[1:-1, 1:-1] = False
        rows[level] = {
            "bits first pixel": bits[0, 0],
            "bits mean": bits.mean(),
            "teacher corner": found[f"{level}/teacher_forced_real"][0, 0],
            "free corner": free[0, 0],
            "free border": free[band].mean(),
            "free border, no corner": (free[band].sum() - free[0, 0]) / (band.sum() - 1),
            "free inside": free[~band].mean(),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("level")


STAGES = {  # the CelebA run's stages in order: their diagnoses (results/diagnosis/<name>)
    "before retraining": BEFORE_FIX,
    "more steps": MORE_STEPS,
    "noisy inputs at 64x64 and 128x128": NOISY_TOP,
    "noisy inputs everywhere": NOISY,
    "f_w into the output too": FIXED,
}


def stages(preset: str) -> pd.DataFrame | None:
    """:func:`table` at every stage measured (at cpu only; the last stage only while it
    is the committed run's diagnosis), rows keyed (stage, level); None where none was."""
    if preset != "cpu":
        return None
    committed = committed_run_diagnosis(FIXED, preset) is not None
    found = {label: maps(name) for label, name in STAGES.items() if name != FIXED or committed}
    found = {label: m for label, m in found.items() if m is not None}
    if not found:
        return None
    return pd.concat({label: table(m) for label, m in found.items()}, names=["stage"])


def reading(levels: pd.DataFrame, run: str = "") -> str:
    """What :func:`table`'s table of ``run`` (named in the sentence) says, level by level."""
    each = "; ".join(
        f"{level}: pixel (0, 0) {row['bits first pixel']:.2f} bits/dim against "
        f"{row['bits mean']:.2f} on average, its block {row['free corner']:.1f} off X̂ "
        f"free-running ({row['teacher corner']:.1f} teacher-forced), the border band "
        f"{row['free border'] / row['free inside']:.2f}x the interior, "
        f"{row['free border, no corner'] / row['free inside']:.2f}x without that block"
        for level, row in levels.iterrows()
    )
    return (
        f"The first pixel{' of ' + run if run else ''}, which sees nothing but X̂ (a uniform "
        f"guess over 256 values costs 8 bits): {each}."
    )


def cifar(preset: str, retrained: bool = False) -> str:
    """:func:`reading` for the CIFAR-10 pyramid (at cpu): the run trained long before f_w fed
    its output or, ``retrained``, the committed run, where f_w does (only while it is the run
    diagnosed); "" where that diagnosis has no maps."""
    if preset != "cpu":
        return ""
    name, run = (
        (
            CIFAR_FIXED,
            "the retrained CIFAR-10 pyramid (cpu-cifar; {:,} steps at 32x32, f_w into the output)",
        )
        if retrained
        else (
            CIFAR[0],
            "the CIFAR-10 pyramid (cpu-cifar; {:,} steps at 32x32, no f_w into the output)",
        )
    )
    if retrained and committed_run_diagnosis(name, f"{preset}-cifar") is None:
        return ""
    found = maps(name)
    return "" if found is None else reading(table(found), run.format(steps(record(name), "32")))
