"""The tables of the book: our numbers beside the paper's, each row saying what it measured.

The notebooks call these with trained models and test images; every table is a pandas
DataFrame whose paper columns come from :mod:`auxpix.paper`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from . import experiments, paper, plots
from .evaluate import evaluate
from .models import from_config
from .runs import read_run

STATUS_NOTEBOOKS = ("cifar10_likelihoods", "celeba_pyramid", "variance_reduction", "sampling_speed", "grayscale_samples")


def _minutes(summary: dict) -> str:
    return " + ".join(f"{part} {s['minutes']:g} min / {s['epochs']:g} ep" for part, s in summary.items())


def evaluate_all(models: dict, datasets: dict[str, torch.Tensor]) -> dict:
    """``{model name: {data name: evaluate(model, images)}}``, each pair scored once."""
    return {name: {label: evaluate(model, x, progress=False) for label, x in datasets.items()} for name, model in models.items()}


def cifar10_table(scores: dict, paper_bpd: dict, runs: dict) -> pd.DataFrame:
    """Table 1 for our models: total test bits/dim on each data set, the paper's number,
    and the preset and training behind ours."""
    rows = []
    for name, by_data in scores.items():
        row = {"model": name}
        row.update({f"ours: {label} ({r['n_images']} img)": r["bpd"]["total"] for label, r in by_data.items()})
        row["paper (exact test set)"] = paper_bpd[name]
        row["preset"] = read_run(runs[name])["preset"]
        row["training"] = _minutes(experiments.training_summary(runs[name]))
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def loss_split(scores: dict, train_aux_bpd: float) -> pd.DataFrame:
    """The Grayscale PixelCNN's bits per colour dimension — p(X̂) on train and test, p(X | X̂),
    the total, p(X̂)'s share — one column per test set, beside the paper's section 4.1.
    ``scores``: {data name: evaluate(...)} on test sets; ``train_aux_bpd``: p(X̂)'s bits/dim
    on training images (shown in the first column)."""
    index = ["p(X̂), train", "p(X̂), test", "p(X | X̂), test", "total, test", "p(X̂) share of the total, test"]
    columns = {}
    for label, result in scores.items():
        bpd = result["bpd"]
        train_aux = train_aux_bpd if label == next(iter(scores)) else None
        columns[f"ours: {label} ({result['n_images']} img)"] = [
            train_aux, bpd["aux"], bpd["cond"], bpd["total"], bpd["aux"] / bpd["total"]
        ]
    split = paper.GRAYSCALE_SPLIT
    columns["paper"] = [
        split["aux_train"], split["aux_test"], split["cond_test"], split["total_test"], split["aux_test"] / split["total_test"]
    ]
    return pd.DataFrame(columns, index=index)


def pyramid_table(model, test: torch.Tensor) -> pd.DataFrame:
    """Table 2: per resolution r, the level's conditional bits/dim -log p(X_r | X_r/2) / 3r²
    (for the lowest level, -log p(X_8) / 3·8²), and the whole image's -log p(X_r) / 3r²."""
    result = evaluate(model, test, progress=False)
    sizes = model.config.resolutions
    return pd.DataFrame(
        {
            "ours: level | level below": [result["bpd"][str(r)] for r in sizes],
            "ours: whole image at r": [result["bpd_by_resolution"][str(r)] for r in sizes],
            "paper": [paper.TABLE2.get(r) for r in sizes],
        },
        index=[f"{r}x{r}" for r in sizes],
    )


