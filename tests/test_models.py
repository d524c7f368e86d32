"""Causality of the networks, the models' bits/dim bookkeeping, sampling shapes, presets."""

import math
from pathlib import Path

import pytest
import torch

import auxpix
from auxpix.config import ConfigError

SIZE = 8


def small(kind, **overrides):
    """A smoke model of ``kind`` at a small size, in eval mode, with fixed initial weights."""
    torch.manual_seed(0)
    if kind == "pyramid":
        overrides.setdefault("resolutions", (4, 8))
    else:
        overrides.setdefault("image_size", SIZE)
    model = auxpix.build(kind, preset="smoke", **overrides)
    return model.eval()


def images(n=2, size=SIZE, seed=0):
    return torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed))


def all_parts():
    for kind in auxpix.kinds():
        model = small(kind)
        for name in model.parts:
            yield pytest.param(model, name, id=f"{kind}-{name}")
    model = small("pyramid", embedding={"to_output": True})  # the cpu preset's output path
    yield pytest.param(model, "8", id="pyramid-to-output-8")


@pytest.mark.parametrize("model,name", list(all_parts()))
def test_network_output_depends_only_on_earlier_pixels(model, name):
    """Gradient test: output (i, j) has zero gradient w.r.t. every input at or after (i, j)
    in raster order, and a nonzero one w.r.t. its left and upper neighbours."""
    torch.manual_seed(0)
    part = model.parts[name]
    target, aux = model.part_inputs(name, images(1, size=model.image_size))
    size = part.image_size
    x = torch.rand(1, part.channels, size, size, requires_grad=True)
    embedding = part.embed(aux)
    out = part.network(x, embedding)
    order = torch.arange(size * size).view(size, size)
    for i in range(size):
        for j in range(size):
            (grad,) = torch.autograd.grad(out[0, :, i, j].sum(), x, retain_graph=True)
            seen = grad.abs().sum(dim=(0, 1)) > 0
            assert not seen[order >= i * size + j].any(), f"output ({i},{j}) sees a later pixel"
            if j > 0:
                assert seen[i, j - 1], f"output ({i},{j}) does not see its left neighbour"
            if i > 0:
                assert seen[i - 1, j], f"output ({i},{j}) does not see the pixel above"


@pytest.mark.parametrize("kind", ["pixelcnnpp", "grayscale"])
def test_changing_later_pixels_never_changes_earlier_log_probs(kind):
    model = small(kind)
    x = images(1)
    before = model.log_prob(x, reduction="none").view(-1)
    for position in [0, 5, 17, 40, SIZE * SIZE - 1]:
        changed = x.clone().view(1, 3, -1)
        changed[..., position + 1 :] = torch.randint(0, 256, changed[..., position + 1 :].shape)
        if kind == "pixelcnnpp":  # pixel `position` itself keeps its value, so its log p too
            after = model.log_prob(changed.view_as(x), reduction="none").view(-1)
            assert torch.allclose(before[: position + 1], after[: position + 1], atol=1e-5)
        else:  # the grayscale X̂ of later pixels changes too; X̂ may be seen whole by p(X|X̂)
            gray, cond = auxpix.grayscale_4bit(x), model.parts["cond"]
            before_cond = cond.log_prob(x, gray, reduction="none").view(-1)
            after_cond = cond.log_prob(changed.view_as(x), gray, reduction="none").view(-1)
            assert torch.allclose(
                before_cond[: position + 1], after_cond[: position + 1], atol=1e-5
            )


def test_conditional_part_uses_the_auxiliary_image():
    """Every pixel's distribution depends on X̂: inverting the grayscale moves each pixel's
    log-probability. In float64, so that a change is never lost to rounding (in float32 the
    changes of an untrained smoke net, ~1e-5, can round to exactly 0 on some CPUs)."""
    model = small("grayscale").double()
    x = images(1)
    cond = model.parts["cond"]
    gray = auxpix.grayscale_4bit(x)
    inverted = 15 - gray
    change = cond.log_prob(x, gray, reduction="none") - cond.log_prob(x, inverted, reduction="none")
    assert change.abs().min() > 1e-9


