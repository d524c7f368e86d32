"""Cached sampling is exact: the network outputs and the images of naive sampling. Windowed
sampling (the authors') changes them only through the context the window cuts."""

import pytest
import torch

import auxpix
from auxpix.bench import (
    conditioning,
    sampling_speed,
    sampling_table,
    seconds_per_pixel,
    window_draw_changes,
)
from auxpix.fast_sampling import (
    DEFAULT_WINDOW,
    CachedNetwork,
    WindowedNetwork,
    crop_embedding,
    window_columns,
    window_rows,
)
from auxpix.layers import Conv, TransposedConv

PAPER_LIGHT_NET = auxpix.preset("pyramid", "paper").level_net
CONFIGS = {  # name: (kind, smoke-preset overrides)
    "pixelcnnpp-8": ("pixelcnnpp", {"image_size": 8}),
    "pixelcnnpp-4": ("pixelcnnpp", {"image_size": 4}),  # the coarsest resolution is one pixel
    "grayscale-8": ("grayscale", {"image_size": 8}),
    "pyramid-4-8": ("pyramid", {"resolutions": (4, 8)}),
    # f_w(X̂) into the output layer too (the cpu pyramid presets')
    "pyramid-4-8-to-output": ("pyramid", {"resolutions": (4, 8), "embedding": {"to_output": True}}),
    # Larger: PixelCNN++ with wider layers; a pyramid level with the paper's light net (3 blocks, 100 filters).
    "pixelcnnpp-16-wide": ("pixelcnnpp", {"image_size": 16, "net": {"nr_filters": 32}}),
    "pyramid-8-16-paper": ("pyramid", {"resolutions": (8, 16), "level_net": PAPER_LIGHT_NET}),
}
# The windowed sampler's only. Shallow networks of two resolutions (no blocks in the up pass):
# receptive fields that an 8x8 window on a 16x16 image holds for some pixels and cuts for others.
_SHALLOW = {"nr_resnet": 0, "nr_resolutions": 2}
WINDOWED = {
    "pixelcnnpp-16-shallow": ("pixelcnnpp", {"image_size": 16, "net": _SHALLOW}),
    "grayscale-16-shallow": (
        "grayscale",
        {"image_size": 16, "cond_net": _SHALLOW},
    ),  # embedding at 16 and 8
    "pyramid-8-16": ("pyramid", {"resolutions": (8, 16)}),
    "pyramid-16-32": ("pyramid", {"resolutions": (16, 32)}),
}
SAMPLED = [
    "pixelcnnpp-8",
    "grayscale-8",
    "pyramid-4-8",
    "pyramid-4-8-to-output",
    "pixelcnnpp-16-wide",
]  # end to end, naive vs cached
DRAWS = {"ancestral": {}, "map": {"map": True}, "variance-reduced": {"log_scale_shift": 0.5}}


pytestmark = pytest.mark.usefixtures("one_thread")


def build(config, dtype=torch.float64):
    kind, overrides = (CONFIGS | WINDOWED)[config]
    torch.manual_seed(0)
    return auxpix.build(kind, preset="smoke", **overrides).to(dtype).eval()


def all_parts():
    for config in CONFIGS:
        for name in build(config).parts:
            yield pytest.param(config, name, id=f"{config}-{name}")


def outputs_one_pixel_at_a_time(part, x, embedding, static=False):
    cached = CachedNetwork(part.network, embedding, x, static=static)
    rows = [
        torch.cat([cached(x, i, j) for j in range(x.shape[-1])], dim=-1) for i in range(x.shape[-2])
    ]
    return torch.cat(rows, dim=-2)


