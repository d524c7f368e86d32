"""Chapter 06's verdict on the claim that the Grayscale PixelCNN's samples are more globally
coherent than PixelCNN++'s, the sentences it writes about its scores, and its record (the rows
are ``auxpix.book.sample_quality``'s entries, scored). The claims table (``auxpix.book.claims``)
judges the relative claim by this verdict and the absolute one, recognisable objects, by the
rows' confident shares."""

from __future__ import annotations

import math

from .readings import smoke_caveat
from .sample_quality import (
    CALIBRATION,
    CLASSIFIER_SCORE,
    CONFIDENT,
    DECISIVE,
    FRECHET,
    GRAYSCALE,
    MODEL,
    PIXELCNNPP,
    REAL,
    SCORED,
    scored,
)

NOT_TESTED = "not tested"  # the verdict when one of the two models has no scores


def coherence_verdict(rows: list[dict]) -> str:
    """The verdict on the paper's claim that the Grayscale PixelCNN's samples are more globally
    coherent than PixelCNN++'s: "supported" (better on both scores by more than ``DECISIVE``
    times the combined spread), "contradicted" (worse on both by as much), "undecided"
    (otherwise), or "not tested" (one of the two has no scores)."""
    by = {r["label"]: r for r in rows}
    gray, plain = by.get(GRAYSCALE), by.get(PIXELCNNPP)
    if not (scored(gray) and scored(plain)):
        return NOT_TESTED
    signs = {
        _decisive(gray, plain, key, better)
        for key, better in (("classifier_score", 1), ("frechet_distance", -1))
    }
    if signs == {1}:
        return "supported"
    if signs == {-1}:
        return "contradicted"
    return "undecided"


def _decisive(a: dict, b: dict, key: str, better: int) -> int:
    """+1 when ``a`` beats ``b`` on ``key`` by more than DECISIVE combined spreads, -1 when it loses so, else 0."""
    difference = (a[key] - b[key]) * better
    spread = math.hypot(a.get(f"{key}_std", 0.0), b.get(f"{key}_std", 0.0))
    return 0 if abs(difference) <= DECISIVE * spread else (1 if difference > 0 else -1)


def calibration_reading(rows: list[dict]) -> str:
    """Where the calibration rows put the scale: real images, then the baselines."""
    parts = [
        f"{r['label']} {r['classifier_score']:.2f} / {r['frechet_distance']:.1f}"
        for r in rows
        if r["group"] == CALIBRATION and scored(r)
    ]
    if not parts:
        return "No calibration row was scored."
    return (
        f"Calibration ({CLASSIFIER_SCORE} / {FRECHET}, N = {_n(rows)}): " + "; ".join(parts) + "."
    )


def _n(rows: list[dict]) -> int:
    return next(r["n"] for r in rows if scored(r))


def placement(row: dict, rows: list[dict]) -> str:
    """Which calibration rows a model beats on the Fréchet distance."""
    baselines = [r for r in rows if r["group"] == CALIBRATION and scored(r)]
    beaten = [r["label"] for r in baselines if row["frechet_distance"] < r["frechet_distance"]]
    if not beaten:
        return f"{row['label']} is further from the test images than every calibration row"
    return f"{row['label']} is closer to the test images than {', '.join(beaten)}"


def reading(rows: list[dict], preset: str) -> str:
    """What the chapter's numbers say about the claim: the calibration, where each scored
    model falls, and whether the Grayscale PixelCNN beats PixelCNN++ by more than the spread."""
    verdict = coherence_verdict(rows)
    models = [r for r in rows if r["group"] == MODEL]
    text = calibration_reading(rows)
    placed = [placement(r, rows) for r in models if scored(r)]
    if placed:
        text += " " + "; ".join(placed) + "."
    missing = [f"{r['label']} {r['status']}" for r in models if r["status"] != SCORED]
    if missing:
        text += f" At the **{preset}** preset, without samples: {'; '.join(missing)} (see above)."
    if verdict == NOT_TESTED:
        return (
            f"{text} So the paper's claim that the Grayscale PixelCNN's samples are more coherent than "
            f"PixelCNN++'s is **not tested yet**.{smoke_caveat(preset)}"
        )
    by = {r["label"]: r for r in rows}
    gray, plain = by[GRAYSCALE], by[PIXELCNNPP]
    compared = (
        f"The Grayscale PixelCNN scores {_pm(gray, 'classifier_score', 2)} against PixelCNN++'s "
        f"{_pm(plain, 'classifier_score', 2)} ({CLASSIFIER_SCORE}, higher is better) and "
        f"{_pm(gray, 'frechet_distance', 1)} against {_pm(plain, 'frechet_distance', 1)} ({FRECHET}, lower "
        f"is better)"
    )
    meaning = {
        "supported": "better on both by more than twice the spread: the claim is **supported** at this preset",
        "contradicted": "worse on both by more than twice the spread: the claim is **contradicted** at this preset",
        "undecided": "not better on both by more than twice the spread: **undecided** at this preset",
    }[verdict]
    return f"{text} {compared}: {meaning}.{objects(rows)}{smoke_caveat(preset)}"


def objects(rows: list[dict]) -> str:
    """How often the classifier is confident about the two models' samples and real images
    (" The classifier assigns ... ."), or "" where a row lacks the share."""
    by = {r["label"]: r for r in rows}
    shares = [by.get(label, {}).get("confident_share") for label in (GRAYSCALE, PIXELCNNPP, REAL)]
    if None in shares or not shares[-1]:
        return ""
    gray, plain, real = shares
    return (
        f" The classifier assigns a class with confidence ≥ {CONFIDENT:g} to {gray:.1%} of the "
        f"Grayscale PixelCNN's samples, {plain:.1%} of PixelCNN++'s and {real:.1%} of real test "
        f"images: the Grayscale PixelCNN's samples look like an object to it "
        f"{gray / real:.2g} times as often as real images do."
    )


def _pm(row: dict, key: str, digits: int) -> str:
    std = row.get(f"{key}_std")
    return f"{row[key]:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


# --------------------------------------------------------------------------- the record


def record_values(rows: list[dict], info: dict) -> tuple[dict, dict]:
    """(values, data) for :func:`auxpix.book.registry.record`: every row's scores, the verdict, the classifier."""
    n = _n(rows) if any(scored(r) for r in rows) else None
    classifier = {key: info[key] for key in ("parameters", "steps", "minutes", "test_accuracy")}
    values = {"n": n, "verdict": coherence_verdict(rows), "rows": rows, "classifier": classifier}
    data = (
        f"scored against the first {n} JPEG-decoded CIFAR-10 test images; real row: test images {n}-{2 * n - 1}; "
        "classifier trained on the JPEG-decoded training set"
    )
    return values, data
