"""The fidelity pilot behind the cpu presets' start, weight average and precision
(``scripts/pilot_fidelity.sh``): its records, its table, and which choices it adopts.

Each arm trained a cpu part with seeds 0 and 1 for the same budget (15 minutes at its
precision's measured speed) and scored the same 500 JPEG-decoded test images under both
weight averages. The criterion, set before the pilot ran: a choice is adopted when it lowers
the mean test bits/dim of its two seeds by more than the pilot's noise, the largest gap
between the two seeds of one arm of that part.
"""

from __future__ import annotations

import json

import pandas as pd

from .registry import results_dir

MODELS = {"pixelcnnpp": "PixelCNN++ cpu", "level16": "CIFAR-10 pyramid cpu-cifar, 16x16 level"}
# The presets whose recipe each part's verdicts decide (they share its networks' kind: the
# full PixelCNN++ nets, or the pyramids' light nets).
GOVERNS = {
    "pixelcnnpp": [("pixelcnnpp", "cpu"), ("grayscale", "cpu")],
    "level16": [("pyramid", "cpu"), ("pyramid", "cpu-cifar")],
}
START_CHOICE = "openai's start (N(0, 0.05), own init batch)"
AVERAGE_CHOICE = "constant average"
BF16_CHOICE = "bfloat16, compiled"
# What each choice sets in TrainConfig when adopted (and the cpu recipe's value otherwise).
CHOICES = {
    START_CHOICE: (
        {"init_std": 0.05, "init_batch_size": 16},
        {"init_std": 0.0, "init_batch_size": 0},
    ),
    AVERAGE_CHOICE: ({"ema_warmup": False}, {"ema_warmup": True}),
    BF16_CHOICE: ({"precision": "bf16"}, {"precision": "fp32"}),
}
RAMPED, CONSTANT = "ramped average", "constant average (openai)"
VERDICT_COLUMNS = ["part", "choice", "without", "with", "gain", "noise", "adopted"]
NO_PILOT = "No fidelity pilot at preset {preset!r}: its recipe was not chosen by one."


def records(preset: str) -> list[dict]:
    """The pilot's records (``results/pilot/fidelity-*/pilot.json``); the pilot ran at ``cpu`` only."""
    if preset != "cpu":
        return []
    paths = sorted((results_dir() / "pilot").glob("fidelity-*/pilot.json"))
    return [
        {**json.loads(path.read_text()), "part": path.parent.name.split("-")[1]} for path in paths
    ]


def table(found: list[dict]) -> pd.DataFrame:
    """One row per part, arm and seed: steps, and test bits/dim under each weight average."""
    rows = [
        {
            "part": MODELS[record["part"]],
            "arm": record["arm"],
            "seed": record["seed"],
            "steps": record["steps"],
            RAMPED: record["test_bpd_ramped_average"],
            CONSTANT: record["test_bpd_constant_average"],
        }
        for record in found
    ]
    return pd.DataFrame(rows).set_index(["part", "arm", "seed"]).sort_index()


def seed_gaps(scores: pd.DataFrame, averages=(RAMPED, CONSTANT)) -> pd.DataFrame:
    """Per part and arm: the gap between its two seeds under each of ``averages``."""
    return scores[list(averages)].groupby(level=["part", "arm"]).agg(lambda s: s.max() - s.min())


def noise(scores: pd.DataFrame) -> pd.Series:
    """Per part: the largest gap between the two seeds of one arm, under either average."""
    return seed_gaps(scores).max(axis=1).groupby(level="part").max()


def ramped_noise(preset: str, part: str = "level16") -> float | None:
    """The largest gap between the two seeds of one arm of ``part`` under the ramped average,
    the one every preset keeps: the yardstick for comparing two runs of that recipe (the
    verdicts' :func:`noise` also counts the constant average, the choice they judge); None
    without the pilot."""
    found = records(preset)
    if not found:
        return None
    return float(seed_gaps(table(found), [RAMPED])[RAMPED].loc[MODELS[part]].max())


def arm_means(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean test bits/dim over the seeds, per part, arm and average."""
    return scores[[RAMPED, CONSTANT]].groupby(level=["part", "arm"]).mean()


def verdicts(scores: pd.DataFrame) -> pd.DataFrame:
    """Per part and choice: today's mean, the choice's, the gain, the noise and whether the
    gain passes the criterion. Choices: openai's start (arm "init" against "today"), the
    constant average (in the better start's arm), bfloat16 (its arm against its start in fp32)."""
    means, spread = arm_means(scores), noise(scores)
    rows = []
    for part in means.index.get_level_values("part").unique():
        arms = means.loc[part]
        if not {"today", "init"} <= set(arms.index):  # the pilot of this part is not complete
            continue
        start = "init" if arms.loc["init", RAMPED] < arms.loc["today", RAMPED] else "today"
        bf16 = "init-bf16" if start == "init" else "bf16"
        choices = [
            (
                START_CHOICE,
                arms.loc["today", RAMPED],
                arms.loc["init", RAMPED],
            ),
            (AVERAGE_CHOICE, arms.loc[start, RAMPED], arms.loc[start, CONSTANT]),
        ]
        if bf16 in arms.index:
            best = min(arms.loc[start, RAMPED], arms.loc[start, CONSTANT])
            choices.append(
                (BF16_CHOICE, best, min(arms.loc[bf16, RAMPED], arms.loc[bf16, CONSTANT]))
            )
        for choice, before, after in choices:
            rows.append(
                {
                    "part": part,
                    "choice": choice,
                    "without": before,
                    "with": after,
                    "gain": before - after,
                    "noise": spread[part],
                    "adopted": bool(before - after > spread[part]),
                }
            )
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS).set_index(["part", "choice"])


def reading(decided: pd.DataFrame, scores: pd.DataFrame) -> str:
    """What the pilot found, choice by choice, from :func:`verdicts`; parts whose arms are not
    all trained yet are named as such."""
    sentences = [
        "A choice is adopted when it lowers the mean test bits/dim of its two seeds by more "
        "than the pilot's noise (the largest gap between the two seeds of one arm)."
    ]
    judged = set(decided.index.get_level_values("part")) if len(decided) else set()
    for part in scores.index.get_level_values("part").unique():
        if part not in judged:
            arms = ", ".join(sorted(set(scores.loc[part].index.get_level_values("arm"))))
            sentences.append(f"{part}: only {arms} trained so far, no verdict yet.")
    for (part, choice), row in decided.iterrows():
        outcome = "adopted" if row["adopted"] else "not adopted"
        sentences.append(
            f"{part}: {choice} {row['without']:.3f} → {row['with']:.3f} bits/dim "
            f"(gain {row['gain']:+.3f}, noise {row['noise']:.3f}): **{outcome}**."
        )
    for part in sorted(judged):
        if BF16_CHOICE not in decided.loc[part].index:
            sentences.append(f"{part}: its bfloat16 arm is not trained yet, no verdict on it.")
    return " ".join(sentences)
