"""The book's bookkeeping: training budgets of the presets, and the status table built from
what the notebooks record."""
import numpy as np
import pandas as pd
import pytest
import torch

import auxpix
from auxpix import book, experiments, paper, plots
from auxpix.train import train


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
    experiments.record("celeba_pyramid", "mine", {"level_8": 5.0}, data="faces", device="cpu")
    table = book.status_table("mine")
    assert table.loc["Table 2: CelebA 8x8, bits/dim", "gap (ours − paper)"] == f"{5.0 - paper.TABLE2[8]:+.3f}"
    assert "stops below 16x16" in table.loc["Table 2: CelebA 16x16, bits/dim", "why the gap"]


def test_sizing_pilot_compares_the_preset_with_each_candidate(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "RESULTS", tmp_path)
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mine = auxpix.build("pixelcnnpp", preset="smoke", image_size=8, net=dict(nr_resnet=1, nr_filters=8)).config
    monkeypatch.setitem(auxpix.PRESETS["pixelcnnpp"], "mine", mine)
    runs = {experiments.run_dir("pixelcnnpp", "mine"): ("mine", 8),
            tmp_path / "pilot" / "pixelcnnpp-mine-1x16": ("mine", 16),
            tmp_path / "pilot" / "pixelcnnpp-smoke-1x4": ("smoke", 4)}
    for path, (preset, filters) in runs.items():
        torch.manual_seed(0)
        model = auxpix.build("pixelcnnpp", preset="smoke", image_size=8, net=dict(nr_resnet=1, nr_filters=filters))
        train(model, images, run_dir=path, preset=preset, steps=4, test_images=images[:4], eval_every=2, progress=False)
    runs = experiments.pilot_runs("pixelcnnpp", "mine")  # without the pilot of another preset
    assert list(runs) == ["net.nr_filters=8 (the preset)", "net.nr_filters=16"]
    table = book.sizing_pilot(runs, "pixelcnnpp", minutes=(0, 1e6))
    assert table["steps"].tolist() == [4, 4]
    assert table["parameters"].iloc[0] < table["parameters"].iloc[1]
    for label, path in runs.items():
        tested = [m for m in plots.read_metrics(path, "pixelcnnpp") if "test_bpd" in m]
        assert [m["step"] for m in tested] == [2, 4]
        assert np.isnan(table.loc[label, "test bpd at 0 min"])  # before the first evaluation: none
        assert np.isnan(table.loc[label, "test bpd at 1e+06 min"])  # after the last: none
        start, end = tested[0]["seconds"], tested[1]["seconds"]
        middle = book.sizing_pilot({label: path}, "pixelcnnpp", minutes=((start + end) / 120,)).iloc[0, -1]
        assert middle == pytest.approx((tested[0]["test_bpd"] + tested[1]["test_bpd"]) / 2)
    assert experiments.pilot_runs("pixelcnnpp", "cpu") == {}
    default = book.sizing_pilot(runs, "pixelcnnpp")  # the quarters of a budget of (rounded) 0 minutes
    assert [column for column in default.columns if column.startswith("test")] == ["test bpd at 0 min"]


def test_sizing_reading_names_the_winner_and_how_its_lead_moved():
    sizing = pd.DataFrame({"test bpd at 15 min": [5.0, 5.3, 5.4], "test bpd at 60 min": [3.8, 4.0, 3.9]},
                          index=["a (the preset)", "b", "c"])
    reading = book.sizing_reading(sizing)
    assert reading.startswith("After 60 min, **a (the preset)** has the lowest test bits/dim (3.800; b: 4.000, c: 3.900)")
    assert "The preset uses it." in reading and "shrinks from 0.30 bits/dim after 15 min to 0.10" in reading
    sizing["test bpd at 60 min"] = [3.8, 3.7, 4.6]
    reading = book.sizing_reading(sizing)
    assert "**b**" in reading and "does not use it" in reading and "0.30 bits/dim behind after 15 min" in reading
    sizing["test bpd at 60 min"] = [3.8, 4.3, 4.4]
    assert "lead grows from 0.30 bits/dim after 15 min to 0.50 after 60 min." in book.sizing_reading(sizing)
