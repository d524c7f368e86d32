"""Our networks beside the paper's: each model's parts, their layer counts and parameters,
computed from the configs of two presets (the book's ``cpu`` against ``paper``), never typed
by hand. The models are built on PyTorch's "meta" device: shapes only, no memory, no time."""

from __future__ import annotations

import pandas as pd
import torch

from ..config import preset as preset_config
from ..models import from_config

# The book's models: (name, kind, preset suffix), in the order the chapters show them.
MODELS = (
    ("PixelCNN++", "pixelcnnpp", ""),
    ("Grayscale PixelCNN", "grayscale", ""),
    ("Pyramid PixelCNN 8→128 (CelebA)", "pyramid", ""),
    ("Pyramid PixelCNN 8→32 (CIFAR-10)", "pyramid", "-cifar"),
)
PART_NAMES = {"aux": "p(X̂)", "cond": "p(X | X̂)", "pixelcnnpp": "p(X)"}


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n < 1e7 else f"{n / 1e6:.1f} M"


def _net(config) -> str:
    """A network's residual blocks (per stream and resolution, as ``nr_resnet`` counts them;
    an embedding's in all) and filters: "5 / 160", "3 / 100 light"."""
    light = " light" if getattr(config, "light", False) else ""
    blocks = getattr(config, "nr_resnet", None) or config.nr_blocks
    return f"{blocks} / {config.nr_filters}{light}"


def _built(kind: str, preset: str):
    with torch.device("meta"):
        return from_config(preset_config(kind, preset))


def _part_rows(model, config) -> list[dict]:
    """One row per distinct network of ``model``: its part(s), the net and the embedding."""
    rows = []
    for name, part in model.parts.items():
        net = _part_config(config, name)
        row = {
            "part": PART_NAMES.get(name, f"{name}x{name}" if name.isdigit() else name),
            "network": _net(net),
            "network parameters": _count(part.network),
            "embedding f_w(X̂)": _net(config.embedding) if part.embedding is not None else "",
            "embedding parameters": _count(part.embedding) if part.embedding is not None else 0,
        }
        if rows and _same_network(rows[-1], row):  # a pyramid's levels above the base
            rows[-1]["part"] = f"{rows[-1]['part'].split(' to ')[0]} to {row['part']}"
            rows[-1]["copies"] += 1
        else:
            rows.append(row | {"copies": 1})
    return rows


def _same_network(a: dict, b: dict) -> bool:
    return all(a[key] == b[key] for key in b if key != "part")


def _part_config(config, name: str):
    """The network config of part ``name`` of a model config."""
    if name == "aux":
        return config.aux_net
    if name == "cond":
        return config.cond_net
    if name.isdigit():
        return config.base_net if int(name) == config.resolutions[0] else config.level_net
    return config.net


def sizes(preset: str = "cpu", against: str = "paper") -> pd.DataFrame:
    """Every network of the book's models at ``preset`` beside the same network at
    ``against``: residual blocks / filters (of the part's net and of its embedding f_w(X̂)),
    parameters and their ratio, and each model's total."""
    rows = []
    for name, kind, suffix in MODELS:
        built = {p: _built(kind, p + suffix) for p in (preset, against)}
        parts = {
            p: _part_rows(model, preset_config(kind, p + suffix)) for p, model in built.items()
        }
        for mine, theirs in zip(parts[preset], parts[against]):
            each = " (each)" if mine["copies"] > 1 else ""
            networks = {p: _network_text(found) for p, found in ((preset, mine), (against, theirs))}
            counts = {p: _parameters(found) for p, found in ((preset, mine), (against, theirs))}
            rows.append(_row(name, mine["part"] + each, networks, counts))
        if len(built[preset].parts) > 1:
            totals = {p: _count(model) for p, model in built.items()}
            rows.append(_row(name, "all", dict.fromkeys(built, ""), totals))
    return pd.DataFrame(rows).set_index(["model", "part"])


def _network_text(found: dict) -> str:
    embedding = found["embedding f_w(X̂)"]
    return found["network"] + (f", f_w(X̂) {embedding}" if embedding else "")


def _parameters(found: dict) -> int:
    return found["network parameters"] + found["embedding parameters"]


def _row(model: str, part: str, networks: dict, counts: dict) -> dict:
    (ours, theirs) = counts
    row = {"model": model, "part": part}
    for label in counts:
        row[f"{label}: blocks / filters"] = networks[label]
        row[f"{label}: parameters"] = _millions(counts[label])
    row[f"{theirs} / {ours}"] = f"{counts[theirs] / counts[ours]:.0f}x"
    return row
