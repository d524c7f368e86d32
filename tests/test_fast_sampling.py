"""Cached sampling is exact: the network outputs and the images of naive sampling."""
import pytest
import torch

import auxpix
from auxpix.bench import conditioning, seconds_per_pixel
from auxpix.fast_sampling import CachedNetwork

PAPER_LIGHT_NET = auxpix.preset("pyramid", "paper").level_net
CONFIGS = {  # name: (kind, smoke-preset overrides)
    "pixelcnnpp-8": ("pixelcnnpp", {"image_size": 8}),
    "pixelcnnpp-4": ("pixelcnnpp", {"image_size": 4}),  # the coarsest resolution is one pixel
    "grayscale-8": ("grayscale", {"image_size": 8}),
    "pyramid-4-8": ("pyramid", {"resolutions": (4, 8)}),
    # Larger: PixelCNN++ with wider layers; a pyramid level with the paper's light net (3 blocks, 100 filters).
    "pixelcnnpp-16-wide": ("pixelcnnpp", {"image_size": 16, "net": {"nr_filters": 32}}),
    "pyramid-8-16-paper": ("pyramid", {"resolutions": (8, 16), "level_net": PAPER_LIGHT_NET}),
}
SAMPLED = ["pixelcnnpp-8", "grayscale-8", "pyramid-4-8", "pixelcnnpp-16-wide"]  # end to end, naive vs cached
DRAWS = {"ancestral": {}, "map": {"map": True}, "variance-reduced": {"log_scale_shift": 0.5}}


pytestmark = pytest.mark.usefixtures("one_thread")


def build(config, dtype=torch.float64):
    kind, overrides = CONFIGS[config]
    torch.manual_seed(0)
    return auxpix.build(kind, preset="smoke", **overrides).to(dtype).eval()


def all_parts():
    for config in CONFIGS:
        for name in build(config).parts:
            yield pytest.param(config, name, id=f"{config}-{name}")


def outputs_one_pixel_at_a_time(part, x, embedding):
    cached = CachedNetwork(part.network, embedding, x)
    rows = [torch.cat([cached(x, i, j) for j in range(x.shape[-1])], dim=-1) for i in range(x.shape[-2])]
    return torch.cat(rows, dim=-2)


@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["f64", "f32"])
@pytest.mark.parametrize("config,name", list(all_parts()))
def test_cached_network_gives_the_full_pass_outputs(config, name, dtype, tolerance):
    """Teacher-forced on a random image: every pixel's output equals the full pass's."""
    model = build(config, dtype)
    part, size = model.parts[name], model.parts[name].image_size
    x = torch.rand(2, part.channels, size, size, generator=torch.Generator().manual_seed(1), dtype=dtype) * 2 - 1
    with torch.no_grad():
        embedding = part.embed(conditioning(model, name, n=2))
        full = part.network(x, embedding)
        cached = outputs_one_pixel_at_a_time(part, x, embedding)
    assert cached.dtype == dtype
    torch.testing.assert_close(cached, full, atol=tolerance, rtol=0)


def draws(model, method, recorded, **options):
    """Sample 3 images with ``method``, recording the dtype and shape of every pixel's parameters."""
    for part in model.parts.values():

        def spy(params, sample_pixel=part.sample_pixel, **kwargs):
            recorded.append((params.dtype, tuple(params.shape)))
            return sample_pixel(params, **kwargs)

        part.sample_pixel = spy
    try:
        images = model.sample(3, method=method, generator=torch.Generator().manual_seed(2), **options)
    finally:
        for part in model.parts.values():
            del part.sample_pixel
    images = images if isinstance(images, (list, tuple)) else [images]
    return torch.cat([image.flatten().long() for image in images])


@pytest.mark.parametrize(
    "config,options",
    [  # every kind with every kind of draw; the larger network with ancestral draws, to keep it fast
        pytest.param(config, options, id=f"{config}-{draw}")
        for config in SAMPLED
        for draw, options in DRAWS.items()
        if config != "pixelcnnpp-16-wide" or not options
    ],
)
def test_cached_sampling_gives_the_naive_images_in_float64(config, options):
    model = build(config, torch.float64)
    recorded = {"naive": [], "cached": []}
    naive, cached = (draws(model, method, recorded[method], **options) for method in ("naive", "cached"))
    assert torch.equal(naive, cached)
    assert recorded["naive"] == recorded["cached"]  # the generator is consumed identically
    assert {dtype for dtype, _ in recorded["cached"]} == {torch.float64}  # and so are the draws


def test_cached_sampling_in_float32_differs_at_most_where_a_draw_sits_on_a_bin_boundary():
    """float32 sums may round differently; count the values that come out otherwise."""
    differ, total = 0, 0
    for config in SAMPLED:
        model = build(config, torch.float32)
        naive, cached = (draws(model, method, []) for method in ("naive", "cached"))
        differ, total = differ + int((naive != cached).sum()), total + naive.numel()
    assert differ / total < 1e-3, f"{differ} of {total} values differ"


def test_cached_network_wants_pixels_in_raster_order():
    part = build("pixelcnnpp-8").parts["pixelcnnpp"]
    x = torch.zeros(1, 3, 8, 8, dtype=torch.float64)
    cached = CachedNetwork(part.network, None, x)
    with torch.no_grad():
        cached(x, 0, 0)
        with pytest.raises(ValueError, match="raster order"):
            cached(x, 0, 2)


def test_unknown_sampling_method_fails_clearly():
    with pytest.raises(ValueError, match="sampling method"):
        build("pixelcnnpp-4").sample(1, method="fast")


@pytest.mark.parametrize("method", ["naive", "cached"])
def test_seconds_per_pixel_times_a_prefix_and_restores_train_mode(method):
    model = build("pyramid-4-8", torch.float32).train()
    seconds = seconds_per_pixel(model.parts["8"], method=method, n=2, max_seconds=0.05, aux=conditioning(model, "8", 2))
    assert 0 < seconds < 1 and model.training
