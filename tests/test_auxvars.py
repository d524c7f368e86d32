"""The auxiliary-variable maps psi are deterministic, exact and in range."""

import pytest
import torch
import torch.nn.functional as F

from auxpix import downsample, grayscale_4bit, pyramid


def test_grayscale_4bit_known_values():
    colours = torch.tensor(
        [
            [0, 0, 0],
            [255, 255, 255],
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [16, 16, 16],
            [15, 15, 15],
        ]
    )
    x = colours.T.reshape(1, 3, 1, -1)
    # luma 0, 255, 76.2, 149.7, 29.1, 16, 15 -> floor(luma / 16)
    assert grayscale_4bit(x).view(-1).tolist() == [0, 15, 4, 9, 1, 1, 0]


def test_grayscale_4bit_range_shape_and_determinism():
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    g = grayscale_4bit(x)
    assert g.shape == (4, 1, 8, 8) and g.min() >= 0 and g.max() <= 15
    assert torch.equal(g, grayscale_4bit(x.clone()))


def test_downsample_is_the_block_mean_rounded_half_to_even():
    x = torch.tensor(
        [[1, 2, 0, 0], [3, 4, 0, 1], [255, 255, 7, 8], [255, 254, 8, 8]], dtype=torch.uint8
    )
    # means 2.5 -> 2 (half to even), 0.25 -> 0, 254.75 -> 255, 7.75 -> 8
    assert downsample(x.view(1, 1, 4, 4)).view(-1).tolist() == [2, 0, 255, 8]
    assert downsample(x.view(1, 1, 4, 4)).dtype == torch.uint8
    # the 4x4 mean: 1061/16 = 66.31 -> 66; and ties both ways: 3.5 -> 4, 4.5 -> 4
    assert downsample(x.view(1, 1, 4, 4), 4).item() == 66
    ties = torch.tensor([[3, 4], [3, 4]]), torch.tensor([[4, 5], [4, 5]])
    assert [downsample(t.view(1, 1, 2, 2).to(torch.uint8)).item() for t in ties] == [4, 4]


def test_pyramid_lowest_first():
    x = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    views = pyramid(x, 3)
    assert [v.shape[-1] for v in views] == [4, 8, 16] and views[-1] is x
    assert torch.equal(views[0], downsample(x, 4))
    low, level = pyramid(x, 2, top_factor=2)  # a pyramid level and its X̂, from the full image
    assert torch.equal(low, downsample(x, 4)) and torch.equal(level, downsample(x, 2))


@pytest.mark.parametrize("seed", range(3))
def test_pyramid_views_are_the_authors_rounded_average_pools(seed):
    """kolesman/FaceGeneration's get_pyramid: level k is round(avg_pool(x, 2**k)), made
    from the full image and rounded half to even; halving recursively, or rounding half
    up, would change about half of the 8x8 pixels."""
    x = torch.randint(
        0, 256, (4, 3, 64, 64), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8
    )
    views = pyramid(x, 4)
    for k, view in enumerate(reversed(views)):
        expected = torch.round(F.avg_pool2d(x.double(), 2**k)).to(torch.uint8)
        assert view.dtype == torch.uint8 and torch.equal(view, expected), (
            f"level {k} (factor {2**k})"
        )


def test_pyramid_of_a_constant_level_with_a_half_average():
    # Each 2x2 mean is exactly 100 or 101, each 4x4 mean 100.5: from the full image the 4x4
    # view is 100 (half to even); halving the 2x2 view again, rounding half up, gave 101.
    block = torch.tensor(
        [[100, 100, 101, 101], [100, 100, 101, 101], [100, 100, 101, 101], [100, 100, 101, 101]]
    )
    x = block.repeat(3, 2, 2).unsqueeze(0).to(torch.uint8)  # [1, 3, 8, 8]
    low, mid, full = pyramid(x, 3)
    assert full is x and mid.unique().tolist() == [100, 101]
    assert low.unique().tolist() == [100]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="shaped"):
        grayscale_4bit(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="divisible"):
        downsample(torch.zeros(1, 3, 5, 5, dtype=torch.uint8))
    with pytest.raises(ValueError, match="divisible"):
        downsample(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 16)
    with pytest.raises(ValueError, match="integer"):
        downsample(torch.zeros(1, 3, 4, 4))
