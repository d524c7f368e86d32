"""The deterministic maps psi: X -> X̂ that define the auxiliary variables (paper, section 3).

Both take and return integer images, so X̂ is itself an image a PixelCNN can model.
"""
from __future__ import annotations

import torch

from .data import check_images

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


def downsample(x: torch.Tensor) -> torch.Tensor:
    """The Pyramid PixelCNN's X̂: the image at half resolution, still 8-bit.

    Averages each 2x2 block and rounds half up, in exact integer arithmetic:
    (a + b + c + d + 2) // 4. Returns the input's dtype, [B, C, H/2, W/2].
    """
    check_images(x)
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError(f"downsample needs even height and width, got {tuple(x.shape[-2:])}")
    s = x.long()
    total = s[..., 0::2, 0::2] + s[..., 0::2, 1::2] + s[..., 1::2, 0::2] + s[..., 1::2, 1::2]
    return ((total + 2) // 4).to(x.dtype)


def pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``levels`` views of x, lowest resolution first, the last one x itself."""
    views = [x]
    for _ in range(levels - 1):
        views.append(downsample(views[-1]))
    return views[::-1]
