"""The tables of the book: our numbers beside the paper's, each row saying what it measured.

The notebooks call these with trained models and test images; every table is a pandas
DataFrame, indexed and read by row and column names, whose paper numbers come from
``auxpix.paper``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import paper
from ..auxvars import GRAY_LEVELS
from ..evaluate import evaluate
from ..runs import read_metrics, read_run
from . import registry
from .training_record import training_summary

# The CIFAR-10 test sets the book scores on: our copy's JPEG-decoded pixels, its first 500
# images (what training scores every 100 steps, and the issues' goals use), and the official
# images 0-999 with their exact pixels (the one to compare with the paper's).
JPEG_TEST = "JPEG-decoded test"
JPEG_SUBSET = "JPEG-decoded subset"
SUBSET_IMAGES = 500
EXACT_TEST = "exact-pixel test"
CIFAR10_TEST_SETS = {
    JPEG_TEST: "our JPEG-decoded CIFAR-10 test set",
    JPEG_SUBSET: f"the first {SUBSET_IMAGES} images of our JPEG-decoded CIFAR-10 test set",
    EXACT_TEST: "CIFAR-10 test images 0–999, exact pixels",
}

# The rows of the loss split (bits per colour dimension, then a share).
AUX_TRAIN = "p(X̂), train"
AUX_TEST = "p(X̂), test"
COND_TEST = "p(X | X̂), test"
TOTAL_TEST = "total, test"
AUX_SHARE = "p(X̂) share of the total, test"
# X̂'s share of a pixel's raw bits: its 4-bit gray of the 24 bits of three 8-bit colours, 16.7 %.
RAW_BIT_SHARE = math.log2(GRAY_LEVELS) / (3 * 8)
BITS_ROWS = [AUX_TRAIN, AUX_TEST, COND_TEST, TOTAL_TEST]

PAPER = "paper"
# Table 2's columns: the whole image at r, -log p(X_r) / 3r², the one compared with the
# paper's (see readings.table2_quantity); the level's conditional bits a second column.
WHOLE_IMAGE = "ours: whole image at r"
LEVEL = "ours: level r | level r/2"
# Names of the book's CIFAR-10 models in the paper's Table 1 (its pyramid is in §4.2's text).
TABLE1_NAMES = {"grayscale": "Grayscale PixelCNN (this paper)", "pixelcnnpp": "PixelCNN++"}

# Faces in our CelebA copy (of 200 people); the full data set has 202,599.
CELEBA_FACES = 6_097
# How each CelebA split is named where a number says which one it used (auxpix.data).
CELEBA_SPLITS = {"random": "the paper's random 95/5 split", "official": "CelebA's official split"}

SHARPNESS = "sharpness"
SAMPLE_BPD = "bits/dim under the model"
REAL_FACES = "real test faces"
MAP = "MAP"

NAIVE, CACHED, WINDOW, SPEED_UP = (
    "naive s/pixel",
    "cached s/pixel",
    "window s/pixel",
    "cached speed-up",
)
SPEED_COLUMNS = {"naive": NAIVE, "cached": CACHED, "window": WINDOW}  # auxpix.bench's method names
# auxpix.bench's column for the cached sampler's steps compiled (compile=True), where a record has it
COMPILED = "compiled cached s/pixel"
PYRAMID_SPEED, PIXELCNNPP_SPEED, SPEED_RATIO = (
    "pyramid s/pixel",
    "PixelCNN++ (cached) s/pixel",
    "PixelCNN++ / pyramid",
)
# §4.2's comparison, at the faces' 128x128: the pyramid 8 -> 128 against a cached PixelCNN++.
COMPARISON_RESOLUTION = 128
PAPER_SPEEDS = "paper (Titan X): pyramid without caching (windowed)"
OURS_WINDOW = "ours: pyramid, window (the authors' sampler, no caching)"
OURS_CACHED, OURS_NAIVE = "ours: pyramid, cached", "ours: pyramid, naive"
OURS_COMPILED = "ours: pyramid, cached and compiled"
# The pyramid's samplers in the order the comparison shows them (those a record has).
OURS_SPEEDS = {
    WINDOW: OURS_WINDOW,
    CACHED: OURS_CACHED,
    COMPILED: OURS_COMPILED,
    NAIVE: OURS_NAIVE,
}
SPEED_INDEX = ["model", "resolution"]


def show_whole_tables() -> None:
    """Let the chapters show every table whole: pandas cuts a cell over 50 characters, and a
    wide or long table, with "…"."""
    for option in ("display.max_colwidth", "display.max_columns", "display.max_rows"):
        pd.set_option(option, None)
    pd.set_option("display.width", 1000)


show_whole_tables()  # every chapter reads its tables through this module


def ours(label: str, n_images: int) -> str:
    """The column of our numbers on data set ``label`` of ``n_images`` images."""
    return f"ours: {label} ({n_images} img)"


def ours_on(table: pd.DataFrame, label: str) -> str:
    """The name of ``table``'s column of our numbers on data set ``label``."""
    matches = [column for column in table.columns if column.startswith(f"ours: {label} (")]
    if len(matches) != 1:
        raise KeyError(f"no single column of ours on {label!r} among {list(table.columns)}")
    return matches[0]


