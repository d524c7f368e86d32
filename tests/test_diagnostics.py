"""The pyramid diagnostics (auxpix.diagnostics) on tiny untrained pyramids."""

import math

import pytest
import torch

import auxpix
from auxpix import diagnostics
from auxpix.auxvars import downsample

pytestmark = pytest.mark.usefixtures("one_thread")


def pyramid(**overrides):
    """A smoke pyramid 4 -> 8 (or as overridden), eval mode, fixed weights."""
    torch.manual_seed(0)
    overrides.setdefault("resolutions", (4, 8))
    return auxpix.build("pyramid", preset="smoke", **overrides).eval()


def images(n=3, size=8, seed=0):
    return torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed))


def test_consistency_of_an_image_with_its_own_view_is_zero():
    x = images()
    summary = diagnostics.consistency(x, downsample(x, 2))
    assert summary["mean"] == summary["share_off"] == 0.0
    assert summary["border_mean"] == summary["interior_mean"] == 0.0
    assert summary["rows"] == summary["columns"] == [0.0] * 4
    assert torch.tensor(summary["map"]).shape == (4, 4)


def test_consistency_with_a_shifted_view_is_not_zero_and_its_parts_add_up():
    x = images(size=16)
    aux = diagnostics.shift(downsample(x, 2), "left")
    summary = diagnostics.consistency(x, aux, border=2)
    assert summary["mean"] > 0 and summary["share_off"] > 0
    border = diagnostics.border_mask(8, 2).sum().item()
    assert summary["mean"] == pytest.approx(
        (border * summary["border_mean"] + (64 - border) * summary["interior_mean"]) / 64
    )
    assert sum(summary["rows"]) / 8 == pytest.approx(summary["mean"])
    assert sum(summary["columns"]) / 8 == pytest.approx(summary["mean"])


def test_consistency_counts_values_more_than_eight_off():
    aux = torch.zeros(1, 3, 3, 3, dtype=torch.long)
    x = torch.zeros(1, 3, 6, 6, dtype=torch.long)
    x[:, 0, :2, :2] = 9  # one pooled red value 9 off (a corner), every other value exact
    x[:, 1, 2:4, 2:4] = 8  # the centre's green 8 off: not more than 8
    summary = diagnostics.consistency(x, aux, border=1)
    assert summary["share_off"] == pytest.approx(1 / 27)
    assert summary["border_share_off"] == pytest.approx(1 / 24)
    assert summary["interior_share_off"] == 0.0
    assert summary["mean"] == pytest.approx(17 / 27)


def test_the_border_ratio_comes_with_a_bootstrap_interval_that_narrows_with_more_images():
    def summary(n):
        x = images(n=n, size=16, seed=1)
        return diagnostics.consistency(x, diagnostics.shift(downsample(x, 2), "left"))

    few, many = summary(4), summary(64)
    for s in few, many:
        low, high = s["border_ratio_interval"]
        assert s["border_ratio"] == pytest.approx(s["border_mean"] / s["interior_mean"])
        assert low < s["border_ratio"] < high
    assert many["border_ratio_interval"][1] - many["border_ratio_interval"][0] < (
        few["border_ratio_interval"][1] - few["border_ratio_interval"][0]
    )
    exact = diagnostics.consistency(images(), downsample(images(), 2))  # every gap 0
    assert math.isnan(exact["border_ratio"]) and all(
        map(math.isnan, exact["border_ratio_interval"])
    )
    same = images(n=1, size=16).expand(5, -1, -1, -1)  # one image five times: nothing to move
    one = diagnostics.consistency(same, diagnostics.shift(downsample(same, 2), "left"))
    assert one["border_ratio_interval"] == pytest.approx([one["border_ratio"]] * 2)


def test_pooled_gap_needs_a_view_at_half_resolution():
    with pytest.raises(ValueError, match="half the images' size"):
        diagnostics.pooled_gap(images(), images(size=8))


@pytest.mark.parametrize("size,width", [(8, 1), (8, 3), (5, 2)])
def test_border_band_and_interior_partition_the_map(size, width):
    band = diagnostics.border_mask(size, width)
    assert band.sum() == size * size - (size - 2 * width) ** 2
    assert band[0].all() and band[:, -1].all() and not band[width:-width, width:-width].any()
    assert diagnostics.band_means(band.double(), width) == {"border": 1.0, "interior": 0.0}


