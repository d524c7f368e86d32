"""Sample quality, measured (issue #14): a CIFAR-10 classifier trained by this project, and two
scores on its outputs that place a model's samples between real images and simple baselines.

The field scores samples with a pretrained Inception network (Inception Score, FID); those
weights cannot be downloaded here, and Inception features of 32x32 images fit them poorly.
So a small ResNet-style classifier (:class:`Classifier`, configured by :class:`ClassifierConfig`)
is trained on the JPEG-decoded CIFAR-10 training set (:func:`train_classifier`), and

* :func:`classifier_score` is exp(E_x KL(p(y|x) || p(y))) on its class probabilities
  (Inception-Score style, 1 to 10), and
* :func:`frechet_distance` is the Fréchet distance between Gaussian fits of its
  penultimate-layer features of N samples and of N test images (FID style).

Both depend on this classifier: they compare models scored by the same classifier with the
same N, never with published Inception Scores or FIDs. :func:`score_images` gives both with
their spread (a bootstrap over the scored images); :func:`score_model` samples a trained model
first. The calibration baselines are :func:`marginal_draws` and :func:`blurred`.

Training the classifier (about 25 minutes on one CPU thread; resumable, and it never
replaces a finished classifier)::

    OMP_NUM_THREADS=1 python -m auxpix.quality --out results/quality
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn

from . import data
from .auxvars import grayscale_4bit
from .device import compute_label, resolve_device
from .errors import CheckpointError, ConfigError, DataError, one_line
from .progress import progress_bar
from .runs import read_run, write_atomic
from .sampling_io import draw

CLASSES = data.CIFAR_CLASSES
QUALITY_DIR = (
    Path(__file__).resolve().parent.parent / "results" / "quality"
)  # the committed classifier
WEIGHTS_FILE = "classifier.safetensors"
INFO_FILE = "classifier.json"
CHECKPOINT_FILE = "classifier.training.pt"  # the resumable state while training; deleted when done
IMAGE_SIZE = 32
CROP_PAD = (
    4  # random crops of the image padded by 4 pixels (reflected), the usual CIFAR-10 augmentation
)


# --------------------------------------------------------------------------- the classifier


@dataclass(frozen=True)
class ClassifierConfig:
    """A ResNet-9-style network (Page's DAWNBench CIFAR-10 net) at a quarter of its width, and its
    training recipe: SGD with Nesterov momentum, a triangular one-cycle learning rate (linear
    warm-up, then linear decay to 0), flips and padded random crops.

    The widths were chosen by measuring training speed on one thread of this project's CPU:
    the full-width net trains ~100 images/s, this one ~300 (bfloat16 autocast was slower here,
    so training runs in float32)."""

    widths: tuple[int, ...] = (16, 32, 64, 128)  # the stem, then one stage per further width
    residual: tuple[int, ...] = (1, 0, 1)  # residual blocks after each stage's downsampling
    head_scale: float = 0.125  # logits scaled down: a calmer start for the last layer
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.2  # the peak of the one-cycle schedule
    warmup: float = 0.2  # share of the steps over which the learning rate rises
    momentum: float = 0.9
    weight_decay: float = 5e-4
    # None: smoothing caps the confidence the classifier learns (at 0.2, p(y|x) <= 0.82), which
    # would squeeze the classifier score of even perfect images from 10 to about 4.
    label_smoothing: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if len(self.residual) != len(self.widths) - 1:
            raise ConfigError(
                f"ClassifierConfig.residual needs one count per stage ({len(self.widths) - 1}), "
                f"got {len(self.residual)}"
            )


def _conv_bn(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
    )


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x):
        return x + self.body(x)


class Classifier(nn.Module):
    """A CIFAR-10 classifier of uint8 images [B, 3, 32, 32]. :meth:`features` is the
    penultimate layer (global max-pooled, ``widths[-1]`` values), :meth:`forward` the logits.

    The per-channel mean and standard deviation of the training set are buffers, so the
    saved weights normalize their input the way they were trained."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.config = config
        layers = [_conv_bn(3, config.widths[0])]
        for before, width, blocks in zip(config.widths, config.widths[1:], config.residual):
            layers += [_conv_bn(before, width), nn.MaxPool2d(2)] + [
                _Residual(width) for _ in range(blocks)
            ]
        self.body = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.head = nn.Linear(config.widths[-1], CLASSES)
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 127.5))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 64.0))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        data.check_images(images, channels=3, size=IMAGE_SIZE, who="the quality classifier")
        return self.body((images.float() - self.mean) / self.std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(images))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """The class logits of penultimate-layer ``features``."""
        return self.head(features) * self.config.head_scale

    def set_normalization(self, images: torch.Tensor) -> None:
        """Take the per-channel mean and standard deviation of ``images`` (the training set)."""
        values = images.float().transpose(0, 1).reshape(3, -1)
        self.mean.copy_(values.mean(1).view(1, 3, 1, 1))
        self.std.copy_(values.std(1).view(1, 3, 1, 1))


