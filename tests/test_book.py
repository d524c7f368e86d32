"""The book's support package: its results folder, the training budgets of the presets, the
tables and status built from what the notebooks record, every reading sentence (each on an
input where its claim holds and one where it does not), and the README quoting the records."""
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import auxpix
from auxpix import paper
from auxpix.book import readings, registry, tables
from auxpix.errors import ConfigError
from auxpix.runs import read_metrics
from auxpix.train import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def results(tmp_path, monkeypatch):
    """An empty results folder, the one the registry uses."""
    monkeypatch.setenv(registry.RESULTS_ENV, str(tmp_path))
    return tmp_path


# --------------------------------------------------------------------------- the package


def test_the_library_imports_without_the_book_dependencies():
    loaded = "import auxpix, sys; print([m for m in ('matplotlib', 'pandas', 'seaborn') if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", loaded], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_the_book_without_its_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    for name in [name for name in sys.modules if name.startswith("auxpix.book")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"^auxpix.book needs pandas: pip install 'auxpix\[book\]'$"):
        importlib.import_module("auxpix.book")


def test_the_results_folder_is_configured_not_derived(tmp_path, monkeypatch):
    monkeypatch.delenv(registry.RESULTS_ENV, raising=False)
    monkeypatch.setattr(registry, "_default_results", None)
    with pytest.raises(ConfigError, match="AUXPIX_RESULTS"):
        registry.results_dir()
    assert registry.use_results(tmp_path / "a") == tmp_path / "a"
    assert registry.run_dir("pyramid", "cpu") == tmp_path / "a" / "runs" / "pyramid-cpu"
    monkeypatch.setenv(registry.RESULTS_ENV, str(tmp_path / "b"))  # the variable wins: a whole build elsewhere
    assert registry.results_dir() == tmp_path / "b"


def test_a_record_is_read_back_with_how_it_was_measured(results):
    path = registry.record("chapter", "mine", {"x": 1.5}, data="some data", device="cpu")
    assert path == results / "mine" / "chapter.json"
    saved = registry.recorded("chapter", "mine")
    assert (saved["values"], saved["data"], saved["preset"]) == ({"x": 1.5}, "some data", "mine")
    assert saved["compute"].startswith("cpu (") and registry.recorded("other", "mine") is None


# --------------------------------------------------------------------------- budgets


@pytest.mark.parametrize(
    "kind,preset,parts",
    [("pixelcnnpp", "cpu", ["pixelcnnpp"]), ("grayscale", "cpu", ["aux", "cond"]),
     ("pyramid", "cpu", ["8", "16", "32", "64"]), ("pyramid", "cpu-cifar", ["8", "16", "32"])],
)  # fmt: skip
def test_cpu_budget_is_an_hour_per_model(kind, preset, parts):
    minutes = [registry.budget(kind, preset, part, parts)["minutes"] for part in parts]
    assert sum(minutes) == pytest.approx(60)
    assert minutes == sorted(minutes)  # later parts (colour, higher resolutions) get more


def test_pyramid_levels_share_minutes_by_resolution():
    parts = ["8", "16", "32", "64"]
    minutes = [registry.budget("pyramid", "cpu", part, parts)["minutes"] for part in parts]
    assert minutes == pytest.approx([4, 8, 16, 32])


def test_other_budgets():
    assert registry.budget("pyramid", "smoke", "8", ["8", "16"]) == {"steps": 150}
    assert registry.budget("grayscale", "paper", "aux", ["aux", "cond"]) == {"epochs": 30}
    assert registry.budget("pyramid", "paper-cifar", "16", ["8", "16", "32"]) == {"epochs": 60}


# --------------------------------------------------------------------------- tables


def test_paper_numbers_of_our_cifar10_models_come_from_table1():
    assert tables.paper_cifar10_bpd("grayscale") == 2.98 and tables.paper_cifar10_text("grayscale") == "≤ 2.98"
    assert tables.paper_cifar10_text("pixelcnnpp") == "2.92"
    assert tables.paper_cifar10_text("pyramid") == f"{paper.PYRAMID_CIFAR10:g}"


def scored(aux: float, cond: float, n: int) -> dict:
    """An evaluate() result of a Grayscale PixelCNN."""
    return {"bpd": {"aux": aux, "cond": cond, "total": aux + cond}, "n_images": n}


