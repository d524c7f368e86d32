"""The paper's claims put to the test, one row each: the paper's number, ours at a preset (read
from the chapters' records), the criterion, and a verdict computed from the two — never
written by hand. A claim whose numbers are not recorded at the preset (its chapter was not
run, or its model is to be retrained) is "not measurable at this preset".
"""

from __future__ import annotations

import pandas as pd

from .. import paper
from . import registry, tables

HOLDS = "holds"
FAILS = "does not hold here"
NOT_MEASURABLE = "not measurable at this preset"
NO_NUMBER = "—"  # what "ours" shows for a claim that is not measurable

# The criteria. The paper's numbers come with no error bars; these are the margins issue 13 set.
AUX_SHARE_RANGE = (0.05, 0.30)  # "a small share": p(X̂) between 5 % and 30 % of the bits
MATCH_MARGIN = 0.10  # "matches": the Grayscale PixelCNN at most 0.10 bits/dim above PixelCNN++
PYRAMID_MARGIN = 0.20  # "about 0.4 more": at most 0.2 bits/dim more than the paper's gap (so 0.60)
SPEED_FACTOR = 2.0  # "about 12.5x faster": at least the paper's ratio divided by this
COHERENCE = {"supported": True, "contradicted": False, "undecided": False}  # chapter 06's verdicts


def _verdict(ok: bool | None) -> str:
    return NOT_MEASURABLE if ok is None else HOLDS if ok else FAILS


class _Records:
    """The chapters' records at one preset, each read once."""

    def __init__(self, preset: str):
        self.preset, self._records = preset, {}

    def get(self, notebook: str) -> dict | None:
        """``notebook``'s record, or None when the chapter has not run at this preset."""
        if notebook not in self._records:
            self._records[notebook] = registry.recorded(notebook, self.preset)
        return self._records[notebook]

    def where(self, record: dict | None, on: str | None = None) -> str:
        if record is None:
            return ""
        data = (
            record["data"].get(on, "")
            if on and isinstance(record["data"], dict)
            else record["data"]
        )
        return f"{self.preset}; {data}; {record['compute']}"


def _row(claim, theirs, ours, criterion, ok, where) -> dict:
    return {
        "claim": claim,
        "paper": theirs,
        "ours": ours,
        "criterion": criterion,
        "verdict": _verdict(ok),
        "preset; data; compute": where,
    }


def _cifar_values(records: _Records) -> tuple[dict, dict | None]:
    """Chapter 01's numbers on the JPEG-decoded test subset (the models' own kind of data)."""
    record = records.get("cifar10_likelihoods")
    return (record or {}).get("values", {}).get(tables.JPEG_TEST, {}), record


def aux_share(records: _Records) -> dict:
    values, record = _cifar_values(records)
    share = values.get("aux_share")
    low, high = AUX_SHARE_RANGE
    ours = (
        NO_NUMBER
        if share is None
        else f"{share:.1%} ({values['aux_test']:.3f} of {values['grayscale_total']:.3f})"
    )
    ok = None if share is None else low <= share <= high
    return _row(
        "§4.1: p(X̂) is a small share of the Grayscale PixelCNN's bits",
        f"{tables.paper_aux_share():.1%} ({paper.GRAYSCALE_SPLIT['aux_test']:g} of "
        f"{paper.GRAYSCALE_SPLIT['total_test']:g})",
        ours,
        f"{low:.0%} to {high:.0%}",
        ok,
        records.where(record, tables.JPEG_TEST),
    )


def paper_gap(kind: str) -> float:
    """The paper's CIFAR-10 bits/dim of ``kind`` minus PixelCNN++'s."""
    return tables.paper_cifar10_bpd(kind) - tables.paper_cifar10_bpd("pixelcnnpp")


def _gap_row(records: _Records, kind: str, claim: str, limit: float) -> dict:
    """Ours holds when ``kind`` costs at most ``limit`` bits/dim more than PixelCNN++."""
    values, record = _cifar_values(records)
    theirs, base = values.get(f"{kind}_total"), values.get("pixelcnnpp_total")
    measured = theirs is not None and base is not None
    ours = f"{theirs:.3f} vs {base:.3f} ({theirs - base:+.3f})" if measured else NO_NUMBER
    return _row(
        claim,
        f"{tables.paper_cifar10_bpd(kind):g} vs {tables.paper_cifar10_bpd('pixelcnnpp'):g} "
        f"({paper_gap(kind):+.2f})",
        ours,
        f"at most {limit:+.2f} above PixelCNN++",
        (theirs - base <= limit) if measured else None,
        records.where(record, tables.JPEG_TEST),
    )