def parameter_count(classifier: Classifier) -> int:
    return sum(p.numel() for p in classifier.parameters())


# --------------------------------------------------------------------------- labels and data


def labelled(split: str, data_dir=None, *, lossless: bool = False, limit: int | None = None):
    """(images uint8 [N, 3, 32, 32], labels [N]) of a CIFAR-10 split (the first ``limit``)."""
    images, labels = data.load_labelled_cifar10(split, data_dir, lossless=lossless)
    return images[:limit], labels[:limit]


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crops of the images padded by ``CROP_PAD`` reflected pixels, and random left-right flips."""
    n, size = len(images), images.shape[-1]
    shifts = torch.randint(-CROP_PAD, CROP_PAD + 1, (2, n, 1), generator=generator)
    flips = torch.rand(n, 1, generator=generator) < 0.5
    grid = torch.arange(size).view(1, size)
    rows, cols = _reflect(grid + shifts[0], size), _reflect(grid + shifts[1], size)
    cols = torch.where(flips, cols.flip(-1), cols)
    index = torch.arange(n).view(n, 1, 1, 1), torch.arange(3).view(1, 3, 1, 1)
    return images[index[0], index[1], rows.view(n, 1, size, 1), cols.view(n, 1, 1, size)]


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Indices outside 0..size-1 mirrored back inside (reflect padding, the edge not repeated)."""
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


# --------------------------------------------------------------------------- training


def learning_rate(config: ClassifierConfig, step: int, total: int) -> float:
    """One triangular cycle: linear from 0 to ``lr`` over the first ``warmup`` share, then to 0."""
    peak = max(1, round(config.warmup * total))
    if step < peak:
        return config.lr * (step + 1) / peak
    return config.lr * max(0.0, (total - step) / max(1, total - peak))


def fit(
    classifier: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    checkpoint: Path | None = None,
    checkpoint_every: int = 100,
    progress: bool = True,
    log=None,
) -> dict:
    """Train ``classifier`` on uint8 ``images`` [N, 3, 32, 32] and their ``labels`` for its config's
    epochs; returns {"steps", "seconds", "images_per_second", "train_accuracy"} (the last epoch's).

    The batches are a function of (seed, step), so with ``checkpoint`` (a file, written
    atomically every ``checkpoint_every`` steps) a killed run resumes where it stopped and
    reaches the same weights. ``log``: called with one line per epoch."""
    config = classifier.config
    steps_per_epoch = len(images) // config.batch_size
    if steps_per_epoch == 0:
        raise DataError(
            f"{len(images)} training images are fewer than one batch of {config.batch_size}"
        )
    total = steps_per_epoch * config.epochs
    optimizer = torch.optim.SGD(
        classifier.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=True,
        weight_decay=config.weight_decay,
    )
    state = {"step": 0, "seconds": 0.0, "correct": 0, "seen": 0}
    if checkpoint is not None and checkpoint.exists():
        state = _load_checkpoint(checkpoint, classifier, optimizer)
    else:
        classifier.set_normalization(images)
    classifier.train()
    started, step = time.monotonic() - state["seconds"], state["step"]
    first_step, first_seconds = (
        step,
        state["seconds"],
    )  # this session's speed, not skewed by a resume
    with progress_bar(
        total=total, initial=step, desc="classifier", unit="step", show=progress
    ) as bar:
        while step < total:
            epoch, position = divmod(step, steps_per_epoch)
            batch = _batch_indices(len(images), config, epoch, position)
            x = augment(
                images[batch], torch.Generator().manual_seed(config.seed * 1_000_003 + step)
            )
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step, total)
            state["correct"] += _train_step(classifier, optimizer, x, labels[batch])
            state["seen"] += len(batch)
            step += 1
            bar.update()
            state["step"], state["seconds"] = step, time.monotonic() - started
            if step % steps_per_epoch == 0:
                if log:
                    log(_epoch_line(state, steps_per_epoch, total))
                if step < total:
                    state["correct"] = state["seen"] = (
                        0  # the accuracy reported is the last epoch's
                    )
            if checkpoint is not None and (step % checkpoint_every == 0 or step == total):
                _save_checkpoint(checkpoint, classifier, optimizer, state)
    classifier.eval()
    speed = (total - first_step) * config.batch_size / max(1e-9, state["seconds"] - first_seconds)
    return {
        "steps": total,
        "seconds": state["seconds"],
        "images_per_second": speed,
        "train_accuracy": state["correct"] / max(1, state["seen"]),
    }


