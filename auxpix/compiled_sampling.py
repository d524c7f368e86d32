"""Compiled cached sampling: the exact cached sampler's steps compiled once, for every pixel.

The cached sampler (:class:`~auxpix.cached_sampling.CachedNetwork`) runs a few hundred small
operations per pixel, and eager PyTorch spends most of a step dispatching them. Its steps
are shape-static, so :func:`compiled_cached_network` compiles its pixel step with
``torch.compile`` once and runs it for every pixel: one graph per number of resolutions a
pixel starts (1 for a pyramid level's one-resolution net, 3 for PixelCNN++'s three), never
one per pixel or row. On the CPU inductor fuses the elementwise chains between the matrix
products, and the row step, once a row, runs eagerly; on CUDA the row steps compile too and
each step is replayed as a CUDA graph. The draws are the eager sampler's up to the order of
floating-point sums: in float64 the same images; in float32 a value on a bin boundary may
round the other way, and the pixels drawn after it, which see it, then differ too.
"""

from __future__ import annotations

import copy
import functools
import types
import weakref
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils import parametrize

from .cached_sampling import CachedNetwork
from .layers import weight_normed_layers
from .networks import PixelCNNNetwork


class _Compiled(NamedTuple):
    """What a network's compiled sampling keeps from one image to the next."""

    network: PixelCNNNetwork  # a copy with plain weights, refreshed from the network each image
    steps: dict[tuple, tuple[list, list]]  # per configuration: its row and pixel steps per depth


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # network -> _Compiled


def compiled_cached_network(
    network: PixelCNNNetwork, embedding: dict[int, torch.Tensor] | None, x: torch.Tensor
) -> CachedNetwork:
    """A :class:`CachedNetwork` of ``network`` whose steps run compiled, called as the eager
    one is, for the network's input x [B, C, H, W].

    Each step is compiled at its first call and kept with the network for the configuration
    of x (batch, dtype, device) and the CPU threads: later images compile nothing
    (:func:`compile_steps` compiles them all at once). The steps run on a copy of the network
    whose weights are the network's, weight-normalized once (copied at every call, so
    training in between is seen)."""
    compiled = _COMPILED.get(network)
    if compiled is None:
        compiled = _COMPILED[network] = _Compiled(_plain_copy(network), {})
    key = (tuple(x.shape), x.dtype, x.device, torch.get_num_threads())
    if key not in compiled.steps:
        compiled.steps[key] = _compiled_steps(network.resolutions, x.device)
    _copy_weights(network, compiled.network, x)
    cached = CachedNetwork(compiled.network, embedding, x, static=True, steps=compiled.steps[key])
    for tensor in _state(cached, x):  # CUDA graphs read and write them where they are
        torch._dynamo.mark_static_address(tensor)
    return cached


def compile_steps(
    network: PixelCNNNetwork, embedding: dict[int, torch.Tensor] | None, x: torch.Tensor
) -> None:
    """Compile every step of :func:`compiled_cached_network` for the configuration of x
    (a call of each on scratch state), so that sampling then compiles nothing: how the first
    call's compile time is measured apart from the time per pixel."""
    scratch = x.clone()
    cached = compiled_cached_network(network, embedding, scratch)
    rows, pixels = cached.steps
    for depth in range(1, network.resolutions + 1):  # where a row, a pixel starts `depth` of them
        first = 0 if depth == network.resolutions else 2 ** (depth - 1)
        rows[depth - 1](cached, scratch, cached.rows[first], depth)
        pixels[depth - 1](cached, scratch, cached.rows[0], cached.columns[first], depth)


def _compiled_steps(resolutions: int, device: torch.device) -> tuple[list, list]:
    """The row and pixel steps, one per depth, the pixel steps compiled, each a function of
    its own: dynamo keeps a function's graphs (and its limit on recompiling them) per code
    object, so every network, configuration and depth gets one and none recompiles another's.

    On the CPU a row step runs eagerly, once a row: the convolutions over the whole row
    dominate it, so compiling it would double the compile time to save a few per cent; its
    kernels are called from C++ (``cpp_wrapper``), not one Python line each. On CUDA both
    steps compile and replay as CUDA graphs (what ``mode="reduce-overhead"`` does), where a
    row's hundreds of kernel launches would cost more. 1x1 convolutions run as matrix
    products (faster than convolutions of one pixel)."""
    cuda = device.type == "cuda"
    options = {"conv_1x1_as_mm": True, "triton.cudagraphs": cuda, "cpp_wrapper": not cuda}
    compile = functools.partial(torch.compile, dynamic=False, fullgraph=True, options=options)
    pixels = [compile(_own_code(CachedNetwork.pixel_step)) for _ in range(resolutions)]
    if not cuda:
        return [CachedNetwork.row_step] * resolutions, pixels
    rows = [compile(_own_code(CachedNetwork.row_step)) for _ in range(resolutions)]
    return [_new_step(step) for step in rows], [_new_step(step) for step in pixels]


def _new_step(step):
    """``step``, each call a new step of CUDA graphs: a call may overwrite the outputs of the
    last (a pixel's parameters, used up before the next pixel)."""

    def run(*args):
        torch.compiler.cudagraph_mark_step_begin()
        return step(*args)

    return run


def _own_code(function):
    """``function`` with a code object of its own."""
    return types.FunctionType(
        function.__code__.replace(), function.__globals__, function.__name__, function.__defaults__
    )


def _plain_copy(network: PixelCNNNetwork) -> PixelCNNNetwork:
    """A copy of ``network`` whose weight-normed layers hold plain weights.

    As ``parametrize.remove_parametrizations`` does, but for the copy alone: a deep copy
    shares the original's parametrized class, from which that function deletes the weight."""
    plain = copy.deepcopy(network)
    for layer in weight_normed_layers(plain):
        weight = layer.weight.detach()
        layer.__class__ = parametrize.type_before_parametrizations(layer)
        del layer.parametrizations
        layer.weight = nn.Parameter(weight, requires_grad=False)
    return plain.requires_grad_(False).eval()


@torch.no_grad()
def _copy_weights(network: PixelCNNNetwork, plain: PixelCNNNetwork, like: torch.Tensor) -> None:
    """Give ``plain`` the weights of ``network`` (normalized), with the dtype and device of ``like``."""
    plain.to(like)
    for source, target in zip(weight_normed_layers(network), weight_normed_layers(plain)):
        target.weight.copy_(source.weight)
        target.bias.copy_(source.bias)


def _state(cached: CachedNetwork, x: torch.Tensor) -> list[torch.Tensor]:
    """Every tensor the steps read or write throughout an image but the weights (not the
    positions: a CUDA graph copies those in, where a new address would make it record again)."""
    caches = [cache.window for caches in cached.shifting for cache in caches]
    upsampled = [rows for stream in (cached.u, cached.ul) for _, rows in stream.upsample]
    rows = [t for outputs in cached.u_rows for t in outputs.up + outputs.down]
    embedding = list(cached.embedding.values()) if cached.embedding is not None else []
    return [x, cached.above, *caches, *upsampled, *rows, *embedding]