def test_grayscale_bpd_parts_add_up_and_use_colour_dimensions():
    model = small("grayscale")
    x = images(3)
    bpd = model.bpd(x)
    assert torch.allclose(bpd["aux"] + bpd["cond"], bpd["total"])
    dims = 3 * SIZE * SIZE * math.log(2)
    assert torch.allclose(bpd["aux"], -model.parts["aux"].log_prob(auxpix.grayscale_4bit(x)) / dims)
    assert torch.allclose(model.log_prob(x), -bpd["total"] * dims, rtol=1e-5)


def test_pyramid_bpd_levels_and_resolutions():
    model = small("pyramid", resolutions=(4, 8, 16))
    x = images(2, size=16)
    bpd, by_res = model.bpd(x), model.bpd_by_resolution(x)
    tables = model.tables(model.nll(x))  # what evaluate() reports, from one pass
    assert list(tables) == ["bpd", "bpd_by_resolution"]
    assert all(torch.equal(tables["bpd"][k], bpd[k]) for k in bpd)
    assert all(torch.equal(tables["bpd_by_resolution"][k], by_res[k]) for k in by_res)
    assert set(bpd) == {"4", "8", "16", "total"}
    nats = {r: bpd[r] * 3 * int(r) ** 2 * math.log(2) for r in ("4", "8", "16")}
    assert torch.allclose(by_res["8"], (nats["4"] + nats["8"]) / (3 * 64 * math.log(2)))
    assert torch.allclose(by_res["16"], bpd["total"])
    low = auxpix.downsample(x)
    assert torch.allclose(nats["16"], -model.parts["16"].log_prob(x, low), rtol=1e-5)


def shapes(stages: dict) -> dict:
    assert all(stage.dtype == torch.uint8 for stage in stages.values())
    return {name: tuple(stage.shape) for name, stage in stages.items()}


def test_every_model_samples_named_stages_the_final_images_last():
    g = torch.Generator().manual_seed(0)
    stages = small("pixelcnnpp", image_size=4).sample(2, generator=g)
    assert shapes(stages) == {"image": (2, 3, 4, 4)}
    stages = small("grayscale", image_size=4).sample(2, generator=g, map=True)
    assert list(shapes(stages).items()) == [("gray", (2, 1, 4, 4)), ("image", (2, 3, 4, 4))]
    assert int(stages["gray"].max()) < 16
    pyramid = small("pyramid", resolutions=(2, 4, 8))
    stages = pyramid.sample(2, generator=g, log_scale_shift=[0.0, 0.5, 0.5])
    assert list(shapes(stages).items()) == [
        ("2", (2, 3, 2, 2)),
        ("4", (2, 3, 4, 4)),
        ("image", (2, 3, 8, 8)),
    ]