def sizing_pilot(runs: dict, part: str, minutes=None) -> pd.DataFrame:
    """Networks for part ``part`` trained for the same wall-clock budget, side by side: their
    size and speed, and the test bits/dim (averaged weights, the runs' test subset) each had
    reached after each of ``minutes`` (default: each quarter of the first run's budget;
    interpolated between the runs' evaluations, which are minutes apart)."""
    if minutes is None:
        budget = round(plots.read_metrics(next(iter(runs.values())), part)[-1]["seconds"] / 60)
        minutes = [budget * quarter / 4 for quarter in (1, 2, 3, 4)]
    rows = []
    for label, path in runs.items():
        config = read_run(path)["config"]
        metrics = plots.read_metrics(path, part)
        seconds, bpd = zip(*[(m["seconds"], m["test_bpd"]) for m in metrics if "test_bpd" in m])
        last = metrics[-1]
        row = {"network": label,
               "parameters": sum(p.numel() for p in from_config(config).parts[part].parameters()),
               "images/s": last["step"] * config.train.batch_size / last["seconds"],
               "steps": last["step"], "epochs": last["epoch"]}
        for t in minutes:  # between two evaluations: interpolated; outside them: none
            row[f"test bpd at {t:g} min"] = np.interp(t * 60, seconds, bpd, left=np.nan, right=np.nan)
        rows.append(row)
    return pd.DataFrame(rows).set_index("network")


def sizing_reading(sizing: pd.DataFrame) -> str:
    """A sentence on a :func:`sizing_pilot` table: which network won the budget, by how much,
    and whether its lead grew or shrank over the budget."""
    tested = [column for column in sizing.columns if column.startswith("test bpd")]
    first, final = tested[0], tested[-1]
    best = sizing[final].idxmin()
    lead = {column: sizing[column].drop(best).min() - sizing.loc[best, column] for column in (first, final)}
    when = {column: column.split(" at ")[1] for column in (first, final)}
    others = ", ".join(f"{name}: {value:.3f}" for name, value in sizing[final].items() if name != best)
    if lead[first] < 0:
        trend = f"It was {-lead[first]:.2f} bits/dim behind after {when[first]} and overtook the others later."
    elif lead[final] < lead[first]:
        trend = (f"Its lead shrinks from {lead[first]:.2f} bits/dim after {when[first]} to {lead[final]:.2f} after "
                 f"{when[final]}: with a longer budget another network may win.")
    else:
        trend = f"Its lead grows from {lead[first]:.2f} bits/dim after {when[first]} to {lead[final]:.2f} after {when[final]}."
    return (f"After {when[final]}, **{best}** has the lowest test bits/dim ({sizing.loc[best, final]:.3f}; {others}). "
            + ("The preset uses it. " if "(the preset)" in best else
               "The preset does not use it: its committed runs were trained before this pilot. ") + trend)


