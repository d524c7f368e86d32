"""Figures for the book: sample grids, training curves, where the bits go, and plots of
the tables of :mod:`auxpix.book.tables`."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

from ..models import AuxiliaryVariableModel
from ..runs import read_metrics
from ..sampling_io import image_grid
from . import tables


def show_blocks(blocks: dict[str, torch.Tensor], *, title: str | None = None, scale: float = 0.06):
    """One labelled image grid per block (e.g. {"4-bit gray": ..., "colour": ...})."""
    grids = {label: image_grid([block.cpu()]) for label, block in blocks.items()}
    width = max(grid.shape[1] for grid in grids.values())
    heights = [grid.shape[0] for grid in grids.values()]
    fig, axes = plt.subplots(
        len(grids),
        1,
        figsize=(max(4, width * scale), sum(heights) * scale + 0.4 * len(grids)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (label, grid) in zip(axes[:, 0], grids.items()):
        ax.imshow(grid, interpolation="nearest")
        ax.set_title(label, fontsize=9, loc="left")
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def training_curves(runs: dict[str, Path], parts: dict[str, list[str]] | None = None):
    """Test bits/dim (averaged weights) and train bits/dim against training minutes, one
    panel per run, one colour per part."""
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.2), squeeze=False)
    for ax, (label, path) in zip(axes[0], runs.items()):
        names = (parts or {}).get(label) or sorted(
            (p.name for p in Path(path).iterdir() if p.is_dir()), key=_natural
        )
        for colour, part in enumerate(names):
            rows = read_metrics(path, part)
            minutes = [r["seconds"] / 60 for r in rows]
            ax.plot(minutes, [r["train_bpd"] for r in rows], color=f"C{colour}", alpha=0.35, lw=0.8)
            test = [(r["seconds"] / 60, r["test_bpd"]) for r in rows if "test_bpd" in r]
            if test:
                ax.plot(*zip(*test), "o-", color=f"C{colour}", ms=3, label=f"{part} (test)")
        ax.set(title=label, xlabel="training minutes", ylabel="bits/dim")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _natural(name: str):
    """Pyramid levels in numeric order (8, 16, 32), other part names after them by name."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def pilot_curves(runs: dict[str, Path], part: str, preset: str):
    """Test bits/dim against training minutes of part ``part`` of a sizing pilot's runs, on one axis."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for label, path in runs.items():
        test = [
            (r["seconds"] / 60, r["test_bpd"]) for r in read_metrics(path, part) if "test_bpd" in r
        ]
        ax.plot(*zip(*test), "o-", ms=2.5, label=label)
    ax.set(
        title=f"part {part}, preset {preset}: the same wall-clock budget",
        xlabel="training minutes",
        ylabel="test bits/dim",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@torch.no_grad()
def bits_per_pixel(model: AuxiliaryVariableModel, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Bits each pixel costs under each part, [B, H, W] per part (parts at the image's size)."""
    model.eval()
    return {
        name: -part.log_prob(*model.part_inputs(name, x), reduction="none") / math.log(2)
        for name, part in model.parts.items()
    }


def bits_heatmaps(images: torch.Tensor, maps: dict[str, torch.Tensor]):
    """Each image beside heatmaps of the bits its pixels cost (one column per map)."""
    n = len(images)
    fig, axes = plt.subplots(
        n, 1 + len(maps), figsize=(2.1 * (1 + len(maps)), 2.1 * n), squeeze=False
    )
    vmax = max(float(m.max()) for m in maps.values())
    for row in range(n):
        axes[row, 0].imshow(images[row].permute(1, 2, 0).cpu().numpy())
        for col, (label, bits) in enumerate(maps.items(), start=1):
            shown = axes[row, col].imshow(bits[row].cpu().numpy(), cmap="magma", vmin=0, vmax=vmax)
            if row == 0:
                axes[row, col].set_title(label, fontsize=9)
        axes[row, 0].set_title("image" if row == 0 else "", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.colorbar(shown, ax=axes, shrink=0.6, label="bits per pixel (3 colour dimensions)")
    return fig


def loss_split(split: pd.DataFrame, preset: str):
    """The bits/dim rows of :func:`~auxpix.book.tables.loss_split`'s table as bars, one colour per column."""
    ax = split.loc[tables.BITS_ROWS].plot.bar(
        figsize=(7, 3), rot=0, ylabel="bits / colour dimension"
    )
    ax.set_title(f"Grayscale PixelCNN, preset {preset}: the split of the likelihood")
    return ax.figure


def pyramid_table(table2: pd.DataFrame, preset: str):
    """Table 2's columns against resolution: ours (whole image, and each level's own bits) and the paper's."""
    ax = table2.plot(marker="o", figsize=(6, 3.2), ylabel="bits/dim", rot=0)
    ax.set_title(f"Bits/dim against resolution: our pyramid ({preset}) and the paper's", fontsize=9)
    return ax.figure


def sample_statistics(stats: pd.DataFrame):
    """Each column of :func:`~auxpix.book.tables.sample_statistics` against the log-scale
    reduction, with the MAP samples' and the real faces' values as lines."""
    shifts = stats.drop(index=[tables.MAP, tables.REAL_FACES])
    axes = shifts.plot(
        subplots=True, figsize=(7, 4), marker="o", legend=False, title=list(stats.columns)
    )
    for ax, column in zip(axes, stats.columns):
        ax.axhline(
            stats.loc[tables.REAL_FACES, column],
            color="gray",
            ls="--",
            lw=1,
            label=tables.REAL_FACES,
        )
        ax.axhline(stats.loc[tables.MAP, column], color="C3", ls=":", lw=1, label=tables.MAP)
    axes[0].legend(fontsize=8)
    return axes[0].figure


def pyramid_speeds(speeds: pd.DataFrame, compute: str):
    """Seconds per pixel of the pyramid against its top resolution, one line per sampler timed (log-log)."""
    levels = speeds.loc[
        "pyramid",
        [column for column in (tables.NAIVE, tables.CACHED, tables.WINDOW) if column in speeds],
    ]
    ax = levels.plot(
        logx=True,
        logy=True,
        marker="o",
        figsize=(6, 3.5),
        xticks=levels.index,
        ylabel="seconds per pixel",
    )
    ax.set_xticklabels([tables.resolution_label(r) for r in levels.index])
    ax.set_title(f"Pyramid PixelCNN (paper architecture), batch 1, {compute}", fontsize=9)
    return ax.figure
