"""Training images per second of the candidate widths and depths for the ``cpu`` preset.

How the cpu preset was sized: in an hour, a model can only see the training set as often as
its speed allows, so each candidate's optimizer steps (forward, backward, Adam, at the
preset's batch size) are timed per part. The committed runs train two models side by side
with one thread each, so the default measures with one thread; run two copies at once to
reproduce that setting exactly.

    .venv/bin/python benchmarks/training_speed.py [--threads 1] [--steps 4]
"""

from __future__ import annotations

import argparse

import torch

from auxpix.bench import training_speed


def light(nr_resnet: int, nr_filters: int) -> dict:
    """A pyramid level's light net (one resolution, 3x3 kernels), no dropout."""
    return {
        "nr_resnet": nr_resnet,
        "nr_filters": nr_filters,
        "nr_resolutions": 1,
        "dropout": 0.0,
        "light": True,
    }


# (label, kind, preset, overrides): the cpu preset's choice and the candidates beside it.
CANDIDATES = [
    *[
        (f"PixelCNN++ {r}/{f}", "pixelcnnpp", "cpu", {"net": {"nr_resnet": r, "nr_filters": f}})
        for r, f in [(1, 32), (1, 48), (2, 48), (2, 64)]
    ],
    ("Grayscale PixelCNN (cpu preset)", "grayscale", "cpu", {}),
    *[
        (
            f"CelebA pyramid, light nets {r}/{f}",
            "pyramid",
            "cpu",
            {"base_net": light(r, f), "level_net": light(r, f), "embedding": {"nr_filters": f}},
        )
        for r, f in [(2, 32), (3, 32), (2, 48)]
    ],
    ("CIFAR-10 pyramid (cpu-cifar preset)", "pyramid", "cpu-cifar", {}),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--steps", type=int, default=4, help="timed steps per part (after 2 warm-up steps)"
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"training images/s per part ({args.threads} thread(s), {args.device}, batch = the preset's)"
    )
    for label, kind, preset, overrides in CANDIDATES:
        speeds = training_speed(
            kind, preset=preset, device=args.device, steps=args.steps, **overrides
        )
        print(
            f"{label:40s} " + "  ".join(f"{part}: {speed:.1f}" for part, speed in speeds.items()),
            flush=True,
        )


if __name__ == "__main__":
    main()
