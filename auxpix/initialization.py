"""Data-dependent initialization of the weight-normalized layers (Salimans & Kingma 2016),
as openai/pixel-cnn (and the authors' code, which adapts it) start training.

One forward pass over an init batch visits the layers in the order they run; each layer's
gain g and bias b are set so that its output on the batch has zero mean and standard
deviation ``init_scale`` per channel (1, or 0.1 for the last convolution of a residual
block), and the later layers see those normalized outputs. The direction of each weight
stays what it was. With ``dropout`` the pass runs in training mode, as openai's does
(``init=True`` with ``dropout_p``), so the scales are those the trained network starts with.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import TransposedConv, weight_normed_layers
from .models import AuxiliaryVariableModel


@torch.no_grad()
def data_dependent_init(
    model: AuxiliaryVariableModel, part: str, images: torch.Tensor, *, dropout: bool = False
) -> None:
    """Initialize part ``part`` of ``model`` from one pass over ``images`` (uint8 [N, 3, H, W],
    the init batch), in training mode if ``dropout``. Call it once, before the first step of a
    fresh part (never on resume)."""
    net = model.parts[part]
    was_training = net.training
    net.train(dropout)
    handles = [
        owner.register_forward_hook(_normalize_output(layer)) for owner, layer in _hooked(net)
    ]
    try:
        model.part_bpd(part, images.to(next(net.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
        net.train(was_training)


def _hooked(net: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
    """(module whose output is normalized, the weight-normed layer inside it): a transposed
    convolution's output counts after its crop, so its wrapper is hooked."""
    owners = {id(m.conv): m for m in net.modules() if isinstance(m, TransposedConv)}
    return [(owners.get(id(layer), layer), layer) for layer in weight_normed_layers(net)]


def _normalize_output(layer: nn.Module):
    """A forward hook that rescales ``layer``'s gain and bias on its first call, so that its
    output has zero mean and std ``layer.init_scale`` per channel, and returns that output."""
    done = False

    def hook(module, inputs, output):
        nonlocal done
        if done:  # a layer run twice in one pass is initialized by its first run
            return None
        done = True
        channels = output.transpose(0, 1).flatten(1)
        mean, std = channels.mean(dim=1), channels.std(dim=1, unbiased=False)
        scale = layer.init_scale / (std + 1e-8)
        layer.parametrizations.weight.original0.view(-1).mul_(scale)
        layer.bias.sub_(mean).mul_(scale)
        shape = [1, -1] + [1] * (output.dim() - 2)
        return (output - mean.view(shape)) * scale.view(shape)

    return hook
