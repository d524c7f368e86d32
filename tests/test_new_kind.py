"""A fourth kind of model, defined and registered here, goes through the library's public
functions and the command line: adding a model touches only its config and its class."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

import auxpix
from auxpix import data
from auxpix.cli import main
from auxpix.config import NetConfig, TrainConfig
from auxpix.errors import ConfigError
from auxpix.evaluate import evaluate
from auxpix.models import AuxiliaryVariableModel
from auxpix.runs import load_run
from auxpix.sampling_io import draw, save_samples
from auxpix.train import train

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = 8


@dataclass(frozen=True)
class HalfConfig:
    """p(X_4) alone: a PixelCNN of the images at half their resolution."""

    net: NetConfig = field(
        default_factory=lambda: NetConfig(nr_resnet=1, nr_filters=8, nr_logistic_mix=2)
    )
    dataset: str = "cifar10"
    image_size: int = SIZE
    train: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=4))


class HalfPixelCNN(AuxiliaryVariableModel):
    """A toy kind: one part, ``"low"``, modelling each image shrunk to half its side."""

    kind = "half"
    config_class = HalfConfig

    def __init__(self, config: HalfConfig):
        super().__init__(config)
        self.parts["low"] = auxpix.PixelCNN(
            config.net, channels=3, levels=256, image_size=config.image_size // 2
        )

    def part_inputs(self, name, x):
        return auxpix.downsample(x), None

    def part_dims(self, name):
        return 3 * (self.image_size // 2) ** 2

    def sample_stages(self, n, aux, sampler, **drawing):
        half = self.parts["low"].sample(n, **sampler, **drawing)
        return {"image": half.repeat_interleave(2, -1).repeat_interleave(2, -2)}


@pytest.fixture
def half_kind():
    """The toy kind registered for one test, so that every other test sees the paper's three."""
    auxpix.register(HalfPixelCNN, {"tiny": HalfConfig()})
    yield "half"
    auxpix.unregister("half")
    assert auxpix.kinds() == ("pixelcnnpp", "grayscale", "pyramid")


def fake_images(n: int, resolution: int = SIZE, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, resolution, resolution), generator=generator).to(
        torch.uint8
    )


def test_a_registered_kind_trains_evaluates_samples_and_loads(half_kind, tmp_path):
    assert auxpix.kinds()[-1] == "half" and list(auxpix.PRESETS["half"]) == ["tiny"]
    torch.manual_seed(0)
    model = auxpix.build("half", preset="tiny")
    images = fake_images(8)
    states = train(model, images, run_dir=tmp_path / "run", steps=2, progress=False)
    assert list(states) == ["low"]
    report = evaluate(model, fake_images(4, seed=1), progress=False)
    assert list(report) == ["bpd", "n_images"] and set(report["bpd"]) == {"low", "total"}
    blocks = draw(model, 2, generator=torch.Generator().manual_seed(0))
    assert list(blocks) == ["image"] and blocks["image"].shape == (2, 3, SIZE, SIZE)
    written = save_samples(tmp_path / "half.png", blocks)
    assert [path.name for path in written] == ["half.png", "half.npy"]
    loaded = load_run(tmp_path / "run")
    assert type(loaded) is HalfPixelCNN and loaded.config == model.config
    with pytest.raises(ValueError, match="a half model has no auxiliary image"):
        loaded.sample(1, aux=fake_images(1))


def test_a_kind_is_registered_once_with_presets_of_its_config(half_kind):
    with pytest.raises(ConfigError, match="registered already"):
        auxpix.register(HalfPixelCNN, {"tiny": HalfConfig()})
    with pytest.raises(ConfigError, match="unknown model kind 'other'"):
        auxpix.build("other")


def test_the_command_line_trains_evaluates_and_samples_a_registered_kind(
    half_kind, tmp_path, capsys, monkeypatch
):
    def load_dataset(name, split, data_dir=None, *, resolution=None, limit=None, **options):
        return fake_images(limit or 8, resolution, seed={"train": 1, "test": 2}[split])

    monkeypatch.setattr(data, "load_dataset", load_dataset)
    out = tmp_path / "run"
    assert main(["train", "half", "--preset", "tiny", "--out", str(out), "--steps", "2"]) == 0
    assert main(["eval", str(out), "--json", "--limit", "4"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["kind"] == "half" and set(report["bpd"]) == {"low", "total"}
    assert main(["sample", str(out), "--n", "2", "--out", str(tmp_path / "s.png")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (2, 3, SIZE, SIZE)
