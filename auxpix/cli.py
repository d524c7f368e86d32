"""The ``auxpix`` command: train, evaluate, sample and benchmark the paper's models.

    auxpix train grayscale --preset cpu --out runs/gray --epochs 30 --part aux
    auxpix train grayscale --preset cpu --out runs/gray --epochs 200 --part cond
    auxpix eval runs/gray --json
    auxpix sample runs/gray --n 16 --out samples/gray.png
    auxpix bench pyramid --preset paper

Data come from ``--data DIR`` (default: $AUXPIX_DATA, else ``data/`` at the repository
root), loaded by :func:`auxpix.data.load_dataset` at the model's resolution; a data set
that cannot provide that resolution (CIFAR-10 is 32x32 only) is a clear error.

Bad input prints one line, ``auxpix: error: ...``, to stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from . import data, distributed
from .auxvars import grayscale_4bit
from .bench import sampling_speed, training_speed
from .config import KINDS, PRECISIONS, PRESETS
from .config import preset as preset_config
from .device import resolve_device
from .errors import AuxpixError, ConfigError
from .evaluate import aux_ablation, evaluate, evaluate_part
from .fast_sampling import DEFAULT_WINDOW, METHODS
from .models import from_config
from .runs import check_run, load_run
from .sampling_io import check_samples_path, draw, save_samples
from .train import train

SPLITS = ("train", "test", "valid")


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv); returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        args.command(args)
    except (AuxpixError, ValueError, OSError) as e:
        print(f"auxpix: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        if distributed.world_size() == 1:
            raise
        # A collective failed: another process of the run died (torchrun says which and why).
        print(
            f"auxpix: error: process {distributed.rank()} stopped because another process of this distributed "
            "run failed; its last checkpoint is intact: run the same command with --resume "
            f"({' '.join(str(e).split())[:200]})",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(
            "auxpix: interrupted (a training run continues from its last checkpoint with --resume)",
            file=sys.stderr,
        )
        return 130
    return 0


# --------------------------------------------------------------------------- commands


def _train(args) -> None:
    assignments = (args.set or []) + (
        [f"train.precision={args.precision}"] if args.precision else []
    )
    config = preset_config(args.kind, args.preset, assignments=assignments)
    torch.manual_seed(args.seed)  # the initial weights, the same in every process
    model = from_config(config)
    parts = [args.part] if args.part else list(model.parts)
    check_run(args.out, model, parts, seed=args.seed, resume=args.resume)
    device = distributed.start(args.device)
    celeba_split = data.celeba_split_of(config)
    train_images = data.load_dataset(
        config.dataset, "train", args.data, resolution=config.image_size, celeba_split=celeba_split
    )
    test_images = None
    if args.eval_images:
        test_images = data.load_dataset(
            config.dataset,
            "test",
            args.data,
            resolution=config.image_size,
            limit=args.eval_images,
            celeba_split=celeba_split,
        )
    processes = f" x {distributed.world_size()} processes" if distributed.world_size() > 1 else ""
    if distributed.is_main():
        print(
            f"training {args.kind} ({args.preset}) {', '.join(parts)} on {len(train_images)} {config.dataset} "
            f"images, device {device}{processes}, precision {config.train.precision}, into {args.out}",
            file=sys.stderr,
        )
    states = train(
        model,
        train_images,
        run_dir=args.out,
        parts=parts,
        preset=args.preset,
        steps=args.steps,
        epochs=args.epochs,
        minutes=args.minutes,
        test_images=test_images,
        eval_every=args.eval_every,
        eval_share=args.eval_share,
        checkpoint_every=args.checkpoint_every,
        device=device,
        seed=args.seed,
        resume=args.resume,
        compile=args.compile,
        init_from=args.init_from,
    )
    for name, state in states.items():
        if distributed.is_main():
            print(_summary(name, state))


def _eval(args) -> None:
    weights = "raw" if args.raw_weights else "ema"
    parts = [args.part] if args.part else None
    model = load_run(args.run_dir, device=resolve_device(args.device), weights=weights, parts=parts)
    dataset = args.dataset or model.config.dataset
    celeba_split = data.celeba_split_of(model.config)
    images = data.load_dataset(
        dataset,
        args.split,
        args.data,
        resolution=model.image_size,
        limit=args.limit,
        celeba_split=celeba_split,
    )
    report = {
        "run": str(args.run_dir),
        "kind": model.kind,
        "dataset": dataset,
        "split": args.split,
        "weights": weights,
    }
    if args.part:  # one part alone (its bits/dim over its own dimensions), e.g. a pilot's
        model.check_images(images)
        report |= {
            "bpd": {args.part: evaluate_part(model, args.part, images)},
            "n_images": len(images),
        }
    else:
        report |= evaluate(model, images)
    if dataset == "celeba":  # which faces were held out: every CelebA number says it
        report["celeba_split"] = celeba_split
    if args.aux_ablation:
        report["aux_ablation"] = {
            name: aux_ablation(model, name, images)
            for name, net in model.parts.items()
            if net.conditional and name in (parts or model.parts)
        }
    if args.json:
        print(json.dumps(report))
        return
    on = f"{dataset} {args.split}" + (f" ({celeba_split} split)" if dataset == "celeba" else "")
    print(
        f"{model.kind} run {args.run_dir} ({weights} weights) on {report['n_images']} {on} images:"
    )
    for name, value in report["bpd"].items():
        print(f"  {name:>10}  {value:.4f} bits/dim")
    for size, value in report.get("bpd_by_resolution", {}).items():
        print(
            f"  {size + 'x' + size:>10}  {value:.4f} bits/dim of the whole image at that resolution"
        )
    for name, scores in report.get("aux_ablation", {}).items():
        print(
            f"  {name:>10}  given X̂: "
            + ", ".join(f"{label} {value:.4f}" for label, value in scores.items())
        )


def _sample(args) -> None:
    check_samples_path(args.out)
    device = resolve_device(args.device)
    model = load_run(args.run_dir, device=device, weights="raw" if args.raw_weights else "ema")
    blocks, aux = {}, None
    if args.aux_from:
        originals = data.load_dataset(
            model.config.dataset,
            args.aux_from,
            args.data,
            resolution=model.image_size,
            limit=args.n,
            celeba_split=data.celeba_split_of(model.config),
        )
        if len(originals) < args.n:
            raise ConfigError(
                f"--n {args.n} needs {args.n} {args.aux_from} images, the data set has {len(originals)}"
            )
        blocks["original"], aux = originals, grayscale_4bit(originals)
    generator = torch.Generator(device).manual_seed(args.seed)
    blocks |= draw(
        model,
        args.n,
        aux=aux,
        method=args.method,
        window=args.window,
        map=args.map,
        log_scale_shift=args.log_scale_shift,
        generator=generator,
        progress=True,
    )
    for path in save_samples(args.out, blocks):
        print(f"wrote {path}")


def _bench(args) -> None:
    device = resolve_device(args.device)
    config = preset_config(args.kind, args.preset)
    speeds = training_speed(args.kind, preset=args.preset, device=device, steps=args.steps)
    print(f"{args.kind} ({args.preset}) on {device}")
    print(f"training, batch {config.train.batch_size}, {args.steps} steps timed after warm-up:")
    for name, speed in speeds.items():
        print(f"  part {name:>10}  {speed:10.1f} images/s")
    size = args.resolution or config.image_size
    print(
        f"sampling one {size}x{size} image (timed on the first pixels for {args.seconds:g} s, "
        "extrapolated per pixel):"
    )
    speeds = sampling_speed(
        args.kind,
        preset=args.preset,
        resolution=args.resolution,
        methods=args.method or METHODS,
        window=args.window,
        max_seconds=args.seconds,
        device=device,
    )
    for method, seconds in speeds.items():
        print(f"  {method:>15}  {seconds:.4g} s/pixel  (~{seconds * size * size:.4g} s per image)")


def _quality(args) -> None:
    from . import quality  # here, not at the top: only this command needs it

    quality.check_cifar10_run(args.run_dir)  # before minutes of loading and sampling
    device = resolve_device(args.device)
    classifier = quality.load_classifier(args.classifier or quality.QUALITY_DIR, device=device)
    model = load_run(args.run_dir, device=device, weights="raw" if args.raw_weights else "ema")
    reference = data.load_dataset("cifar10", "test", args.data, limit=args.n)
    if len(reference) < args.n:
        raise ConfigError(
            f"--n {args.n} needs as many CIFAR-10 test images to compare with; there are {len(reference)}"
        )
    report = {
        "run": str(args.run_dir),
        "kind": model.kind,
        "map": args.map,
        "log_scale_shift": args.log_scale_shift,
        **quality.score_model(
            model,
            classifier,
            reference,
            args.n,
            batch_size=args.batch,
            seed=args.seed,
            bootstrap=args.bootstrap,
            map=args.map,
            log_scale_shift=args.log_scale_shift,
        ),
    }
    if args.json:
        print(json.dumps(report))
        return
    spread = f" (bootstrap std over {args.bootstrap} resamplings)" if args.bootstrap else ""
    print(
        f"{model.kind} run {args.run_dir}: {args.n} samples in {report['sample_seconds']:.0f} s, "
        f"scored against {args.n} CIFAR-10 test images{spread}:"
    )
    for name in ("classifier_score", "frechet_distance"):
        std = f" ± {report[name + '_std']:.3f}" if args.bootstrap else ""
        print(f"  {name:>16}  {report[name]:.3f}{std}")


# --------------------------------------------------------------------------- helpers


def _summary(part: str, state: dict) -> str:
    """One line on a trained part: "aux: step 20, 12 s, train 1.3378, test 1.3345 bits/dim"."""
    metrics = state["metrics"] or {}
    scores = [
        f"{key.removesuffix('_bpd')} {value:.4f}"
        for key, value in metrics.items()
        if key.endswith("_bpd")
    ]
    line = f"{part}: step {state['step']}, {state['seconds']:.0f} s"
    return f"{line}, {', '.join(scores)} bits/dim" if scores else line


def _positive(kind, *, zero: bool = False):
    """An argparse type: a number of ``kind`` above 0 (or at least 0 with ``zero``)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = -1
        if value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(
                f"expected a {'non-negative' if zero else 'positive'} {kind.__name__}, got {text!r}"
            )
        return value

    parse.__name__ = kind.__name__
    return parse


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr with status 2, like every other error of the command."""

    def error(self, message: str):
        self.exit(2, f"auxpix: error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="auxpix",
        description="PixelCNN models with auxiliary variables (Kolesnikov & Lampert, ICML 2017): "
        "train, evaluate, sample and benchmark them. Each command has its own --help.",
        epilog="examples:\n" + __doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    presets = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in PRESETS.items())

    def command(name, function, help, description):
        sub = commands.add_parser(name, help=help, description=description)
        sub.set_defaults(command=function)
        return sub

    def add_device(sub):
        sub.add_argument(
            "--device", default="auto", help="auto (CUDA if available, else CPU), cpu or cuda"
        )

    def add_run_dir(sub, help="a run directory written by 'auxpix train'"):
        sub.add_argument("run_dir", metavar="RUN_DIR", help=help)

    def add_drawing(sub):
        sub.add_argument(
            "--map", action="store_true", help="MAP sampling of the colour values (paper, Fig. 5)"
        )
        sub.add_argument(
            "--log-scale-shift",
            type=float,
            default=0.0,
            metavar="C",
            help="subtract C from the predicted log-scales: less noisy samples (paper, Fig. 4)",
        )
        sub.add_argument("--seed", type=int, default=0, help="default 0")

    def add_raw_weights(sub):
        sub.add_argument(
            "--raw-weights",
            action="store_true",
            help="the last step's weights, not the averaged ones",
        )

    def add_window(sub):
        sub.add_argument(
            "--window",
            type=_positive(int),
            default=DEFAULT_WINDOW,
            metavar="SIZE",
            help=f"the window's side for --method window (default {DEFAULT_WINDOW}, the authors')",
        )

    def add_data(sub):
        sub.add_argument(
            "--data",
            metavar="DIR",
            help=f"data folder (default: ${data.DATA_ENV}, else data/ "
            "at the repository root): cifar-10-batches-py/ or celeba/ inside",
        )

    train_cmd = command(
        "train",
        _train,
        "train a model, one part at a time, into a run directory",
        "Train every part of a model in turn (or only --part), each with the same budget, saving "
        "checkpoints, metrics.jsonl and the averaged weights into the run directory. A run stopped "
        "at any moment continues from its last checkpoint with --resume, exactly on CPU.",
    )
    train_cmd.add_argument("kind", help=f"model kind: {', '.join(KINDS)}")
    train_cmd.add_argument("--preset", default="cpu", help=f"named config (default cpu): {presets}")
    train_cmd.add_argument("--out", required=True, metavar="RUN_DIR", help="the run directory")
    add_data(train_cmd)
    budget = train_cmd.add_mutually_exclusive_group(required=True)
    budget.add_argument(
        "--steps", type=_positive(int), help="train each part for this many steps in all"
    )
    budget.add_argument("--epochs", type=_positive(float), help="... or epochs (may be fractional)")
    budget.add_argument(
        "--minutes", type=_positive(float), help="... or minutes of wall-clock time"
    )
    train_cmd.add_argument(
        "--part", help="train only this part (grayscale: aux, cond; pyramid: one per resolution)"
    )
    train_cmd.add_argument(
        "--resume", action="store_true", help="continue the run's last checkpoints"
    )
    add_device(train_cmd)
    train_cmd.add_argument(
        "--seed", type=int, default=0, help="initial weights, data order, dropout (default 0)"
    )
    train_cmd.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set image_size=16 --set net.nr_filters=64 "
        "--set train.lr=2e-3 --set resolutions=8,16,32 (repeatable)",
    )
    train_cmd.add_argument(
        "--eval-every",
        type=_positive(int),
        default=1000,
        metavar="STEPS",
        help="score the test subset with the averaged weights this often (default 1000)",
    )
    train_cmd.add_argument(
        "--eval-share",
        type=_positive(float, zero=True),
        default=1.0,
        metavar="SHARE",
        help="skip a due evaluation while the evaluations so far took more than this share "
        "of the training time (default 1: never skip; 0.1 suits slow, high-resolution levels)",
    )
    train_cmd.add_argument(
        "--eval-images",
        type=_positive(int, zero=True),
        default=500,
        metavar="N",
        help="the test subset: the first N test images (default 500; 0: none)",
    )
    train_cmd.add_argument(
        "--checkpoint-every",
        type=_positive(int),
        default=250,
        metavar="STEPS",
        help="save a checkpoint this often (default 250), and at the end",
    )
    train_cmd.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="fp32, or bf16: the networks under bfloat16 autocast, the loss in float32 "
        "(default: the preset's train.precision)",
    )
    train_cmd.add_argument(
        "--init-from",
        metavar="RUN_DIR",
        help="start from this run's averaged weights (fine-tuning, e.g. on the exact-pixel "
        "subset with --set dataset=cifar10-lossless) instead of a fresh initialization",
    )
    train_cmd.add_argument(
        "--compile",
        action="store_true",
        help="run the networks through torch.compile (a slow first step, then faster ones)",
    )

    eval_cmd = command(
        "eval",
        _eval,
        "bits per dimension of a trained run on a data split",
        "Mean bits per dimension of every part and in total (pyramid: also of the whole image at "
        "each resolution), with the averaged weights unless --raw-weights.",
    )
    add_run_dir(eval_cmd)
    eval_cmd.add_argument("--split", default="test", choices=SPLITS, help="default: test")
    eval_cmd.add_argument(
        "--dataset",
        choices=data.DATASETS,
        help="another data set than the run's, e.g. cifar10-lossless (exact CIFAR-10 pixels)",
    )
    add_data(eval_cmd)
    eval_cmd.add_argument(
        "--limit", type=_positive(int), metavar="N", help="only the first N images"
    )
    eval_cmd.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )
    eval_cmd.add_argument(
        "--part", help="score only this part (e.g. of a pilot that trained one part)"
    )
    eval_cmd.add_argument(
        "--aux-ablation",
        action="store_true",
        help="also score each conditional part given another image's X̂ and a flat X̂",
    )
    add_device(eval_cmd)
    add_raw_weights(eval_cmd)

    sample_cmd = command(
        "sample",
        _sample,
        "draw samples from a trained run into a PNG grid (+ raw .npy/.npz)",
        "Draw N samples and write FILE.png, a grid with up to 8 images per row and one block of rows "
        "per stage (grayscale: the 4-bit grays above the colour images; with --aux-from, the "
        "original images above their grays and colorizations; pyramid: one block per level, "
        "upscaled), and next to it FILE.npy (one block) or FILE.npz (one array per block).",
    )
    add_run_dir(sample_cmd)
    sample_cmd.add_argument(
        "--n", type=_positive(int), default=8, help="number of samples (default 8)"
    )
    sample_cmd.add_argument("--out", required=True, metavar="FILE.png", help="the grid to write")
    sample_cmd.add_argument(
        "--method",
        choices=METHODS,
        default="cached",
        help="cached (each activation computed once, default), naive (the reference: "
        "a full network pass per pixel; cached draws the same images) or window (the "
        "authors' sampler: a pass over a 16x16 window around each pixel; approximate)",
    )
    add_window(sample_cmd)
    add_drawing(sample_cmd)
    sample_cmd.add_argument(
        "--aux-from",
        choices=("test", "train"),
        help="grayscale only: colorize the 4-bit grays of the first N images of this split",
    )
    add_data(sample_cmd)
    add_device(sample_cmd)
    add_raw_weights(sample_cmd)

    bench_cmd = command(
        "bench",
        _bench,
        "time training and sampling of a preset on this machine",
        "Training images per second of each part (random images, after warm-up) and seconds per "
        "generated pixel of sampling (the first pixels are timed and the rest extrapolated).",
    )
    bench_cmd.add_argument("kind", help=f"model kind: {', '.join(KINDS)}")
    bench_cmd.add_argument("--preset", default="cpu", help=f"named config (default cpu): {presets}")
    add_device(bench_cmd)
    bench_cmd.add_argument(
        "--steps", type=_positive(int), default=5, help="timed training steps per part (default 5)"
    )
    bench_cmd.add_argument(
        "--seconds",
        type=_positive(float),
        default=10.0,
        help="time box of the sampling measurement (default 10)",
    )
    bench_cmd.add_argument(
        "--method",
        action="append",
        choices=METHODS,
        help="time only this sampler (repeatable; default: all): cached, naive or window (a "
        "16x16 window around each pixel, the authors' sampler)",
    )
    add_window(bench_cmd)
    bench_cmd.add_argument(
        "--resolution", type=_positive(int), help="sample at this size instead of the preset's"
    )

    quality_cmd = command(
        "quality",
        _quality,
        "score a CIFAR-10 run's samples with the project's classifier",
        "Draw N samples (cached sampler, in batches) and score them with the CIFAR-10 classifier trained "
        "by this project (auxpix.quality): the classifier score exp(E KL(p(y|x) || p(y))) (1 to 10, "
        "Inception-Score style) and the Frechet distance of its penultimate-layer features to those of the "
        "first N CIFAR-10 test images (FID style), each with its bootstrap spread.",
    )
    add_run_dir(quality_cmd, "a CIFAR-10 run directory written by 'auxpix train'")
    quality_cmd.add_argument(
        "--n", type=_positive(int), default=1000, help="samples and test images (default 1000)"
    )
    quality_cmd.add_argument(
        "--batch", type=_positive(int), default=100, help="samples drawn at once (default 100)"
    )
    quality_cmd.add_argument(
        "--bootstrap",
        type=_positive(int, zero=True),
        default=50,
        help="resamplings for the spread (default 50; 0: none)",
    )
    add_drawing(quality_cmd)
    quality_cmd.add_argument(
        "--classifier", metavar="DIR", help="folder of the classifier (default: results/quality)"
    )
    quality_cmd.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )
    add_data(quality_cmd)
    add_device(quality_cmd)
    add_raw_weights(quality_cmd)
    return parser
