"""The recipe where the paper is silent: how a network starts and is averaged, and the PixelCNN++
baseline's training, as openai/pixel-cnn's ``train.py`` and ``nn.py`` do it (the ``paper``
presets), and saved runs read back as they were trained."""

from __future__ import annotations

import pytest
import torch
from test_train import _layer_output_stats, random_images, small_model

import auxpix
from auxpix import train as training
from auxpix.config import config_from_dict, config_to_dict
from auxpix.layers import weight_normed_layers
from auxpix.loop import EMA, batch_indices

pytestmark = pytest.mark.usefixtures("one_thread")

# openai/pixel-cnn train.py's argparse defaults (commit bbc1568) and nn.py's initializer.
OPENAI = {
    "learning_rate": 0.001,
    "lr_decay": 0.999995,
    "batch_size": 16,  # per GPU
    "nr_gpu": 8,
    "init_batch_size": 16,
    "dropout_p": 0.5,
    "polyak_decay": 0.9995,
    "adam_betas": (0.95, 0.9995),
    "weight_init_std": 0.05,  # nn.py: V ~ N(0, 0.05) before the data-dependent init
}
PAPER_PRESETS = [
    ("pixelcnnpp", "paper"),
    ("grayscale", "paper"),
    ("pyramid", "paper"),
    ("pyramid", "paper-cifar"),
]


@pytest.mark.parametrize("kind,preset", PAPER_PRESETS)
def test_paper_presets_start_every_weight_direction_from_openais_normal(kind, preset):
    torch.manual_seed(0)
    model = auxpix.build(kind, preset)
    layers = weight_normed_layers(model)
    assert len(layers) > 20
    for layer in layers:
        direction = layer.parametrizations.weight.original1
        assert direction.std().item() == pytest.approx(OPENAI["weight_init_std"], abs=0.005)
        assert direction.mean().abs().item() < 0.005


def test_without_init_std_the_directions_keep_pytorchs_default():
    torch.manual_seed(0)
    model = auxpix.build("pixelcnnpp", "cpu")
    assert model.config.train.init_std == 0
    for layer in weight_normed_layers(model):
        direction = layer.parametrizations.weight.original1
        kaiming_uniform = 1 / (3 * direction[0].numel()) ** 0.5  # 0.029 for a 384-input 2x3 conv
        assert direction.std().item() == pytest.approx(kaiming_uniform, rel=0.2)


@pytest.mark.parametrize("kind,preset", PAPER_PRESETS)
def test_paper_presets_initialize_in_training_mode_on_16_images_and_average_at_a_constant_decay(
    kind, preset
):
    train = auxpix.preset(kind, preset).train
    assert train.init_batch_size == OPENAI["init_batch_size"]
    assert train.init_dropout is True
    assert train.ema_warmup is False
    assert train.ema_decay == OPENAI["polyak_decay"]
    assert train.betas == OPENAI["adam_betas"]


def test_a_fresh_part_is_initialized_on_its_own_batch_with_dropout_on(tmp_path, monkeypatch):
    seen = []

    def spy(model, part, images, *, dropout):
        seen.append((len(images), dropout, images.clone()))

    monkeypatch.setattr(training, "data_dependent_init", spy)
    images = random_images(64)
    paper = auxpix.preset("pixelcnnpp", "paper").train
    model = small_model(
        train={"init_batch_size": paper.init_batch_size, "init_dropout": paper.init_dropout}
    )
    training.train_part(model, "pixelcnnpp", images, run_dir=tmp_path, steps=1, progress=False)
    ((count, dropout, chosen),) = seen
    assert (count, dropout) == (16, True)
    first_batch = images[batch_indices(64, 0, 8, 8, seed=0)]
    assert not torch.equal(chosen[:8], first_batch)  # drawn for the initialization alone


def test_data_dependent_init_with_dropout_normalizes_the_outputs_of_training_mode():
    model, images = small_model(net={"dropout": 0.5}), random_images(16)
    torch.manual_seed(3)
    auxpix.data_dependent_init(model, "pixelcnnpp", images, dropout=True)
    torch.manual_seed(3)  # the same dropout masks as the initialization's pass
    after = _layer_output_stats(model, "pixelcnnpp", images, training=True)
    for scale, mean, std in after:
        assert mean.abs().max() < 1e-4 * max(1.0, scale)
        assert torch.allclose(std, torch.full_like(std, scale), rtol=1e-3)
    evaluated = _layer_output_stats(model, "pixelcnnpp", images)  # dropout off: another scale
    assert any(not torch.allclose(s, torch.full_like(s, c), rtol=0.05) for c, _, s in evaluated)


def test_a_constant_average_moves_by_one_minus_decay_from_the_first_step():
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    constant, ramped = EMA(net, 0.9995, warmup=False), EMA(net, 0.9995, warmup=True)
    torch.nn.init.ones_(net.weight)
    constant.update(net, 1)
    ramped.update(net, 1)
    assert constant.shadow["weight"].item() == pytest.approx(1 - 0.9995)
    assert ramped.shadow["weight"].item() == pytest.approx(1 - 2 / 11)


def test_the_paper_pixelcnnpp_trains_as_openais_train_py():
    config = auxpix.preset("pixelcnnpp", "paper")
    train = config.train
    assert train.batch_size == OPENAI["batch_size"] * OPENAI["nr_gpu"]
    assert (train.lr, train.lr_decay) == (OPENAI["learning_rate"], OPENAI["lr_decay"])
    assert train.lr_schedule == "exponential"
    assert config.net.dropout == OPENAI["dropout_p"]
    assert train.flip is False  # openai's CIFAR-10 loader never flips


def test_batches_flip_only_when_the_recipe_says_so(tmp_path):
    images = random_images(16)
    flipped, unflipped = (
        training.PartTrainee(
            small_model(train={"flip": flip}), "pixelcnnpp", images, device=torch.device("cpu")
        )
        for flip in (True, False)
    )
    batches = [(flipped.batch(step)[0], unflipped.batch(step)[0]) for step in range(4)]
    assert all(
        torch.equal(b, images[batch_indices(16, s, 2, 8, 0)]) for s, (_, b) in enumerate(batches)
    )
    assert any(not torch.equal(a, b) for a, b in batches)


def test_runs_saved_before_the_recipe_fields_read_back_as_they_were_trained():
    saved = config_to_dict(auxpix.preset("pixelcnnpp", "paper"))
    for name in ("init_std", "init_batch_size", "init_dropout", "ema_warmup", "flip"):
        del saved["train"][name]
    train = config_from_dict("pixelcnnpp", saved).train
    assert (train.init_std, train.init_batch_size, train.init_dropout) == (0.0, 0, False)
    assert (train.ema_warmup, train.flip) == (True, True)


def test_without_dropout_the_initialization_is_the_same_in_training_mode():
    """Why the cpu pilot has no arm for openai's dropout-on initialization: at the cpu
    presets' dropout 0 it is the same computation."""
    images = random_images(16)
    evaluated, trained = small_model(net={"dropout": 0.0}), small_model(net={"dropout": 0.0})
    auxpix.data_dependent_init(evaluated, "pixelcnnpp", images, dropout=False)
    auxpix.data_dependent_init(trained, "pixelcnnpp", images, dropout=True)
    for (name, a), b in zip(evaluated.state_dict().items(), trained.state_dict().values()):
        assert torch.equal(a, b), name
    assert auxpix.preset("pixelcnnpp", "cpu").net.dropout == 0.0
    assert auxpix.preset("pyramid", "cpu-cifar").level_net.dropout == 0.0
