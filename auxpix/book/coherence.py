"""Chapter 06's verdict on the claim that the Grayscale PixelCNN's samples are more globally
coherent than PixelCNN++'s, the sentences it writes about its scores, and its record (the rows
are ``auxpix.book.sample_quality``'s entries, scored)."""

from __future__ import annotations

import math

from .readings import smoke_caveat
from .sample_quality import (
    CALIBRATION,
    CLASSIFIER_SCORE,
    DECISIVE,
    DOES_NOT_LOAD,
    EARLIER_ARCHITECTURE,
    FRECHET,
    GRAYSCALE,
    MODEL,
    NOT_TRAINED,
    PIXELCNNPP,
    TO_BE_RETRAINED,
    scored,
)


def coherence_verdict(rows: list[dict]) -> str:
    """The verdict on the paper's claim that the Grayscale PixelCNN's samples are more globally
    coherent than PixelCNN++'s: "supported" (better on both scores by more than ``DECISIVE``
    times the combined spread), "contradicted" (worse on both by as much), "undecided"
    (otherwise), or "to be retrained" (one of the two has no scores)."""
    by = {r["label"]: r for r in rows}
    gray, plain = by.get(GRAYSCALE), by.get(PIXELCNNPP)
    if not (scored(gray) and scored(plain)):
        return TO_BE_RETRAINED
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
    for status, why in (
        (TO_BE_RETRAINED, EARLIER_ARCHITECTURE),
        (DOES_NOT_LOAD, "see above"),
        (NOT_TRAINED, "no run"),
    ):
        waiting = [r["label"] for r in models if r["status"] == status]
        if waiting:
            verb = "is" if len(waiting) == 1 else "are"
            text += f" At the **{preset}** preset {_names(waiting)} {verb} {status} ({why})."
    if verdict == TO_BE_RETRAINED:
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
    return f"{text} {compared}: {meaning}.{smoke_caveat(preset)}"


def _pm(row: dict, key: str, digits: int) -> str:
    std = row.get(f"{key}_std")
    return f"{row[key]:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def _names(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


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
