"""The one timing module: how fast a model trains and samples on this machine.

* Training: images per second of each part's optimizer step (forward, backward, Adam) at
  the preset's batch size, on random images, timed after warm-up steps.
* Sampling: seconds per generated pixel (one position, all channels, of the final image).
  Sampling a whole image can take hours, so each part is timed on its first pixels in
  raster order for a share of ``max_seconds`` and the time per pixel extrapolated
  (:func:`seconds_per_pixel`); for a model of several parts the parts' times are added up
  per pixel of the final image. :func:`sampling_table` gives the rows that chapter 05 and
  ``benchmarks/sampling_speed.py`` both show.
* The windowed sampler's error: :func:`window_draw_changes`, the share of sampled values that
  change when each pixel sees a window of the image instead of all of it.
* Compiled sampling (``compile=True``): its compile timed apart (:func:`compile_seconds`),
  :func:`compiled_speed` against eager, :func:`compiled_draw_changes` its float32 draws.

Every function takes ``threads`` (CPU threads for the measurement; None: as set) and
speed does not depend on the weights, so untrained models are timed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from .config import preset as preset_config
from .device import cpu_threads, resolve_device, synchronize
from .errors import ConfigError
from .fast_sampling import DEFAULT_WINDOW, METHODS
from .layers import dropout
from .models import from_config, model_class
from .train import adam, part_loss, train_step

# What chapter 05 and benchmarks/sampling_speed.py time (paper architectures): the Pyramid
# PixelCNN from 8x8 up to each resolution and PixelCNN++ at CIFAR-10's 32x32 ...
SAMPLING_CASES = [("pyramid", r) for r in (8, 16, 32, 64, 128)] + [("pixelcnnpp", 32)]
# ... and section 4.2's comparison at the faces' 128x128: the pyramid 8 -> 128 beside a PixelCNN++.
PAPER_COMPARISON_CASES = [("pyramid", 128), ("pixelcnnpp", 128)]


def training_speed(
    kind: str,
    *,
    preset: str,
    device="auto",
    steps: int = 5,
    warmup: int = 2,
    threads: int | None = None,
    precision: str | None = None,
    compile: bool = False,
    **overrides,
) -> dict[str, float]:
    """{part: training images per second}, each part timed over ``steps`` steps after ``warmup``
    (with ``compile``, the first warm-up step compiles), for the preset's config with fields
    replaced by ``overrides`` (as in :func:`auxpix.build`) and ``precision`` if given."""
    device = resolve_device(device)
    if precision is not None:
        overrides["train"] = {**overrides.get("train", {}), "precision": precision}
    model = from_config(preset_config(kind, preset, **overrides)).to(device)
    size, generator = model.image_size, torch.Generator().manual_seed(0)  # the values do not matter
    batch = torch.randint(
        0, 256, (model.config.train.batch_size, 3, size, size), generator=generator
    ).to(device)
    speeds = {}
    with cpu_threads(threads):
        for name, net in model.parts.items():
            optimizer, loss = (
                adam(net, model.config.train),
                part_loss(model, name, device, compile=compile),
            )
            for _ in range(warmup):
                train_step(loss, batch, optimizer, model.config.train.precision)
            synchronize(device)
            start = time.perf_counter()
            for _ in range(steps):
                train_step(loss, batch, optimizer, model.config.train.precision)
            synchronize(device)
            speeds[name] = steps * len(batch) / (time.perf_counter() - start)
    return speeds


def dropout_speed(
    shapes, *, p: float = 0.5, repeats: int = 5, threads: int | None = None
) -> list[dict]:
    """One row per shape: milliseconds of a forward and backward pass of element-wise dropout
    (``p``) on a CPU tensor of that shape, through ``torch.nn.functional.dropout`` (what
    ``nn.Dropout`` runs: a float drawn per activation) and :func:`auxpix.layers.dropout` (at
    p = 0.5 one random bit per activation); the best of ``repeats``, the two taken in turn."""
    rows = []
    with cpu_threads(threads):
        for shape in shapes:
            x, best = torch.randn(shape), {"torch": float("inf"), "auxpix": float("inf")}
            for _ in range(repeats):
                for name, function in (("torch", F.dropout), ("auxpix", dropout)):
                    leaf = x.clone().requires_grad_()
                    start = time.perf_counter()
                    function(leaf, p, True).sum().backward()
                    best[name] = min(best[name], 1e3 * (time.perf_counter() - start))
            rows.append(
                {"shape": tuple(shape), "nn.Dropout ms": best["torch"], "auxpix ms": best["auxpix"]}
            )
    return rows


def sampling_speed(
    kind: str,
    *,
    preset: str,
    resolution: int | None = None,
    methods=METHODS,
    window: int = DEFAULT_WINDOW,
    max_seconds: float = 10.0,
    n: int = 1,
    device="auto",
    threads: int | None = None,
    compile: bool = False,
) -> dict[str, float]:
    """{method: seconds per generated pixel} when sampling ``n`` images at once.

    ``methods`` are those of ``PixelCNN.sample`` (``naive``: a full network pass per pixel;
    ``cached``: each activation computed once; ``window``: a network pass over a ``window``
    x ``window`` window around each pixel, the authors' sampler). ``resolution`` samples at
    another image size than the preset's (a pyramid keeps its levels up to that size, and
    its figure is per pixel of the top level, every level's pixels included). ``compile``:
    the cached sampler's steps compiled (methods ``("cached",)`` only), every part's
    compiled before the timing; the seconds that took (torch.compile's first call) under
    ``"compile s"``, apart from the figure per pixel.
    """
    _check_methods(methods, compile)
    device = resolve_device(device)
    model = _untrained(kind, preset, resolution, device)
    budget = max_seconds / (len(methods) * len(model.parts))
    speeds, compiling = {}, 0.0
    with cpu_threads(threads):
        if compile:
            compiling = sum(
                compile_seconds(part, n=n, aux=conditioning(model, name, n))
                for name, part in model.parts.items()
            )
        timing = dict(window=window, n=n, max_seconds=budget, compile=compile)
        for method in methods:
            seconds = 0.0  # per pixel of the final image: each part's, times its share of pixels
            for name, net in model.parts.items():
                aux = conditioning(model, name, n)
                seconds += (
                    seconds_per_pixel(net, method=method, aux=aux, **timing) * net.image_size**2
                )
            speeds[method] = seconds / model.image_size**2
    return speeds | ({"compile s": compiling} if compile else {})


def _check_methods(methods, compile: bool) -> None:
    unknown = [method for method in methods if method not in METHODS]
    if unknown:
        raise ConfigError(
            f"unknown sampling method {unknown[0]!r}: choose from {', '.join(METHODS)}"
        )
    if compile and tuple(methods) != ("cached",):
        raise ConfigError(f"compile=True compiles the cached sampler only, not {tuple(methods)}")


def sampling_table(
    cases,
    *,
    preset: str = "paper",
    methods=METHODS,
    window: int = DEFAULT_WINDOW,
    max_seconds: float = 10.0,
    n: int = 1,
    device="auto",
    threads: int | None = 1,
    compile: bool = False,
) -> list[dict]:
    """One row per (kind, resolution) of ``cases``: seconds per pixel with each method, the
    batch ``n`` and the ``threads`` they were measured with (default 1: the cached sampler's
    small operations gain nothing from more, and a thread that waits for a busy core stalls
    every operation), and the ``window`` size where the window method is timed. With
    ``compile`` (methods ``("cached",)``), "compiled cached s/pixel" and the seconds the
    compile took, "compile s"."""
    rows = []
    for kind, resolution in cases:
        speeds = sampling_speed(
            kind,
            preset=preset,
            resolution=resolution,
            methods=methods,
            window=window,
            max_seconds=max_seconds,
            n=n,
            device=device,
            threads=threads,
            compile=compile,
        )
        row = {"model": kind, "resolution": resolution, "batch": n, "threads": threads}
        if "window" in methods:
            row["window"] = window
        if compile:
            row["compile s"] = speeds.pop("compile s")
        label = "compiled {} s/pixel" if compile else "{} s/pixel"
        rows.append(row | {label.format(method): value for method, value in speeds.items()})
    return rows


def whole_sample_seconds(
    kind: str,
    *,
    preset: str = "paper",
    method: str = "cached",
    n: int = 1,
    device="auto",
    threads: int | None = 1,
) -> float:
    """Seconds to draw ``n`` whole samples end to end (a pyramid: every level, embeddings included)."""
    return timed_sample(kind, preset=preset, method=method, n=n, device=device, threads=threads)[1]


def timed_sample(
    kind: str,
    *,
    preset: str = "paper",
    method: str = "cached",
    compile: bool = False,
    n: int = 1,
    seed: int = 0,
    device="auto",
    threads: int | None = 1,
) -> tuple[dict[str, torch.Tensor], float, float]:
    """``n`` whole samples of the untrained model drawn end to end with a generator seeded
    ``seed``: (their stages, the seconds they took, the seconds that ``compile`` spent
    compiling every part's steps first, 0.0 without)."""
    device = resolve_device(device)
    model = _untrained(kind, preset, None, device)
    with cpu_threads(threads):
        compiling = time.perf_counter()
        if compile:
            model.compile_sampling(n)
        synchronize(device)
        start = time.perf_counter()
        stages = model.sample(
            n, method=method, compile=compile, generator=torch.Generator(device).manual_seed(seed)
        )
        synchronize(device)
        return stages, time.perf_counter() - start, start - compiling


def window_draw_changes(
    kind: str,
    *,
    preset: str,
    resolution: int | None = None,
    window: int = DEFAULT_WINDOW,
    n: int = 1,
    seed: int = 0,
    reference: str = "naive",
    dtype=torch.float64,
    device="auto",
    threads: int | None = None,
) -> dict[str, float]:
    """{part: share of sampled values that differ} between ``method="window"`` and
    ``reference``, each part of the untrained model (as timed) drawing ``n`` images with a
    generator seeded ``seed`` for both, a conditional part from the same X̂ (:func:`conditioning`).

    Both samplers draw the same random numbers in the same order, so a value differs only
    where the context the window cuts moved a pixel's distribution across a draw's bin
    boundary (or a changed pixel did, as context of a later one). float64 by default, so
    that rounding does not count; there ``reference="cached"`` draws naive's images, much
    faster. A part no larger than the window is passed whole: 0, without sampling.
    """
    model = _untrained(kind, preset, resolution, resolve_device(device)).to(dtype)
    return _draw_changes(
        model,
        n,
        seed,
        threads,
        ({"method": reference}, {"method": "window", "window": window}),
        same=lambda part: part.image_size <= window,
    )


def compiled_draw_changes(
    kind: str,
    *,
    preset: str,
    resolution: int | None = None,
    n: int = 1,
    seed: int = 0,
    dtype=torch.float32,
    device="auto",
    threads: int | None = None,
) -> dict[str, float]:
    """{part: share of sampled values that differ} between the compiled and the eager cached
    sampler, drawn as :func:`window_draw_changes` draws. Compiled code may add in another
    order, so in float32 (the default) a draw on a bin boundary may round the other way;
    in float64 none differ (tests/test_compiled_sampling.py)."""
    model = _untrained(kind, preset, resolution, resolve_device(device)).to(dtype)
    return _draw_changes(model, n, seed, threads, ({"compile": False}, {"compile": True}))


def _draw_changes(model, n, seed, threads, options, same=lambda part: False) -> dict[str, float]:
    """{part: share of values that differ} between each part's draws with the two ``options``
    (0.0 without drawing where ``same(part)``), as :func:`window_draw_changes` says."""
    device, changes = next(model.parameters()).device, {}
    with cpu_threads(threads):
        for name, part in model.parts.items():
            if same(part):
                changes[name] = 0.0
                continue
            aux = conditioning(model, name, n, seed)
            first, second = (
                part.sample(n, aux, generator=torch.Generator(device).manual_seed(seed), **kwargs)
                for kwargs in options
            )
            changes[name] = (first != second).double().mean().item()
    return changes


def compiled_speed(
    kind: str,
    *,
    preset: str,
    resolution: int | None = None,
    n: int = 1,
    max_seconds: float = 10.0,
    device="auto",
    threads: int | None = None,
) -> dict[str, float]:
    """Eager against compiled cached sampling of the part that draws the top level at
    ``resolution`` (a pyramid's level alone; PixelCNN++'s one part), ``n`` images at once:
    {"eager s/pixel", "compiled s/pixel", "compile s"}, each figure per pixel timed for half
    of ``max_seconds``, after the compile, which is timed apart (:func:`compile_seconds`)."""
    model = _untrained(kind, preset, resolution, resolve_device(device))
    name = list(model.parts)[-1]
    part, aux = model.parts[name], conditioning(model, name, n)
    with cpu_threads(threads):
        compiling = compile_seconds(part, n=n, aux=aux)
        eager, compiled = (
            seconds_per_pixel(
                part, method="cached", n=n, max_seconds=max_seconds / 2, aux=aux, compile=c
            )
            for c in (False, True)
        )
    return {"eager s/pixel": eager, "compiled s/pixel": compiled, "compile s": compiling}


def _untrained(kind: str, preset: str, resolution: int | None, device):
    """The preset's model at ``resolution`` (see :func:`_config_at`) with untrained weights,
    seeded so that a repeat measures the same network."""
    torch.manual_seed(0)
    return from_config(_config_at(kind, preset, resolution)).to(device)


def _config_at(kind: str, preset: str, resolution: int | None):
    """The preset's config, at image size ``resolution`` if given (as its model defines it)."""
    config = preset_config(kind, preset)
    return config if resolution is None else model_class(kind).config_at(config, resolution)


def seconds_per_pixel(
    part,
    *,
    method: str,
    window: int = DEFAULT_WINDOW,
    n: int = 1,
    max_seconds: float = 10.0,
    aux=None,
    compile: bool = False,
) -> float:
    """Seconds per generated pixel when ``part`` (a :class:`~auxpix.pixelcnn.PixelCNN`)
    samples ``n`` images at once with ``method`` (``window``: the window's size for ``"window"``;
    ``compile``: the cached sampler's steps compiled, before the timing).

    The embedding f_w(X̂) and the first pixel (a warm-up) are not timed; then pixels are
    drawn in raster order until ``max_seconds`` have passed or the image is complete, and
    the mean time per pixel is returned. A naive pixel costs the same everywhere in an
    image; a cached one costs more at the start of a row, so the prefix should span
    several rows (any partial row only overstates the cost); a windowed one costs the same
    until the window reaches the right edge and narrows. ``aux``: X̂ for a
    conditional part (see :func:`conditioning`).
    """
    was_training = part.training
    part.eval()
    device = next(part.parameters()).device
    if compile:
        part.compile_sampling(n, aux)
    try:
        with torch.no_grad(), parametrize.cached():
            steps = part.sample_steps(n, aux, method=method, window=window, compile=compile)
            next(steps)
            synchronize(device)
            start, count = time.perf_counter(), 0
            for _ in steps:
                count += 1
                if time.perf_counter() - start >= max_seconds:
                    break
            synchronize(device)
            elapsed = time.perf_counter() - start
            steps.close()
    finally:
        part.train(was_training)
    if count == 0:
        raise ValueError("an image of one pixel leaves nothing to time after the warm-up")
    return elapsed / (count * n)


def compile_seconds(part, *, n: int = 1, aux=None) -> float:
    """Seconds that ``compile=True`` spends compiling ``part``'s sampling steps for ``n``
    images before its first pixel: torch.compile's first call, with inductor's on-disk cache
    of compiled kernels as it is (nothing, once compiled in this process)."""
    device = next(part.parameters()).device
    start = time.perf_counter()
    part.compile_sampling(n, aux)
    synchronize(device)
    return time.perf_counter() - start


def conditioning(model, name: str, n: int = 1, seed: int = 0) -> torch.Tensor | None:
    """The auxiliary input X̂ of ``model``'s part ``name`` for n random images (None for an
    unconditional part) — sampling time does not depend on its values."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, model.image_size, model.image_size), generator=generator)
    _, aux = model.part_inputs(name, images)
    return None if aux is None else aux.to(next(model.parameters()).device)


def cpu_counters() -> tuple[float, float | None, float]:
    """(a wall clock, CPU seconds the whole machine has been busy (None where /proc/stat is
    missing), CPU seconds of this process), for :func:`other_load` between two calls."""
    try:
        ticks = [
            int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        ]
        busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf(
            "SC_CLK_TCK"
        )  # all but idle and iowait
    except (OSError, ValueError, IndexError):
        busy = None
    own = os.times()
    return time.monotonic(), busy, own.user + own.system


def other_load(start, end) -> float | None:
    """How many cores other processes kept busy on average between two :func:`cpu_counters`
    (the machine's busy time less this process's, over the wall-clock time); None if unknown."""
    if start[1] is None or end[1] is None:
        return None
    return max(0.0, (end[1] - start[1]) - (end[2] - start[2])) / (end[0] - start[0])