def test_a_pyramid_upscales_a_given_image_from_its_resolution():
    pyramid, g = small("pyramid", resolutions=(2, 4, 8)), torch.Generator().manual_seed(0)
    start = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    upscaled = pyramid.sample(2, aux=start, generator=g)
    assert list(upscaled) == ["4", "image"] and torch.equal(upscaled["4"], start)
    assert torch.equal(pyramid.auxiliary(images(2, size=8)), auxpix.downsample(images(2, size=8)))
    with pytest.raises(ValueError, match="aux must be at one of the resolutions"):
        pyramid.sample(2, aux=torch.zeros(2, 3, 3, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="shaped \\[B, 3, H, W\\]"):
        pyramid.sample(2, aux=torch.zeros(2, 1, 4, 4, dtype=torch.uint8))


def test_a_model_without_an_auxiliary_image_refuses_one():
    model = small("pixelcnnpp", image_size=4)
    with pytest.raises(ValueError, match="a pixelcnnpp model has no auxiliary image"):
        model.sample(1, aux=torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="a pixelcnnpp model has no auxiliary image"):
        model.auxiliary(images(1, size=4))


def test_sampling_is_reproducible_with_a_seed_and_restores_train_mode():
    model = small("pixelcnnpp", image_size=4).train()
    a = model.sample(2, generator=torch.Generator().manual_seed(7))["image"]
    b = model.sample(2, generator=torch.Generator().manual_seed(7))["image"]
    assert torch.equal(a, b) and model.training


def test_colorization_keeps_the_given_grayscale():
    model = small("grayscale", image_size=4)
    gray = model.auxiliary(images(2, size=4))
    assert torch.equal(gray, auxpix.grayscale_4bit(images(2, size=4)))
    stages = model.sample(2, aux=gray, generator=torch.Generator().manual_seed(0))
    assert torch.equal(stages["gray"].long(), gray) and stages["image"].shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match="grayscale model's aux expects images shaped"):
        model.sample(2, aux=torch.zeros(2, 3, 4, 4, dtype=torch.long))


@pytest.mark.parametrize(
    "kind,preset",
    [(kind, preset) for kind in auxpix.kinds() for preset in ("paper", "cpu")]
    + [("pyramid", "paper-cifar"), ("pyramid", "cpu-cifar")],
)
def test_presets_build_and_run_forward_backward(kind, preset):
    model = auxpix.build(kind, preset=preset).train()
    x = images(1, size=model.image_size)
    for name, part in model.parts.items():
        if kind == "pyramid" and preset == "paper" and name not in ("8", "128"):
            continue  # the middle levels are the same network as level 128, at other sizes
        loss = -part.log_prob(*model.part_inputs(name, x)).mean()
        loss.backward()
        assert all(p.grad is not None for p in part.parameters())
        part.zero_grad(set_to_none=True)


#: Parameters of every part of the paper presets, as the README states them (in millions).
PAPER_PARAMETERS = {
    "pixelcnnpp": {"pixelcnnpp": 53_659_080},
    "grayscale": {"aux": 53_641_952, "cond": 65_821_000},
    "pyramid": {"8": 3_319_400, **{str(r): 12_034_800 for r in (16, 32, 64, 128)}},
}


def test_paper_parameter_counts_are_the_readmes():
    for kind, parts in PAPER_PARAMETERS.items():
        model = auxpix.build(kind, preset="paper")
        assert {
            name: sum(p.numel() for p in part.parameters()) for name, part in model.parts.items()
        } == parts
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    stated = readme[readme.index("Parameter counts of the `paper` presets") :].split("\n\n")[0]
    gray, pyramid = PAPER_PARAMETERS["grayscale"], PAPER_PARAMETERS["pyramid"]
    counts = [sum(parts.values()) for parts in PAPER_PARAMETERS.values()]
    counts += [gray["aux"], gray["cond"], pyramid["8"], pyramid["16"]]
    for count in counts:
        assert f"{count / 1e6:.1f} M" in stated, f"the README does not state {count / 1e6:.1f} M"


def test_paper_pyramid_level_has_the_authors_light_net_and_15_block_embedding():
    level = auxpix.build("pyramid", preset="paper").parts["32"]
    net = level.network
    streams = [net.up_u, net.up_ul, net.down_u, net.down_ul]
    assert (
        sum(len(group) for stream in streams for group in stream) == 6
    )  # 3 per stream, no down pass
    assert [len(group) for group in net.up_u] == [3] and not net.downsample_u and not net.upsample_u
    kernels = {block.conv_in.conv.kernel_size for group in net.up_u for block in group}
    kernels |= {block.conv_in.conv.kernel_size for group in net.up_ul for block in group}
    assert kernels == {(3, 3)}
    assert len(level.embedding.blocks) == 15 and level.embedding.down_blocks == 6
    # up-pass blocks 7..12 take the skips of down-pass blocks 6..1; blocks 13..15 none
    assert level.embedding.takes_skip == [False] * 6 + [True] * 6 + [False] * 3
    assert list(level.embedding.representation) == ["15"]


