"""Compiled cached sampling: a pixel's cached step and its draw compiled once, for every pixel.

The cached sampler (:class:`~auxpix.cached_sampling.CachedNetwork`) and the draw run a few
hundred small operations per pixel, and eager PyTorch spends most of a pixel dispatching
them. The cached steps are shape-static, so :class:`CompiledDraws` compiles with
``torch.compile``, once, a function that runs the pixel step, draws the pixel's values from
its parameters and writes them into the images: one graph per number of resolutions a pixel
starts (1 for a pyramid level's one-resolution net, 3 for PixelCNN++'s three), never one per
pixel or row. The draw's uniform numbers are drawn eagerly, a row's at its start, in the eager
sampler's order, so the draws are the eager sampler's up to the order of floating-point sums:
in float64 the same images; in float32 a value on a bin boundary may round the other way, and
the pixels drawn after it, which see it, then differ too.

The row step, once a row, compiles too. On the CPU inductor fuses the elementwise chains
between the matrix products; on CUDA each step is replayed as a CUDA graph.
"""

from __future__ import annotations

import copy
import functools
import types
import weakref
from collections.abc import Callable
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
    rows: dict[tuple, list]  # per configuration: its row steps per depth
    draws: dict[tuple, tuple[Callable, list]]  # per configuration and draw: the draw, its steps


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # network -> _Compiled


class CompiledDraws:
    """Draws pixel (i, j) of the images x (int64 [B, C, H, W]) at each call, in raster order,
    into x and into ``network_input`` (x on the network's scale, its input).

    ``draw(params, uniforms) -> (values, values on the input scale)`` draws a pixel from its
    parameters with the uniform numbers ``uniforms(params, draws=width)``, drawn eagerly for a
    whole row at its start, in the order the eager sampler draws them pixel by pixel (one call
    instead of one a pixel; a row left unfinished has drawn the rest of its numbers). The CPU
    generator gives the same numbers either way; a CUDA one gives others, as random.
    ``draw_key`` names the draw's settings. The steps are compiled at their first call and
    kept with the network per configuration (the images' shape, dtype and device, the CPU
    threads) and draw: later images compile nothing (:meth:`compile` compiles them all at
    once). They run on a copy of the network whose weights are the network's,
    weight-normalized once (copied for every sampler, so training in between is seen).
    """

    def __init__(
        self,
        network: PixelCNNNetwork,
        embedding: dict[int, torch.Tensor] | None,
        network_input: torch.Tensor,
        x: torch.Tensor,
        *,
        draw: Callable,
        draw_key: tuple,
        uniforms: Callable,
    ):
        compiled = _COMPILED.get(network)
        if compiled is None:
            compiled = _COMPILED[network] = _Compiled(_plain_copy(network), {}, {})
        configuration = (tuple(x.shape), network_input.dtype, x.device, torch.get_num_threads())
        device, resolutions = x.device, network.resolutions
        if configuration not in compiled.rows:
            compiled.rows[configuration] = _row_steps(resolutions, device)
        if (configuration, draw_key) not in compiled.draws:
            compiled.draws[configuration, draw_key] = (draw, _draw_steps(resolutions, device))
        self.draw, self.steps = compiled.draws[configuration, draw_key]
        _copy_weights(network, compiled.network, network_input)
        self.cached = CachedNetwork(
            compiled.network,
            embedding,
            network_input,
            static=True,
            row_steps=compiled.rows[configuration],
        )
        self.network_input, self.x, self.uniforms = network_input, x, uniforms
        self.template = network_input.new_empty(len(x), network.out.out_channels, 1, 1)
        for tensor in _state(self.cached, network_input) + [x]:  # CUDA graphs use them in place
            torch._dynamo.mark_static_address(tensor)

    def __call__(self, i: int, j: int) -> None:
        cached = self.cached
        cached.row_if_due(self.network_input, i, j)
        if j == 0:
            self.row_uniforms = self.uniforms(self.template, draws=self.x.shape[-1])
        depth = cached.depth_at(i, j)
        self._step(cached.rows[i], cached.columns[j], depth)

    def _step(self, i: torch.Tensor, j: torch.Tensor, depth: int) -> None:
        step = self.steps[depth - 1]
        step(self.cached, self.network_input, self.x, i, j, depth, self.draw, self.row_uniforms)

    def compile(self) -> None:
        """Compile every step (a call of each; this sampler's images are scratch after it)."""
        cached, resolutions = self.cached, self.cached.net.resolutions
        for depth in range(1, resolutions + 1):  # where a row, a pixel starts `depth` of them
            first = 0 if depth == resolutions else 2 ** (depth - 1)
            cached.row_steps[depth - 1](cached, self.network_input, cached.rows[first], depth)
            self.row_uniforms = self.uniforms(self.template, draws=self.x.shape[-1])
            self._step(cached.rows[0], cached.columns[first], depth)


