"""What f_w(X̂)'s path into the output layer (EmbeddingConfig.to_output, not in the paper) costs
the CIFAR-10 pyramid's 32x32 level in bits/dim: scripts/pilot_output_path.sh's two runs of it,
trained for the book's minutes side by side with the path and without, read (chapter 03)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..runs import read_metrics, read_run, read_state
from .registry import results_dir, run_dir

ARMS = {"with f_w into the output": "on", "without": "off"}  # label: the run's folder suffix
PATH, PLAIN = ARMS
BOOK = "the book's run, with it"
PART = "32"


def runs(preset: str) -> dict[str, Path]:
    """{arm: run directory} of the pilot's runs at ``preset``, trained or not."""
    pilot = results_dir() / "pilot"
    return {arm: pilot / f"output-path-{preset}-cifar-32-{suffix}" for arm, suffix in ARMS.items()}


def scores(path: Path) -> dict | None:
    """Steps, minutes and test bits/dim of a finished run's 32x32 level at its last evaluation,
    and its test bits/dim at the last evaluation by half those minutes; None while unfinished or
    never scored."""
    if not (read_state(path / PART) or {}).get("done"):
        return None
    scored = [entry for entry in read_metrics(path, PART) if "test_bpd" in entry]
    if not scored:
        return None
    last = scored[-1]
    half = [entry for entry in scored if entry["seconds"] <= last["seconds"] / 2] or scored[:1]
    return {
        "steps": last["step"],
        "minutes": last["seconds"] / 60,
        "test bits/dim": last["test_bpd"],
        "at half the minutes": half[-1]["test_bpd"],
    }


def table(preset: str) -> pd.DataFrame | None:
    """:func:`scores` of both arms (the first 500 test images, averaged weights), and of the
    book's CIFAR-10 pyramid when it has the path (the same recipe, trained on another day);
    None until both arms have finished."""
    rows = {arm: scores(path) for arm, path in runs(preset).items()}
    if any(row is None for row in rows.values()):
        return None
    book = run_dir("pyramid", f"{preset}-cifar")
    if (book / "run.json").is_file() and read_run(book)["config"].embedding.to_output:
        rows[BOOK] = scores(book)
    rows = {arm: row for arm, row in rows.items() if row is not None}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("run")


def reading(arms: pd.DataFrame, noise: float | None) -> str:
    """Whether the path costs bits/dim, by the criterion stated first: the arm without it must
    score lower than the arm with it by more than ``noise`` (:func:`auxpix.book.fidelity.ramped_noise`)."""
    if noise is None:
        return "No fidelity pilot at this preset, so no yardstick to judge the two runs by."
    path, plain = arms.loc[PATH], arms.loc[PLAIN]
    gap = path["test bits/dim"] - plain["test bits/dim"]
    half = path["at half the minutes"] - plain["at half the minutes"]
    verdict = (
        f"so the path costs {gap:.3f} bits/dim at this budget (at half the minutes, {half:.3f})"
        if gap > noise
        else f"so the path saves {-gap:.3f} bits/dim at this budget (at half the minutes, {-half:.3f})"
        if -gap > noise
        else "the two are within that gap, so at this budget the path neither costs nor saves "
        "bits/dim that one run of each can tell"
    )
    text = (
        f"Criterion, fixed before the runs: the output path costs bits/dim if the level without "
        f"it scores lower by more than {noise:.3f} bits/dim, the largest gap between two seeds "
        f"of one arm of chapter 01's fidelity pilot at its 16x16 level (the same light net), "
        f"under the ramped weight average every preset keeps (chapter 01's verdicts also count "
        f"the constant average, whose seeds differ more; these runs do not use it). With the "
        f"path, {int(path['steps']):,} steps in {path['minutes']:.1f} min, "
        f"{path['test bits/dim']:.3f} bits/dim; without, {int(plain['steps']):,} steps in "
        f"{plain['minutes']:.1f} min, {plain['test bits/dim']:.3f}: {verdict}."
    )
    if BOOK in arms.index:
        book = arms.loc[BOOK]
        text += (
            f" The book's run, trained with the path for the same minutes on another day, "
            f"ended at {book['test bits/dim']:.3f} after {int(book['steps']):,} steps, "
            f"{abs(book['test bits/dim'] - path['test bits/dim']):.3f} from the pilot's run "
            "with it."
        )
    return text
