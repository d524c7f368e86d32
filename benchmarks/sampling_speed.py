"""Sampling speed, naive vs cached, in seconds per generated pixel (paper section 4.2).

The paper: its Pyramid PixelCNN needs ~0.004 s per pixel without caching, PixelCNN++ with
caching ~0.05 s (Titan X), and caching "should improve its speed even further". This
measures, side by side on one device, the Pyramid PixelCNN's light nets (paper preset: 3
residual blocks, 100 filters) at every level 8x8 ... 128x128 and PixelCNN++ (paper preset:
5 resnets x 160 filters) at 32x32, with untrained weights (speed does not depend on them).

Each per-pixel figure times a prefix of the image (after the embedding and a warm-up
pixel) for --max-seconds and divides by the pixels drawn: a naive pixel is one full network
pass, so it costs the same everywhere in an image; a cached pixel costs more at the start of
a row, which a prefix of several rows includes. Whole levels are extrapolated from it. The
full face is timed end to end (cached, embeddings included).

    .venv/bin/python benchmarks/sampling_speed.py [--batch 1 16] [--out results.csv]
"""
from __future__ import annotations

import argparse
import csv
import os
import time

import torch

import auxpix
from auxpix.bench import conditioning, seconds_per_pixel
from auxpix.fast_sampling import METHODS

PYRAMID_LEVELS = (8, 16, 32, 64, 128)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="CPU threads (default 1: the cached sampler's small operations gain nothing from more, "
        "and a thread that waits for a busy core stalls every operation)",
    )  # fmt: skip
    parser.add_argument("--max-seconds", type=float, default=10.0, help="time budget of each per-pixel measurement")
    parser.add_argument("--batch", type=int, nargs="+", default=[1], help="images sampled at once")
    parser.add_argument("--out", help="also write the measurements to this CSV file")
    parser.add_argument("--no-face", action="store_true", help="skip the end-to-end 8 -> 128 face")
    return parser.parse_args()


def measure(model, name, size, batch, max_seconds):
    """One row: seconds per generated pixel of part ``name`` with each method."""
    part, aux = model.parts[name], conditioning(model, name, batch)
    row = {"model": model.kind, "size": size, "batch": batch}
    for method in METHODS:
        row[method] = seconds_per_pixel(part, method=method, n=batch, max_seconds=max_seconds, aux=aux)
    return row


def face_seconds(model, device) -> float:
    """One full 8 -> 128 pyramid sample, cached, embeddings included."""
    start = time.perf_counter()
    model.sample(1, method="cached", generator=torch.Generator(device).manual_seed(0))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.2f} s"


def print_table(rows):
    print(
        f"{'model':<11}{'size':>8}{'batch':>6}{'naive s/px':>12}{'cached s/px':>13}{'speed-up':>10}"
        f"{'naive ×':>9}{'cached ×':>10}{'naive level':>13}{'cached level':>14}"
    )
    previous = {}
    for row in rows:
        size, n = row["size"], row["batch"]
        grow = previous.get((row["model"], n))  # cost per pixel relative to the previous (half) size
        growth = [f"{row[m] / grow[m]:.1f}" if grow else "" for m in ("naive", "cached")]
        level = [row[m] * size * size * n for m in ("naive", "cached")]  # seconds for the n images
        print(
            f"{row['model']:<11}{f'{size}x{size}':>8}{n:>6}{row['naive']:>12.4g}{row['cached']:>13.4g}"
            f"{row['naive'] / row['cached']:>9.0f}x{growth[0]:>9}{growth[1]:>10}"
            f"{duration(level[0]):>13}{duration(level[1]):>14}"
        )
        previous[(row["model"], n)] = row


def write_csv(rows, path, device, threads):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "size", "batch", "method", "seconds_per_pixel", "device", "threads"])
        for row in rows:
            for method in METHODS:
                writer.writerow([row["model"], row["size"], row["batch"], method, row[method], device, threads])


def main():
    args = parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    pyramid = auxpix.build("pyramid", preset="paper").to(device)
    pixelcnnpp = auxpix.build("pixelcnnpp", preset="paper").to(device)
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"device {device}, {torch.get_num_threads()} CPU thread(s){load}; per-pixel figures from "
          f"~{args.max_seconds:g} s prefixes, whole levels extrapolated (s/px x pixels x batch)\n")  # fmt: skip
    rows = []
    for batch in args.batch:
        rows += [measure(pyramid, str(size), size, batch, args.max_seconds) for size in PYRAMID_LEVELS]
        rows.append(measure(pixelcnnpp, "pixelcnnpp", 32, batch, args.max_seconds))
    print_table(rows)
    print("naive ×, cached ×: per-pixel cost relative to the level of half the size. A naive pixel costs")
    print("one pass over the whole image (x4 per doubling: quadratic in the pixels overall); a cached")
    print("pixel a constant amount (linear overall).")
    for batch in args.batch:
        levels = [row for row in rows if row["model"] == "pyramid" and row["batch"] == batch]
        face = {m: duration(sum(row[m] * row["size"] ** 2 for row in levels)) for m in METHODS}
        print(f"8->128 face, batch {batch}, extrapolated per image: naive {face['naive']}, cached {face['cached']}")
    if not args.no_face:
        seconds = face_seconds(pyramid, device)
        print(f"cached 8->128 face, batch 1, measured end to end (embeddings included): {seconds:.1f} s "
              f"= {seconds / 128**2:.2g} s per pixel of the 128x128 image")  # fmt: skip
    if args.out:
        write_csv(rows, args.out, device, torch.get_num_threads())
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
