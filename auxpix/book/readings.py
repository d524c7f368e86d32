"""Every sentence the book writes about its numbers: each function reads a table (or a few
numbers) and says what it shows, so that a claim changes when the numbers stop supporting it.

Paper numbers come from the tables' paper columns or ``auxpix.paper``, never from here.
"""
from __future__ import annotations

import pandas as pd

from .. import paper
from . import tables
from .tables import AUX_SHARE, AUX_TEST, AUX_TRAIN, CACHED, COND_TEST, EXACT_TEST, JPEG_TEST, NAIVE, PAPER

# Below a quarter of the bits we call p(X̂)'s share small, as the paper calls its 15 %.
SMALL_SHARE = 0.25


def smoke_caveat(preset: str) -> str:
    """What a reading adds at the smoke preset, whose models train for seconds."""
    return " Smoke models are trained for seconds, so this says little about the paper's models." if preset == "smoke" else ""


def loss_split(split: pd.DataFrame, preset: str) -> str:
    """What :func:`~auxpix.book.tables.loss_split`'s table says about the paper's claim that
    p(X̂) is a small share of the likelihood: its share on exact pixels and which part of
    ours is further from the paper's, then p(X̂)'s train/test gap where training images
    were scored (the JPEG-decoded copy)."""
    exact, jpeg = tables.ours_on(split, EXACT_TEST), tables.ours_on(split, JPEG_TEST)
    share = split.loc[AUX_SHARE, exact]
    aux_gap = split.loc[AUX_TEST, exact] - split.loc[AUX_TEST, PAPER]
    cond_gap = split.loc[COND_TEST, exact] - split.loc[COND_TEST, PAPER]
    train_test_gap = split.loc[AUX_TEST, jpeg] - split.loc[AUX_TRAIN, jpeg]
    paper_train_test_gap = split.loc[AUX_TEST, PAPER] - split.loc[AUX_TRAIN, PAPER]
    if share < SMALL_SHARE:
        verdict = "by this measure the grayscale structure is a small share of the likelihood, as the paper claims"
    else:
        verdict = "by this measure the grayscale structure is not a small share of the likelihood, unlike the paper's"
    if cond_gap > aux_gap:
        further = "the colour model is further from the paper's than the grayscale one, which lowers p(X̂)'s share"
    else:
        further = "the grayscale model is further from the paper's than the colour one, which raises p(X̂)'s share"
    return (f"At the **{preset}** preset, on the {EXACT_TEST} images p(X̂) carries **{share:.1%}** of our Grayscale "
            f"PixelCNN's bits (paper: {split.loc[AUX_SHARE, PAPER]:.1%}): {verdict}. Against the paper's, our p(X̂) "
            f"is {aux_gap:+.3f} and our p(X | X̂) {cond_gap:+.3f} bits/dim: {further}. On the {JPEG_TEST} images, "
            f"the set we also scored training images of, p(X̂)'s train/test gap (test minus train) is "
            f"{train_test_gap:+.3f} bits/dim (paper: {paper_train_test_gap:+.3f}).{smoke_caveat(preset)}")


def train_subset(n_images: int) -> str:
    """The caption of p(X̂)'s training-set score."""
    return f"p(X̂) on the training set: the first {n_images} training images"


def pilot_caption(pilot: dict, part: str, preset: str) -> str:
    """The caption of a sizing pilot's table, or why there is none."""
    if not pilot:
        return f"No sizing pilot at preset {preset!r}: its networks were not chosen by one."
    return f"{len(pilot)} networks in the sizing pilot of part {part} at preset {preset!r}"


def sizing_pilot(sizing: pd.DataFrame) -> str:
    """Which network of a :func:`~auxpix.book.tables.sizing_pilot` table won the budget, by
    how much, and whether its lead grew or shrank over the budget."""
    tested = [column for column in sizing.columns if column.startswith("test bpd")]
    first, final = tested[0], tested[-1]
    best = sizing[final].idxmin()
    lead = {column: sizing[column].drop(best).min() - sizing.loc[best, column] for column in (first, final)}
    when = {column: column.split(" at ")[1] for column in (first, final)}
    others = ", ".join(f"{name}: {value:.3f}" for name, value in sizing[final].items() if name != best)
    if lead[first] < 0:
        trend = f"It was {-lead[first]:.2f} bits/dim behind after {when[first]} and overtook the others later."
    elif lead[final] < lead[first]:
        trend = (f"Its lead shrinks from {lead[first]:.2f} bits/dim after {when[first]} to {lead[final]:.2f} after "
                 f"{when[final]}: with a longer budget another network may win.")
    else:
        trend = f"Its lead grows from {lead[first]:.2f} bits/dim after {when[first]} to {lead[final]:.2f} after {when[final]}."
    if "(the preset)" in best:
        used = "The preset uses it. "
    else:
        used = "The preset does not use it: its committed runs were trained before this pilot. "
    return f"After {when[final]}, **{best}** has the lowest test bits/dim ({sizing.loc[best, final]:.3f}; {others}). {used}{trend}"


