"""The likelihoods are normalized, and the samplers draw from what the likelihoods score."""

import math

import pytest
import torch

from auxpix.distributions import (
    categorical_log_prob,
    categorical_sample,
    categorical_uniforms,
    logistic_mixture_log_prob,
    logistic_mixture_sample,
    mixture_uniforms,
)

K = 3


def random_params(seed, *, k=K, log_scale=(-4.0, 0.0), mean=(-1.1, 1.1), coeff=3.0):
    """Mixture parameters of one pixel, [1, 10k, 1, 1], in PixelCNN++'s channel layout."""
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi, n: lo + (hi - lo) * torch.rand(n, generator=g)  # noqa: E731
    per_channel = [
        torch.cat([u(*mean, k), u(*log_scale, k), u(-coeff, coeff, k)]) for _ in range(3)
    ]
    return torch.cat([torch.randn(k, generator=g), *per_channel]).view(1, 10 * k, 1, 1)


def all_values_log_prob(params):
    """log p of every one of the 256^3 RGB values of one pixel, [256, 256, 256]."""
    gb = torch.stack(torch.meshgrid(torch.arange(256), torch.arange(256), indexing="ij")).reshape(
        2, -1
    )
    out = []
    for r in range(256):
        x = torch.cat([torch.full((1, gb.shape[1]), r), gb]).T.reshape(-1, 3, 1, 1)
        out.append(
            logistic_mixture_log_prob(x, params.expand(x.shape[0], -1, -1, -1)).view(256, 256)
        )
    return torch.stack(out)


@pytest.mark.parametrize(
    "params",
    [
        random_params(0, k=2),
        random_params(1, k=2, log_scale=(-7.5, -6.0)),  # below the clamp: very peaked bins
        random_params(
            2, k=2, mean=(-1.05, 1.05), log_scale=(-3, 2)
        ),  # mass in the edge bins, and flat
    ],
)
def test_logistic_mixture_sums_to_one_over_all_rgb_values(params):
    total = all_values_log_prob(params).double().exp().sum().item()
    assert total == pytest.approx(1.0, abs=1e-3)


def probabilities(params, rgb):
    """p of the given RGB values [N, 3] of one pixel."""
    return (
        logistic_mixture_log_prob(rgb.view(-1, 3, 1, 1), params.expand(rgb.shape[0], -1, -1, -1))
        .double()
        .exp()
    )


def grid(*axes):
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(axes))


def test_colour_order_r_then_g_given_r_then_b_given_r_and_g():
    """Summing out B leaves p(R, G), which the B parameters cannot change; summing out G
    and B leaves p(R), which the G parameters cannot change either."""
    params, donor = random_params(5), random_params(6)
    b_slots = slice(K + 2 * 3 * K, K + 3 * 3 * K)  # the blue channel's means, scales, coeffs
    g_slots = slice(K + 3 * K, K + 2 * 3 * K)
    new_b, new_gb = params.clone(), params.clone()
    new_b[:, b_slots] = donor[:, b_slots]
    new_gb[:, K + 3 * K :] = donor[:, K + 3 * K :]
    values = torch.arange(256)
    rg = torch.randint(0, 256, (20, 2), generator=torch.Generator().manual_seed(0))
    rgb = torch.cat([rg.repeat_interleave(256, 0), values.repeat(20).view(-1, 1)], dim=1)
    p, p_new = probabilities(params, rgb).view(20, 256), probabilities(new_b, rgb).view(20, 256)
    assert torch.allclose(p.sum(1), p_new.sum(1), atol=1e-6)  # p(r, g) unchanged
    assert not torch.allclose(p, p_new, atol=1e-6)  # ... while p(b | r, g) did change
    for r in (0, 77, 255):
        rgb = torch.cat([torch.full((256 * 256, 1), r), grid(values, values)], dim=1)
        assert probabilities(params, rgb).sum().item() == pytest.approx(
            probabilities(new_gb, rgb).sum().item(), abs=1e-6
        )
    assert not torch.equal(params[:, g_slots], new_gb[:, g_slots])


def chi_square_z(samples, log_prob_fn, min_expected=5.0):
    """(chi^2 - df) / sqrt(2 df) of samples [N, 3] against exact probabilities.

    Values with fewer than ``min_expected`` expected draws are pooled into one cell,
    whose probability is whatever the other cells leave.
    """
    n = samples.shape[0]
    values, counts = torch.unique(samples, dim=0, return_counts=True)
    probs = log_prob_fn(values.view(-1, 3, 1, 1)).double().exp().view(-1)
    big = probs * n >= min_expected
    observed = torch.cat([counts[big].double(), counts[~big].sum().double().view(1)])
    expected = torch.cat([probs[big] * n, (1 - probs[big].sum()).clamp(min=0).view(1) * n])
    keep = expected > 0
    chi2 = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum().item()
    df = int(keep.sum()) - 1
    return (chi2 - df) / math.sqrt(2 * df)


N_DRAWS = 200_000