def _draw_step(
    cached: CachedNetwork, network_input, x, i, j, depth: int, draw, row_uniforms
) -> None:
    """The pixel step at (i, j), its draw (with pixel j's of the row's uniform numbers) and the
    writes of the values drawn."""
    params = CachedNetwork.pixel_step(cached, network_input, i, j, depth)
    values, scaled = draw(params, [u.index_select(0, j).squeeze(0) for u in row_uniforms])
    index = i * x.shape[-1] + j  # (i, j) in the images' flattened rows
    x.view(*x.shape[:2], -1).index_copy_(2, index, values.flatten(2))
    network_input.view(*x.shape[:2], -1).index_copy_(2, index, scaled.to(network_input).flatten(2))


def _compiler(device: torch.device) -> Callable:
    """torch.compile as the steps use it. 1x1 convolutions run as matrix products (faster than
    convolutions of one pixel); the convolutions keep the layout they are given (inductor's
    channels-last layout would transpose their weights at every call: the weights are inputs
    of the step, not constants); on the CPU the kernels are called from C++ (``cpp_wrapper``),
    not one Python line each; on CUDA the steps replay as CUDA graphs (what
    ``mode="reduce-overhead"`` does)."""
    cuda = device.type == "cuda"
    options = {
        "conv_1x1_as_mm": True,
        "layout_optimization": False,
        "triton.cudagraphs": cuda,
        "cpp_wrapper": not cuda,
        "guard_filter_fn": _no_guards,
    }
    return functools.partial(torch.compile, dynamic=False, fullgraph=True, options=options)


def _no_guards(entries) -> list[bool]:
    """Keep none of dynamo's guards: a step is kept under its configuration (see _Unguarded)."""
    return [False] * len(entries)


def _draw_steps(resolutions: int, device: torch.device) -> list:
    """:func:`_draw_step` compiled, one per depth (:func:`_per_depth`)."""
    return _per_depth(_draw_step, resolutions, device)


def _row_steps(resolutions: int, device: torch.device) -> list:
    """The row steps, compiled, one per depth (:func:`_per_depth`): once a row, but a row's
    hundreds of small operations still cost a 32x32 pyramid level about a seventh of its time
    per pixel when run eagerly (benchmarks/README.md)."""
    return _per_depth(CachedNetwork.row_step, resolutions, device)


def _per_depth(function, resolutions: int, device: torch.device) -> list:
    """``function`` compiled once per depth, each a function of its own: dynamo keeps a
    function's graphs (and its limit on recompiling them) per code object, so every network,
    configuration, draw and depth gets one and none recompiles another's."""
    compile = _compiler(device)
    steps = [_Unguarded(compile(_own_code(function))) for _ in range(resolutions)]
    return steps if device.type != "cuda" else [_new_step(step) for step in steps]


class _Unguarded:
    """``step`` compiled ahead (``aot_compile``) at its first call, for that call's inputs, and
    from then on called as plain Python around the compiled graph: no frame evaluation and no
    guards. What the guards would check (the inputs' shapes, dtypes and devices, the draw) is
    the key the step is kept under; checking it at every pixel, and entering dynamo, cost a
    good share of a small net's compiled step (benchmarks/README.md)."""

    def __init__(self, step):
        self.step, self.compiled = step, None

    def __call__(self, *args):
        if self.compiled is None:
            if hasattr(self.step, "aot_compile"):
                self.compiled = self.step.aot_compile((args, {}))
                self.compiled.disable_guard_check()
            else:  # torch.compile turned off (TORCHDYNAMO_DISABLE=1, or replaced): as it is
                self.compiled = self.step
        return self.compiled(*args)

    def __reduce__(self):
        # aot_compile pickles what a step reads (the cached network holds the row steps) with
        # its guards, which nothing here loads: a step pickles as a new, empty one.
        return (_Unguarded, (None,))


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
    caches = [t for caches in cached.shifting for cache in caches for t in cache.state()]
    upsampled = [rows for stream in (cached.u, cached.ul) for _, rows in stream.upsample]
    rows = [t for outputs in cached.u_rows for t in outputs.up + outputs.down]
    rows += [t for level in cached.ul_aux_rows for t in level if t is not None]
    embedding = list(cached.embedding.values()) if cached.embedding is not None else []
    return [x, cached.above, *caches, *upsampled, *rows, *embedding]
