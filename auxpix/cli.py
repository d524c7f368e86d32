"""The ``auxpix`` command: train, evaluate, sample and benchmark the paper's models, and score
and train the sample-quality classifier.

    auxpix train grayscale --preset cpu --out runs/gray --epochs 30 --part aux
    auxpix train grayscale --preset cpu --out runs/gray --epochs 200 --part cond
    auxpix eval runs/gray --json
    auxpix sample runs/gray --n 16 --out samples/gray.png
    auxpix bench pyramid --preset paper
    auxpix quality score runs/cifar --classifier results/quality --n 1000
    auxpix quality train --out results/quality

Data come from ``--data DIR`` (default: $AUXPIX_DATA), loaded by
:func:`auxpix.data.load_dataset` at the model's resolution; a data set that cannot provide
that resolution (CIFAR-10 is 32x32 only) is a clear error.

Bad input prints one line, ``auxpix: error: ...``, to stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

from . import commands, data, distributed
from .classifier import ClassifierConfig
from .config import PRECISIONS, PRESETS, kinds
from .errors import AuxpixError
from .fast_sampling import DEFAULT_WINDOW, METHODS

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
    subparsers = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for add in (_add_train, _add_eval, _add_sample, _add_bench, _add_quality):
        add(subparsers)
    return parser


def _command(subparsers, name: str, function, help: str, description: str):
    sub = subparsers.add_parser(name, help=help, description=description)
    sub.set_defaults(command=function)
    return sub


def _add_train(subparsers) -> None:
    sub = _command(
        subparsers,
        "train",
        commands.run_train,
        "train a model, one part at a time, into a run directory",
        "Train every part of a model in turn (or only --part), each with the same budget, saving "
        "checkpoints, metrics.jsonl and the averaged weights into the run directory. A run stopped "
        "at any moment continues from its last checkpoint with --resume, exactly on CPU.",
    )
    _add_kind_and_preset(sub)
    sub.add_argument("--out", required=True, metavar="RUN_DIR", help="the run directory")
    _add_data(sub)
    budget = sub.add_mutually_exclusive_group(required=True)
    budget.add_argument(
        "--steps", type=_positive(int), help="train each part for this many steps in all"
    )
    budget.add_argument("--epochs", type=_positive(float), help="... or epochs (may be fractional)")
    budget.add_argument(
        "--minutes", type=_positive(float), help="... or minutes of wall-clock time"
    )
    sub.add_argument(
        "--part", help="train only this part (grayscale: aux, cond; pyramid: one per resolution)"
    )
    sub.add_argument("--resume", action="store_true", help="continue the run's last checkpoints")
    _add_device(sub)
    sub.add_argument(
        "--seed", type=int, default=0, help="initial weights, data order, dropout (default 0)"
    )
    _add_train_cadence(sub)
    _add_train_recipe(sub)


def _add_train_cadence(sub) -> None:
    """How often ``auxpix train`` evaluates and checkpoints, and on which test images."""
    sub.add_argument(
        "--eval-every",
        type=_positive(int),
        default=1000,
        metavar="STEPS",
        help="score the test subset with the averaged weights this often (default 1000)",
    )
    sub.add_argument(
        "--eval-share",
        type=_positive(float, zero=True),
        default=1.0,
        metavar="SHARE",
        help="skip a due evaluation while the evaluations so far took more than this share "
        "of the training time (default 1: never skip; 0.1 suits slow, high-resolution levels)",
    )
    sub.add_argument(
        "--eval-images",
        type=_positive(int, zero=True),
        default=500,
        metavar="N",
        help="the test subset: the first N test images (default 500; 0: none)",
    )
    sub.add_argument(
        "--checkpoint-every",
        type=_positive(int),
        default=250,
        metavar="STEPS",
        help="save a checkpoint this often (default 250), and at the end",
    )


def _add_train_recipe(sub) -> None:
    """What ``auxpix train`` changes in the preset's recipe: fields, precision, start, compile."""
    sub.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set image_size=16 --set net.nr_filters=64 "
        "--set train.lr=2e-3 --set resolutions=8,16,32 (repeatable)",
    )
    sub.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="fp32, or bf16: the networks under bfloat16 autocast, the loss in float32 "
        "(default: the preset's train.precision)",
    )
    sub.add_argument(
        "--init-from",
        metavar="RUN_DIR",
        help="start from this run's averaged weights (fine-tuning, e.g. on the exact-pixel "
        "subset with --set dataset=cifar10-lossless) instead of a fresh initialization",
    )
    sub.add_argument(
        "--compile",
        action="store_true",
        help="run the networks through torch.compile (a slow first step, then faster ones)",
    )


