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
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from ..runs import read_metrics, read_state
from . import tables
from .registry import results_dir, run_dir

CONSISTENT = 3.0  # 0-255 units: real faces give about 0, a copy of the left neighbour 6-18
BORDER_RATIO = 2.0
FLAT = 0.05  # bits/dim over a training curve's last quarter below which it has flattened
FIXED = "pyramid-cpu"  # the committed CelebA run, retrained with the fix
BEFORE_FIX = "pyramid-cpu-before-fix"  # the CelebA run whose samples were streaked
MORE_STEPS = "pyramid-cpu-more-steps"  # its first retraining: more steps, no input noise
MORE_STEPS_SAMPLES = "celeba-pyramid-map-more-steps"  # that run's MAP samples, kept
NOISY_TOP = "pyramid-cpu-noisy-top"  # its second: noisy inputs at 64x64 and 128x128 only
NOISY_TOP_SAMPLES = "celeba-pyramid-map-noisy-top"  # that run's MAP samples, kept
NOISY = "pyramid-cpu-noisy"  # its third: noisy inputs at every conditional level
NOISY_SAMPLES = "celeba-pyramid-map-noisy"  # that run's MAP samples, kept
SHARED_CORES = "pyramid-cpu-output-path-shared"  # the output path's first run (cores shared)
# What each retraining changed, in the order they were made (fix_reading's ``change``).
CHANGES = {
    "more steps": "the 64x64 and 128x128 levels train on 32x32 crops, and the levels from "
    "32x32 up share the two hours equally",
    "noisy inputs": "the 64x64 and 128x128 levels train again, their networks reading their "
    "pixels with Gaussian noise of std 0.04 (in the [-1, 1] scale) added",
    "noisy everywhere": "the 16x16 and 32x32 levels train again on inputs with noise of std "
    "0.04 too, and the 128x128 level with noise of std 0.08",
    "output path": "every conditional level trains again with f_w(X̂) also feeding its output "
    "layer (EmbeddingConfig.to_output)",
    "alone": "the 64x64 level trains again for its minutes on a core of its own (the first time, "
    "other work shared the two cores for part of them)",
}
BEFORE_FIX_TABLE2 = "celeba_pyramid-before-fix"  # its Table 2 numbers and steps, as recorded
BEFORE_COLUMNS = {"whole": "before retraining: whole image", "level": "before retraining: level"}
CIFAR_FIXED = "pyramid-cpu-cifar"  # the committed CIFAR-10 run, f_w into the output too
# Its run before f_w fed the output (9,204 steps at 32x32) and the pilot of its 32x32 level
# (1,600 steps).
CIFAR = ("pyramid-cpu-cifar-before-output-path", "pyramid-cpu-cifar-32-pilot")
NO_DIAGNOSIS = "No diagnosis at preset {preset!r}: scripts/diagnose_pyramid.py ran on the cpu runs."
NOT_DIAGNOSED = (
    "No diagnosis of this run: scripts/diagnose_pyramid.py results/runs/pyramid-{preset} "
    "--kept results/samples/{preset}/celeba-pyramid-map.npz --out results/diagnosis/pyramid-{preset}.json measures it."
)


class Diagnoses(NamedTuple):
    """The diagnoses chapter 03 reads: the committed CelebA run's, the streaked one's before the
    fixes, its first retraining's (more steps), its second's (noisy inputs at the top two
    levels), its third's (noisy inputs everywhere), the CIFAR-10 pair (its run before f_w fed
    the output, and the brief pilot of its 32x32 level) and the committed CIFAR-10 run's; None
    where not measured."""

    fixed: dict | None
    before: dict | None
    more_steps: dict | None
    noisy_top: dict | None
    noisy: dict | None
    cifar: tuple[dict | None, dict | None]
    cifar_fixed: dict | None


def record(name: str) -> dict | None:
    """results/diagnosis/<name>.json, or None where it was not measured."""
    path = results_dir() / "diagnosis" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def records(preset: str) -> Diagnoses:
    """The diagnoses at ``preset``: measured at cpu only; the committed run's only while it is
    the run diagnosed (the same checkpoints)."""
    if preset != "cpu":
        return Diagnoses(None, None, None, None, None, (None, None), None)
    fixed = committed_run_diagnosis(FIXED, preset)
    cifar = (record(CIFAR[0]), record(CIFAR[1]))
    stages = (record(name) for name in (BEFORE_FIX, MORE_STEPS, NOISY_TOP, NOISY))
    return Diagnoses(fixed, *stages, cifar, committed_run_diagnosis(CIFAR_FIXED, f"{preset}-cifar"))


