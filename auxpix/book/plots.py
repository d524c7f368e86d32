"""Figures for the book: sample grids, training curves, where the bits go, and plots of
the tables of :mod:`auxpix.book.tables`."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import PIL.Image
import torch

from ..models import AuxiliaryVariableModel
from ..runs import read_metrics
from ..sampling_io import draw, image_grid
from . import registry, tables

# The book's text column is about 7 inches wide; a figure drawn at that width with at most
# 150 dots per inch shows a 128x128 sample grid of 8 columns at its own pixels.
PAGE_WIDTH = 7.0
MAX_DPI = 150
JPEG_QUALITY = 90
# How the figures name a model's parts (their names in auxpix are short identifiers).
PART_LABELS = {"aux": "p(X̂)", "cond": "p(X | X̂)"}


def part_label(name: str) -> str:
    """How a figure names part ``name``: "aux" → "p(X̂)", a pyramid level "16" → "16x16"."""
    return PART_LABELS.get(name) or (f"{name}x{name}" if name.isdigit() else name)


class Picture:
    """A rendered figure, shown by Jupyter as a JPEG: sample grids are photographs, several
    times smaller as JPEG than as PNG at the same size (the book keeps each figure under 1.5 MB)."""

    def __init__(self, data: bytes, size: tuple[int, int]):
        self.data, self.size = data, size

    def _repr_jpeg_(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"<Picture {self.size[0]}x{self.size[1]} px, JPEG, {len(self.data) // 1024} KB>"


def show_blocks(blocks: dict[str, torch.Tensor], *, title: str | None = None) -> Picture:
    """One labelled image grid per block (e.g. {"4-bit gray": ..., "colour": ...}), every
    image at the largest block's size (smaller ones upscaled, as the paper's Figure 6 shows its
    levels), the figure as wide as the book's page, as a JPEG :class:`Picture`."""
    size = max(block.shape[-1] for block in blocks.values())
    grids = {
        label: image_grid([_upscaled(block.cpu(), size // block.shape[-1])])
        for label, block in blocks.items()
    }
    widest = max(grid.shape[1] for grid in grids.values())
    heights = [grid.shape[0] / widest * PAGE_WIDTH + 0.3 for grid in grids.values()]
    fig, axes = plt.subplots(
        len(grids),
        1,
        figsize=(PAGE_WIDTH, sum(heights) + (0.4 if title else 0)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (label, grid) in zip(axes[:, 0], grids.items()):
        ax.imshow(grid, interpolation="nearest")
        ax.set_title(label, fontsize=10, loc="left")
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return picture(fig, dpi=min(MAX_DPI, max(100, widest / PAGE_WIDTH)))


def kept_model_samples(
    name: str, kind: str, preset: str, model, n: int, *, seed: int, resample=False, **options
) -> torch.Tensor:
    """The images of ``n`` samples of the book's ``kind`` model at ``preset`` (``options`` go
    to its ``sample``), seeded with ``seed``: drawn once and kept in
    ``<results>/samples/<preset>/<name>.npz``, drawn again only when the run is retrained, a
    setting changes, or ``resample``."""

    def sample():
        generator = torch.Generator(next(model.parameters()).device).manual_seed(seed)
        return {"image": draw(model, n, generator=generator, **options)["image"]}

    path = registry.results_dir() / "samples" / preset / f"{name}.npz"
    run = registry.run_dir(kind, preset)
    kept, _ = registry.kept_samples(path, run, sample, resample=resample, n=n, seed=seed, **options)
    return kept["image"]


def _upscaled(images: torch.Tensor, factor: int) -> torch.Tensor:
    return images.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def picture(fig, *, dpi: float) -> Picture:
    """``fig`` rendered at ``dpi`` as a JPEG :class:`Picture` (and closed)."""
    buffer = io.BytesIO()
    fig.savefig(
        buffer, format="jpeg", dpi=dpi, bbox_inches="tight", pil_kwargs={"quality": JPEG_QUALITY}
    )
    plt.close(fig)
    return Picture(buffer.getvalue(), PIL.Image.open(buffer).size)


def training_curves(runs: dict[str, Path], parts: dict[str, list[str]] | None = None):
    """Test bits/dim (averaged weights) and train bits/dim against training minutes, one
    panel per run, one colour per part."""
    columns = min(2, len(runs))  # two panels side by side at most: readable at page width
    rows = -(-len(runs) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(PAGE_WIDTH, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(runs) :]:
        ax.axis("off")
    for ax, (label, path) in zip(axes.flat, runs.items()):
        names = (parts or {}).get(label) or sorted(
            (p.name for p in Path(path).iterdir() if p.is_dir()), key=_natural
        )
        for colour, part in enumerate(names):
            rows = read_metrics(path, part)
            minutes = [r["seconds"] / 60 for r in rows]
            ax.plot(minutes, [r["train_bpd"] for r in rows], color=f"C{colour}", alpha=0.35, lw=0.8)
            test = [(r["seconds"] / 60, r["test_bpd"]) for r in rows if "test_bpd" in r]
            if test:
                name = f"{part_label(part)} (test)"
                ax.plot(*zip(*test), "o-", color=f"C{colour}", ms=3, label=name)
        ax.set(title=label, xlabel="training minutes", ylabel="bits/dim")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _natural(name: str):
    """Pyramid levels in numeric order (8, 16, 32), other part names after them by name."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def pilot_curves(runs: dict[str, Path], part: str, preset: str):
    """Test bits/dim against training minutes of part ``part`` of a pilot's runs, on one axis."""
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


def readable(label: str) -> str:
    """``label`` with the part names in it as the book writes them: "Grayscale: aux" →
    "Grayscale: p(X̂)"."""
    return re.sub(r"\b(aux|cond)\b", lambda found: PART_LABELS[found[1]], label)


def bits_heatmaps(images: torch.Tensor, maps: dict[str, torch.Tensor]):
    """Each image beside heatmaps of the bits its pixels cost (one column per map)."""
    n, side = len(images), PAGE_WIDTH / (1.3 + len(maps))  # the colour bar takes the rest
    fig, axes = plt.subplots(n, 1 + len(maps), figsize=(PAGE_WIDTH, side * n), squeeze=False)
    vmax = max(float(m.max()) for m in maps.values())
    for row in range(n):
        axes[row, 0].imshow(images[row].permute(1, 2, 0).cpu().numpy())
        for col, (label, bits) in enumerate(maps.items(), start=1):
            shown = axes[row, col].imshow(bits[row].cpu().numpy(), cmap="magma", vmin=0, vmax=vmax)
            if row == 0:
                axes[row, col].set_title(readable(label), fontsize=9)
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