def _add_eval(subparsers) -> None:
    sub = _command(
        subparsers,
        "eval",
        commands.run_eval,
        "bits per dimension of a trained run on a data split",
        "Mean bits per dimension of every part and in total (pyramid: also of the whole image at "
        "each resolution), with the averaged weights unless --raw-weights.",
    )
    _add_run_dir(sub)
    sub.add_argument("--split", default="test", choices=SPLITS, help="default: test")
    sub.add_argument(
        "--dataset",
        choices=data.DATASETS,
        help="another data set than the run's, e.g. cifar10-lossless (exact CIFAR-10 pixels)",
    )
    _add_data(sub)
    sub.add_argument("--limit", type=_positive(int), metavar="N", help="only the first N images")
    _add_json(sub)
    sub.add_argument("--part", help="score only this part (e.g. of a pilot that trained one part)")
    sub.add_argument(
        "--aux-ablation",
        action="store_true",
        help="also score each conditional part given another image's X̂ and a flat X̂",
    )
    _add_device(sub)
    _add_raw_weights(sub)


def _add_sample(subparsers) -> None:
    sub = _command(
        subparsers,
        "sample",
        commands.run_sample,
        "draw samples from a trained run into a PNG grid (+ raw .npy/.npz)",
        "Draw N samples and write FILE.png, a grid with up to 8 images per row and one block of rows "
        "per stage (grayscale: the 4-bit grays above the colour images; with --aux-from, the "
        "original images above their grays and colorizations; pyramid: one block per level, "
        "upscaled), and next to it FILE.npy (one block) or FILE.npz (one array per block).",
    )
    _add_run_dir(sub)
    sub.add_argument("--n", type=_positive(int), default=8, help="number of samples (default 8)")
    sub.add_argument("--out", required=True, metavar="FILE.png", help="the grid to write")
    sub.add_argument(
        "--method",
        choices=METHODS,
        default="cached",
        help="cached (each activation computed once, default), naive (the reference: "
        "a full network pass per pixel; cached draws the same images) or window (the "
        "authors' sampler: a pass over a 16x16 window around each pixel; approximate)",
    )
    _add_window(sub)
    sub.add_argument(
        "--compile",
        action="store_true",
        help="run the cached sampler's steps through torch.compile: faster per pixel after a "
        "first compile of a minute or more (reported); the same draws up to float32 rounding",
    )
    _add_drawing(sub)
    sub.add_argument(
        "--aux-from",
        choices=("test", "train"),
        help="grayscale only: colorize the 4-bit grays of the first N images of this split",
    )
    _add_data(sub)
    _add_device(sub)
    _add_raw_weights(sub)


def _add_bench(subparsers) -> None:
    sub = _command(
        subparsers,
        "bench",
        commands.run_bench,
        "time training and sampling of a preset on this machine",
        "Training images per second of each part (random images, after warm-up) and seconds per "
        "generated pixel of sampling (the first pixels are timed and the rest extrapolated).",
    )
    _add_kind_and_preset(sub)
    _add_device(sub)
    sub.add_argument(
        "--steps", type=_positive(int), default=5, help="timed training steps per part (default 5)"
    )
    sub.add_argument(
        "--seconds",
        type=_positive(float),
        default=10.0,
        help="time box of the sampling measurement (default 10)",
    )
    sub.add_argument(
        "--method",
        action="append",
        choices=METHODS,
        help="time only this sampler (repeatable; default: all): cached, naive or window (a "
        "16x16 window around each pixel, the authors' sampler)",
    )
    _add_window(sub)
    sub.add_argument(
        "--resolution", type=_positive(int), help="sample at this size instead of the preset's"
    )
    sub.add_argument(
        "--compile",
        action="store_true",
        help="also time the cached sampler with its steps compiled (the compile timed apart)",
    )