def sharpness(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute Laplacian of the luma per image: high for crisp edges and noise, low for blur."""
    luma = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).float()
    lap = 4 * luma[:, 1:-1, 1:-1] - luma[:, :-2, 1:-1] - luma[:, 2:, 1:-1] - luma[:, 1:-1, :-2] - luma[:, 1:-1, 2:]
    return lap.abs().mean(dim=(1, 2))


def status_table(preset: str) -> pd.DataFrame:
    """Every table and figure of the paper: the paper's value, ours at ``preset`` (from the
    notebooks' records), the gap, why there is one, and the data and compute behind ours."""
    records = {name: experiments.recorded(name, preset) for name in STATUS_NOTEBOOKS}
    trained = {kind: training_note(kind, preset) for kind in ("grayscale", "pixelcnnpp", "pyramid")}
    trained["pyramid-cifar"] = training_note("pyramid", f"{preset}-cifar")
    cifar = "trained on the JPEG-decoded copy; scored on exact pixels"
    rows = []

    def add(what, theirs, name, key, *, fmt="{:.3f}", paper_value=None, why="", why_absent=""):
        rec = records[name]
        value = rec["values"].get(key) if rec else None
        if rec is None:
            ours = "not run yet"
        elif value is None:
            ours = "not in this preset"
        else:
            ours = fmt.format(value)
        numeric = isinstance(value, (int, float)) and paper_value is not None
        rows.append({
            "paper item": what, "paper": theirs, "ours": ours,
            "gap (ours − paper)": fmt.replace("{:", "{:+", 1).format(value - paper_value) if numeric else "",
            "why the gap": (why if value is not None else why_absent) if rec else "",
            "preset; data; compute": f"{preset}; {rec['data']}; {rec['compute']}" if rec else "",
        })  # fmt: skip

    gray_why = f"compute: {trained['grayscale']} (paper: 30 + 200 epochs on GPUs); data: {cifar}"
    add("Table 1: Grayscale PixelCNN, bits/dim", "≤ 2.98", "cifar10_likelihoods", "grayscale_total_exact",
        paper_value=2.98, why=gray_why)  # fmt: skip
    add("Table 1: PixelCNN++, bits/dim", "2.92", "cifar10_likelihoods", "pixelcnnpp_total_exact", paper_value=2.92,
        why=f"compute: {trained['pixelcnnpp']} (paper: a PixelCNN++ trained for days on GPUs); data: {cifar}")
    add("§4.2: Pyramid PixelCNN on CIFAR-10, bits/dim", "3.32", "cifar10_likelihoods", "pyramid_total_exact",
        paper_value=paper.PYRAMID_CIFAR10, why=f"compute: {trained['pyramid-cifar']} (paper: GPUs); data: {cifar}")
    add("§4.1: p(X̂) train / test, bits/dim", "0.442 / 0.459", "cifar10_likelihoods", "aux_train_test", fmt="{}",
        why=gray_why)
    add("§4.1: p(X | X̂), bits/dim", "2.52", "cifar10_likelihoods", "cond_test",
        paper_value=paper.GRAYSCALE_SPLIT["cond_test"], why=gray_why)
    add("§4.1: p(X̂) share of the bits", "15 %", "cifar10_likelihoods", "aux_share", fmt="{:.0%}",
        paper_value=paper.GRAYSCALE_SPLIT["aux_test"] / paper.GRAYSCALE_SPLIT["total_test"], why=gray_why)
    celeba_why = (f"compute: {trained['pyramid']} (paper: 60 epochs on GPUs); "
                  "data: our 6,097 CelebA faces of 200 people (paper: 202,599)")  # fmt: skip
    for r, value in paper.TABLE2.items():
        add(f"Table 2: CelebA {r}x{r}, bits/dim", f"{value}", "celeba_pyramid", f"level_{r}", paper_value=value,
            why=celeba_why, why_absent=f"this preset's pyramid stops below {r}x{r} (compute: see How to reproduce)")
    pictures = "pictures: compare them in the chapter"
    add("Figures 2–3: grayscale samples, colorization", "images", "grayscale_samples", "figures", fmt="{}",
        why=f"{pictures}; {trained['grayscale']}")
    add("Figure 4: variance reduction", "images", "variance_reduction", "figures", fmt="{}",
        why=f"{pictures}; {trained['pyramid']}")
    add("Figures 5–6: MAP samples, pyramid levels", "images", "celeba_pyramid", "figures", fmt="{}",
        why=f"{pictures}; {trained['pyramid']}")
    add("§4.2: s/pixel, Pyramid vs PixelCNN++ (ratio)", "0.004 vs 0.05 (12.5x)", "sampling_speed", "summary",
        fmt="{}", why="device: ours is timed on the device named here, the paper's on a Titan X GPU")
    return pd.DataFrame(rows).set_index("paper item")


def training_note(kind: str, preset: str) -> str:
    """How long the committed run of ``kind`` at ``preset`` trained, e.g. "trained 60 min (2.1 epochs)"."""
    path = experiments.run_dir(kind, preset)
    if not (path / "run.json").is_file():
        return "not trained yet"
    summary = experiments.training_summary(path)
    minutes = sum(part["minutes"] for part in summary.values())
    epochs = ", ".join(f"{name} {part['epochs']:g}" for name, part in summary.items())
    return f"trained {round(minutes, 1):g} min in all (epochs: {epochs})"