def committed_run_diagnosis(name: str, preset: str) -> dict | None:
    """Diagnosis <name> of the committed pyramid run at ``preset``, while it is the run
    diagnosed (the same checkpoints); else None."""
    found = record(name)
    if found is None or not diagnoses_run(found, run_dir("pyramid", preset)):
        return None
    return found


def kept_faces(name: str, preset: str) -> torch.Tensor | None:
    """The top level of the kept samples <results>/samples/<preset>/<name>.npz of a run that
    is no longer the committed one (read as kept, not checked against today's run), or None."""
    path = results_dir() / "samples" / preset / f"{name}.npz"
    if not path.is_file():
        return None
    with np.load(path) as kept:
        return torch.from_numpy(kept[max((k for k in kept.files if k.isdigit()), key=int)])


def diagnoses_run(found: dict, path: Path) -> bool:
    """Whether the diagnosis ``found`` read the checkpoints of the run at ``path``."""
    states = {name: read_state(Path(path) / name) for name in found["checkpoints"]}
    return all(
        state is not None and Path(found["checkpoints"][name]).name == state["checkpoint"]
        for name, state in states.items()
    )


def record_values(found: dict) -> dict[str, float | dict]:
    """The numbers a chapter records per conditional level r: ``consistency_<r>`` and
    ``consistency_border_<r>`` (the shown MAP samples, interior and border band),
    ``consistency_given_real_<r>`` (free-running given real faces' X̂, the whole image),
    ``consistency_teacher_<r>`` (teacher-forced, the whole image) and ``shift_ablation_<r>``
    (bits/dim per shift of X̂, the aligned one keyed "aligned")."""
    values = {}
    for r, level in found["levels"].items():
        if "shift_ablation" not in level:  # the base level conditions on nothing
            continue
        samples = level.get("kept_map_samples") or level["map_samples"]
        values |= {
            f"consistency_{r}": samples["interior_mean"],
            f"consistency_border_{r}": samples["border_mean"],
            f"consistency_given_real_{r}": level["free_running_given_real"]["mean"],
            f"consistency_teacher_{r}": level["teacher_forced_real"]["mean"],
            f"shift_ablation_{r}": level["shift_ablation"],
        }
    return values


def steps(found: dict, level: str) -> int:
    """The optimizer steps of the checkpoint the diagnosis read (its name holds them)."""
    return int(Path(found["checkpoints"][level]).name.split("-")[1])


def _pair(summary: dict | None) -> tuple[float | None, float | None]:
    """(interior, border band) of a consistency summary."""
    return (summary["interior_mean"], summary["border_mean"]) if summary else (None, None)


def table(found: dict) -> pd.DataFrame:
    """One row per conditional level: steps, consistency (interior, border band) of the kept MAP
    samples, of free-running MAP draws given real faces' X̂ (also over the whole image, and
    inside when the real border band is given) and of teacher-forced ones, the
    copy-the-left-neighbour baseline, the bits/dim given X̂ aligned and shifted by the best single
    pixel, and the per-pixel bits of border and interior."""
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
            "free, border given": values.get("free_running_border_given", {}).get("interior_mean"),
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
    bad = (levels["free"] > CONSISTENT) | (_ratio(levels) > BORDER_RATIO)
    return [int(level) for level in levels.index[bad]]