def _paper_cifar10(kind: str) -> tuple[float, bool]:
    """(bits/dim, whether an upper bound) of the book's CIFAR-10 model of ``kind`` in the paper."""
    if kind == "pyramid":
        return paper.PYRAMID_CIFAR10, False
    return next((bpd, bound) for name, bpd, bound in paper.TABLE1 if name == TABLE1_NAMES[kind])


def paper_cifar10_bpd(kind: str) -> float:
    """The paper's CIFAR-10 test bits/dim of the book's model of ``kind``."""
    return _paper_cifar10(kind)[0]


def paper_cifar10_text(kind: str) -> str:
    """:func:`paper_cifar10_bpd` as the paper states it: "≤ 2.98" for an upper bound."""
    bpd, bound = _paper_cifar10(kind)
    return f"{'≤ ' if bound else ''}{bpd:g}"


def _minutes(summary: dict) -> str:
    return " + ".join(
        f"{part} {s['minutes']:g} min / {s['epochs']:g} ep" for part, s in summary.items()
    )


def evaluate_all(models: dict, datasets: dict[str, torch.Tensor]) -> dict:
    """``{model name: {data name: evaluate(model, images)}}``, each pair scored once."""
    return {
        name: {label: evaluate(model, x, progress=False) for label, x in datasets.items()}
        for name, model in models.items()
    }


def cifar10_table(scores: dict, runs: dict) -> pd.DataFrame:
    """Table 1 for our models: total test bits/dim on each data set, the paper's number,
    and the preset and training behind ours. ``scores``: :func:`evaluate_all`'s; ``runs``:
    {model name: its run directory}."""
    rows = []
    for name, by_data in scores.items():
        run = read_run(runs[name])
        row = {"model": name}
        row.update({ours(label, r["n_images"]): r["bpd"]["total"] for label, r in by_data.items()})
        row["paper (exact test set)"] = paper_cifar10_bpd(run["kind"])
        row["preset"] = run["preset"]
        row["training"] = _minutes(training_summary(runs[name]))
        if run.get(
            "init_from"
        ):  # a fine-tuning run: its minutes come after those of the run it started from
            row["training"] += f", after {Path(run['init_from']).name}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def loss_split(scores: dict, train_aux_bpd: float) -> pd.DataFrame:
    """The Grayscale PixelCNN's bits per colour dimension — p(X̂) on train and test, p(X | X̂),
    the total, p(X̂)'s share — one column per test set, beside the paper's section 4.1.
    ``scores``: {data name: evaluate(...)} on test sets; ``train_aux_bpd``: p(X̂)'s bits/dim
    on training images (shown in the first column)."""
    columns = {}
    for label, result in scores.items():
        bpd = result["bpd"]
        train_aux = train_aux_bpd if label == next(iter(scores)) else None
        columns[ours(label, result["n_images"])] = [
            train_aux,
            bpd["aux"],
            bpd["cond"],
            bpd["total"],
            bpd["aux"] / bpd["total"],
        ]
    split = paper.GRAYSCALE_SPLIT
    columns[PAPER] = [
        split["aux_train"],
        split["aux_test"],
        split["cond_test"],
        split["total_test"],
        paper_aux_share(),
    ]
    return pd.DataFrame(columns, index=[*BITS_ROWS, AUX_SHARE])


