"""The book's status table: every table and figure of the paper beside ours at a preset,
read from the notebooks' records (chapter 00 shows it; the README quotes it)."""

from __future__ import annotations

import pandas as pd

from .. import paper
from ..budgets import paper_epochs
from ..config import preset as preset_config
from ..errors import ConfigError
from . import registry
from .tables import (
    CELEBA_FACES,
    EXACT_TEST,
    JPEG_TEST,
    paper_aux_share,
    paper_cifar10_bpd,
    paper_cifar10_text,
    paper_speed_summary,
    sampling_speeds,
    speed_comparison,
    speed_summary,
    training_note,
)

CIFAR10_DATA = "trained on our JPEG-decoded copy"
PAPER_GRAYSCALE = (
    f"{paper_epochs('grayscale', 'aux')} + {paper_epochs('grayscale', 'cond')} epochs on GPUs"
)


def status_table(preset: str) -> pd.DataFrame:
    """Every table and figure of the paper: the paper's value, ours at ``preset`` (from the
    notebooks' records), the gap, why there is one, and the data and compute behind ours
    (each row's number comes from one data set, named in its last column)."""
    status = _Status(preset)
    runs = {
        "grayscale": ("grayscale", preset),
        "pixelcnnpp": ("pixelcnnpp", preset),
        "pyramid": ("pyramid", preset),
        "pyramid-cifar": ("pyramid", f"{preset}-cifar"),
    }
    trained = {name: training_note(*run) for name, run in runs.items()}
    _add_cifar10_rows(status, trained)
    _add_grayscale_rows(status, trained["grayscale"])
    _add_celeba_rows(status, trained["pyramid"])
    _add_figure_rows(status, trained)
    status.add(
        "§4.2: s/pixel at 128x128, Pyramid vs cached PixelCNN++ (ratio)",
        paper_speed_summary(),
        "sampling_speed",
        "comparison_rows",
        show=_speeds,
        why="device: ours is timed on the device named here, the paper's on a Titan X GPU",
    )
    return pd.DataFrame(status.rows).set_index("paper item")


def _add_cifar10_rows(status, trained: dict) -> None:
    """Table 1's rows and §4.2's CIFAR-10 pyramid: total test bits/dim on exact pixels."""
    for kind, title, paper_compute in [
        ("grayscale", "Table 1: Grayscale PixelCNN", PAPER_GRAYSCALE),
        ("pixelcnnpp", "Table 1: PixelCNN++", "a PixelCNN++ trained for days on GPUs"),
        ("pyramid", "§4.2: Pyramid PixelCNN on CIFAR-10", "GPUs"),
    ]:
        run = "pyramid-cifar" if kind == "pyramid" else kind
        status.add(
            f"{title}, bits/dim",
            paper_cifar10_text(kind),
            "cifar10_likelihoods",
            f"{kind}_total",
            on=EXACT_TEST,
            paper_value=paper_cifar10_bpd(kind),
            why=f"compute: {trained[run]} (paper: {paper_compute}); {CIFAR10_DATA}",
        )


def _add_grayscale_rows(status, trained: str) -> None:
    """§4.1's split of the Grayscale PixelCNN's bits between p(X̂) and p(X | X̂)."""
    gray_why = f"compute: {trained} (paper: {PAPER_GRAYSCALE}); {CIFAR10_DATA}"
    split = paper.GRAYSCALE_SPLIT
    paper_aux = (split["aux_train"], split["aux_test"])
    status.add(
        "§4.1: p(X̂) train / test, bits/dim",
        " / ".join(f"{v:g}" for v in paper_aux),
        "cifar10_likelihoods",
        ("aux_train", "aux_test"),
        on=JPEG_TEST,
        paper_value=paper_aux,
        show=_bits_pair,
        why=gray_why,
    )
    status.add(
        "§4.1: p(X | X̂), bits/dim",
        f"{split['cond_test']:g}",
        "cifar10_likelihoods",
        "cond_test",
        on=EXACT_TEST,
        paper_value=split["cond_test"],
        why=gray_why,
    )
    status.add(
        "§4.1: p(X̂) share of the bits",
        f"{paper_aux_share():.1%}",
        "cifar10_likelihoods",
        "aux_share",
        on=EXACT_TEST,
        paper_value=paper_aux_share(),
        show=_share,
        why=gray_why,
    )