def split_table(*, exact=(0.5, 2.5), jpeg=(0.4, 2.0), train_aux=0.39) -> pd.DataFrame:
    scores = {tables.JPEG_TEST: scored(*jpeg, 100), tables.EXACT_TEST: scored(*exact, 10)}
    return tables.loss_split(scores, train_aux)


def test_loss_split_puts_each_test_set_beside_the_paper():
    split = split_table()
    assert list(split.columns) == ["ours: JPEG-decoded test (100 img)", "ours: exact-pixel test (10 img)", "paper"]
    exact = tables.ours_on(split, tables.EXACT_TEST)
    assert split.loc[tables.AUX_SHARE, exact] == pytest.approx(0.5 / 3.0)
    assert np.isnan(split.loc[tables.AUX_TRAIN, exact])  # training images were scored on one set only
    assert split.loc[tables.AUX_SHARE, "paper"] == pytest.approx(0.459 / 2.98)
    with pytest.raises(KeyError, match="no single column"):
        tables.ours_on(split, "other")


def speed_rows(pyramid_naive=2.0, pyramid_cached=0.005, pixelcnnpp_cached=0.02) -> list[dict]:
    row = {"batch": 1, "threads": 1}
    return [{"model": "pyramid", "resolution": 64, **row, tables.NAIVE: 0.5, tables.CACHED: 0.004},
            {"model": "pyramid", "resolution": 128, **row, tables.NAIVE: pyramid_naive, tables.CACHED: pyramid_cached},
            {"model": "pixelcnnpp", "resolution": 32, **row, tables.NAIVE: 0.5, tables.CACHED: pixelcnnpp_cached}]


def test_sampling_speeds_and_the_papers_comparison():
    speeds = tables.sampling_speeds(speed_rows())
    assert speeds.loc[("pyramid", 128), tables.SPEED_UP] == pytest.approx(400)
    comparison = tables.speed_comparison(speeds)
    assert comparison.loc[tables.PAPER_NAIVE, tables.SPEED_RATIO] == pytest.approx(12.5)
    assert comparison.loc[tables.OURS_CACHED, tables.SPEED_RATIO] == pytest.approx(4)
    assert tables.paper_speed_summary() == "0.004 vs 0.05 (12.5x)"
    assert tables.speed_summary(speeds) == "2.0000 vs 0.0200 (0.01x); cached pyramid 0.0050 (4.0x)"


def test_status_table_shows_ours_beside_the_paper_with_the_gap(results):
    exact = {"grayscale_total": 3.5, "cond_test": 3.0, "aux_test": 0.5, "aux_share": 0.099}
    jpeg = {"grayscale_total": 3.0, "aux_train": 0.55, "aux_test": 0.6, "aux_share": 0.2}
    data = {tables.EXACT_TEST: "exact pixels (1000 images)", tables.JPEG_TEST: "JPEG (10000 images)"}
    registry.record("cifar10_likelihoods", "mine", {tables.EXACT_TEST: exact, tables.JPEG_TEST: jpeg}, data=data,
                    device="cpu")  # fmt: skip
    table = tables.status_table("mine")
    row = table.loc["Table 1: Grayscale PixelCNN, bits/dim"]
    assert (row["paper"], row["ours"], row["gap (ours − paper)"]) == ("≤ 2.98", "3.500", "+0.520")
    assert row["preset; data; compute"].startswith("mine; exact pixels (1000 images); cpu (")
    assert "not trained yet" in row["why the gap"]
    share = table.loc["§4.1: p(X̂) share of the bits"]  # a gap of shares is in percentage points
    assert (share["paper"], share["ours"], share["gap (ours − paper)"]) == ("15.4%", "9.9%", "-5.5 pp")
    assert "exact pixels" in share["preset; data; compute"]
    aux = table.loc["§4.1: p(X̂) train / test, bits/dim"]  # both numbers from the one set with training images
    assert (aux["paper"], aux["ours"], aux["gap (ours − paper)"]) == ("0.442 / 0.459", "0.550 / 0.600", "+0.108 / +0.141")
    assert "JPEG (10000 images)" in aux["preset; data; compute"]
    assert table.loc["Table 1: PixelCNN++, bits/dim", "ours"] == "not in this preset"
    assert table.loc["Table 2: CelebA 8x8, bits/dim", "ours"] == "not run yet"
    figures = {"MAP samples": 16, "levels": 4, "seed": 0}
    registry.record("celeba_pyramid", "mine", {"level_8": 5.0, "figures": figures}, data="faces", device="cpu")
    registry.record("sampling_speed", "mine", {"rows": speed_rows()}, data="none", device="cpu")
    table = tables.status_table("mine")
    assert table.loc["Table 2: CelebA 8x8, bits/dim", "gap (ours − paper)"] == f"{5.0 - paper.TABLE2[8]:+.3f}"
    assert "stops below 16x16" in table.loc["Table 2: CelebA 16x16, bits/dim", "why the gap"]
    assert table.loc["Figures 5–6: MAP samples, pyramid levels", "ours"] == "16 MAP samples, 4 levels (seed 0)"
    speed = table.loc["§4.2: s/pixel, Pyramid vs PixelCNN++ (ratio)"]
    assert (speed["paper"], speed["ours"]) == ("0.004 vs 0.05 (12.5x)", tables.speed_summary(tables.sampling_speeds(speed_rows())))


