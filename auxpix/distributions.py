"""Per-pixel output distributions: PixelCNN++'s discretized logistic mixture and a categorical.

Pixel values v in 0..255 live on the grid x = v / 127.5 - 1 in [-1, 1]; value v owns the
bin [x - 1/255, x + 1/255], except that the bins of 0 and 255 reach out to -inf and +inf,
so the 256 probabilities of a channel sum to exactly 1.

Mixture parameters follow PixelCNN++'s channel layout, [B, 10*K, H, W]: K mixture logits,
then for each colour channel (R, G, B) in turn K means, K log-scales and K raw
coefficients. The coefficients pass through tanh and make the mean of G depend on R,
and the mean of B on R and G, within the same mixture component.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MIN_LOG_SCALE = -7.0  # PixelCNN++ clamps predicted log-scales here
_EPS = 1e-7  # keeps uniform draws away from 0 and 1


def _unpack(params: torch.Tensor):
    b, c, h, w = params.shape
    if c % 10:
        raise ValueError(f"mixture parameters need 10*K channels, got {c}")
    k = c // 10
    logits = params[:, :k]
    rest = params[:, k:].reshape(b, 3, 3 * k, h, w)
    means, log_scales, coeffs = (
        rest[:, :, :k],
        rest[:, :, k : 2 * k],
        torch.tanh(rest[:, :, 2 * k :]),
    )
    return logits, means, log_scales, coeffs


def logistic_mixture_log_prob(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Natural-log probability of each pixel's discrete RGB value, [B, H, W].

    ``x``: integer tensor [B, 3, H, W] with values 0..255; ``params``: [B, 10*K, H, W].
    Exactly PixelCNN++'s likelihood: edge bins at 0 and 255, and where a bin's mass
    underflows (< 1e-5) the density at the bin centre times the bin width instead.
    """
    logits, means, log_scales, coeffs = _unpack(params)
    log_scales = log_scales.clamp(min=MIN_LOG_SCALE)
    xu = (x.to(params.dtype) / 127.5 - 1.0).unsqueeze(2)  # [B, 3, 1, H, W], broadcasts over K
    r, g = xu[:, 0], xu[:, 1]
    mean_r = means[:, 0]
    mean_g = means[:, 1] + coeffs[:, 0] * r
    mean_b = means[:, 2] + coeffs[:, 1] * r + coeffs[:, 2] * g
    centered = xu - torch.stack([mean_r, mean_g, mean_b], dim=1)
    inv_scale = torch.exp(-log_scales)
    plus_in = inv_scale * (centered + 1.0 / 255.0)
    min_in = inv_scale * (centered - 1.0 / 255.0)
    log_cdf_plus = plus_in - F.softplus(plus_in)  # log P(X <= bin top): the bin of 0
    log_one_minus_cdf_min = -F.softplus(min_in)  # log P(X >= bin bottom): the bin of 255
    cdf_delta = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
    mid_in = inv_scale * centered
    log_pdf_mid = mid_in - log_scales - 2.0 * F.softplus(mid_in)
    interior = torch.where(
        cdf_delta > 1e-5,
        torch.log(cdf_delta.clamp(min=1e-12)),
        log_pdf_mid - math.log(127.5),
    )
    v = x.unsqueeze(2)
    per_channel = torch.where(
        v == 0, log_cdf_plus, torch.where(v == 255, log_one_minus_cdf_min, interior)
    )
    joint = per_channel.sum(dim=1) + F.log_softmax(logits, dim=1)  # [B, K, H, W]
    return torch.logsumexp(joint, dim=1)


def _uniform(shape, like: torch.Tensor, generator) -> torch.Tensor:
    """Uniform numbers in (0, 1) of ``shape``, with the dtype and device of ``like``."""
    u = torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)
    return u.clamp(_EPS, 1.0 - _EPS)


