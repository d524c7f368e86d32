"""One autoregressive factor: p(X) or p(X | X̂) — a PixelCNN++ network, its output
distribution and, when conditional, the embedding f_w(X̂) (paper, eq. 3).

Every model of the paper is made of these: the plain PixelCNN++ is one, the Grayscale
PixelCNN two, the Pyramid PixelCNN one per resolution.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils import parametrize

from .compiled_sampling import CompiledDraws
from .config import EmbeddingConfig, NetConfig
from .distributions import (
    categorical_log_prob,
    categorical_sample,
    categorical_uniforms,
    logistic_mixture_log_prob,
    logistic_mixture_sample,
    mixture_uniforms,
)
from .errors import ConfigError
from .fast_sampling import DEFAULT_WINDOW, pixel_params
from .images import check_images
from .networks import EmbeddingNetwork, PixelCNNNetwork
from .progress import progress_bar


def in_eval_mode(method):
    """Run ``method`` with dropout off and without gradients, restoring the mode after."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return method(self, *args, **kwargs)
        finally:
            self.train(was_training)

    return wrapper


def to_unit(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Integer levels 0..levels-1 -> floats in [-1, 1], the networks' input scale."""
    return x.float() * (2.0 / (levels - 1)) - 1.0


def sample_values(
    params: torch.Tensor,
    *,
    channels: int,
    map: bool = False,
    log_scale_shift: float = 0.0,
    generator: torch.Generator | None = None,
    uniforms: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Pixel values drawn from the output distribution of ``channels`` channels (3: the
    logistic mixture, else a categorical) with parameters ``params``."""
    if channels == 3:
        return logistic_mixture_sample(
            params, map=map, log_scale_shift=log_scale_shift, generator=generator, uniforms=uniforms
        )
    return categorical_sample(params, map=map, generator=generator, uniforms=uniforms)


def _draw_scaled(params, uniforms, *, levels: int, **options) -> tuple[torch.Tensor, torch.Tensor]:
    """Values drawn with ``uniforms`` (:func:`sample_values`), and the same on the networks' scale."""
    values = sample_values(params, uniforms=uniforms, **options)
    return values, to_unit(values, levels)


class PixelCNN(nn.Module):
    """p(X) for images of ``channels`` x ``image_size`` x ``image_size`` with ``levels`` values.

    RGB (channels=3, levels=256) uses PixelCNN++'s discretized logistic mixture; one
    channel with few levels (the 4-bit grayscale X̂) uses a categorical softmax. With an
    ``embedding`` config it is conditional, p(X | X̂), X̂ having ``aux_channels``,
    ``aux_levels`` and side ``aux_size``.
    """

    def __init__(
        self,
        net: NetConfig,
        *,
        channels: int,
        levels: int,
        image_size: int,
        embedding: EmbeddingConfig | None = None,
        aux_channels: int = 0,
        aux_levels: int = 256,
        aux_size: int | None = None,
    ):
        super().__init__()
        if (channels, levels) != (3, 256) and channels != 1:
            raise ConfigError(
                f"PixelCNN models RGB with 256 levels or one channel, got {channels}x{levels}"
            )
        if image_size % 2 ** (net.nr_resolutions - 1):
            raise ConfigError(
                f"image size {image_size} cannot be halved {net.nr_resolutions - 1} times"
            )
        self.channels, self.levels, self.image_size = channels, levels, image_size
        self.aux_levels, self.aux_size = aux_levels, aux_size
        self.halvings = 2 ** (net.nr_resolutions - 1)  # a side the down pass halves exactly
        out_channels = 10 * net.nr_logistic_mix if channels == 3 else levels
        self.embedding = None
        if embedding is not None:  # f_w(X̂) at every resolution of the network, relative to X̂'s size
            scales = {image_size / 2**i / aux_size for i in range(net.nr_resolutions)}
            self.embedding = EmbeddingNetwork(embedding, aux_channels, sorted(scales))
        embed_channels = self.embedding.out_channels if self.embedding is not None else 0
        self.network = PixelCNNNetwork(
            net,
            channels,
            out_channels,
            embed_channels,
            embed_to_output=embedding is not None and embedding.to_output,
        )

    @property
    def conditional(self) -> bool:
        return self.embedding is not None

    def embed(self, aux: torch.Tensor | None) -> dict[int, torch.Tensor] | None:
        """f_w(X̂) at every resolution; computed once per image when sampling."""
        if self.embedding is None:
            if aux is not None:
                raise ValueError("this PixelCNN is unconditional: do not pass aux")
            return None
        if aux is None:
            raise ValueError("this PixelCNN is conditional: pass the auxiliary image aux")
        return self.embedding(to_unit(aux, self.aux_levels).to(self._dtype()))

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(
        self, x: torch.Tensor, aux: torch.Tensor | None = None, *, embedding=None, input_noise=None
    ) -> torch.Tensor:
        """Distribution parameters for every pixel (mixture parameters or logits);
        ``input_noise`` is added to the pixels the network reads (in its [-1, 1] scale)."""
        if embedding is None:
            embedding = self.embed(aux)
        inputs = to_unit(x, self.levels)
        if input_noise is not None:
            inputs = inputs + input_noise.to(inputs)
        return self.network(inputs.to(self._dtype()), embedding)

    def log_prob_from_params(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x) per pixel from the network's output; in float32 at least, also when the
        network ran under bfloat16 autocast (the likelihood's exp/log lose too much in bf16)."""
        params = params.float() if params.dtype in (torch.bfloat16, torch.float16) else params
        with torch.autocast(params.device.type, enabled=False):
            if self.channels == 3:
                return logistic_mixture_log_prob(x.long(), params)
            return categorical_log_prob(x, params)

    def log_prob(
        self,
        x: torch.Tensor,
        aux: torch.Tensor | None = None,
        reduction: str = "sum",
        *,
        input_noise=None,
    ) -> torch.Tensor:
        """log p(x) in nats: per image [B] (``"sum"``) or per pixel [B, H, W] (``"none"``);
        ``input_noise``: added to the pixels the network reads, not to those it scores.

        The networks are convolutional: besides images of its own size, it scores crops of
        them (a pyramid level's training crops), with X̂ cropped in proportion."""
        self._check_size(x, aux)
        per_pixel = self.log_prob_from_params(x, self(x, aux, input_noise=input_noise))
        if reduction == "none":
            return per_pixel
        if reduction == "sum":
            return per_pixel.sum(dim=(1, 2))
        raise ValueError(f"reduction must be 'sum' or 'none', got {reduction!r}")

    def _check_size(self, x: torch.Tensor, aux: torch.Tensor | None) -> None:
        check_images(x, channels=self.channels)
        side, halvings = x.shape[-1], self.halvings
        aux_side = side * self.aux_size // self.image_size if self.conditional else None
        if (
            x.shape[-2] != side
            or side % halvings
            or (aux is not None and aux.shape[-1] != aux_side)
        ):
            want = f"{self.image_size}x{self.image_size} images (or square crops of a side divisible by {halvings}"
            want += (
                f", with X̂ at {self.aux_size}/{self.image_size} of their side)"
                if self.conditional
                else ")"
            )
            got = f"{list(x.shape)}" + (f" with X̂ {list(aux.shape)}" if aux is not None else "")
            raise ValueError(f"this PixelCNN scores {want}, got {got}")

    def sample_pixel(
        self, params, *, map=False, log_scale_shift=0.0, generator=None, uniforms=None
    ) -> torch.Tensor:
        """Draw values for the pixels whose parameters are given; ``uniforms``: the draw's
        uniform numbers drawn beforehand (:meth:`pixel_uniforms`), else from ``generator``."""
        return sample_values(
            params,
            channels=self.channels,
            map=map,
            log_scale_shift=log_scale_shift,
            generator=generator,
            uniforms=uniforms,
        )

    def pixel_uniforms(
        self, params, *, map=False, generator=None, draws=None
    ) -> list[torch.Tensor]:
        """The uniform numbers :meth:`sample_pixel` draws for ``params``, in its order (those
        of ``draws`` pixels in turn, each tensor with a leading dimension of ``draws``)."""
        uniforms = mixture_uniforms if self.channels == 3 else categorical_uniforms
        return uniforms(params, map=map, generator=generator, draws=draws)

    @in_eval_mode
    def sample(
        self, n: int, aux: torch.Tensor | None = None, *, progress: bool = False, **options
    ) -> torch.Tensor:
        """n images [n, C, H, W] (uint8), drawn pixel by pixel in raster order.

        ``options`` are those of :meth:`sample_steps`: ``method="naive"`` runs the whole
        network for every pixel (the reference); ``"cached"`` (the default) computes each
        activation once; ``"window"`` runs the network on a ``window`` x ``window`` window
        around each pixel, the authors' sampler, approximate: the window cuts part of the
        context (:mod:`auxpix.fast_sampling`). All draw the same random numbers in the same
        order, so naive and cached give the same images, and the window differs only where
        the context it cuts changes a draw. ``map``, ``log_scale_shift`` and ``generator``
        choose how each pixel is drawn (:func:`~auxpix.distributions.logistic_mixture_sample`).
        """
        steps = self.sample_steps(n, aux, **options)
        size = self.image_size
        with parametrize.cached():  # weight normalization once, not once per pixel
            bar = progress_bar(
                steps, total=size * size, desc=f"sampling {size}x{size}", show=progress
            )
            image = deque(bar, maxlen=1)[0]  # the steps yield the image after each pixel
        return image.to(torch.uint8)

    @in_eval_mode
    def compile_sampling(
        self, n: int, aux: torch.Tensor | None = None, *, map=False, log_scale_shift=0.0
    ) -> None:
        """Compile the steps that ``sample(n, aux, compile=True, map=map,
        log_scale_shift=log_scale_shift)`` runs, for the dtype, device and CPU threads of now,
        so that sampling then compiles nothing; nothing to do if they are compiled already."""
        like, size = next(self.parameters()), self.image_size
        x = torch.zeros(n, self.channels, size, size, dtype=torch.long, device=like.device)
        with parametrize.cached():
            draws = self._compiled_draws(
                self.embed(aux),
                to_unit(x, self.levels).to(like.dtype),
                x,
                map=map,
                log_scale_shift=log_scale_shift,
            )
            draws.compile()

    def _compiled_draws(
        self, embedding, network_input, x, *, map, log_scale_shift, generator=None
    ) -> CompiledDraws:
        draw = functools.partial(
            _draw_scaled,
            channels=self.channels,
            levels=self.levels,
            map=map,
            log_scale_shift=log_scale_shift,
        )
        return CompiledDraws(
            self.network,
            embedding,
            network_input,
            x,
            draw=draw,
            draw_key=(self.channels, self.levels, map, log_scale_shift),
            uniforms=functools.partial(self.pixel_uniforms, map=map, generator=generator),
        )

    def sample_steps(
        self,
        n: int,
        aux: torch.Tensor | None = None,
        *,
        method: str = "cached",
        window: int = DEFAULT_WINDOW,
        map: bool = False,
        log_scale_shift: float = 0.0,
        generator: torch.Generator | None = None,
        compile: bool = False,
    ) -> Iterator[torch.Tensor]:
        """Yield the n images (int64, [n, C, H, W]) after each pixel drawn in raster order.

        The loop behind :meth:`sample`, which runs it to the end; timing runs a prefix. The
        caller sets eval mode and ``torch.no_grad()``: a generator cannot hold them for it.
        ``window``: the window's side for ``method="window"`` (default 16, the authors');
        ``compile``: the cached sampler's steps compiled (:mod:`auxpix.compiled_sampling`).
        """
        like = next(self.parameters())
        embedding = self.embed(aux)
        size = self.image_size
        x = torch.zeros(n, self.channels, size, size, dtype=torch.long, device=like.device)
        network_input = to_unit(x, self.levels).to(like.dtype)  # kept equal to to_unit(x)
        if compile:
            if method != "cached":
                raise ConfigError(
                    f"compile=True compiles the cached sampler, not method={method!r}"
                )
            draw_at = self._compiled_draws(
                embedding,
                network_input,
                x,
                map=map,
                log_scale_shift=log_scale_shift,
                generator=generator,
            )
        else:
            params_at = pixel_params(method, self.network, embedding, network_input, window=window)

            def draw_at(i: int, j: int) -> None:
                params = params_at(network_input, i, j)
                value = self.sample_pixel(
                    params, map=map, log_scale_shift=log_scale_shift, generator=generator
                )
                x[:, :, i : i + 1, j : j + 1] = value
                network_input[:, :, i : i + 1, j : j + 1] = to_unit(value, self.levels)

        for i in range(size):
            for j in range(size):
                draw_at(i, j)
                yield x