def paper_aux_share() -> float:
    """The paper's share of p(X̂) in the Grayscale PixelCNN's test bits/dim (§4.1)."""
    return paper.GRAYSCALE_SPLIT["aux_test"] / paper.GRAYSCALE_SPLIT["total_test"]


def cifar10_record(
    scores: dict, train_aux_bpd: float | None, runs: dict, n_train: int
) -> tuple[dict, dict]:
    """What chapter 01 records, per test set: each scored model's total bits/dim and, when the
    Grayscale PixelCNN was scored, its loss split (p(X̂) on training images with the
    JPEG-decoded set). Returns (values, data), as :func:`auxpix.book.registry.record` takes them."""
    kinds = {name: read_run(path)["kind"] for name, path in runs.items()}
    values, data = {}, {}
    for name, by_data in scores.items():
        for label, result in by_data.items():
            values.setdefault(label, {})[f"{kinds[name]}_total"] = result["bpd"]["total"]
            data[label] = f"{CIFAR10_TEST_SETS[label]} ({result['n_images']} images)"
    gray = next((name for name in scores if kinds[name] == "grayscale"), None)
    if gray is not None:
        for label, result in scores[gray].items():
            bpd = result["bpd"]
            values[label].update(
                aux_test=bpd["aux"], cond_test=bpd["cond"], aux_share=bpd["aux"] / bpd["total"]
            )
        values[JPEG_TEST]["aux_train"] = train_aux_bpd
        data[JPEG_TEST] += f"; p(X̂) train: the first {n_train} JPEG-decoded training images"
    return values, data


def fine_tune_record(scores: dict) -> dict:
    """What chapter 01 records of the exact-pixel experiment: {run label: {test set: total bits/dim}}."""
    return {
        name: {label: result["bpd"]["total"] for label, result in by_data.items()}
        for name, by_data in scores.items()
    }


def pyramid_table(model, test: torch.Tensor) -> pd.DataFrame:
    """Table 2: per resolution r, the whole image's bits/dim -log p(X_r) / 3r² beside the
    paper's (the quantity we read its Table 2 as, see
    :func:`~auxpix.book.readings.table2_quantity`), then the level's conditional bits/dim
    -log p(X_r | X_r/2) / 3r² (for the lowest level, -log p(X_8) / 3·8²)."""
    result = evaluate(model, test, progress=False)
    sizes = model.config.resolutions
    return pd.DataFrame(
        {
            WHOLE_IMAGE: [result["bpd_by_resolution"][str(r)] for r in sizes],
            PAPER: [paper.TABLE2.get(r) for r in sizes],
            LEVEL: [result["bpd"][str(r)] for r in sizes],
        },
        index=[resolution_label(r) for r in sizes],
    )


def resolution_label(r: int) -> str:
    return f"{r}x{r}"


def pyramid_record(table2: pd.DataFrame) -> dict:
    """Chapter 03's numbers per resolution r of Table 2: {"whole_<r>": the whole image's
    bits/dim (the one compared with the paper's), "level_<r>": the level's}."""
    values = {}
    for label in table2.index:
        r = label.split("x")[0]
        values[f"whole_{r}"], values[f"level_{r}"] = (
            float(table2.loc[label, WHOLE_IMAGE]),
            float(table2.loc[label, LEVEL]),
        )
    return values


LEVEL_GIVEN = {
    "own": "its own",
    "another image's": "another image's",
    "flat": "a flat",
}  # evaluate.AUX_ABLATIONS


