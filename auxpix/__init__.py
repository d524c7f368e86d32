"""auxpix: PixelCNN models with auxiliary variables (Kolesnikov & Lampert, ICML 2017).

>>> import auxpix
>>> model = auxpix.build("grayscale", preset="smoke")
>>> model.eval(); parts = model.bpd(images)      # {"aux": ..., "cond": ..., "total": ...}
>>> gray, colour = model.sample(4)
"""

from .auxvars import downsample, grayscale_4bit, pyramid
from .config import KINDS, PRESETS, preset
from .errors import AuxpixError, CheckpointError, ConfigError, DataError
from .initialization import data_dependent_init
from .models import GrayscalePixelCNN, PixelCNNpp, PyramidPixelCNN, build, from_config
from .pixelcnn import PixelCNN

__all__ = [
    "KINDS",
    "PRESETS",
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
    "preset",
    "pyramid",
]
