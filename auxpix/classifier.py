"""The quality classifier (issue #14): a CIFAR-10 classifier trained by this project, whose
outputs the sample-quality scores (:mod:`auxpix.scores`) are computed on.

The field scores samples with a pretrained Inception network (Inception Score, FID); those
weights cannot be downloaded here, and Inception features of 32x32 images fit them poorly.
So a small ResNet-style classifier (``Classifier``, configured by :class:`ClassifierConfig`)
is trained on the JPEG-decoded CIFAR-10 training set by :func:`train_classifier`, through the
loop that trains the models (:class:`auxpix.loop.TrainLoop`, as a ``ClassifierTrainee``):
resumable, and it never replaces a finished classifier. The command line::

    OMP_NUM_THREADS=1 auxpix quality train --out results/quality

The classifier's JSON records how long its training took.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn

from . import data
from .device import compute_label, resolve_device
from .errors import CheckpointError, ConfigError, DataError, one_line
from .images import check_images
from .loop import Schedule, TrainLoop, batch_indices, generator
from .runs import write_atomic

CLASSES = data.CIFAR_CLASSES
WEIGHTS_FILE = "classifier.safetensors"
INFO_FILE = "classifier.json"
TRAINING_DIR = "training"  # the resumable checkpoints while training; deleted when done
CONFIG_FILE = "config.json"  # in TRAINING_DIR: the config a resumed training must share
IMAGE_SIZE = 32
CROP_PAD = 4  # random crops of the image padded by 4 reflected pixels, the usual augmentation


# --------------------------------------------------------------------------- the classifier


@dataclass(frozen=True)
class ClassifierConfig:
    """A ResNet-9-style network (Page's DAWNBench CIFAR-10 net) at a quarter of its width, and its
    training recipe: SGD with Nesterov momentum, a triangular one-cycle learning rate (linear
    warm-up, then linear decay to 0), flips and padded random crops.

    The width and the float32 training were chosen for speed on one CPU thread (measurements:
    benchmarks/README.md, "The quality classifier")."""

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
    """A CIFAR-10 classifier of uint8 images [B, 3, 32, 32]. ``features`` is the
    penultimate layer (global max-pooled, ``widths[-1]`` values), :meth:`forward` the logits.

    The per-channel mean and standard deviation of the training set are buffers, so the
    saved weights normalize their input the way they were trained."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.config = config
        layers = [_conv_bn(3, config.widths[0])]
        for before, width, blocks in zip(config.widths, config.widths[1:], config.residual):
            layers += [_conv_bn(before, width), nn.MaxPool2d(2)]
            layers += [_Residual(width) for _ in range(blocks)]
        self.body = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.head = nn.Linear(config.widths[-1], CLASSES)
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 127.5))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 64.0))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, channels=3, size=IMAGE_SIZE, who="the quality classifier")
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


@torch.no_grad()
def predict(classifier: Classifier, images: torch.Tensor, *, batch_size: int = 500):
    """(class probabilities [N, 10], penultimate-layer features [N, D]) of uint8 ``images``,
    float64 numpy."""
    device = next(classifier.parameters()).device
    probabilities, features = [], []
    for start in range(0, len(images), batch_size):
        h = classifier.features(images[start : start + batch_size].to(device))
        probabilities.append(classifier.logits(h).double().softmax(1).cpu())
        features.append(h.double().cpu())
    return torch.cat(probabilities).numpy(), torch.cat(features).numpy()


# --------------------------------------------------------------------------- labels and data


def labelled(split: str, data_dir=None, *, lossless: bool = False, limit: int | None = None):
    """(images uint8 [N, 3, 32, 32], labels [N]) of a CIFAR-10 split (the first ``limit``)."""
    images, labels = data.load_labelled_cifar10(split, data_dir, lossless=lossless)
    return images[:limit], labels[:limit]


def augment(images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Random crops of the images padded by ``CROP_PAD`` reflected pixels, and random
    left-right flips."""
    n, size = len(images), images.shape[-1]
    shifts = torch.randint(-CROP_PAD, CROP_PAD + 1, (2, n, 1), generator=rng)
    flips = torch.rand(n, 1, generator=rng) < 0.5
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


class ClassifierTrainee:
    """The classifier as :class:`~auxpix.loop.TrainLoop` trains it (a
    :class:`~auxpix.loop.Trainee`): cross-entropy on flipped, padded and cropped batches; SGD
    with Nesterov momentum under the one-cycle :func:`learning_rate`; no averaged weights and
    no evaluation while training."""

    name = "classifier"
    precision = "fp32"  # bfloat16 autocast was slower on one CPU thread (benchmarks/README.md)
    ema_decay = None
    ema_warmup = False
    evaluates = False

    def __init__(self, classifier: Classifier, images: torch.Tensor, labels: torch.Tensor):
        self.config = config = classifier.config
        self.steps_per_epoch = len(images) // config.batch_size
        if self.steps_per_epoch == 0:
            raise DataError(
                f"{len(images)} training images are fewer than one batch of {config.batch_size}"
            )
        self.net, self.images, self.labels = classifier, images, labels
        self.total = self.steps_per_epoch * config.epochs
        self.optimizer = torch.optim.SGD(
            classifier.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            nesterov=True,
            weight_decay=config.weight_decay,
        )

    def initialize(self) -> None:
        """The input normalization: the training set's per-channel mean and deviation."""
        self.net.set_normalization(self.images)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        seed, size = self.config.seed, self.config.batch_size
        index = batch_indices(len(self.images), step, self.steps_per_epoch, size, seed)
        return augment(self.images[index], generator(seed, "augment", step)), self.labels[index]

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]):
        images, labels = batch
        self.net.train()
        logits = self.net(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.config.label_smoothing)
        right = (logits.argmax(1) == labels).float().mean()
        return loss, {"train_loss": loss.detach(), "train_accuracy": right}

    def learning_rate(self, step: int, progress: float) -> float:
        return learning_rate(self.config, step, self.total)

    def evaluate(self) -> dict[str, float]:
        return {}