def test_embedding_skips_come_from_mirror_blocks_at_the_same_resolution():
    """Each up-pass block's auxiliary input is its mirror down-pass block's output: record
    what each block receives and check it against what the mirror block returned."""
    torch.manual_seed(0)
    cond = auxpix.build(
        "grayscale",
        preset="paper",
        image_size=8,
        cond_net={"nr_filters": 8},
        embedding={"nr_filters": 8},
    ).parts["cond"]
    embedding = cond.embedding.eval()
    outputs, skips = [], []

    def record(block, args, output):
        outputs.append(output)
        skips.append(args[1])

    hooks = [block.register_forward_hook(record) for block in embedding.blocks]
    embedding(torch.rand(1, 1, 8, 8))
    for hook in hooks:
        hook.remove()
    down = embedding.down_blocks
    assert down == 10 and all(skip is None for skip in skips[:down])
    for b in range(down, len(outputs)):
        assert torch.equal(skips[b], outputs[2 * down - 1 - b])


def test_transposed_convolutions_are_normalized_per_output_channel():
    conv = auxpix.build("pixelcnnpp", preset="smoke").parts["pixelcnnpp"].network.upsample_u[0].conv
    weight, gain = conv.weight, conv.parametrizations.weight.original0
    assert gain.shape == (1, weight.shape[1], 1, 1)  # ConvTranspose2d weights are [in, out, kh, kw]
    norms = weight.detach().pow(2).sum(dim=(0, 2, 3)).sqrt()
    assert torch.allclose(norms, gain.detach().flatten(), rtol=1e-5)


def test_bad_configs_and_inputs_fail_clearly():
    with pytest.raises(ConfigError, match="unknown model kind"):
        auxpix.build("pixelcnn")
    with pytest.raises(ConfigError, match="unknown preset"):
        auxpix.build("grayscale", preset="huge")
    with pytest.raises(ConfigError, match="no field"):
        auxpix.build("grayscale", preset="smoke", nr_filters=3)
    with pytest.raises(ConfigError, match="must be of type int"):
        auxpix.build("pixelcnnpp", preset="smoke", image_size="8")
    with pytest.raises(ConfigError, match="embedding"):
        auxpix.build("pyramid", preset="smoke", embedding={"upsample_after": (2,)})
    model = small("pixelcnnpp")
    with pytest.raises(ValueError, match="shaped"):
        model.bpd(images(1, size=16))
    with pytest.raises(ValueError, match="integer"):
        model.bpd(images(1).float())


def _layers_per_stream(network) -> int:
    """Gated residual blocks of the u-stream plus its down- and up-sampling layers: how
    openai/pixel-cnn's PixelCNN++ is counted as '36 residual blocks' at nr_resnet=5."""
    blocks = sum(len(group) for group in (*network.up_u, *network.down_u))
    return blocks + len(network.downsample_u) + len(network.upsample_u)


def test_grayscale_conditional_net_and_embedding_have_24_layers_where_pixelcnnpp_has_36():
    grayscale, pixelcnnpp = (
        auxpix.build(kind, preset="paper") for kind in ("grayscale", "pixelcnnpp")
    )
    assert _layers_per_stream(pixelcnnpp.parts["pixelcnnpp"].network) == 36
    assert (
        _layers_per_stream(grayscale.parts["aux"].network) == 36
    )  # p(X̂): PixelCNN++'s hyperparameters
    cond = grayscale.parts["cond"]
    assert _layers_per_stream(cond.network) == 24
    assert len(cond.embedding.blocks) + len(cond.embedding.resample) == 24
