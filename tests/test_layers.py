"""The layers' dropout: element-wise Bernoulli(1 - p), scaled by 1 / (1 - p), reproducible."""

import math

import pytest
import torch

from auxpix.layers import Dropout, GatedResnet, down_shifted_conv, dropout

# p = 0.5 takes the random-bit path; 0.3 and 0.9 torch's F.dropout.
PS = [0.5, 0.3, 0.9]
# The shapes of the networks' dropouts (2 * nr_filters channels) and one whose size is not a
# multiple of 64 (the bit path draws 64-bit words).
SHAPES = [(16, 64, 32, 32), (2, 320, 8, 8), (3, 5, 7)]


def binomial_bound(n: int, q: float, sigmas: float = 6.0) -> float:
    """The largest |share - q| that n Bernoulli(q) draws pass: ``sigmas`` standard deviations
    (a false failure about once in 10^9 runs)."""
    return sigmas * math.sqrt(q * (1 - q) / n)


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("shape", SHAPES)
def test_mask_is_bernoulli_scaled(p, shape):
    """Only 0 and 1 / (1 - p), kept with probability 1 - p, as a float mask of the input's shape."""
    torch.manual_seed(0)
    x = torch.ones(shape)
    y = dropout(x, p, training=True)
    assert y.shape == x.shape and y.dtype == x.dtype
    scale = 1 / (1 - p)
    assert torch.all((y == 0) | (y == torch.tensor(scale, dtype=y.dtype)))
    kept = (y != 0).double().mean().item()
    assert abs(kept - (1 - p)) < binomial_bound(y.numel(), 1 - p)


def test_every_bit_of_the_random_words_is_used_and_fair():
    """The bit path: at each of the 64 positions of a word (the sign bit included) and each of the
    8 bits of a byte, activations are kept half the time, and neighbours independently."""
    torch.manual_seed(0)
    kept = (dropout(torch.ones(2**20), 0.5) != 0).double()
    by_position = kept.view(-1, 64).mean(0)
    assert torch.all((by_position - 0.5).abs() < binomial_bound(kept.numel() // 64, 0.5))
    pairs = kept.view(-1, 2)
    both = (pairs[:, 0] * pairs[:, 1]).mean().item()  # P(both kept) = 1/4 if independent
    assert abs(both - 0.25) < binomial_bound(len(pairs), 0.25)


@pytest.mark.parametrize("p", PS)
def test_gradient_is_the_same_mask(p):
    torch.manual_seed(0)
    x = torch.randn(4, 16, 8, 8, requires_grad=True)
    y = dropout(x, p)
    y.backward(torch.ones_like(y))
    mask = x.grad
    assert torch.equal(y, x.detach() * mask)
    assert torch.all((mask == 0) | (mask == torch.tensor(1 / (1 - p))))


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_identity_in_eval_mode_and_at_p_zero(p):
    x = torch.randn(2, 8, 4, 4)
    module = Dropout(p).eval()
    assert torch.equal(module(x), x)
    assert torch.equal(dropout(x, p, training=False), x)
    assert torch.equal(dropout(x, 0.0, training=True), x)
    block, h = GatedResnet(8, down_shifted_conv, dropout=p).eval(), torch.randn(2, 8, 4, 4)
    with torch.no_grad():
        assert torch.equal(block(h), block(h))  # no random draw left in eval mode


@pytest.mark.parametrize("p", PS)
def test_seed_reproduces_the_mask(p):
    """A fixed seed, or a restored global RNG state (what a checkpoint saves), draws the same
    mask again, so a resumed run is exact; another seed draws another one."""
    x = torch.randn(4, 32, 16, 16)
    torch.manual_seed(123)
    first = dropout(x, p)
    state = torch.get_rng_state()
    second = dropout(x, p)
    torch.manual_seed(123)
    assert torch.equal(dropout(x, p), first)
    torch.set_rng_state(state)
    assert torch.equal(dropout(x, p), second)
    assert not torch.equal(first, second)
    torch.manual_seed(124)
    assert not torch.equal(dropout(x, p), first)


def test_gated_resnet_drops_elementwise_not_channels():
    """The paper's (and openai/pixel-cnn's) dropout zeroes single activations, not whole
    channels as Dropout2d does: inside one channel some are kept and some dropped."""
    block = GatedResnet(4, down_shifted_conv, dropout=0.5).train()
    assert isinstance(block.dropout, torch.nn.Dropout) and block.dropout.p == 0.5
    torch.manual_seed(0)
    kept = block.dropout(torch.ones(1, 8, 16, 16)) != 0
    per_channel = kept.double().mean(dim=(2, 3))
    assert torch.all((per_channel > 0) & (per_channel < 1))