def test_sizing_pilot_compares_the_preset_with_each_candidate(results, monkeypatch):
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mine = auxpix.build("pixelcnnpp", preset="smoke", image_size=8, net=dict(nr_resnet=1, nr_filters=8)).config
    monkeypatch.setitem(auxpix.PRESETS["pixelcnnpp"], "mine", mine)
    runs = {registry.run_dir("pixelcnnpp", "mine"): ("mine", 8),
            results / "pilot" / "pixelcnnpp-mine-1x16": ("mine", 16),
            results / "pilot" / "pixelcnnpp-smoke-1x4": ("smoke", 4)}
    for path, (preset, filters) in runs.items():
        torch.manual_seed(0)
        model = auxpix.build("pixelcnnpp", preset="smoke", image_size=8, net=dict(nr_resnet=1, nr_filters=filters))
        train(model, images, run_dir=path, preset=preset, steps=4, test_images=images[:4], eval_every=2, progress=False)
    runs = registry.pilot_runs("pixelcnnpp", "mine")  # without the pilot of another preset
    preset_label, candidate = "net.nr_filters=8 (the preset)", "net.nr_filters=16"
    assert list(runs) == [preset_label, candidate]
    table = tables.sizing_pilot(runs, "pixelcnnpp", minutes=(0, 1e6))
    assert table["steps"].tolist() == [4, 4]
    assert table.loc[preset_label, "parameters"] < table.loc[candidate, "parameters"]
    for label, path in runs.items():
        tested = [m for m in read_metrics(path, "pixelcnnpp") if "test_bpd" in m]
        assert [m["step"] for m in tested] == [2, 4]
        assert np.isnan(table.loc[label, tables.tested_after(0)])  # before the first evaluation: none
        assert np.isnan(table.loc[label, tables.tested_after(1e6)])  # after the last: none
        start, end = tested[0]["seconds"], tested[1]["seconds"]
        middle = (start + end) / 120
        one = tables.sizing_pilot({label: path}, "pixelcnnpp", minutes=(middle,))
        assert one.loc[label, tables.tested_after(middle)] == pytest.approx((tested[0]["test_bpd"] + tested[1]["test_bpd"]) / 2)
    assert registry.pilot_runs("pixelcnnpp", "cpu") == {}
    default = tables.sizing_pilot(runs, "pixelcnnpp")  # the quarters of a budget of (rounded) 0 minutes
    assert [column for column in default.columns if column.startswith("test")] == [tables.tested_after(0)]


def test_sharpness_is_high_for_edges_and_zero_for_flat_images():
    flat = torch.full((1, 3, 8, 8), 128, dtype=torch.uint8)
    edges = flat.clone()
    edges[..., ::2, :] = 0
    assert tables.sharpness(flat).item() == 0 and tables.sharpness(edges).item() > 100


# --------------------------------------------------------------------------- readings


def test_loss_split_reading_follows_the_numbers():
    reading = readings.loss_split(split_table(), "cpu")
    assert "on the exact-pixel test images p(X̂) carries **16.7%** of our Grayscale PixelCNN's bits (paper: 15.4%)" in reading
    assert "a small share of the likelihood, as the paper claims" in reading
    assert "our p(X̂) is +0.041 and our p(X | X̂) -0.020 bits/dim: the grayscale model is further" in reading
    assert "which raises p(X̂)'s share" in reading
    assert "train/test gap (test minus train) is +0.010 bits/dim (paper: +0.017)" in reading and "Smoke" not in reading
    reading = readings.loss_split(split_table(exact=(1.2, 3.5)), "smoke")
    assert "is not a small share of the likelihood, unlike the paper's" in reading
    assert "the colour model is further from the paper's than the grayscale one, which lowers p(X̂)'s share" in reading
    assert reading.endswith("says little about the paper's models.")


