"""Figures for the book: sample grids, training curves, where the bits go."""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from .models import AuxiliaryVariableModel
from .sampling_io import image_grid


def show_blocks(blocks: dict[str, torch.Tensor], *, title: str | None = None, scale: float = 0.06):
    """One labelled image grid per block (e.g. {"4-bit gray": ..., "colour": ...})."""
    grids = {label: image_grid([block.cpu()]) for label, block in blocks.items()}
    width = max(grid.shape[1] for grid in grids.values())
    heights = [grid.shape[0] for grid in grids.values()]
    fig, axes = plt.subplots(
        len(grids), 1, figsize=(max(4, width * scale), sum(heights) * scale + 0.4 * len(grids)),
        gridspec_kw={"height_ratios": heights}, squeeze=False,
    )  # fmt: skip
    for ax, (label, grid) in zip(axes[:, 0], grids.items()):
        ax.imshow(grid, interpolation="nearest")
        ax.set_title(label, fontsize=9, loc="left")
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def read_metrics(run_dir, part: str) -> list[dict]:
    path = Path(run_dir) / part / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def training_curves(runs: dict[str, Path], parts: dict[str, list[str]] | None = None):
    """Test bits/dim (averaged weights) and train bits/dim against training minutes, one
    panel per run, one colour per part."""
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.2), squeeze=False)
    for ax, (label, path) in zip(axes[0], runs.items()):
        names = (parts or {}).get(label) or sorted((p.name for p in Path(path).iterdir() if p.is_dir()), key=_natural)
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


def test_curves(runs: dict[str, Path], part: str, *, title: str = ""):
    """Test bits/dim against training minutes of part ``part`` of several runs, on one axis."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for label, path in runs.items():
        test = [(r["seconds"] / 60, r["test_bpd"]) for r in read_metrics(path, part) if "test_bpd" in r]
        ax.plot(*zip(*test), "o-", ms=2.5, label=label)
    ax.set(title=title, xlabel="training minutes", ylabel="test bits/dim")
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
    fig, axes = plt.subplots(n, 1 + len(maps), figsize=(2.1 * (1 + len(maps)), 2.1 * n), squeeze=False)
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
