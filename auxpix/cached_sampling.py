"""The exact cached sampler, and its steps compiled once for every pixel.

A new pixel changes only the activations below and to the right of it, so
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
same inputs and weights as in the full pass (a ul-stream convolution applies its kernel's
upper rows to a whole row at once, when the row starts, and only its bottom row a pixel). The
result is exact up to the order in which a convolution routine adds its products (~1e-16 in
float64, where the sampled images are identical; in float32 a draw that sits on a bin boundary
may rarely round the other way).

Shape-static steps. Each call of :class:`CachedNetwork` runs a row step (at a row's start)
and a pixel step, whose work depends only on how many resolutions the position starts
(:func:`grid_depth`: always 1 for a pyramid level's one-resolution net). With the
positions as index tensors (``static=True``), every tensor a step touches keeps its shape
from pixel to pixel: gathers and in-place writes at index tensors, no slicing at Python
ints, so that a compiled step serves every pixel (:mod:`auxpix.compiled_sampling`). With
int positions (eager), the same arithmetic runs on slices.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Conv, concat_elu
from .networks import PixelCNNNetwork, add_ones_channel, cat_present


class _ConvCache:
    """A shifted convolution evaluated one input row (u-stream) or one input pixel
    (ul-stream) at a time, in raster order.

    ``window`` holds the last kh rows of the convolution's input, zero-padded as
    :class:`~auxpix.layers.Conv` pads it (nothing below, the padding above is the initial
    zeros); :meth:`shift` slides it one row down when a row of its resolution starts. A
    stride-s convolution has an output only where its window is aligned: the caller says
    whether it is (``due``). Columns are ints or index tensors (:func:`_take`).

    ``pixelwise`` (stride 1): at each shift, the kernel's rows above the new one are applied to
    the whole row at once (``above``, bias included), so that a pixel applies only the kernel's
    bottom row: a row's matrix product is cheaper than a pixel's matrix-vector products.
    """

    def __init__(self, conv: Conv, width: int, like: torch.Tensor, pixelwise: bool = False):
        self.conv = conv.conv
        left, right, top, bottom = conv.padding
        (self.kh, self.kw), (self.stride, _) = self.conv.kernel_size, self.conv.stride
        if (top, bottom) != (self.kh - 1, 0):
            raise ValueError("only shifted convolutions (padded above, not below) can be cached")
        self.left, self.width = left, width
        self.window = like.new_zeros(
            like.shape[0], self.conv.in_channels, self.kh, left + width + right
        )
        self.above = None
        if pixelwise and self.stride == 1 and self.kh > 1:
            weight = self.conv.weight.detach()  # normalized once: a sampler's weights are fixed
            self.top_weight = weight[:, :, :-1].contiguous()
            self.bottom_weight = weight[:, :, -1].flatten(1)  # [C_out, C_in * kw]
            self.above = like.new_zeros(like.shape[0], self.conv.out_channels, 1, width)

    def state(self) -> list[torch.Tensor]:
        """The tensors the cache reads or writes throughout an image."""
        split = [] if self.above is None else [self.above, self.top_weight, self.bottom_weight]
        return [self.window, *split]

    def shift(self) -> None:
        """Slide one row down the image; the new bottom row is zero for now."""
        self.window.copy_(self.window.roll(-1, dims=2))
        self.window[:, :, -1].zero_()
        if self.above is not None:
            rows = self.window[:, :, :-1]
            self.above.copy_(F.conv2d(rows, self.top_weight, self.conv.bias))

    def row(self, x: torch.Tensor, due: bool = True) -> torch.Tensor | None:
        """The output row [B, C_out, 1, W_out] (if ``due``), given the input's whole next row."""
        self.window[:, :, -1:, self.left : self.left + self.width] = x
        return self.conv(self.window) if due else None

    def pixel(self, x: torch.Tensor, col, due: bool = True) -> torch.Tensor | None:
        """The output at input column ``col`` [B, C_out, 1, 1] (if ``due``), given the input's
        next pixel."""
        if self.left != self.kw - 1 or self.window.shape[-1] != self.left + self.width:
            raise ValueError(
                "only a down-right shifted convolution (nothing to the right) can go pixel by pixel"
            )
        _put(self.window, self.kh - 1, col + self.left, x)
        if not due:
            return None
        if self.above is not None:
            bottom = _take(self.window[:, :, -1], 2, col, self.kw).flatten(1)
            return _take(self.above, 3, col) + F.linear(bottom, self.bottom_weight)[..., None, None]
        patch = _take(self.window, 3, col, self.kw)
        if isinstance(col, int):
            return self.conv(patch)
        # static: a matrix-vector product on the patch, with no copy of the weights to another layout
        out = F.linear(patch.flatten(1), self.conv.weight.flatten(1), self.conv.bias)
        return out[:, :, None, None]


