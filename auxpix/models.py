"""The paper's models, each a product of independently trainable PixelCNN parts (eq. 2, 4).

* :class:`PixelCNNpp` — p(X), the baseline (one part, ``pixelcnnpp``).
* :class:`GrayscalePixelCNN` — p(X̂) p(X | X̂), X̂ = 4-bit grayscale (parts ``aux``, ``cond``).
* :class:`PyramidPixelCNN` — p(X_8) p(X_16 | X_8) ... (one part per resolution, ``"8"``, ``"16"``, ...).

All take and return integer images [B, 3, H, W] with values 0..255. ``bpd(x)`` gives
bits per dimension per image for every part and the ``total``; call ``model.eval()``
first to switch dropout off. ``sample(n, ...)`` has one signature for every model and returns
its named stages, the final image under ``"image"``. Build them with :func:`auxpix.build`.

A new kind of model is a config dataclass with presets (:mod:`auxpix.config`) and a subclass
of :class:`AuxiliaryVariableModel` here: its ``kind``, ``config_class``, parts,
``part_inputs`` and ``sample_stages``, registered with :func:`register`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from . import config as configs
from .auxvars import GRAY_LEVELS, grayscale_4bit, pyramid
from .config import GrayscaleConfig, PixelCNNppConfig, PyramidConfig
from .config import preset as preset_config
from .errors import ConfigError
from .fast_sampling import DEFAULT_WINDOW
from .images import check_images
from .layers import draw_directions
from .pixelcnn import PixelCNN, in_eval_mode


class AuxiliaryVariableModel(nn.Module):
    """Base: a dict of PixelCNN ``parts``; ``part_inputs`` says what each part models."""

    kind: str
    takes_aux = False  # whether sample() can start from a given auxiliary image

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.parts = nn.ModuleDict()

    @property
    def image_size(self) -> int:
        return self.config.image_size

    def part_inputs(self, name: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(target, auxiliary input) of part ``name`` for the images x."""
        raise NotImplementedError

    def part_dims(self, name: str) -> int:
        """The number of dimensions that part ``name``'s bits are divided by."""
        return 3 * self.image_size**2

    def training_view(self, name: str, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """What part ``name`` trains on for the batch x: x itself, unless a model says otherwise."""
        return x

    def training_noise(self, name: str, x: torch.Tensor, generator: torch.Generator):
        """Noise added to the pixels part ``name``'s network reads while it trains on x (its
        targets stay exact), or None: none, unless a model says otherwise."""
        return None

    def check_images(self, x: torch.Tensor) -> None:
        check_images(x, channels=3, size=self.image_size, who=self.kind)

    def part_bpd(self, name: str, x: torch.Tensor, *, input_noise=None) -> torch.Tensor:
        """Bits per dimension of part ``name`` for each image of x, [B].

        Differentiable: its batch mean is the training loss. Only this part runs, so training
        or evaluating one part does not pay for the others. ``input_noise``: added to the
        pixels its network reads (:meth:`training_noise`).
        """
        nll = -self.parts[name].log_prob(*self.part_inputs(name, x), input_noise=input_noise)
        crop = (
            x.shape[-2] * x.shape[-1] / self.image_size**2
        )  # a training crop's share of the image (else 1)
        return nll / (self.part_dims(name) * crop * math.log(2))

    def nll(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """-log p of each part in nats, per image."""
        self.check_images(x)
        return {
            name: -part.log_prob(*self.part_inputs(name, x)) for name, part in self.parts.items()
        }

    def bpd(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Bits per dimension per image: each part (divided by ``part_dims``) and the total."""
        return self.tables(self.nll(x))["bpd"]

    def tables(self, nll: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        """Every table of bits per dimension, per image, from the parts' nats (:meth:`nll`):
        ``"bpd"`` (:meth:`bpd`) and whatever else a model reports (a pyramid's by resolution)."""
        bpd = {name: value / (self.part_dims(name) * math.log(2)) for name, value in nll.items()}
        bpd["total"] = sum(nll.values()) / (3 * self.image_size**2 * math.log(2))
        return {"bpd": bpd}

    @classmethod
    def config_at(cls, config, resolution: int):
        """``config`` for images of side ``resolution`` (how a benchmark times other sizes)."""
        return configs.replace(config, image_size=resolution)

    @in_eval_mode
    def sample(
        self,
        n: int,
        *,
        method: str = "cached",
        window: int = DEFAULT_WINDOW,
        compile: bool = False,
        map: bool | Sequence[bool] = False,
        log_scale_shift: float | Sequence[float] = 0.0,
        generator: torch.Generator | None = None,
        progress: bool = False,
        aux: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """n samples as named stages, uint8 [n, C, h, w] each, in the order they are drawn, the
        final images [n, 3, H, W] under ``"image"`` (:meth:`sample_stages` says which).

        ``method``: the sampler, "cached" (exact), "naive" (the reference) or "window" (the
        authors', approximate, with its ``window`` size); ``compile``: the cached sampler's
        steps compiled with torch.compile (:mod:`auxpix.compiled_sampling`: faster per pixel,
        after a first call that compiles for a minute or more; the same draws in float64, in
        float32 up to a value on a bin boundary that rounds the other way, and the pixels
        after it). ``map`` (the most likely value instead of a draw) and ``log_scale_shift``
        (paper, Figure 4) choose how each pixel is drawn;
        ``generator`` seeds the draws; ``aux``: a given auxiliary image to start from (a
        model without one raises a ValueError).
        """
        if aux is not None and not self.takes_aux:
            raise _no_auxiliary(self)
        sampler = dict(
            method=method, window=window, compile=compile, generator=generator, progress=progress
        )
        return self.sample_stages(n, aux, sampler, map=map, log_scale_shift=log_scale_shift)

    def compile_sampling(self, n: int, *, map: bool = False, log_scale_shift: float = 0.0) -> None:
        """Compile every part's sampling steps for n images (what the first call of
        ``sample(n, compile=True, map=map, log_scale_shift=log_scale_shift)`` does on its way),
        so that sampling then compiles nothing."""
        images = torch.zeros(n, 3, self.image_size, self.image_size, dtype=torch.long)
        for name, part in self.parts.items():
            _, aux = self.part_inputs(name, images)
            aux = None if aux is None else aux.to(self._device())
            part.compile_sampling(n, aux, map=map, log_scale_shift=log_scale_shift)

    def sample_stages(
        self, n: int, aux, sampler: dict, *, map, log_scale_shift
    ) -> dict[str, torch.Tensor]:
        """:meth:`~auxpix.models.AuxiliaryVariableModel.sample`'s stages; ``sampler`` holds the options every part samples with."""
        raise NotImplementedError

    def auxiliary(self, x: torch.Tensor) -> torch.Tensor:
        """The auxiliary image of the images x that :meth:`~auxpix.models.AuxiliaryVariableModel.sample` may start from (``aux``)."""
        raise _no_auxiliary(self)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def log_prob(self, x: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        """log p(X, X̂) in nats: per image [B] (``"sum"``) or per pixel [B, H, W] (``"none"``,
        for models whose parts all live at the image's resolution)."""
        self.check_images(x)
        return sum(
            part.log_prob(*self.part_inputs(name, x), reduction=reduction)
            for name, part in self.parts.items()
        )


def _no_auxiliary(model: AuxiliaryVariableModel) -> ValueError:
    return ValueError(f"a {model.kind} model has no auxiliary image to start from")


class PixelCNNpp(AuxiliaryVariableModel):
    """Plain PixelCNN++ (Salimans et al. 2017): p(X)."""

    kind = "pixelcnnpp"
    config_class = PixelCNNppConfig

    def __init__(self, config: PixelCNNppConfig):
        super().__init__(config)
        self.parts["pixelcnnpp"] = PixelCNN(
            config.net, channels=3, levels=256, image_size=config.image_size
        )

    def part_inputs(self, name, x):
        return x, None

    def sample_stages(self, n, aux, sampler, **drawing):
        """``{"image"}``."""
        return {"image": self.parts["pixelcnnpp"].sample(n, **sampler, **drawing)}


class GrayscalePixelCNN(AuxiliaryVariableModel):
    """Grayscale PixelCNN (paper, section 3.1): p(X̂) p(X | X̂), X̂ = grayscale_4bit(X).

    Both parts' bits are divided by the 3·H·W dimensions of the colour image, as the
    paper does, so ``aux + cond = total`` (paper: 0.459 + 2.52 ≈ 2.98).
    """

    kind = "grayscale"
    config_class = GrayscaleConfig
    takes_aux = True

    def __init__(self, config: GrayscaleConfig):
        super().__init__(config)
        size = config.image_size
        self.parts["aux"] = PixelCNN(
            config.aux_net, channels=1, levels=GRAY_LEVELS, image_size=size
        )
        self.parts["cond"] = PixelCNN(
            config.cond_net,
            channels=3,
            levels=256,
            image_size=size,
            embedding=config.embedding,
            aux_channels=1,
            aux_levels=GRAY_LEVELS,
            aux_size=size,
        )

    def part_inputs(self, name, x):
        gray = grayscale_4bit(x)
        return (gray, None) if name == "aux" else (x, gray)

    def auxiliary(self, x):
        """X̂ = grayscale_4bit(x): what :meth:`~auxpix.models.AuxiliaryVariableModel.sample` colorizes."""
        return grayscale_4bit(x)

    def sample_stages(self, n, aux, sampler, **drawing):
        """``{"gray": X̂, "image": X}``: X̂ ~ p(X̂) (or the given 4-bit ``aux``, [n, 1, H, W]:
        colorization, paper Figure 3), then X ~ p(X | X̂); ``map``/``log_scale_shift`` apply to X."""
        if aux is None:
            aux = self.parts["aux"].sample(n, **sampler)
        check_images(aux, channels=1, size=self.image_size, who="a grayscale model's aux")
        aux = aux.to(self._device()).long()
        image = self.parts["cond"].sample(n, aux, **sampler, **drawing)
        return {"gray": aux.to(torch.uint8), "image": image}


class PyramidPixelCNN(AuxiliaryVariableModel):
    """Pyramid PixelCNN (paper, section 3.2): X̂ is X at half resolution, recursively; every
    lower view is the full image average-pooled and rounded, as the authors compute it
    (:func:`auxpix.pyramid`).

    ``bpd(x)`` gives each level's conditional bits divided by that level's own 3·r²
    dimensions (keys ``"8"``, ``"16"``, ...) and the ``total`` for the full image;
    :meth:`bpd_by_resolution` the bits per dimension of the whole image at each resolution.
    """

    kind = "pyramid"
    config_class = PyramidConfig
    takes_aux = True

    def __init__(self, config: PyramidConfig):
        super().__init__(config)
        sizes = config.resolutions
        if any(hi != 2 * lo for lo, hi in zip(sizes, sizes[1:])):
            raise ConfigError(f"pyramid resolutions must double at every level, got {sizes}")
        if config.crop and (config.crop % 2 or not 0 < config.crop < sizes[-1]):
            raise ConfigError(
                f"pyramid crop must be an even size below {sizes[-1]}, got {config.crop}"
            )
        noise = config.input_noise
        if noise and (len(noise) != len(sizes) - 1 or min(noise) < 0):
            raise ConfigError(
                f"pyramid input_noise must give a std >= 0 for each of the {len(sizes) - 1} "
                f"conditional levels {', '.join(map(str, sizes[1:]))}, got {noise}"
            )
        self.parts[str(sizes[0])] = PixelCNN(
            config.base_net, channels=3, levels=256, image_size=sizes[0]
        )
        for lo, hi in zip(sizes, sizes[1:]):
            self.parts[str(hi)] = PixelCNN(
                config.level_net,
                channels=3,
                levels=256,
                image_size=hi,
                embedding=config.embedding,
                aux_channels=3,
                aux_levels=256,
                aux_size=lo,
            )

    def part_inputs(self, name, x):
        # Both views from x itself, by pyramid() (x may be a training crop).
        level = self.config.resolutions.index(int(name))
        factor = 2 ** (len(self.config.resolutions) - 1 - level)  # from x down to this level
        views = pyramid(x, 2 if level else 1, top_factor=factor)
        return views[-1], views[0] if level else None

    def training_view(self, name, x, generator):
        """With ``config.crop``, a level above that resolution trains on one random crop per
        batch: crop x crop pixels of the level, at an even offset, so that the crop's half is
        exactly the matching crop of the half-resolution view (its 2x2 blocks stay whole)."""
        crop, size = self.config.crop, int(name)
        if not crop or size <= crop:
            return x
        scale = x.shape[-1] // size  # pixels of x (the whole image) per pixel of the level
        top, left = (
            torch.randint((size - crop) // 2 + 1, (2,), generator=generator) * 2 * scale
        ).tolist()
        return x[..., top : top + crop * scale, left : left + crop * scale]

    def training_noise(self, name, x, generator):
        """Gaussian noise of ``config.input_noise``'s std for level ``name`` training on x (a
        batch or crop at the top resolution), or None. Trained only on true prefixes, a level
        may lean on its last pixels rather than on X̂ and, drawing, follow its own errors away
        from X̂ (chapter 03); noisy inputs leave X̂ the reliable source of each pixel."""
        std = self.config.level_noise.get(int(name))
        if not std:
            return None
        side = x.shape[-1] * int(name) // self.image_size
        return std * torch.randn(x.shape[0], 3, side, side, generator=generator)

    def part_dims(self, name):
        return 3 * int(name) ** 2

    def bpd_by_resolution(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Bits per dimension of the whole image at each resolution r: -log p(X_r) / (3 r²)."""
        return self.tables(self.nll(x))["bpd_by_resolution"]

    def tables(self, nll):
        """``"bpd"`` and ``"bpd_by_resolution"`` (:meth:`bpd_by_resolution`, paper Table 2)."""
        total, by_resolution = 0.0, {}
        for size in self.config.resolutions:
            total = total + nll[str(size)]
            by_resolution[str(size)] = total / (3 * size**2 * math.log(2))
        return super().tables(nll) | {"bpd_by_resolution": by_resolution}

    @classmethod
    def config_at(cls, config, resolution):
        """``config`` up to the level at ``resolution`` (one of its resolutions)."""
        if resolution not in config.resolutions:
            raise ConfigError(
                f"this pyramid samples at {', '.join(map(str, config.resolutions))}, "
                f"not {resolution}"
            )
        return configs.replace(
            config, resolutions=tuple(r for r in config.resolutions if r <= resolution)
        )

    def auxiliary(self, x):
        """x one level down, at half its resolution: what :meth:`~auxpix.models.AuxiliaryVariableModel.sample` upscales."""
        return pyramid(x, 2)[0]

    def log_prob(self, x, reduction="sum"):
        if reduction != "sum":
            raise ValueError("a pyramid's parts live at different resolutions: use reduction='sum'")
        return super().log_prob(x)

    def sample_stages(self, n, aux, sampler, *, map, log_scale_shift):
        """Every level, lowest resolution first (paper Figure 6), each [n, 3, r, r] keyed by its
        resolution (``"8"``, ``"16"``, ...), the top one by ``"image"``. ``aux``: a given image at
        one of the resolutions to upscale from (it is the first stage). ``map`` and
        ``log_scale_shift`` may be given per level."""
        sizes = self.config.resolutions
        maps = _per_level(map, len(sizes), "map")
        shifts = _per_level(log_scale_shift, len(sizes), "log_scale_shift")
        first, levels = 0, []
        if aux is not None:
            check_images(aux, channels=3, who="a pyramid's aux")
            if aux.shape[-1] not in sizes:
                raise ValueError(
                    f"aux must be at one of the resolutions {sizes}, got {list(aux.shape)}"
                )
            first, levels = sizes.index(aux.shape[-1]) + 1, [aux.to(self._device()).to(torch.uint8)]
        for level in range(first, len(sizes)):
            below = levels[-1].long() if levels else None
            part = self.parts[str(sizes[level])]
            levels.append(
                part.sample(n, below, map=maps[level], log_scale_shift=shifts[level], **sampler)
            )
        names = [str(level.shape[-1]) for level in levels[:-1]] + ["image"]
        return dict(zip(names, levels))


def _per_level(value, count, name):
    if isinstance(value, (bool, int, float)):
        return [value] * count
    value = list(value)
    if len(value) != count:
        raise ValueError(f"{name} needs one value per level ({count}), got {len(value)}")
    return value


MODEL_CLASSES: dict[str, type[AuxiliaryVariableModel]] = {}


def register(cls: type[AuxiliaryVariableModel], presets: dict | None = None) -> None:
    """Make ``cls`` a model kind (``cls.kind``) that :func:`auxpix.build`, ``from_config``, the
    command line and the run store know, with its named ``presets`` (configs of
    ``cls.config_class``; None: those :mod:`auxpix.config` already holds for the kind)."""
    if cls.kind in MODEL_CLASSES:
        raise ConfigError(f"model kind {cls.kind!r} is registered already")
    if presets is not None:
        configs.add_presets(cls.kind, presets, cls.config_class)
    elif cls.kind not in configs.kinds():
        raise ConfigError(f"model kind {cls.kind!r} has no presets: pass them to register")
    MODEL_CLASSES[cls.kind] = cls


def unregister(kind: str) -> None:
    """Forget a kind added with :func:`register` (its class and presets)."""
    if kind not in MODEL_CLASSES:
        raise ConfigError(f"model kind {kind!r} is not registered")
    del MODEL_CLASSES[kind]
    configs.remove_presets(kind)


for _cls in (PixelCNNpp, GrayscalePixelCNN, PyramidPixelCNN):
    register(_cls)


def model_class(kind: str) -> type[AuxiliaryVariableModel]:
    """The class of model ``kind``."""
    if kind not in MODEL_CLASSES:
        raise ConfigError(
            f"unknown model kind {kind!r}: choose one of {', '.join(configs.kinds())}"
        )
    return MODEL_CLASSES[kind]


def from_config(config) -> AuxiliaryVariableModel:
    """The model a config describes."""
    for cls in MODEL_CLASSES.values():
        if type(config) is cls.config_class:
            model = cls(config)
            if config.train.init_std > 0:
                draw_directions(model, config.train.init_std)
            return model
    raise ConfigError(f"not a model config: {type(config).__name__}")


def build(kind: str, preset: str = "cpu", **overrides) -> AuxiliaryVariableModel:
    """A new model of ``kind`` (pixelcnnpp, grayscale, pyramid) at a named ``preset``
    (paper, cpu, smoke, ...), with config fields replaced by ``overrides``."""
    return from_config(preset_config(kind, preset, **overrides))