@pytest.mark.parametrize(
    "dtype,tolerance,static",
    [(torch.float64, 1e-12, False), (torch.float32, 1e-5, False), (torch.float64, 1e-12, True)],
    ids=["f64", "f32", "f64-static"],
)
@pytest.mark.parametrize("config,name", list(all_parts()))
def test_cached_network_gives_the_full_pass_outputs(config, name, dtype, tolerance, static):
    """Teacher-forced on a random image: every pixel's output equals the full pass's, also
    with the positions as index tensors (the shape-static steps that compile=True compiles)."""
    model = build(config, dtype)
    part, size = model.parts[name], model.parts[name].image_size
    x = (
        torch.rand(
            2, part.channels, size, size, generator=torch.Generator().manual_seed(1), dtype=dtype
        )
        * 2
        - 1
    )
    with torch.no_grad():
        embedding = part.embed(conditioning(model, name, n=2))
        full = part.network(x, embedding)
        cached = outputs_one_pixel_at_a_time(part, x, embedding, static)
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
        stages = model.sample(
            3, method=method, generator=torch.Generator().manual_seed(2), **options
        )
    finally:
        for part in model.parts.values():
            del part.sample_pixel
    return torch.cat([stage.flatten().long() for stage in stages.values()])


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
    naive, cached = (
        draws(model, method, recorded[method], **options) for method in ("naive", "cached")
    )
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
    with pytest.raises(
        ValueError, match="sampling method must be one of cached, naive, window, got 'fast'"
    ):
        build("pixelcnnpp-4").sample(1, method="fast")


@pytest.mark.parametrize("method", ["naive", "cached", "window"])
def test_seconds_per_pixel_times_a_prefix_and_restores_train_mode(method):
    model = build("pyramid-4-8", torch.float32).train()
    seconds = seconds_per_pixel(
        model.parts["8"], method=method, n=2, max_seconds=0.05, aux=conditioning(model, "8", 2)
    )
    assert 0 < seconds < 1 and model.training


# The windowed sampler (the authors'): a pass over a window around each pixel.


def test_a_window_as_large_as_the_image_gives_the_naive_images_in_float64():
    """The default window (16) covers these images: the window method passes them whole."""
    for config in ("pixelcnnpp-8", "grayscale-8", "pyramid-4-8"):
        model = build(config, torch.float64)
        assert max(part.image_size for part in model.parts.values()) <= DEFAULT_WINDOW
        assert torch.equal(draws(model, "naive", []), draws(model, "window", [])), config


def test_window_rows_end_with_the_pixel_and_start_at_the_top_near_it():
    assert [window_rows(i, 16) for i in (0, 15, 16, 40)] == [
        slice(0, 16),
        slice(0, 16),
        slice(1, 17),
        slice(25, 41),
    ]
    # On a grid of 4 the window ends with the grid cell holding the pixel.
    assert [window_rows(i, 16, grid=4) for i in (15, 16, 17, 19, 20)] == [slice(0, 16)] + [
        slice(4, 20)
    ] * 3 + [slice(8, 24)]


def test_window_columns_hold_half_the_window_left_and_narrow_at_the_right_edge():
    columns = [window_columns(j, 16, 32) for j in (0, 8, 9, 24, 30, 31)]
    assert columns == [
        slice(0, 16),
        slice(0, 16),
        slice(1, 17),
        slice(16, 32),
        slice(22, 32),
        slice(23, 32),
    ]
    assert [window_columns(j, 16, 32, grid=4) for j in (11, 12, 13)] == [
        slice(0, 16),
        slice(4, 20),
        slice(4, 20),
    ]


