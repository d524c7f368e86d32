"""Diagnostics of a Pyramid PixelCNN's conditional levels: do their samples keep to the view X̂
they were given, where (border or interior) they leave it, and why (issue 21).

Every measure takes a level ``name`` of a :class:`~auxpix.models.PyramidPixelCNN` and works on
what the model itself computes: X̂ of an image is :func:`auxpix.downsample` of it (the model's
rounding included), the per-pixel distributions are the part's own forward pass.

* :func:`consistency`: how far images X of a level are from the X̂ they were conditioned on,
  ``|downsample(X, 2) - X̂|`` in 0..255 units, overall, in a border band and the interior, per
  row, per column and as a map; the band's ratio to the interior with a bootstrap interval
  over the images (:func:`ratio_interval`).
* :func:`teacher_forced`: every pixel of a level drawn given the *true* prefix of an image (one
  forward pass), against the free-running sampler's own prefix.
* :func:`shift_ablation`: bits/dim given X̂ and given X̂ moved by one pixel (an off-by-one in
  f_w's alignment would make a shifted X̂ score better).
* :func:`pixel_bits`: bits/dim of each pixel of real images, averaged over the images, and
  :func:`band_means` of such a map (border band against interior).
* :func:`border_penalty`: what a pixel's bits rise by when the same content sits at the border
  (the central crop of an image scored on its own).
* :func:`surrounded_border`: the converse, the image's border pixels scored with reflected
  content around them.
* :func:`crop_ablation`: a level trained on crops, scored on whole images and on crops as
  training draws them, with f_w computed on the cropped X̂ (as training does) or on the whole
  X̂ and its features cropped.
* :func:`sample_given`: free-running draws with some pixels (a real border band) given.
* :func:`sampler_agreement`: the cached sampler against the naive one, in float64.
"""

from __future__ import annotations

import copy
import math
from collections import deque

import torch
from torch.nn.utils import parametrize

from .auxvars import downsample
from .fast_sampling import pixel_params
from .models import PyramidPixelCNN
from .pixelcnn import PixelCNN, in_eval_mode, to_unit

OFF = 8  # a pooled value this far (0..255 units) from X̂ counts as off
SHIFTS = ("aligned", "left", "right", "up", "down")


def border_mask(size: int, width: int) -> torch.Tensor:
    """[size, size] bool: True in the band of ``width`` pixels along the four edges."""
    if not (0 < width and 2 * width < size):
        raise ValueError(
            f"a border band of a {size}x{size} map must be 1..{(size - 1) // 2} pixels wide, "
            f"got {width}"
        )
    mask = torch.ones(size, size, dtype=torch.bool)
    mask[width : size - width, width : size - width] = False
    return mask


def band_means(values: torch.Tensor, width: int) -> dict[str, float]:
    """Means of a map [..., H, W] over its border band (``width`` pixels) and its interior."""
    border = border_mask(values.shape[-1], width).to(values.device)
    return {
        "border": values[..., border].double().mean().item(),
        "interior": values[..., ~border].double().mean().item(),
    }