def _take(t: torch.Tensor, dim: int, start, length: int = 1) -> torch.Tensor:
    """``length`` entries of t along ``dim`` from ``start``: an int (a view, as eager code
    slices) or a one-element index tensor (a gather whose shape does not depend on it)."""
    if isinstance(start, int):
        return t.narrow(dim, start, length)
    return t.index_select(dim, start + torch.arange(length, device=start.device))


def _put(t: torch.Tensor, row: int, col, value: torch.Tensor) -> None:
    """Write ``value`` [B, C, h, w] into t [B, C, H, W] from row ``row`` and column ``col``
    (an int, or a one-element index tensor), in place. At an index tensor, through a flat
    view of t: inductor turns that into a scatter in place (into a slice, it copies the slice)."""
    h, w = value.shape[-2:]
    if isinstance(col, int):
        t[:, :, row : row + h, col : col + w] = value
        return
    rows, cols = (torch.arange(n, device=col.device) for n in (h, w))
    index = ((row + rows)[:, None] * t.shape[-1] + col + cols).flatten()
    t.view(*t.shape[:2], -1).index_copy_(2, index, value.flatten(2))


def _before(index):
    """The row (column) before ``index``; the first for the first."""
    return max(index - 1, 0) if isinstance(index, int) else (index - 1).clamp(min=0)


def _unless_first(index, t: torch.Tensor) -> torch.Tensor:
    """t, or zeros at the first row (column), which has nothing before it."""
    if isinstance(index, int):
        return t if index > 0 else torch.zeros_like(t)
    return torch.where(index > 0, t, torch.zeros_like(t))


def grid_depth(index: int, resolutions: int) -> int:
    """How many of the network's resolutions have a row (column) starting at image row
    (column) ``index``: resolution k (factor 2**k) where it is a multiple of 2**k."""
    depth = 1
    while depth < resolutions and index % 2**depth == 0:
        depth += 1
    return depth


class _CachedBlock(NamedTuple):
    """A :class:`~auxpix.layers.GatedResnet` with its convolutions' caches."""

    conv_in: _ConvCache
    aux_in: nn.Module | None
    conv_out: _ConvCache


class _Stream(NamedTuple):
    """One stream of PixelCNN++: its blocks at each resolution and its resamplings, cached."""

    up: list[list[_CachedBlock]]  # up[k]: the up pass's blocks at resolution k (k=0 the image's)
    down: list[list[_CachedBlock]]  # down[d]: the down pass's blocks, coarsest resolution first
    downsample: list[_ConvCache]  # downsample[k]: resolution k -> k+1
    upsample: list[tuple[nn.Module, torch.Tensor]]  # after down[d]: the module, two rows it fills


class _Outputs(NamedTuple):
    """A stream's block outputs at one site, in the order its blocks run."""

    up: list[torch.Tensor]
    down: list[torch.Tensor]


def _at(t: torch.Tensor | None, col) -> torch.Tensor | None:
    """Column ``col`` of a row activation [B, C, 1, W]; the whole row if col is None."""
    return t if t is None or col is None else _take(t, 3, col)


