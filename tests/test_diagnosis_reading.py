"""Chapter 03's reading of a pyramid's diagnosis (auxpix.book.diagnosis): the criterion holds or
fails on the numbers, and the committed record of the streaked CelebA run reads as it should."""

from __future__ import annotations

from auxpix.book import diagnosis


def summary(inside: float, border: float) -> dict:
    return {"mean": (inside + border) / 2, "interior_mean": inside, "border_mean": border}


def level(free: tuple[float, float], aligned: float = 3.0, shifted: float = 4.0) -> dict:
    return {
        "kept_map_samples": summary(*free),
        "free_running_given_real": summary(*free),
        "teacher_forced_real": summary(1.0, 2.0),
        "left_neighbour_copy": {"mean": 9.0},
        "shift_ablation": {"aligned": aligned, "left": shifted, "right": shifted + 0.1},
        "pixel_bits": {"border": 3.5, "interior": 3.0},
        "sampler": {"differ": 0, "values": 100},
    }


def found(**levels) -> dict:
    return {
        "checkpoints": {name: f"ckpt-{1000 * int(name):08d}-abc" for name in levels},
        "levels": {"8": {"pixel_bits": {}}, **levels},
    }


def test_levels_within_the_criterion_pass():
    record = found(**{"16": level((1.0, 1.5)), "32": level((2.0, 3.0))})
    assert diagnosis.failing(diagnosis.table(record)) == []
    assert "Every level meets the criterion" in diagnosis.reading(record)


def test_drifting_or_border_heavy_levels_fail():
    record = found(**{"16": level((1.0, 2.5)), "32": level((20.0, 40.0))})  # 16: border 2.5x
    table = diagnosis.table(record)
    assert list(table.index) == [16, 32] and table.loc[32, "steps"] == 32_000
    assert diagnosis.failing(table) == [16, 32]
    assert "32 (32,000 steps: free-running 30.0" in diagnosis.reading(record)


def test_a_shift_that_scores_better_is_called_an_alignment_fault():
    record = found(**{"16": level((1.0, 1.5), aligned=4.5, shifted=4.0)})
    assert "an alignment fault" in diagnosis.reading(record)


def test_the_streaked_celeba_run_fails_at_32_64_and_128_and_not_at_16():
    record = diagnosis.record(diagnosis.BEFORE_FIX)
    table = diagnosis.table(record)
    assert diagnosis.failing(table) == [32, 64, 128]
    assert table.loc[64, "free"] > 10 * table.loc[64, "teacher"]
    text = diagnosis.reading(record, tuple(diagnosis.record(name) for name in diagnosis.CIFAR))
    assert "differ in 0 of 3,072 values" in text and "no longer after 9,204" in text
