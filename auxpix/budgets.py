"""How long the book trains each model: the budget per preset family and the paper's epochs
(section 4), the one source that the registry, ``scripts/reproduce_paper.sh`` and
``scripts/size_cpu_preset.sh`` read."""

from __future__ import annotations

from .errors import ConfigError

# The budget the book trains each model with, per preset family (a preset's name before "-"):
# cpu: two hours of wall-clock time on one thread (two models train side by side on 2 cores),
# shared among a model's parts (see budget); paper: section 4's epochs (PAPER_EPOCHS).
BUDGETS = {"smoke": {"steps": 150}, "cpu": {"minutes": 120}}
# The paper's epochs per model, or per part where they differ (section 4).
PAPER_EPOCHS = {"pixelcnnpp": 200, "grayscale": {"aux": 30, "cond": 200}, "pyramid": 60}
# Shares of a model's minutes per part, by kind or by "kind:preset". p(X̂) takes a quarter of
# the Grayscale PixelCNN's: 16 values per pixel are learnt fast. The cpu CelebA pyramid's levels
# from 32x32 up all train on 32x32 images or crops, so equal shares give them about equal steps:
# levels trained for too few steps follow their own last pixels rather than X̂ (chapter 03).
MINUTE_SHARES = {
    "grayscale": {"aux": 0.25, "cond": 0.75},
    "pyramid:cpu": {"8": 0.03, "16": 0.10, "32": 0.29, "64": 0.29, "128": 0.29},
}


def paper_epochs(kind: str, part: str | None = None) -> int:
    """The paper's training epochs of ``kind``, of its part ``part`` where its parts differ."""
    if kind not in PAPER_EPOCHS:
        raise ConfigError(
            f"no paper epochs for {kind!r}: the paper trains {', '.join(PAPER_EPOCHS)}"
        )
    epochs = PAPER_EPOCHS[kind]
    if isinstance(epochs, dict) and part not in epochs:
        raise ConfigError(
            f"the paper's {kind} epochs are per part: name one of {', '.join(epochs)}"
        )
    return epochs[part] if isinstance(epochs, dict) else epochs


def budget(kind: str, preset: str, part: str, parts) -> dict:
    """The training budget of part ``part`` of a ``kind`` model at ``preset`` whose parts are
    ``parts``: {"epochs": n}, {"steps": n} or {"minutes": m}. A model's minutes are shared
    among its parts by MINUTE_SHARES (of ``kind`` at ``preset``, else of ``kind``), else by resolution when its parts are a pyramid's levels
    (the bits are at the top), else equally."""
    family = preset.split("-")[0]
    if family == "paper":
        return {"epochs": paper_epochs(kind, part)}
    if family not in BUDGETS:
        raise ConfigError(
            f"no budget for preset {preset!r}: presets start with {', '.join(BUDGETS)} or paper"
        )
    if "minutes" not in BUDGETS[family]:
        return dict(BUDGETS[family])
    shares = MINUTE_SHARES.get(f"{kind}:{preset}", MINUTE_SHARES.get(kind))
    if shares:
        share = shares[part]
    elif all(name.isdigit() for name in parts):
        share = int(part) / sum(int(name) for name in parts)
    else:
        share = 1 / len(parts)
    return {"minutes": BUDGETS[family]["minutes"] * share}