@pytest.mark.parametrize("width", [0, 4])
def test_a_border_band_must_leave_an_interior(width):
    with pytest.raises(ValueError, match="border band"):
        diagnostics.border_mask(8, width)


def test_shift_moves_the_content_by_exactly_one_pixel():
    a = torch.arange(16).view(1, 1, 4, 4)
    assert torch.equal(diagnostics.shift(a, "aligned"), a)
    left, right = diagnostics.shift(a, "left"), diagnostics.shift(a, "right")
    up, down = diagnostics.shift(a, "up"), diagnostics.shift(a, "down")
    assert torch.equal(left[..., :-1], a[..., 1:]) and torch.equal(left[..., -1], a[..., -1])
    assert torch.equal(right[..., 1:], a[..., :-1]) and torch.equal(right[..., 0], a[..., 0])
    assert torch.equal(up[..., :-1, :], a[..., 1:, :]) and torch.equal(
        up[..., -1, :], a[..., -1, :]
    )
    assert torch.equal(down[..., 1:, :], a[..., :-1, :]) and torch.equal(
        down[..., 0, :], a[..., 0, :]
    )
    with pytest.raises(ValueError, match="shift direction"):
        diagnostics.shift(a, "sideways")


def test_teacher_forced_map_of_a_map_sample_gives_the_sample_back():
    """With one mixture component a MAP draw is deterministic, so each pixel drawn given the
    true prefix of the sampler's own MAP sample is the sampler's pixel."""
    model = pyramid(level_net={"nr_logistic_mix": 1})
    part, _, aux = diagnostics.level_inputs(model, "8", images())
    drawn = part.sample(len(aux), aux, map=True, method="naive").long()
    assert torch.equal(diagnostics.teacher_forced(part, drawn, aux, map=True), drawn)


def test_teacher_forced_draws_depend_only_on_the_prefix():
    model = pyramid()
    part, x, aux = diagnostics.level_inputs(model, "8", images())
    changed = x.clone()
    changed[:, :, 5:] = 255 - changed[:, :, 5:]  # rows 5 and below

    def drawn(image):
        return diagnostics.teacher_forced(
            part, image, aux, map=False, generator=torch.Generator().manual_seed(1)
        )

    assert torch.equal(drawn(x)[:, :, :5], drawn(changed)[:, :, :5])
    assert torch.equal(drawn(x)[:, :, 5, :1], drawn(changed)[:, :, 5, :1])


def test_the_base_level_has_no_view_to_diagnose():
    with pytest.raises(ValueError, match="base"):
        diagnostics.level_inputs(pyramid(), "4", images())


def test_shift_ablation_scores_each_shifted_view_as_the_model_scores_its_view():
    model = pyramid()
    x = images(4)
    bits = diagnostics.shift_ablation(model, "8", x, batch_size=3)
    assert tuple(bits) == diagnostics.SHIFTS
    part, target, aux = diagnostics.level_inputs(model, "8", x)
    with torch.no_grad():
        assert bits["aligned"] == pytest.approx(model.part_bpd("8", x).mean().item(), rel=1e-6)
        for direction in diagnostics.SHIFTS:
            nll = -part.log_prob(target, diagnostics.shift(aux, direction))
            expected = (nll / (3 * 64 * math.log(2))).mean().item()
            assert bits[direction] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ["4", "8"])
def test_pixel_bits_average_to_the_level_bits_per_dimension(name):
    model = pyramid()
    x = images(4)
    bits = diagnostics.pixel_bits(model, name, x, batch_size=3)
    assert bits.shape == (int(name), int(name))
    with torch.no_grad():
        assert bits.mean().item() == pytest.approx(model.part_bpd(name, x).mean().item(), rel=1e-6)


def test_border_penalty_sets_the_central_crop_against_the_same_pixels_in_the_whole_image():
    model = pyramid(resolutions=(4, 8, 16))
    x = images(3, size=16)
    penalty = diagnostics.border_penalty(model, "16", x, margin=2, batch_size=2)
    bits = diagnostics.pixel_bits(model, "16", x)[2:14, 2:14]
    assert penalty["whole"]["border"] == pytest.approx(
        diagnostics.band_means(bits, 1)["border"], rel=1e-6
    )
    assert penalty["whole"]["right"] == pytest.approx(bits[:, -1].mean().item(), rel=1e-6)
    assert penalty["whole"]["top"] == pytest.approx(bits[0].mean().item(), rel=1e-6)
    assert penalty["crop"]["border"] != penalty["whole"]["border"]
    with pytest.raises(ValueError, match="margin"):
        diagnostics.border_penalty(model, "16", x, margin=1)