def level_pilot(level_run: Path, unconditional_run: Path) -> pd.DataFrame:
    """The pyramid-level pilot (scripts/pilot_pyramid_level.sh): test bits/dim of the
    conditional level given its own half-resolution image, another image's and a flat one
    (its aux_ablation.json), beside the unconditional PixelCNN++ trained with the same recipe,
    at the last evaluation it made within as many steps (its metrics), on the same test images."""
    saved = json.loads((Path(level_run) / "aux_ablation.json").read_text())
    part, ablation = next(iter(saved["aux_ablation"].items()))
    steps = read_metrics(level_run, part)[-1]["step"]
    reference = [
        m
        for m in read_metrics(unconditional_run, "pixelcnnpp")
        if "test_bpd" in m and m["step"] <= steps
    ][-1]
    half = int(part) // 2
    rows = {f"PixelCNN++, no X̂ ({reference['step']:,} steps)": reference["test_bpd"]}
    rows |= {
        f"{part}x{part} level given {LEVEL_GIVEN[label]} {half}x{half} image ({steps:,} steps)": value
        for label, value in ablation.items()
    }
    return pd.DataFrame({ours(JPEG_TEST, saved["n_images"]): rows})


def sizing_pilot(runs: dict, part: str, minutes=None) -> pd.DataFrame:
    """Networks for part ``part`` trained for the same wall-clock budget, side by side: their
    size (the parameters each trained, from its checkpoint) and speed, and the test bits/dim (averaged weights, the runs' test subset) each had
    reached after each of ``minutes`` (default: each quarter of the first run's budget;
    interpolated between the runs' evaluations, which are minutes apart)."""
    if minutes is None:
        budget = round(read_metrics(next(iter(runs.values())), part)[-1]["seconds"] / 60)
        minutes = [budget * quarter / 4 for quarter in (1, 2, 3, 4)]
    rows = []
    for label, path in runs.items():
        config = read_run(path)["config"]
        metrics = read_metrics(path, part)
        seconds, bpd = zip(*[(m["seconds"], m["test_bpd"]) for m in metrics if "test_bpd" in m])
        last = metrics[-1]
        row = {
            "network": label,
            "parameters": registry.trained_parameters(path, part),
            "images/s": last["step"] * config.train.batch_size / last["seconds"],
            "steps": last["step"],
            "epochs": last["epoch"],
        }
        for t in minutes:  # between two evaluations: interpolated; outside them: none
            row[tested_after(t)] = np.interp(t * 60, seconds, bpd, left=np.nan, right=np.nan)
        rows.append(row)
    return pd.DataFrame(rows).set_index("network")


def tested_after(minutes: float) -> str:
    """The :func:`sizing_pilot` column of test bits/dim after ``minutes`` of training."""
    return f"test bpd at {minutes:g} min"


