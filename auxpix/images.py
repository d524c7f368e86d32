"""Checks of image batches: a leaf module that every model, map and loader may import."""

from __future__ import annotations

import torch


def check_images(
    x: torch.Tensor, *, channels: int | None = None, size: int | None = None, who: str = ""
) -> None:
    """Raise a one-line ValueError unless x is a batch of integer images [B, C, H, W] (with
    ``channels`` channels and side ``size`` when given); ``who`` names the caller in the message."""
    want = [channels or "C", size or "H", size or "W"]
    if x.dim() != 4 or any(isinstance(w, int) and w != have for w, have in zip(want, x.shape[1:])):
        expects = f"{who} expects" if who else "expected"
        raise ValueError(
            f"{expects} images shaped [B, {', '.join(map(str, want))}], got {list(x.shape)}"
        )
    if x.is_floating_point():
        raise ValueError("expected integer pixel values 0..255, got a floating-point tensor")