def pooled_gap(x: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
    """``|downsample(x, 2) - aux|`` [B, C, H/2, W/2] (float64): how far the images x of a level
    are, once pooled as the model pools them, from the X̂ ``aux`` they were given."""
    if aux.shape[-2:] != torch.Size(s // 2 for s in x.shape[-2:]):
        raise ValueError(
            f"X̂ must be at half the images' size: images {list(x.shape)}, X̂ {list(aux.shape)}"
        )
    return (downsample(x.long(), 2) - aux.long()).abs().double()


def consistency(x: torch.Tensor, aux: torch.Tensor, *, border: int = 1) -> dict:
    """How well images x [B, 3, H, W] of a level keep to the X̂ ``aux`` [B, 3, H/2, W/2] they were
    conditioned on (:func:`pooled_gap`, 0..255 units, per colour value): ``mean`` and
    ``share_off`` (the share of values more than ``OFF`` = 8 away), each also over the band of
    ``border`` pooled pixels along the edges and over the interior; ``rows`` and ``columns``
    (the mean of each pooled row and column) and ``map`` (the mean over images and colours,
    [H/2, W/2]) as lists; ``border_ratio``, the band's mean over the interior's, with its
    :func:`ratio_interval` over the images. Real images' own pyramid gives 0 at the top level."""
    gap = pooled_gap(x, aux)
    off = (gap > OFF).double()
    band = border_mask(gap.shape[-1], border).to(gap.device)
    summary = {"border_width": border, "mean": gap.mean().item(), "share_off": off.mean().item()}
    for where, mask in (("border", band), ("interior", ~band)):
        summary[f"{where}_mean"] = gap[..., mask].mean().item()
        summary[f"{where}_share_off"] = off[..., mask].mean().item()
    inside = summary["interior_mean"]
    summary["border_ratio"] = summary["border_mean"] / inside if inside else math.nan
    summary["border_ratio_interval"] = ratio_interval(
        gap[..., band].mean(dim=(1, 2)), gap[..., ~band].mean(dim=(1, 2))
    )
    summary["rows"] = gap.mean(dim=(0, 1, 3)).tolist()
    summary["columns"] = gap.mean(dim=(0, 1, 2)).tolist()
    summary["map"] = gap.mean(dim=(0, 1)).tolist()
    return summary


def ratio_interval(border: torch.Tensor, interior: torch.Tensor, draws: int = 2000) -> list[float]:
    """The 5th and 95th percentiles of mean(border) / mean(interior) over the images resampled
    with replacement (a bootstrap; fixed seed): how far the ratio of per-image means ``border``
    and ``interior`` [B] could move with other images."""
    generator = torch.Generator().manual_seed(0)
    picks = torch.randint(len(border), (draws, len(border)), generator=generator)
    inside = interior.cpu()[picks].mean(dim=1)
    ratios = border.cpu()[picks].mean(dim=1) / inside.masked_fill(inside == 0, math.nan)
    return torch.nanquantile(ratios, torch.tensor([0.05, 0.95], dtype=ratios.dtype)).tolist()


def level_inputs(model: PyramidPixelCNN, name: str, x: torch.Tensor):
    """(X, X̂) of conditional level ``name`` for full-resolution images x, and its part."""
    part = model.parts[name]
    if not part.conditional:
        raise ValueError(f"level {name} of the pyramid is its base: it has no X̂")
    target, aux = model.part_inputs(name, x)
    return part, target, aux


@in_eval_mode
def _params(part: PixelCNN, x: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
    return part(x, aux)


def teacher_forced(
    part: PixelCNN,
    x: torch.Tensor,
    aux: torch.Tensor,
    *,
    map: bool = True,
    log_scale_shift: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Each pixel of x drawn from ``part``'s distribution given x's true prefix and X̂ ``aux``
    (one forward pass gives every pixel's), int64 [B, C, H, W]; ``map``/``log_scale_shift`` as
    in sampling. What the sampler would draw at a pixel if every earlier pixel were real."""
    params = _params(part, x, aux)
    return part.sample_pixel(
        params, map=map, log_scale_shift=log_scale_shift, generator=generator
    ).to(x.device)


def shift(aux: torch.Tensor, direction: str) -> torch.Tensor:
    """``aux`` with its content moved one pixel ``direction`` ("left", "right", "up", "down"),
    the vacated edge filled by replicating the edge row or column next to it ("aligned":
    unchanged). Edge replication adds no new content at the border (zero filling would)."""
    if direction not in SHIFTS:
        raise ValueError(f"shift direction must be one of {', '.join(SHIFTS)}, got {direction!r}")
    if direction == "left":
        return torch.cat([aux[..., 1:], aux[..., -1:]], dim=-1)
    if direction == "right":
        return torch.cat([aux[..., :1], aux[..., :-1]], dim=-1)
    if direction == "up":
        return torch.cat([aux[..., 1:, :], aux[..., -1:, :]], dim=-2)
    if direction == "down":
        return torch.cat([aux[..., :1, :], aux[..., :-1, :]], dim=-2)
    return aux


def _batches(images: torch.Tensor, batch_size: int, device):
    if len(images) == 0:
        raise ValueError("no images to diagnose")
    for start in range(0, len(images), batch_size):
        yield images[start : start + batch_size].to(device)


def _device(model) -> torch.device:
    return next(model.parameters()).device


@in_eval_mode
def shift_ablation(
    model: PyramidPixelCNN, name: str, images: torch.Tensor, *, batch_size: int = 16
) -> dict[str, float]:
    """Mean bits/dim of level ``name`` on full-resolution ``images`` given their X̂ as is
    (``"aligned"``) and moved one pixel each way (:func:`shift`, edge-replicated)."""
    sums = dict.fromkeys(SHIFTS, 0.0)
    for x in _batches(images, batch_size, _device(model)):
        part, target, aux = level_inputs(model, name, x)
        for direction in SHIFTS:
            nll = -part.log_prob(target, shift(aux, direction))
            bits = nll / (model.part_dims(name) * math.log(2))
            sums[direction] += bits.double().sum().item()
    return {direction: total / len(images) for direction, total in sums.items()}


@in_eval_mode
def pixel_bits(
    model: PyramidPixelCNN, name: str, images: torch.Tensor, *, batch_size: int = 16
) -> torch.Tensor:
    """Bits per dimension of each pixel of level ``name`` ([r, r], float64: the pixel's -log2 p
    over its 3 colours / 3), averaged over the full-resolution ``images``; the base level too."""
    total = None
    for x in _batches(images, batch_size, _device(model)):
        target, aux = model.part_inputs(name, x)
        nll = -model.parts[name].log_prob(target, aux, reduction="none")
        batch = (nll / (3 * math.log(2))).double().sum(dim=0)
        total = batch if total is None else total + batch
    return total / len(images)


ALL = slice(None)
SIDES = {"top": (0, ALL), "bottom": (-1, ALL), "left": (ALL, 0), "right": (ALL, -1)}


def _edges(bits: torch.Tensor) -> dict[str, float]:
    """Mean of a map [H, W] over its 1-pixel border band, its interior and each side."""
    sides = {side: bits[where].mean().item() for side, where in SIDES.items()}
    return {**band_means(bits, 1), **sides}


def _bits_map(part: PixelCNN, x: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
    """Bits per dimension of each pixel of x given X̂, summed over the images, [H, W]."""
    nll = -part.log_prob(x, aux, reduction="none")
    return nll.double().sum(dim=0) / (3 * math.log(2))


@in_eval_mode
def border_penalty(
    model: PyramidPixelCNN, name: str, images: torch.Tensor, *, margin: int, batch_size: int = 16
) -> dict:
    """What sitting at the border costs a pixel, its content kept: level ``name`` scores the
    central crop of each image (``margin`` level pixels off every side, X̂ cropped alike, f_w on
    the cropped X̂) against the same pixels scored in the whole image: mean bits/dim of the
    crop's 1-pixel border band, interior and each side (``"crop"``) and of the same pixels in
    the whole image (``"whole"``). The bottom row loses no pixel it is conditioned on, only f_w's
    view of X̂ below the crop."""
    if margin < 1 or margin % 2:
        raise ValueError(f"the margin must be a positive even number of pixels, got {margin}")
    maps = {"crop": 0.0, "whole": 0.0}
    for x in _batches(images, batch_size, _device(model)):
        part, target, aux = level_inputs(model, name, x)
        inner, half = slice(margin, -margin), slice(margin // 2, -margin // 2)
        maps["crop"] += _bits_map(part, target[..., inner, inner], aux[..., half, half])
        maps["whole"] += _bits_map(part, target, aux)[inner, inner]
    return {"margin": margin, **{key: _edges(m / len(images)) for key, m in maps.items()}}


@in_eval_mode
def surrounded_border(
    model: PyramidPixelCNN, name: str, images: torch.Tensor, *, pad: int, batch_size: int = 16
) -> dict:
    """The converse of :func:`border_penalty`: the image's own border pixels scored in place
    (``"whole"``) and surrounded by content, the full-resolution images reflect-padded so that
    level ``name`` gains ``pad`` pixels on every side (``"surrounded"``, f_w on the padded X̂):
    mean bits/dim of the image's 1-pixel border band, interior and each side. Where a border
    pixel costs more for what it shows, surrounding it changes little; where for where it
    sits, its bits fall."""
    if pad < 1 or pad % 2:
        raise ValueError(f"the padding must be a positive even number of pixels, got {pad}")
    scale, size = model.image_size // int(name), int(name)
    maps = {"whole": 0.0, "surrounded": 0.0}
    for x in _batches(images, batch_size, _device(model)):
        part, target, aux = level_inputs(model, name, x)
        maps["whole"] += _bits_map(part, target, aux)
        padded = torch.nn.functional.pad(x.double(), (pad * scale,) * 4, mode="reflect")
        _, target, aux = level_inputs(model, name, padded.long())
        maps["surrounded"] += _bits_map(part, target, aux)[pad : pad + size, pad : pad + size]
    return {"pad": pad, **{key: _edges(m / len(images)) for key, m in maps.items()}}


def crop_origin(model: PyramidPixelCNN, name: str, generator: torch.Generator):
    """(top, left), in the level's pixels, of the next crop ``model.training_view`` draws for
    level ``name`` with ``generator`` (it crops a grid of coordinates: the draw is training's)."""
    size = model.image_size
    scale = size // int(name)
    coords = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij"))
    crop = model.training_view(name, coords.unsqueeze(0), generator)
    if crop.shape[-1] == size:
        raise ValueError(f"level {name} trains on whole images, not crops")
    return int(crop[0, 0, 0, 0]) // scale, int(crop[0, 1, 0, 0]) // scale


def _crop_bits(part: PixelCNN, x, aux, top: int, left: int, crop: int) -> tuple[float, float]:
    """Bits/dim of the crop of one image x [1, 3, r, r] at (top, left): with f_w on the cropped
    X̂ (as training computes it) and with f_w on the whole X̂, its features cropped."""
    target = x[..., top : top + crop, left : left + crop]
    small = aux[..., top // 2 : (top + crop) // 2, left // 2 : (left + crop) // 2]
    dims = 3 * crop * crop * math.log(2)
    cropped = -part.log_prob(target, small).sum().item() / dims
    whole = part.embed(aux)[x.shape[-2]][..., top : top + crop, left : left + crop]
    params = part(target, embedding={crop: whole})
    embedded = -part.log_prob_from_params(target, params).sum().item() / dims
    return cropped, embedded


@in_eval_mode
def crop_ablation(
    model: PyramidPixelCNN, name: str, images: torch.Tensor, *, generator: torch.Generator
) -> dict[str, float]:
    """Level ``name`` (trained on crops) on full-resolution ``images``: mean bits/dim on the
    whole images (``"whole"``), on one random crop of each as training draws them (``"crop"``:
    f_w on the cropped X̂, as training computes it; ``"crop_whole_embedding"``: f_w on the whole
    X̂, its features cropped), and on those crops that touch an image border and those that do
    not (``"crop_at_border"``, ``"crop_inside"``, NaN when none), with how many touch one."""
    crop, size = model.config.crop, int(name)
    if not crop or size <= crop:
        raise ValueError(f"level {name} trains on whole images, not crops")
    whole, rows = 0.0, []
    for x in _batches(images, 1, _device(model)):
        part, target, aux = level_inputs(model, name, x)
        whole += -part.log_prob(target, aux).item() / (model.part_dims(name) * math.log(2))
        top, left = crop_origin(model, name, generator)
        at_border = top in (0, size - crop) or left in (0, size - crop)
        rows.append((*_crop_bits(part, target, aux, top, left, crop), at_border))
    table = torch.tensor(rows, dtype=torch.float64)
    at_border = table[:, 2].bool()
    return {
        "whole": whole / len(rows),
        "crop": table[:, 0].mean().item(),
        "crop_whole_embedding": table[:, 1].mean().item(),
        "crop_at_border": table[at_border, 0].mean().item(),
        "crop_inside": table[~at_border, 0].mean().item(),
        "crops_at_border": int(at_border.sum()),
        "crops": len(rows),
    }


@in_eval_mode
def sample_given(
    part: PixelCNN,
    aux: torch.Tensor,
    known: torch.Tensor,
    given: torch.Tensor,
    *,
    map: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A level drawn by the cached sampler given X̂ ``aux``, except the pixels where ``given``
    [H, W] is True, which keep ``known``'s values (int64 [B, C, H, W]): where the free-running
    draws go when those pixels are right (e.g. a real image's border band). With nothing given
    it draws what ``part.sample`` draws with the same generator."""
    x = torch.zeros_like(known, dtype=torch.long)
    network_input = to_unit(x, part.levels).to(next(part.parameters()).dtype)
    params_at = pixel_params("cached", part.network, part.embed(aux), network_input)
    with parametrize.cached():
        for i in range(part.image_size):
            for j in range(part.image_size):
                params = params_at(network_input, i, j)  # the cache advances at every pixel
                if given[i, j]:
                    value = known[:, :, i : i + 1, j : j + 1].long()
                else:
                    value = part.sample_pixel(params, map=map, generator=generator)
                x[:, :, i : i + 1, j : j + 1] = value
                network_input[:, :, i : i + 1, j : j + 1] = to_unit(value, part.levels)
    return x


def _sample_rows(part: PixelCNN, aux, rows: int, method: str, seed: int, map: bool):
    """The first ``rows`` rows of ``len(aux)`` images drawn by ``method`` with ``seed``."""
    generator = torch.Generator(_device(part)).manual_seed(seed)
    steps = part.sample_steps(len(aux), aux, method=method, map=map, generator=generator)
    with torch.no_grad(), parametrize.cached():
        image = deque((s for _, s in zip(range(rows * part.image_size), steps)), maxlen=1)[0]
    return image[:, :, :rows].clone()


@in_eval_mode
def sampler_agreement(
    part: PixelCNN, aux: torch.Tensor, *, rows: int, seed: int = 0, map: bool = True
) -> dict[str, int]:
    """The cached sampler against the naive one (the reference) on a float64 copy of ``part``,
    the same ``seed``, given X̂ ``aux``: the first ``rows`` rows of each image; ``"differ"``: how
    many of their values differ (0 when the cached sampler is exact), of ``"values"``."""
    if not 0 < rows <= part.image_size:
        raise ValueError(f"rows must be 1..{part.image_size}, got {rows}")
    exact = copy.deepcopy(part).double().eval()
    naive = _sample_rows(exact, aux, rows, "naive", seed, map)
    cached = _sample_rows(exact, aux, rows, "cached", seed, map)
    return {"differ": int((naive != cached).sum()), "values": naive.numel()}