def _add_quality(subparsers) -> None:
    sub = subparsers.add_parser(
        "quality",
        help="score a CIFAR-10 run's samples with the project's classifier, or train it",
        description="Sample quality (chapter 06): 'score' a CIFAR-10 run's samples with the "
        "project's CIFAR-10 classifier, or 'train' that classifier.",
    )
    quality = sub.add_subparsers(title="commands", required=True, metavar="COMMAND")
    _add_quality_score(quality)
    _add_quality_train(quality)


def _add_quality_score(subparsers) -> None:
    sub = _command(
        subparsers,
        "score",
        commands.run_quality_score,
        "score a CIFAR-10 run's samples with the project's classifier",
        "Draw N samples (cached sampler, in batches) and score them with the CIFAR-10 classifier "
        "trained by this project ('auxpix quality train'): the classifier score "
        "exp(E KL(p(y|x) || p(y))) (1 to 10, Inception-Score style) and the Frechet distance of "
        "its penultimate-layer features to those of the first N CIFAR-10 test images (FID "
        "style), each with its bootstrap spread.",
    )
    _add_run_dir(sub, "a CIFAR-10 run directory written by 'auxpix train'")
    sub.add_argument(
        "--classifier",
        required=True,
        metavar="DIR",
        help="folder of the classifier (the book's: results/quality)",
    )
    sub.add_argument(
        "--n", type=_positive(int), default=1000, help="samples and test images (default 1000)"
    )
    sub.add_argument(
        "--batch", type=_positive(int), default=100, help="samples drawn at once (default 100)"
    )
    sub.add_argument(
        "--bootstrap",
        type=_positive(int, zero=True),
        default=50,
        help="resamplings for the spread (default 50; 0: none)",
    )
    _add_drawing(sub)
    _add_json(sub)
    _add_data(sub)
    _add_device(sub)
    _add_raw_weights(sub)


def _add_quality_train(subparsers) -> None:
    sub = _command(
        subparsers,
        "train",
        commands.run_quality_train,
        "train the quality classifier into a folder",
        "Train the CIFAR-10 classifier that 'auxpix quality score' uses on the JPEG-decoded "
        "training set, through the loop that trains the models: resumable (run the same command "
        "again), and it never replaces a finished classifier. Prints the JSON it saves.",
    )
    sub.add_argument(
        "--out", required=True, metavar="DIR", help="folder for the weights and their JSON"
    )
    _add_data(sub)
    sub.add_argument(
        "--epochs",
        type=_positive(int),
        default=ClassifierConfig.epochs,
        help=f"default {ClassifierConfig.epochs}",
    )
    sub.add_argument(
        "--limit", type=_positive(int), metavar="N", help="train on the first N training images"
    )


# --------------------------------------------------------------------------- shared options


def _add_kind_and_preset(sub) -> None:
    presets = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in PRESETS.items())
    sub.add_argument("kind", help=f"model kind: {', '.join(kinds())}")
    sub.add_argument("--preset", default="cpu", help=f"named config (default cpu): {presets}")


def _add_device(sub) -> None:
    sub.add_argument(
        "--device", default="auto", help="auto (CUDA if available, else CPU), cpu or cuda"
    )


def _add_run_dir(sub, help: str = "a run directory written by 'auxpix train'") -> None:
    sub.add_argument("run_dir", metavar="RUN_DIR", help=help)


def _add_json(sub) -> None:
    sub.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _add_drawing(sub) -> None:
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


def _add_raw_weights(sub) -> None:
    sub.add_argument(
        "--raw-weights", action="store_true", help="the last step's weights, not the averaged ones"
    )


def _add_window(sub) -> None:
    sub.add_argument(
        "--window",
        type=_positive(int),
        default=DEFAULT_WINDOW,
        metavar="SIZE",
        help=f"the window's side for --method window (default {DEFAULT_WINDOW}, the authors')",
    )


def _add_data(sub) -> None:
    sub.add_argument(
        "--data",
        metavar="DIR",
        help=f"data folder (default: ${data.DATA_ENV}): cifar-10-batches-py/ or celeba/ inside",
    )