def _batch_indices(n: int, config: ClassifierConfig, epoch: int, position: int) -> torch.Tensor:
    """The images of step ``position`` of ``epoch``: a fresh permutation per (seed, epoch)."""
    order = torch.randperm(
        n, generator=torch.Generator().manual_seed(config.seed * 1_000_003 + 7919 * (epoch + 1))
    )
    return order[position * config.batch_size : (position + 1) * config.batch_size]


def _train_step(classifier, optimizer, x, y) -> int:
    """One SGD step; returns how many of the batch's images were classified right."""
    logits = classifier(x)
    loss = F.cross_entropy(logits, y, label_smoothing=classifier.config.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return int((logits.argmax(1) == y).sum())


def _epoch_line(state: dict, steps_per_epoch: int, total: int) -> str:
    epoch, epochs = state["step"] // steps_per_epoch, total // steps_per_epoch
    accuracy = state["correct"] / max(1, state["seen"])
    return (
        f"epoch {epoch}/{epochs}: step {state['step']}, {state['seconds'] / 60:.1f} min, "
        f"train accuracy {accuracy:.3f} (augmented)"
    )


def _save_checkpoint(path: Path, classifier, optimizer, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(
        {
            "config": dataclasses.asdict(classifier.config),
            "model": classifier.state_dict(),
            "optimizer": optimizer.state_dict(),
            "state": state,
        },
        buffer,
    )
    write_atomic(path, buffer.getvalue())


def _load_checkpoint(path: Path, classifier, optimizer) -> dict:
    try:
        saved = torch.load(path, weights_only=True)
        if _config_from_dict(saved["config"]) != classifier.config:
            raise ConfigError("it was trained with another ClassifierConfig")
        classifier.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        return saved["state"]
    except Exception as e:  # a damaged file fails in many ways
        raise CheckpointError(
            f"cannot resume from {path} ({one_line(e)[:200]}); delete it to train from the start"
        ) from e


def _config_from_dict(values: dict) -> ClassifierConfig:
    return ClassifierConfig(
        **{key: tuple(v) if isinstance(v, list) else v for key, v in values.items()}
    )


def train_classifier(
    out_dir=QUALITY_DIR,
    config: ClassifierConfig = ClassifierConfig(),
    *,
    data_dir=None,
    limit: int | None = None,
    progress: bool = True,
    log=None,
) -> dict:
    """Train the quality classifier on the JPEG-decoded CIFAR-10 training set (the first
    ``limit`` images), score it on both test sets and save it into ``out_dir``: the weights
    as safetensors and a JSON of how they were trained. Returns that JSON's content.

    Resumes from ``out_dir``'s training checkpoint if there is one; a finished classifier
    in ``out_dir`` is an error, never overwritten."""
    out_dir = Path(out_dir)
    if (out_dir / WEIGHTS_FILE).exists():
        raise CheckpointError(
            f"{out_dir / WEIGHTS_FILE} holds a trained classifier; delete it (and "
            f"{INFO_FILE}) to train again, or pass another --out"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    images, labels = labelled("train", data_dir, limit=limit)
    torch.manual_seed(config.seed)  # the initial weights
    classifier = Classifier(config)
    trained = fit(
        classifier, images, labels, checkpoint=out_dir / CHECKPOINT_FILE, progress=progress, log=log
    )
    info = {
        "config": dataclasses.asdict(config),
        "parameters": parameter_count(classifier),
        "train_images": len(images),
        "data": "JPEG-decoded CIFAR-10 training set (flips, padded random crops)",
        "steps": trained["steps"],
        "minutes": round(trained["seconds"] / 60, 2),
        "images_per_second": round(trained["images_per_second"], 1),
        "threads": torch.get_num_threads(),
        "compute": compute_label("cpu"),
        "train_accuracy_last_epoch": round(trained["train_accuracy"], 4),
        "test_accuracy": accuracies(classifier, data_dir),
    }
    save_classifier(classifier, out_dir, info)
    (out_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    return info


def accuracies(classifier: Classifier, data_dir=None) -> dict[str, float]:
    """Accuracy on the JPEG-decoded 10,000 test images and on the 1,000 exact-pixel ones."""
    sets = {
        "cifar10": labelled("test", data_dir),
        "cifar10-lossless": labelled("test", data_dir, lossless=True),
    }
    return {
        name: round(accuracy(classifier, images, labels), 4)
        for name, (images, labels) in sets.items()
    }


def accuracy(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    probabilities, _ = predict(classifier, images)
    return float((probabilities.argmax(1) == labels.numpy()).mean())


# --------------------------------------------------------------------------- saving and loading


def save_classifier(classifier: Classifier, out_dir, info: dict) -> None:
    """Write the weights (with the config in the safetensors metadata), then ``info`` as JSON,
    each atomically: a JSON never describes weights that are not there."""
    out_dir = Path(out_dir)
    meta = {"config": json.dumps(dataclasses.asdict(classifier.config))}
    tensors = {name: t.contiguous() for name, t in classifier.state_dict().items()}
    write_atomic(out_dir / WEIGHTS_FILE, safetensors.torch.save(tensors, metadata=meta))
    write_atomic(out_dir / INFO_FILE, (json.dumps(info, indent=2) + "\n").encode())


def load_classifier(path=QUALITY_DIR, *, device="cpu") -> Classifier:
    """The classifier saved in folder ``path`` by :func:`train_classifier`, in eval mode."""
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(
            f"no trained quality classifier at {weights}; train it with "
            f"'python -m auxpix.quality --out {Path(path)}' (about 25 minutes on one CPU thread)"
        )
    try:
        with safetensors.safe_open(weights, framework="pt") as f:
            config = _config_from_dict(json.loads(f.metadata()["config"]))
            tensors = {name: f.get_tensor(name) for name in f.keys()}
        classifier = Classifier(config)
        classifier.load_state_dict(tensors)
    except Exception as e:  # a damaged file fails in the reader, the JSON or the state dict
        raise CheckpointError(
            f"{weights} is not a readable quality classifier ({one_line(e)[:200]}); "
            "restore it from the repository or train it again"
        ) from e
    return classifier.to(resolve_device(device)).eval()


def classifier_info(path=QUALITY_DIR) -> dict:
    """How the classifier in ``path`` was trained (its JSON)."""
    try:
        return json.loads((Path(path) / INFO_FILE).read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read {Path(path) / INFO_FILE} ({one_line(e)})") from e


# --------------------------------------------------------------------------- the scores


@torch.no_grad()
def predict(classifier: Classifier, images: torch.Tensor, *, batch_size: int = 500):
    """(class probabilities [N, 10], penultimate-layer features [N, D]) of uint8 ``images``, float64 numpy."""
    device = next(classifier.parameters()).device
    probabilities, features = [], []
    for start in range(0, len(images), batch_size):
        h = classifier.features(images[start : start + batch_size].to(device))
        probabilities.append(classifier.logits(h).double().softmax(1).cpu())
        features.append(h.double().cpu())
    return torch.cat(probabilities).numpy(), torch.cat(features).numpy()


def classifier_score(probabilities: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))), p(y) = E_x p(y|x): the Inception Score's formula on this
    classifier. 1 when every image gets the same prediction; the number of classes when every
    image is classified with certainty and the classes are equally frequent. High means
    confident predictions (recognizable objects) of varied classes."""
    p = np.asarray(probabilities, dtype=np.float64)
    return float(np.exp(per_image_kl(p).mean()))


def per_image_kl(probabilities: np.ndarray, marginal: np.ndarray | None = None) -> np.ndarray:
    """KL(p(y|x) || p(y)) of each image, the terms the classifier score averages: how much the
    classifier's verdict on that image differs from its verdict on the set (0 log 0 = 0)."""
    p = np.asarray(probabilities, dtype=np.float64)
    marginal = p.mean(0) if marginal is None else marginal
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)
    return terms.sum(1)


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of features [N, D], float64 (covariance with N - 1)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"a Gaussian fit needs features [N >= 2, D], got shape {list(x.shape)}")
    return x.mean(0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The Fréchet distance of Gaussian fits N(μa, Σa), N(μb, Σb) of two feature sets:

        d² = |μa − μb|² + Tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½)

    (FID's formula, with this classifier's penultimate-layer features; Tr (Σa Σb)^½ is taken
    as Tr (Σa^½ Σb Σa^½)^½, which is equal and symmetric, so eigendecompositions in float64
    give it without scipy). 0 for identical sets; |Δμ|² for a shift without change of shape."""
    return frechet_from_fits(gaussian_fit(features_a), gaussian_fit(features_b))


def frechet_from_fits(fit_a, fit_b) -> float:
    (mu_a, sigma_a), (mu_b, sigma_b) = fit_a, fit_b
    root_a = _psd_sqrt(sigma_a)
    cross = np.linalg.eigvalsh(_symmetric(root_a @ sigma_b @ root_a)).clip(min=0)
    distance = (
        np.sum((mu_a - mu_b) ** 2)
        + np.trace(sigma_a)
        + np.trace(sigma_b)
        - 2 * np.sqrt(cross).sum()
    )
    return float(max(distance, 0.0))  # rounding can leave -1e-12 where the sets coincide


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (rounding's negative eigenvalues as 0)."""
    values, vectors = np.linalg.eigh(_symmetric(matrix))
    return (vectors * np.sqrt(values.clip(min=0))) @ vectors.T


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    return (matrix + matrix.T) / 2


def score_images(
    classifier: Classifier,
    images: torch.Tensor,
    reference: torch.Tensor | dict,
    *,
    bootstrap: int = 50,
    seed: int = 0,
) -> dict:
    """Both scores of uint8 ``images`` against ``reference`` (real test images, or the
    :func:`reference_fit` of them): {"n", "classifier_score", "frechet_distance", and their
    spread "classifier_score_std", "frechet_distance_std": the standard deviation over
    ``bootstrap`` resamplings (with replacement) of the scored images, "bootstrap"}.
    With ``bootstrap`` 0 the spread is left out."""
    reference = reference if isinstance(reference, dict) else reference_fit(classifier, reference)
    probabilities, features = predict(classifier, images)
    report = {
        "n": len(images),
        "classifier_score": classifier_score(probabilities),
        "frechet_distance": frechet_from_fits(gaussian_fit(features), reference["fit"]),
    }
    if bootstrap:
        report |= bootstrap_spread(
            probabilities, features, reference["fit"], rounds=bootstrap, seed=seed
        )
    return report


def reference_fit(classifier: Classifier, images: torch.Tensor) -> dict:
    """The statistics of the real images every score compares with: {"n", "fit"}."""
    _, features = predict(classifier, images)
    return {"n": len(images), "fit": gaussian_fit(features)}


def bootstrap_spread(probabilities, features, fit, *, rounds: int, seed: int = 0) -> dict:
    """Standard deviations of both scores over ``rounds`` resamplings of the images with replacement."""
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(rounds):
        pick = rng.integers(0, len(features), len(features))
        scores.append(
            (
                classifier_score(probabilities[pick]),
                frechet_from_fits(gaussian_fit(features[pick]), fit),
            )
        )
    spread = np.std(np.array(scores), axis=0, ddof=1)
    return {
        "classifier_score_std": float(spread[0]),
        "frechet_distance_std": float(spread[1]),
        "bootstrap": rounds,
    }


# --------------------------------------------------------------------------- calibration baselines


def marginal_draws(train_images: torch.Tensor, n: int, *, seed: int = 0) -> torch.Tensor:
    """n images whose every pixel (its three colours together) is the pixel at the same position
    of a random training image, independently per pixel: the training set's per-pixel marginal,
    without any structure between pixels."""
    generator = torch.Generator().manual_seed(seed)
    size = train_images.shape[-1]
    source = torch.randint(0, len(train_images), (n, 1, size, size), generator=generator)
    return torch.gather(train_images, 0, source.expand(n, 3, size, size))


def blurred(images: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """``images`` under a Gaussian blur of ``sigma`` pixels (reflected borders), rounded to uint8:
    real structure with the texture removed."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.exp(
        -(torch.arange(-radius, radius + 1, dtype=torch.float64) ** 2) / (2 * sigma**2)
    )
    kernel = (taps / taps.sum()).float()
    x = images.float()
    channels = x.shape[1]
    rows, cols = kernel.view(1, 1, 1, -1), kernel.view(1, 1, -1, 1)
    for weight, pad in (
        (rows, (radius, radius, 0, 0)),
        (cols, (0, 0, radius, radius)),
    ):  # separable
        x = F.conv2d(
            F.pad(x, pad, mode="reflect"),
            weight.expand(channels, 1, *weight.shape[2:]),
            groups=channels,
        )
    return x.round().clamp(0, 255).to(torch.uint8)


# --------------------------------------------------------------------------- scoring a model


def check_cifar10_run(run_dir) -> None:
    """A one-line ConfigError unless ``run_dir`` holds a model of 32x32 CIFAR-10 images: the
    classifier knows only those."""
    config = read_run(run_dir)["config"]
    if config.dataset != "cifar10":
        raise ConfigError(
            f"{run_dir} is a model of {config.dataset}, not CIFAR-10: the quality classifier "
            "was trained on CIFAR-10 and scores only 32x32 CIFAR-10 samples"
        )


def sample_images(
    model,
    n: int,
    *,
    batch_size: int = 100,
    seed: int = 0,
    aux: torch.Tensor | None = None,
    progress: bool = True,
    **options,
) -> tuple[torch.Tensor, float]:
    """(n samples of ``model`` as uint8 [n, 3, 32, 32], the seconds they took), drawn in batches
    of ``batch_size`` with the cached sampler; a pyramid's samples are its top level, the
    Grayscale PixelCNN's the colour images X ~ p(X | X̂). ``aux``: 4-bit grays to colorize
    instead of drawing X̂. ``options``: ``map``, ``log_scale_shift``."""
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    batches, started = [], time.perf_counter()
    for start in progress_bar(
        range(0, n, batch_size), desc=f"sampling {model.kind}", unit="batch", show=progress
    ):
        size = min(batch_size, n - start)
        given = None if aux is None else aux[start : start + size]
        blocks = draw(model, size, aux=given, method="cached", generator=generator, **options)
        batches.append(blocks["image"] if "image" in blocks else blocks[str(model.image_size)])
    return torch.cat(batches), time.perf_counter() - started


def colorized(model, images: torch.Tensor, **options) -> tuple[torch.Tensor, float]:
    """Real ``images`` reduced to their 4-bit grays and colorized by a Grayscale PixelCNN."""
    if model.kind != "grayscale":
        raise ConfigError(
            f"only a Grayscale PixelCNN colorizes grays; this is a {model.kind} model"
        )
    return sample_images(model, len(images), aux=grayscale_4bit(images), **options)


def score_model(
    model,
    classifier: Classifier,
    reference: torch.Tensor | dict,
    n: int,
    *,
    batch_size: int = 100,
    seed: int = 0,
    bootstrap: int = 50,
    progress: bool = True,
    **options,
) -> dict:
    """Sample ``n`` images from ``model`` (:func:`sample_images`) and score them against the
    ``reference`` test images (:func:`score_images`); the report adds "sample_seconds"."""
    if model.config.dataset != "cifar10":
        raise ConfigError(
            f"a {model.kind} model of {model.config.dataset}: the quality classifier scores "
            "only CIFAR-10 samples"
        )
    images, seconds = sample_images(
        model, n, batch_size=batch_size, seed=seed, progress=progress, **options
    )
    return score_images(classifier, images, reference, bootstrap=bootstrap, seed=seed) | {
        "sample_seconds": seconds
    }


# --------------------------------------------------------------------------- python -m auxpix.quality


def main(argv=None) -> int:
    """Train the quality classifier: ``python -m auxpix.quality --out results/quality``."""
    parser = argparse.ArgumentParser(prog="python -m auxpix.quality", description=main.__doc__)
    parser.add_argument(
        "--out", default=str(QUALITY_DIR), help="folder for the weights and their JSON"
    )
    parser.add_argument("--data", help="data folder (default: $AUXPIX_DATA, else data/)")
    parser.add_argument("--epochs", type=int, default=ClassifierConfig.epochs)
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    args = parser.parse_args(argv)
    config = ClassifierConfig(epochs=args.epochs)
    try:
        info = train_classifier(
            args.out,
            config,
            data_dir=args.data,
            limit=args.limit,
            log=lambda line: print(line, flush=True),
        )
    except (CheckpointError, ConfigError, DataError) as e:
        print(f"auxpix.quality: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