def grayscale_matches(records: _Records) -> dict:
    return _gap_row(
        records,
        "grayscale",
        "Table 1: the Grayscale PixelCNN matches PixelCNN++ in bits/dim",
        MATCH_MARGIN,
    )


def pyramid_gap(records: _Records) -> dict:
    return _gap_row(
        records,
        "pyramid",
        "§4.2: the Pyramid PixelCNN costs about 0.4 bits/dim more than PixelCNN++ on CIFAR-10",
        paper_gap("pyramid") + PYRAMID_MARGIN,
    )


def celeba_falls(records: _Records) -> dict:
    record = records.get("celeba_pyramid")
    values = (record or {}).get("values", {})
    whole = {
        int(key.split("_")[1]): value for key, value in values.items() if key.startswith("whole_")
    }
    measured = len(whole) >= 2
    sizes = sorted(whole)
    ours = (
        " > ".join(f"{whole[r]:.2f}" for r in sizes) + f" ({sizes[0]}..{sizes[-1]})"
        if measured
        else NO_NUMBER
    )
    ok = all(whole[a] > whole[b] for a, b in zip(sizes, sizes[1:])) if measured else None
    if measured and not ok:
        ours = ours.replace(" > ", ", ")
    return _row(
        "Table 2: CelebA whole-image bits/dim fall with resolution",
        " > ".join(f"{v:g}" for v in paper.TABLE2.values()) + " (8..128)",
        ours,
        "lower at every step up",
        ok,
        records.where(record),
    )


def sharpening(records: _Records) -> dict:
    record = records.get("variance_reduction")
    sharp = (record or {}).get("values", {}).get("sharpness", {})
    plain, reduced, mode = (
        sharp.get(label)
        for label in (
            tables.shift_label(0.0),
            tables.shift_label(paper.VARIANCE_REDUCTION_SHIFTS[-1]),
            tables.MAP,
        )
    )
    measured = None not in (plain, reduced, mode)
    ours = (
        (
            f"sharpness {plain:.1f} (c = 0) → {reduced:.1f} (c = {paper.VARIANCE_REDUCTION_SHIFTS[-1]:g}), "
            f"{mode:.1f} (MAP)"
        )
        if measured
        else NO_NUMBER
    )
    return _row(
        "Fig. 4: variance reduction and MAP sampling sharpen the samples",
        "pictures only",
        ours,
        "sharper than plain sampling at c = 1 and with MAP",
        (reduced > plain and mode > plain) if measured else None,
        records.where(record),
    )


def sampling_speed(records: _Records) -> dict:
    record = records.get("sampling_speed")
    rows = (record or {}).get("values", {}).get("comparison_rows")
    comparison = tables.speed_comparison(tables.sampling_speeds(rows)) if rows else None
    measured = comparison is not None and tables.OURS_WINDOW in comparison.index
    theirs = paper.SECONDS_PER_PIXEL["pixelcnnpp"] / paper.SECONDS_PER_PIXEL["pyramid"]
    ratio = comparison.loc[tables.OURS_WINDOW, tables.SPEED_RATIO] if measured else None
    ours = (
        f"{ratio:.2g}x (pyramid without caching vs cached PixelCNN++, 128x128)"
        if measured
        else NO_NUMBER
    )
    return _row(
        "§4.2: the pyramid samples a pixel about 12.5x faster than a cached PixelCNN++",
        f"{theirs:.1f}x ({paper.SECONDS_PER_PIXEL['pyramid']:g} vs {paper.SECONDS_PER_PIXEL['pixelcnnpp']:g} "
        "s/pixel, Titan X)",
        ours,
        f"at least {theirs / SPEED_FACTOR:.2g}x",
        (ratio >= theirs / SPEED_FACTOR) if measured else None,
        records.where(record),
    )


def coherent_samples(records: _Records) -> dict:
    record = records.get("sample_quality")
    verdict = (record or {}).get("values", {}).get("verdict")
    measured = verdict in COHERENCE
    return _row(
        "§4.1, Figs. 2–3: the Grayscale PixelCNN's samples are more globally coherent than PixelCNN++'s",
        "pictures only",
        verdict if measured else NO_NUMBER,
        "better on both sample scores of chapter 06 by more than twice their spread",
        COHERENCE[verdict] if measured else None,
        records.where(record),
    )


CLAIMS = (
    aux_share,
    grayscale_matches,
    pyramid_gap,
    celeba_falls,
    sharpening,
    sampling_speed,
    coherent_samples,
)


def claims_table(preset: str) -> pd.DataFrame:
    """One row per claim of the paper: the paper's number, ours at ``preset``, the criterion,
    the verdict computed from them, and the preset, data and compute behind ours."""
    records = _Records(preset)
    return pd.DataFrame([claim(records) for claim in CLAIMS]).set_index("claim")
