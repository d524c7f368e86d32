"""Training speed of auxpix's PixelCNN++ beside pclucas14/pixel-cnn-pp's, side by side.

pclucas14/pixel-cnn-pp is the PyTorch port of PixelCNN++ that most people use. Its code never
enters this repository: give the path of your own checkout (see benchmarks/README.md). The
checkout is left untouched: its Python files are copied to a temporary folder, where the fixes
that current Python and PyTorch need (:data:`FIXES`) are applied before its model is imported.

Both networks are built at the same configuration (nr_resnet, nr_filters, nr_logistic_mix,
dropout) and timed on the same random batch, one training step at a time (forward, loss,
backward, Adam step), in rounds that alternate between the two, so that a change in the
machine's load falls on both; each speed is the median over the rounds, and each ratio the
median over the rounds of the ratio within a round.

    .venv/bin/python benchmarks/vs_pclucas14.py --pclucas14 PATH [--threads 2]
        [--config 1/32/64 --config 5/160/4] [--dropout 0.5 --dropout 0] [--rounds 9] [--steps 1]
        [--torch-dropout]
    .venv/bin/python benchmarks/vs_pclucas14.py --dropout-timing [--config ...] [--threads 2]

``--config R/F/B``: nr_resnet R, nr_filters F, batch B (nr_logistic_mix: ``--nr-logistic-mix``).
The dropouts differ in kind at the same p: auxpix's is the paper's, element-wise; pclucas14's
``Dropout2d`` drops whole channels (it hard-codes p = 0.5; the benchmark sets each module's p).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import re
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

import auxpix
from auxpix.bench import dropout_speed
from auxpix.device import compute_label, resolve_device, synchronize
from auxpix.layers import GatedResnet
from auxpix.train import adam, part_loss, train_step

# (file, pattern, replacement, why): what the checkout's model needs on current Python and
# PyTorch. main.py (the training script: argparse, tensorboardX, CIFAR-10 download) is not
# imported, so its ``.cuda(async=True)`` (a SyntaxError since Python 3.7) needs no fix here.
FIXES = [
    (
        "utils.py",
        r"^(\s*)print (\w+)\s*$",
        r"\1print(\2)",
        "Python 2 print statement in load_part_of_model (a SyntaxError on import)",
    ),
    (
        "utils.py",
        r"torch\.zeros\(xs \+ \[nr_mix\]\)\.cuda\(\)",
        "torch.zeros(xs + [nr_mix], device=x.device)",
        "the losses allocate their zeros on CUDA whatever the input's device",
    ),
]
MODULES = ("model", "layers", "utils")  # the checkout's modules that its model imports


def patched_copy(checkout: Path, into: Path) -> list[str]:
    """Copy the checkout's Python files into ``into`` and apply :data:`FIXES` there; returns
    what was fixed (a fix whose pattern is absent, as in a newer checkout, is skipped)."""
    missing = [f"{name}.py" for name in MODULES if not (checkout / f"{name}.py").is_file()]
    if missing:
        raise SystemExit(f"{checkout} is not a pixel-cnn-pp checkout: no {', '.join(missing)}")
    for source in checkout.glob("*.py"):
        shutil.copy(source, into / source.name)
    applied = []
    for name, pattern, replacement, why in FIXES:
        path = into / name
        text, count = re.subn(pattern, replacement, path.read_text(), flags=re.MULTILINE)
        if count:
            path.write_text(text)
            applied.append(f"{name}: {why} ({count}x)")
    return applied


def import_pclucas14(folder: Path):
    """(PixelCNN class, discretized_mix_logistic_loss) from the patched copy in ``folder``.
    Its modules have generic names (model, layers, utils): they are imported from ``folder``
    and dropped from ``sys.modules`` again, so that no other import can pick them up."""
    saved = {name: sys.modules.pop(name) for name in MODULES if name in sys.modules}
    sys.path.insert(0, str(folder))
    try:
        model = importlib.import_module("model")
        utils = importlib.import_module("utils")
        return model.PixelCNN, utils.discretized_mix_logistic_loss
    finally:
        sys.path.remove(str(folder))
        for name in MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def auxpix_step(
    nr_resnet, nr_filters, nr_logistic_mix, dropout, images, device, torch_dropout=False
):
    """auxpix's training step (:func:`auxpix.train.train_step`, the step
    :func:`auxpix.bench.training_speed` times; fp32, the preset's) for the configuration, and its
    parameter count. ``torch_dropout``: each block's dropout is ``torch.nn.Dropout`` (a float
    drawn per activation), as before auxpix drew one random bit per activation."""
    model = auxpix.build(
        "pixelcnnpp",
        preset="paper",
        train={"batch_size": len(images)},
        net={
            "nr_resnet": nr_resnet,
            "nr_filters": nr_filters,
            "nr_logistic_mix": nr_logistic_mix,
            "dropout": dropout,
        },
    ).to(device)
    if torch_dropout:
        for module in model.modules():
            if isinstance(module, GatedResnet):
                module.dropout = torch.nn.Dropout(dropout)
    (part,) = model.parts
    optimizer, loss = adam(model.parts[part], model.config.train), part_loss(model, part, device)
    batch = images.to(device)
    return (lambda: train_step(loss, batch, optimizer, model.config.train.precision)), _count(model)


def pclucas14_step(
    PixelCNN, loss_op, nr_resnet, nr_filters, nr_logistic_mix, dropout, images, device
):
    """pclucas14's training step, as its main.py takes it (with its Adam and learning rate), and
    its parameter count."""
    with warnings.catch_warnings():  # torch.nn.utils.weight_norm's deprecation, once per layer
        warnings.simplefilter("ignore", FutureWarning)
        model = PixelCNN(
            nr_resnet=nr_resnet,
            nr_filters=nr_filters,
            nr_logistic_mix=nr_logistic_mix,
            input_channels=3,
        )
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout2d):
            module.p = dropout
    model = model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.0002)
    x = (images.float() / 127.5 - 1).to(device)  # its rescaling of [0, 1] images to [-1, 1]

    def step():
        loss = loss_op(x, model(x))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step, _count(model)


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def side_by_side(
    steps: dict, *, batch: int, device, rounds: int, steps_per_round: int, warmup: int
) -> dict:
    """{name: images/s of each round}: each step function warmed up, then timed ``steps_per_round``
    steps at a time in ``rounds`` rounds that take the functions in turn (the order reversed
    every other round)."""
    names = list(steps)
    for name in names:
        for _ in range(warmup):
            steps[name]()
    speeds = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            synchronize(device)
            start = time.perf_counter()
            for _ in range(steps_per_round):
                steps[name]()
            synchronize(device)
            speeds[name].append(steps_per_round * batch / (time.perf_counter() - start))
    return speeds


def compare(
    checkout,
    configs,
    dropouts,
    *,
    nr_logistic_mix=10,
    threads=2,
    device="cpu",
    rounds=9,
    steps_per_round=1,
    warmup=1,
    seed=0,
    torch_dropout=False,
    log=print,
) -> list[dict]:
    """One row per (config, dropout): both projects' training images/s (medians over the rounds)
    and the ratio auxpix / pclucas14 (the median of the rounds' ratios). ``configs``: (nr_resnet,
    nr_filters, batch) triples. ``torch_dropout``: auxpix with ``torch.nn.Dropout`` is timed
    beside them where dropout is on."""
    device = resolve_device(device)
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="pclucas14-") as folder:
        for fix in patched_copy(Path(checkout), Path(folder)):
            log(f"fixed in the copy: {fix}")
        PixelCNN, loss_op = import_pclucas14(Path(folder))
    log(f"on {compute_label(device)}")
    rows = []
    for nr_resnet, nr_filters, batch in configs:
        images = torch.randint(
            0, 256, (batch, 3, 32, 32), generator=torch.Generator().manual_seed(seed)
        )
        for dropout in dropouts:
            torch.manual_seed(seed)
            ours, n_ours = auxpix_step(
                nr_resnet, nr_filters, nr_logistic_mix, dropout, images, device
            )
            theirs, n_theirs = pclucas14_step(
                PixelCNN, loss_op, nr_resnet, nr_filters, nr_logistic_mix, dropout, images, device
            )
            if n_ours != n_theirs:
                log(f"note: parameter counts differ (auxpix {n_ours:,}, pclucas14 {n_theirs:,})")
            steps = {"auxpix": ours, "pclucas14": theirs}
            if torch_dropout and dropout > 0:
                steps["auxpix nn.Dropout"] = auxpix_step(
                    nr_resnet,
                    nr_filters,
                    nr_logistic_mix,
                    dropout,
                    images,
                    device,
                    torch_dropout=True,
                )[0]
            rounds_speeds = side_by_side(
                steps,
                batch=batch,
                device=device,
                rounds=rounds,
                steps_per_round=steps_per_round,
                warmup=warmup,
            )
            for name, values in rounds_speeds.items():
                log(f"{name} images/s per round: {' '.join(f'{v:.2f}' for v in values)}")
            speeds = {name: statistics.median(values) for name, values in rounds_speeds.items()}
            ratios = {
                name: statistics.median(a / b for a, b in zip(values, rounds_speeds["pclucas14"]))
                for name, values in rounds_speeds.items()
            }
            row = {
                "nr_resnet": nr_resnet,
                "nr_filters": nr_filters,
                "batch": batch,
                "dropout": dropout,
                "parameters": n_ours,
                "auxpix images/s": speeds["auxpix"],
                "pclucas14 images/s": speeds["pclucas14"],
                "ratio": ratios["auxpix"],
            }
            if "auxpix nn.Dropout" in speeds:
                row["auxpix nn.Dropout images/s"] = speeds["auxpix nn.Dropout"]
                row["auxpix nn.Dropout ratio"] = ratios["auxpix nn.Dropout"]
            log(_format(row))
            rows.append(row)
    return rows


HEADER = (
    "| nr_resnet / filters | batch | dropout | parameters | auxpix images/s | pclucas14 images/s "
    "| auxpix / pclucas14 |"
)
TORCH_DROPOUT = " auxpix with nn.Dropout images/s | its ratio to pclucas14 |"


def _format(row: dict) -> str:
    line = (
        f"| {row['nr_resnet']} / {row['nr_filters']} | {row['batch']} | {row['dropout']:g} | {row['parameters']:,} "
        f"| {row['auxpix images/s']:.2f} | {row['pclucas14 images/s']:.2f} | {row['ratio']:.2f}x |"
    )
    if "auxpix nn.Dropout images/s" in row:
        line += (
            f" {row['auxpix nn.Dropout images/s']:.2f} | {row['auxpix nn.Dropout ratio']:.2f}x |"
        )
    return line


def print_dropout_timing(configs, dropouts, threads):
    """The table of :func:`auxpix.bench.dropout_speed` at each block's dropout input in the
    configs' networks ([batch, 2 nr_filters, s, s] at the three resolutions of a 32x32 image)."""
    shapes = [
        (batch, 2 * nr_filters, size, size)
        for _, nr_filters, batch in configs
        for size in (32, 16, 8)
    ]
    print(f"dropout forward + backward, ms (best of 5), {threads} thread(s)")
    print("| p | shape | nn.Dropout ms | auxpix ms | speed-up |\n|---|---|---|---|---|")
    for p in (p for p in dropouts if p > 0):
        for row in dropout_speed(shapes, p=p, threads=threads):
            print(
                f"| {p:g} | {list(row['shape'])} | {row['nn.Dropout ms']:.2f} | {row['auxpix ms']:.2f} "
                f"| {row['nn.Dropout ms'] / row['auxpix ms']:.1f}x |"
            )


