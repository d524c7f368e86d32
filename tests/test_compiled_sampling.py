"""Compiled cached sampling (``compile=True``): the eager cached sampler's draws, each step
compiled once.

In float64 not one value differs from the eager cached draws, for every kind of model (the
conditional parts, a given X̂ to start from, MAP and the log-scale shift included); a part's
row and pixel steps compile once (once per resolution of its net where a row or pixel may start several),
never once per pixel or row, and later draws compile nothing (another way of drawing, MAP
or a log-scale shift, compiles steps of its own once). Compiling dominates the time
here, so the nets are small (PixelCNN++ at two resolutions, enough to compile its down- and
upsamplings; one-resolution grayscale parts) and each model compiles once for the module.
"""

import pytest
import torch
from torch._dynamo.utils import counters

import auxpix
from auxpix.bench import compiled_draw_changes, sampling_speed
from auxpix.errors import ConfigError

MODELS = {  # kind: smoke-preset overrides
    "pixelcnnpp": {"image_size": 8, "net": {"nr_resolutions": 2}},
    "grayscale": {
        "image_size": 8,
        "aux_net": {"nr_resolutions": 1},
        "cond_net": {"nr_resolutions": 1},
    },
    # At 16 as bench builds the smoke pyramid; f_w(X̂) into the output too (the cpu preset's).
    "pyramid": {"resolutions": (8, 16), "embedding": {"to_output": True}},
}
DRAWS = {"ancestral": {}, "map": {"map": True}, "variance-reduced": {"log_scale_shift": 0.5}}
N = 2  # images drawn at once

pytestmark = pytest.mark.usefixtures("one_thread")


def graphs() -> int:
    """The graphs torch.compile has compiled in this process (a recompilation adds one)."""
    return counters["stats"]["unique_graphs"]


@pytest.fixture(scope="module")
def compiled(one_thread):
    """kind -> (the model in float64, compiled by a first draw; the graphs that draw compiled)."""
    kept = {}

    def get(kind):
        if kind not in kept:
            torch.manual_seed(0)
            model = auxpix.build(kind, preset="smoke", **MODELS[kind]).to(torch.float64).eval()
            before = graphs()
            model.sample(N, compile=True, generator=torch.Generator().manual_seed(1))
            kept[kind] = model, graphs() - before
        return kept[kind]

    return get


def both(model, **options) -> tuple[dict, dict]:
    """The eager and the compiled cached draws of ``model`` with the same seed and ``options``."""
    return tuple(
        model.sample(N, compile=compile, generator=torch.Generator().manual_seed(2), **options)
        for compile in (False, True)
    )


def assert_same(eager: dict, compiled: dict) -> None:
    assert list(eager) == list(compiled)
    for name in eager:
        assert torch.equal(eager[name], compiled[name]), name


@pytest.mark.parametrize("draw", list(DRAWS))
@pytest.mark.parametrize("kind", list(MODELS))
def test_compiled_draws_are_the_eager_ones_in_float64(compiled, kind, draw):
    model, _ = compiled(kind)
    assert_same(*both(model, **DRAWS[draw]))


def test_a_given_auxiliary_image_is_upscaled_or_colorized_as_eagerly(compiled):
    """The conditional part alone, from a given X̂: a grayscale model's 4-bit grays, a
    pyramid's lower level."""
    generator = torch.Generator().manual_seed(3)
    grays = torch.randint(0, 16, (N, 1, 8, 8), generator=generator)
    faces = torch.randint(0, 256, (N, 3, 8, 8), generator=generator, dtype=torch.uint8)
    for kind, aux in (("grayscale", grays), ("pyramid", faces)):
        model, _ = compiled(kind)
        eager, fast = both(model, aux=aux, map=True)
        assert_same(eager, fast)
        assert torch.equal(fast[next(iter(fast))], aux.to(torch.uint8))  # the given image first


@pytest.mark.parametrize("kind", list(MODELS))
def test_each_step_compiles_once_and_later_draws_compile_nothing(compiled, kind):
    model, first = compiled(kind)
    steps = sum(part.network.resolutions for part in model.parts.values())
    assert first == 2 * steps  # a row step and a pixel-and-draw step per resolution of each part
    before = graphs()
    model.sample(N, compile=True, generator=torch.Generator().manual_seed(4))
    model.compile_sampling(N)
    assert graphs() == before
    shift = 0.3  # another draw (no other test draws it): pixel steps of its own, compiled once
    model.compile_sampling(N, log_scale_shift=shift)
    model.sample(N, compile=True, log_scale_shift=shift)
    assert graphs() == before + steps


def test_only_the_cached_sampler_compiles():
    model = auxpix.build("pixelcnnpp", preset="smoke", image_size=4)
    with pytest.raises(
        ConfigError, match="compile=True compiles the cached sampler, not method='window'"
    ):
        model.sample(1, method="window", compile=True)
    with pytest.raises(ConfigError, match="compiles the cached sampler only, not \\('naive',\\)"):
        sampling_speed("pixelcnnpp", preset="smoke", methods=("naive",), compile=True)


def test_no_compiled_draw_changes_in_float64(compiled):
    """The float32 report's helper, held to float64, where nothing may differ (the smoke
    pyramid at 16 is the module's: its graphs come from inductor's cache)."""
    compiled("pyramid")
    changes = compiled_draw_changes(
        "pyramid", preset="smoke", resolution=16, n=N, dtype=torch.float64
    )
    assert changes == {"8": 0.0, "16": 0.0}


def test_sampling_speed_times_the_compile_apart():
    speeds = sampling_speed(
        "pyramid", preset="smoke", resolution=8, methods=("cached",), compile=True, max_seconds=0.2
    )  # the base level alone: one small net to compile
    assert set(speeds) == {"cached", "compile s"} and speeds["cached"] > 0 < speeds["compile s"]