def test_captions():
    assert readings.train_subset(10) == "p(X̂) on the training set: the first 10 training images"
    assert readings.celeba_test_caption(660) == "660 CelebA test images (official split, of the 6,097 images we have)"
    assert readings.pilot_caption({"a": 1, "b": 2}, "64", "cpu") == "2 networks in the sizing pilot of part 64 at preset 'cpu'"
    assert readings.pilot_caption({}, "64", "smoke") == "No sizing pilot at preset 'smoke': its networks were not chosen by one."


def test_sizing_reading_names_the_winner_and_how_its_lead_moved():
    sizing = pd.DataFrame({tables.tested_after(15): [5.0, 5.3, 5.4], tables.tested_after(60): [3.8, 4.0, 3.9]},
                          index=["a (the preset)", "b", "c"])  # fmt: skip
    reading = readings.sizing_pilot(sizing)
    assert reading.startswith("After 60 min, **a (the preset)** has the lowest test bits/dim (3.800; b: 4.000, c: 3.900)")
    assert "The preset uses it." in reading and "shrinks from 0.30 bits/dim after 15 min to 0.10" in reading
    sizing[tables.tested_after(60)] = [3.8, 3.7, 4.6]
    reading = readings.sizing_pilot(sizing)
    assert "**b**" in reading and "does not use it" in reading and "0.30 bits/dim behind after 15 min" in reading
    sizing[tables.tested_after(60)] = [3.8, 4.3, 4.4]
    assert "lead grows from 0.30 bits/dim after 15 min to 0.50 after 60 min." in readings.sizing_pilot(sizing)


def test_colorization_reading_names_the_model_and_warns_at_smoke():
    reading = readings.colorization("cpu", "trained 60 min in all")
    assert reading.endswith("Models: preset **cpu**, trained 60 min in all.")
    assert readings.colorization("smoke", "trained 1 min").endswith("says little about the paper's models.")


def pyramid_table(level, whole) -> pd.DataFrame:
    sizes = [8, 16, 32]
    return pd.DataFrame({tables.LEVEL: level, tables.WHOLE_IMAGE: whole, tables.PAPER: [paper.TABLE2[r] for r in sizes]},
                        index=[tables.resolution_label(r) for r in sizes])  # fmt: skip


def test_pyramid_reading_states_both_columns_trends():
    reading = readings.pyramid_trend(pyramid_table([5.1, 4.56, 4.35], [5.1, 5.84, 5.81]), "cpu")
    assert "go 5.10 → 4.56 → 4.35 from 8x8 to 32x32: they fall with every step up in resolution." in reading
    assert ("The whole image's, -log p(X_r) / 3r², go 5.10 → 5.84 → 5.81: they do not fall with every step up in "
            "resolution (they rise from 8x8 to 16x16).") in reading
    assert "go 4.58 → 4.30 → 3.33: they fall with every step up in resolution, like our per-level column and " \
           "unlike our whole-image one." in reading
    reading = readings.pyramid_trend(pyramid_table([5.1, 5.2, 5.3], [5.1, 5.0, 5.4]), "smoke")
    assert "they rise from 8x8 to 16x16 and from 16x16 to 32x32" in reading and "rise from 16x16 to 32x32)." in reading
    assert "unlike both of our columns" in reading and "Smoke models" in reading
    assert "like both of our columns" in readings.pyramid_trend(pyramid_table([5.1, 5.0, 4.9], [5.1, 5.0, 4.9]), "cpu")


def statistics(sharp_last: float, bpd_last: float) -> pd.DataFrame:
    first, last = (tables.shift_label(c) for c in (paper.VARIANCE_REDUCTION_SHIFTS[0], paper.VARIANCE_REDUCTION_SHIFTS[-1]))
    rows = {first: [28.0, 6.0], last: [sharp_last, bpd_last], tables.MAP: [12.0, 4.8], tables.REAL_FACES: [23.6, 5.5]}
    return pd.DataFrame(rows, index=[tables.SHARPNESS, tables.SAMPLE_BPD]).T