def test_surrounded_border_scores_the_image_in_place_and_reflect_padded():
    model = pyramid(resolutions=(4, 8, 16))
    x = images(3, size=16)
    result = diagnostics.surrounded_border(model, "8", x, pad=2, batch_size=2)
    bits = diagnostics.pixel_bits(model, "8", x)
    assert result["whole"]["left"] == pytest.approx(bits[:, 0].mean().item(), rel=1e-6)
    assert result["surrounded"]["left"] != result["whole"]["left"]
    # the content around the padded view is a reflection, so its X̂ is the image's own inside
    padded = torch.nn.functional.pad(x.double(), (4,) * 4, mode="reflect").long()
    assert torch.equal(downsample(padded, 2)[..., 2:10, 2:10], downsample(x, 2))
    with pytest.raises(ValueError, match="padding"):
        diagnostics.surrounded_border(model, "8", x, pad=3)


def test_crop_origin_is_where_training_crops():
    model = pyramid(resolutions=(4, 8, 16), crop=8)
    x = images(1, size=16)
    for seed in range(5):
        top, left = diagnostics.crop_origin(model, "16", torch.Generator().manual_seed(seed))
        crop = model.training_view("16", x, torch.Generator().manual_seed(seed))
        assert top % 2 == left % 2 == 0
        assert torch.equal(crop, x[..., top : top + 8, left : left + 8])
    with pytest.raises(ValueError, match="whole images"):
        diagnostics.crop_origin(model, "8", torch.Generator())


def test_a_crop_as_large_as_the_image_scores_as_the_whole_image_both_ways():
    model = pyramid(resolutions=(4, 8, 16), crop=8)
    part, x, aux = diagnostics.level_inputs(model, "16", images(1, size=16))
    with torch.no_grad():
        cropped, embedded = diagnostics._crop_bits(part, x, aux, 0, 0, 16)
        whole = model.part_bpd("16", x).item()
    assert cropped == pytest.approx(whole, rel=1e-6) and embedded == pytest.approx(whole, rel=1e-6)


def test_crop_ablation_scores_whole_images_and_one_crop_of_each():
    model = pyramid(resolutions=(4, 8, 16), crop=8)
    x = images(4, size=16)
    result = diagnostics.crop_ablation(model, "16", x, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert result["whole"] == pytest.approx(model.part_bpd("16", x).mean().item(), rel=1e-6)
    assert result["crops"] == 4 and 0 <= result["crops_at_border"] <= 4
    assert result["crop"] != result["crop_whole_embedding"]
    with pytest.raises(ValueError, match="whole images"):
        diagnostics.crop_ablation(model, "8", x, generator=torch.Generator())


def test_the_cached_sampler_agrees_with_the_naive_one_in_float64():
    model = pyramid()
    part, _, aux = diagnostics.level_inputs(model, "8", images(2))
    agreement = diagnostics.sampler_agreement(part, aux, rows=3, seed=0, map=False)
    assert agreement == {"differ": 0, "values": 2 * 3 * 3 * 8}
    with pytest.raises(ValueError, match="rows"):
        diagnostics.sampler_agreement(part, aux, rows=9)


def test_sampling_given_nothing_draws_what_the_sampler_draws_and_given_everything_keeps_it():
    model = pyramid()
    part, x, aux = diagnostics.level_inputs(model, "8", images(2))
    nothing, everything = torch.zeros(8, 8, dtype=torch.bool), torch.ones(8, 8, dtype=torch.bool)

    def drawn(given):
        generator = torch.Generator().manual_seed(3)
        return diagnostics.sample_given(part, aux, x, given, map=False, generator=generator)

    sampled = part.sample(2, aux, map=False, generator=torch.Generator().manual_seed(3))
    assert torch.equal(drawn(nothing), sampled.long())
    assert torch.equal(drawn(everything), x)
    band = diagnostics.border_mask(8, 1)
    assert torch.equal(drawn(band)[..., band], x[..., band])
