"""Fast sampling: PixelCNN++'s output one pixel at a time, without a whole-image pass each.

The samplers (:data:`METHODS`, chosen by :func:`pixel_params`):

* ``naive`` runs the whole network for every pixel: the reference;
* ``cached`` (:class:`CachedNetwork`) computes each activation once: exact;
* ``window`` (:class:`WindowedNetwork`) runs the whole network on a window around each
  pixel, the authors' sampler (kolesman/FaceGeneration): a constant cost per pixel, but
  approximate, as the window cuts part of the context.

Cached. A new pixel changes only the activations below and to the right of it, so
:class:`CachedNetwork` computes each activation once, when it becomes final (Ramachandran
et al. 2017, "Fast PixelCNN++"):

* the u-stream (pixels above) at row i depends only on image rows < i, so every u-layer's
  row i is computed once, when row i starts;
* the ul-stream (above and to the left) at (i, j) depends only on pixels before (i, j),
  so every ul-layer's pixel (i, j) is computed when pixel (i, j) is due;
* at the lower resolutions of PixelCNN++ (factor f = 2**k), a row is due every f image
  rows and a pixel every f rows and columns — a stride-2 convolution's output is final
  once its bottom-right input is, and a stride-2 transposed convolution's 2x2 output block
  depends on its one input pixel alone.

Every shifted convolution keeps the last rows of its zero-padded input
(:class:`_ConvCache`), so its output at the new row or pixel is one small conv2d over the
same inputs and weights as in the full pass. The result is exact up to the order in which a
convolution routine adds its products (~1e-16 in float64, where the sampled images are
identical; in float32 a draw that sits on a bin boundary may rarely round the other way).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Conv, concat_elu
from .networks import PixelCNNNetwork, add_ones_channel, cat_present

METHODS = ("cached", "naive", "window")
DEFAULT_WINDOW = 16  # the authors' FOV (kolesman/FaceGeneration, demo.ipynb)


class _ConvCache:
    """A shifted convolution evaluated one input row (u-stream) or one input pixel
    (ul-stream) at a time, in raster order.

    ``window`` holds the last kh rows of the convolution's input, zero-padded as
    :class:`~auxpix.layers.Conv` pads it (nothing below, the padding above is the initial
    zeros). A stride-s convolution has an output only where its window is aligned.
    """

    def __init__(self, conv: Conv, width: int, like: torch.Tensor):
        self.conv = conv.conv
        left, right, top, bottom = conv.padding
        (self.kh, self.kw), (self.stride, _) = self.conv.kernel_size, self.conv.stride
        if (top, bottom) != (self.kh - 1, 0):
            raise ValueError("only shifted convolutions (padded above, not below) can be cached")
        self.left, self.right = left, right
        self.window = like.new_zeros(
            like.shape[0], self.conv.in_channels, self.kh, left + width + right
        )
        self.row_index = -1  # the input row in the window's bottom row

    def _move_to(self, row: int) -> None:
        while (
            self.row_index < row
        ):  # slide one row down the image; the new bottom row is zero for now
            self.window = torch.cat(
                [self.window[:, :, 1:], torch.zeros_like(self.window[:, :, :1])], dim=2
            )
            self.row_index += 1

    def row(self, x: torch.Tensor, row: int) -> torch.Tensor | None:
        """Output row ``row // stride`` [B, C_out, 1, W_out], given the input's whole next row."""
        self._move_to(row)
        self.window[:, :, -1:, self.left : self.window.shape[-1] - self.right] = x
        return None if row % self.stride else self.conv(self.window)

    def pixel(self, x: torch.Tensor, row: int, col: int) -> torch.Tensor | None:
        """Output pixel (row, col) // stride [B, C_out, 1, 1], given the input's next pixel."""
        if (self.left, self.right) != (self.kw - 1, 0):
            raise ValueError(
                "only a down-right shifted convolution (nothing to the right) can go pixel by pixel"
            )
        self._move_to(row)
        self.window[:, :, -1:, self.left + col : self.left + col + 1] = x
        if row % self.stride or col % self.stride:
            return None
        return self.conv(self.window[:, :, :, col : col + self.kw])


@dataclass(frozen=True)
class _Stream:
    """One stream of PixelCNN++: its blocks at each resolution and its resamplings."""

    up: nn.ModuleList  # up[k]: the up pass's blocks at resolution k (k=0 the image's)
    down: nn.ModuleList  # down[i]: the down pass's blocks, coarsest resolution first
    downsample: nn.ModuleList  # downsample[k]: resolution k -> k+1
    upsample: nn.ModuleList  # upsample[i]: after down[i]


