"""Every sentence the book writes about its numbers: each function reads a table (or a few
numbers) and says what it shows, so that a claim changes when the numbers stop supporting it.

Paper numbers come from the tables' paper columns or ``auxpix.paper``, never from here.
"""

from __future__ import annotations

import pandas as pd

from .. import paper
from . import registry, tables
from .tables import AUX_SHARE, AUX_TEST, AUX_TRAIN, COND_TEST, EXACT_TEST, JPEG_TEST, PAPER


def smoke_caveat(preset: str) -> str:
    """What a reading adds at the smoke preset, whose models train for seconds."""
    return (
        " Smoke models are trained for seconds, so this says little about the paper's models."
        if preset == "smoke"
        else ""
    )


def _listed(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def loss_split(split: pd.DataFrame, preset: str) -> str:
    """What :func:`~auxpix.book.tables.loss_split`'s table says about the paper's claim that
    p(X̂) is only a small fraction of the likelihood: its share on exact pixels beside X̂'s
    share of the raw bits (4 of a pixel's 24) and which part of ours is further from the
    paper's, then p(X̂)'s train/test gap where training images were scored (the JPEG-decoded
    copy)."""
    exact, jpeg = tables.ours_on(split, EXACT_TEST), tables.ours_on(split, JPEG_TEST)
    share = split.loc[AUX_SHARE, exact]
    aux_gap = split.loc[AUX_TEST, exact] - split.loc[AUX_TEST, PAPER]
    cond_gap = split.loc[COND_TEST, exact] - split.loc[COND_TEST, PAPER]
    train_test_gap = split.loc[AUX_TEST, jpeg] - split.loc[AUX_TRAIN, jpeg]
    paper_train_test_gap = split.loc[AUX_TEST, PAPER] - split.loc[AUX_TRAIN, PAPER]
    raw = f"X̂'s share of the raw bits, {tables.RAW_BIT_SHARE:.1%}"
    if share < tables.RAW_BIT_SHARE:
        verdict = f"below {raw}, as the paper's is: the grayscale structure costs fewer bits per raw bit than the colour detail, as the paper claims"
    else:
        verdict = f"not below {raw}, unlike the paper's: the grayscale structure costs as many bits per raw bit as the colour detail or more"
    if cond_gap > aux_gap:
        further = "the colour model is further from the paper's than the grayscale one, which lowers p(X̂)'s share"
    else:
        further = "the grayscale model is further from the paper's than the colour one, which raises p(X̂)'s share"
    return (
        f"At the **{preset}** preset, on the {EXACT_TEST} images p(X̂) carries **{share:.1%}** of our Grayscale "
        f"PixelCNN's bits (paper: {split.loc[AUX_SHARE, PAPER]:.1%}): {verdict}. Against the paper's, our p(X̂) "
        f"is {aux_gap:+.3f} and our p(X | X̂) {cond_gap:+.3f} bits/dim: {further}. On the {JPEG_TEST} images, "
        f"the set we also scored training images of, p(X̂)'s train/test gap (test minus train) is "
        f"{train_test_gap:+.3f} bits/dim (paper: {paper_train_test_gap:+.3f}).{smoke_caveat(preset)}"
    )


def train_subset(n_images: int) -> str:
    """The caption of p(X̂)'s training-set score."""
    return f"p(X̂) on the training set: the first {n_images} training images"


NOT_FINE_TUNED = (
    "The exact-pixel experiment has not run at this preset: `scripts/finetune_exact.sh <preset>` "
    "trains it (1,500 steps, about 15 minutes on 2 cores at the cpu preset)."
)


def exact_pixels(table: pd.DataFrame) -> str:
    """What the exact-pixel experiment shows: does training on exact pixels for the extra
    steps, instead of on more JPEG-decoded ones, lower the exact-pixel bits/dim, and by how much?"""
    jpeg, exact = (registry.FINE_TUNES[data] for data in ("cifar10", "cifar10-lossless"))
    if not {jpeg, exact} <= set(table.index):
        return "Only one of the two runs is there: no comparison yet."
    on_exact, on_jpeg = (
        tables.ours_on(table, tables.EXACT_TEST),
        tables.ours_on(table, tables.JPEG_TEST),
    )
    gain = table.loc[jpeg, on_exact] - table.loc[exact, on_exact]
    cost = table.loc[exact, on_jpeg] - table.loc[jpeg, on_jpeg]
    verb = "lowers" if gain > 0 else "does not lower"
    return (
        f"At equal total compute, spending the extra steps on the 4,000 exact-pixel training images "
        f"{verb} the exact-pixel test bits/dim: {table.loc[exact, on_exact]:.3f} against "
        f"{table.loc[jpeg, on_exact]:.3f} ({-gain:+.3f}); on the JPEG-decoded test images it costs {cost:+.3f}. "
        f"Only the exact-pixel column compares with the paper's {tables.paper_cifar10_bpd('pixelcnnpp'):g}."
    )


NO_LEVEL_PILOT = (
    "The pyramid-level pilot has not run at this preset (scripts/pilot_pyramid_level.sh)."
)


def level_pilot(table: pd.DataFrame) -> str:
    """What the pyramid-level pilot shows: does the level beat the unconditional model at equal
    steps, and does it use its X̂ (how much worse it does given another image's)?"""
    column = table.columns[0]
    unconditional, own, other, flat = table[column].tolist()
    verdict = "fewer" if own < unconditional else "more"
    use = "relies on" if min(other, flat) - own > 0.5 else "makes little use of"
    return (
        f"Given its own half-resolution image, the conditional level needs {verdict} bits than the "
        f"unconditional PixelCNN++ after as many steps of the same recipe ({own:.3f} against "
        f"{unconditional:.3f}, {own - unconditional:+.3f}), and it {use} that image: given another image's "
        f"it needs {other:.3f}, given a flat one {flat:.3f}."
    )


def pilot_caption(
    pilot: dict, part: str, preset: str, *, earlier_architecture: bool = False
) -> str:
    """The caption of a sizing pilot's table, or why there is none; ``earlier_architecture``:
    its runs were saved by an older version of auxpix, whose networks and recipe differ from
    today's (they do not load)."""
    if not pilot:
        return f"No sizing pilot at preset {preset!r}: its networks were not chosen by one."
    caption = f"{len(pilot)} networks in the sizing pilot of part {part} at preset {preset!r}"
    if earlier_architecture:
        caption += (
            ", trained with an older version of auxpix, before its networks, initialization and "
            "recipe followed the paper and the authors' code: they show how the networks were "
            "sized, not what today's models reach"
        )
    return caption


def sizing_pilot(sizing: pd.DataFrame) -> str:
    """Which network of a :func:`~auxpix.book.tables.sizing_pilot` table won the budget, by
    how much, and whether its lead grew or shrank over the budget."""
    tested = [column for column in sizing.columns if column.startswith("test bpd")]
    first, final = tested[0], tested[-1]
    best = sizing[final].idxmin()
    lead = {
        column: sizing[column].drop(best).min() - sizing.loc[best, column]
        for column in (first, final)
    }
    when = {column: column.split(" at ")[1] for column in (first, final)}
    others = ", ".join(
        f"{name}: {value:.3f}" for name, value in sizing[final].items() if name != best
    )
    if lead[first] < 0:
        trend = f"It was {-lead[first]:.2f} bits/dim behind after {when[first]} and overtook the others later."
    elif lead[final] < lead[first]:
        trend = (
            f"Its lead shrinks from {lead[first]:.2f} bits/dim after {when[first]} to {lead[final]:.2f} after "
            f"{when[final]}: with a longer budget another network may win."
        )
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
    return (
        "What to look for: the colorizations should keep each test image's shapes and shading, since X̂ fixes them "
        "and p(X | X̂) only adds colour and detail; samples of p(X̂) should show objects, as the paper's Figure 2 "
        f"does, if the grayscale model has learnt high-level structure. Models: preset **{preset}**, "
        f"{training}.{smoke_caveat(preset)}"
    )


def celeba_test_caption(n_images: int, split: str) -> str:
    """The caption of Table 2: which CelebA images it scores, under which split (``split``:
    the model config's ``celeba_split``)."""
    return f"{n_images} CelebA test images ({tables.CELEBA_SPLITS[split]}, of the {tables.CELEBA_FACES:,} images we have)"


def crop_training(config) -> str:
    """How a pyramid whose config sets ``crop`` trained the levels above it (aligned random
    crops), and that they are scored on whole images; "" for a pyramid without crops."""
    above = [f"{r}x{r}" for r in config.resolutions if config.crop and r > config.crop]
    if not above:
        return ""
    c, levels = config.crop, "levels" if len(above) > 1 else "level"
    return (
        f"To fit the training budget, the {_listed(above)} {levels} trained on aligned random {c}x{c} crops, "
        f"each with the matching {c // 2}x{c // 2} crop of the image it conditions on; every number here "
        "scores whole images."
    )


def _whole_if_per_level(r: int) -> float:
    """The whole r x r image's bits/dim if the paper's Table 2 gave each level's conditional
    bits: every level's bits up to r, weighted by its number of pixels."""
    return sum(bpd * s * s for s, bpd in paper.TABLE2.items() if s <= r) / (r * r)


def table2_quantity() -> str:
    """Why Table 2's "bits per dimension for different output resolutions" is read as the whole
    image at each resolution, -log p(X_r) / 3r², and not as each level's conditional bits."""
    low, cifar = sorted(paper.TABLE2)[1:3], paper.PYRAMID_CIFAR10
    whole = {r: _whole_if_per_level(r) for r in low}
    (a, b) = low
    costs = f"{a}x{a} face cost {whole[a]:.2f} bits/dim and a {b}x{b} face {whole[b]:.2f}"
    if whole[low[-1]] > cifar:
        return (
            f"We compare the paper's Table 2 with the whole image at each resolution, -log p(X_r) / 3r²: read as "
            f"each level's conditional bits, its numbers would make a whole {costs}, more than the "
            f"{cifar:g} its Pyramid PixelCNN needs for a CIFAR-10 image at {low[-1]}x{low[-1]}, though aligned faces "
            "are far more regular than CIFAR-10's photographs; the level's own bits are our second column."
        )
    return (
        f"Read as each level's conditional bits, the paper's Table 2 would make a whole {costs}, no more "
        f"than the {cifar:g} of its CIFAR-10 pyramid, so either reading is plausible; we compare the whole image at "
        "each resolution, -log p(X_r) / 3r², and show the level's own bits as our second column."
    )


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
    return (
        f"do not fall with every step up in resolution (they rise from {' and from '.join(rises)})"
    )


def _why_it_rises(whole: pd.Series, level: pd.Series) -> str:
    """Why the whole image's bits/dim rise where they do: at r they are a quarter of r/2's plus
    the level's own, so they rise exactly where the level's own exceed 3/4 of r/2's."""
    steps = [(low, high) for low, high in zip(whole.index[:-1], whole.index[1:])]
    rises = [(low, high) for low, high in steps if whole[high] >= whole[low]]
    if not rises:
        return ""
    each = "; ".join(
        f"at {high}, its level's own {level[high]:.2f} against 3/4 × {whole[low]:.2f} = "
        f"{0.75 * whole[low]:.2f}"
        for low, high in rises
    )
    return (
        " The whole image at r has a quarter of r/2's bits/dim plus its level's own, so it rises "
        f"exactly where a level's own bits exceed three quarters of the image below it: {each}."
    )


def pyramid_trend(table2: pd.DataFrame, preset: str) -> str:
    """How our Table 2 columns change with resolution: the whole image's (compared with the
    paper's) against the paper's trend and numbers, then the level's own bits."""
    whole, level, theirs = (
        table2[column].dropna() for column in (tables.WHOLE_IMAGE, tables.LEVEL, PAPER)
    )
    span = f"from {whole.index[0]} to {whole.index[-1]}"
    like = "like ours" if _falls(whole) == _falls(theirs) else "unlike ours"
    top = theirs.index[-1]
    gap = whole[top] - theirs[top]
    return (
        f"Our whole-image bits/dim, -log p(X_r) / 3r², go {_path(whole)} {span}: they {_trend(whole)}."
        f"{_why_it_rises(whole, level)} The "
        f"paper's Table 2 numbers for the same resolutions go {_path(theirs)}: they {_trend(theirs)}, {like}; at "
        f"{top} ours is {abs(gap):.2f} bits/dim {'above' if gap > 0 else 'below'} the paper's. Each level's own "
        f"bits, -log p(X_r | X_r/2) / 3r², go {_path(level)}: they {_trend(level)}.{smoke_caveat(preset)}"
    )


def variance_reduction(stats: pd.DataFrame, preset: str, training: str) -> str:
    """What reducing the log-scales from the first to the last of the paper's shifts does to
    the samples of a :func:`~auxpix.book.tables.sample_statistics` table: whether their
    sharpness and their bits/dim under the model move toward the real faces'."""
    low, high = paper.VARIANCE_REDUCTION_SHIFTS[0], paper.VARIANCE_REDUCTION_SHIFTS[-1]
    first, last = stats.loc[tables.shift_label(low)], stats.loc[tables.shift_label(high)]
    real = stats.loc[tables.REAL_FACES]

    def moves(column: str, what: str) -> str:
        closer = abs(last[column] - real[column]) < abs(first[column] - real[column])
        return f"brings their {what} {'closer to' if closer else 'no closer to'} the real faces'"

    sharp, bpd = tables.SHARPNESS, tables.SAMPLE_BPD
    return (
        f"From c = {low:g} to c = {high:g} the samples' sharpness goes from {first[sharp]:.1f} to {last[sharp]:.1f} "
        f"(real faces: {real[sharp]:.1f}) and their bits/dim under the model from {first[bpd]:.2f} to "
        f"{last[bpd]:.2f} (real faces: {real[bpd]:.2f}): reducing the scales {moves(sharp, 'sharpness')} "
        f"and {moves(bpd, 'bits/dim')}. Model: preset **{preset}**, {training}.{smoke_caveat(preset)}"
    )


def _times(ratio: float, than: str) -> str:
    """ "2.0x faster than X" for a ratio of X's time to ours of 2, "2.0x slower than X" for 0.5."""
    return (
        f"{ratio:.1f}x faster than {than}" if ratio > 1 else f"{1 / ratio:.1f}x slower than {than}"
    )


SAMPLER_NAMES = {
    tables.OURS_WINDOW: "with the authors' windowed sampler (no caching, the paper's setting)",
    tables.OURS_CACHED: "with our cached sampler",
    tables.OURS_COMPILED: "with our cached sampler compiled",
    tables.OURS_NAIVE: "with the naive one (a full pass per pixel)",
}


def sampling_speed(
    comparison: pd.DataFrame,
    face_seconds: float,
    compute: str = "this device",
    compiled_face: dict | None = None,
) -> str:
    """What a :func:`~auxpix.book.tables.speed_comparison` table says about §4.2's claim, like
    for like: every timed sampler of the pyramid (windowed, as the paper timed it, cached, ...)
    against the cached PixelCNN++ at 128x128 (the compiled one against the PixelCNN++
    compiled alike), beside the paper's ratio; each side's time beside the paper's (Titan X);
    and a whole face's time (``face_seconds``, cached; ``compiled_face``: {"seconds",
    "compile s"} of one drawn compiled), on ``compute``."""
    r = tables.COMPARISON_RESOLUTION
    paper_ratio = comparison.loc[tables.PAPER_SPEEDS, tables.SPEED_RATIO]
    ours = comparison.drop(index=tables.PAPER_SPEEDS)
    pixelcnnpp = ours.loc[tables.OURS_CACHED, tables.PIXELCNNPP_SPEED]
    each = "; ".join(
        f"{SAMPLER_NAMES[label]} {row[tables.PYRAMID_SPEED]:.4f} s, {_times(row[tables.SPEED_RATIO], 'it')}"
        + (
            f" (compiled alike, {row[tables.PIXELCNNPP_SPEED]:.4f} s)"
            if row[tables.PIXELCNNPP_SPEED] != pixelcnnpp
            else ""
        )
        for label, row in ours.iterrows()
    )
    text = (
        f"On {compute}, one image at a time, a cached PixelCNN++ samples a {r}x{r} pixel in {pixelcnnpp:.4f} s; "
        f"the Pyramid PixelCNN 8→{r} {each}. The paper (Titan X) has its pyramid without caching "
        f"{paper_ratio:.1f}x faster than the cached PixelCNN++."
    )
    if tables.OURS_WINDOW in ours.index:
        text += _both_sides(ours.loc[tables.OURS_WINDOW], paper_ratio)
    text += f" A whole face, 8x8 to {r}x{r}, took {face_seconds:.0f} s with the cached sampler"
    if compiled_face is None:
        return text + "."
    return (
        f"{text}, {compiled_face['seconds']:.0f} s with it compiled (after "
        f"{compiled_face['compile s']:.0f} s of compiling, once per process and batch)."
    )


def _both_sides(window: pd.Series, paper_ratio: float) -> str:
    """Each side of the windowed comparison against the paper's time, and what that makes of
    the ratio."""
    paper_pyramid, paper_pixelcnnpp = (
        paper.SECONDS_PER_PIXEL[kind] for kind in ("pyramid", "pixelcnnpp")
    )
    pixelcnnpp = paper_pixelcnnpp / window[tables.PIXELCNNPP_SPEED]
    pyramid = paper_pyramid / window[tables.PYRAMID_SPEED]
    text = (
        f" Each side against the paper's: our cached PixelCNN++ is {_times(pixelcnnpp, 'the paper')}'s "
        f"{paper_pixelcnnpp:g} s, our windowed pyramid {_times(pyramid, 'the paper')}'s {paper_pyramid:g} s."
    )
    ratio = window[tables.SPEED_RATIO]
    if ratio >= paper_ratio:
        return f"{text} Like for like, the pyramid is faster here too, by at least the paper's {paper_ratio:.1f}x."
    if ratio > 1:
        return f"{text} Like for like, the pyramid is faster here too, by less than the paper's {paper_ratio:.1f}x."
    reasons = []
    if pyramid < 1:
        reasons.append(
            "a windowed step costs a CPU time in proportion to the window's pixels, which a GPU computes in parallel"
        )
    if pixelcnnpp > 1:
        reasons.append("the paper's cached PixelCNN++ took longer per pixel than ours does here")
    why = f": {'; and '.join(reasons)}" if reasons else ""
    return f"{text} Like for like, the paper's speed-up does not hold here{why}."


def window_changes(changes: dict[str, float], *, window: int, n: int, reference: str) -> str:
    """What ``auxpix.bench.window_draw_changes`` (``changes``: {level: share of sampled
    values that changed}, on ``n`` images of a pyramid's levels) says about the windowed
    sampler's error against exact sampling with ``reference``."""
    sampled = {level: share for level, share in changes.items() if int(level) > window}
    exact = [f"{level}x{level}" for level in changes if int(level) <= window]
    if not sampled:
        return (
            f"Every level counted ({', '.join(exact)}) fits in the {window}x{window} window, which then sees the "
            "whole image: the windowed sampler is exact there, and its error shows only at larger levels."
        )
    each = " and ".join(
        f"{round(share * 3 * int(level) ** 2 * n):,} of the {3 * int(level) ** 2 * n:,} sampled values "
        f"of the {level}x{level} level ({share:.2%})"
        for level, share in sampled.items()
    )
    fits = f"; the {' and '.join(exact)} levels fit in the window and are exact" if exact else ""
    return (
        f"With the same random numbers, the {window}x{window} window changed {each} against exact sampling "
        f"({reference}, float64, {n} image{'s' if n > 1 else ''}){fits}. The window cuts context only where a "
        "pixel's receptive field is wider than the window, and a draw changes only when that moves its "
        "distribution across a bin boundary of the random number; these weights are untrained, so a trained "
        "model's share may differ."
    )


def timing_conditions(
    compute: str,
    loads: tuple[float, float],
    others: float | None,
    cores: int | None,
    threads: int,
    also_running: str = "",
) -> str:
    """Under what conditions chapter 05 timed: the device (``compute``: its compute label),
    the machine's 1-minute load average when the timing began and when it ended (``loads``),
    how many cores other processes kept busy on average meanwhile (``others``, see
    ``auxpix.bench.other_load``; None if unknown), on ``cores`` cores (None: a record that
    does not say) with the timing's own ``threads``; ``also_running``: what else ran, if known."""
    text = (
        f"Timed on {compute}, one image at a time; the 1-minute load average was {loads[0]:.2f} when the timing "
        f"began and {loads[1]:.2f} when it ended" + (f", on {cores} cores" if cores else "")
    )
    if others is None:
        text += " (how busy other processes kept the cores is unknown on this system)."
    elif cores and others + threads > cores:
        text += (
            f"; other processes kept {others:.2f} cores busy on average meanwhile: they competed for the cores, "
            "so these figures are slower and noisier than on an idle machine."
        )
    elif others >= 0.25:
        text += (
            f"; other processes kept {others:.2f} cores busy on average meanwhile, beside the timing's {threads} "
            "thread(s), sharing memory and caches: these figures may be somewhat slower than on an idle machine."
        )
    else:
        text += (
            f"; other processes kept {others:.2f} cores busy on average meanwhile: little else ran."
        )
    return text + (f" Also running: {also_running}." if also_running else "")