def _add_celeba_rows(status, trained: str) -> None:
    """Table 2: the CelebA pyramid's bits/dim of the whole image at each resolution."""
    celeba_why = (
        f"compute: {trained} (paper: {paper_epochs('pyramid')} epochs on GPUs); data: our "
        f"{CELEBA_FACES:,} CelebA faces of 200 people (paper: 202,599)"
    )
    levels = _pyramid_levels(status.preset)
    for r, value in paper.TABLE2.items():
        status.add(
            f"Table 2: CelebA {r}x{r}, bits/dim (whole image)",
            f"{value:g}",
            "celeba_pyramid",
            f"whole_{r}",
            absent=levels is not None and r not in levels,
            paper_value=value,
            why=celeba_why,
            why_absent=f"this preset's pyramid stops below {r}x{r} (compute: see How to reproduce)",
        )


def _add_figure_rows(status, trained: dict) -> None:
    """The paper's figures: pictures, compared in their chapters, not numbers."""
    pictures = "pictures: compare them in the chapter"
    for title, name, run in [
        ("Figures 2–3: grayscale samples, colorization", "grayscale_samples", "grayscale"),
        ("Figure 4: variance reduction", "variance_reduction", "pyramid"),
        ("Figures 5–6: MAP samples, pyramid levels", "celeba_pyramid", "pyramid"),
    ]:
        status.add(
            title,
            "images",
            name,
            "figures",
            show=_figures,
            why=f"{pictures}; {trained[run]}",
        )


def _pyramid_levels(preset: str):
    """The resolutions of the CelebA pyramid at ``preset``, or None for a preset it does not have."""
    try:
        return preset_config("pyramid", preset).resolutions
    except ConfigError:
        return None


def _bits(value, theirs) -> tuple[str, str]:
    return f"{value:.3f}", "" if theirs is None else f"{value - theirs:+.3f}"


def _bits_pair(values, theirs) -> tuple[str, str]:
    return " / ".join(f"{v:.3f}" for v in values), " / ".join(
        f"{v - t:+.3f}" for v, t in zip(values, theirs)
    )


def _share(value, theirs) -> tuple[str, str]:
    """A share and its gap in percentage points (a difference of percentages is not a percentage)."""
    return f"{value:.1%}", f"{100 * (value - theirs):+.1f} pp"


def _figures(counts: dict, theirs) -> tuple[str, str]:
    """{"samples": 16, ..., "seed": 0} as "16 samples, ... (seed 0)"."""
    shown = ", ".join(f"{count} {what}" for what, count in counts.items() if what != "seed")
    return f"{shown} (seed {counts['seed']})", ""


def _speeds(rows, theirs) -> tuple[str, str]:
    return speed_summary(speed_comparison(sampling_speeds(rows))), ""


class _Status:
    """The rows of :func:`status_table`, each read from one notebook's record at one preset."""

    def __init__(self, preset: str):
        self.preset, self.rows, self.records = preset, [], {}

    def add(
        self,
        what,
        theirs,
        notebook,
        key,
        *,
        on=None,
        absent=False,
        paper_value=None,
        show=_bits,
        why="",
        why_absent="",
    ):
        """A row for value ``key`` (a tuple: several values) of ``notebook``'s record, on its
        data set ``on``; ``absent``: the preset has no such value (``why_absent`` says why)."""
        if absent:
            self.rows.append(self._row(what, theirs, "not in this preset", "", why_absent, ""))
            return
        if notebook not in self.records:
            self.records[notebook] = registry.recorded(notebook, self.preset)
        saved = self.records[notebook]
        if not saved:
            self.rows.append(self._row(what, theirs, "not run yet", "", "", ""))
            return
        values = saved["values"].get(on, {}) if on else saved["values"]
        value = tuple(values.get(k) for k in key) if isinstance(key, tuple) else values.get(key)
        present = value is not None and (not isinstance(value, tuple) or None not in value)
        data = (
            saved["data"].get(on, "") if on and isinstance(saved["data"], dict) else saved["data"]
        )
        where = f"{self.preset}; {data}; {saved['compute']}"
        if present:
            ours, gap = show(value, paper_value)
            self.rows.append(self._row(what, theirs, ours, gap, why, where))
        else:
            self.rows.append(self._row(what, theirs, "not in this preset", "", why_absent, where))

    @staticmethod
    def _row(what, theirs, ours, gap, why, where) -> dict:
        return {
            "paper item": what,
            "paper": theirs,
            "ours": ours,
            "gap (ours − paper)": gap,
            "why the gap": why,
            "preset; data; compute": where,
        }