def _gumbel_argmax(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Index drawn from softmax(logits) along dim 1 (the Gumbel-max trick), u uniform as logits."""
    return (logits - torch.log(-torch.log(u))).argmax(dim=1)


def mixture_uniforms(
    params: torch.Tensor,
    *,
    map: bool = False,
    generator: torch.Generator | None = None,
    draws: int | None = None,
) -> list[torch.Tensor]:
    """The uniform numbers :func:`logistic_mixture_sample` draws for ``params``, in its order:
    one per component (the component's draw), then, unless ``map``, one per channel (its noise).
    Drawn apart, they let the draw itself run inside a compiled graph. ``draws``: those of
    that many draws, one after the other, each tensor with a leading dimension of ``draws``."""
    b, c, h, w = params.shape
    shapes = [(b, c // 10, h, w)] + ([] if map else [(b, 3, h, w)])
    return _uniforms(shapes, params, generator, draws)


def categorical_uniforms(
    logits: torch.Tensor,
    *,
    map: bool = False,
    generator: torch.Generator | None = None,
    draws: int | None = None,
) -> list[torch.Tensor]:
    """The uniform numbers :func:`categorical_sample` draws for ``logits`` (none for ``map``);
    ``draws`` as in :func:`mixture_uniforms`."""
    return [] if map else _uniforms([tuple(logits.shape)], logits, generator, draws)


def _uniforms(shapes, like: torch.Tensor, generator, draws: int | None) -> list[torch.Tensor]:
    """Uniform numbers of ``shapes`` in turn; with ``draws``, those of ``draws`` such turns from
    one call (the CPU generator draws a tensor's numbers in order: the same numbers)."""
    if draws is None:
        return [_uniform(shape, like, generator) for shape in shapes]
    sizes = [math.prod(shape) for shape in shapes]
    numbers = _uniform((draws, sum(sizes)), like, generator)
    return [part.reshape(draws, *shape) for part, shape in zip(numbers.split(sizes, dim=1), shapes)]


def _discretize(y: torch.Tensor) -> torch.Tensor:
    """The 0..255 value whose bin holds the continuous value y (edge bins unbounded)."""
    return torch.round((y + 1.0) * 127.5).clamp(0, 255)


def logistic_mixture_sample(
    params: torch.Tensor,
    *,
    log_scale_shift: float = 0.0,
    map: bool = False,
    generator: torch.Generator | None = None,
    uniforms: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Draw pixel values [B, 3, H, W] (int64, 0..255) from the distribution that
    :func:`logistic_mixture_log_prob` scores.

    A component is drawn from the mixture weights, then R, then G given the drawn value
    of R, then B given R and G. Each draw is rounded into its bin, and the *discrete*
    values condition the next channel, exactly as the likelihood does (the released
    PixelCNN++ sampler conditions on the unrounded values instead).

    ``log_scale_shift`` = c is the paper's variance reduction (Figure 4): c is subtracted
    from every predicted log-scale before the clamp at -7, as the authors' released
    sampler does. The paper words it as subtracting c from the "log-variance"; since the
    variance of a logistic is s^2 pi^2 / 3, subtracting c from log s subtracts 2c from
    the log-variance. ``map=True`` is the paper's MAP sampling: draw the component, then
    take that component's mode (the bin that holds its mean) instead of a second draw.
    ``uniforms``: the draw's uniform numbers, drawn beforehand (:func:`mixture_uniforms`);
    by default drawn here from ``generator``.
    """
    if uniforms is None:
        uniforms = mixture_uniforms(params, map=map, generator=generator)
    logits, means, log_scales, coeffs = _unpack(params)
    k = _gumbel_argmax(logits, uniforms[0]).unsqueeze(1).unsqueeze(2)  # [B, 1, 1, H, W]
    pick = lambda t: t.gather(2, k.expand(-1, t.shape[1], 1, -1, -1)).squeeze(2)  # noqa: E731
    means, coeffs = pick(means), pick(coeffs)
    scales = torch.exp((pick(log_scales) - log_scale_shift).clamp(min=MIN_LOG_SCALE))
    if map:
        noise = torch.zeros_like(means)
    else:
        u = uniforms[1]
        noise = scales * (torch.log(u) - torch.log1p(-u))  # logistic(0, s)
    r = _discretize(means[:, 0] + noise[:, 0])
    r_unit = r / 127.5 - 1.0
    g = _discretize(means[:, 1] + coeffs[:, 0] * r_unit + noise[:, 1])
    g_unit = g / 127.5 - 1.0
    b = _discretize(means[:, 2] + coeffs[:, 1] * r_unit + coeffs[:, 2] * g_unit + noise[:, 2])
    return torch.stack([r, g, b], dim=1).long()


def categorical_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Natural-log probability of each pixel's level, [B, H, W].

    ``x``: integer tensor [B, 1, H, W] (or [B, H, W]) with values 0..L-1; ``logits``: [B, L, H, W].
    """
    if x.dim() == 4:
        x = x[:, 0]
    return F.log_softmax(logits, dim=1).gather(1, x.long().unsqueeze(1)).squeeze(1)


def categorical_sample(
    logits: torch.Tensor,
    *,
    map: bool = False,
    generator: torch.Generator | None = None,
    uniforms: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Levels [B, 1, H, W] (int64) drawn from softmax(logits); ``map=True`` takes the most
    likely. ``uniforms``: the draw's uniform numbers, drawn beforehand (:func:`categorical_uniforms`)."""
    if map:
        return logits.argmax(dim=1, keepdim=True)
    if uniforms is None:
        uniforms = categorical_uniforms(logits, generator=generator)
    return _gumbel_argmax(logits, uniforms[0]).unsqueeze(1)