def draws(params, **options):
    g = torch.Generator().manual_seed(123)
    x = logistic_mixture_sample(params.expand(N_DRAWS, -1, -1, -1), generator=g, **options)
    return x.view(N_DRAWS, 3)


def scorer(params):
    return lambda x: logistic_mixture_log_prob(x, params.expand(x.shape[0], -1, -1, -1))


# Peaked enough that few values carry the mass; the first mean sits by the 0 edge bin.
SAMPLING_PARAMS = random_params(8, log_scale=(-4.0, -3.0), mean=(-1.0, 1.0), coeff=2.0)


def test_samples_follow_the_likelihood():
    assert chi_square_z(draws(SAMPLING_PARAMS), scorer(SAMPLING_PARAMS)) < 4.0


def test_log_scale_shift_samples_the_likelihood_with_reduced_scales():
    shift = 0.5
    shifted = SAMPLING_PARAMS.clone()
    for c in range(3):
        start = K + c * 3 * K + K
        shifted[:, start : start + K] -= shift
    samples = draws(SAMPLING_PARAMS, log_scale_shift=shift)
    assert chi_square_z(samples, scorer(shifted)) < 4.0
    assert chi_square_z(samples, scorer(SAMPLING_PARAMS)) > 20.0  # the test can tell them apart


def component_modes(params):
    """Per component, the mode of R, then of G given that R, then of B: [K, 3]."""
    logits, rest = params[0, :K, 0, 0], params[0, K:, 0, 0].view(3, 3 * K)
    means, coeffs = rest[:, :K], torch.tanh(rest[:, 2 * K :])
    disc = lambda y: torch.round((y + 1) * 127.5).clamp(0, 255)  # noqa: E731
    r = disc(means[0])
    g = disc(means[1] + coeffs[0] * (r / 127.5 - 1))
    b = disc(means[2] + coeffs[1] * (r / 127.5 - 1) + coeffs[2] * (g / 127.5 - 1))
    return torch.stack([r, g, b], dim=1).long(), torch.softmax(logits, 0)


def test_map_sampling_returns_the_mode_of_the_drawn_component():
    samples = draws(SAMPLING_PARAMS, map=True)
    modes, weights = component_modes(SAMPLING_PARAMS)
    match = (samples[:, None, :] == modes[None]).all(-1)  # [N, K]
    assert match.any(1).all()
    # ... and components are drawn by their weights
    frequency = match.double().mean(0)
    assert torch.allclose(frequency, weights.double(), atol=0.01)


def test_mode_is_the_most_likely_value_of_a_single_component():
    params = random_params(9, k=1, log_scale=(-3.5, -2.5))
    lp = all_values_log_prob(params)
    best = torch.tensor(
        divmod(divmod(lp.argmax().item(), 256)[0], 256) + (lp.argmax().item() % 256,)
    )
    modes, _ = component_modes_k1(params)
    assert modes[0].tolist() == best.tolist()


def component_modes_k1(params):
    global K
    saved, K = K, 1
    try:
        return component_modes(params)
    finally:
        K = saved


def test_categorical_is_normalized_and_sampled_faithfully():
    logits = torch.randn(1, 16, 1, 1, generator=torch.Generator().manual_seed(0))
    levels = torch.arange(16).view(16, 1, 1, 1)
    probs = categorical_log_prob(levels, logits.expand(16, -1, -1, -1)).exp().view(16)
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-6)
    g = torch.Generator().manual_seed(1)
    x = categorical_sample(logits.expand(N_DRAWS, -1, -1, -1), generator=g).view(-1)
    frequency = torch.bincount(x, minlength=16).double() / N_DRAWS
    assert torch.allclose(frequency, probs.double(), atol=0.005)
    assert categorical_sample(logits, map=True).item() == logits.argmax().item()


def test_log_prob_is_finite_and_differentiable_for_extreme_parameters():
    params = random_params(10, log_scale=(-20.0, 20.0), mean=(-5.0, 5.0)).requires_grad_()
    x = torch.tensor([[0, 255, 128]]).view(1, 3, 1, 1)
    lp = logistic_mixture_log_prob(x, params)
    lp.sum().backward()
    assert torch.isfinite(lp).all() and torch.isfinite(params.grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("map", [False, True])
def test_a_rows_uniform_numbers_drawn_at_once_are_those_drawn_pixel_by_pixel(dtype, map):
    """The compiled sampler draws a row's numbers in one call (auxpix.compiled_sampling)."""
    mixture, logits = torch.zeros(2, 100, 1, 1, dtype=dtype), torch.zeros(2, 16, 1, 1, dtype=dtype)
    for uniforms, params in ((mixture_uniforms, mixture), (categorical_uniforms, logits)):
        generator = torch.Generator().manual_seed(5)
        one_by_one = [uniforms(params, map=map, generator=generator) for _ in range(7)]
        at_once = uniforms(params, map=map, generator=torch.Generator().manual_seed(5), draws=7)
        assert len(at_once) == len(one_by_one[0])
        for k, numbers in enumerate(at_once):
            assert torch.equal(numbers, torch.stack([pixel[k] for pixel in one_by_one]))