def reading(found: dict, cifar: tuple[dict | None, dict | None] = (None, None)) -> str:
    """What the numbers say, hypothesis by hypothesis."""
    levels = table(found)
    sampler = next((v["sampler"] for v in found["levels"].values() if "sampler" in v), None)
    margin = (levels["bpd best shift"] - levels["bpd aligned"]).min()
    sentences = [
        f"Criterion, set before the numbers: free-running samples within {CONSISTENT:g} of "
        f"their X̂ and a border band at most {BORDER_RATIO:g}x the interior.",
        *(
            [
                f"The sampler is not the cause: cached and naive draws differ in "
                f"{sampler['differ']} of {sampler['values']:,} values."
            ]
            if sampler
            else []
        ),
        (
            f"{'Nor is alignment' if sampler else 'Alignment is not the cause'}: X̂ as given "
            f"beats every one-pixel shift at every level, by at least {margin:.2f} bits/dim."
            if margin > 0
            else "X̂ shifted by one pixel scores better at some level: an alignment fault."
        ),
    ]
    sentences += _ratio_intervals(found)
    bad = failing(levels)
    if not bad:
        return " ".join(sentences + ["Every level meets the criterion."])
    worst = levels.loc[bad]
    each = ", ".join(
        f"{level} ({int(row.steps):,} steps: free-running {row.free:.1f}, border band "
        f"{row['free, border']:.1f}; teacher-forced {row.teacher:.2f} inside; {_missed(row)})"
        for level, row in worst.iterrows()
    )
    many = len(bad) > 1
    if (worst["teacher"] <= CONSISTENT).all():
        where = (
            "most at the borders, where a pixel has the least context"
            if (worst["free, border"] > worst["free, inside"]).all()
            else "across the image"
        )
        how = (
            f"fed the true prefix {'they stay' if many else 'it stays'} close to X̂, run on "
            f"{'their' if many else 'its'} own samples {'they leave' if many else 'it leaves'} "
            f"it, {where}."
        )
    else:
        how = f"{'they leave' if many else 'it leaves'} X̂ even when fed the true prefix."
    sentences.append(
        f"{'Levels' if many else 'Level'} {each} {'miss' if many else 'misses'} it: {how}"
    )
    trained, short = cifar
    if trained and short:
        long_free, short_free = (
            run["levels"]["32"]["free_running_given_real"]["mean"] for run in (trained, short)
        )
        sentences.append(
            f"The same light net on CIFAR-10's 32x32 level, free-running, was "
            f"{short_free:.2f} off X̂ after {steps(short, '32'):,} steps and {long_free:.2f} after "
            f"{steps(trained, '32'):,}: "
            + (
                "there, more steps kept the samples on X̂ (its first pixel is read in "
                '"The first pixel" below).'
                if long_free <= CONSISTENT < short_free
                else f"more steps did not bring it within {CONSISTENT:g}."
                if long_free > CONSISTENT
                else "within the criterion both times."
            )
        )
    return " ".join(sentences)


def _ratio_intervals(found: dict) -> list[str]:
    """The free-running border band's ratio to the interior per level with its bootstrap
    interval over the images, where the record has them (records written before
    :func:`~auxpix.diagnostics.ratio_interval` existed do not)."""
    free = {
        int(r): level["free_running_given_real"]
        for r, level in found["levels"].items()
        if "border_ratio_interval" in level.get("free_running_given_real", {})
    }
    if not free:
        return []
    each = ", ".join(
        f"{r}: {s['border_ratio']:.2f}x ({s['border_ratio_interval'][0]:.2f}–"
        f"{s['border_ratio_interval'][1]:.2f})"
        for r, s in sorted(free.items())
    )
    return [
        f"Free-running from {found['sample_faces']} test images' X̂, the border band over the "
        f"interior with its 90 % interval when the images are resampled (a bootstrap): {each}."
    ]


def _missed(row: pd.Series) -> str:
    """Which half of the criterion a level's free-running samples miss."""
    missed = []
    if row.free > CONSISTENT:
        missed.append(f"above {CONSISTENT:g}")
    if _ratio(row) > BORDER_RATIO:
        missed.append(f"border band over {BORDER_RATIO:g}x the interior")
    return " and ".join(missed)


def fix_reading(before: dict, fixed: dict, change: str = "more steps") -> str:
    """What a retraining (``change``, a key of CHANGES) changed, level by level: training steps,
    free-running consistency with its border band's ratio to the interior, and test bits/dim
    given X̂ of the run before it against the run after it (and the number of images the
    free-running draws started from, where the two diagnoses differ in it)."""
    old, new = table(before), table(fixed)
    retrained = [
        level
        for level in new.index
        if level in old.index
        and before["checkpoints"][str(level)] != fixed["checkpoints"][str(level)]
    ]
    changes = ", ".join(
        f"{level}: {int(old.loc[level, 'steps']):,} → {int(new.loc[level, 'steps']):,} steps, "
        f"free-running {old.loc[level, 'free']:.2f} → {new.loc[level, 'free']:.2f} (border "
        f"band {_ratio(old.loc[level]):.2f}x → {_ratio(new.loc[level]):.2f}x the interior), "
        f"bits/dim {old.loc[level, 'bpd aligned']:.3f} → {new.loc[level, 'bpd aligned']:.3f}"
        for level in retrained
    )
    images = [found.get("sample_faces") for found in (before, fixed)]
    drawn = (
        f" (free-running from {images[0]} → {images[1]} test images' X̂)"
        if images[0] != images[1]
        else ""
    )
    return (
        f"The change: {CHANGES[change]}. Before → after it, per level retrained{drawn}: {changes}."
    )


