"""The fidelity pilot's reading (auxpix.book.fidelity): its criterion adopts a choice only when
the gain beats the noise between seeds, and the cpu presets follow what the committed pilot
adopted."""

from __future__ import annotations

import json

import auxpix
from auxpix.book import fidelity, registry


def record(arm: str, seed: int, ramped: float, constant: float, part: str = "pixelcnnpp"):
    return {
        "part": part,
        "arm": arm,
        "seed": seed,
        "steps": 100,
        "test_bpd_ramped_average": ramped,
        "test_bpd_constant_average": constant,
    }


def decided(*records) -> dict[str, bool]:
    table = fidelity.verdicts(fidelity.table(list(records)))
    return {choice: row["adopted"] for (_, choice), row in table.iterrows()}


def test_a_choice_is_adopted_when_its_gain_beats_the_seeds_noise():
    found = decided(
        record("today", 0, 3.60, 3.70),
        record("today", 1, 3.62, 3.71),  # noise 0.02
        record("init", 0, 3.50, 3.55),
        record("init", 1, 3.51, 3.56),  # gain 0.105
        record("init-bf16", 0, 3.40, 3.45),
        record("init-bf16", 1, 3.41, 3.46),
    )
    assert found == {
        "openai's start (N(0, 0.05), own init batch)": True,
        "constant average": False,  # worse than the ramped one
        "bfloat16, compiled": True,
    }


def test_a_gain_within_the_noise_is_not_adopted():
    found = decided(
        record("today", 0, 3.60, 3.70),
        record("today", 1, 3.68, 3.75),  # noise 0.08
        record("init", 0, 3.58, 3.69),
        record("init", 1, 3.64, 3.70),  # gain 0.03
    )
    assert found["openai's start (N(0, 0.05), own init batch)"] is False


def test_the_reading_states_the_criterion_then_each_choice():
    table = fidelity.verdicts(
        fidelity.table(
            [record("today", s, 3.6 + s / 100, 3.7) for s in (0, 1)]
            + [record("init", s, 3.5 + s / 100, 3.6) for s in (0, 1)]
        )
    )
    text = fidelity.reading(table, fidelity.table([record("today", 0, 3.6, 3.7)]))
    assert text.index("adopted when") < text.index("3.505")
    assert "**adopted**" in text and "**not adopted**" in text
    assert "PixelCNN++ cpu: its bfloat16 arm is not trained yet" in text


def test_the_records_are_read_only_at_the_cpu_preset(tmp_path, monkeypatch):
    run = tmp_path / "pilot" / "fidelity-level16-today-s0"
    run.mkdir(parents=True)
    (run / "pilot.json").write_text(json.dumps(record("today", 0, 3.0, 3.1, part="ignored")))
    monkeypatch.setenv(registry.RESULTS_ENV, str(tmp_path))
    assert fidelity.records("smoke") == []
    (found,) = fidelity.records("cpu")
    assert found["part"] == "level16"


def test_a_part_with_only_todays_arm_gets_no_verdict_yet():
    scores = fidelity.table(
        [record(arm, s, 3.6, 3.7) for arm in ("today", "init") for s in (0, 1)]
        + [record("today", s, 3.3, 3.4, part="level16") for s in (0, 1)]
    )
    decided = fidelity.verdicts(scores)
    assert set(decided.index.get_level_values("part")) == {fidelity.MODELS["pixelcnnpp"]}
    assert "only today trained so far, no verdict yet" in fidelity.reading(decided, scores)


def test_the_cpu_presets_follow_the_committed_pilots_verdicts():
    decided = fidelity.verdicts(fidelity.table(fidelity.records("cpu")))
    assert len(decided)  # the committed pilot has verdicts
    parts = {label: key for key, label in fidelity.MODELS.items()}
    for (label, choice), row in decided.iterrows():
        adopted, today = fidelity.CHOICES[choice]
        fields = adopted if row["adopted"] else today
        for kind, preset in fidelity.GOVERNS[parts[label]]:
            train = auxpix.config.preset(kind, preset).train
            assert {name: getattr(train, name) for name in fields} == fields, (preset, choice)
