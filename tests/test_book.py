"""The book's support package: its results folder, the training budgets of the presets, the
tables and status built from what the notebooks record, every reading sentence (each on an
input where its claim holds and one where it does not), and the README quoting the records."""

import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import auxpix
from auxpix import bench, paper
from auxpix.book import readings, registry, retraining, status, tables
from auxpix.budgets import budget, paper_epochs
from auxpix.errors import CheckpointError, ConfigError, RunUnavailable
from auxpix.runs import RUN_FILE, read_metrics, read_state
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
    assert (
        subprocess.run(
            [sys.executable, "-c", loaded], capture_output=True, text=True, check=True
        ).stdout
        == "[]\n"
    )


def test_the_book_without_its_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    for name in [name for name in sys.modules if name.startswith("auxpix.book")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(
        ImportError, match=r"^auxpix.book needs pandas: pip install 'auxpix\[book\]'$"
    ):
        importlib.import_module("auxpix.book")


def test_the_results_folder_is_the_repositorys_unless_configured(tmp_path, monkeypatch):
    monkeypatch.delenv(registry.RESULTS_ENV, raising=False)
    monkeypatch.setattr(registry, "_default_results", None)
    monkeypatch.chdir(tmp_path)  # a chapter started outside the repository
    assert registry.results_dir() == REPO / "results"  # wherever the process was started
    assert registry.use_results(tmp_path / "a") == tmp_path / "a"
    assert registry.run_dir("pyramid", "cpu") == tmp_path / "a" / "runs" / "pyramid-cpu"
    # the variable wins: a whole build elsewhere
    monkeypatch.setenv(registry.RESULTS_ENV, str(tmp_path / "b"))
    assert registry.results_dir() == tmp_path / "b"


def test_a_record_is_read_back_with_how_it_was_measured(results):
    path = registry.record("chapter", "mine", {"x": 1.5}, data="some data", device="cpu")
    assert path == results / "mine" / "chapter.json"
    saved = registry.recorded("chapter", "mine")
    assert (saved["values"], saved["data"], saved["preset"]) == ({"x": 1.5}, "some data", "mine")
    assert saved["compute"].startswith("cpu (") and registry.recorded("other", "mine") is None


def test_a_rerun_that_reproduces_a_record_leaves_it_as_it_was(results):
    values = {"bpd": 3.0811481354, "rows": [{"label": "a", "n": 10}], "also": None, "nan": np.nan}
    path = registry.record("chapter", "mine", values, data="some data", device="cpu")
    committed = path.read_text().replace("1 thread", "7 threads")  # measured elsewhere
    path.write_text(committed)
    noise = values | {"bpd": 3.0811481354 * (1 + 1e-9)}  # another thread count's rounding
    registry.record("chapter", "mine", noise, data="some data", device="cpu")
    assert path.read_text() == committed  # so building the book changes no committed record
    for changed, data in [
        (values | {"bpd": 3.0812}, "some data"),  # a number changed
        (values | {"rows": [{"label": "b", "n": 10}]}, "some data"),
        (values | {"extra": 1}, "some data"),
        (values, "other data"),
    ]:
        path.write_text(committed)
        registry.record("chapter", "mine", changed, data=data, device="cpu")
        assert path.read_text() != committed
    assert registry.reproduces({"a": [1, 2.0]}, {"a": (1, 2.0000000001)})
    assert not registry.reproduces({"a": True}, {"a": 1.5})


def tiny_run(path: Path, steps: int = 1) -> Path:
    """A PixelCNN++ run at the smoke preset, trained for ``steps`` steps on 8x8 images."""
    images = torch.randint(
        0, 256, (8, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    torch.manual_seed(0)
    model = auxpix.build(
        "pixelcnnpp", preset="smoke", image_size=8, net=dict(nr_resnet=1, nr_filters=8)
    )
    train(model, images, run_dir=path, preset="smoke", steps=steps, progress=False)
    return path


def edit_config(path: Path, **fields) -> None:
    """Change fields of the config saved in the run at ``path``, as an earlier library might have saved it."""
    run = json.loads((path / RUN_FILE).read_text())
    for key, value in fields.items():
        group, _, name = key.rpartition(".")
        (run["config"][group] if group else run["config"])[name] = value
    (path / RUN_FILE).write_text(json.dumps(run))


def test_a_run_that_does_not_load_stops_the_chapter_in_one_line_and_is_never_retrained(
    results, monkeypatch
):
    monkeypatch.setattr(
        registry, "train_parts", lambda *args, **kwargs: pytest.fail("trained without being asked")
    )
    with pytest.raises(
        RunUnavailable, match="missing or unfinished: train it with `-p train True`"
    ):
        registry.trained("pixelcnnpp", "smoke")
    assert registry.needs_training("pixelcnnpp", "smoke")
    path = tiny_run(registry.run_dir("pixelcnnpp", "smoke"))
    assert registry.trained("pixelcnnpp", "smoke") is not None
    assert not registry.needs_training("pixelcnnpp", "smoke")
    edit_config(path, **{"net.nr_filters": 16})  # the weights no longer fit the model
    with pytest.raises(RunUnavailable, match="does not fit this version of auxpix's models: train"):
        registry.trained("pixelcnnpp", "smoke")
    edit_config(path, image_size=7)  # the config no longer builds a model
    with pytest.raises(RunUnavailable, match="does not fit this version"):
        registry.trained("pixelcnnpp", "smoke")
    assert registry.needs_training("pixelcnnpp", "smoke") and not registry.loads(path)
    assert (
        registry.trained_parameters(path, "pixelcnnpp") > 0
    )  # a pilot's size, from its checkpoint


@pytest.mark.parametrize("start", ["repository", "elsewhere"])
def test_chapter_01_finds_the_committed_runs_from_anywhere_and_trains_nothing(
    start, tmp_path, monkeypatch
):
    """papermill notebooks/01_cifar10_likelihoods.ipynb out.ipynb -p preset cpu, started in the
    repository or anywhere else, without --cwd: its runs and records are the committed ones."""
    monkeypatch.delenv(registry.RESULTS_ENV, raising=False)
    monkeypatch.setattr(registry, "_default_results", None)
    monkeypatch.chdir(REPO if start == "repository" else tmp_path)
    monkeypatch.setattr(registry, "train_part", lambda *a, **k: pytest.fail("trained unasked"))
    for kind, preset in [("grayscale", "cpu"), ("pixelcnnpp", "cpu"), ("pyramid", "cpu-cifar")]:
        assert registry.trained(kind, preset, device="cpu") is not None
    assert set(registry.fine_tuned("cpu")) == set(registry.FINE_TUNES.values())
    assert registry.recorded("cifar10_likelihoods", "cpu") is not None
    with pytest.raises(RunUnavailable) as missing:  # no committed run at the paper preset
        registry.trained("grayscale", "paper")
    message = str(missing.value)
    assert "\n" not in message and message.endswith("scripts/train_book_runs.sh paper")


def test_a_notebook_shows_a_run_problem_as_one_line():
    error = RunUnavailable("results/runs/x is missing or unfinished: train it with ...")
    assert error._render_traceback_() == [
        "RunUnavailable: results/runs/x is missing or unfinished: train it with ..."
    ]


def test_a_chapter_keeps_its_samples_until_the_run_or_a_setting_changes(results, monkeypatch):
    images = torch.randint(
        0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    model = auxpix.build("pyramid", preset="smoke")
    path = registry.run_dir("pyramid", "smoke")
    train(model, images, run_dir=path, preset="smoke", steps=1, progress=False)
    model.eval()
    kept = lambda **options: registry.kept_pyramid_samples(
        "figure", "smoke", model, 2, seed=0, **options
    )  # noqa: E731
    first = kept(map=True)
    assert {r: tuple(level.shape) for r, level in first.items()} == {
        "8": (2, 3, 8, 8),
        "16": (2, 3, 16, 16),
        "image": (2, 3, 32, 32),
    }
    assert (results / "samples" / "smoke" / "figure.npz").is_file()
    assert list(kept(top_only=True)) == ["image"]  # another setting: drawn again, kept instead
    real_draw = registry.draw
    monkeypatch.setattr(
        registry, "draw", lambda *args, **kwargs: pytest.fail("kept samples drawn again")
    )
    assert kept(top_only=True)["image"].shape[-1] == 32
    monkeypatch.setattr(registry, "draw", real_draw)
    again = kept(
        map=True
    )  # drawn again (the file keeps one set), from the same seed: the same samples
    assert all(torch.equal(again[r], first[r]) for r in first)
    train(
        model, images, run_dir=path, preset="smoke", steps=2, resume=True, progress=False
    )  # a new checkpoint
    monkeypatch.setattr(
        registry,
        "draw",
        lambda *args, **kwargs: {"image": torch.zeros(1, 3, 32, 32, dtype=torch.uint8)},
    )
    assert kept(map=True)["image"].shape[0] == 1  # the run changed: drawn again


def test_other_problems_of_a_run_are_errors_not_retraining(results):
    path = tiny_run(registry.run_dir("pixelcnnpp", "smoke"))
    checkpoint = (
        path / "pixelcnnpp" / read_state(path / "pixelcnnpp")["checkpoint"] / "ema.safetensors"
    )
    checkpoint.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="unreadable"):
        registry.trained("pixelcnnpp", "smoke")


def test_a_retrain_replaces_a_run_of_an_earlier_architecture(results, monkeypatch):
    path = tiny_run(registry.run_dir("pixelcnnpp", "smoke"))
    edit_config(path, image_size=7)
    retrained = []

    def train_parts(kind, preset, parts, **options):
        retrained.append((kind, preset, parts))
        return tiny_run(path.with_name(path.name + ".training"))

    monkeypatch.setattr(registry, "train_parts", train_parts)
    assert registry.trained("pixelcnnpp", "smoke", train=True) is not None and retrained == [
        ("pixelcnnpp", "smoke", ["pixelcnnpp"])
    ]
    assert (path / "training.json").is_file() and not path.with_name(
        path.name + ".training"
    ).exists()


def test_train_parts_names_a_missing_part(results):
    with pytest.raises(ConfigError, match="no part 64: its parts are 8, 16, 32"):
        registry.train_parts("pyramid", "smoke", ["64"])


# --------------------------------------------------------------------------- budgets


@pytest.mark.parametrize(
    "kind,preset,parts",
    [
        ("pixelcnnpp", "cpu", ["pixelcnnpp"]),
        ("grayscale", "cpu", ["aux", "cond"]),
        ("pyramid", "cpu", ["8", "16", "32", "64", "128"]),
        ("pyramid", "cpu-cifar", ["8", "16", "32"]),
    ],
)
def test_cpu_budget_is_two_hours_per_model(kind, preset, parts):
    minutes = [budget(kind, preset, part, parts)["minutes"] for part in parts]
    assert sum(minutes) == pytest.approx(120)
    assert minutes == sorted(minutes)  # later parts (colour, higher resolutions) get more


def test_pyramid_levels_share_minutes_by_resolution():
    parts = ["8", "16", "32", "64"]
    minutes = [budget("pyramid", "cpu-cifar", part, parts)["minutes"] for part in parts]
    assert minutes == pytest.approx([8, 16, 32, 64])


def test_cpu_celeba_pyramid_gives_the_levels_trained_on_32x32_equal_minutes():
    config = auxpix.config.preset("pyramid", "cpu")
    parts = [str(r) for r in config.resolutions]
    minutes = {part: budget("pyramid", "cpu", part, parts)["minutes"] for part in parts}
    top = [part for part in parts if int(part) >= config.crop]
    assert config.crop == 32 and len({minutes[part] for part in top}) == 1


def test_part_streams_balance_a_models_budget():
    assert retraining.part_streams("pyramid", "cpu") == [["32", "128"], ["64", "16", "8"]]
    assert sorted(sum(retraining.part_streams("pyramid", "smoke", 3), [])) == ["16", "32", "8"]
    assert retraining.part_streams("pyramid", "cpu", parts=["16", "32", "128"]) == [
        ["32", "16"],
        ["128"],
    ]


def finished_run(path: Path, kind: str, preset: str) -> Path:
    """A run folder whose parts all say they are done (no weights: enough for staging)."""
    model = auxpix.build(kind, preset=preset)
    run = {"kind": kind, "preset": preset, "config": auxpix.config.config_to_dict(model.config)}
    path.mkdir(parents=True)
    (path / RUN_FILE).write_text(json.dumps(run))
    for part in model.parts:
        (path / part).mkdir()
        state = {
            "step": 1,
            "seed": 0,
            "seconds": 1.0,
            "checkpoint": "ckpt-00000001-x",
            "done": True,
        }
        (path / part / "state.json").write_text(json.dumps(state))
    return path


def test_a_retraining_keeps_the_other_parts_and_takes_todays_preset(results):
    final = finished_run(registry.run_dir("pyramid", "smoke"), "pyramid", "smoke")
    edit_config(final, input_noise=[0.5, 0.5])  # as saved before a change of recipe
    staging = retraining.stage_retraining("pyramid", "smoke", ["16"])
    assert sorted(p.name for p in staging.iterdir()) == ["32", "8", RUN_FILE]
    assert read_state(staging / "8") == read_state(final / "8")
    today = auxpix.config.preset("pyramid", "smoke")
    assert auxpix.runs.read_run(staging)["config"] == today
    (staging / "32" / "begun").touch()  # a retraining begun is resumed, not staged again
    assert retraining.stage_retraining("pyramid", "smoke", ["16"]) == staging
    assert (staging / "32" / "begun").exists()


def test_a_retraining_finishes_without_the_kept_parts_raw_weights(results, monkeypatch):
    final = finished_run(registry.run_dir("pyramid", "smoke"), "pyramid", "smoke")
    staging = retraining.stage_retraining("pyramid", "smoke", ["16"])
    for part in ("16", "32"):  # as if trained; "8" is kept with its state alone, as committed
        (staging / part).mkdir(exist_ok=True)
        (staging / part / "state.json").write_text((final / part / "state.json").read_text())
    monkeypatch.setattr(registry, "model_images", lambda *args, **kwargs: None)
    assert registry.train_parts("pyramid", "smoke", ["8", "16", "32"]) == staging


def test_a_retraining_needs_a_finished_run_and_real_parts(results):
    with pytest.raises(RunUnavailable, match="train it whole .* before retraining some"):
        retraining.stage_retraining("pyramid", "smoke", ["16"])
    with pytest.raises(ConfigError, match="no part 64: its parts are 8, 16, 32"):
        retraining.stage_retraining("pyramid", "smoke", ["64"])


def test_other_budgets():
    assert budget("pyramid", "smoke", "8", ["8", "16"]) == {"steps": 150}
    assert budget("grayscale", "paper", "aux", ["aux", "cond"]) == {"epochs": 30}
    assert budget("pyramid", "paper-cifar", "16", ["8", "16", "32"]) == {"epochs": 60}
    assert budget("pixelcnnpp", "paper", "pixelcnnpp", ["pixelcnnpp"]) == {"epochs": 200}
    assert budget("toy", "cpu", "b", ["a", "b"]) == {"minutes": 60}  # a new kind: equal shares


def test_paper_epochs_say_what_is_wrong():
    assert paper_epochs("grayscale", "cond") == 200
    with pytest.raises(ConfigError, match="per part: name one of aux, cond"):
        paper_epochs("grayscale")
    with pytest.raises(ConfigError, match="no paper epochs for 'toy'"):
        paper_epochs("toy")
    with pytest.raises(ConfigError, match="no budget for preset 'tiny'"):
        budget("pixelcnnpp", "tiny", "pixelcnnpp", ["pixelcnnpp"])


def test_reproduce_paper_reads_the_epochs_from_the_config():
    script = (REPO / "scripts" / "reproduce_paper.sh").read_text()
    assert "paper_epochs" in script
    assert not re.search(r"--epochs \d", script)


# --------------------------------------------------------------------------- tables


def test_paper_numbers_of_our_cifar10_models_come_from_table1():
    assert (
        tables.paper_cifar10_bpd("grayscale") == 2.98
        and tables.paper_cifar10_text("grayscale") == "≤ 2.98"
    )
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
    assert list(split.columns) == [
        "ours: JPEG-decoded test (100 img)",
        "ours: exact-pixel test (10 img)",
        "paper",
    ]
    exact = tables.ours_on(split, tables.EXACT_TEST)
    assert split.loc[tables.AUX_SHARE, exact] == pytest.approx(0.5 / 3.0)
    assert np.isnan(
        split.loc[tables.AUX_TRAIN, exact]
    )  # training images were scored on one set only
    assert split.loc[tables.AUX_SHARE, "paper"] == pytest.approx(0.459 / 2.98)
    with pytest.raises(KeyError, match="no single column"):
        tables.ours_on(split, "other")


def speed_rows(pyramid=(2.0, 0.005, 0.004), pixelcnnpp_cached=0.05) -> list[dict]:
    """sampling_table rows: the per-resolution table's pyramid rows, and the comparison's
    pyramid (naive, cached, window) and PixelCNN++ (cached) at 128x128."""
    naive, cached, window = pyramid
    row = {"batch": 1, "threads": 1}
    return [
        {
            "model": "pyramid",
            "resolution": 64,
            **row,
            tables.NAIVE: 0.5,
            tables.CACHED: 0.004,
            tables.WINDOW: 0.003,
        },
        {
            "model": "pyramid",
            "resolution": 128,
            **row,
            tables.NAIVE: naive,
            tables.CACHED: cached,
            tables.WINDOW: window,
        },
        {"model": "pixelcnnpp", "resolution": 128, **row, tables.CACHED: pixelcnnpp_cached},
    ]


def test_sampling_speeds_and_the_papers_comparison():
    speeds = tables.sampling_speeds(speed_rows())
    assert speeds.loc[("pyramid", 128), tables.SPEED_UP] == pytest.approx(400)
    assert np.isnan(
        speeds.loc[("pixelcnnpp", 128), tables.SPEED_UP]
    )  # its naive sampler was not timed
    comparison = tables.speed_comparison(speeds)
    assert list(comparison.index) == [
        tables.PAPER_SPEEDS,
        tables.OURS_WINDOW,
        tables.OURS_CACHED,
        tables.OURS_NAIVE,
    ]
    assert comparison.loc[tables.PAPER_SPEEDS, tables.SPEED_RATIO] == pytest.approx(12.5)
    assert comparison.loc[tables.OURS_WINDOW, tables.SPEED_RATIO] == pytest.approx(12.5)
    assert comparison.loc[tables.OURS_CACHED, tables.SPEED_RATIO] == pytest.approx(10)
    assert comparison.loc[tables.OURS_NAIVE, tables.PIXELCNNPP_SPEED] == pytest.approx(0.05)
    assert tables.paper_speed_summary() == "0.004 vs 0.05 (12.5x)"
    assert (
        tables.speed_summary(comparison)
        == "window 0.0040 vs 0.0500 (12x); cached 0.0050 vs 0.0500 (10x)"
    )
    without_naive = [{k: v for k, v in row.items() if k != tables.NAIVE} for row in speed_rows()]
    assert (
        tables.OURS_NAIVE
        not in tables.speed_comparison(tables.sampling_speeds(without_naive)).index
    )


def test_status_table_shows_ours_beside_the_paper_with_the_gap(results):
    exact = {"grayscale_total": 3.5, "cond_test": 3.0, "aux_test": 0.5, "aux_share": 0.099}
    jpeg = {"grayscale_total": 3.0, "aux_train": 0.55, "aux_test": 0.6, "aux_share": 0.2}
    data = {
        tables.EXACT_TEST: "exact pixels (1000 images)",
        tables.JPEG_TEST: "JPEG (10000 images)",
    }
    registry.record(
        "cifar10_likelihoods",
        "mine",
        {tables.EXACT_TEST: exact, tables.JPEG_TEST: jpeg},
        data=data,
        device="cpu",
    )
    table = status.status_table("mine")
    row = table.loc["Table 1: Grayscale PixelCNN, bits/dim"]
    assert (row["paper"], row["ours"], row["gap (ours − paper)"]) == ("≤ 2.98", "3.500", "+0.520")
    assert row["preset; data; compute"].startswith("mine; exact pixels (1000 images); cpu (")
    assert "not trained yet" in row["why the gap"]
    share = table.loc["§4.1: p(X̂) share of the bits"]  # a gap of shares is in percentage points
    assert (share["paper"], share["ours"], share["gap (ours − paper)"]) == (
        "15.4%",
        "9.9%",
        "-5.5 pp",
    )
    assert "exact pixels" in share["preset; data; compute"]
    aux = table.loc[
        "§4.1: p(X̂) train / test, bits/dim"
    ]  # both numbers from the one set with training images
    assert (aux["paper"], aux["ours"], aux["gap (ours − paper)"]) == (
        "0.442 / 0.459",
        "0.550 / 0.600",
        "+0.108 / +0.141",
    )
    assert "JPEG (10000 images)" in aux["preset; data; compute"]
    assert table.loc["Table 1: PixelCNN++, bits/dim", "ours"] == "not in this preset"
    assert table.loc["Table 2: CelebA 8x8, bits/dim (whole image)", "ours"] == "not run yet"
    figures = {"MAP samples": 16, "levels": 4, "seed": 0}
    values = {"whole_8": 5.0, "level_8": 5.0, "whole_16": 5.5, "level_16": 6.0, "figures": figures}
    registry.record("celeba_pyramid", "mine", values, data="322 faces (random split)", device="cpu")
    registry.record(
        "sampling_speed", "mine", {"comparison_rows": speed_rows()}, data="none", device="cpu"
    )
    table = status.status_table("mine")
    assert (
        table.loc["Table 2: CelebA 16x16, bits/dim (whole image)", "ours"] == "5.500"
    )  # the whole image's, not the level's
    assert (
        table.loc["Table 2: CelebA 8x8, bits/dim (whole image)", "gap (ours − paper)"]
        == f"{5.0 - paper.TABLE2[8]:+.3f}"
    )
    assert (
        "random split"
        in table.loc["Table 2: CelebA 8x8, bits/dim (whole image)", "preset; data; compute"]
    )
    assert (
        "stops below 32x32"
        in table.loc["Table 2: CelebA 32x32, bits/dim (whole image)", "why the gap"]
    )
    assert (
        table.loc["Figures 5–6: MAP samples, pyramid levels", "ours"]
        == "16 MAP samples, 4 levels (seed 0)"
    )
    speed = table.loc["§4.2: s/pixel at 128x128, Pyramid vs cached PixelCNN++ (ratio)"]
    expected = tables.speed_summary(tables.speed_comparison(tables.sampling_speeds(speed_rows())))
    assert (speed["paper"], speed["ours"]) == ("0.004 vs 0.05 (12.5x)", expected)


CLAIM_NAMES = {
    "aux_share": "§4.1: p(X̂), the high-level structure, is only a small fraction of the "
    "Grayscale PixelCNN's bits",
    "grayscale": "Table 1: the Grayscale PixelCNN is on par with PixelCNN++ in bits/dim",
    "pyramid": "§4.2: the Pyramid PixelCNN costs about 0.4 bits/dim more than PixelCNN++ on CIFAR-10",
    "celeba": "Table 2, read as the whole image at each resolution: CelebA bits/dim are smaller "
    "for higher resolutions",
    "levels": "Table 2, read as each level's own bits given the level below: CelebA bits/dim are "
    "smaller for higher resolutions",
    "sharpen": "Fig. 4: reducing the scales (c = 1) and MAP sampling raise the samples' "
    "perceptual quality",
    "speed": "§4.2: the pyramid without caching samples a pixel about 12.5x faster than a cached "
    "PixelCNN++",
    "coherent": "§4.1, Figs. 2–3: the Grayscale PixelCNN's samples are more globally coherent "
    "than PixelCNN++'s",
    "objects": "§4.1, Fig. 2: the Grayscale PixelCNN's samples often resemble objects (cars, "
    "dogs, horses)",
}


def record_claims(
    preset: str,
    *,
    gray: float,
    pyramid: float,
    aux: float,
    whole: list,
    level: list,
    sharp: list,
    bpd: list,
    speed: tuple,
    verdict: str,
    confident: tuple,
) -> None:
    """Chapter records at ``preset`` with the numbers the claims are judged on (PixelCNN++: 3.5
    on the JPEG-decoded test set, 4.5 on exact pixels, where every model costs 1.0 more)."""
    from auxpix.book import sample_quality as chapter

    cifar = {
        "pixelcnnpp_total": 3.5,
        "grayscale_total": gray,
        "pyramid_total": pyramid,
        "aux_test": aux,
        "aux_share": aux / gray,
    }
    exact = {key: value + 1.0 for key, value in cifar.items() if key.endswith("_total")}
    registry.record(
        "cifar10_likelihoods",
        preset,
        {tables.JPEG_TEST: cifar, tables.EXACT_TEST: exact},
        data={tables.JPEG_TEST: "JPEG", tables.EXACT_TEST: "exact"},
        device="cpu",
    )
    sizes = [8 * 2**i for i in range(len(whole))]
    values = {f"whole_{r}": v for r, v in zip(sizes, whole)}
    registry.record(
        "celeba_pyramid",
        preset,
        values | {f"level_{r}": v for r, v in zip(sizes, level)},
        data="faces",
        device="cpu",
    )
    labels = [tables.shift_label(0.0), tables.shift_label(1.0), tables.MAP, tables.REAL_FACES]
    registry.record(
        "variance_reduction",
        preset,
        {"sharpness": dict(zip(labels, sharp)), "bits_per_dim": dict(zip(labels, bpd))},
        data="faces",
        device="cpu",
    )
    registry.record(
        "sampling_speed",
        preset,
        {"comparison_rows": speed_rows((2.0, 0.005, speed[0]), speed[1])},
        data="none",
        device="cpu",
    )
    rows = [
        {"label": label, "confident_share": share}
        for label, share in zip((chapter.GRAYSCALE, chapter.REAL, chapter.PIXELCNNPP), confident)
    ]
    registry.record(
        "sample_quality", preset, {"verdict": verdict, "rows": rows}, data="CIFAR-10", device="cpu"
    )


def test_claims_verdicts_are_computed_from_the_recorded_numbers(results):
    from auxpix.book import claims

    table = claims.claims_table("mine")
    assert set(table["verdict"]) == {claims.NOT_MEASURABLE}  # nothing recorded at this preset
    record_claims(
        "mine",
        gray=3.55,
        pyramid=4.0,
        aux=0.5,
        whole=[5.0, 4.5, 4.0],
        level=[5.0, 4.0, 3.0],
        sharp=[100.0, 20.0, 15.0, 13.0],
        bpd=[7.0, 5.0, 4.5, 3.5],
        speed=(0.004, 0.05),
        verdict="supported",
        confident=(0.4, 0.7, 0.1),
    )
    table = claims.claims_table("mine").rename(index={v: k for k, v in CLAIM_NAMES.items()})
    assert list(table.index) == list(CLAIM_NAMES)
    assert set(table["verdict"]) == {claims.HOLDS}
    assert table.loc["grayscale", "ours"] == "JPEG-decoded test: 3.550 vs 3.500 (+0.050)"
    assert table.loc["grayscale", "ours, also"] == "exact-pixel test: 4.550 vs 4.500 (+0.050)"
    assert "on the JPEG-decoded test set: the kind of data" in table.loc["grayscale", "criterion"]
    assert table.loc["aux_share", "ours"] == "JPEG-decoded test: 14.1% (0.500 of 3.550)"
    assert "X̂'s share of the raw bits 16.7%" in table.loc["aux_share", "paper"]
    assert table.loc["celeba", "ours"] == "5.00 > 4.50 > 4.00 (8..32)"
    assert table.loc["levels", "ours"] == "5.00 > 4.00 > 3.00 (8..32)"
    assert table.loc["sharpen", "ours"].startswith("sharpness 100.00 (c = 0) → 20.00 (c = 1.0)")
    assert "real faces 3.50" in table.loc["sharpen", "ours"]
    assert table.loc["speed", "ours"] == "window 12.5x, cached 10x, naive 0.025x"
    also = table.loc["speed", "ours, also"]
    assert "cached PixelCNN++ 0.0500 (paper, Titan X: pyramid 0.004" in also
    assert "no GPU timing" in also
    assert (
        table.loc["objects", "ours"]
        == "40.0% of its samples, real test images 70.0%, PixelCNN++ 10.0%"
    )
    assert "JPEG" in table.loc["grayscale", "preset; data; compute"]
    record_claims(
        "mine",
        gray=3.7,
        pyramid=4.2,
        aux=0.65,  # 17.6 %: above X̂'s share of the raw bits
        whole=[5.0, 5.5, 4.0],
        level=[5.0, 4.0, 4.5],
        sharp=[100.0, 20.0, 150.0, 13.0],  # MAP further from the real faces' sharpness
        bpd=[7.0, 5.0, 4.5, 3.5],
        speed=(0.04, 0.05),
        verdict="undecided",
        confident=(0.3, 0.7, 0.1),
    )
    table = claims.claims_table("mine").rename(index={v: k for k, v in CLAIM_NAMES.items()})
    assert set(table["verdict"]) == {claims.FAILS}
    assert table.loc["celeba", "ours"] == "5.00, 5.50, 4.00 (8..32)"
    registry.record(  # chapter 04's record before it recorded the real faces: not measurable
        "variance_reduction", "mine", {"sharpness": {"c = 0.0": 1.0}}, data="faces", device="cpu"
    )
    sharpen = claims.claims_table("mine").loc[CLAIM_NAMES["sharpen"]]
    assert (sharpen["verdict"], sharpen["ours"]) == (claims.NOT_MEASURABLE, claims.NO_NUMBER)


def test_the_aux_share_is_judged_against_the_raw_bits_of_the_4_bit_gray():
    from auxpix.book import claims

    assert (
        tables.RAW_BIT_SHARE == pytest.approx(4 / 24)
        and claims.AUX_SHARE_BELOW == tables.RAW_BIT_SHARE
    )
    assert tables.paper_aux_share() < claims.AUX_SHARE_BELOW  # the paper's 15.4 % meets it


def test_status_table_reads_the_records_and_says_what_a_preset_lacks(results):
    registry.record(
        "cifar10_likelihoods",
        "smoke",
        {tables.EXACT_TEST: {"pixelcnnpp_total": 4.0}},
        data={tables.EXACT_TEST: "exact"},
        device="cpu",
    )
    tiny_run(registry.run_dir("pixelcnnpp", "smoke"))
    table = status.status_table("smoke")
    assert table.loc["Table 1: PixelCNN++, bits/dim", "ours"] == "4.000"
    assert table.loc["Table 1: Grayscale PixelCNN, bits/dim", "ours"] == "not in this preset"
    assert (
        table.loc["Table 2: CelebA 64x64, bits/dim (whole image)", "ours"] == "not in this preset"
    )
    assert table.loc["Figure 4: variance reduction", "ours"] == "not run yet"


def test_cifar10_record_of_the_scored_models(results):
    runs = {"PixelCNN++": tiny_run(registry.run_dir("pixelcnnpp", "smoke"))}
    scores = {"PixelCNN++": {tables.EXACT_TEST: {"bpd": {"total": 4.0}, "n_images": 10}}}
    values, data = tables.cifar10_record(scores, None, runs, 10)
    assert values == {tables.EXACT_TEST: {"pixelcnnpp_total": 4.0}}
    assert data == {tables.EXACT_TEST: "CIFAR-10 test images 0–999, exact pixels (10 images)"}
    assert tables.cifar10_record({}, None, runs, 10) == ({}, {})


def test_sizing_pilot_compares_the_preset_with_each_candidate(results, monkeypatch):
    images = torch.randint(
        0, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    mine = auxpix.build(
        "pixelcnnpp", preset="smoke", image_size=8, net=dict(nr_resnet=1, nr_filters=8)
    ).config
    monkeypatch.setitem(auxpix.PRESETS["pixelcnnpp"], "mine", mine)
    runs = {
        results / "pilot" / "pixelcnnpp-mine-1x16": ("mine", 16),  # listed after the preset's run
        results / "pilot" / "pixelcnnpp-mine-1x8": ("mine", 8),
        results / "pilot" / "pixelcnnpp-smoke-1x4": ("smoke", 4),
    }
    for path, (preset, filters) in runs.items():
        torch.manual_seed(0)
        model = auxpix.build(
            "pixelcnnpp", preset="smoke", image_size=8, net=dict(nr_resnet=1, nr_filters=filters)
        )
        train(
            model,
            images,
            run_dir=path,
            preset=preset,
            steps=4,
            test_images=images[:4],
            eval_every=2,
            progress=False,
        )
    runs = registry.pilot_runs(
        "pixelcnnpp", "mine"
    )  # without the pilot of another preset, the preset's first
    preset_label, candidate = "net.nr_filters=8 (the preset)", "net.nr_filters=16"
    assert list(runs) == [preset_label, candidate]
    table = tables.sizing_pilot(runs, "pixelcnnpp", minutes=(0, 1e6))
    assert table["steps"].tolist() == [4, 4]
    assert table.loc[preset_label, "parameters"] < table.loc[candidate, "parameters"]
    for label, path in runs.items():
        tested = [m for m in read_metrics(path, "pixelcnnpp") if "test_bpd" in m]
        assert [m["step"] for m in tested] == [2, 4]
        assert np.isnan(
            table.loc[label, tables.tested_after(0)]
        )  # before the first evaluation: none
        assert np.isnan(table.loc[label, tables.tested_after(1e6)])  # after the last: none
        start, end = tested[0]["seconds"], tested[1]["seconds"]
        middle = (start + end) / 120
        one = tables.sizing_pilot({label: path}, "pixelcnnpp", minutes=(middle,))
        assert one.loc[label, tables.tested_after(middle)] == pytest.approx(
            (tested[0]["test_bpd"] + tested[1]["test_bpd"]) / 2
        )
    assert registry.pilot_runs("pixelcnnpp", "cpu") == {}
    default = tables.sizing_pilot(
        runs, "pixelcnnpp"
    )  # the quarters of a budget of (rounded) 0 minutes
    assert [column for column in default.columns if column.startswith("test")] == [
        tables.tested_after(0)
    ]
    # today's preset differs from the pilot's runs in a field they did not vary (an earlier architecture):
    # the runs are still labelled by what they varied, and the one of today's sizes is the preset's
    monkeypatch.setitem(
        auxpix.PRESETS["pixelcnnpp"],
        "mine",
        auxpix.preset("pixelcnnpp", "mine", train={"lr": 2e-3}),
    )
    assert list(registry.pilot_runs("pixelcnnpp", "mine")) == [preset_label, candidate]
    monkeypatch.setitem(
        auxpix.PRESETS["pixelcnnpp"],
        "mine",
        auxpix.preset("pixelcnnpp", "mine", net={"nr_filters": 32}),
    )
    assert list(registry.pilot_runs("pixelcnnpp", "mine")) == [
        candidate,
        "net.nr_filters=8",
    ]  # none is the preset


def test_sharpness_is_high_for_edges_and_zero_for_flat_images():
    flat = torch.full((1, 3, 8, 8), 128, dtype=torch.uint8)
    edges = flat.clone()
    edges[..., ::2, :] = 0
    assert tables.sharpness(flat).item() == 0 and tables.sharpness(edges).item() > 100


# --------------------------------------------------------------------------- readings


def test_loss_split_reading_follows_the_numbers():
    reading = readings.loss_split(split_table(exact=(0.45, 2.55)), "cpu")
    assert (
        "on the exact-pixel test images p(X̂) carries **15.0%** of our Grayscale PixelCNN's bits (paper: 15.4%): "
        "below X̂'s share of the raw bits, 16.7%, as the paper's is" in reading
    )
    assert "fewer bits per raw bit than the colour detail, as the paper claims" in reading
    assert (
        "our p(X̂) is -0.009 and our p(X | X̂) +0.030 bits/dim: the colour model is further"
        in reading
    )
    assert "which lowers p(X̂)'s share" in reading
    assert (
        "train/test gap (test minus train) is +0.010 bits/dim (paper: +0.017)" in reading
        and "Smoke" not in reading
    )
    reading = readings.loss_split(split_table(exact=(1.2, 3.5)), "smoke")
    assert "not below X̂'s share of the raw bits, 16.7%, unlike the paper's" in reading
    assert (
        "the colour model is further from the paper's than the grayscale one, which lowers p(X̂)'s share"
        in reading
    )
    assert reading.endswith("says little about the paper's models.")


def test_captions():
    assert readings.train_subset(10) == "p(X̂) on the training set: the first 10 training images"
    assert (
        readings.celeba_test_caption(660, "official")
        == "660 CelebA test images (CelebA's official split, of the 6,097 images we have)"
    )
    assert (
        readings.celeba_test_caption(322, "random")
        == "322 CelebA test images (the paper's random 95/5 split, of the 6,097 images we have)"
    )
    cropped = auxpix.config.preset("pyramid", "cpu", resolutions=(8, 16, 32, 64, 128), crop=32)
    assert readings.crop_training(cropped).startswith(
        "To fit the training budget, the 64x64 and 128x128 levels trained "
        "on aligned random 32x32 crops, each with the matching 16x16 crop"
    )
    assert readings.crop_training(auxpix.config.preset("pyramid", "cpu", crop=0)) == ""
    assert (
        readings.pilot_caption({"a": 1, "b": 2}, "64", "cpu")
        == "2 networks in the sizing pilot of part 64 at preset 'cpu'"
    )
    earlier = readings.pilot_caption({"a": 1, "b": 2}, "64", "cpu", earlier_architecture=True)
    assert earlier.startswith(
        "2 networks in the sizing pilot of part 64 at preset 'cpu', trained with an older version of "
        "auxpix, before its networks, initialization and recipe followed the paper"
    )
    assert not re.search(r"(?i)issue \d", earlier)
    assert (
        readings.pilot_caption({}, "64", "smoke")
        == "No sizing pilot at preset 'smoke': its networks were not chosen by one."
    )


def test_sizing_reading_names_the_winner_and_how_its_lead_moved():
    sizing = pd.DataFrame(
        {tables.tested_after(15): [5.0, 5.3, 5.4], tables.tested_after(60): [3.8, 4.0, 3.9]},
        index=["a (the preset)", "b", "c"],
    )
    reading = readings.sizing_pilot(sizing)
    assert reading.startswith(
        "After 60 min, **a (the preset)** has the lowest test bits/dim (3.800; b: 4.000, c: 3.900)"
    )
    assert (
        "The preset uses it." in reading
        and "shrinks from 0.30 bits/dim after 15 min to 0.10" in reading
    )
    sizing[tables.tested_after(60)] = [3.8, 3.7, 4.6]
    reading = readings.sizing_pilot(sizing)
    assert (
        "**b**" in reading
        and "does not use it" in reading
        and "0.30 bits/dim behind after 15 min" in reading
    )
    sizing[tables.tested_after(60)] = [3.8, 4.3, 4.4]
    assert (
        "lead grows from 0.30 bits/dim after 15 min to 0.50 after 60 min."
        in readings.sizing_pilot(sizing)
    )


def test_colorization_reading_names_the_model_and_warns_at_smoke():
    reading = readings.colorization("cpu", "trained 60 min in all")
    assert reading.endswith("Models: preset **cpu**, trained 60 min in all.")
    assert readings.colorization("smoke", "trained 1 min").endswith(
        "says little about the paper's models."
    )


def pyramid_table(whole, level) -> pd.DataFrame:
    sizes = [8, 16, 32]
    return pd.DataFrame(
        {
            tables.WHOLE_IMAGE: whole,
            tables.PAPER: [paper.TABLE2[r] for r in sizes],
            tables.LEVEL: level,
        },
        index=[tables.resolution_label(r) for r in sizes],
    )


def test_pyramid_reading_compares_the_whole_image_with_the_paper():
    reading = readings.pyramid_trend(pyramid_table([5.1, 5.84, 5.81], [5.1, 4.56, 4.35]), "cpu")
    assert reading.startswith(
        "Our whole-image bits/dim, -log p(X_r) / 3r², go 5.10 → 5.84 → 5.81 from 8x8 to 32x32: "
        "they do not fall with every step up in resolution (they rise from 8x8 to 16x16). The "
        "whole image at r has a quarter of r/2's bits/dim plus its level's own, so it rises "
        "exactly where a level's own bits exceed three quarters of the image below it: at 16x16, "
        "its level's own 4.56 against 3/4 × 5.10 = 3.82."
    )
    assert (
        "go 4.58 → 4.30 → 3.33: they fall with every step up in resolution, unlike ours; at 32x32 ours is 2.48 "
        "bits/dim above the paper's." in reading
    )
    assert reading.endswith(
        "Each level's own bits, -log p(X_r | X_r/2) / 3r², go 5.10 → 4.56 → 4.35: they fall with "
        "every step up in resolution."
    )
    reading = readings.pyramid_trend(pyramid_table([4.5, 4.2, 3.0], [4.5, 4.1, 2.6]), "smoke")
    assert (
        "they fall with every step up in resolution, like ours; at 32x32 ours is 0.33 bits/dim below"
        in reading
    )
    assert "Smoke models" in reading


def test_table2_is_read_as_the_whole_image_with_the_reason(monkeypatch):
    reading = readings.table2_quantity()
    assert reading.startswith(
        "We compare the paper's Table 2 with the whole image at each resolution, -log p(X_r) / 3r²"
    )
    whole_16 = (64 * paper.TABLE2[8] + 256 * paper.TABLE2[16]) / 256
    assert (
        f"a whole 16x16 face cost {whole_16:.2f} bits/dim and a 32x32 face 4.69, more than the 3.32"
        in reading
    )
    monkeypatch.setattr(
        paper, "TABLE2", {8: 3.0, 16: 2.5, 32: 2.0}
    )  # numbers under which either reading fits
    assert "either reading is plausible" in readings.table2_quantity()


def statistics(sharp_last: float, bpd_last: float) -> pd.DataFrame:
    first, last = (
        tables.shift_label(c)
        for c in (paper.VARIANCE_REDUCTION_SHIFTS[0], paper.VARIANCE_REDUCTION_SHIFTS[-1])
    )
    rows = {
        first: [28.0, 6.0],
        last: [sharp_last, bpd_last],
        tables.MAP: [12.0, 4.8],
        tables.REAL_FACES: [23.6, 5.5],
    }
    return pd.DataFrame(rows, index=[tables.SHARPNESS, tables.SAMPLE_BPD]).T


def test_variance_reduction_reading_follows_the_numbers():
    reading = readings.variance_reduction(statistics(24.0, 5.4), "cpu", "trained 60 min")
    assert reading.startswith(
        "From c = 0 to c = 1 the samples' sharpness goes from 28.0 to 24.0 (real faces: 23.6)"
    )
    assert (
        "reducing the scales brings their sharpness closer to the real faces' and brings their "
        "bits/dim closer to the real faces'." in reading
    )
    reading = readings.variance_reduction(statistics(16.0, 6.5), "cpu", "trained 60 min")
    assert (
        "brings their sharpness no closer to the real faces' and brings their bits/dim no closer"
        in reading
    )


def test_sampling_speed_reading_compares_like_for_like():
    comparison = tables.speed_comparison(tables.sampling_speeds(speed_rows((2.0, 0.005, 0.002))))
    reading = readings.sampling_speed(comparison, 46.2)
    assert reading.startswith(
        "On this device, one image at a time, a cached PixelCNN++ samples a 128x128 pixel in 0.0500 s;"
    )
    assert (
        "with the authors' windowed sampler (no caching, the paper's setting) 0.0020 s, 25.0x faster than it"
        in reading
    )
    assert "with our cached sampler 0.0050 s, 10.0x faster than it" in reading
    assert "with the naive one (a full pass per pixel) 2.0000 s, 40.0x slower than it." in reading
    assert "The paper (Titan X) has its pyramid without caching 12.5x faster" in reading
    assert "faster here too, by at least the paper's 12.5x." in reading and reading.endswith(
        "took 46 s with the cached sampler."
    )
    reading = readings.sampling_speed(
        tables.speed_comparison(tables.sampling_speeds(speed_rows((2.0, 0.005, 0.01)))), 10
    )
    assert "faster here too, by less than the paper's 12.5x." in reading
    assert "our windowed pyramid 2.5x slower than the paper's 0.004 s." in reading
    reading = readings.sampling_speed(
        tables.speed_comparison(tables.sampling_speeds(speed_rows((2.0, 0.005, 0.1)))), 10
    )
    assert "0.1000 s, 2.0x slower than it" in reading
    assert "the paper's speed-up does not hold here: a windowed step costs a CPU time" in reading
    assert "paper's cached PixelCNN++ took longer" not in reading  # ours took as long (0.05 s)
    faster = speed_rows((2.0, 0.001, 0.02), 0.005)  # our cached PixelCNN++ 10x the paper's speed
    compiled = [
        row | {tables.COMPILED: 0.0005 if row["model"] == "pyramid" else 0.002} for row in faster
    ]
    reading = readings.sampling_speed(
        tables.speed_comparison(tables.sampling_speeds(compiled)), 10, "cpu (1 thread)"
    )
    assert reading.startswith("On cpu (1 thread), one image at a time")
    assert "our cached PixelCNN++ is 10.0x faster than the paper's 0.05 s" in reading
    assert (
        "; and the paper's cached PixelCNN++ took longer per pixel than ours does here." in reading
    )
    assert (
        "with our cached sampler compiled 0.0005 s, 4.0x faster than it (compiled alike, 0.0020 s)"
        in reading
    )
    assert reading.endswith("took 10 s with the cached sampler.")
    with_face = readings.sampling_speed(
        tables.speed_comparison(tables.sampling_speeds(compiled)),
        10,
        compiled_face={"seconds": 4.2, "compile s": 30.4},
    )
    assert with_face.endswith(
        "10 s with the cached sampler, 4 s with it compiled (after 30 s of compiling, once per process and batch)."
    )


def test_window_reading_counts_the_changed_values():
    reading = readings.window_changes(
        {"8": 0.0, "16": 0.0, "32": 3 / 3072}, window=16, n=1, reference="cached"
    )
    assert reading.startswith(
        "With the same random numbers, the 16x16 window changed 3 of the 3,072 sampled values of "
        "the 32x32 level (0.10%) against exact sampling (cached, float64, 1 image); the 8x8 and "
        "16x16 levels fit in the window and are exact."
    )
    reading = readings.window_changes({"32": 0.0, "64": 0.5}, window=16, n=2, reference="naive")
    assert (
        "changed 0 of the 6,144 sampled values of the 32x32 level (0.00%) and 12,288 of the 24,576 sampled values "
        "of the 64x64 level (50.00%) against exact sampling (naive, float64, 2 images)."
    ) in reading
    reading = readings.window_changes({"8": 0.0, "16": 0.0}, window=16, n=1, reference="cached")
    assert reading.startswith("Every level counted (8x8, 16x16) fits in the 16x16 window")


def test_timing_conditions_say_whether_other_work_competed():
    reading = readings.timing_conditions("cpu (1 thread, x86_64)", (0.58, 0.98), 0.04, 2, 1)
    assert reading == (
        "Timed on cpu (1 thread, x86_64), one image at a time; the 1-minute load average was 0.58 when "
        "the timing began and 0.98 when it ended, on 2 cores; other processes kept 0.04 cores busy on "
        "average meanwhile: little else ran."
    )
    assert (
        "beside the timing's 1 thread(s), sharing memory and caches"
        in readings.timing_conditions("c", (1, 2), 0.9, 2, 1)
    )
    reading = readings.timing_conditions(
        "cpu", (2.5, 1.0), 1.6, 2, 1, also_running="a training run"
    )
    assert "they competed for the cores" in reading and reading.endswith(
        "Also running: a training run."
    )
    assert "unknown on this system" in readings.timing_conditions("cpu", (2.5, 1.0), None, 2, 1)


def test_other_load_is_the_machines_busy_time_less_this_process(monkeypatch):
    start, end = (
        (0.0, 100.0, 5.0),
        (10.0, 125.0, 15.0),
    )  # 25 s busy in 10 s, 10 of them this process's
    assert bench.other_load(start, end) == pytest.approx(1.5)
    assert bench.other_load((0.0, None, 0.0), end) is None
    first = bench.cpu_counters()
    sum(i * i for i in range(200_000))  # some work of this process only
    assert bench.other_load(first, bench.cpu_counters()) >= 0


# --------------------------------------------------------------------------- notebooks and README


def code_cells(notebook: Path) -> list[str]:
    return [
        "".join(cell["source"])
        for cell in json.loads(notebook.read_text())["cells"]
        if cell["cell_type"] == "code"
    ]


@pytest.mark.parametrize(
    "notebook", sorted((REPO / "notebooks").glob("*.ipynb")), ids=lambda path: path.stem
)
def test_notebooks_read_tables_by_name_and_take_sentences_from_readings(notebook):
    for source in code_cells(notebook):
        assert ".iloc" not in source, source
        assert not re.search(r"print\(f[\"']", source), source  # sentences come from functions
        for call in re.findall(r"Markdown\((.*)\)", source):  # a tested function of auxpix.book
            assert re.match(
                r"(readings|compute|coherence|fidelity|diagnosis|first_pixel|output_path_pilot)\.\w+\(",
                call,
            ), source


def readme_text(title: str) -> str:
    """README section ``title`` as written."""
    return (REPO / "README.md").read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def readme_section(title: str) -> str:
    """README section ``title`` with each run of whitespace made one space (lines wrap anywhere)."""
    return " ".join(readme_text(title).split())


def readme_tables(title: str) -> list[list[list[str]]]:
    """The cells of the body rows of each table of README section ``title`` ("\\|" is a "|" inside a cell)."""
    found, lines = [], []
    for line in [*readme_text(title).splitlines(), ""]:
        if line.startswith("|"):
            lines.append(line)
        elif lines:
            found.append(
                [
                    [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip("|"))]
                    for row in lines[2:]
                ]
            )
            lines = []
    return found


def readme_table(title: str) -> list[list[str]]:
    """The body rows of the one table of README section ``title``."""
    (table,) = readme_tables(title)
    return table


def test_readme_quotes_the_recorded_sampling_speeds():
    saved = json.loads((REPO / "results" / "cpu" / "sampling_speed.json").read_text())
    values = saved["values"]
    comparison_quoted, per_resolution = readme_tables("Sampling speed")
    comparison = tables.speed_comparison(tables.sampling_speeds(values["comparison_rows"]))
    labels = {
        "paper (Titan X), without caching": tables.PAPER_SPEEDS,
        "ours, window": tables.OURS_WINDOW,
        "ours, cached": tables.OURS_CACHED,
        "ours, compiled": tables.OURS_COMPILED,
        "ours, naive": tables.OURS_NAIVE,
    }
    assert [labels[row[0]] for row in comparison_quoted] == list(comparison.index)
    for label, pyramid, pixelcnnpp, ratio in comparison_quoted:
        row = comparison.loc[labels[label]]
        digits = "{:g}" if labels[label] == tables.PAPER_SPEEDS else "{:.4f}"
        assert [pyramid, pixelcnnpp] == [
            digits.format(row[tables.PYRAMID_SPEED]),
            digits.format(row[tables.PIXELCNNPP_SPEED]),
        ]
        assert ratio == f"{row[tables.SPEED_RATIO]:.3g}x"
    speeds = tables.sampling_speeds(values["rows"])
    assert len(per_resolution) == len(speeds)
    for model, level, naive, cached, window, speed_up in per_resolution:
        kind = {"Pyramid PixelCNN": "pyramid", "PixelCNN++": "pixelcnnpp"}[model]
        row = speeds.loc[(kind, int(level.split("×")[0]))]
        assert [naive, cached, window] == [
            f"{row[column]:.4f}" for column in (tables.NAIVE, tables.CACHED, tables.WINDOW)
        ]
        assert speed_up == f"{row[tables.SPEED_UP]:.0f}x"
    section = readme_section("Sampling speed")
    threads = {row["threads"] for row in values["rows"] + values["comparison_rows"]}
    assert (
        len(threads) == 1
        and f"threads = {threads.pop()}" in section
        and saved["compute"] in section
    )
    assert (
        "papermill notebooks/05_sampling_speed.ipynb notebooks/05_sampling_speed.ipynb --cwd notebooks"
        in section
    )
    assert f"{values['whole_face_seconds']:.0f} s" in section
    changes = values["window_changes"]
    for level, share in changes["shares"].items():
        if int(level) > changes["window"]:
            assert f"{level}×{level} level ({share:.2%})" in section
    assert (
        "1-minute load average {:.2f} when the timing began and {:.2f} when it ended".format(
            *values["load_average"]
        )
        in section
    )
    assert f"other processes kept {values['other_load']:.2f} cores busy on average" in section


def test_readme_results_are_the_ones_generated_from_the_records(monkeypatch):
    from auxpix.book import readme

    monkeypatch.setenv(registry.RESULTS_ENV, str(REPO / "results"))
    text = (REPO / "README.md").read_text()
    assert readme.results_markdown("cpu") in text, (
        "README's results are stale: run python -m auxpix.book.readme"
    )


def test_readme_generation_rewrites_only_its_block(results, tmp_path):
    from auxpix.book import readme

    path = tmp_path / "README.md"
    path.write_text(f"intro\n{readme.START}\nold\n{readme.END}\noutro\n")
    assert readme.update(path, "mine") and not readme.update(path, "mine")
    text = path.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    assert "Table 1" in text or "CIFAR-10 test bits/dim at the mine preset" in text
    path.write_text("no markers")
    with pytest.raises(ValueError, match="has no generated block"):
        readme.update(path, "mine")


def test_exact_pixel_reading_says_whether_the_exact_pixel_steps_paid_off(results):
    jpeg, exact = registry.FINE_TUNES["cifar10"], registry.FINE_TUNES["cifar10-lossless"]
    columns = [tables.ours(tables.JPEG_TEST, 500), tables.ours(tables.EXACT_TEST, 1000)]
    table = pd.DataFrame([[3.50, 4.60], [3.55, 3.90]], index=[jpeg, exact], columns=columns)
    assert readings.exact_pixels(table).startswith(
        "At equal total compute, spending the extra steps on the 4,000 exact-pixel training images lowers the "
        "exact-pixel test bits/dim: 3.900 against 4.600 (-0.700); on the JPEG-decoded test images it costs +0.050."
    )
    assert " does not lower " in readings.exact_pixels(table.iloc[::-1].set_axis([jpeg, exact]))
    assert (
        readings.exact_pixels(table.iloc[:1])
        == "Only one of the two runs is there: no comparison yet."
    )
    assert registry.fine_tuned("cpu") == {}
    tiny_run(registry.results_dir() / "runs" / "pixelcnnpp-cpu-then-cifar10-lossless")
    assert list(registry.fine_tuned("cpu")) == [exact]


def test_level_pilot_table_and_reading(results):
    def write_metrics(path: Path, bpd: list) -> None:  # evaluations at steps 1, 2, 3
        lines = [
            {"step": step, "seconds": step, "epoch": 0, "train_bpd": 9.0, "test_bpd": value}
            for step, value in enumerate(bpd, start=1)
        ]
        path.mkdir(parents=True, exist_ok=True)
        (path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    assert registry.level_pilot_runs("cpu") is None
    level = results / "pilot" / "pyramid-cpu-cifar-32-light"
    write_metrics(level / "32", [9.0, 9.0, 9.0])
    (level / "aux_ablation.json").write_text(
        json.dumps(
            {
                "n_images": 500,
                "aux_ablation": {"32": {"own": 3.2, "another image's": 7.3, "flat": 7.5}},
            }
        )
    )
    unconditional = tiny_run(results / "pilot" / "recipe-pixelcnnpp-cpu-fp32-linear-b16", steps=4)
    write_metrics(unconditional / "pixelcnnpp", [3.6, 3.5, 3.4, 3.3])
    assert registry.level_pilot_runs("cpu") == (level, unconditional)
    table = tables.level_pilot(level, unconditional)
    assert table.iloc[:, 0].tolist() == [
        3.4,
        3.2,
        7.3,
        7.5,
    ]  # the unconditional model at the level's last step (3)
    assert table.index[0] == "PixelCNN++, no X̂ (3 steps)" and table.columns[0] == tables.ours(
        tables.JPEG_TEST, 500
    )
    assert table.index[2] == "32x32 level given another image's 16x16 image (3 steps)"
    reading = readings.level_pilot(table)
    assert (
        "needs fewer bits than the unconditional PixelCNN++" in reading
        and "(3.200 against 3.400, -0.200)" in reading
    )
    assert (
        "it relies on that image: given another image's it needs 7.300, given a flat one 7.500"
        in reading
    )
    table.iloc[:, 0] = [3.0, 3.2, 3.3, 3.25]
    reading = readings.level_pilot(table)
    assert "needs more bits" in reading and "makes little use of that image" in reading


# --------------------------------------------------------------------------- chapter 05's record


def test_chapter_05_shows_the_recorded_timings_unless_asked_to_remeasure(results, monkeypatch):
    from auxpix.book import speed

    committed = REPO / "results" / "cpu" / "sampling_speed.json"
    (results / "cpu").mkdir()
    shutil.copy(committed, results / "cpu" / "sampling_speed.json")
    monkeypatch.setattr(speed, "measure", lambda **kwargs: pytest.fail("timed without being asked"))
    settings = speed.recorded_settings(json.loads(committed.read_text())["values"])
    shown = speed.measured("cpu", **settings)
    assert shown == json.loads(committed.read_text())  # as committed, compute label included
    assert (results / "cpu" / "sampling_speed.json").read_text() == committed.read_text()
    with pytest.raises(
        ConfigError, match="timed with threads = 1: run the chapter with -p remeasure"
    ):
        speed.measured("cpu", **(settings | {"threads": 2}))
    new = json.loads(committed.read_text())["values"] | {"whole_face_seconds": 1.0, "cores": 2}
    monkeypatch.setattr(speed, "measure", lambda **kwargs: new)
    remeasured = speed.measured("cpu", remeasure=True, device="cpu", **settings)
    assert remeasured["values"]["whole_face_seconds"] == 1.0
    assert remeasured["compute"].startswith("cpu (1 thread,")  # the timing's threads
    assert speed.measured("smoke", device="cpu", **settings)["values"] == new  # none recorded


def test_speed_comparison_shows_a_compiled_sampler_where_timed():
    compiled = {"model": "pyramid", "resolution": 128, "compile s": 9.0, tables.COMPILED: 0.001}
    comparison = tables.speed_comparison(tables.sampling_speeds([*speed_rows(), compiled]))
    assert list(comparison.index) == [
        tables.PAPER_SPEEDS,
        tables.OURS_WINDOW,
        tables.OURS_CACHED,
        tables.OURS_COMPILED,
        tables.OURS_NAIVE,
    ]
    assert tables.speed_summary(comparison).endswith("compiled 0.0010 vs 0.0500 (50x)")
    both = {"model": "pixelcnnpp", "resolution": 128, "compile s": 20.0, tables.COMPILED: 0.02}
    comparison = tables.speed_comparison(tables.sampling_speeds([*speed_rows(), compiled, both]))
    assert comparison.loc[tables.OURS_COMPILED, tables.PIXELCNNPP_SPEED] == 0.02  # like for like
    assert comparison.loc[tables.OURS_CACHED, tables.PIXELCNNPP_SPEED] == 0.05


# --------------------------------------------------------------------------- the compute panel


def write_curve(path: Path, part: str, points: list[tuple[float, float]]) -> None:
    """A part's metrics.jsonl with test bits/dim at (seconds, bpd) points."""
    (path / part).mkdir(parents=True, exist_ok=True)
    lines = [
        {"step": k, "seconds": t, "epoch": 0, "train_bpd": 9.0, "test_bpd": bpd}
        for k, (t, bpd) in enumerate(points, start=1)
    ]
    (path / part / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def compute_runs(results: Path, gray_cond_end: float = 2.5) -> None:
    """Three runs of 120 minutes: PixelCNN++ 4.0 → 3.0; the Grayscale PixelCNN's p(X̂) (30 min)
    1.0 → 0.5 and p(X | X̂) (90 min) 4.0 → ``gray_cond_end``; a pyramid 8/16/32."""
    minutes = lambda m: 60 * m  # noqa: E731
    runs = {
        "pixelcnnpp-mine": {"pixelcnnpp": [(0, 4.0), (minutes(120), 3.0)]},
        "grayscale-mine": {
            "aux": [(0, 1.0), (minutes(30), 0.5)],
            "cond": [(0, 4.0), (minutes(90), gray_cond_end)],
        },
        "pyramid-mine-cifar": {
            "8": [(0, 6.0), (minutes(120 / 7), 4.0)],
            "16": [(0, 5.0), (minutes(240 / 7), 3.0)],
            "32": [(0, 4.0), (minutes(480 / 7), 2.0)],
        },
    }
    for name, parts in runs.items():
        (results / "runs" / name).mkdir(parents=True)
        (results / "runs" / name / "run.json").write_text("{}")
        for part, points in parts.items():
            write_curve(results / "runs" / name, part, points)


def test_equal_compute_sums_the_parts_seconds_each_at_its_share(results):
    from auxpix.book import compute

    compute_runs(results)
    gray = registry.run_dir("grayscale", "mine")
    assert compute.shares(gray) == {"aux": pytest.approx(0.25), "cond": pytest.approx(0.75)}
    pyramid = registry.run_dir("pyramid", "mine-cifar")
    assert compute.weights(pyramid) == {"8": 1 / 16, "16": 1 / 4, "32": 1.0}
    at_60 = compute.at_compute(gray, 60)  # aux at 15 of its 30 minutes, cond at 45 of its 90
    assert at_60 == {"aux": 0.75, "cond": 3.25, "total": 4.0}
    whole = compute.at_compute(pyramid, 120)  # every level at its end
    assert whole["total"] == pytest.approx(4.0 / 16 + 3.0 / 4 + 2.0)
    assert np.isnan(compute.at_compute(gray, 150)["total"])  # beyond the runs' curves
    panel = compute.gaps(compute.curves("mine"))
    assert list(panel.columns) == ["15 min", "30 min", "60 min", "120 min", tables.PAPER]
    assert panel.loc[compute.GRAY_GAP, "120 min"] == pytest.approx(0.0)  # 3.0 vs 3.0
    assert panel.loc[compute.GRAY_GAP, "60 min"] == pytest.approx(0.5)  # 4.0 vs 3.5
    assert panel.loc[compute.AUX_SHARE, "120 min"] == pytest.approx(0.5 / 3.0)
    assert panel.loc[compute.GRAY_GAP, tables.PAPER] == pytest.approx(0.06)
    assert compute.curves("other") is None


def test_compute_reading_says_whether_each_gap_shrinks_holds_or_grows(results):
    from auxpix.book import compute

    compute_runs(results)
    reading = compute.reading(compute.gaps(compute.curves("mine")))
    assert reading.startswith(
        "Grayscale − PixelCNN++, bits/dim: +0.875 → +0.750 → +0.500 → +0.000 at 15 min, 30 min, "
        "60 min, 120 min: it **shrinks** by 0.875 (0.500 from 60 min to 120 min), toward the "
        "paper's +0.060."
    )
    assert (
        "p(X̂) share of the Grayscale PixelCNN's bits: 19.7% → 19.4% → 18.8% → 16.7% at 15 min, 30 "
        "min, 60 min, 120 min: it **shrinks** by 3.1 points (2.1 points from 60 min to 120 min)"
    ) in reading
    assert "(X̂'s share of the raw bits: 16.7%)" in reading
    table = pd.DataFrame(
        {"15 min": [0.30], "120 min": [0.31], tables.PAPER: [0.06]}, index=[compute.GRAY_GAP]
    )
    assert "it **holds**, away from the paper's +0.060." in compute.reading(table)
    table.loc[compute.GRAY_GAP, "120 min"] = 0.5
    assert "it **grows** by 0.200" in compute.reading(table)
    table.loc[compute.GRAY_GAP, "15 min"] = np.nan
    assert "fewer than two of these minutes" in compute.reading(table)


# --------------------------------------------------------------------------- network sizes


def test_network_sizes_are_counted_from_the_configs():
    from auxpix.book import sizes

    table = sizes.sizes("cpu")
    plain = table.loc[("PixelCNN++", "p(X)")]
    built = sum(p.numel() for p in auxpix.build("pixelcnnpp", preset="cpu").parameters())
    assert plain["cpu: parameters"] == f"{built / 1e6:.2f} M" == "0.58 M"
    assert plain["paper: parameters"] == "53.7 M" and plain["cpu: blocks / filters"] == "1 / 32"
    levels = table.loc[("Pyramid PixelCNN 8→128 (CelebA)", "16x16 to 128x128 (each)")]
    assert levels["cpu: blocks / filters"] == "2 / 32 light, f_w(X̂) 5 / 32"
    assert levels["paper: blocks / filters"] == "3 / 100 light, f_w(X̂) 15 / 100"
    assert table.loc[("Grayscale PixelCNN", "all"), "paper / cpu"] == "75x"
    assert ("PixelCNN++", "all") not in table.index  # one part: no total row


# --------------------------------------------------------------------------- figures


def test_sample_grids_fit_the_page_and_stay_small(results):
    from auxpix.book import plots

    kept = sorted((REPO / "results" / "samples" / "cpu").glob("variance-reduction-*.npz"))
    blocks = {path.stem: torch.from_numpy(np.load(path)["128"]) for path in kept}
    assert len(blocks) == 12  # Figure 4: 8 faces of 128x128 at each of 12 settings
    picture = plots.show_blocks(blocks)
    assert picture.data[:2] == b"\xff\xd8" and picture._repr_jpeg_() is picture.data  # a JPEG
    assert len(picture.data) <= 1.5 * 2**20
    assert picture.size[0] <= plots.PAGE_WIDTH * plots.MAX_DPI  # 8 faces at their own pixels
    faces = blocks["variance-reduction-map"]
    levels = {"8x8": faces[:, :, ::16, ::16], "128x128": faces}  # Figure 6: levels upscaled
    assert plots.show_blocks(levels).size[0] <= plots.PAGE_WIDTH * plots.MAX_DPI
    assert repr(picture).startswith("<Picture ") and "JPEG" in repr(picture)


def test_figures_name_parts_as_the_book_does():
    from auxpix.book import plots

    assert plots.readable("Grayscale: aux") == "Grayscale: p(X̂)"
    assert plots.readable("Grayscale: cond") == "Grayscale: p(X | X̂)"
    assert plots.readable("auxiliary") == "auxiliary"
    assert [plots.part_label(p) for p in ("aux", "16", "pixelcnnpp")] == [
        "p(X̂)",
        "16x16",
        "pixelcnnpp",
    ]


def test_figure_1_samples_are_drawn_once_and_kept(results, monkeypatch):
    from auxpix.book import plots

    tiny_run(registry.run_dir("pixelcnnpp", "smoke"))
    model = registry.trained("pixelcnnpp", "smoke")
    first = plots.kept_model_samples("figure", "pixelcnnpp", "smoke", model, 2, seed=0)
    assert first.shape == (2, 3, 8, 8) and (results / "samples" / "smoke" / "figure.npz").is_file()
    monkeypatch.setattr(plots, "draw", lambda *a, **k: pytest.fail("kept samples drawn again"))
    assert torch.equal(
        plots.kept_model_samples("figure", "pixelcnnpp", "smoke", model, 2, seed=0), first
    )


def test_curves_and_heatmaps_fit_the_page(results):
    import matplotlib

    matplotlib.use("Agg")
    from auxpix.book import plots

    runs = {f"run {k}": tiny_run(results / f"run{k}", steps=2) for k in range(3)}
    figure = plots.training_curves(runs)
    assert tuple(figure.get_size_inches()) == (plots.PAGE_WIDTH, 6.0)  # two rows of two panels
    assert not figure.axes[3].axison  # the fourth panel is empty
    assert [ax.get_title() for ax in figure.axes[:3]] == list(runs)
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    maps = {"Grayscale: aux": torch.rand(2, 8, 8), "Grayscale: cond": torch.rand(2, 8, 8)}
    figure = plots.bits_heatmaps(images, maps)
    assert figure.get_size_inches()[0] == plots.PAGE_WIDTH
    assert figure.axes[1].get_title() == "Grayscale: p(X̂)"
