"""Sampling speed, naive vs cached vs windowed, in seconds per generated pixel (paper section 4.2).

The command-line form of chapter 05's per-resolution table (:func:`auxpix.bench.sampling_table`
of ``auxpix.bench.SAMPLING_CASES``):
the paper's architectures (untrained: speed does not depend on the weights), the Pyramid
PixelCNN from 8x8 up to each resolution (per pixel of the top level, every level's pixels
included) and PixelCNN++ at 32x32, side by side on one device. Each figure times a prefix
of the image for a share of --max-seconds and extrapolates per pixel.

    .venv/bin/python benchmarks/sampling_speed.py [--threads 1] [--batch 1] [--max-seconds 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json

from auxpix import bench
from auxpix.device import compute_label, cpu_threads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument(
        "--max-seconds", type=float, default=10.0, help="time box of each measurement"
    )
    parser.add_argument("--batch", type=int, default=1, help="images sampled at once")
    parser.add_argument("--no-face", action="store_true", help="skip the end-to-end 8 -> 128 face")
    parser.add_argument("--json", metavar="FILE", help="also write the rows to this JSON file")
    args = parser.parse_args()
    rows = bench.sampling_table(
        bench.SAMPLING_CASES,
        max_seconds=args.max_seconds,
        n=args.batch,
        device=args.device,
        threads=args.threads,
    )
    with cpu_threads(args.threads):
        print(compute_label(args.device))
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
            "pyramid", n=args.batch, device=args.device, threads=args.threads
        )
        print(f"cached 8->128 face(s), batch {args.batch}, end to end: {seconds:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
