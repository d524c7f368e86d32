"""The networks: PixelCNN++ (optionally conditioned on an embedding) and the embedding f_w(X̂).

How the embedding reaches every residual block (paper, section 3.3). f_w(X̂) returns one
activation per resolution that the conditional network works at, ``{height: [B, E, h, w]}``.
Each gated residual block of the conditional PixelCNN++ looks up the embedding at its own
resolution and adds it through the block's 1x1 auxiliary-input path (the one PixelCNN++
uses for its skip connections), so the embedding biases the block's first convolution:
u-stream blocks get the embedding (concatenated to their skip input in the down pass),
ul-stream blocks get it concatenated to u (and their skip input), as in the authors' code.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from .config import EmbeddingConfig, NetConfig
from .errors import ConfigError
from .layers import (
    GatedResnet,
    concat_elu,
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

    A ``light`` net is the Pyramid PixelCNN's (the authors' code): the same input
    convolutions, then ``nr_resnet`` blocks per stream with 3x3 shifted kernels, at one
    resolution, with no down pass and no skip connections.

    ``embed_to_output``: the output layer also reads the embedding (``EmbeddingConfig.to_output``).
    """

    def __init__(
        self,
        cfg: NetConfig,
        in_channels: int,
        out_channels: int,
        embed_channels: int = 0,
        *,
        embed_to_output: bool = False,
    ):
        super().__init__()
        f, e, n, r = cfg.nr_filters, embed_channels, cfg.nr_resnet, cfg.nr_resolutions
        if cfg.light and r != 1:
            raise ConfigError(f"a light net works at one resolution: set nr_resolutions=1, not {r}")
        u_kernel, ul_kernel = ((3, 3), (3, 3)) if cfg.light else ((2, 3), (2, 2))

        def u_blocks(count, aux):
            conv = functools.partial(down_shifted_conv, kernel=u_kernel)
            return nn.ModuleList(GatedResnet(f, conv, aux, cfg.dropout) for _ in range(count))

        def ul_blocks(count, aux):
            conv = functools.partial(down_right_shifted_conv, kernel=ul_kernel)
            return nn.ModuleList(GatedResnet(f, conv, aux, cfg.dropout) for _ in range(count))

        self.u_first = down_shifted_conv(in_channels + 1, f, (2, 3))
        self.ul_first_above = down_shifted_conv(in_channels + 1, f, (1, 3))
        self.ul_first_left = down_right_shifted_conv(in_channels + 1, f, (2, 1))
        # Up pass: u-blocks see the embedding, ul-blocks see u and the embedding.
        self.up_u = nn.ModuleList(u_blocks(n, e) for _ in range(r))
        self.up_ul = nn.ModuleList(ul_blocks(n, f + e) for _ in range(r))
        self.downsample_u = nn.ModuleList(
            down_shifted_conv(f, f, (2, 3), stride=2) for _ in range(r - 1)
        )
        self.downsample_ul = nn.ModuleList(
            down_right_shifted_conv(f, f, (2, 2), stride=2) for _ in range(r - 1)
        )
        # Down pass: u-blocks also see the up pass's u, ul-blocks u, the up pass's ul (none in a light net).
        down = [0] * r if cfg.light else [n + (i > 0) for i in range(r)]
        self.down_u = nn.ModuleList(u_blocks(count, f + e) for count in down)
        self.down_ul = nn.ModuleList(ul_blocks(count, 2 * f + e) for count in down)
        self.upsample_u = nn.ModuleList(down_shifted_transposed_conv(f, f) for _ in range(r - 1))
        self.upsample_ul = nn.ModuleList(
            down_right_shifted_transposed_conv(f, f) for _ in range(r - 1)
        )
        self.out = nin(f, out_channels)
        self.out_aux = nin(2 * e, out_channels) if embed_to_output and e else None
        self.resolutions = r

    def forward(
        self, x: torch.Tensor, embedding: dict[int, torch.Tensor] | None = None
    ) -> torch.Tensor:
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
        return self.output(ul, emb(ul))

    def output(self, ul: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        """The output from the ul-stream's last activation and, with ``out_aux``, from the
        embedding at the same pixels."""
        out = self.out(F.elu(ul))
        if self.out_aux is not None:
            out = out + self.out_aux(concat_elu(embedding))
        return out


class EmbeddingNetwork(nn.Module):
    """f_w(X̂): one flow of gated residual blocks with unshifted 3x3 convolutions, wired as the
    authors' code wires it.

    Strided convolutions (after the blocks in ``downsample_after``) halve the resolution,
    transposed ones (after ``upsample_after``) double it. The blocks up to the middle of
    the lowest resolution form the down pass, the rest the up pass; as in a U-Net, every
    up-pass block takes as its auxiliary input the output of its mirror block of the down
    pass (a stack: the first up block takes the last down block's output) until the stack
    is empty. A 3x3 convolution (the authors' ``conv_representation``) turns the up pass's
    last activation at each scale in ``out_scales`` (relative to X̂'s size) into the
    embedding there. Returns ``{height: embedding}``.
    """

    def __init__(self, cfg: EmbeddingConfig, in_channels: int, out_scales):
        super().__init__()
        f = cfg.nr_filters
        scales = block_scales(cfg)
        self.down_blocks = down_pass_length(scales)
        takes_skip = [self._mirror(scales, b) is not None for b in range(len(scales))]
        self.first = unshifted_conv(in_channels + 1, f)
        self.blocks = nn.ModuleList(
            GatedResnet(f, unshifted_conv, f if skip else 0, cfg.dropout) for skip in takes_skip
        )
        self.takes_skip = takes_skip
        self.resample = nn.ModuleDict()
        for number in cfg.downsample_after:
            self.resample[str(number)] = unshifted_conv(f, f, stride=2)
        for number in cfg.upsample_after:
            self.resample[str(number)] = unshifted_transposed_conv(f, f)
        up_scales = scales[self.down_blocks :]
        missing = set(out_scales) - set(up_scales)
        if missing:
            raise ConfigError(
                f"the embedding's up pass reaches the scales {sorted(set(up_scales))} of X̂'s size, "
                f"but the conditional network needs {sorted(out_scales)}: change its "
                "downsample_after/upsample_after"
            )
        last = {
            scale: self.down_blocks + b + 1 for b, scale in enumerate(up_scales)
        }  # the last block at each scale
        # keyed by the number of the block whose output each turns into the embedding
        self.representation = nn.ModuleDict(
            {str(last[scale]): unshifted_conv(f, f) for scale in out_scales}
        )
        self.out_channels = f

    def _mirror(self, scales: list[float], block: int) -> int | None:
        """The down-pass block whose output up-pass block ``block`` (0-based) takes, if any."""
        mirror = 2 * self.down_blocks - 1 - block
        if block < self.down_blocks or mirror < 0:
            return None
        if scales[mirror] != scales[block]:
            raise ConfigError(
                f"embedding block {block + 1} would take the skip of block {mirror + 1}, which works at "
                "another resolution: make the down- and upsamplings mirror each other"
            )
        return mirror

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        h = self.first(add_ones_channel(x))
        stack, outputs = [], {}
        for number, (block, takes_skip) in enumerate(zip(self.blocks, self.takes_skip), start=1):
            h = block(h, stack.pop() if takes_skip else None)
            if number <= self.down_blocks:
                stack.append(h)
            if str(number) in self.representation:
                outputs[h.shape[-2]] = self.representation[str(number)](h)
            if str(number) in self.resample:
                h = self.resample[str(number)](h)
        return outputs


def block_scales(cfg: EmbeddingConfig) -> list[float]:
    """The resolution of each embedding block relative to X̂'s (1, 0.5, ..., 2)."""
    if set(cfg.downsample_after) & set(cfg.upsample_after):
        raise ConfigError("embedding: a block cannot be followed by both a down- and an upsampling")
    scale, scales = 1.0, []
    for number in range(1, cfg.nr_blocks + 1):
        scales.append(scale)
        if number in cfg.downsample_after:
            scale /= 2
        elif number in cfg.upsample_after:
            scale *= 2
    return scales


def down_pass_length(scales: list[float]) -> int:
    """How many blocks form the down pass: those before the lowest resolution and the first half
    of the blocks there (paper: 15 blocks, downsampling after 3, upsampling after 9 and 12 make
    a down pass of 6, as the authors' code builds it)."""
    lowest = [b for b, scale in enumerate(scales) if scale == min(scales)]
    if len(lowest) % 2 or lowest != list(range(lowest[0], lowest[0] + len(lowest))):
        raise ConfigError(
            f"the embedding has {len(lowest)} blocks at its lowest resolution: it needs an even "
            "number in a row, half for the down pass and half for the up pass"
        )
    return lowest[0] + len(lowest) // 2
