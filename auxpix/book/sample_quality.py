"""Chapter 06, sample quality: which models and baselines it scores, the samples it keeps, and
its table, plots and reading (the scores themselves are :mod:`auxpix.scores`, on the outputs
of :mod:`auxpix.classifier`).

Every row of the chapter is an *entry*: {"label", "group" ("calibration" or "model"),
"images" (uint8 [N, 3, 32, 32], or None when there are none), "seconds" (how long sampling
took; None for calibration images that are not sampled), "status" ("scored", or why there
are no images: "does not load", "not trained") and "note" (the details)}.

A model's samples take minutes to hours to draw, so they are kept in
``<results>/quality/samples/<preset>/`` with the identity of the weights they came from (the
checkpoint folder of every part), the number, seed and sampling options; the chapter draws
them again only when one of these changes (or when asked), and otherwise re-scores the kept
samples in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import scores
from ..classifier import predict
from ..errors import ArchitectureError, AuxpixError, one_line
from ..runs import RUN_FILE, load_run
from ..sampling_io import image_grid
from . import plots, registry

REAL = "real test images"
COLORIZED = "real images, 4-bit gray colorized by the Grayscale PixelCNN"
BLURRED = "blurred real images (Gaussian, σ = 1 pixel)"
MARGINAL = "per-pixel marginal draws"
BLUR_SIGMA = 1.0
PIXELCNNPP, GRAYSCALE = "PixelCNN++", "Grayscale PixelCNN"
CALIBRATION, MODEL = "calibration", "model"
SCORED = "scored"
DOES_NOT_LOAD = "does not load"  # a problem with a run, said without stopping the chapter
# Why a run saved by another version of auxpix does not load.
OUTDATED = (
    "its saved config or weights do not fit this version's model: train it again (How to reproduce)"
)
NOT_TRAINED = "not trained"
DECISIVE = 2.0  # a difference counts when it exceeds twice the combined spread of the two scores
# A sample "resembles an object" when the classifier assigns it a class with at least this
# confidence (its largest class probability).
CONFIDENT = 0.9

CLASSIFIER_SCORE, FRECHET = "classifier score", "Fréchet distance"
CONFIDENT_COLUMN = f"share with confidence ≥ {CONFIDENT:g}"
SPREAD = "± (bootstrap std)"
# The book's classifier, committed with the repository (the library takes its folder as a path).
CLASSIFIER_DIR = Path(__file__).resolve().parents[2] / "results" / "quality"


@dataclass(frozen=True)
class ModelRow:
    """A model and how the chapter samples it: ``preset_suffix`` picks the run (the pyramid's
    CIFAR-10 runs are ``<preset>-cifar``), ``options`` go to its ``sample``."""

    label: str
    kind: str
    preset_suffix: str = ""
    options: dict = field(default_factory=dict)


# Plain ancestral sampling for every model; MAP for the pyramid, as the paper samples it (Figure 5).
MODEL_ROWS = (
    ModelRow(PIXELCNNPP, "pixelcnnpp"),
    ModelRow(GRAYSCALE, "grayscale"),
    ModelRow("Pyramid PixelCNN 8→32", "pyramid", "-cifar"),
    ModelRow("Pyramid PixelCNN 8→32, MAP", "pyramid", "-cifar", {"map": True}),
)


# --------------------------------------------------------------------------- entries


def entry(
    label: str, group: str, images=None, seconds=None, status: str = SCORED, note: str = ""
) -> dict:
    return {
        "label": label,
        "group": group,
        "images": images,
        "seconds": seconds,
        "status": status,
        "note": note,
    }


def calibration_entries(
    test: torch.Tensor, train: torch.Tensor, n: int, *, seed: int = 0
) -> list[dict]:
    """Real test images (the ``n`` after the ``n`` reference ones, so never the reference
    itself), the same images blurred, and draws from the training set's per-pixel marginal."""
    real = real_images(test, n)
    return [
        entry(REAL, CALIBRATION, real),
        entry(BLURRED, CALIBRATION, scores.blurred(real, BLUR_SIGMA)),
        entry(MARGINAL, CALIBRATION, scores.marginal_draws(train, n, seed=seed)),
    ]


