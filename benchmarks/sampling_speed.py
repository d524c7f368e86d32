"""Sampling speed in seconds per generated pixel (paper section 4.2): naive vs cached vs windowed
sampling, or (--compiled) the cached sampler eager against compiled.

Without --compiled, the command-line form of chapter 05's per-resolution table
(:func:`auxpix.bench.sampling_table` of ``auxpix.bench.SAMPLING_CASES``): the paper's
architectures (untrained: speed does not depend on the weights), the Pyramid PixelCNN from
8x8 up to each resolution (per pixel of the top level, every level's pixels included) and
PixelCNN++ at 32x32, side by side on one device, then one face 8 -> 128 end to end. Each
figure times a prefix of the image for a share of --max-seconds and extrapolates per pixel.

With --compiled, one run times the cached sampler eager and with its steps compiled
(``compile=True``), side by side: the paper pyramid's 32x32 and 128x128 levels (each level
alone) and the paper PixelCNN++ at 128x128, at every --batch and --threads; then --faces
whole faces 8 -> 128 drawn both ways (at the last --threads), and the share of sampled values
that differ between the two in float32 (the pyramid 8 -> 32, one image, and the faces). The
compile time (torch.compile's first call, with inductor's on-disk cache as it is: run with
TORCHINDUCTOR_CACHE_DIR set to an empty folder for a cold one) is reported apart, never in a
figure per pixel. Beside each pyramid level, its floor: the time to read once the weights its
pixel step uses (one matrix product with as many weights, timed alone), which no step beats at
batch 1 without holding them in a faster memory. --smoke runs it all on the smoke presets in a
few minutes, to check it works.

    .venv/bin/python benchmarks/sampling_speed.py [--threads 1] [--batch 1] [--max-seconds 10] [--json out.json]
    .venv/bin/python benchmarks/sampling_speed.py --compiled --threads 1 2 --batch 1 16 [--faces 16] [--smoke] [--kinds pyramid]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from auxpix import bench
from auxpix.config import preset as preset_config
from auxpix.device import compute_label, cpu_threads
from auxpix.models import from_config, model_class

COMPILED_CASES = {  # preset: the (kind, resolution) whose top part --compiled times
    "paper": [("pyramid", 32), ("pyramid", 128), ("pixelcnnpp", 128)],
    "smoke": [("pyramid", 16), ("pyramid", 32), ("pixelcnnpp", 16)],
}
CHANGES_RESOLUTION = {"paper": 32, "smoke": 16}  # the pyramid whose float32 draws are compared
FLOOR_SECONDS = 2.0  # how long weight_floor times its matrix product


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1], help="CPU threads (default 1)"
    )
    parser.add_argument(
        "--max-seconds", type=float, help="time box of each measurement (default 10; smoke 1)"
    )
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[1], help="images sampled at once (default 1)"
    )
    parser.add_argument("--no-face", action="store_true", help="skip the whole faces")
    parser.add_argument("--compiled", action="store_true", help="eager against compiled cached")
    parser.add_argument("--faces", type=int, default=16, help="--compiled: faces drawn at once")
    parser.add_argument("--smoke", action="store_true", help="--compiled on the smoke presets")
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=("pyramid", "pixelcnnpp"),
        default=["pyramid", "pixelcnnpp"],
        help="--compiled: the models timed (default both)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.max_seconds is None:
        args.max_seconds = 1.0 if args.smoke else 10.0
    with cpu_threads(args.threads[-1]):
        print(compute_label(args.device))
    results = compiled_comparison(args) if args.compiled else per_resolution(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.json}")


def per_resolution(args) -> list[dict]:
    """Naive, cached and windowed sampling per resolution (chapter 05's table), and a face."""
    threads, batch = args.threads[0], args.batch[0]
    rows = bench.sampling_table(
        bench.SAMPLING_CASES,
        max_seconds=args.max_seconds,
        n=batch,
        device=args.device,
        threads=threads,
    )
    print(
        f"{'model':<11}{'size':>9}{'naive s/px':>12}{'cached s/px':>13}{'window s/px':>13}{'speed-up':>10}"
    )
    for row in rows:
        naive, cached, window = row["naive s/pixel"], row["cached s/pixel"], row["window s/pixel"]
        size = f"{row['resolution']}x{row['resolution']}"
        print(
            f"{row['model']:<11}{size:>9}{naive:>12.4g}{cached:>13.4g}{window:>13.4g}{naive / cached:>9.0f}x"
        )
    if not args.no_face:
        seconds = bench.whole_sample_seconds(
            "pyramid", n=batch, device=args.device, threads=threads
        )
        print(f"cached 8->128 face(s), batch {batch}, end to end: {seconds:.1f} s")
    return rows


def compiled_comparison(args) -> dict:
    """Eager against compiled cached sampling: per level, batch and thread count; whole faces;
    the float32 draws that differ."""
    preset = "smoke" if args.smoke else "paper"
    print(f"cached sampling, eager against compiled ({preset} presets, untrained weights)")
    print(
        f"{'model':<11}{'level':>9}{'batch':>6}{'threads':>8}{'eager ms/step':>15}"
        f"{'compiled ms/step':>18}{'speed-up':>10}{'compile s':>11}{'floor ms/step':>15}"
    )
    rows = []
    for threads in args.threads:
        for batch in args.batch:
            for kind, resolution in COMPILED_CASES[preset]:
                if kind not in args.kinds:
                    continue
                rows.append(
                    {"model": kind, "resolution": resolution, "batch": batch, "threads": threads}
                    | bench.compiled_speed(
                        kind,
                        preset=preset,
                        resolution=resolution,
                        n=batch,
                        max_seconds=args.max_seconds,
                        device=args.device,
                        threads=threads,
                    )
                    | weight_floor(kind, preset, resolution, batch, threads)
                )
                print_row(rows[-1])
    results = {"preset": preset, "rows": rows, "max_seconds": args.max_seconds}
    if "pyramid" not in args.kinds:  # the draws compared and the faces are the pyramid's
        return results
    resolution = CHANGES_RESOLUTION[preset]
    changes = bench.compiled_draw_changes(
        "pyramid", preset=preset, resolution=resolution, device=args.device, threads=args.threads[0]
    )
    print(
        f"values that differ, compiled against eager, float32, pyramid 8->{resolution}: {changes}"
    )
    results["changes"] = {"pyramid": resolution, "n": 1, "shares": changes}
    if not args.no_face:
        results["faces"] = faces(args, preset)
    return results


def weight_floor(kind: str, preset: str, resolution: int, n: int, threads: int) -> dict:
    """A pyramid level's floor: {"floor s/pixel": seconds per pixel to read once the weights
    its pixel step uses (the bottom kernel row of each ul-stream convolution, and the output:
    the u-stream, the kernels' upper rows and the blocks' aux paths run once a row), as one
    matrix product of ``n`` rows with that many weights, timed alone}; {} for another kind. No
    step reads them faster without holding them in a faster memory."""
    if kind != "pyramid":
        return {}
    torch.manual_seed(0)
    config = model_class(kind).config_at(preset_config(kind, preset), resolution)
    network = from_config(config).parts[str(resolution)].network
    convs = [
        module
        for name, module in network.named_modules()
        if name.startswith(("up_ul", "ul_first_left"))
        and isinstance(module, nn.Conv2d)
        and ".aux_in" not in name
    ]
    count = sum(conv.weight.numel() // conv.kernel_size[0] for conv in convs)
    count += sum(p.numel() for name, p in network.named_parameters() if name.startswith("out"))
    inputs = 600  # a 3x3 kernel's bottom row over 200 concat_elu channels, the light nets' widest
    weights, x = torch.randn(count // inputs, inputs), torch.randn(n, inputs)
    with cpu_threads(threads):
        for _ in range(10):
            F.linear(x, weights)
        start, calls = time.perf_counter(), 0
        while time.perf_counter() - start < FLOOR_SECONDS:
            F.linear(x, weights)
            calls += 1
    return {"floor s/pixel": (time.perf_counter() - start) / calls / n, "weights read": count}


def print_row(row: dict) -> None:
    eager, compiled = (
        1e3 * row[f"{mode} s/pixel"] * row["batch"] for mode in ("eager", "compiled")
    )
    floor = 1e3 * row["floor s/pixel"] * row["batch"] if "floor s/pixel" in row else float("nan")
    size = f"{row['resolution']}x{row['resolution']}"
    print(
        f"{row['model']:<11}{size:>9}{row['batch']:>6}{row['threads']:>8}{eager:>15.3f}"
        f"{compiled:>18.3f}{eager / compiled:>9.2f}x{row['compile s']:>11.1f}{floor:>15.3f}",
        flush=True,
    )


def faces(args, preset: str) -> dict:
    """--faces whole faces of the pyramid drawn eager and compiled (the same seed), at the
    last --threads; the share of their values that differ, per level."""
    threads, n = args.threads[-1], args.faces
    draws = {
        mode: bench.timed_sample(
            "pyramid",
            preset=preset,
            compile=mode == "compiled",
            n=n,
            device=args.device,
            threads=threads,
        )
        for mode in ("eager", "compiled")
    }
    (eager, eager_s, _), (compiled, compiled_s, compile_s) = draws["eager"], draws["compiled"]
    shares = {name: (eager[name] != compiled[name]).double().mean().item() for name in eager}
    top = eager["image"].shape[-1]
    print(
        f"{n} faces 8->{top}, {threads} thread(s): eager {eager_s:.1f} s, compiled {compiled_s:.1f} s "
        f"({eager_s / compiled_s:.2f}x; compiling first took {compile_s:.1f} s)"
    )
    print(f"values that differ, compiled against eager, float32, per level: {shares}")
    return {
        "n": n,
        "threads": threads,
        "eager s": eager_s,
        "compiled s": compiled_s,
        "compile s": compile_s,
        "changes": shares,
    }


if __name__ == "__main__":
    main()
