"""Layers of PixelCNN++ (Salimans et al. 2017), after openai/pixel-cnn's ``nn.py``.

Every convolution is weight-normalized. The shifted convolutions pad only above
(and to the left), so an output never sees input below (or to the right of) itself;
``down_shift``/``right_shift`` then move a whole stream one step so it sees strictly
earlier pixels. Tensors are NCHW.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def concat_elu(x: torch.Tensor) -> torch.Tensor:
    """ELU of [x, -x]: keeps both signs of the pre-activation (doubles the channels)."""
    return F.elu(torch.cat([x, -x], dim=1))


def down_shift(x: torch.Tensor) -> torch.Tensor:
    """Move every row one down (zeros in the top row): row i then holds rows < i."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


def right_shift(x: torch.Tensor) -> torch.Tensor:
    """Move every column one right (zeros in the left column)."""
    return F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]


def _weight_normed(module: nn.Module, init_scale: float = 1.0) -> nn.Module:
    """``module`` with weight normalization over each output channel (dim 0 of a Conv2d's
    weight, dim 1 of a ConvTranspose2d's), as in openai/pixel-cnn. ``init_scale`` is the
    output scale that :func:`auxpix.data_dependent_init` gives the layer; PixelCNN++ starts
    the residual branch's last convolution small (0.1)."""
    module = weight_norm(module, dim=1 if isinstance(module, nn.ConvTranspose2d) else 0)
    module.init_scale = init_scale
    if init_scale != 1.0:  # also without the data-dependent initialization
        with torch.no_grad():
            module.parametrizations.weight.original0.mul_(init_scale)
    return module


def weight_normed_layers(module: nn.Module) -> list[nn.Module]:
    """The weight-normalized convolutions inside ``module``, in the order they were created."""
    return [m for m in module.modules() if hasattr(m, "init_scale")]


@torch.no_grad()
def draw_directions(module: nn.Module, std: float) -> None:
    """Draw every weight-normed layer's direction V from N(0, ``std``), as openai/pixel-cnn
    starts them; the gains keep their values (the data-dependent initialization sets them)."""
    for layer in weight_normed_layers(module):
        layer.parametrizations.weight.original1.normal_(0.0, std)


class Conv(nn.Module):
    """Weight-normed convolution with explicit (left, right, top, bottom) zero padding."""

    def __init__(self, c_in, c_out, kernel, padding, stride=1, init_scale=1.0):
        super().__init__()
        self.padding = padding
        self.conv = _weight_normed(nn.Conv2d(c_in, c_out, kernel, stride=stride), init_scale)

    def forward(self, x):
        return self.conv(F.pad(x, self.padding))