def test_variance_reduction_reading_follows_the_numbers():
    reading = readings.variance_reduction(statistics(16.0, 5.0), "cpu", "trained 60 min")
    assert reading.startswith("From c = 0 to c = 1 the samples' sharpness goes from 28.0 to 16.0 (real faces: 23.6)")
    assert "reducing the scales smooths the samples and makes them more probable under the model." in reading
    reading = readings.variance_reduction(statistics(30.0, 6.5), "cpu", "trained 60 min")
    assert "does not smooth the samples and does not make them more probable under the model." in reading


def test_sampling_speed_reading_follows_the_numbers():
    reading = readings.sampling_speed(tables.sampling_speeds(speed_rows()), 46.2)
    assert "128x128 face at 0.0050 s per pixel, 4.0x faster than the cached PixelCNN++" in reading
    assert "(paper, GPU, pyramid without caching: 12.5x faster)" in reading and "took 46 s" in reading
    assert "Without caching the pyramid is slower than the cached PixelCNN++ here" in reading
    reading = readings.sampling_speed(tables.sampling_speeds(speed_rows(0.01, 0.04, 0.02)), 10)
    assert "2.0x slower than the cached PixelCNN++" in reading
    assert reading.endswith("Without caching the pyramid is faster than the cached PixelCNN++ here too.")


# --------------------------------------------------------------------------- notebooks and README


def code_cells(notebook: Path) -> list[str]:
    return ["".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"] if cell["cell_type"] == "code"]


@pytest.mark.parametrize("notebook", sorted((REPO / "notebooks").glob("*.ipynb")), ids=lambda path: path.stem)
def test_notebooks_read_tables_by_name_and_take_sentences_from_readings(notebook):
    for source in code_cells(notebook):
        assert ".iloc" not in source, source
        assert "print(f" not in source, source
        for call in re.findall(r"Markdown\((.*)\)", source):
            assert call.startswith("readings."), source


def readme_text(title: str) -> str:
    """README section ``title`` as written."""
    return (REPO / "README.md").read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def readme_section(title: str) -> str:
    """README section ``title`` with each run of whitespace made one space (lines wrap anywhere)."""
    return " ".join(readme_text(title).split())


def readme_table(title: str) -> list[list[str]]:
    """The cells of the body rows of the table of README section ``title`` ("\\|" is a "|" inside a cell)."""
    lines = [line for line in readme_text(title).splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip("|"))] for line in lines[2:]]


def test_readme_quotes_the_recorded_sampling_speeds():
    saved = json.loads((REPO / "results" / "cpu" / "sampling_speed.json").read_text())
    speeds = tables.sampling_speeds(saved["values"]["rows"])
    quoted = readme_table("Sampling speed")
    assert len(quoted) >= 3
    for model, level, naive, cached, speed_up in quoted:
        kind = {"Pyramid PixelCNN": "pyramid", "PixelCNN++": "pixelcnnpp"}[model]
        row = speeds.loc[(kind, int(level.split("×")[0]))]
        assert [naive, cached, speed_up] == [f"{row[tables.NAIVE]:.4f}", f"{row[tables.CACHED]:.4f}", f"{row[tables.SPEED_UP]:.0f}x"]
    section = readme_section("Sampling speed")
    threads = {row["threads"] for row in saved["values"]["rows"]}
    assert len(threads) == 1 and f"threads = {threads.pop()}" in section and saved["compute"] in section
    assert f"{saved['values']['whole_face_seconds']:.0f} s" in section


def test_readme_quotes_the_recorded_cifar10_likelihoods():
    saved = json.loads((REPO / "results" / "cpu" / "cifar10_likelihoods.json").read_text())["values"]
    jpeg, exact = saved[tables.JPEG_TEST], saved[tables.EXACT_TEST]
    kinds = {"Grayscale PixelCNN": "grayscale", "PixelCNN++": "pixelcnnpp", "Pyramid PixelCNN": "pyramid"}
    for model, on_jpeg, on_exact, theirs in readme_table("Status"):
        kind = next(kind for name, kind in kinds.items() if model.startswith(name))
        assert [on_jpeg, on_exact, theirs] == [f"{jpeg[f'{kind}_total']:.3f}", f"{exact[f'{kind}_total']:.3f}",
                                               tables.paper_cifar10_text(kind)]  # fmt: skip
    assert (f"{jpeg['aux_test']:.3f} bits/dim on the JPEG-decoded test set (paper {paper.GRAYSCALE_SPLIT['aux_test']:g}): "
            f"{jpeg['aux_share']:.1%} of the total there, {exact['aux_share']:.1%} on exact pixels "
            f"(paper {tables.paper_aux_share():.1%})") in readme_section("Status")
