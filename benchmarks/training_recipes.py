"""Training images per second of every part of the cpu presets in float32 and bfloat16
autocast, each without and with torch.compile, measured side by side in one run.

The four settings of a part are timed in turn, ``--rounds`` times over (so a slow spell of
the machine hits them alike), and the median of each is reported with its ratio to the first setting (float32);
the first compiled call of each part also reports its compile time. One thread by default,
as the book's runs train (two side by side, one thread each).

    .venv/bin/python benchmarks/training_recipes.py [--threads 1] [--steps 10] [--rounds 3] [--no-compile]
"""

from __future__ import annotations

import argparse
import statistics
import time

from auxpix.bench import training_speed

MODELS = [("pixelcnnpp", "cpu"), ("grayscale", "cpu"), ("pyramid", "cpu"), ("pyramid", "cpu-cifar")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per part and setting")
    parser.add_argument(
        "--rounds", type=int, default=3, help="times each setting is measured (median reported)"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    parser.add_argument(
        "--models", nargs="+", metavar="KIND:PRESET", help="only these, e.g. pixelcnnpp:cpu"
    )
    parser.add_argument(
        "--precisions", nargs="+", default=["fp32", "bf16"], help="default: fp32 bf16"
    )
    parser.add_argument(
        "--no-compile", action="store_true", help="skip the compiled settings (each compiles anew)"
    )
    args = parser.parse_args()
    settings = [(p, False) for p in args.precisions] + (
        [] if args.no_compile else [(p, True) for p in args.precisions]
    )
    models = [tuple(m.split(":")) for m in args.models] if args.models else MODELS
    print(
        f"training images/s per part, {args.threads} thread(s), median of {args.rounds} rounds of {args.steps} steps"
    )
    print(
        f"{'model':<22}{'part':>6}"
        + "".join(f"{p + (' compiled' if c else ''):>16}" for p, c in settings)
    )
    for kind, preset in models:
        speeds = {setting: [] for setting in settings}
        compile_seconds = {}
        for _ in range(args.rounds):
            for precision, compile in settings:
                start = time.perf_counter()
                result = training_speed(
                    kind,
                    preset=preset,
                    precision=precision,
                    compile=compile,
                    steps=args.steps,
                    warmup=2,
                    threads=args.threads,
                    device=args.device,
                )
                if compile:
                    compile_seconds.setdefault(precision, time.perf_counter() - start)
                speeds[(precision, compile)].append(result)
        for part in speeds[settings[0]][0]:
            median = {
                setting: statistics.median(r[part] for r in runs)
                for setting, runs in speeds.items()
            }
            base = median[settings[0]]
            cells = "".join(f"{median[s]:8.1f} ({median[s] / base:.2f}x)" for s in settings)
            print(f"{kind + ' ' + preset:<22}{part:>6}{cells}", flush=True)
        if compile_seconds:
            print(
                f"{'':<22}{'':>6}  first compiled call (all parts, compile included): "
                + ", ".join(f"{p} {s:.0f} s" for p, s in compile_seconds.items()),
                flush=True,
            )


if __name__ == "__main__":
    main()