def colorization(preset: str, training: str) -> str:
    """What to look for in chapter 02's figures, and the model behind them (``training``:
    :func:`~auxpix.book.tables.training_note`'s)."""
    return ("What to look for: the colorizations should keep each test image's shapes and shading, since X̂ fixes them "
            "and p(X | X̂) only adds colour and detail; samples of p(X̂) should show objects, as the paper's Figure 2 "
            f"does, if the grayscale model has learnt high-level structure. Models: preset **{preset}**, "
            f"{training}.{smoke_caveat(preset)}")


def celeba_test_caption(n_images: int) -> str:
    """The caption of Table 2: which CelebA images it scores."""
    return f"{n_images} CelebA test images (official split, of the {tables.CELEBA_FACES:,} images we have)"


def _path(series: pd.Series) -> str:
    return " → ".join(f"{value:.2f}" for value in series)


def _rises(series: pd.Series) -> list[str]:
    """The steps up in resolution over which ``series`` does not fall, e.g. ["8x8 to 16x16"]."""
    steps = zip(series.index[:-1], series.index[1:])
    return [f"{low} to {high}" for low, high in steps if series[high] >= series[low]]


def _falls(series: pd.Series) -> bool:
    return not _rises(series)


def _trend(series: pd.Series) -> str:
    rises = _rises(series)
    if not rises:
        return "fall with every step up in resolution"
    return f"do not fall with every step up in resolution (they rise from {' and from '.join(rises)})"


def pyramid_trend(table2: pd.DataFrame, preset: str) -> str:
    """How both of our Table 2 columns (per level, whole image) change with resolution, and
    which of them follows the paper's trend."""
    level, whole, theirs = (table2[column].dropna() for column in (tables.LEVEL, tables.WHOLE_IMAGE, PAPER))
    span = f"from {level.index[0]} to {level.index[-1]}"
    ours = {"per-level": level, "whole-image": whole}
    like = [name for name, series in ours.items() if _falls(series) == _falls(theirs)]
    if len(like) == len(ours):
        comparison = "like both of our columns"
    elif like:
        comparison = f"like our {like[0]} column and unlike our {next(n for n in ours if n not in like)} one"
    else:
        comparison = "unlike both of our columns"
    return (f"Our bits/dim per level, -log p(X_r | X_r/2) / 3r², go {_path(level)} {span}: they {_trend(level)}. "
            f"The whole image's, -log p(X_r) / 3r², go {_path(whole)}: they {_trend(whole)}. The paper's Table 2 "
            f"numbers for the same resolutions go {_path(theirs)}: they {_trend(theirs)}, {comparison}."
            f"{smoke_caveat(preset)}")


def variance_reduction(stats: pd.DataFrame, preset: str, training: str) -> str:
    """What reducing the log-scales from the first to the last of the paper's shifts does to
    the samples of a :func:`~auxpix.book.tables.sample_statistics` table: their sharpness and
    their bits/dim under the model, beside real faces'."""
    low, high = paper.VARIANCE_REDUCTION_SHIFTS[0], paper.VARIANCE_REDUCTION_SHIFTS[-1]
    first, last = stats.loc[tables.shift_label(low)], stats.loc[tables.shift_label(high)]
    real = stats.loc[tables.REAL_FACES]
    sharp, bpd = tables.SHARPNESS, tables.SAMPLE_BPD
    smooths = "smooths the samples" if last[sharp] < first[sharp] else "does not smooth the samples"
    if last[bpd] < first[bpd]:
        likely = "makes them more probable under the model"
    else:
        likely = "does not make them more probable under the model"
    return (f"From c = {low:g} to c = {high:g} the samples' sharpness goes from {first[sharp]:.1f} to {last[sharp]:.1f} "
            f"(real faces: {real[sharp]:.1f}) and their bits/dim under the model from {first[bpd]:.2f} to "
            f"{last[bpd]:.2f} (real faces: {real[bpd]:.2f}): reducing the scales {smooths} and {likely}. "
            f"Model: preset **{preset}**, {training}.{smoke_caveat(preset)}")


def sampling_speed(speeds: pd.DataFrame, face_seconds: float) -> str:
    """What a :func:`~auxpix.book.tables.sampling_speeds` table says about §4.2's claim: the
    cached pyramid against the cached PixelCNN++ per pixel, the same without caching, and a
    whole face's time (``face_seconds``)."""
    face, pixelcnnpp = speeds.loc[("pyramid", 128)], speeds.loc[("pixelcnnpp", 32)]
    ratio = pixelcnnpp[CACHED] / face[CACHED]
    cached = f"{ratio:.1f}x faster than" if ratio > 1 else f"{1 / ratio:.1f}x slower than"
    paper_ratio = paper.SECONDS_PER_PIXEL["pixelcnnpp"] / paper.SECONDS_PER_PIXEL["pyramid"]
    if face[NAIVE] < pixelcnnpp[CACHED]:
        naive = "faster than the cached PixelCNN++ here too"
    else:
        naive = ("slower than the cached PixelCNN++ here: a naive step's full-image pass is cheap on a GPU, which "
                 "computes all pixels in parallel, but costs time in proportion to the image on a CPU")
    return (f"On this device the cached pyramid samples a 128x128 face at {face[CACHED]:.4f} s per pixel, {cached} "
            f"the cached PixelCNN++ (paper, GPU, pyramid without caching: {paper_ratio:.1f}x faster); a whole face, "
            f"8x8 to 128x128, took {face_seconds:.0f} s. Without caching the pyramid is {naive}.")