class Echo(torch.nn.Module):
    """A network of two resolutions that returns its input and, at every pixel, the embedding
    at the image's resolution and at half of it: its output at a pixel shows what the window
    fed it there."""

    resolutions = 2

    def forward(self, x, embedding):
        height = x.shape[-2]
        half = embedding[height // 2].repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
        return torch.cat([x, embedding[height], half], dim=1)


def test_the_window_slides_over_the_image_and_every_embedding_resolution():
    size, window = 32, 8
    image = torch.arange(size * size, dtype=torch.float64).view(1, 1, size, size)
    embedding = {
        size: -image,
        size // 2: torch.arange(size * size // 4, dtype=torch.float64).view(1, 1, 16, 16),
    }
    windowed = WindowedNetwork(Echo(), embedding, window)
    for i in range(size):
        for j in range(size):
            expected = torch.stack(
                [image[0, 0, i, j], -image[0, 0, i, j], embedding[16][0, 0, i // 2, j // 2]]
            )
            assert torch.equal(windowed(image, i, j).flatten(), expected), (i, j)


def test_crop_embedding_cuts_each_tensor_at_its_resolution_and_leaves_out_what_falls_between_pixels():
    image = torch.zeros(1, 3, 32, 32)
    embedding = {height: torch.rand(1, 2, height, height) for height in (64, 32, 16, 4)}
    cropped = crop_embedding(embedding, slice(8, 24), slice(4, 20), image)
    assert sorted(cropped) == [8, 16, 32]  # 4: the window's bounds fall inside its pixels of 8x8
    assert torch.equal(cropped[32], embedding[64][..., 16:48, 8:40])
    assert torch.equal(cropped[16], embedding[32][..., 8:24, 4:20])
    assert torch.equal(cropped[8], embedding[16][..., 4:12, 2:10])
    assert crop_embedding(None, slice(0, 8), slice(0, 8), image) is None


def receptive_fields(network, x, embedding):
    """[H, W, H, W] bool: the image pixels at which the output at each pixel depends on the
    input of some convolution (the image's values, or any layer's activations; a layer at
    1/f of the image's resolution: f x f pixels per position). Where the window cuts such a
    pixel, the convolution sees zero padding instead: the u-stream's activations in the
    pixel's own row count, though the pixel's row's values do not."""
    size, activations = x.shape[-1], []
    hooks = [
        module.register_forward_hook(lambda module, inputs, output: activations.append(inputs[0]))
        for module in network.modules()
        if isinstance(module, (Conv, TransposedConv))
    ]
    try:
        x = x.clone().requires_grad_()
        out = network(x, embedding)
    finally:
        for hook in hooks:
            hook.remove()
    fields = torch.zeros(size, size, size, size, dtype=torch.bool)
    for i in range(size):
        for j in range(size):
            grads = torch.autograd.grad(
                out[:, :, i, j].sum(), [x, *activations], retain_graph=True, allow_unused=True
            )
            for grad in grads:
                if grad is not None:
                    factor = size // grad.shape[-1]
                    used = (
                        (grad.abs().sum(dim=(0, 1)) > 0)
                        .repeat_interleave(factor, 0)
                        .repeat_interleave(factor, 1)
                    )
                    fields[i, j] |= used
    return fields


def outside_window(fields, i, j, window, grid):
    rows, columns = window_rows(i, window, grid), window_columns(j, window, fields.shape[-1], grid)
    inside = torch.zeros_like(fields[i, j])
    inside[rows, columns] = True
    return bool((fields[i, j] & ~inside).any())


@pytest.mark.parametrize(
    "config,name,window",
    [
        ("pixelcnnpp-16-shallow", "pixelcnnpp", 8),
        ("grayscale-16-shallow", "cond", 8),
        ("pyramid-8-16", "16", 8),
    ],
)
def test_a_window_changes_a_pixels_params_only_through_context_beyond_it(config, name, window):
    """Teacher-forced on a random image: where the pixel's receptive field fits its window,
    its output is the full pass's (a network of two resolutions included, whose window sits
    on its grid); where it does not, the output changes (at one pixel at least)."""
    model = build(config)
    part, size = model.parts[name], model.parts[name].image_size
    x = (
        torch.rand(
            2,
            part.channels,
            size,
            size,
            generator=torch.Generator().manual_seed(1),
            dtype=torch.float64,
        )
        * 2
        - 1
    )
    with torch.no_grad():
        embedding = part.embed(conditioning(model, name, n=2))
    windowed = WindowedNetwork(part.network, embedding, window)
    fields = receptive_fields(part.network, x, embedding)
    cut = {
        (i, j)
        for i in range(size)
        for j in range(size)
        if outside_window(fields, i, j, window, windowed.grid)
    }
    assert 0 < len(cut) < size * size
    with torch.no_grad():
        full = part.network(x, embedding)
        changed = {
            (i, j)
            for i in range(size)
            for j in range(size)
            if not torch.allclose(
                windowed(x, i, j), full[..., i : i + 1, j : j + 1], atol=1e-12, rtol=0
            )
        }
    assert changed and changed <= cut


def test_window_sampling_gives_the_naive_images_where_the_receptive_field_fits_the_window():
    """The smoke light net's receptive field (a few rows above, a few columns each side)
    fits the default window on a 32x32 image: every draw is naive's."""
    model = build("pyramid-16-32")
    part, size = model.parts["32"], 32
    aux = conditioning(model, "32", n=1)
    with torch.no_grad():
        embedding = part.embed(aux)
    fields = receptive_fields(
        part.network, torch.rand(1, 3, size, size, dtype=torch.float64), embedding
    )
    assert not any(
        outside_window(fields, i, j, DEFAULT_WINDOW, 1) for i in range(size) for j in range(size)
    )
    naive, windowed = (
        part.sample(1, aux, method=method, generator=torch.Generator().manual_seed(2))
        for method in ("naive", "window")
    )
    assert torch.equal(naive, windowed)


@pytest.mark.parametrize("grid", [1, 2, 4, 8])
def test_a_window_holds_its_pixels_grid_cell_at_every_size(grid):
    for size in range(grid, 17, grid):
        for width in (size, 2 * size, 32):
            for j in range(width):
                columns, rows = window_columns(j, size, width, grid), window_rows(j, size, grid)
                cell = slice(j // grid * grid, j // grid * grid + grid)
                for bounds in (columns, rows):
                    assert bounds.start % grid == 0 and bounds.start <= cell.start
                assert cell.stop <= min(columns.stop, width) and cell.stop <= rows.stop


def test_a_window_of_one_grid_cell_samples():
    """The smoke PixelCNN++ has 3 resolutions, a grid of 4: a 4x4 window is one cell."""
    image = build("pixelcnnpp-8", torch.float32).sample(1, method="window", window=4)["image"]
    assert image.shape == (1, 3, 8, 8) and image.dtype == torch.uint8


def test_window_size_must_fit_the_networks_grid():
    network = build("pixelcnnpp-8").parts["pixelcnnpp"].network  # 3 resolutions: a grid of 4
    with pytest.raises(ValueError, match="multiple of 4"):
        WindowedNetwork(network, None, 6)


def test_window_draw_changes_is_a_share_and_zero_for_a_window_as_large_as_the_image():
    kwargs = {"kind": "pyramid", "preset": "smoke", "resolution": 16, "n": 1}
    assert window_draw_changes(**kwargs, window=16) == {"8": 0.0, "16": 0.0}
    changes = window_draw_changes(**kwargs, window=4)
    assert set(changes) == {"8", "16"} and all(0.0 <= share <= 1.0 for share in changes.values())
    assert (
        window_draw_changes(**kwargs, window=4, reference="cached") == changes
    )  # naive's images in float64


def test_sampling_speed_times_the_window_method_beside_the_others():
    speeds = sampling_speed(
        "pyramid", preset="smoke", methods=("window", "cached", "naive"), max_seconds=0.3
    )
    assert set(speeds) == {"window", "cached", "naive"} and all(s > 0 for s in speeds.values())
    (row,) = sampling_table(
        [("pyramid", 16)], preset="smoke", methods=("window", "naive"), window=8, max_seconds=0.2
    )
    assert row["window"] == 8 and {"window s/pixel", "naive s/pixel"} <= set(row)
