"""Test-set bits per dimension of a model and of each of its parts.

Evaluation is deterministic: dropout off (``model.eval()``) and no gradients. Results are
means over the images, as plain floats, ready for JSON. Under torchrun each process scores
its share of the images and the sums are added up.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from . import distributed
from .models import AuxiliaryVariableModel
from .pixelcnn import in_eval_mode
from .progress import progress_bar


@in_eval_mode
def evaluate_part(
    model: AuxiliaryVariableModel,
    name: str,
    images: torch.Tensor,
    *,
    batch_size: int | None = None,
    progress=False,
) -> float:
    """Mean bits per dimension of part ``name`` over ``images`` (the periodic test score of training)."""
    total = 0.0
    for x in _batches(model, images, batch_size, progress, desc=f"evaluating {name}"):
        total += model.part_bpd(name, x).double().sum().item()
    return distributed.total(total, next(model.parameters()).device) / len(images)


@in_eval_mode
def evaluate(
    model: AuxiliaryVariableModel,
    images: torch.Tensor,
    *,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict:
    """Mean bits per dimension of every part and the total over ``images`` (uint8 [N, 3, H, W]).

    Returns ``{"bpd": {part: ..., "total": ...}, "n_images": N}`` and any other table the
    model reports (:meth:`~auxpix.models.AuxiliaryVariableModel.tables`): for a pyramid
    ``"bpd_by_resolution": {r: bits/dim of the whole image at r x r}`` (paper, Table 2).
    Runs where the model is, or on ``device`` (the model is moved there).
    """
    model.check_images(images)
    if device is not None:
        model.to(device)
    sums: dict[str, dict[str, float]] = {}
    for x in _batches(model, images, batch_size, progress, desc="evaluating"):
        for key, values in model.tables(model.nll(x)).items():  # every table from one pass
            for name, value in values.items():
                sums.setdefault(key, {}).setdefault(name, 0.0)
                sums[key][name] += value.double().sum().item()
    device = next(model.parameters()).device
    means = {
        key: {
            name: distributed.total(value, device) / len(images) for name, value in values.items()
        }
        for key, values in sums.items()
    }
    return {**means, "n_images": len(images)}


def _batches(
    model, images: torch.Tensor, batch_size: int | None, progress: bool, desc: str
) -> Iterator[torch.Tensor]:
    """This process's share of ``images`` (all of them without torchrun) in batches (default:
    4x the training batch, which fits in memory since evaluation keeps no activations for
    gradients), moved to the model's device."""
    if len(images) == 0:
        raise ValueError("no images to evaluate")
    size = batch_size or 4 * model.config.train.batch_size
    device, images = next(model.parameters()).device, distributed.shard(images)
    for start in progress_bar(
        range(0, len(images), size), desc=desc, unit="batch", show=progress, leave=False
    ):
        yield images[start : start + size].to(device)


AUX_ABLATIONS = ("own", "another image's", "flat")


@in_eval_mode
def aux_ablation(
    model: AuxiliaryVariableModel, name: str, images: torch.Tensor, *, batch_size: int | None = None
) -> dict:
    """How much conditional part ``name`` uses its X̂: its mean bits/dim given each image's own
    X̂, given another image's (the batch's X̂ rolled by one), and given a flat X̂ (every value the
    middle of X̂'s range). A part that ignored X̂ would score the same three times."""
    net = model.parts[name]
    if not net.conditional:
        raise ValueError(
            f"part {name!r} of the {model.kind} model is unconditional: it has no X̂ to replace"
        )
    sums = dict.fromkeys(AUX_ABLATIONS, 0.0)
    for x in _batches(model, images, batch_size, False, desc=f"X̂ ablation of {name}"):
        if len(x) < 2:
            raise ValueError("the X̂ ablation needs batches of at least 2 images")
        target, aux = model.part_inputs(name, x)
        flat = torch.full_like(aux, net.aux_levels // 2)
        for label, given in zip(AUX_ABLATIONS, (aux, aux.roll(1, dims=0), flat)):
            nll = -net.log_prob(target, given)
            sums[label] += (nll / (model.part_dims(name) * math.log(2))).double().sum().item()
    return {label: total / len(images) for label, total in sums.items()}