class _Outputs(NamedTuple):
    """A stream's block outputs at one site, in the order its blocks run."""

    up: list[torch.Tensor]
    down: list[torch.Tensor]


def _site(k: int, i: int, j: int | None) -> tuple[int, int, int | None]:
    """The site of resolution k (factor 2**k) that holds image site (i, j)."""
    return k, i >> k, None if j is None else j >> k


def _at(t: torch.Tensor | None, col: int | None) -> torch.Tensor | None:
    """Column ``col`` of a row activation [B, C, 1, W]; the whole row if col is None."""
    return t if t is None or col is None else t[..., col : col + 1]


class CachedNetwork:
    """The output of a :class:`~auxpix.networks.PixelCNNNetwork` at one pixel at a time.

    Call it for every pixel (i, j) in raster order, each time with the network's input
    [B, C, H, W] in which the pixels before (i, j) are final; it returns the output at
    (i, j), [B, out_channels, 1, 1], equal to ``network(x, embedding)[..., i:i+1, j:j+1]``.
    Run it in eval mode (no dropout) without gradients.

    A site (k, r, c) is row r, column c of resolution k (c=None: the whole row).
    """

    def __init__(
        self, network: PixelCNNNetwork, embedding: dict[int, torch.Tensor] | None, x: torch.Tensor
    ):
        self.net, self.embedding = network, embedding
        self.batch, self.size = x.shape[0], x.shape[-1]
        self.like = x
        self.u = _Stream(network.up_u, network.down_u, network.downsample_u, network.upsample_u)
        self.ul = _Stream(
            network.up_ul, network.down_ul, network.downsample_ul, network.upsample_ul
        )
        self.caches: dict[Conv, _ConvCache] = {}
        self.upsampled: dict[nn.Module, torch.Tensor] = {}  # two rows of a finer resolution
        self.u_outputs: list[_Outputs] = []  # the u-stream's, at the current row of each resolution
        self.above: torch.Tensor | None = None
        self.next_pixel = (0, 0)

    def __call__(self, x: torch.Tensor, i: int, j: int) -> torch.Tensor:
        if (i, j) != self.next_pixel:
            raise ValueError(
                f"pixels must come in raster order: expected {self.next_pixel}, got {(i, j)}"
            )
        self.next_pixel = (i + (j + 1) // self.size, (j + 1) % self.size)
        if j == 0:
            self._start_row(x, i)
        ul, _ = self._pass(self.ul, self._first_ul(x, i, j), i, j, cross=self.u_outputs)
        return self.net.out(F.elu(ul))

    def _start_row(self, x: torch.Tensor, i: int) -> None:
        """The u-stream's row i at every resolution where it is due, and the ul-stream's
        contribution from the row above; both see image rows < i only (down_shift)."""
        net, previous = self.net, (0, i - 1, None)
        if i == 0:
            u = self.like.new_zeros(self.batch, net.u_first.conv.out_channels, 1, self.size)
            self.above = torch.zeros_like(u)
        else:
            row = add_ones_channel(x[:, :, i - 1 : i])
            u = self._conv(net.u_first, row, previous)
            self.above = self._conv(net.ul_first_above, row, previous)
        _, self.u_outputs = self._pass(self.u, u, i, None, cross=None)

    def _first_ul(self, x: torch.Tensor, i: int, j: int) -> torch.Tensor:
        """The ul-stream's input at (i, j): the row above, plus the pixel to the left (right_shift)."""
        ul = self.above[..., j : j + 1]
        if j > 0:
            left = add_ones_channel(x[:, :, i : i + 1, j - 1 : j])
            ul = ul + self._conv(self.net.ul_first_left, left, (0, i, j - 1))
        return ul

    def _pass(self, stream: _Stream, x, i: int, j: int | None, cross: list[_Outputs] | None):
        """Run ``stream`` from its first activation x at image site (i, j) through the up and
        down passes (as PixelCNNNetwork.forward does), at every resolution where (i, j)
        completes a site.

        ``cross``: the u-stream's block outputs, which the ul-blocks see. Returns the output
        at the image's resolution and the block outputs at each resolution visited (the
        u-stream's are the ul-stream's ``cross``).
        """
        last = self.net.resolutions - 1
        skips = []
        for k in range(last + 1):  # the up pass, finest resolution first
            site = _site(k, i, j)
            skips.append([x])
            for b, block in enumerate(stream.up[k]):
                x = self._block(
                    block,
                    x,
                    cat_present(self._cross(cross, k, "up", b, site), self._embedding(site)),
                    site,
                )
                skips[k].append(x)
            if k == last:
                break
            x = self._conv(stream.downsample[k], x, site)
            if x is None:  # resolution k+1 has no site completed by (i, j)
                break
        outputs = [_Outputs(up=skips[k][1:], down=[]) for k in range(len(skips))]
        for k in reversed(range(len(skips))):  # the down pass, coarsest resolution first
            site, down = _site(k, i, j), last - k
            x = skips[k].pop() if k == last else self._upsampled_at(stream.upsample[down - 1], site)
            for b, block in enumerate(stream.down[down]):
                aux = cat_present(
                    self._cross(cross, k, "down", b, site), skips[k].pop(), self._embedding(site)
                )
                x = self._block(block, x, aux, site)
                outputs[k].down.append(x)
            if k > 0:
                self._upsample(stream.upsample[down], x, site)
        return x, outputs

    def _block(self, block, x, aux, site):
        """:class:`~auxpix.layers.GatedResnet`'s forward (without dropout) at one site."""
        h = self._conv(block.conv_in, concat_elu(x), site)
        if block.aux_in is not None:
            h = h + block.aux_in(concat_elu(aux))
        a, b = self._conv(block.conv_out, concat_elu(h), site).chunk(2, dim=1)
        return x + a * torch.sigmoid(b)

    def _conv(self, conv: Conv, x: torch.Tensor, site) -> torch.Tensor | None:
        k, r, c = site
        if conv not in self.caches:
            self.caches[conv] = _ConvCache(conv, self.size >> k, self.like)
        cache = self.caches[conv]
        return cache.row(x, r) if c is None else cache.pixel(x, r, c)

    def _upsample(self, upsample, x: torch.Tensor, site) -> None:
        """Upsample x at (k, r, c) into rows 2r, 2r+1 (columns 2c, 2c+1) of resolution k-1."""
        k, _, c = site
        out = upsample(x)
        if upsample not in self.upsampled:
            self.upsampled[upsample] = out.new_zeros(
                self.batch, out.shape[1], 2, self.size >> (k - 1)
            )
        columns = slice(None) if c is None else slice(2 * c, 2 * c + 2)
        self.upsampled[upsample][..., columns] = out

    def _upsampled_at(self, upsample, site) -> torch.Tensor:
        _, r, c = site
        return _at(self.upsampled[upsample][:, :, r % 2 : r % 2 + 1], c)

    def _embedding(self, site) -> torch.Tensor | None:
        k, r, c = site
        return (
            None
            if self.embedding is None
            else _at(self.embedding[self.size >> k][:, :, r : r + 1], c)
        )

    @staticmethod
    def _cross(
        cross: list[_Outputs] | None, k: int, which: str, b: int, site
    ) -> torch.Tensor | None:
        """The u-stream's output of its ``which`` ("up"/"down") pass block b at site, if ``cross``."""
        return None if cross is None else _at(getattr(cross[k], which)[b], site[2])


def _output_at(network, embedding, x: torch.Tensor, i: int, j: int) -> torch.Tensor:
    """A whole pass of ``network`` over x; its output at (i, j), [B, out, 1, 1]."""
    return network(x, embedding)[:, :, i : i + 1, j : j + 1]


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def window_rows(i: int, size: int, grid: int = 1) -> slice:
    """The window's rows for a pixel of row i: the ``size`` rows that end with the pixel's row
    (with the grid cell of ``grid`` rows that holds it), the first ``size`` while there are
    fewer above. The rows below the pixel that it holds do not matter: outputs never depend
    on later pixels."""
    start = max(0, _round_up(i + 1, grid) - size)
    return slice(start, start + size)


def window_columns(j: int, size: int, width: int, grid: int = 1) -> slice:
    """The window's columns for a pixel of column j: from ``size // 2`` columns left of it
    (rounded down to the grid; column 0 near the left edge) to ``size`` columns on, cut at
    the image's right edge, where the full pass sees zero padding too."""
    start = max(0, (j - size // 2) // grid * grid)
    return slice(start, min(start + size, width))


def _scaled(bounds: slice, numerator: int, denominator: int) -> slice | None:
    """``bounds`` at a resolution ``numerator / denominator`` times the image's; None where
    they fall between that resolution's pixels."""
    start, stop = bounds.start * numerator, bounds.stop * numerator
    if start % denominator or stop % denominator:
        return None
    return slice(start // denominator, stop // denominator)


def crop_embedding(
    embedding: dict[int, torch.Tensor] | None, rows: slice, columns: slice, image: torch.Tensor
):
    """Every tensor of ``embedding`` ({height: [B, E, h, w]}, for ``image`` [B, C, H, W]) cut to
    the window (rows, columns) at its own resolution: a tensor of half the image's height
    to the half-size window. A tensor on whose pixels the window's bounds do not fall is left
    out: the network reads only its own resolutions, where the window's grid keeps them whole.
    """
    if embedding is None:
        return None
    (height, width), cropped = image.shape[-2:], {}
    for tensor in embedding.values():
        tensor_rows = _scaled(rows, tensor.shape[-2], height)
        tensor_columns = _scaled(columns, tensor.shape[-1], width)
        if tensor_rows is not None and tensor_columns is not None:
            cut = tensor[..., tensor_rows, tensor_columns]
            cropped[cut.shape[-2]] = cut
    return cropped


class WindowedNetwork:
    """The network's output at one pixel from a whole pass over a window around it, the
    authors' sampler (kolesman/FaceGeneration, ``demo.ipynb``: ``FOV = 16``): a constant
    cost per pixel instead of a whole-image pass.

    The window (:func:`window_rows`, :func:`window_columns`): ``size`` rows ending with the
    pixel's row (the first ``size`` rows near the top), and columns from ``size // 2`` left
    of the pixel (column 0 near the left edge) to ``size // 2 - 1`` right of it, cut at the
    right edge of the image. An image no larger than the window is passed whole. Every
    embedding tensor is cut to the same window at its own resolution (:func:`crop_embedding`).
    A network of several resolutions sees the window on its grid of 2**(R-1) pixels, as it
    sees the image: ``size`` must be a multiple of it, and the window's start is rounded down
    to it (rows: the window ends with the grid cell holding the pixel).

    Approximate: the window cuts part of the context. A network whose receptive field
    exceeds the window sees zero padding where the full image has pixels, and its output
    (so a draw) may change; one whose receptive field fits the window gives the full pass's
    outputs. The receptive field here is every pixel where some layer's input counts, not
    only the image's values: PixelCNN++'s u-stream activations reach right along the pixel's
    own row, so the cut changes even its first row's outputs. Call it with pixels in any
    order; x is the network's input [B, C, H, W].
    """

    def __init__(
        self, network, embedding: dict[int, torch.Tensor] | None, size: int = DEFAULT_WINDOW
    ):
        self.network, self.embedding, self.size = network, embedding, size
        self.grid = 2 ** (network.resolutions - 1)
        if size < 1 or size % self.grid:
            raise ValueError(
                f"the window's size must be a positive multiple of {self.grid}, the grid of a network "
                f"of {network.resolutions} resolutions, got {size}"
            )

    def __call__(self, x: torch.Tensor, i: int, j: int) -> torch.Tensor:
        height, width = x.shape[-2:]
        if self.size >= max(height, width):
            return _output_at(self.network, self.embedding, x, i, j)
        rows, columns = (
            window_rows(i, self.size, self.grid),
            window_columns(j, self.size, width, self.grid),
        )
        embedding = crop_embedding(self.embedding, rows, columns, x)
        return _output_at(
            self.network, embedding, x[..., rows, columns], i - rows.start, j - columns.start
        )


def pixel_params(
    method: str,
    network: PixelCNNNetwork,
    embedding,
    x: torch.Tensor,
    *,
    window: int = DEFAULT_WINDOW,
):
    """The function (x, i, j) -> network output at (i, j) [B, out, 1, 1] that sampling
    with ``method`` calls for every pixel in raster order; x is the network's input.
    ``window``: the window's size for ``method="window"``."""
    if method == "naive":
        return functools.partial(_output_at, network, embedding)
    if method == "cached":
        return CachedNetwork(network, embedding, x)
    if method == "window":
        return WindowedNetwork(network, embedding, window)
    raise ValueError(f"sampling method must be one of {', '.join(METHODS)}, got {method!r}")
