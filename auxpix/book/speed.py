"""Chapter 05's measurements: §4.2's comparison, a whole face, the windowed sampler's changed
draws and the per-resolution table, each timed under recorded conditions.

Timings change with every run and with whatever else the machine is doing, so the chapter
shows the recorded ones (``results/<preset>/sampling_speed.json``) and times again only when
asked (``-p remeasure True``) or when nothing is recorded at its preset: building the book
leaves the committed record, and the README that quotes it, as they are.
"""

from __future__ import annotations

import os

from .. import bench
from ..device import cpu_threads
from ..errors import ConfigError
from . import registry

NOTEBOOK = "sampling_speed"
# The pyramid's samplers and PixelCNN++'s in §4.2's comparison (its PixelCNN++ is cached).
COMPARISON_METHODS = {"pyramid": ("window", "cached", "naive"), "pixelcnnpp": ("cached",)}
CHANGES_REFERENCE, CHANGES_IMAGES = "cached", 1


def measured(preset: str, *, remeasure: bool = False, device="auto", **settings) -> dict:
    """The record of chapter 05 at ``preset`` ({"values", "compute", ...}, as
    :func:`~auxpix.book.registry.recorded` reads it): the recorded one, or, when ``remeasure``
    or none is recorded, a new measurement with ``settings`` (:func:`measure`'s), recorded.
    A record measured with other ``settings`` is a one-line error that says how to re-measure."""
    saved = registry.recorded(NOTEBOOK, preset)
    if saved is not None and not remeasure:
        differ = {
            key: (value, settings[key])
            for key, value in recorded_settings(saved["values"]).items()
            if key in settings and value != settings[key]
        }
        if differ:
            raise ConfigError(
                f"{registry.results_dir() / preset / NOTEBOOK}.json was timed with "
                + ", ".join(f"{key} = {was!r}" for key, (was, _) in differ.items())
                + ": run the chapter with -p remeasure True to time it with "
                + ", ".join(f"{key} = {now!r}" for key, (_, now) in differ.items())
            )
        return saved
    values = measure(device=device, **settings)
    with cpu_threads(settings.get("threads", 1)):  # the record's compute: the timing's threads
        registry.record(
            NOTEBOOK, preset, values, device=device, data="none (untrained paper architectures)"
        )
    return registry.recorded(NOTEBOOK, preset)


def recorded_settings(values: dict) -> dict:
    """The settings a record of chapter 05 was timed with, as :func:`measure` takes them."""
    changes = values["window_changes"]
    (threads,) = {row["threads"] for row in values["rows"] + values["comparison_rows"]}
    return {
        "threads": threads,
        "window": changes["window"],
        "max_seconds": values["max_seconds"],
        "comparison_seconds": values["comparison_seconds"],
        "changes_resolution": changes["resolution"],
    }


def measure(
    *,
    device="auto",
    threads: int = 1,
    window: int = 16,
    max_seconds: float = 10.0,
    comparison_seconds: float = 30.0,
    changes_resolution: int = 32,
    also_running: str = "",
) -> dict:
    """Time everything chapter 05 shows, the paper's architectures untrained, one image at a
    time with ``threads`` CPU threads, and say under what conditions: the machine's 1-minute
    load average before and after, how busy other processes kept its cores meanwhile, its
    cores, and ``also_running`` (what else ran, if known)."""
    load_before, counters = os.getloadavg()[0], bench.cpu_counters()
    timing = dict(window=window, n=1, device=device, threads=threads)
    comparison_rows = [
        row
        for kind, r in bench.PAPER_COMPARISON_CASES
        for row in bench.sampling_table(
            [(kind, r)],
            preset="paper",
            methods=COMPARISON_METHODS[kind],
            max_seconds=comparison_seconds,
            **timing,
        )
    ]
    comparison_rows += bench.sampling_table(
        bench.PAPER_COMPARISON_CASES,
        preset="paper",
        methods=("cached",),
        max_seconds=comparison_seconds,
        compile=True,
        **timing,
    )
    face_seconds = bench.whole_sample_seconds(
        "pyramid", preset="paper", device=device, threads=threads
    )
    _, compiled_seconds, compiling = bench.timed_sample(
        "pyramid", preset="paper", compile=True, device=device, threads=threads
    )
    changes = bench.window_draw_changes(
        "pyramid",
        preset="paper",
        resolution=changes_resolution,
        window=window,
        n=CHANGES_IMAGES,
        reference=CHANGES_REFERENCE,
        threads=threads,
    )
    rows = bench.sampling_table(
        bench.SAMPLING_CASES,
        preset="paper",
        methods=("naive", "cached", "window"),
        max_seconds=max_seconds,
        **timing,
    )
    return {
        "rows": rows,
        "comparison_rows": comparison_rows,
        "whole_face_seconds": face_seconds,
        "whole_face_compiled": {"seconds": compiled_seconds, "compile s": compiling},
        "window_changes": {
            "shares": changes,
            "resolution": changes_resolution,
            "window": window,
            "n": CHANGES_IMAGES,
            "reference": CHANGES_REFERENCE,
        },
        "max_seconds": max_seconds,
        "comparison_seconds": comparison_seconds,
        "load_average": [load_before, os.getloadavg()[0]],
        "other_load": bench.other_load(counters, bench.cpu_counters()),
        "cores": len(os.sched_getaffinity(0)),
        "also_running": also_running,
    }
