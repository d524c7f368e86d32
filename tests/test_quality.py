"""Tests of sample quality: the two scores' formulas (auxpix.scores) on cases with known answers,
the baselines, the classifier's training through the shared loop (auxpix.classifier: a few
steps on tiny data), its checkpoints and resumption, ``auxpix quality train``, and scoring a
smoke model's samples, in the library and through ``auxpix quality score``; then the chapter's
support (auxpix.book.sample_quality): its verdict and reading, table, kept samples and figures."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import auxpix
from auxpix import classifier as quality
from auxpix import data, runs, scores
from auxpix.cli import main
from auxpix.errors import CheckpointError, ConfigError
from auxpix.train import train_part

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = quality.ClassifierConfig(widths=(4, 8), residual=(1,), epochs=2, batch_size=8, lr=0.05)


def random_images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


def tiny_classifier(seed: int = 0) -> quality.Classifier:
    torch.manual_seed(seed)
    return quality.Classifier(TINY)


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory, one_thread):
    """A tiny classifier trained a few steps on 32 random images, saved as the CLI loads it."""
    folder = tmp_path_factory.mktemp("classifier")
    classifier = tiny_classifier()
    images, labels = random_images(32), torch.arange(32) % 10
    state = quality.fit(classifier, images, labels, folder / "training", progress=False)
    quality.save_classifier(classifier, folder, {"steps": state["step"]})
    return folder


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, one_thread):
    """A PixelCNN++ smoke model at 32x32, trained for 2 steps (seconds)."""
    folder = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model = auxpix.build("pixelcnnpp", preset="smoke")
    train_part(
        model,
        "pixelcnnpp",
        random_images(16),
        run_dir=folder,
        preset="smoke",
        steps=2,
        progress=False,
    )
    return folder


# --------------------------------------------------------------------------- the scores


def test_frechet_distance_of_a_set_with_itself_is_zero():
    features = np.random.default_rng(0).normal(size=(200, 8)) @ np.random.default_rng(1).normal(
        size=(8, 8)
    )
    assert scores.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("shift", [0.1, 1.0, 3.0])
def test_frechet_distance_of_a_shift_is_its_squared_length(shift):
    """Equal covariances: d² = |Δμ|², growing with the shift."""
    features = np.random.default_rng(0).normal(size=(300, 6))
    delta = shift * np.arange(1, 7) / 6
    assert scores.frechet_distance(features, features + delta) == pytest.approx(
        np.sum(delta**2), rel=1e-9
    )


def test_frechet_distance_of_different_spreads():
    """N(0, diag a) and N(0, diag b): d² = Σ (√a − √b)², and the distance is symmetric."""
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    fit_a, fit_b = (np.zeros(3), np.diag(a)), (np.zeros(3), np.diag(b))
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert scores.frechet_from_fits(fit_a, fit_b) == pytest.approx(expected)
    assert scores.frechet_from_fits(fit_b, fit_a) == pytest.approx(expected)


def test_classifier_score_of_a_constant_prediction_is_one():
    probabilities = np.tile(np.random.default_rng(0).dirichlet(np.ones(10)), (50, 1))
    assert scores.classifier_score(probabilities) == pytest.approx(1.0)


@pytest.mark.parametrize("classes", [2, 10])
def test_classifier_score_of_confident_balanced_predictions_is_the_number_of_classes(classes):
    probabilities = np.eye(classes)[np.arange(10 * classes) % classes]
    assert scores.classifier_score(probabilities) == pytest.approx(classes)


def test_classifier_score_is_the_mean_of_per_image_terms():
    probabilities = np.random.default_rng(0).dirichlet(np.ones(10) * 0.3, size=40)
    terms = scores.per_image_kl(probabilities)
    assert (terms >= 0).all()
    assert scores.classifier_score(probabilities) == pytest.approx(np.exp(terms.mean()))
    assert 1 < scores.classifier_score(probabilities) < 10


def test_score_images_reports_both_scores_and_their_spread(trained_dir):
    classifier = quality.load_classifier(trained_dir)
    real = random_images(20, seed=1)
    report = scores.score_images(classifier, random_images(20, seed=2), real, bootstrap=5)
    assert report["n"] == 20 and report["bootstrap"] == 5
    assert report["classifier_score"] >= 1 and report["frechet_distance"] > 0
    assert report["classifier_score_std"] >= 0 and report["frechet_distance_std"] > 0
    same = scores.score_images(
        classifier, real, scores.reference_fit(classifier, real), bootstrap=0
    )
    assert (
        same["frechet_distance"] == pytest.approx(0, abs=1e-6)
        and "frechet_distance_std" not in same
    )


# --------------------------------------------------------------------------- baselines and augmentation


def test_marginal_draws_take_each_pixel_from_a_training_image_at_its_position():
    train = torch.arange(5, dtype=torch.uint8).view(5, 1, 1, 1).expand(5, 3, 32, 32) * 40
    train = train + torch.tensor([0, 1, 2], dtype=torch.uint8).view(
        1, 3, 1, 1
    )  # the channels stay together
    draws = scores.marginal_draws(train, 7, seed=3)
    assert draws.shape == (7, 3, 32, 32) and draws.dtype == torch.uint8
    assert ((draws[:, 1] - draws[:, 0]) == 1).all() and ((draws[:, 0] % 40) == 0).all()
    assert len(draws[:, 0].unique()) == 5


def test_blur_keeps_flat_images_and_smooths_edges():
    flat = torch.full((2, 3, 32, 32), 77, dtype=torch.uint8)
    assert torch.equal(scores.blurred(flat), flat)
    edge = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    edge[..., 16:] = 255
    row = scores.blurred(edge, sigma=1.0)[0, 0, 0].int()
    assert row[0] == 0 and row[-1] == 255 and 0 < row[15] < row[16] < 255


def test_augment_crops_the_reflected_image_and_flips_it():
    images = random_images(24)
    out = quality.augment(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    pad = quality.CROP_PAD
    padded = torch.nn.functional.pad(images.float(), (pad,) * 4, mode="reflect").to(torch.uint8)
    crops = [
        padded[..., dy : dy + 32, dx : dx + 32]
        for dy in range(2 * pad + 1)
        for dx in range(2 * pad + 1)
    ]
    candidates = torch.stack(crops + [crop.flip(-1) for crop in crops], 1)  # [N, 162, 3, 32, 32]
    matches = (candidates == out[:, None]).flatten(2).all(-1)
    assert matches.any(1).all()  # every output is one crop of its own image, flipped or not
    assert len({int(m.nonzero()[0]) for m in matches}) > 10  # and the crops vary


# --------------------------------------------------------------------------- the classifier


def test_classifier_trains_and_its_checkpoint_round_trips(tmp_path):
    images, labels = random_images(16), torch.arange(16) % 10
    classifier = tiny_classifier()
    before = [p.clone() for p in classifier.parameters()]
    state = quality.fit(classifier, images, labels, tmp_path / "training", progress=False)
    assert state["step"] == 4 and state["done"] and 0 <= state["metrics"]["train_accuracy"] <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, classifier.parameters()))
    records = runs.read_metrics(tmp_path, "training")
    assert [r["step"] for r in records] == [2, 4]  # one record per epoch of 2 steps
    assert {"train_loss", "train_accuracy", "lr"} <= records[0].keys()
    saved = runs.read_state(
        tmp_path / "training"
    )  # the run store's checkpoint, no averaged weights
    checkpoint = {p.name for p in (tmp_path / "training" / saved["checkpoint"]).iterdir()}
    assert (
        saved["step"] == 4 and runs.WEIGHTS_FILE in checkpoint and runs.EMA_FILE not in checkpoint
    )
    quality.save_classifier(classifier, tmp_path, {"steps": state["step"]})
    loaded = quality.load_classifier(tmp_path)
    assert loaded.config == TINY and not loaded.training
    assert torch.equal(loaded(images), classifier(images))
    assert quality.classifier_info(tmp_path) == {"steps": 4}


def test_resumed_training_reaches_the_same_weights(tmp_path, monkeypatch):
    images, labels = random_images(16), torch.arange(16) % 10
    straight = tiny_classifier()
    quality.fit(straight, images, labels, tmp_path / "straight", progress=False)

    steps, real_loss = [], quality.ClassifierTrainee.loss

    def crash_after_three(self, batch):
        if len(steps) == 3:
            raise KeyboardInterrupt
        steps.append(1)
        return real_loss(self, batch)

    monkeypatch.setattr(quality.ClassifierTrainee, "loss", crash_after_three)
    folder = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        quality.fit(tiny_classifier(), images, labels, folder, checkpoint_every=2, progress=False)
    assert runs.read_state(folder)["step"] == 2
    monkeypatch.setattr(quality.ClassifierTrainee, "loss", real_loss)
    resumed = tiny_classifier(seed=1)  # other initial weights: the checkpoint must replace them
    quality.fit(resumed, images, labels, folder, checkpoint_every=2, progress=False)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(CheckpointError, match="another ClassifierConfig"):
        other = quality.Classifier(dataclasses.replace(TINY, lr=0.1))
        quality.fit(other, images, labels, folder, progress=False)


def test_a_finished_classifier_is_never_overwritten(tmp_path):
    (tmp_path / quality.WEIGHTS_FILE).write_bytes(b"trained")
    with pytest.raises(CheckpointError, match="holds a trained classifier"):
        quality.train_classifier(tmp_path, TINY)
    assert (tmp_path / quality.WEIGHTS_FILE).read_bytes() == b"trained"


@pytest.fixture
def fake_labelled(monkeypatch):
    """CIFAR-10 with labels: 16 random training images, 8 test images in each test set."""

    def load_labelled_cifar10(split, data_dir=None, *, lossless=False):
        n = {"train": 16, "test": 8}[split]
        return random_images(n, seed=n + lossless), torch.arange(n) % 10

    monkeypatch.setattr(data, "load_labelled_cifar10", load_labelled_cifar10)


def test_train_classifier_saves_it_and_drops_its_checkpoints(tmp_path, fake_labelled):
    info = quality.train_classifier(tmp_path / "out", TINY, progress=False)
    assert info["steps"] == 4 and info["train_images"] == 16 and info["images_per_second"] > 0
    assert set(info["test_accuracy"]) == {"cifar10", "cifar10-lossless"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        quality.INFO_FILE,
        quality.WEIGHTS_FILE,
    ]
    assert quality.classifier_info(tmp_path / "out") == json.loads(json.dumps(info))
    assert quality.load_classifier(tmp_path / "out").config == TINY


def test_cli_quality_train(tmp_path, capsys, fake_labelled, monkeypatch):
    monkeypatch.setattr(
        quality, "ClassifierConfig", lambda epochs: dataclasses.replace(TINY, epochs=epochs)
    )
    out = tmp_path / "classifier"
    assert main(["quality", "train", "--out", str(out), "--epochs", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 2
    assert main(["quality", "train", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "holds a trained classifier" in error
    with pytest.raises(SystemExit, match="2"):  # --out is required: the library assumes no layout
        main(["quality", "train"])
    assert "the following arguments are required: --out" in capsys.readouterr().err


def test_missing_or_damaged_classifier_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no trained quality classifier"):
        quality.load_classifier(tmp_path)
    (tmp_path / quality.WEIGHTS_FILE).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable quality classifier"):
        quality.load_classifier(tmp_path)


def test_labels_follow_the_images(tmp_path):
    """The label reader reads the same batch files, in the same order, as the image reader."""
    folder = tmp_path / data.CIFAR_DIR
    folder.mkdir()
    import pickle

    for name, first in [("test_batch", 3)] + [(f"data_batch_{k}", k) for k in range(1, 6)]:
        batch = {
            b"data": np.full((2, 3072), first, dtype=np.uint8),
            b"labels": [first, (first + 1) % 10],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    images, labels = quality.labelled("train", tmp_path)
    assert labels.tolist() == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]
    assert images[::2, 0, 0, 0].tolist() == [1, 2, 3, 4, 5]
    assert data.load_labelled_cifar10("test", tmp_path)[1].tolist() == [3, 4]


# --------------------------------------------------------------------------- scoring a model


def test_score_model_samples_and_scores(smoke_run, trained_dir):
    model = runs.load_run(smoke_run)
    images, seconds = scores.sample_images(model, 4, batch_size=2, progress=False)
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.uint8 and seconds > 0
    classifier = quality.load_classifier(trained_dir)
    report = scores.score_model(
        model, classifier, random_images(4, seed=4), 4, batch_size=4, bootstrap=3, progress=False
    )
    assert report["n"] == 4 and report["sample_seconds"] > 0 and report["bootstrap"] == 3
    assert report["classifier_score"] >= 1 and report["frechet_distance"] >= 0


def test_cli_quality_json(smoke_run, trained_dir, capsys, monkeypatch):
    monkeypatch.setattr(
        data, "load_dataset", lambda *args, limit=None, **kwargs: random_images(8)[:limit]
    )
    argv = [
        "quality",
        "score",
        str(smoke_run),
        "--n",
        "4",
        "--batch",
        "4",
        "--bootstrap",
        "3",
        "--classifier",
        str(trained_dir),
    ]
    assert main(argv + ["--json"]) == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4 and report["kind"] == "pixelcnnpp"
    for score in ("classifier_score", "frechet_distance"):
        assert isinstance(report[score], float) and isinstance(report[f"{score}_std"], float)
    assert isinstance(report["sample_seconds"], float)


def test_cli_quality_refuses_a_run_of_another_dataset(tmp_path, capsys):
    model = auxpix.build("pixelcnnpp", preset="smoke", dataset="celeba")
    runs.open_run(tmp_path, model, "smoke")
    argv = ["quality", "score", str(tmp_path), "--classifier", str(tmp_path), "--n", "4"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("auxpix: error:") and "not CIFAR-10" in error
    with pytest.raises(ConfigError, match="celeba, not CIFAR-10"):
        scores.check_cifar10_run(tmp_path)


# --------------------------------------------------------------------------- the chapter (auxpix.book.sample_quality)


def score_row(label, group, cs, cs_std, fd, fd_std, n=100, confident=None):
    return {
        "label": label,
        "group": group,
        "status": "scored",
        "note": "",
        "sample_seconds": None,
        "n": n,
        "classifier_score": cs,
        "classifier_score_std": cs_std,
        "frechet_distance": fd,
        "frechet_distance_std": fd_std,
    } | ({} if confident is None else {"confident_share": confident})


def chapter_rows(gray, plain):
    """Calibration rows and the two models, each model given as (cs, cs_std, fd, fd_std) or None (not loaded)."""
    from auxpix.book import sample_quality as chapter

    rows = [
        score_row(chapter.REAL, chapter.CALIBRATION, 7.0, 0.1, 5.0, 0.5, confident=0.8),
        score_row(chapter.MARGINAL, chapter.CALIBRATION, 1.5, 0.05, 400.0, 5.0),
    ]
    for label, model_scores in ((chapter.GRAYSCALE, gray), (chapter.PIXELCNNPP, plain)):
        if model_scores is None:
            rows.append(
                {
                    "label": label,
                    "group": chapter.MODEL,
                    "status": chapter.DOES_NOT_LOAD,
                    "note": chapter.OUTDATED,
                    "sample_seconds": None,
                }
            )
        else:
            rows.append(score_row(label, chapter.MODEL, *model_scores) | {"sample_seconds": 12.0})
    return rows


@pytest.mark.parametrize(
    "gray, plain, verdict",
    [
        ((4.0, 0.1, 50.0, 2.0), (3.0, 0.1, 80.0, 2.0), "supported"),
        ((3.0, 0.1, 80.0, 2.0), (4.0, 0.1, 50.0, 2.0), "contradicted"),
        (
            (3.1, 0.1, 50.0, 2.0),
            (3.0, 0.1, 80.0, 2.0),
            "undecided",
        ),  # the classifier scores within the spread
        ((4.0, 0.1, 50.0, 2.0), (3.0, 0.1, 40.0, 2.0), "undecided"),  # the two scores disagree
        (None, (3.0, 0.1, 80.0, 2.0), "not tested"),
    ],
)
def test_coherence_verdict_and_reading(gray, plain, verdict):
    from auxpix.book import coherence

    rows = chapter_rows(gray, plain)
    assert coherence.coherence_verdict(rows) == verdict
    text = coherence.reading(rows, "cpu")
    assert "real test images 7.00 / 5.0" in text
    if verdict == coherence.NOT_TESTED:
        assert "without samples: Grayscale PixelCNN does not load (see above)" in text
        assert "not tested yet" in text and "retrain" not in text
    else:
        assert f"**{verdict}**" in text and f"{gray[0]:.2f} ± 0.10" in text
        assert "Grayscale PixelCNN is closer to the test images than" in text


def test_the_reading_says_how_often_samples_look_like_objects():
    from auxpix.book import coherence
    from auxpix.book import sample_quality as chapter

    rows = chapter_rows((4.0, 0.1, 50.0, 2.0), (3.0, 0.1, 80.0, 2.0))
    assert "confidence" not in coherence.reading(rows, "cpu")  # a record without the shares
    for row, share in zip(rows[2:], (0.2, 0.1)):
        row["confident_share"] = share
    assert (
        "The classifier assigns a class with confidence ≥ 0.9 to 20.0% of the Grayscale PixelCNN's "
        "samples, 10.0% of PixelCNN++'s and 80.0% of real test images: the Grayscale PixelCNN's "
        "samples look like an object to it 0.25 times as often as real images do."
    ) in coherence.reading(rows, "cpu")
    assert chapter.confident_share(
        np.array([[0.95, 0.05], [0.5, 0.5], [0.1, 0.9], [0.6, 0.4]])
    ) == {
        "confident_share": 0.5,
        "confident_share_std": 0.25,
    }


def test_quality_table_and_record():
    from auxpix.book import coherence
    from auxpix.book import sample_quality as chapter

    rows = chapter_rows(None, (3.0, 0.1, 80.0, 2.0))
    table = chapter.quality_table(rows)
    assert list(table.index) == [
        chapter.REAL,
        chapter.MARGINAL,
        chapter.GRAYSCALE,
        chapter.PIXELCNNPP,
    ]
    assert table.loc[chapter.GRAYSCALE, "status"] == chapter.DOES_NOT_LOAD
    assert table.loc[chapter.PIXELCNNPP, chapter.FRECHET] == 80.0
    assert table.loc[chapter.REAL, chapter.CONFIDENT_COLUMN] == 0.8
    timing = chapter.timing_table(rows)
    assert list(timing.index) == [chapter.GRAYSCALE, chapter.PIXELCNNPP]
    assert timing.loc[chapter.PIXELCNNPP, "seconds per image"] == 0.12
    assert timing.loc[chapter.GRAYSCALE, "status"] == chapter.DOES_NOT_LOAD
    info = {"parameters": 5, "steps": 3, "minutes": 1.0, "test_accuracy": {"cifar10": 0.5}}
    values, data = coherence.record_values(rows, info)
    assert values["verdict"] == coherence.NOT_TESTED and values["n"] == 100 and "first 100" in data
    json.dumps(values)  # recordable


def test_chapter_keeps_samples_and_marks_runs_that_do_not_load(
    smoke_run, trained_dir, tmp_path, monkeypatch
):
    import shutil

    from auxpix.book import plots, registry
    from auxpix.book import sample_quality as chapter

    monkeypatch.setenv(registry.RESULTS_ENV, str(tmp_path))
    run = json.loads((smoke_run / "run.json").read_text())
    config = run["config"]
    wider = run | {
        "config": config | {"net": config["net"] | {"nr_filters": 2 * config["net"]["nr_filters"]}}
    }
    for name, saved in [
        ("pixelcnnpp-t", run),  # loads
        ("pixelcnnpp-t-wider", wider),  # its weights are of another (narrower) network
        ("grayscale-t", run | {"kind": "grayscale"}),
    ]:  # a broken run.json
        shutil.copytree(smoke_run, tmp_path / "runs" / name)
        (tmp_path / "runs" / name / "run.json").write_text(json.dumps(saved))
    rows = (
        chapter.ModelRow(chapter.PIXELCNNPP, "pixelcnnpp"),
        chapter.ModelRow("wider", "pixelcnnpp", "-wider"),
        chapter.ModelRow(chapter.GRAYSCALE, "grayscale"),
        chapter.ModelRow("Pyramid", "pyramid", "-cifar"),
    )
    options = dict(seed=0, batch_size=2, progress=False, rows=rows)
    first = chapter.model_entries("t", 2, **options)
    assert [e["images"] is None for e in first] == [False, True, True, True]
    assert [e["status"] for e in first] == [
        chapter.SCORED,
        chapter.DOES_NOT_LOAD,
        chapter.DOES_NOT_LOAD,
        chapter.NOT_TRAINED,
    ]
    assert first[1]["note"] == chapter.OUTDATED  # saved with another network than it builds

    def no_sampling(*args, **kwargs):
        raise AssertionError("kept samples are drawn again")

    monkeypatch.setattr(scores, "sample_images", no_sampling)
    again = chapter.model_entries("t", 2, **options)
    assert (
        torch.equal(again[0]["images"], first[0]["images"])
        and again[0]["seconds"] == first[0]["seconds"]
    )
    with pytest.raises(AssertionError, match="drawn again"):
        chapter.model_entries("t", 3, **options)  # another N: drawn again

    classifier = quality.load_classifier(trained_dir)
    test = random_images(4, seed=7)
    entries = chapter.calibration_entries(test, random_images(8, seed=8), 2) + first
    scored = chapter.score_rows(classifier, chapter.reference_images(test, 2), entries, bootstrap=2)
    assert [chapter.scored(r) for r in scored] == [True, True, True, True, False, False, False]
    assert all(0 <= r["confident_share"] <= 1 for r in scored if chapter.scored(r))
    assert "PixelCNN++: 2 images, sampled in" in chapter.report_entries(entries)
    picked = chapter.best_and_worst(classifier, entries, k=1)
    assert set(picked) == {chapter.REAL, chapter.BLURRED, chapter.MARGINAL, chapter.PIXELCNNPP}
    import matplotlib

    matplotlib.use("Agg")
    figure = chapter.plot_scores(scored)
    labels = figure.axes[0].get_legend_handles_labels()[1]  # named in a legend: no overlaps
    assert labels[0] == chapter.REAL and len(labels) == 4
    assert chapter.plot_best_and_worst(picked).get_size_inches()[0] == plots.PAGE_WIDTH
