"""auxpix: PixelCNN models with auxiliary variables (Kolesnikov & Lampert, ICML 2017).

>>> import auxpix
>>> model = auxpix.build("grayscale", preset="smoke")
>>> model.eval(); parts = model.bpd(images)      # {"aux": ..., "cond": ..., "total": ...}
>>> stages = model.sample(4)                     # {"gray": ..., "image": ...}, uint8
>>> colour = stages["image"]                     # every model's final images

Adding a kind of model: a config dataclass with presets and an
:class:`~auxpix.models.AuxiliaryVariableModel` subclass, made known by :func:`register`.
"""

from .auxvars import downsample, grayscale_4bit, pyramid
from .config import PRESETS, kinds, preset
from .errors import AuxpixError, CheckpointError, ConfigError, DataError
from .initialization import data_dependent_init
from .models import (
    AuxiliaryVariableModel,
    GrayscalePixelCNN,
    PixelCNNpp,
    PyramidPixelCNN,
    build,
    from_config,
    register,
    unregister,
)
from .pixelcnn import PixelCNN

__all__ = [
    "PRESETS",
    "AuxiliaryVariableModel",
    "AuxpixError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "GrayscalePixelCNN",
    "PixelCNN",
    "PixelCNNpp",
    "PyramidPixelCNN",
    "build",
    "data_dependent_init",
    "downsample",
    "from_config",
    "grayscale_4bit",
    "kinds",
    "preset",
    "pyramid",
    "register",
    "unregister",
]