def down_shifted_conv(c_in, c_out, kernel=(2, 3), stride=1, init_scale=1.0) -> Conv:
    """Sees the current row and the rows above, centred horizontally."""
    kh, kw = kernel
    return Conv(c_in, c_out, kernel, ((kw - 1) // 2, (kw - 1) // 2, kh - 1, 0), stride, init_scale)


def down_right_shifted_conv(c_in, c_out, kernel=(2, 2), stride=1, init_scale=1.0) -> Conv:
    """Sees the current pixel, pixels to its left and rows above-left."""
    kh, kw = kernel
    return Conv(c_in, c_out, kernel, (kw - 1, 0, kh - 1, 0), stride, init_scale)


def unshifted_conv(c_in, c_out, kernel=(3, 3), stride=1, init_scale=1.0) -> Conv:
    """Ordinary convolution with TensorFlow's 'SAME' padding (as the authors' code pads), for
    the embedding f_w(X̂), which needs no causality: k - s padding in all, the extra row and
    column (for an odd count) after, so a stride-2 3x3 convolution pads only below and right."""
    ph, pw = (max(k - stride, 0) for k in kernel)
    return Conv(
        c_in, c_out, kernel, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), stride, init_scale
    )


class TransposedConv(nn.Module):
    """Weight-normed stride-2 transposed convolution, cropped back to exactly 2x the input.

    ``crop_top``/``crop_left`` rows/columns are dropped at the top/left and the rest at
    the bottom/right. The shifted versions crop nothing at the top, so an output row
    never sees input rows below it.
    """

    def __init__(self, c_in, c_out, kernel, crop_top, crop_left):
        super().__init__()
        self.crop_top, self.crop_left = crop_top, crop_left
        self.conv = _weight_normed(
            nn.ConvTranspose2d(c_in, c_out, kernel, stride=2, output_padding=1)
        )

    def forward(self, x):
        h, w = x.shape[-2:]
        top, left = self.crop_top, self.crop_left
        return self.conv(x)[:, :, top : top + 2 * h, left : left + 2 * w]


def down_shifted_transposed_conv(c_in, c_out) -> TransposedConv:
    return TransposedConv(c_in, c_out, (2, 3), crop_top=0, crop_left=1)


def down_right_shifted_transposed_conv(c_in, c_out) -> TransposedConv:
    return TransposedConv(c_in, c_out, (2, 2), crop_top=0, crop_left=0)


def unshifted_transposed_conv(c_in, c_out) -> TransposedConv:
    """TensorFlow's 'SAME' stride-2 transposed 3x3 convolution: the extra rows and columns are
    cropped below and right."""
    return TransposedConv(c_in, c_out, (3, 3), crop_top=0, crop_left=0)


def nin(c_in, c_out) -> nn.Module:
    """Network-in-network: a weight-normed 1x1 convolution."""
    return _weight_normed(nn.Conv2d(c_in, c_out, 1))


@functools.cache
def _bit_masks(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """[256, 8]: row b holds the 8 bits of the byte b (least significant first), times 2."""
    bits = (torch.arange(256).unsqueeze(-1) >> torch.arange(8)) & 1
    return (2 * bits).to(dtype=dtype, device=device)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Element-wise dropout: each activation kept with probability 1 - p and scaled by
    1 / (1 - p) in training, the identity otherwise (``F.dropout``'s contract).

    For the paper's p = 0.5 on CPU, the Bernoulli(1/2) mask is one random bit per
    activation: uniform 64-bit words from the global generator (so a seed, and a run's
    saved RNG state, reproduce it), each byte expanded to its 8 bits (already scaled by 2)
    through a 256-row table. ``F.dropout`` draws a float per activation on CPU, serially,
    several times slower forward and backward at PixelCNN++'s shapes (benchmarks/README.md).
    Other p, other devices (whose fused kernels are fast) and torch.compile (which fuses it,
    and cannot trace the in-place draw) use ``F.dropout``.
    """
    if not training or p == 0.0:
        return x
    if p != 0.5 or x.device.type != "cpu" or torch.compiler.is_compiling():
        return F.dropout(x, p, training=True)
    n = x.numel()
    words = torch.empty((n + 63) // 64, dtype=torch.int64).random_(
        -(2**63), None
    )  # every bit uniform
    masks = _bit_masks(x.dtype, x.device).index_select(0, words.view(torch.uint8).int())
    return x * masks.view(-1)[:n].view(x.shape)


class Dropout(nn.Dropout):
    """``nn.Dropout`` (element-wise, the paper's and openai/pixel-cnn's) through :func:`dropout`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


class GatedResnet(nn.Module):
    """PixelCNN++'s gated residual block: x + a * sigmoid(b).

    ``aux_channels`` > 0 adds the 1x1 path for an auxiliary input ``a`` (PixelCNN++'s
    skip connections; here also the embedding f_w(X̂), concatenated to it), which biases
    the block's first convolution.
    """

    def __init__(self, nr_filters, conv_factory, aux_channels=0, dropout=0.5):
        super().__init__()
        self.conv_in = conv_factory(2 * nr_filters, nr_filters)
        self.aux_in = nin(2 * aux_channels, nr_filters) if aux_channels else None
        self.dropout = Dropout(dropout)
        self.conv_out = conv_factory(2 * nr_filters, 2 * nr_filters, init_scale=0.1)

    def forward(self, x, aux=None):
        h = self.conv_in(concat_elu(x))
        if self.aux_in is not None:
            h = h + self.aux_in(concat_elu(aux))
        h = self.conv_out(self.dropout(concat_elu(h)))
        a, b = h.chunk(2, dim=1)
        return x + a * torch.sigmoid(b)