def _ratio(levels: pd.DataFrame | pd.Series):
    """The free-running border band over the interior of :func:`table`'s levels (or one row)."""
    return levels["free, border"] / levels["free, inside"]


def noise_training(config) -> str:
    """Which levels of a pyramid config trained on noisy inputs, and with what std; "" if none."""
    by_std: dict[float, list[str]] = {}
    for r, std in config.level_noise.items():
        if std:
            by_std.setdefault(std, []).append(f"{r}x{r}")
    if not by_std:
        return ""
    groups = _and(
        f"the {_and(levels)} level{'s' if len(levels) > 1 else ''} with std {std:g}"
        for std, levels in by_std.items()
    )
    return (
        f"Not in the paper: {groups} trained reading their pixels with Gaussian noise (in the "
        'networks\' [-1, 1] scale) added, the pixels scored left exact; "what went wrong" below '
        "says why."
    )


def output_path(
    config, why: str = '"what went wrong" below says why', levels: str = "each conditional level"
) -> str:
    """Whether a pyramid config's conditional levels feed f_w(X̂) to their output layer; "" if not."""
    if not config.embedding.to_output:
        return ""
    return f"Not in the paper: f_w(X̂) also feeds {levels}'s output layer (a 1x1 path); {why}."


def _and(items) -> str:
    """ "a", "a and b", "a, b and c"."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def rise_reason(table2: pd.DataFrame, run: Path) -> str:
    """Where Table 2's whole-image bits/dim rise, which level makes them rise and by how much,
    against the paper's level there (its Table 2's whole image at r less a quarter of r/2's)
    and against that level's own training curve (the test bits/dim over its last quarter of
    steps, from the run's metrics); "" where they fall at every step."""
    whole, level, theirs = (table2[c] for c in (tables.WHOLE_IMAGE, tables.LEVEL, tables.PAPER))
    labels = list(table2.index)
    each = []
    for low, high in zip(labels[:-1], labels[1:]):
        if whole[high] < whole[low]:
            continue
        needed, paper_level = 0.75 * whole[low], theirs[high] - theirs[low] / 4
        curve = [m for m in read_metrics(run, high.split("x")[0]) if "test_bpd" in m]
        quarter = next(m for m in curve if m["step"] >= 0.75 * curve[-1]["step"])
        change = curve[-1]["test_bpd"] - quarter["test_bpd"]
        trend = "had flattened" if abs(change) < FLAT else "was still falling"
        each.append(
            f"the {high} level's own bits/dim are {level[high]:.2f}, {level[high] - needed:.2f} "
            f"above the {needed:.2f} at which the whole {high} image would fall below {low}'s; "
            f"the paper's {high} level's own, from its Table 2, are {paper_level:.2f}; ours "
            f"changed by {change:+.3f} over the last quarter of its {curve[-1]['step']:,} steps "
            f"(test bits/dim on the faces scored during training): its curve {trend}"
        )
    if not each:
        return ""
    return "Why the whole image's bits/dim rise: " + "; ".join(each) + "."


def with_before_fix(table2: pd.DataFrame, preset: str) -> pd.DataFrame:
    """Table 2 with the streaked run's whole-image and level bits/dim beside it (at cpu, where
    the CelebA run was retrained), on the same test faces."""
    before = record(BEFORE_FIX_TABLE2) if preset == "cpu" else None
    if before is None:
        return table2
    sizes = [label.split("x")[0] for label in table2.index]
    columns = {
        column: [before["values"].get(f"{key}_{r}") for r in sizes]
        for key, column in BEFORE_COLUMNS.items()
    }
    return table2.assign(**columns)


def samples_reading(found: dict) -> str:
    """One line beside the figures: how far the shown MAP samples stray from the X̂ each level
    refines (interior), against the criterion, level by level."""
    levels = table(found)
    each = ", ".join(f"{level}: {row.samples:.2f}" for level, row in levels.iterrows())
    bad = [str(level) for level, row in levels.iterrows() if row.samples > CONSISTENT]
    many = len(bad) > 1
    verdict = (
        f"level{'s' if many else ''} {' and '.join(bad)} {'stray' if many else 'strays'} further "
        f"than the criterion's {CONSISTENT:g} (the diagnosis below measures why)"
        if bad
        else f"every level stays within {CONSISTENT:g}"
    )
    return (
        "How far these samples stray from the X̂ each level refines (mean |round(avg_pool(X, 2)) − X̂| "
        f"inside the border band, 0–255 units): {each}; {verdict}."
    )
