"""Drawing samples from a model and saving them: a PNG grid to look at, raw arrays to analyse.

Samples come as named *blocks*, uint8 [n, C, h, w] each, in display order: the stages a
model's ``sample`` returns, the final images under ``image``:

* PixelCNN++: ``image``.
* Grayscale PixelCNN: ``gray`` (the 4-bit X̂, values 0..15) then ``image`` (X | X̂); when
  colorizing given images (paper, Figure 3) the command line puts ``original`` first.
* Pyramid PixelCNN: one block per resolution, lowest first (``"8"``, ``"16"``, ...), the top
  one ``image``.

In the PNG every block is a grid of up to 8 images per row, blocks stacked top to bottom:
one-channel blocks (the 4-bit grayscale) are scaled to 0..255, smaller resolutions are
upscaled to the largest with nearest neighbour (so a pyramid shows one row per level for
n <= 8). The raw blocks go next to the PNG: ``FILE.npy`` if there is one, else ``FILE.npz``
with one array per block name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .auxvars import GRAY_LEVELS
from .models import AuxiliaryVariableModel

GRID_COLUMNS = 8
PAD = 2  # pixels between images, white


def draw(
    model: AuxiliaryVariableModel, n: int, *, aux: torch.Tensor | None = None, **options
) -> dict:
    """n samples of ``model`` as named blocks (see the module docstring), on the CPU.

    ``aux``: a given auxiliary image to start from, e.g. 4-bit grayscale images [n, 1, H, W]
    to colorize. ``options`` go to the model's ``sample``: ``method``, ``window``, ``compile``,
    ``map``, ``log_scale_shift``, ``generator``, ``progress``.
    """
    return {name: block.cpu() for name, block in model.sample(n, aux=aux, **options).items()}


def save_samples(path, blocks: dict[str, torch.Tensor]) -> list[Path]:
    """Write the PNG grid of ``blocks`` to ``path`` (a .png) and the raw arrays next to it.

    Returns the paths written.
    """
    path = check_samples_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(list(blocks.values()))).save(path)
    arrays = {name: block.numpy() for name, block in blocks.items()}
    if len(arrays) == 1:
        raw = path.with_suffix(".npy")
        np.save(raw, next(iter(arrays.values())))
    else:
        raw = path.with_suffix(".npz")
        np.savez(raw, **arrays)
    return [path, raw]


def check_samples_path(path) -> Path:
    """``path`` if it names a PNG file (checked before spending minutes on sampling)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"the samples file must end in .png, got {path}")
    return path


def image_grid(blocks: list[torch.Tensor]) -> np.ndarray:
    """uint8 [H, W, 3]: each block a grid of ``GRID_COLUMNS`` images per row, stacked vertically."""
    size = max(block.shape[-1] for block in blocks)
    tiles = [_tile(_displayable(block, size)) for block in blocks]
    width = max(tile.shape[-1] for tile in tiles)
    canvas = torch.cat(
        [torch.nn.functional.pad(tile, (0, width - tile.shape[-1]), value=255) for tile in tiles], 1
    )
    return canvas.permute(1, 2, 0).numpy()


def _displayable(block: torch.Tensor, size: int) -> torch.Tensor:
    """RGB uint8 at ``size`` x ``size``: 4-bit gray scaled to 0..255, smaller images upscaled."""
    block = block.to(torch.uint8)
    if block.shape[1] == 1:
        block = (block * (255 // (GRAY_LEVELS - 1))).expand(-1, 3, -1, -1)
    factor = size // block.shape[-1]
    return block.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def _tile(images: torch.Tensor) -> torch.Tensor:
    """[3, h, w]: the images in rows of ``GRID_COLUMNS`` on a white background."""
    n, _, size, _ = images.shape
    columns, rows = min(n, GRID_COLUMNS), -(-n // GRID_COLUMNS)
    step = size + PAD
    canvas = torch.full((3, rows * step + PAD, columns * step + PAD), 255, dtype=torch.uint8)
    for k, image in enumerate(images):
        top, left = PAD + (k // GRID_COLUMNS) * step, PAD + (k % GRID_COLUMNS) * step
        canvas[:, top : top + size, left : left + size] = image
    return canvas
