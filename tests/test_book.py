"""The book's bookkeeping: training budgets of the presets, and the status table built from
what the notebooks record."""
import pytest

from auxpix import book, experiments, paper


@pytest.mark.parametrize(
    "kind,preset,parts",
    [("pixelcnnpp", "cpu", ["pixelcnnpp"]), ("grayscale", "cpu", ["aux", "cond"]),
     ("pyramid", "cpu", ["8", "16", "32", "64"]), ("pyramid", "cpu-cifar", ["8", "16", "32"])],
)  # fmt: skip
def test_cpu_budget_is_an_hour_per_model(kind, preset, parts):
    minutes = [experiments.budget(kind, preset, part, parts)["minutes"] for part in parts]
    assert sum(minutes) == pytest.approx(60)
    assert minutes == sorted(minutes)  # later parts (colour, higher resolutions) get more


def test_pyramid_levels_share_minutes_by_resolution():
    parts = ["8", "16", "32", "64"]
    minutes = [experiments.budget("pyramid", "cpu", part, parts)["minutes"] for part in parts]
    assert minutes == pytest.approx([4, 8, 16, 32])


def test_other_budgets():
    assert experiments.budget("pyramid", "smoke", "8", ["8", "16"]) == {"steps": 150}
    assert experiments.budget("grayscale", "paper", "aux", ["aux", "cond"]) == {"epochs": 30}
    assert experiments.budget("pyramid", "paper-cifar", "16", ["8", "16", "32"]) == {"epochs": 60}


def test_status_table_shows_ours_beside_the_paper_with_the_gap(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "RESULTS", tmp_path)
    values = {"grayscale_total_exact": 3.5, "aux_share": 0.25, "aux_train_test": "0.5 / 0.6"}
    experiments.record("cifar10_likelihoods", "mine", values, data="some data", device="cpu")
    table = book.status_table("mine")
    row = table.loc["Table 1: Grayscale PixelCNN, bits/dim"]
    assert (row["paper"], row["ours"], row["gap (ours − paper)"]) == ("≤ 2.98", "3.500", "+0.520")
    assert "some data" in row["preset; data; compute"] and "not trained yet" in row["why the gap"]
    share = table.loc["§4.1: p(X̂) share of the bits"]
    expected = 0.25 - paper.GRAYSCALE_SPLIT["aux_test"] / paper.GRAYSCALE_SPLIT["total_test"]
    assert share["ours"] == "25%" and share["gap (ours − paper)"] == f"{expected:+.0%}"
    assert table.loc["§4.1: p(X̂) train / test, bits/dim", "ours"] == "0.5 / 0.6"
    assert table.loc["Table 1: PixelCNN++, bits/dim", "ours"] == "not in this preset"
    assert table.loc["Table 2: CelebA 8x8, bits/dim", "ours"] == "not run yet"
