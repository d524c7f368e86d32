"""The networks: PixelCNN++ (optionally conditioned on an embedding) and the embedding f_w(X̂).

How the embedding reaches every residual block (paper, section 3.3). f_w(X̂) returns its
activations at every resolution it passes through, ``{height: [B, E, h, w]}``. Each gated
residual block of the conditional PixelCNN++ looks up the embedding at its own
resolution and adds it through the block's 1x1 auxiliary-input path (the one PixelCNN++
uses for its skip connections), so the embedding biases the block's first convolution:
u-stream blocks get the embedding (concatenated to their skip input in the down pass),
ul-stream blocks get it concatenated to u (and their skip input). A conditional network
therefore needs an embedding at each of its resolutions; the embedding's down- and
up-samplings are chosen so it visits them all.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import EmbeddingConfig, NetConfig
from .errors import ConfigError
from .layers import (
    GatedResnet,
    down_right_shifted_conv,
    down_right_shifted_transposed_conv,
    down_shift,
    down_shifted_conv,
    down_shifted_transposed_conv,
    nin,
    right_shift,
    unshifted_conv,
    unshifted_transposed_conv,
)


def cat_present(*tensors):
    """Concatenate the given channel groups, skipping absent ones; None if all are absent."""
    present = [t for t in tensors if t is not None]
    return torch.cat(present, dim=1) if present else None


def add_ones_channel(x):
    """x with a channel of ones: lets the first convolutions tell zero padding from image
    content (as PixelCNN++ does)."""
    return torch.cat([x, torch.ones_like(x[:, :1])], dim=1)


class PixelCNNNetwork(nn.Module):
    """PixelCNN++: u-stream (pixels above) and ul-stream (above and to the left).

    Input: x in [-1, 1], [B, C, H, W]. Output: [B, out_channels, H, W], where output
    (i, j) depends only on pixels before (i, j) in raster order, and on all of the
    embedding. With ``nr_resolutions`` R, the up pass has R groups of ``nr_resnet``
    blocks separated by strided convolutions; the down pass mirrors it with skip
    connections from the up pass (``nr_resnet + 1`` blocks per group after the first).
    """

    def __init__(self, cfg: NetConfig, in_channels: int, out_channels: int, embed_channels: int = 0):
        super().__init__()
        f, e, n, r = cfg.nr_filters, embed_channels, cfg.nr_resnet, cfg.nr_resolutions

        def u_blocks(count, aux):
            return nn.ModuleList(GatedResnet(f, down_shifted_conv, aux, cfg.dropout) for _ in range(count))

        def ul_blocks(count, aux):
            return nn.ModuleList(GatedResnet(f, down_right_shifted_conv, aux, cfg.dropout) for _ in range(count))

        self.u_first = down_shifted_conv(in_channels + 1, f, (2, 3))
        self.ul_first_above = down_shifted_conv(in_channels + 1, f, (1, 3))
        self.ul_first_left = down_right_shifted_conv(in_channels + 1, f, (2, 1))
        # Up pass: u-blocks see the embedding, ul-blocks see u and the embedding.
        self.up_u = nn.ModuleList(u_blocks(n, e) for _ in range(r))
        self.up_ul = nn.ModuleList(ul_blocks(n, f + e) for _ in range(r))
        self.downsample_u = nn.ModuleList(down_shifted_conv(f, f, (2, 3), stride=2) for _ in range(r - 1))
        self.downsample_ul = nn.ModuleList(down_right_shifted_conv(f, f, (2, 2), stride=2) for _ in range(r - 1))
        # Down pass: u-blocks also see the up pass's u, ul-blocks u, the up pass's ul.
        self.down_u = nn.ModuleList(u_blocks(n + (i > 0), f + e) for i in range(r))
        self.down_ul = nn.ModuleList(ul_blocks(n + (i > 0), 2 * f + e) for i in range(r))
        self.upsample_u = nn.ModuleList(down_shifted_transposed_conv(f, f) for _ in range(r - 1))
        self.upsample_ul = nn.ModuleList(down_right_shifted_transposed_conv(f, f) for _ in range(r - 1))
        self.out = nin(f, out_channels)
        self.resolutions = r

    def forward(self, x: torch.Tensor, embedding: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
        def emb(like):
            return None if embedding is None else embedding[like.shape[-2]]

        x = add_ones_channel(x)
        u = down_shift(self.u_first(x))
        ul = down_shift(self.ul_first_above(x)) + right_shift(self.ul_first_left(x))
        u_skips, ul_skips = [u], [ul]
        for i in range(self.resolutions):
            for u_block, ul_block in zip(self.up_u[i], self.up_ul[i]):
                e = emb(u)
                u = u_block(u, cat_present(e))
                ul = ul_block(ul, cat_present(u, e))
                u_skips.append(u)
                ul_skips.append(ul)
            if i < self.resolutions - 1:
                u, ul = self.downsample_u[i](u), self.downsample_ul[i](ul)
                u_skips.append(u)
                ul_skips.append(ul)

        u, ul = u_skips.pop(), ul_skips.pop()
        for i in range(self.resolutions):
            for u_block, ul_block in zip(self.down_u[i], self.down_ul[i]):
                e = emb(u)
                u = u_block(u, cat_present(u_skips.pop(), e))
                ul = ul_block(ul, cat_present(u, ul_skips.pop(), e))
            if i < self.resolutions - 1:
                u, ul = self.upsample_u[i](u), self.upsample_ul[i](ul)
        return self.out(F.elu(ul))


class EmbeddingNetwork(nn.Module):
    """f_w(X̂): a flow of gated residual blocks with unshifted 3x3 convolutions.

    Strided convolutions (after the blocks in ``downsample_after``) halve the resolution,
    transposed ones (after ``upsample_after``) double it. U-Net skips: blocks at a
    resolution that the flow left by downsampling get the activation it had there as
    their auxiliary input. Returns ``{height: activation}``, the last activation at
    every resolution visited.
    """

    def __init__(self, cfg: EmbeddingConfig, in_channels: int):
        super().__init__()
        f = cfg.nr_filters
        if set(cfg.downsample_after) & set(cfg.upsample_after):
            raise ConfigError("embedding: a block cannot be followed by both a down- and an upsampling")
        self.first = unshifted_conv(in_channels + 1, f)
        self.blocks, self.resample, self.skip_from = nn.ModuleList(), nn.ModuleDict(), []
        level, left = 0, set()  # level: number of halvings so far; left: levels we downsampled from
        for number in range(1, cfg.nr_blocks + 1):
            skip = level if level in left else None
            self.skip_from.append(skip)
            self.blocks.append(GatedResnet(f, unshifted_conv, f if skip is not None else 0, cfg.dropout))
            if number in cfg.downsample_after:
                self.resample[str(number)] = unshifted_conv(f, f, stride=2)
                left.add(level)
                level += 1
            elif number in cfg.upsample_after:
                self.resample[str(number)] = unshifted_transposed_conv(f, f)
                level -= 1
        self.downsample_after, self.upsample_after = tuple(cfg.downsample_after), tuple(cfg.upsample_after)
        self.out_channels = f
        self.scales = self._scales(cfg)

    @staticmethod
    def _scales(cfg: EmbeddingConfig) -> set[float]:
        """The output resolutions relative to the input's (e.g. {1, 0.5, 2})."""
        scale, scales = 1.0, {1.0}
        for number in range(1, cfg.nr_blocks + 1):
            if number in cfg.downsample_after:
                scale /= 2
            elif number in cfg.upsample_after:
                scale *= 2
            scales.add(scale)
        return scales

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        h = self.first(add_ones_channel(x))
        outputs, saved, level = {h.shape[-2]: h}, {}, 0
        for number, (block, skip) in enumerate(zip(self.blocks, self.skip_from), start=1):
            h = block(h, None if skip is None else saved[skip])
            outputs[h.shape[-2]] = h
            if number in self.downsample_after:
                saved[level] = h
                level += 1
            elif number in self.upsample_after:
                level -= 1
            else:
                continue
            h = self.resample[str(number)](h)
            outputs[h.shape[-2]] = h
        return outputs
