"""The auxiliary-variable maps psi are deterministic, exact and in range."""
import pytest
import torch

from auxpix import downsample, grayscale_4bit, pyramid


def test_grayscale_4bit_known_values():
    colours = torch.tensor([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [16, 16, 16], [15, 15, 15]])
    x = colours.T.reshape(1, 3, 1, -1)
    # luma 0, 255, 76.2, 149.7, 29.1, 16, 15 -> floor(luma / 16)
    assert grayscale_4bit(x).view(-1).tolist() == [0, 15, 4, 9, 1, 1, 0]


def test_grayscale_4bit_range_shape_and_determinism():
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    g = grayscale_4bit(x)
    assert g.shape == (4, 1, 8, 8) and g.min() >= 0 and g.max() <= 15
    assert torch.equal(g, grayscale_4bit(x.clone()))


def test_downsample_is_the_rounded_2x2_mean():
    x = torch.tensor([[1, 2, 0, 0], [3, 4, 0, 1], [255, 255, 7, 8], [255, 254, 8, 8]], dtype=torch.uint8)
    # means 2.5 -> 3 (half up), 0.25 -> 0, 254.75 -> 255, 7.75 -> 8
    assert downsample(x.view(1, 1, 4, 4)).view(-1).tolist() == [3, 0, 255, 8]
    assert downsample(x.view(1, 1, 4, 4)).dtype == torch.uint8


def test_pyramid_lowest_first():
    x = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    views = pyramid(x, 3)
    assert [v.shape[-1] for v in views] == [4, 8, 16] and views[-1] is x
    assert torch.equal(views[0], downsample(downsample(x)))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="shaped"):
        grayscale_4bit(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="even"):
        downsample(torch.zeros(1, 3, 5, 5, dtype=torch.uint8))
    with pytest.raises(ValueError, match="integer"):
        downsample(torch.zeros(1, 3, 4, 4))