def sharpness(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute Laplacian of the luma per image: high for crisp edges and noise, low for blur."""
    luma = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).float()
    lap = (
        4 * luma[:, 1:-1, 1:-1]
        - luma[:, :-2, 1:-1]
        - luma[:, 2:, 1:-1]
        - luma[:, 1:-1, :-2]
        - luma[:, 1:-1, 2:]
    )
    return lap.abs().mean(dim=(1, 2))


def shift_label(c: float) -> str:
    """The :func:`sample_statistics` row of samples drawn with their log-scales reduced by ``c``."""
    return f"c = {c}"


@torch.no_grad()
def sample_statistics(model, samples: dict[str, torch.Tensor], real: torch.Tensor) -> pd.DataFrame:
    """Per setting of ``samples`` and for the ``real`` images: mean sharpness and mean bits/dim
    under ``model`` (how likely the model finds its own samples)."""
    rows = {
        label: {
            SHARPNESS: sharpness(x).mean().item(),
            SAMPLE_BPD: model.bpd(x.long())["total"].mean().item(),
        }
        for label, x in {**samples, REAL_FACES: real}.items()
    }
    return pd.DataFrame(rows).T


def sample_statistics_record(stats: pd.DataFrame) -> dict:
    """What chapter 04 records of a :func:`sample_statistics` table: {"sharpness": {row:
    value}, "bits_per_dim": {row: value}}, the real faces' row included (the claims table
    judges the samples against it)."""
    return {
        "sharpness": stats[SHARPNESS].to_dict(),
        "bits_per_dim": stats[SAMPLE_BPD].to_dict(),
    }


def sampling_speeds(rows: list[dict]) -> pd.DataFrame:
    """``auxpix.bench.sampling_table``'s rows by model and resolution (several rows of one,
    e.g. a compiled timing apart, merged), with the cached sampler's speed-up over the naive
    one where both were timed."""
    speeds = pd.DataFrame(rows).groupby(SPEED_INDEX, sort=False).first()
    if NAIVE in speeds and CACHED in speeds:
        speeds[SPEED_UP] = speeds[NAIVE] / speeds[CACHED]
    return speeds


def speed_comparison(speeds: pd.DataFrame) -> pd.DataFrame:
    """§4.2's comparison at 128x128: seconds per pixel of the Pyramid PixelCNN 8→128 and of
    a cached PixelCNN++, the paper's (Titan X; its pyramid without caching, windowed) and
    ours (the device of ``speeds``: a :func:`sampling_speeds` table with both 128x128 rows),
    one row per sampler of the pyramid that was timed, and the ratio PixelCNN++ / pyramid.
    The compiled pyramid is held against the PixelCNN++ compiled alike, where it was timed."""
    r = COMPARISON_RESOLUTION
    face, pixelcnnpp = speeds.loc[("pyramid", r)], speeds.loc[("pixelcnnpp", r)]
    methods = [column for column in OURS_SPEEDS if not pd.isna(face.get(column))]
    against = {column: CACHED for column in methods} | (
        {COMPILED: COMPILED} if not pd.isna(pixelcnnpp.get(COMPILED)) else {}
    )
    comparison = pd.DataFrame(
        {
            PYRAMID_SPEED: [
                paper.SECONDS_PER_PIXEL["pyramid"],
                *(face[column] for column in methods),
            ],
            PIXELCNNPP_SPEED: [
                paper.SECONDS_PER_PIXEL["pixelcnnpp"],
                *(pixelcnnpp[against[column]] for column in methods),
            ],
        },
        index=[PAPER_SPEEDS, *(OURS_SPEEDS[column] for column in methods)],
    )
    comparison[SPEED_RATIO] = comparison[PIXELCNNPP_SPEED] / comparison[PYRAMID_SPEED]
    return comparison


def training_note(kind: str, preset: str) -> str:
    """How long the committed run of ``kind`` at ``preset`` trained, e.g.
    "trained 60 min in all (epochs: aux 0.51, cond 0.87)"."""
    path = registry.run_dir(kind, preset)
    if not (path / "run.json").is_file():
        return "not trained yet"
    summary = training_summary(path)
    minutes = sum(part["minutes"] for part in summary.values())
    epochs = ", ".join(f"{name} {part['epochs']:g}" for name, part in summary.items())
    return f"trained {round(minutes, 1):g} min in all (epochs: {epochs})"


def paper_speed_summary() -> str:
    """§4.2's claim: pyramid (no caching) vs cached PixelCNN++ seconds per pixel on a Titan X."""
    pyramid, pixelcnnpp = paper.SECONDS_PER_PIXEL["pyramid"], paper.SECONDS_PER_PIXEL["pixelcnnpp"]
    return f"{pyramid:g} vs {pixelcnnpp:g} ({pixelcnnpp / pyramid:.1f}x)"


def speed_summary(comparison: pd.DataFrame) -> str:
    """Ours in :func:`paper_speed_summary`'s form, per sampler of the pyramid that a
    :func:`speed_comparison` table has (window, cached, compiled; not the naive one)."""
    shown = [
        (column.split(" ")[0], comparison.loc[OURS_SPEEDS[column]])
        for column in (WINDOW, CACHED, COMPILED)
        if OURS_SPEEDS[column] in comparison.index
    ]
    return "; ".join(
        f"{name} {row[PYRAMID_SPEED]:.4f} vs {row[PIXELCNNPP_SPEED]:.4f} ({row[SPEED_RATIO]:.2g}x)"
        for name, row in shown
    )