def fit(
    classifier: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    folder,
    *,
    checkpoint_every: int = 100,
    progress: bool = True,
) -> dict:
    """Train ``classifier`` on uint8 ``images`` [N, 3, 32, 32] and their ``labels`` for its
    config's epochs, checkpointing into ``folder`` (the run store's layout: state.json,
    checkpoints, metrics.jsonl with one record per epoch), so that a killed training resumes
    where it stopped and reaches the same weights. Returns the final state, whose "metrics"
    are the last epoch's."""
    folder, config = Path(folder), classifier.config
    _check_config(folder, config)
    trainee = ClassifierTrainee(classifier, images, labels)
    schedule = Schedule(
        epochs=config.epochs,
        checkpoint_every=checkpoint_every,
        log_every=trainee.steps_per_epoch,
    )
    loop = TrainLoop(
        trainee, schedule, folder, seed=config.seed, device=torch.device("cpu"), progress=progress
    )
    state = loop.run()
    classifier.eval()
    return state


def _check_config(folder: Path, config: ClassifierConfig) -> None:
    """Record ``config`` in a new training folder; a folder of another config is an error."""
    path, values = folder / CONFIG_FILE, json.loads(json.dumps(dataclasses.asdict(config)))
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(values, indent=2).encode())
    elif _read_json(path) != values:
        raise CheckpointError(
            f"cannot resume from {folder}: it was trained with another ClassifierConfig; "
            "delete it to train from the start"
        )


def train_classifier(
    out_dir,
    config: ClassifierConfig = ClassifierConfig(),
    *,
    data_dir=None,
    limit: int | None = None,
    progress: bool = True,
) -> dict:
    """Train the quality classifier on the JPEG-decoded CIFAR-10 training set (the first
    ``limit`` images), score it on both test sets and save it into ``out_dir``: the weights
    as safetensors and a JSON of how they were trained. Returns that JSON's content.

    Resumes from ``out_dir``'s training folder if there is one; a finished classifier
    in ``out_dir`` is an error, never overwritten."""
    out_dir = Path(out_dir)
    if (out_dir / WEIGHTS_FILE).exists():
        raise CheckpointError(
            f"{out_dir / WEIGHTS_FILE} holds a trained classifier; delete it (and "
            f"{INFO_FILE}) to train again, or pass another --out"
        )
    images, labels = labelled("train", data_dir, limit=limit)
    torch.manual_seed(config.seed)  # the initial weights
    classifier = Classifier(config)
    state = fit(classifier, images, labels, out_dir / TRAINING_DIR, progress=progress)
    info = {
        "config": dataclasses.asdict(config),
        "parameters": parameter_count(classifier),
        "train_images": len(images),
        "data": "JPEG-decoded CIFAR-10 training set (flips, padded random crops)",
        "steps": state["step"],
        "minutes": round(state["seconds"] / 60, 2),
        "images_per_second": round(
            state["step"] * config.batch_size / max(state["seconds"], 1e-3), 1
        ),
        "threads": torch.get_num_threads(),
        "compute": compute_label("cpu"),
        "train_accuracy_last_epoch": round(state["metrics"]["train_accuracy"], 4),
        "test_accuracy": accuracies(classifier, data_dir),
    }
    save_classifier(classifier, out_dir, info)
    shutil.rmtree(out_dir / TRAINING_DIR)  # a finished classifier is not resumed
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
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"config": json.dumps(dataclasses.asdict(classifier.config))}
    tensors = {name: t.contiguous() for name, t in classifier.state_dict().items()}
    write_atomic(out_dir / WEIGHTS_FILE, safetensors.torch.save(tensors, metadata=meta))
    write_atomic(out_dir / INFO_FILE, (json.dumps(info, indent=2) + "\n").encode())


def load_classifier(path, *, device="cpu") -> Classifier:
    """The classifier saved in folder ``path`` by :func:`train_classifier`, in eval mode."""
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(
            f"no trained quality classifier at {weights}; train it with "
            f"'auxpix quality train --out {Path(path)}' (its JSON says how long that takes)"
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


def classifier_info(path) -> dict:
    """How the classifier in ``path`` was trained (its JSON)."""
    return _read_json(Path(path) / INFO_FILE)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read {path} ({one_line(e)})") from e


def _config_from_dict(values: dict) -> ClassifierConfig:
    return ClassifierConfig(
        **{key: tuple(v) if isinstance(v, list) else v for key, v in values.items()}
    )
