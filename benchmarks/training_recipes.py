"""Training images per second of parts of the cpu presets in float32 and bfloat16 autocast,
each without and with torch.compile, measured side by side in one run, with what else ran.

Every setting of a part is built (and, compiled, compiled) once, warmed up for ``--warmup``
steps, then the settings are timed in turn, ``--rounds`` times over, so a slow spell of the
machine hits them alike; the median of each is reported with its ratio to the first setting
(float32). The compile time is reported on its own, never inside a speed. Each line says how
many cores other processes kept busy while it was measured (from /proc/stat) and the load
average: a measurement taken beside another process is not one of a quiet machine. One
thread by default, as the book's runs train (two side by side, one thread each).

    .venv/bin/python benchmarks/training_recipes.py [--threads 1] [--steps 20] [--rounds 3]
        [--warmup 5] [--models pixelcnnpp:cpu pyramid:cpu-cifar:16] [--no-compile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from auxpix.bench import cpu_counters, other_load
from auxpix.config import preset as preset_config
from auxpix.device import cpu_threads, resolve_device, synchronize
from auxpix.models import from_config
from auxpix.train import adam, part_loss, train_step

MODELS = ["pixelcnnpp:cpu", "grayscale:cpu", "pyramid:cpu", "pyramid:cpu-cifar"]


def prepared(kind: str, preset: str, part: str, precision: str, compile: bool, device):
    """(a function that takes one training step, the compile seconds or None, batch size)."""
    model = from_config(preset_config(kind, preset, train={"precision": precision})).to(device)
    size = model.image_size  # a part takes its view of the whole image (a pyramid level's)
    batch = torch.randint(
        0, 256, (model.config.train.batch_size, 3, size, size), generator=torch.Generator()
    ).to(device)
    optimizer = adam(model.parts[part], model.config.train)
    loss = part_loss(model, part, device, compile=compile)
    started = time.perf_counter()
    train_step(loss, batch, optimizer, precision)  # compiles, if compiled
    synchronize(device)
    seconds = time.perf_counter() - started if compile else None
    return (lambda: train_step(loss, batch, optimizer, precision)), seconds, len(batch)


def timed(step, steps: int, device) -> tuple[float, float | None]:
    """(seconds for ``steps`` steps, cores other processes kept busy meanwhile)."""
    before = cpu_counters()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return time.perf_counter() - started, other_load(before, cpu_counters())


def cpu_description() -> str:
    """The CPU features bf16 speed depends on: without AVX-512 BF16 (or AMX) bf16 is emulated."""
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        flags = set()
    native = sorted(flags & {"avx512_bf16", "amx_bf16"}) or ["no native bf16 instructions"]
    return f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, {' '.join(native)}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round and setting")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per setting (median)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps after the first")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    parser.add_argument(
        "--models", nargs="+", default=MODELS, metavar="KIND:PRESET[:PART]", help="what to time"
    )
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled settings")
    args = parser.parse_args()
    device = resolve_device(args.device)
    settings = [(p, False) for p in args.precisions]
    settings += [] if args.no_compile else [(p, True) for p in args.precisions]
    label = {s: s[0] + (" compiled" if s[1] else "") for s in settings}
    print(
        f"training images/s, {args.threads} thread(s), median of {args.rounds} rounds of "
        f"{args.steps} steps after {args.warmup} warm-up steps; load average before: "
        f"{os.getloadavg()[0]:.2f}; {cpu_description()}"
    )
    with cpu_threads(args.threads):
        for spec in args.models:
            kind, preset, *only = spec.split(":")
            parts = only or list(from_config(preset_config(kind, preset)).parts)
            for part in parts:
                steps, compiled = {}, {}
                for setting in settings:
                    step, compiled[setting], batch = prepared(kind, preset, part, *setting, device)
                    for _ in range(args.warmup):
                        step()
                    steps[setting] = step
                seconds = {s: [] for s in settings}
                others = []
                for _ in range(args.rounds):
                    for setting in settings:
                        spent, other = timed(steps[setting], args.steps, device)
                        seconds[setting].append(spent)
                        others.append(other)
                speed = {s: args.steps * batch / statistics.median(seconds[s]) for s in settings}
                base = speed[settings[0]]
                cells = ", ".join(
                    f"{label[s]} {speed[s]:.1f} ({speed[s] / base:.2f}x)" for s in settings
                )
                compile_note = ", ".join(
                    f"{label[s]}: {compiled[s]:.0f} s" for s in settings if compiled[s]
                )
                known = [o for o in others if o is not None]
                load = f"{max(known):.2f}" if known else "unknown"
                print(f"{kind} {preset} {part}: {cells}", flush=True)
                print(
                    f"    first call (compile) {compile_note or 'n/a'}; other processes kept "
                    f"at most {load} cores busy during a round; load average now "
                    f"{os.getloadavg()[0]:.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
