"""One arm of the fidelity pilot (scripts/pilot_fidelity.sh): a cpu part trained under today's
cpu recipe or with openai/pixel-cnn's choices switched on, scored on the first 500 JPEG-decoded
CIFAR-10 test images under both weight averages, into results/pilot/fidelity-MODEL-ARM-sSEED.

The average never feeds back into training, so one run scores both: the config's (ramped
decay, today's) and openai's constant decay, kept beside it from the same first step. The
budget is in steps (15 minutes at the quiet one-thread speed that
benchmarks/training_recipes.py measured), so what else the machine runs cannot change the
result. An arm that did not finish is trained again from its start.

    .venv/bin/python scripts/pilot_fidelity.py pixelcnnpp|level16 today|init|bf16|init-bf16
        --steps N --seed S
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from auxpix import data, runs
from auxpix.config import preset as preset_config
from auxpix.device import resolve_device
from auxpix.loop import EMA, Schedule, TrainLoop
from auxpix.models import from_config
from auxpix.train import PartTrainee

MODELS = {
    "pixelcnnpp": ("pixelcnnpp", "cpu", "pixelcnnpp"),
    "level16": ("pyramid", "cpu-cifar", "16"),
}
# openai/pixel-cnn's start: directions from N(0, 0.05), initialized on 16 images of their own
# (in training mode: the same pass here, the cpu nets have no dropout).
OPENAI_INIT = {"init_std": 0.05, "init_batch_size": 16, "init_dropout": True}
ARMS = {
    "today": {},
    "init": OPENAI_INIT,
    "bf16": {"precision": "bf16"},
    "init-bf16": {**OPENAI_INIT, "precision": "bf16"},
}
EVAL_IMAGES = 500


class BothAverages(TrainLoop):
    """The training loop, also keeping the other weight average and scoring it alike."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        trainee = self.trainee
        self.other = EMA(trainee.net, trainee.ema_decay, warmup=not trainee.ema_warmup)

    def step(self) -> None:
        super().step()
        self.other.update(self.trainee.net, self.step_count)

    def maybe_evaluate(self, seconds: float):
        scores = super().maybe_evaluate(seconds)
        if scores is not None:
            with self.other.applied(self.trainee.net):
                other = self.trainee.evaluate()["test_bpd"]
            scores["test_bpd_ramped" if self.other.warmup else "test_bpd_constant"] = other
        return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("arm", choices=sorted(ARMS))
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=300)
    parser.add_argument("--results", default="results")
    args = parser.parse_args()
    kind, preset, part = MODELS[args.model]
    # the pilot ran before f_w fed the levels' output layer (EmbeddingConfig.to_output)
    original = {"embedding": {"to_output": False}} if kind == "pyramid" else {}
    out = Path(args.results) / "pilot" / f"fidelity-{args.model}-{args.arm}-s{args.seed}"
    if (out / "pilot.json").is_file():
        print(f"{out}: done")
        return
    shutil.rmtree(out, ignore_errors=True)
    config = preset_config(kind, preset, train=ARMS[args.arm], **original)
    assert config.train.ema_warmup, "the arms keep the cpu presets' ramped average"
    torch.manual_seed(args.seed)
    model = from_config(config)
    options = dict(resolution=config.image_size, celeba_split=data.celeba_split_of(config))
    images = data.load_dataset(config.dataset, "train", None, **options)
    test = data.load_dataset(config.dataset, "test", None, limit=EVAL_IMAGES, **options)
    device = resolve_device("cpu")
    trainee = PartTrainee(
        model, part, images, test_images=test, device=device, seed=args.seed, compile=True
    )
    runs.open_run(out, model, preset)
    schedule = Schedule(steps=args.steps, eval_every=args.eval_every, checkpoint_every=args.steps)
    started = time.monotonic()
    state = BothAverages(trainee, schedule, out / part, seed=args.seed, device=device).run()
    record = {
        "model": f"{kind} {preset}, part {part}",
        "arm": args.arm,
        "changes": ARMS[args.arm],
        "seed": args.seed,
        "steps": state["step"],
        "minutes": round((time.monotonic() - started) / 60, 2),
        "threads": torch.get_num_threads(),
        "test_images": f"the first {EVAL_IMAGES} JPEG-decoded CIFAR-10 test images",
        # the config's average is the ramped one (the cpu presets'), the other constant
        "test_bpd_ramped_average": state["metrics"]["test_bpd"],
        "test_bpd_constant_average": state["metrics"]["test_bpd_constant"],
    }
    (out / "pilot.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