def reference_images(test: torch.Tensor, n: int) -> torch.Tensor:
    """The ``n`` test images every row is compared with: the first ones."""
    return _slice(test, 0, n)


def real_images(test: torch.Tensor, n: int) -> torch.Tensor:
    """The real images scored as a row: the ``n`` test images after the reference ones."""
    return _slice(test, n, 2 * n)


def _slice(test: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    if len(test) < stop:
        raise ValueError(
            f"n = {stop - start} needs {2 * (stop - start)} test images (reference and real rows), "
            f"there are {len(test)}"
        )
    return test[start:stop]


def run_of(row: ModelRow, preset: str):
    return registry.run_dir(row.kind, preset + row.preset_suffix)


def load_model(row: ModelRow, preset: str, *, device="cpu"):
    """(the trained model of ``row`` at ``preset``, SCORED, "") or (None, status, why): a run
    that is missing, or one that does not load (saved by another version of auxpix, or
    damaged), which the chapter reports instead of stopping."""
    path = run_of(row, preset)
    if not (path / RUN_FILE).is_file():
        return None, NOT_TRAINED, f"no run in {path}"
    try:
        return load_run(path, device=device), SCORED, ""
    except ArchitectureError:
        return None, DOES_NOT_LOAD, OUTDATED
    except AuxpixError as e:
        return None, DOES_NOT_LOAD, one_line(e)[:200]


def model_entries(
    preset: str,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 100,
    device="cpu",
    colorize: torch.Tensor | None = None,
    resample: bool = False,
    progress: bool = True,
    rows=MODEL_ROWS,
) -> list[dict]:
    """One entry per model row, with its ``n`` samples (kept, or drawn now); and, when the
    Grayscale PixelCNN loads and ``colorize`` (real images) is given, the calibration row of
    those images' 4-bit grays colorized by it."""
    entries, loaded = [], {}
    for row in rows:
        if (row.kind, row.preset_suffix) not in loaded:
            loaded[row.kind, row.preset_suffix] = load_model(row, preset, device=device)
        model, status, note = loaded[row.kind, row.preset_suffix]
        if model is None:
            entries.append(entry(row.label, MODEL, status=status, note=note))
            continue
        images, seconds = kept_samples(
            row.label,
            model,
            run_of(row, preset),
            preset,
            n,
            seed=seed,
            batch_size=batch_size,
            resample=resample,
            progress=progress,
            **row.options,
        )
        entries.append(entry(row.label, MODEL, images, seconds))
    grayscale = loaded.get(("grayscale", ""), (None,))[0]
    if grayscale is not None and colorize is not None:
        images, seconds = kept_samples(
            COLORIZED,
            grayscale,
            run_of(ModelRow(GRAYSCALE, "grayscale"), preset),
            preset,
            len(colorize),
            seed=seed,
            batch_size=batch_size,
            resample=resample,
            progress=progress,
            colorize=colorize,
        )
        entries.append(entry(COLORIZED, CALIBRATION, images, seconds))
    return entries


def kept_samples(
    label: str,
    model,
    run_dir,
    preset: str,
    n: int,
    *,
    seed: int,
    batch_size: int,
    resample: bool = False,
    progress: bool = True,
    colorize: torch.Tensor | None = None,
    **options,
) -> tuple[torch.Tensor, float]:
    """(``n`` samples of ``model``, the seconds they took to draw): the kept ones when they
    came from the same weights, number, seed and options; else drawn now and kept
    (:func:`~auxpix.book.registry.kept_samples`).
    ``colorize``: real images whose 4-bit grays a Grayscale PixelCNN colorizes instead."""
    sampler = dict(batch_size=batch_size, seed=seed, progress=progress, **options)

    def sample():
        if colorize is not None:
            return {"images": scores.colorized(model, colorize, **sampler)[0]}
        return {"images": scores.sample_images(model, n, **sampler)[0]}

    path = registry.results_dir() / "quality" / "samples" / preset / f"{registry.slug(label)}.npz"
    kept, seconds = registry.kept_samples(
        path,
        run_dir,
        sample,
        resample=resample,
        n=n,
        seed=seed,
        colorized=colorize is not None,
        **options,
    )
    return kept["images"], seconds


def report_entries(entries: list[dict]) -> str:
    """One line per entry: how many images it has, how long they took, or why it has none."""
    lines = []
    for e in entries:
        if e["images"] is None:
            lines.append(f"{e['label']}: {e['status']} ({e['note']})")
        else:
            took = f", sampled in {e['seconds']:.0f} s" if e["seconds"] is not None else ""
            lines.append(f"{e['label']}: {len(e['images'])} images{took}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- scores and tables


def score_rows(
    classifier, reference: torch.Tensor, entries: list[dict], *, bootstrap: int = 50, seed: int = 0
) -> list[dict]:
    """Both scores of every entry with images against ``reference``, and the share of its
    images the classifier is confident about (:func:`confident_share`); plain dicts (recordable)."""
    fit = scores.reference_fit(classifier, reference)
    rows = []
    for e in entries:
        row = {key: e[key] for key in ("label", "group", "status", "note")} | {
            "sample_seconds": e["seconds"]
        }
        if e["images"] is not None:
            row |= scores.score_images(classifier, e["images"], fit, bootstrap=bootstrap, seed=seed)
            row |= confident_share(predict(classifier, e["images"])[0])
        rows.append(row)
    return rows


def confident_share(probabilities: np.ndarray) -> dict:
    """{"confident_share": the share of images whose most likely class has probability at least
    CONFIDENT, "confident_share_std": its binomial standard error}."""
    share = float((probabilities.max(axis=1) >= CONFIDENT).mean())
    return {
        "confident_share": share,
        "confident_share_std": math.sqrt(share * (1 - share) / len(probabilities)),
    }


def scored(row: dict | None) -> bool:
    return row is not None and "classifier_score" in row


def quality_table(rows: list[dict]) -> pd.DataFrame:
    """Calibration rows first, then the models: both scores with their spread, or why a row has none."""
    ordered = [r for r in rows if r["group"] == CALIBRATION] + [
        r for r in rows if r["group"] == MODEL
    ]
    records = []
    for r in ordered:
        record = {"row": r["label"], "kind": r["group"], "status": r["status"]}
        if scored(r):
            record |= {
                "N": r["n"],
                CLASSIFIER_SCORE: round(r["classifier_score"], 2),
                f"{CLASSIFIER_SCORE} {SPREAD}": round(r.get("classifier_score_std", math.nan), 2),
                FRECHET: round(r["frechet_distance"], 1),
                f"{FRECHET} {SPREAD}": round(r.get("frechet_distance_std", math.nan), 1),
                CONFIDENT_COLUMN: round(r.get("confident_share", math.nan), 3),
            }
        records.append(record)
    table = pd.DataFrame(records).set_index("row")
    return table.astype({"N": "Int64"}) if "N" in table else table


def timing_table(rows: list[dict]) -> pd.DataFrame:
    """How long each model's samples took to draw: seconds for its N images and per image, or
    why it has none."""
    records = []
    for r in (r for r in rows if r["group"] == MODEL or r["sample_seconds"] is not None):
        record = {"row": r["label"], "status": r["status"]}
        if scored(r) and r["sample_seconds"] is not None:
            record |= {
                "N": r["n"],
                "sampling seconds": round(r["sample_seconds"], 1),
                "seconds per image": round(r["sample_seconds"] / r["n"], 3),
            }
        records.append(record)
    columns = ["row", "status", "N", "sampling seconds", "seconds per image"]
    return pd.DataFrame(records, columns=columns).set_index("row").astype({"N": "Int64"})


def classifier_table(info: dict) -> pd.DataFrame:
    """The classifier: its network, size, training and accuracy on both test sets, from its JSON."""
    config = info["config"]
    widths, residual = config["widths"], config["residual"]
    stages = ", ".join(
        f"{w}" + (f" + {r} residual" if r else "") for w, r in zip(widths[1:], residual)
    )
    rows = {
        "network": f"ResNet-9 style: stem {config['widths'][0]} channels; stages {stages}; max-pool, linear",
        "parameters": f"{info['parameters']:,}",
        "training": (
            f"{info['steps']} steps of {config['batch_size']} ({config['epochs']} epochs), "
            f"{info['minutes']:.1f} min on {info['threads']} thread(s), "
            f"{info['images_per_second']:.0f} images/s"
        ),
        "data": info["data"],
        "test accuracy, JPEG-decoded (10,000)": f"{info['test_accuracy']['cifar10']:.2%}",
        "test accuracy, exact pixels (1,000)": f"{info['test_accuracy']['cifar10-lossless']:.2%}",
    }
    return pd.DataFrame({"quality classifier": rows})


# --------------------------------------------------------------------------- figures


def plot_scores(rows: list[dict]):
    """Classifier score against Fréchet distance (log scale), one point per scored row with its
    spread, named in a legend below (labels beside close points would overlap): calibration
    rows grey, each with its own marker; models coloured circles. Better is up and left."""
    fig, ax = plt.subplots(figsize=(7, 5.2))
    colours = iter(f"C{k}" for k in range(10))
    markers = iter("sDv^<>ph")
    for r in (r for r in rows if scored(r)):
        calibration = r["group"] == CALIBRATION
        ax.errorbar(
            r["frechet_distance"],
            r["classifier_score"],
            xerr=r.get("frechet_distance_std"),
            yerr=r.get("classifier_score_std"),
            fmt=next(markers) if calibration else "o",
            color="0.45" if calibration else next(colours),
            capsize=3,
            label=r["label"],
        )
    ax.set(
        xlabel=f"{FRECHET} to the test images (log scale; lower is better)",
        ylabel=f"{CLASSIFIER_SCORE} (higher is better)",
        xscale="log",
    )
    ax.margins(x=0.1, y=0.1)
    ax.legend(
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=2,
        frameon=False,
        title="grey: calibration rows; coloured: models",
        title_fontsize=7,
    )
    fig.tight_layout()
    return fig


def best_and_worst(
    classifier, entries: list[dict], k: int = 8
) -> dict[str, dict[str, torch.Tensor]]:
    """Per entry with images: its ``k`` best- and ``k`` worst-scored images, by each image's
    term of the classifier score, KL(p(y|x) || p(y)) (p(y): that entry's own class mix)."""
    picked = {}
    for e in (e for e in entries if e["images"] is not None):
        probabilities, _ = predict(classifier, e["images"])
        order = np.argsort(-scores.per_image_kl(probabilities), kind="stable")
        picked[e["label"]] = {
            "best": e["images"][order[:k].copy()],
            "worst": e["images"][order[-k:][::-1].copy()],
        }
    return picked


def plot_best_and_worst(picked: dict[str, dict[str, torch.Tensor]]):
    """One row per entry: its best images on the left, its worst on the right, the figure as
    wide as the book's page."""
    width = plots.PAGE_WIDTH
    panel = width / 2 * 36 / 274  # a panel of 8 images of 32 pixels with gaps, 274 x 36 pixels
    fig, axes = plt.subplots(
        len(picked), 2, figsize=(width, len(picked) * (panel + 0.3)), squeeze=False
    )
    for (label, images), row in zip(picked.items(), axes):
        for ax, which in zip(row, ("best", "worst")):
            ax.imshow(image_grid([images[which]]), interpolation="nearest")
            ax.axis("off")
        row[0].set_title(f"{label}: best (left), worst (right)", fontsize=8, loc="left")
    fig.tight_layout()
    return fig
