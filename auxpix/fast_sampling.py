"""Fast sampling: PixelCNN++'s output one pixel at a time, without a whole-image pass each.

The samplers (:data:`METHODS`, chosen by :func:`pixel_params`):

* ``naive`` runs the whole network for every pixel: the reference;
* ``cached`` (:class:`~auxpix.cached_sampling.CachedNetwork`) computes each activation
  once: exact; with ``compile=True`` its steps run compiled (:mod:`auxpix.compiled_sampling`);
* ``window`` (:class:`WindowedNetwork`) runs the whole network on a window around each
  pixel, the authors' sampler (kolesman/FaceGeneration): a constant cost per pixel, but
  approximate, as the window cuts part of the context.
"""

from __future__ import annotations

import functools

import torch

from .cached_sampling import CachedNetwork
from .networks import PixelCNNNetwork

METHODS = ("cached", "naive", "window")
DEFAULT_WINDOW = 16  # the authors' FOV (kolesman/FaceGeneration, demo.ipynb)


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
    the image's right edge, where the full pass sees zero padding too. It always holds the
    grid cell of the pixel: a window of one cell is that cell (rounding down a whole cell
    would leave the pixel out)."""
    cell = j // grid * grid
    start = max(0, (j - size // 2) // grid * grid, cell + grid - size)
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
    ``window``: the window's size for ``method="window"``. (The cached sampler compiled,
    with its draw: :class:`~auxpix.compiled_sampling.CompiledDraws`.)"""
    if method not in METHODS:
        raise ValueError(f"sampling method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "naive":
        return functools.partial(_output_at, network, embedding)
    if method == "window":
        return WindowedNetwork(network, embedding, window)
    return CachedNetwork(network, embedding, x)
