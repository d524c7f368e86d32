"""One config dataclass per model kind, each with named presets.

Presets:

* ``paper`` — the hyperparameters of the paper's section 4 (see the notes on each preset).
* ``cpu``   — scaled down to train on 2 CPU cores in the book's budget (:func:`auxpix.budgets.budget`).
* ``smoke`` — tiny, for tests and CI (seconds).

The pyramid's presets model CelebA faces; their ``-cifar`` twins model CIFAR-10 (8 -> 32).

Which source each choice follows (where the paper and the authors' released code disagree,
we follow the paper and note the code's choice):

* Layer counts of the Grayscale PixelCNN. openai/pixel-cnn's PixelCNN++ has, per stream,
  ``nr_resnet`` gated residual blocks at each of 3 resolutions on the way up, ``nr_resnet``,
  then ``nr_resnet + 1`` twice on the way down, plus 2 down- and 2 up-sampling layers:
  5 + 5 + 5 + 5 + 6 + 6 + 4 = 36 at ``nr_resnet=5`` (its released setting, kept for the
  unconditional models) and 3 + 3 + 3 + 3 + 4 + 4 + 4 = 24 at ``nr_resnet=3``. So the
  paper's "24 residual blocks instead of 36" for p(X | X̂) is ``nr_resnet=3``, and the
  matching f_w(X̂) is one unshifted flow of 20 blocks with 2 down- and 2 up-samplings
  (3 + 3 + 8 + 3 + 3 blocks at 32, 16, 8, 16, 32: 24 layers in the same count).
* The pyramid's light nets (paper: "without down or up-sampling layers with only 3 residual
  blocks"; authors' code ``PyramidPixelCNN``): PixelCNN++'s input convolutions, then 3 gated
  residual blocks per stream with 3x3 shifted kernels, at one resolution, no down pass, no
  skip connections (``NetConfig.light``).
* The pyramid's embedding (paper: "15 residual blocks with downsampling after the residual
  block number 3 and upsampling after the residual blocks number 9 and 12"): one flow of 15
  blocks at X̂'s resolution r/2, then r/4, r/2 and finally r, the resolution of X; wired as
  the authors' code wires it (a down pass of 6 blocks whose outputs feed their mirror blocks
  of the up pass, then a 3x3 ``conv_representation``), with TensorFlow's 'SAME' padding in
  its strided and transposed convolutions.
* The pyramid's views X_r/2 of X_r: the authors' ``get_pyramid``, each level the
  full-resolution image average-pooled and rounded (:func:`auxpix.pyramid`).
* Optimizer: Adam with the paper's learning rates, batch sizes and per-step decay; Adam's
  betas (0.95, 0.9995) and the data-dependent initialization
  (:func:`auxpix.data_dependent_init`) are openai/pixel-cnn's, which the authors' code
  adapts (the paper does not state them).
* How a network starts and is averaged (the paper is silent; ``OPENAI_START``): openai's and
  the authors' weight directions from N(0, 0.05), the data-dependent initialization in
  training mode on 16 images of its own, and a constant-decay average of the weights.
* The PixelCNN++ baseline's ``paper`` preset follows openai/pixel-cnn's ``train.py``, whose
  2.92 bits/dim the book compares it with (batch 8 x 16, decay 0.999995, no flips), not the
  Kolesnikov paper's recipe for its own models.
* The ``cpu`` presets take each of these choices from the pilot run side by side at equal
  compute (``results/pilot/``, chapter 01's sizing section).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import ConfigError


@dataclass(frozen=True)
class NetConfig:
    """One PixelCNN++ network (Salimans et al. 2017)."""

    nr_resnet: int = 5  # gated residual blocks per stream and resolution
    nr_filters: int = 160
    nr_resolutions: int = 3  # 3 = two strided down- and up-samplings; 1 = none (pyramid)
    nr_logistic_mix: int = 10  # components of the output mixture (RGB models)
    dropout: float = 0.5
    light: bool = False  # the pyramid's light net: one resolution, no down pass, 3x3 kernels


@dataclass(frozen=True)
class EmbeddingConfig:
    """The embedding f_w(X̂): one unshifted flow of gated residual blocks (a small U-Net)."""

    nr_blocks: int = 15
    nr_filters: int = 100
    downsample_after: tuple[int, ...] = (3,)  # 1-based block numbers
    upsample_after: tuple[int, ...] = (9, 12)
    dropout: float = 0.5
    # Not in the paper: f_w(X̂) also feeds the network's output layer (a 1x1 path). The first
    # pixel has no pixels before it, so f_w is all it has; through the blocks alone a cpu
    # level never learnt it (chapter 03, "what went wrong").
    to_output: bool = False


LR_SCHEDULES = ("exponential", "linear", "cosine")
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Adam and its learning-rate schedule, the batch, the precision and the averaged weights.

    ``lr_schedule``: ``"exponential"`` (the paper's: ``lr`` times ``lr_decay`` after every
    step) or, for a run whose budget is known in advance, ``"linear"`` or ``"cosine"``: a
    linear warm-up over ``warmup_steps``, then a fall to ``lr_floor`` times ``lr`` at the
    end of the budget (its steps, or its minutes on the clock).
    """

    lr: float = 1e-3
    betas: tuple[float, ...] = (0.95, 0.9995)  # PixelCNN++'s (openai/pixel-cnn), not Adam's default
    lr_decay: float = 0.99999
    lr_schedule: str = "exponential"
    warmup_steps: int = 0
    lr_floor: float = 0.05
    batch_size: int = 64
    ema_decay: float = 0.9995  # Polyak averaging of the weights used for evaluation
    # False: the average's decay is constant from the first step (openai/pixel-cnn's); True: it
    # ramps as min(ema_decay, (1 + t) / (10 + t)) (TensorFlow's num_updates), forgetting the
    # initial weights within tens of steps.
    ema_warmup: bool = True
    # How a fresh part starts. init_std > 0: every weight-normed layer's direction V is drawn
    # from N(0, init_std) when the model is built (openai/pixel-cnn's and the authors' 0.05);
    # 0: PyTorch's default (Kaiming uniform, about 1/sqrt(3 fan_in)).
    init_std: float = 0.0
    # The images of the data-dependent initialization: init_batch_size images of their own
    # (openai's 16), or 0: the first training batch; init_dropout runs that pass in training
    # mode, dropout on, as openai's does.
    init_batch_size: int = 0
    init_dropout: bool = False
    flip: bool = True  # random horizontal flips of CIFAR-10 images (aligned faces never flip)
    precision: str = (
        "fp32"  # "bf16": the networks run under bfloat16 autocast; the loss stays float32
    )

    def __post_init__(self):
        for name, allowed in (("lr_schedule", LR_SCHEDULES), ("precision", PRECISIONS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"train.{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )


@dataclass(frozen=True)
class PixelCNNppConfig:
    """Plain PixelCNN++ p(X), the baseline."""

    net: NetConfig = field(default_factory=NetConfig)
    dataset: str = "cifar10"
    image_size: int = 32
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class GrayscaleConfig:
    """Grayscale PixelCNN: p(X̂) over 4-bit grayscale (16-way softmax) times p(X | X̂)."""

    aux_net: NetConfig = field(default_factory=NetConfig)
    cond_net: NetConfig = field(default_factory=lambda: NetConfig(nr_resnet=3))
    embedding: EmbeddingConfig = field(
        default_factory=lambda: EmbeddingConfig(
            nr_blocks=20, nr_filters=160, downsample_after=(3, 6), upsample_after=(14, 17)
        )
    )
    dataset: str = "cifar10"
    image_size: int = 32
    train: TrainConfig = field(default_factory=TrainConfig)


# How openai/pixel-cnn (train.py, nn.py) and the authors' code start and average a network: the
# paper presets' choice, where the paper is silent.
OPENAI_START = dict(init_std=0.05, init_batch_size=16, init_dropout=True, ema_warmup=False)

PAPER_LIGHT_NET = NetConfig(nr_resnet=3, nr_filters=100, nr_resolutions=1, light=True)


@dataclass(frozen=True)
class PyramidConfig:
    """Pyramid PixelCNN: p(X_8) p(X_16 | X_8) ... p(X_128 | X_64) with light per-scale nets."""

    resolutions: tuple[int, ...] = (8, 16, 32, 64, 128)
    base_net: NetConfig = field(default_factory=lambda: PAPER_LIGHT_NET)
    level_net: NetConfig = field(default_factory=lambda: PAPER_LIGHT_NET)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    dataset: str = "celeba"
    # CelebA's split: "random" is the paper's (a random 5 % held out for testing, section 4.2),
    # "official" CelebA's list_eval_partition.txt; see auxpix.data.
    celeba_split: str = "random"
    # Levels above this resolution train on aligned random crops of crop x crop pixels (with
    # the matching crop of the view they condition on): their nets are convolutional, so a
    # crop trains them at a fraction of the cost; they are still evaluated on whole images.
    # 0: every level trains on whole images.
    crop: int = 0
    # Not in the paper: the std of Gaussian noise added, while training, to the pixels each
    # conditional level's network reads (in its [-1, 1] scale; the pixels it scores stay
    # exact), one per level of resolutions[1:], () for none
    # (:meth:`auxpix.models.PyramidPixelCNN.training_noise`).
    input_noise: tuple[float, ...] = ()
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(lr_decay=0.999995, batch_size=16, **OPENAI_START)
    )

    @property
    def image_size(self) -> int:
        return self.resolutions[-1]

    @property
    def level_noise(self) -> dict[int, float]:
        """``input_noise`` by conditional level's resolution ({} for none)."""
        return dict(zip(self.resolutions[1:], self.input_noise))


_SMOKE_NET = NetConfig(nr_resnet=1, nr_filters=8, nr_logistic_mix=5)
_SMOKE_EMBEDDING = EmbeddingConfig(
    nr_blocks=5, nr_filters=8, downsample_after=(1,), upsample_after=(3, 4)
)
_SMOKE_LIGHT_NET = NetConfig(
    nr_resnet=1, nr_filters=8, nr_logistic_mix=5, nr_resolutions=1, light=True
)
_SMOKE_TRAIN = TrainConfig(batch_size=8)

# cpu: the sizes, recipe and precision that won the pilots run side by side on one thread
# each (benchmarks/README.md, "cpu preset sizing and recipe pilots"); no dropout: a model
# that sees each image a few times does not overfit.
_CPU_TRAIN = TrainConfig(batch_size=16, lr_schedule="linear", lr_floor=0.05)
_CPU_NET = NetConfig(nr_resnet=1, nr_filters=32, dropout=0.0)
_CPU_EMBEDDING = EmbeddingConfig(
    nr_blocks=6, nr_filters=32, downsample_after=(1, 2), upsample_after=(4, 5), dropout=0.0
)
_CPU_LIGHT_NET = NetConfig(nr_resnet=2, nr_filters=32, nr_resolutions=1, dropout=0.0, light=True)
# The authors' embedding with one block per group (their code's L; the paper's has 3).
_CPU_PYRAMID_EMBEDDING = EmbeddingConfig(
    nr_blocks=5, nr_filters=32, downsample_after=(1,), upsample_after=(3, 4), dropout=0.0
)


def _light_pyramid(
    net: NetConfig, embedding: EmbeddingConfig, resolutions=(8, 16, 32), **fields
) -> PyramidConfig:
    """A pyramid whose every level (the base included) uses the light net ``net``."""
    return PyramidConfig(
        resolutions=resolutions, base_net=net, level_net=net, embedding=embedding, **fields
    )


PRESETS: dict[str, dict[str, object]] = {
    "pixelcnnpp": {
        # Salimans et al.'s CIFAR-10 model as openai/pixel-cnn's train.py trains it (the book
        # compares it with their 2.92): 16 images on each of 8 GPUs per step, decay 0.999995,
        # no flips.
        "paper": PixelCNNppConfig(
            train=TrainConfig(batch_size=128, lr_decay=0.999995, flip=False, **OPENAI_START)
        ),
        "cpu": PixelCNNppConfig(net=_CPU_NET, train=_CPU_TRAIN),
        "smoke": PixelCNNppConfig(net=_SMOKE_NET, train=_SMOKE_TRAIN),
    },
    "grayscale": {
        "paper": GrayscaleConfig(train=TrainConfig(**OPENAI_START)),
        "cpu": GrayscaleConfig(
            aux_net=_CPU_NET, cond_net=_CPU_NET, embedding=_CPU_EMBEDDING, train=_CPU_TRAIN
        ),
        "smoke": GrayscaleConfig(
            aux_net=_SMOKE_NET,
            cond_net=_SMOKE_NET,
            embedding=EmbeddingConfig(
                nr_blocks=6, nr_filters=8, downsample_after=(1, 2), upsample_after=(4, 5)
            ),
            train=_SMOKE_TRAIN,
        ),
    },
    "pyramid": {
        # CelebA faces 8 -> 128 (paper section 4.2).
        "paper": PyramidConfig(),
        # The paper's light nets on CIFAR-10, 8 -> 32 (paper: 3.32 bits/dim).
        "paper-cifar": PyramidConfig(
            resolutions=(8, 16, 32), dataset="cifar10", train=TrainConfig(**OPENAI_START)
        ),
        # To 128x128 as the paper's; the 64x64 and 128x128 levels train on aligned 32x32 crops,
        # for as many steps as the 32x32 level (auxpix.budgets.MINUTE_SHARES). Every level's
        # inputs are noisy, the 128x128 level's most: without, samples leave X̂; f_w also feeds
        # the output, without which the first pixel ignores X̂ (chapter 03, "what went wrong").
        "cpu": _light_pyramid(
            _CPU_LIGHT_NET,
            dataclasses.replace(_CPU_PYRAMID_EMBEDDING, to_output=True),
            resolutions=(8, 16, 32, 64, 128),
            crop=32,
            input_noise=(0.04, 0.04, 0.04, 0.08),
            train=_CPU_TRAIN,
        ),
        # f_w feeds the output as in "cpu": its 32x32 level's first pixel ignored X̂ too (chapter 03).
        "cpu-cifar": _light_pyramid(
            _CPU_LIGHT_NET,
            dataclasses.replace(_CPU_PYRAMID_EMBEDDING, to_output=True),
            dataset="cifar10",
            train=_CPU_TRAIN,
        ),
        "smoke": _light_pyramid(_SMOKE_LIGHT_NET, _SMOKE_EMBEDDING, train=_SMOKE_TRAIN),
        "smoke-cifar": _light_pyramid(
            _SMOKE_LIGHT_NET, _SMOKE_EMBEDDING, dataset="cifar10", train=_SMOKE_TRAIN
        ),
    },
}


def kinds() -> tuple[str, ...]:
    """The model kinds: the paper's three, then any added by :func:`auxpix.models.register`."""
    return tuple(PRESETS)


def add_presets(kind: str, presets: dict, config_class: type) -> None:
    """The named ``presets`` of a new model ``kind`` (through :func:`auxpix.models.register`)."""
    if kind in PRESETS:
        raise ConfigError(f"model kind {kind!r} has presets already")
    if not presets or any(type(config) is not config_class for config in presets.values()):
        raise ConfigError(f"the presets of {kind} must be one or more {config_class.__name__}s")
    PRESETS[kind] = dict(presets)


def remove_presets(kind: str) -> None:
    """Forget the presets of ``kind`` (through :func:`auxpix.models.unregister`)."""
    del PRESETS[kind]


def preset(kind: str, name: str = "cpu", *, assignments: list[str] | None = None, **overrides):
    """The config of ``kind`` at preset ``name``, with fields replaced by ``overrides``, then by
    ``assignments`` (the command line's ``--set key=value`` strings, see :func:`~auxpix.config.parse_assignments`).

    A nested config may be overridden by a dict of its fields:
    ``preset("pixelcnnpp", "cpu", net={"nr_filters": 64})``.
    """
    if kind not in PRESETS:
        raise ConfigError(f"unknown model kind {kind!r}: choose one of {', '.join(kinds())}")
    if name not in PRESETS[kind]:
        raise ConfigError(
            f"unknown preset {name!r} for {kind}: choose one of {', '.join(PRESETS[kind])}"
        )
    config = replace(PRESETS[kind][name], **overrides)
    return replace(config, **parse_assignments(config, assignments or []))


def parse_assignments(config, assignments: list[str]) -> dict:
    """``["net.nr_filters=64", "train.lr=2e-3"]`` as overrides of ``config`` for :func:`replace`:
    dotted keys reach nested configs, each value is parsed as the type of the field it replaces
    (a tuple is a comma-separated list of numbers, a bool true or false)."""
    overrides: dict = {}
    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        if not equals:
            raise ConfigError(f"--set takes key=value, got {assignment!r}")
        *groups, name = key.split(".")
        node, current = overrides, config
        for group in groups:
            current, node = _field(current, group, key), node.setdefault(group, {})
        node[name] = _parse(_field(current, name, key), text, key)
    return overrides


def _field(config, name: str, key: str):
    """The current value of field ``name`` of ``config`` (part of the --set ``key``)."""
    names = [f.name for f in dataclasses.fields(config)] if dataclasses.is_dataclass(config) else []
    if name not in names:
        where = (
            f"{type(config).__name__} has"
            if names
            else f"{key.rsplit('.', 1)[0]} is a value and has"
        )
        fields = f"; fields are {', '.join(names)}" if names else ""
        raise ConfigError(f"--set {key}: {where} no field {name!r}{fields}")
    return getattr(config, name)


def _parse(current, text: str, key: str):
    """``text`` as a value that may replace ``current`` (the rules of :func:`_same_kind`)."""
    if dataclasses.is_dataclass(current):
        raise ConfigError(
            f"--set {key}: {key} is a group of settings; set its fields, e.g. {key}.<field>=value"
        )
    try:
        if isinstance(current, bool):
            return {"true": True, "false": False}[text.lower()]
        if isinstance(current, tuple):
            item_type = type(current[0]) if current else int
            return tuple(item_type(item) for item in text.strip("[]() ").split(",") if item.strip())
        return type(current)(text)
    except (KeyError, ValueError) as e:
        kind = (
            "a comma-separated list of numbers"
            if isinstance(current, tuple)
            else type(current).__name__
        )
        raise ConfigError(
            f"--set {key}={text}: expected {kind} (the preset has {current!r})"
        ) from e


def replace(config, **overrides):
    """dataclasses.replace that also merges dicts into nested configs, with clear errors."""
    names = {f.name for f in dataclasses.fields(config)}
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            raise ConfigError(
                f"{type(config).__name__} has no field {key!r}: fields are {', '.join(sorted(names))}"
            )
        current = getattr(config, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            value = replace(current, **value)
        elif isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        if not _same_kind(current, value):
            raise ConfigError(
                f"{type(config).__name__}.{key} must be of type {type(current).__name__}, like {current!r}, got {value!r}"
            )
        changes[key] = value
    return dataclasses.replace(config, **changes)


def _same_kind(current, value) -> bool:
    """Whether ``value`` may replace ``current`` (an int may stand for a float)."""
    if isinstance(current, bool) or isinstance(value, bool):
        return type(current) is type(value)
    if isinstance(current, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(current))


def config_to_dict(config) -> dict:
    return dataclasses.asdict(config)


def flat_config(config: dict, prefix: str = "") -> dict:
    """A :func:`config_to_dict` dict with dotted keys, as ``--set`` names them: {"net.nr_filters": 32, ...}."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


# What a run saved before TrainConfig had the start and averaging fields was trained with.
BEFORE_OPENAI_START = dict(
    init_std=0.0, init_batch_size=0, init_dropout=False, ema_warmup=True, flip=True
)


def config_from_dict(kind: str, data: dict):
    """Rebuild a config saved with :func:`config_to_dict` (e.g. from a checkpoint)."""
    if kind not in PRESETS:
        raise ConfigError(f"unknown model kind {kind!r}: choose one of {', '.join(kinds())}")
    default = next(iter(PRESETS[kind].values()))
    if "train" in data:  # saved before these fields: the run started and averaged as then
        data = {**data, "train": {**BEFORE_OPENAI_START, **data["train"]}}
    if kind == "pyramid" and "celeba_split" not in data:
        data = {
            **data,
            "celeba_split": "official",
        }  # saved before the field: the loader then used the partition file
    return replace(default, **data)
