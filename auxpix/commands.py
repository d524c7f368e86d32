"""What each command of :mod:`auxpix.cli` does, given its parsed arguments (the parser, the
flags and the error handling are :mod:`auxpix.cli`'s)."""

from __future__ import annotations

import json
import sys
import time

import torch

from . import classifier, data, distributed, scores
from .auxvars import grayscale_4bit
from .bench import sampling_speed, training_speed
from .config import preset as preset_config
from .device import resolve_device
from .errors import ConfigError
from .evaluate import aux_ablation, evaluate, evaluate_part
from .fast_sampling import METHODS
from .loop import Schedule
from .models import from_config
from .runs import check_run, load_run
from .sampling_io import check_samples_path, draw, save_samples
from .train import train


def run_train(args) -> None:
    assignments = (args.set or []) + (
        [f"train.precision={args.precision}"] if args.precision else []
    )
    config = preset_config(args.kind, args.preset, assignments=assignments)
    torch.manual_seed(args.seed)  # the initial weights, the same in every process
    model = from_config(config)
    parts = [args.part] if args.part else list(model.parts)
    check_run(args.out, model, parts, seed=args.seed, resume=args.resume)
    device = distributed.start(args.device)
    train_images, test_images = _training_data(args, config)
    processes = f" x {distributed.world_size()} processes" if distributed.world_size() > 1 else ""
    if distributed.is_main():
        print(
            f"training {args.kind} ({args.preset}) {', '.join(parts)} on {len(train_images)} {config.dataset} "
            f"images, device {device}{processes}, precision {config.train.precision}, into {args.out}",
            file=sys.stderr,
        )
    schedule = Schedule(
        steps=args.steps,
        epochs=args.epochs,
        minutes=args.minutes,
        eval_every=args.eval_every,
        eval_share=args.eval_share,
        checkpoint_every=args.checkpoint_every,
    )
    states = train(
        model,
        train_images,
        run_dir=args.out,
        parts=parts,
        preset=args.preset,
        schedule=schedule,
        test_images=test_images,
        device=device,
        seed=args.seed,
        resume=args.resume,
        compile=args.compile,
        init_from=args.init_from,
    )
    for name, state in states.items():
        if distributed.is_main():
            print(_summary(name, state))