def _config(text: str) -> tuple[int, int, int]:
    try:
        nr_resnet, nr_filters, batch = (int(v) for v in text.split("/"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"--config is nr_resnet/nr_filters/batch, e.g. 1/32/64, not {text!r}"
        ) from e
    return nr_resnet, nr_filters, batch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pclucas14", type=Path, help="path of a checkout of pclucas14/pixel-cnn-pp"
    )
    parser.add_argument(
        "--config",
        type=_config,
        action="append",
        help="nr_resnet/nr_filters/batch (repeatable; default 1/32/64 and 5/160/4)",
    )
    parser.add_argument(
        "--dropout", type=float, action="append", help="repeatable; default 0.5 and 0"
    )
    parser.add_argument("--nr-logistic-mix", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--rounds", type=int, default=9, help="timed rounds per model (the median is reported)"
    )
    parser.add_argument("--steps", type=int, default=1, help="training steps per round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per model first")
    parser.add_argument(
        "--torch-dropout",
        action="store_true",
        help="also time auxpix with torch.nn.Dropout (a float per activation) where dropout is on",
    )
    parser.add_argument(
        "--dropout-timing",
        action="store_true",
        help="instead: time the dropouts alone "
        "(nn.Dropout, auxpix's) at the configs' activation shapes, forward and backward",
    )
    args = parser.parse_args()
    configs = args.config or [(1, 32, 64), (5, 160, 4)]
    dropouts = args.dropout or [0.5, 0.0]
    if args.dropout_timing:
        return print_dropout_timing(configs, dropouts, args.threads)
    if args.pclucas14 is None:
        parser.error("--pclucas14 PATH is required (a checkout of pclucas14/pixel-cnn-pp)")
    print(
        f"training images/s, fp32, {args.threads} thread(s), {args.rounds} rounds x {args.steps} steps, "
        f"nr_logistic_mix {args.nr_logistic_mix}"
    )
    log = functools.partial(print, file=sys.stderr, flush=True)  # progress and per-round speeds
    rows = compare(
        args.pclucas14,
        configs,
        dropouts,
        nr_logistic_mix=args.nr_logistic_mix,
        threads=args.threads,
        device=args.device,
        rounds=args.rounds,
        steps_per_round=args.steps,
        warmup=args.warmup,
        torch_dropout=args.torch_dropout,
        log=log,
    )
    header = HEADER + (
        TORCH_DROPOUT if any("auxpix nn.Dropout images/s" in row for row in rows) else ""
    )
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    for row in rows:
        print(_format(row))


if __name__ == "__main__":
    main()
