"""The deterministic maps psi: X -> X̂ that define the auxiliary variables (paper, section 3).

Both take and return integer images, so X̂ is itself an image a PixelCNN can model.
"""

from __future__ import annotations

import torch

from .images import check_images

GRAY_LEVELS = 16  # the paper's 4-bit grayscale view

# ITU-R BT.601 luma weights in thousandths (the classic RGB -> gray conversion), kept
# integer so that levels are exact: 0.299 + 0.587 + 0.114 is not 1 in floating point.
_LUMA_PER_MILLE = (299, 587, 114)


def grayscale_4bit(x: torch.Tensor) -> torch.Tensor:
    """The Grayscale PixelCNN's X̂: 4-bit luma, [B, 1, H, W] int64 in 0..15.

    ``x``: RGB images [B, 3, H, W] with values 0..255. Luma Y = 0.299 R + 0.587 G + 0.114 B
    (in 0..255), then level = floor(Y / 16): sixteen equal-width bins of the 8-bit range,
    computed exactly in integers.
    """
    check_images(x, channels=3)
    r, g, b = x.long().unbind(dim=1)
    luma_per_mille = _LUMA_PER_MILLE[0] * r + _LUMA_PER_MILLE[1] * g + _LUMA_PER_MILLE[2] * b
    return (luma_per_mille // (1000 * 256 // GRAY_LEVELS)).unsqueeze(1)


def downsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """The Pyramid PixelCNN's X̂: the image shrunk ``factor`` times, still 8-bit.

    Each ``factor`` x ``factor`` block becomes its mean rounded half to even, as the authors'
    released code computes its views (kolesman/FaceGeneration, ``utils.py``:
    ``tf.round(avg_pool(x, factor))``). Exact: the block sums are integers and dividing one
    by a power of 4 in float64 is exact, so only the rounding rule decides. Returns the
    input's dtype, [B, C, H/factor, W/factor].
    """
    check_images(x)
    height, width = x.shape[-2:]
    if factor < 1 or height % factor or width % factor:
        raise ValueError(
            f"downsample by {factor} needs height and width divisible by it, got {(height, width)}"
        )
    b, c = x.shape[:2]
    blocks = x.long().reshape(b, c, height // factor, factor, width // factor, factor)
    return torch.round(blocks.sum((3, 5)).double() / factor**2).to(x.dtype)


def pyramid(x: torch.Tensor, levels: int, *, top_factor: int = 1) -> list[torch.Tensor]:
    """``levels`` views of x, lowest resolution first, the last one x itself (or, with
    ``top_factor``, x shrunk that many times: a Pyramid PixelCNN level and the one below it).

    Every lower view is made from the full image (``downsample(x, factor)``), not by halving
    the view above it: rounding twice would shift the view (paper's code, ``get_pyramid``).
    """
    factors = [top_factor * 2**k for k in range(levels - 1, -1, -1)]
    return [x if factor == 1 else downsample(x, factor) for factor in factors]
