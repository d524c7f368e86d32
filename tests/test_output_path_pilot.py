"""Chapter 03's reading of scripts/pilot_output_path.sh (auxpix.book.output_path_pilot): both
arms read once finished, the verdict by its criterion, and the yardstick from the committed
fidelity pilot."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from auxpix.book import fidelity, output_path_pilot, registry


def state(step: int, done: bool = True) -> str:
    return json.dumps(
        {"step": step, "seed": 0, "seconds": 60.0, "checkpoint": "ckpt-1", "done": done}
    )


def arm(root, suffix: str, scores: list[tuple[float, float]], done: bool = True) -> None:
    """A run of the pilot's arm ``suffix`` evaluated at (step, test bits/dim) ``scores``, a
    step taking half a second."""
    part = root / "pilot" / f"output-path-cpu-cifar-32-{suffix}" / "32"
    part.mkdir(parents=True)
    (part / "state.json").write_text(state(scores[-1][0], done))
    lines = [{"step": step, "seconds": 0.5 * step, "test_bpd": bpd} for step, bpd in scores]
    lines.append({"step": scores[-1][0], "seconds": 1.0, "train_bpd": 9.0})  # unscored: skipped
    (part / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_the_pilot_is_read_once_both_arms_are_done(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.RESULTS_ENV, str(tmp_path))
    arm(tmp_path, "on", [(100, 4.0), (4000, 2.9), (8000, 2.6)])
    assert output_path_pilot.table("cpu") is None  # the other arm is missing
    arm(tmp_path, "off", [(100, 4.1), (4000, 2.7), (8100, 2.5)], done=False)
    assert output_path_pilot.table("cpu") is None  # ... or still training
    off = tmp_path / "pilot" / "output-path-cpu-cifar-32-off" / "32"
    (off / "state.json").write_text(state(8100))
    arms = output_path_pilot.table("cpu")
    assert list(arms.index) == [output_path_pilot.PATH, output_path_pilot.PLAIN]  # no book run
    assert arms["steps"].tolist() == [8000, 8100]
    assert arms["test bits/dim"].tolist() == [2.6, 2.5]
    assert arms["at half the minutes"].tolist() == [2.9, 2.7]
    assert arms["minutes"].tolist() == [8000 * 0.5 / 60, 8100 * 0.5 / 60]
    assert output_path_pilot.table("smoke") is None


def test_a_finished_arm_never_scored_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.RESULTS_ENV, str(tmp_path))
    part = tmp_path / "pilot" / "output-path-cpu-cifar-32-on" / "32"
    part.mkdir(parents=True)
    (part / "state.json").write_text(state(10))
    (part / "metrics.jsonl").write_text(json.dumps({"step": 10, "seconds": 5.0}) + "\n")
    assert output_path_pilot.scores(part.parent) is None


def arms(path: float, plain: float, half: tuple[float, float] = (2.9, 2.7)) -> pd.DataFrame:
    rows = {
        output_path_pilot.PATH: (8000, 68.6, path, half[0]),
        output_path_pilot.PLAIN: (8100, 68.6, plain, half[1]),
    }
    columns = ["steps", "minutes", "test bits/dim", "at half the minutes"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def test_the_verdict_needs_a_gap_beyond_two_seeds():
    text = output_path_pilot.reading(arms(2.6, 2.5), 0.04)
    assert "the path costs 0.100 bits/dim at this budget (at half the minutes, 0.200)" in text
    assert "the path saves 0.100 bits/dim" in output_path_pilot.reading(arms(2.5, 2.6), 0.04)
    text = output_path_pilot.reading(arms(2.52, 2.5), 0.04)
    assert "the two are within that gap, so at this budget the path neither costs" in text
    assert text.index("more than 0.040") < text.index("2.520")  # the criterion comes first
    assert "With the path, 8,000 steps in 68.6 min, 2.520 bits/dim; without, 8,100 steps" in text
    assert "no yardstick" in output_path_pilot.reading(arms(2.6, 2.5), None)


def test_the_books_run_is_read_beside_when_it_has_the_path():
    found = pd.concat(
        [arms(2.6, 2.5), arms(2.62, 0.0).iloc[:1].rename(index=lambda _: output_path_pilot.BOOK)]
    )
    text = output_path_pilot.reading(found, 0.04)
    assert text.endswith("ended at 2.620 after 8,000 steps, 0.020 from the pilot's run with it.")


def test_the_yardstick_is_the_committed_pilots_level_under_the_ramped_average():
    scores = fidelity.table(fidelity.records("cpu")).loc[
        fidelity.MODELS["level16"], fidelity.RAMPED
    ]
    gaps = [scores.loc[a].max() - scores.loc[a].min() for a in scores.index.unique("arm")]
    assert fidelity.ramped_noise("cpu") == pytest.approx(max(gaps))
    assert (
        fidelity.ramped_noise("cpu") < fidelity.noise(fidelity.table(fidelity.records("cpu"))).max()
    )
    assert fidelity.ramped_noise("smoke") is None


def test_the_committed_pilot_reads_with_the_books_run():
    found = output_path_pilot.table("cpu")
    assert list(found.index) == [
        output_path_pilot.PATH,
        output_path_pilot.PLAIN,
        output_path_pilot.BOOK,
    ]
    assert (
        found.loc[output_path_pilot.PLAIN, "test bits/dim"]
        < found.loc[output_path_pilot.PATH, "test bits/dim"]
    )