def _training_data(args, config) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(training images, the test subset scored while training, or None)."""
    options = dict(resolution=config.image_size, celeba_split=data.celeba_split_of(config))
    train_images = data.load_dataset(config.dataset, "train", args.data, **options)
    if not args.eval_images:
        return train_images, None
    test_images = data.load_dataset(
        config.dataset, "test", args.data, limit=args.eval_images, **options
    )
    return train_images, test_images


def run_eval(args) -> None:
    weights = "raw" if args.raw_weights else "ema"
    parts = [args.part] if args.part else None
    model = load_run(args.run_dir, device=resolve_device(args.device), weights=weights, parts=parts)
    dataset = args.dataset or model.config.dataset
    celeba_split = data.celeba_split_of(model.config)
    images = data.load_dataset(
        dataset,
        args.split,
        args.data,
        resolution=model.image_size,
        limit=args.limit,
        celeba_split=celeba_split,
    )
    report = {
        "run": str(args.run_dir),
        "kind": model.kind,
        "dataset": dataset,
        "split": args.split,
        "weights": weights,
    }
    if args.part:  # one part alone (its bits/dim over its own dimensions), e.g. a pilot's
        model.check_images(images)
        report |= {
            "bpd": {args.part: evaluate_part(model, args.part, images)},
            "n_images": len(images),
        }
    else:
        report |= evaluate(model, images)
    if dataset == "celeba":  # which faces were held out: every CelebA number says it
        report["celeba_split"] = celeba_split
    if args.aux_ablation:
        report["aux_ablation"] = {
            name: aux_ablation(model, name, images)
            for name, net in model.parts.items()
            if net.conditional and name in (parts or model.parts)
        }
    if args.json:
        print(json.dumps(report))
        return
    on = f"{dataset} {args.split}" + (f" ({celeba_split} split)" if dataset == "celeba" else "")
    print(
        f"{model.kind} run {args.run_dir} ({weights} weights) on {report['n_images']} {on} images:"
    )
    for name, value in report["bpd"].items():
        print(f"  {name:>10}  {value:.4f} bits/dim")
    for size, value in report.get("bpd_by_resolution", {}).items():
        print(
            f"  {size + 'x' + size:>10}  {value:.4f} bits/dim of the whole image at that resolution"
        )
    for name, ablation in report.get("aux_ablation", {}).items():
        print(
            f"  {name:>10}  given X̂: "
            + ", ".join(f"{label} {value:.4f}" for label, value in ablation.items())
        )


def run_sample(args) -> None:
    check_samples_path(args.out)
    if args.compile and args.method != "cached":
        raise ConfigError(f"--compile compiles the cached sampler, not --method {args.method}")
    device = resolve_device(args.device)
    model = load_run(args.run_dir, device=device, weights="raw" if args.raw_weights else "ema")
    blocks, aux = {}, None
    if args.aux_from:
        originals = data.load_dataset(
            model.config.dataset,
            args.aux_from,
            args.data,
            resolution=model.image_size,
            limit=args.n,
            celeba_split=data.celeba_split_of(model.config),
        )
        if len(originals) < args.n:
            raise ConfigError(
                f"--n {args.n} needs {args.n} {args.aux_from} images, the data set has {len(originals)}"
            )
        blocks["original"], aux = originals, grayscale_4bit(originals)
    if args.compile:
        start = time.perf_counter()
        model.compile_sampling(args.n, map=args.map, log_scale_shift=args.log_scale_shift)
        print(f"compiled the sampling steps in {time.perf_counter() - start:.1f} s")
    generator = torch.Generator(device).manual_seed(args.seed)
    blocks |= draw(
        model,
        args.n,
        aux=aux,
        method=args.method,
        window=args.window,
        compile=args.compile,
        map=args.map,
        log_scale_shift=args.log_scale_shift,
        generator=generator,
        progress=True,
    )
    for path in save_samples(args.out, blocks):
        print(f"wrote {path}")


def run_bench(args) -> None:
    device = resolve_device(args.device)
    config = preset_config(args.kind, args.preset)
    speeds = training_speed(args.kind, preset=args.preset, device=device, steps=args.steps)
    print(f"{args.kind} ({args.preset}) on {device}")
    print(f"training, batch {config.train.batch_size}, {args.steps} steps timed after warm-up:")
    for name, speed in speeds.items():
        print(f"  part {name:>10}  {speed:10.1f} images/s")
    size = args.resolution or config.image_size
    print(
        f"sampling one {size}x{size} image (timed on the first pixels for {args.seconds:g} s, "
        "extrapolated per pixel):"
    )
    speeds = sampling_speed(
        args.kind,
        preset=args.preset,
        resolution=args.resolution,
        methods=args.method or METHODS,
        window=args.window,
        max_seconds=args.seconds,
        device=device,
    )
    if args.compile:
        compiled = sampling_speed(
            args.kind,
            preset=args.preset,
            resolution=args.resolution,
            methods=("cached",),
            max_seconds=args.seconds,
            device=device,
            compile=True,
        )
        speeds["compiled cached"] = compiled["cached"]
    for method, seconds in speeds.items():
        print(f"  {method:>15}  {seconds:.4g} s/pixel  (~{seconds * size * size:.4g} s per image)")
    if args.compile:
        print(
            f"  compiling the steps took {compiled['compile s']:.1f} s, once, before the first pixel"
        )


def run_quality_score(args) -> None:
    scores.check_cifar10_run(args.run_dir)  # before minutes of loading and sampling
    device = resolve_device(args.device)
    judge = classifier.load_classifier(args.classifier, device=device)
    model = load_run(args.run_dir, device=device, weights="raw" if args.raw_weights else "ema")
    reference = data.load_dataset("cifar10", "test", args.data, limit=args.n)
    if len(reference) < args.n:
        raise ConfigError(
            f"--n {args.n} needs as many CIFAR-10 test images to compare with; there are {len(reference)}"
        )
    report = {
        "run": str(args.run_dir),
        "kind": model.kind,
        "map": args.map,
        "log_scale_shift": args.log_scale_shift,
        **scores.score_model(
            model,
            judge,
            reference,
            args.n,
            batch_size=args.batch,
            seed=args.seed,
            bootstrap=args.bootstrap,
            map=args.map,
            log_scale_shift=args.log_scale_shift,
        ),
    }
    if args.json:
        print(json.dumps(report))
        return
    spread = f" (bootstrap std over {args.bootstrap} resamplings)" if args.bootstrap else ""
    print(
        f"{model.kind} run {args.run_dir}: {args.n} samples in {report['sample_seconds']:.0f} s, "
        f"scored against {args.n} CIFAR-10 test images{spread}:"
    )
    for name in ("classifier_score", "frechet_distance"):
        std = f" ± {report[name + '_std']:.3f}" if args.bootstrap else ""
        print(f"  {name:>16}  {report[name]:.3f}{std}")


def run_quality_train(args) -> None:
    config = classifier.ClassifierConfig(epochs=args.epochs)
    info = classifier.train_classifier(args.out, config, data_dir=args.data, limit=args.limit)
    print(json.dumps(info, indent=2))


def _summary(part: str, state: dict) -> str:
    """One line on a trained part: "aux: step 20, 12 s, train 1.3378, test 1.3345 bits/dim"."""
    metrics = state["metrics"] or {}
    bits = [
        f"{key.removesuffix('_bpd')} {value:.4f}"
        for key, value in metrics.items()
        if key.endswith("_bpd")
    ]
    line = f"{part}: step {state['step']}, {state['seconds']:.0f} s"
    return f"{line}, {', '.join(bits)} bits/dim" if bits else line
