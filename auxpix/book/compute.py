"""The claims at every compute: each CIFAR-10 gap the paper claims, read off the committed runs'
own training curves at 15, 30, 60 and 120 minutes of equal compute, and whether it shrinks,
holds or grows (chapter 00's compute panel).

Every run scored its averaged weights on the first 500 JPEG-decoded test images every 100
steps (``metrics.jsonl``: test bits/dim against the part's wall-clock seconds). A model of
several parts trained them one after another, each for its share of the model's budget
(``auxpix.budgets``), so *t minutes of compute* means the parts' seconds summed: each part at
its share of t (the share of the run's seconds it had), read off its curve by interpolation.
These are snapshots of the 120-minute runs, whose learning rates fall to 5 % only at the end,
not runs trained for t minutes: a shorter run of its own would score somewhat lower.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..runs import METRICS_FILE, read_metrics
from . import registry, tables

MINUTES = (15, 30, 60, 120)
EVERY = tuple(range(10, 121, 5))  # the minutes the panel's plot draws
NO_RUNS = "The compute panel needs the CIFAR-10 runs at preset {preset!r}; one is missing."
# The runs the gaps compare (chapter 01's), by their name in the panel.
PIXELCNNPP, GRAYSCALE, PYRAMID = "PixelCNN++", "Grayscale PixelCNN", "Pyramid PixelCNN 8→32"
RUNS = {
    PIXELCNNPP: ("pixelcnnpp", ""),
    GRAYSCALE: ("grayscale", ""),
    PYRAMID: ("pyramid", "-cifar"),
}
GRAY_GAP = "Grayscale − PixelCNN++, bits/dim"
PYRAMID_GAP = "Pyramid − PixelCNN++, bits/dim"
AUX_SHARE = "p(X̂) share of the Grayscale PixelCNN's bits"
TITLES = {
    GRAY_GAP: "Grayscale − PixelCNN++",
    PYRAMID_GAP: "Pyramid − PixelCNN++",
    AUX_SHARE: "p(X̂)'s share",
}
# Criterion, set before the numbers: a gap shrinks (grows) when it ends smaller (larger) than
# it started by more than this; else it holds.
STILL = {GRAY_GAP: 0.02, PYRAMID_GAP: 0.02, AUX_SHARE: 0.005}
PAPER_GAPS = {
    GRAY_GAP: tables.paper_cifar10_bpd("grayscale") - tables.paper_cifar10_bpd("pixelcnnpp"),
    PYRAMID_GAP: tables.paper_cifar10_bpd("pyramid") - tables.paper_cifar10_bpd("pixelcnnpp"),
    AUX_SHARE: tables.paper_aux_share(),
}


def parts(run: Path) -> list[str]:
    """The parts of the run at ``run`` that logged metrics."""
    return sorted(p.name for p in Path(run).iterdir() if (p / METRICS_FILE).is_file())


def shares(run: Path) -> dict[str, float]:
    """Each part's share of the run's training seconds (its last metrics record's)."""
    seconds = {part: read_metrics(run, part)[-1]["seconds"] for part in parts(run)}
    return {part: s / sum(seconds.values()) for part, s in seconds.items()}


def weights(run: Path) -> dict[str, float]:
    """What each part's bits/dim weigh in the whole image's: 1 for a Grayscale PixelCNN's or
    PixelCNN++'s (per colour dimension of the image); (r / R)² for a pyramid level r of an
    R x R image (per dimension of its own r x r image)."""
    names = parts(run)
    if not all(name.isdigit() for name in names):
        return dict.fromkeys(names, 1.0)
    top = max(int(name) for name in names)
    return {name: (int(name) / top) ** 2 for name in names}


def part_bpd(run: Path, part: str, seconds: float) -> float:
    """Test bits/dim of part ``part`` after ``seconds`` of its training, interpolated between
    its evaluations (NaN outside them)."""
    tested = [(m["seconds"], m["test_bpd"]) for m in read_metrics(run, part) if "test_bpd" in m]
    x, y = zip(*tested)
    if math.isclose(seconds, x[-1], rel_tol=1e-9):  # its end, up to the rounding of the shares
        seconds = x[-1]
    return float(np.interp(seconds, x, y, left=math.nan, right=math.nan))


def at_compute(run: Path, minutes: float) -> dict[str, float]:
    """{part: its test bits/dim, "total": the whole image's} of the run at ``run`` after
    ``minutes`` of compute, each part at its share of them."""
    found = {part: part_bpd(run, part, 60 * minutes * share) for part, share in shares(run).items()}
    total = sum(found[part] * weight for part, weight in weights(run).items())
    return found | {"total": total}


def curves(preset: str, minutes=MINUTES) -> dict[str, list[dict]] | None:
    """{model: [:func:`at_compute` at each of ``minutes``]} for the runs at ``preset``, or
    None when one is missing."""
    paths = {name: registry.run_dir(kind, preset + suffix) for name, (kind, suffix) in RUNS.items()}
    if not all((path / "run.json").is_file() for path in paths.values()):
        return None
    return {name: [at_compute(path, t) for t in minutes] for name, path in paths.items()}


def gaps(found: dict[str, list[dict]], minutes=MINUTES) -> pd.DataFrame:
    """The claimed gaps (rows) at each of ``minutes`` of equal compute (columns), the paper's
    beside them."""
    plain = [point["total"] for point in found[PIXELCNNPP]]
    gray = found[GRAYSCALE]
    rows = {
        GRAY_GAP: [g["total"] - p for g, p in zip(gray, plain)],
        PYRAMID_GAP: [y["total"] - p for y, p in zip(found[PYRAMID], plain)],
        AUX_SHARE: [g["aux"] / g["total"] for g in gray],
    }
    table = pd.DataFrame(rows, index=[at(t) for t in minutes]).T
    table[tables.PAPER] = [PAPER_GAPS[row] for row in table.index]
    return table


def at(minutes: float) -> str:
    """The column of a gap after ``minutes`` of compute."""
    return f"{minutes:g} min"


def bits_table(found: dict[str, list[dict]], minutes=MINUTES) -> pd.DataFrame:
    """Each model's whole-image test bits/dim (rows) at each of ``minutes`` (columns)."""
    return pd.DataFrame(
        {name: [point["total"] for point in points] for name, points in found.items()},
        index=[at(t) for t in minutes],
    ).T


def trend(row: pd.Series, still: float) -> str:
    """ "shrinks", "holds" or "grows": from the first minutes to the last, by more than ``still``."""
    values = row.drop(tables.PAPER).dropna()
    change = values.iloc[-1] - values.iloc[0]
    return "holds" if abs(change) <= still else "shrinks" if change < 0 else "grows"


def _show(row: str, value: float) -> str:
    return f"{value:.1%}" if row == AUX_SHARE else f"{value:+.3f}"


def _by(row: str, change: float) -> str:
    return f"{100 * abs(change):.1f} points" if row == AUX_SHARE else f"{abs(change):.3f}"


def reading(table: pd.DataFrame) -> str:
    """What the panel says: each gap's path over the minutes, whether it shrinks, holds or
    grows (by more than ``STILL``) and by how much, over the last step too, and whether it
    moves toward the paper's."""
    sentences = []
    for row, values in table.iterrows():
        ours = values.drop(tables.PAPER).dropna()
        if len(ours) < 2:
            sentences.append(f"{row}: the runs' curves reach fewer than two of these minutes.")
            continue
        path = " → ".join(_show(row, v) for v in ours)
        moved = trend(values, STILL[row])
        paper = values[tables.PAPER]
        toward = abs(ours.iloc[-1] - paper) < abs(ours.iloc[0] - paper)
        text = f"{row}: {path} at {', '.join(ours.index)}: it **{moved}**"
        if moved != "holds":
            text += (
                f" by {_by(row, ours.iloc[-1] - ours.iloc[0])} ({_by(row, ours.iloc[-1] - ours.iloc[-2])} "
                f"from {ours.index[-2]} to {ours.index[-1]})"
            )
        text += f", {'toward' if toward else 'away from'} the paper's {_show(row, paper)}"
        if row == AUX_SHARE:
            text += f" (X̂'s share of the raw bits: {tables.RAW_BIT_SHARE:.1%})"
        sentences.append(text + ".")
    return (
        " ".join(sentences)
        + " A change of at most "
        + ", ".join(f"{_by(row, still)} ({row.split(',')[0]})" for row, still in STILL.items())
        + " counts as holding."
    )


def plot(table: pd.DataFrame):
    """Each gap of a :func:`gaps` table against minutes of equal compute (log scale), the
    paper's as a dashed line, X̂'s share of the raw bits beside p(X̂)'s share."""
    fig, axes = plt.subplots(1, len(table), figsize=(7, 2.6), squeeze=False)
    minutes = [float(column.split()[0]) for column in table.columns.drop(tables.PAPER)]
    for ax, (row, values) in zip(axes[0], table.iterrows()):
        scale = 100 if row == AUX_SHARE else 1
        ax.plot(minutes, values.drop(tables.PAPER) * scale, "o-", ms=3, label="ours")
        ax.axhline(values[tables.PAPER] * scale, color="gray", ls="--", lw=1, label="paper")
        if row == AUX_SHARE:
            ax.axhline(100 * tables.RAW_BIT_SHARE, color="C3", ls=":", lw=1, label="raw bits")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(MINUTES, [f"{t:g}" for t in MINUTES])
        ax.set_title(TITLES[row], fontsize=9)
        ax.set_xlabel("minutes of compute", fontsize=8)
        ax.set_ylabel("% of the bits" if row == AUX_SHARE else "bits/dim", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