class CachedNetwork:
    """The output of a :class:`~auxpix.networks.PixelCNNNetwork` at one pixel at a time.

    Call it for every pixel (i, j) in raster order, each time with the network's input
    [B, C, H, W] in which the pixels before (i, j) are final; it returns the output at
    (i, j), [B, out_channels, 1, 1], equal to ``network(x, embedding)[..., i:i+1, j:j+1]``.
    Run it in eval mode (no dropout) without gradients.

    Each call runs a row step (at j = 0) and a pixel step, whose work depends only on how
    many resolutions the row or pixel starts (:func:`grid_depth`): the steps' positions are
    ints (eager: slices) or, with ``static``, index tensors, so that every tensor a step
    touches keeps its shape from pixel to pixel and a compiled step serves every pixel
    (``row_steps``: the row steps per depth, from :mod:`auxpix.compiled_sampling`, which also
    compiles the pixel step together with the draw).
    A site (k, r, c) is row r, column c of resolution k (c=None: the whole row).
    """

    def __init__(
        self,
        network: PixelCNNNetwork,
        embedding: dict[int, torch.Tensor] | None,
        x: torch.Tensor,
        *,
        static: bool = False,
        row_steps=None,
    ):
        self.net, self.embedding = network, embedding
        self.batch, self.size = x.shape[0], x.shape[-1]
        self.shifting = [[] for _ in range(network.resolutions)]  # the caches of each resolution
        first = (network.u_first, network.ul_first_above, network.ul_first_left)
        self.first = [self._cache(conv, 0, x, pixelwise=conv is first[2]) for conv in first]
        self.u = self._stream(
            network.up_u, network.down_u, network.downsample_u, network.upsample_u, x
        )
        self.ul = self._stream(
            network.up_ul,
            network.down_ul,
            network.downsample_ul,
            network.upsample_ul,
            x,
            pixelwise=True,
        )
        self.above = x.new_zeros(self.batch, network.u_first.conv.out_channels, 1, self.size)
        self.u_rows = [  # the u-stream's block outputs at the current row of each resolution
            _Outputs(*([self._row(k) for _ in blocks] for blocks in passes))
            for k, passes in enumerate(zip(self.u.up, reversed(self.u.down)))
        ]
        # The ul-stream's up-pass blocks see the u-stream's outputs and the embedding, both
        # known a row at a time: their 1x1 aux path runs once a row (row_step), not a pixel.
        self.ul_aux_rows = [
            [None if block.aux_in is None else self._row(k) for block in blocks]
            for k, blocks in enumerate(self.ul.up)
        ]
        self.rows, self.columns = (  # apart: a step must not see its row and column as one tensor
            [[torch.tensor([p], device=x.device) for p in range(self.size)] for _ in "ij"]
            if static
            else (range(self.size), range(self.size))
        )
        self.row_steps = row_steps or [CachedNetwork.row_step] * network.resolutions
        self.next_pixel = (0, 0)

    def _row(self, k: int) -> torch.Tensor:
        """A new row activation of resolution k, zero."""
        return self.above.new_zeros(*self.above.shape[:-1], self.size >> k)

    def _cache(self, conv: Conv, k: int, like: torch.Tensor, pixelwise=False) -> _ConvCache:
        cache = _ConvCache(conv, self.size >> k, like, pixelwise)
        self.shifting[k].append(cache)
        return cache

    def _stream(self, up, down, downsample, upsample, like, pixelwise=False) -> _Stream:
        last = self.net.resolutions - 1

        def cache(conv, k):
            return self._cache(conv, k, like, pixelwise)

        def blocks(modules, k):
            return [
                _CachedBlock(cache(b.conv_in, k), b.aux_in, cache(b.conv_out, k)) for b in modules
            ]

        return _Stream(
            up=[blocks(modules, k) for k, modules in enumerate(up)],
            down=[blocks(modules, last - d) for d, modules in enumerate(down)],
            downsample=[cache(conv, k) for k, conv in enumerate(downsample)],
            upsample=[
                (
                    module,
                    like.new_zeros(
                        self.batch, module.conv.out_channels, 2, self.size >> (last - d - 1)
                    ),
                )
                for d, module in enumerate(upsample)
            ],
        )

    def __call__(self, x: torch.Tensor, i: int, j: int) -> torch.Tensor:
        self.row_if_due(x, i, j)
        depth = self.depth_at(i, j)
        return self.pixel_step(x, self.rows[i], self.columns[j], depth)

    def row_if_due(self, x: torch.Tensor, i: int, j: int) -> None:
        """Check that (i, j) is the next pixel in raster order; at a row's start, its row step."""
        if (i, j) != self.next_pixel:
            raise ValueError(
                f"pixels must come in raster order: expected {self.next_pixel}, got {(i, j)}"
            )
        self.next_pixel = (i + (j + 1) // self.size, (j + 1) % self.size)
        if j == 0:
            depth = grid_depth(i, self.net.resolutions)
            self.row_steps[depth - 1](self, x, self.rows[i], depth)

    def depth_at(self, i: int, j: int) -> int:
        """How many resolutions pixel (i, j) completes a site of (its pixel step's depth)."""
        return min(grid_depth(i, self.net.resolutions), grid_depth(j, self.net.resolutions))

    def row_step(self, x: torch.Tensor, i, depth: int) -> None:
        """Row i: slide the caches of the ``depth`` resolutions where a row starts; then the
        u-stream's row there and the ul-stream's contribution from the row above, both from
        image rows < i only (down_shift)."""
        for caches in self.shifting[:depth]:
            for cache in caches:
                cache.shift()
        u_first, ul_first_above, _ = self.first
        row = _unless_first(i, add_ones_channel(_take(x, 2, _before(i))))
        u = _unless_first(i, u_first.row(row))
        self.above.copy_(_unless_first(i, ul_first_above.row(row)))
        _, outputs = self._pass(self.u, u, i, None, depth, cross=None)
        for kept, new in zip(self.u_rows, outputs):
            for old, value in zip(kept.up + kept.down, new.up + new.down):
                old.copy_(value)
        for k in range(len(outputs)):
            site = (k, i >> k, None)
            for b, block in enumerate(self.ul.up[k]):
                if block.aux_in is not None:
                    aux = self._up_aux(self.u_rows, k, b, site)
                    self.ul_aux_rows[k][b].copy_(block.aux_in(concat_elu(aux)))

    def pixel_step(self, x: torch.Tensor, i, j, depth: int) -> torch.Tensor:
        """The output at (i, j): the ul-stream's input there (the row above, plus the pixel to
        the left: right_shift), through the ``depth`` resolutions where (i, j) completes a site."""
        left = _unless_first(j, add_ones_channel(_take(_take(x, 2, i), 3, _before(j))))
        ul = _at(self.above, j) + _unless_first(j, self.first[2].pixel(left, _before(j)))
        ul, _ = self._pass(self.ul, ul, i, j, depth, cross=self.u_rows)
        return self.net.output(ul, self._embedding((0, i, j)))

    def _pass(self, stream: _Stream, x, i, j, depth: int, cross: list[_Outputs] | None):
        """Run ``stream`` from its first activation x at image site (i, j) through the up and
        down passes (as PixelCNNNetwork.forward does), at the ``depth`` resolutions where
        (i, j) completes a site.

        ``cross``: the u-stream's block outputs, which the ul-blocks see. Returns the output
        at the image's resolution and the block outputs at each resolution visited (the
        u-stream's are the ul-stream's ``cross``).
        """
        last = self.net.resolutions - 1
        skips = []
        for k in range(depth):  # the up pass, finest resolution first
            site = (k, i >> k, None if j is None else j >> k)
            skips.append([x])
            for b, block in enumerate(stream.up[k]):
                if stream is self.ul and block.aux_in is not None:  # its aux path: row_step's
                    x = self._block(block, x, None, site, _at(self.ul_aux_rows[k][b], site[2]))
                else:
                    x = self._block(block, x, self._up_aux(cross, k, b, site), site)
                skips[k].append(x)
            if k == last:
                break
            x = _conv(stream.downsample[k], x, site[2], due=k + 1 < depth)
            if x is None:  # resolution k+1 has no site completed by (i, j)
                break
        outputs = [_Outputs(up=skips[k][1:], down=[]) for k in range(len(skips))]
        for k in reversed(range(len(skips))):  # the down pass, coarsest resolution first
            site, down = (k, i >> k, None if j is None else j >> k), last - k
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

    def _up_aux(self, cross: list[_Outputs] | None, k: int, b: int, site):
        """What up-pass block b at resolution k sees beside its input at site: the u-stream's
        output there (if ``cross``) and the embedding."""
        return cat_present(self._cross(cross, k, "up", b, site), self._embedding(site))

    @staticmethod
    def _block(block: _CachedBlock, x, aux, site, aux_path=None):
        """:class:`~auxpix.layers.GatedResnet`'s forward (without dropout) at one site;
        ``aux_path``: its aux path's output there, computed already (else from ``aux``)."""
        h = _conv(block.conv_in, concat_elu(x), site[2])
        if aux_path is not None:
            h = h + aux_path
        elif block.aux_in is not None:
            h = h + block.aux_in(concat_elu(aux))
        a, b = _conv(block.conv_out, concat_elu(h), site[2]).chunk(2, dim=1)
        return x + a * torch.sigmoid(b)

    @staticmethod
    def _upsample(upsample, x: torch.Tensor, site) -> None:
        """Upsample x at (k, r, c) into rows 2r, 2r+1 (columns 2c, 2c+1) of resolution k-1."""
        module, rows = upsample
        out, c = module(x), site[2]
        if c is None:
            rows.copy_(out)
        else:
            _put(rows, 0, 2 * c, out)

    @staticmethod
    def _upsampled_at(upsample, site) -> torch.Tensor:
        _, r, c = site
        return _at(_take(upsample[1], 2, r % 2), c)

    def _embedding(self, site) -> torch.Tensor | None:
        k, r, c = site
        if self.embedding is None:
            return None
        return _at(_take(self.embedding[self.size >> k], 2, r), c)

    @staticmethod
    def _cross(
        cross: list[_Outputs] | None, k: int, which: str, b: int, site
    ) -> torch.Tensor | None:
        """The u-stream's output of its ``which`` ("up"/"down") pass block b at site, if ``cross``."""
        return None if cross is None else _at(getattr(cross[k], which)[b], site[2])


def _conv(cache: _ConvCache, x: torch.Tensor, col, due: bool = True) -> torch.Tensor | None:
    """A cached convolution's output at a row (col None) or pixel, if ``due``."""
    return cache.row(x, due) if col is None else cache.pixel(x, col, due)
