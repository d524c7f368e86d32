"""Sample quality, measured (issue #14): two scores that place a model's samples between real
images and simple baselines, both on the outputs of the project's CIFAR-10 classifier
(:mod:`auxpix.classifier`):

* :func:`classifier_score` is exp(E_x KL(p(y|x) || p(y))) on its class probabilities
  (Inception-Score style, 1 to 10), and
* :func:`frechet_distance` is the Fréchet distance between Gaussian fits of its
  penultimate-layer features of N samples and of N test images (FID style).

Both depend on this classifier: they compare models scored by the same classifier with the
same N, never with published Inception Scores or FIDs. :func:`score_images` gives both with
their spread (a bootstrap over the scored images); :func:`score_model` samples a trained model
first. The calibration baselines are :func:`marginal_draws` and :func:`blurred`.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from .auxvars import grayscale_4bit
from .classifier import Classifier, predict
from .errors import ConfigError
from .progress import progress_bar
from .runs import read_run
from .sampling_io import draw

# --------------------------------------------------------------------------- the scores


def classifier_score(probabilities: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))), p(y) = E_x p(y|x): the Inception Score's formula on this
    classifier. 1 when every image gets the same prediction; the number of classes when every
    image is classified with certainty and the classes are equally frequent. High means
    confident predictions (recognizable objects) of varied classes."""
    p = np.asarray(probabilities, dtype=np.float64)
    return float(np.exp(per_image_kl(p).mean()))


def per_image_kl(probabilities: np.ndarray, marginal: np.ndarray | None = None) -> np.ndarray:
    """KL(p(y|x) || p(y)) of each image, the terms the classifier score averages: how much the
    classifier's verdict on that image differs from its verdict on the set (0 log 0 = 0)."""
    p = np.asarray(probabilities, dtype=np.float64)
    marginal = p.mean(0) if marginal is None else marginal
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)
    return terms.sum(1)


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of features [N, D], float64 (covariance with N - 1)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"a Gaussian fit needs features [N >= 2, D], got shape {list(x.shape)}")
    return x.mean(0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The Fréchet distance of Gaussian fits N(μa, Σa), N(μb, Σb) of two feature sets::

        d² = ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½)

    (FID's formula, with this classifier's penultimate-layer features; Tr (Σa Σb)^½ is taken
    as Tr (Σa^½ Σb Σa^½)^½, which is equal and symmetric, so eigendecompositions in float64
    give it without scipy). 0 for identical sets; ‖Δμ‖² for a shift without change of shape."""
    return frechet_from_fits(gaussian_fit(features_a), gaussian_fit(features_b))


def frechet_from_fits(fit_a, fit_b) -> float:
    (mu_a, sigma_a), (mu_b, sigma_b) = fit_a, fit_b
    root_a = _psd_sqrt(sigma_a)
    cross = np.linalg.eigvalsh(_symmetric(root_a @ sigma_b @ root_a)).clip(min=0)
    distance = (
        np.sum((mu_a - mu_b) ** 2)
        + np.trace(sigma_a)
        + np.trace(sigma_b)
        - 2 * np.sqrt(cross).sum()
    )
    return float(max(distance, 0.0))  # rounding can leave -1e-12 where the sets coincide


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (rounding's negative eigenvalues as 0)."""
    values, vectors = np.linalg.eigh(_symmetric(matrix))
    return (vectors * np.sqrt(values.clip(min=0))) @ vectors.T


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    return (matrix + matrix.T) / 2


def score_images(
    classifier: Classifier,
    images: torch.Tensor,
    reference: torch.Tensor | dict,
    *,
    bootstrap: int = 50,
    seed: int = 0,
) -> dict:
    """Both scores of uint8 ``images`` against ``reference`` (real test images, or the
    :func:`reference_fit` of them): {"n", "classifier_score", "frechet_distance", and their
    spread "classifier_score_std", "frechet_distance_std": the standard deviation over
    ``bootstrap`` resamplings (with replacement) of the scored images, "bootstrap"}.
    With ``bootstrap`` 0 the spread is left out."""
    reference = reference if isinstance(reference, dict) else reference_fit(classifier, reference)
    probabilities, features = predict(classifier, images)
    report = {
        "n": len(images),
        "classifier_score": classifier_score(probabilities),
        "frechet_distance": frechet_from_fits(gaussian_fit(features), reference["fit"]),
    }
    if bootstrap:
        report |= bootstrap_spread(
            probabilities, features, reference["fit"], rounds=bootstrap, seed=seed
        )
    return report


def reference_fit(classifier: Classifier, images: torch.Tensor) -> dict:
    """The statistics of the real images every score compares with: {"n", "fit"}."""
    _, features = predict(classifier, images)
    return {"n": len(images), "fit": gaussian_fit(features)}


def bootstrap_spread(probabilities, features, fit, *, rounds: int, seed: int = 0) -> dict:
    """Standard deviations of both scores over ``rounds`` resamplings of the images with replacement."""
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(rounds):
        pick = rng.integers(0, len(features), len(features))
        scores.append(
            (
                classifier_score(probabilities[pick]),
                frechet_from_fits(gaussian_fit(features[pick]), fit),
            )
        )
    spread = np.std(np.array(scores), axis=0, ddof=1)
    return {
        "classifier_score_std": float(spread[0]),
        "frechet_distance_std": float(spread[1]),
        "bootstrap": rounds,
    }


# --------------------------------------------------------------------------- calibration baselines


def marginal_draws(train_images: torch.Tensor, n: int, *, seed: int = 0) -> torch.Tensor:
    """n images whose every pixel (its three colours together) is the pixel at the same position
    of a random training image, independently per pixel: the training set's per-pixel marginal,
    without any structure between pixels."""
    generator = torch.Generator().manual_seed(seed)
    size = train_images.shape[-1]
    source = torch.randint(0, len(train_images), (n, 1, size, size), generator=generator)
    return torch.gather(train_images, 0, source.expand(n, 3, size, size))


def blurred(images: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """``images`` under a Gaussian blur of ``sigma`` pixels (reflected borders), rounded to uint8:
    real structure with the texture removed."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.exp(
        -(torch.arange(-radius, radius + 1, dtype=torch.float64) ** 2) / (2 * sigma**2)
    )
    kernel = (taps / taps.sum()).float()
    x = images.float()
    channels = x.shape[1]
    rows, cols = kernel.view(1, 1, 1, -1), kernel.view(1, 1, -1, 1)
    for weight, pad in (
        (rows, (radius, radius, 0, 0)),
        (cols, (0, 0, radius, radius)),
    ):  # separable
        x = F.conv2d(
            F.pad(x, pad, mode="reflect"),
            weight.expand(channels, 1, *weight.shape[2:]),
            groups=channels,
        )
    return x.round().clamp(0, 255).to(torch.uint8)


# --------------------------------------------------------------------------- scoring a model


def check_cifar10_run(run_dir) -> None:
    """A one-line ConfigError unless ``run_dir`` holds a model of 32x32 CIFAR-10 images: the
    classifier knows only those."""
    config = read_run(run_dir)["config"]
    if config.dataset != "cifar10":
        raise ConfigError(
            f"{run_dir} is a model of {config.dataset}, not CIFAR-10: the quality classifier "
            "was trained on CIFAR-10 and scores only 32x32 CIFAR-10 samples"
        )


def sample_images(
    model,
    n: int,
    *,
    batch_size: int = 100,
    seed: int = 0,
    aux: torch.Tensor | None = None,
    progress: bool = True,
    **options,
) -> tuple[torch.Tensor, float]:
    """(n samples of ``model`` as uint8 [n, 3, 32, 32], the seconds they took), drawn in batches
    of ``batch_size`` with the cached sampler; a pyramid's samples are its top level, the
    Grayscale PixelCNN's the colour images X ~ p(X | X̂). ``aux``: 4-bit grays to colorize
    instead of drawing X̂. ``options``: ``map``, ``log_scale_shift``."""
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    batches, started = [], time.perf_counter()
    for start in progress_bar(
        range(0, n, batch_size), desc=f"sampling {model.kind}", unit="batch", show=progress
    ):
        size = min(batch_size, n - start)
        given = None if aux is None else aux[start : start + size]
        blocks = draw(model, size, aux=given, method="cached", generator=generator, **options)
        batches.append(blocks["image"])
    return torch.cat(batches), time.perf_counter() - started


def colorized(model, images: torch.Tensor, **options) -> tuple[torch.Tensor, float]:
    """Real ``images`` reduced to their 4-bit grays and colorized by a Grayscale PixelCNN."""
    if model.kind != "grayscale":
        raise ConfigError(
            f"only a Grayscale PixelCNN colorizes grays; this is a {model.kind} model"
        )
    return sample_images(model, len(images), aux=grayscale_4bit(images), **options)


def score_model(
    model,
    classifier: Classifier,
    reference: torch.Tensor | dict,
    n: int,
    *,
    batch_size: int = 100,
    seed: int = 0,
    bootstrap: int = 50,
    progress: bool = True,
    **options,
) -> dict:
    """Sample ``n`` images from ``model`` (``sample_images``) and score them against the
    ``reference`` test images (:func:`score_images`); the report adds "sample_seconds"."""
    if model.config.dataset != "cifar10":
        raise ConfigError(
            f"a {model.kind} model of {model.config.dataset}: the quality classifier scores "
            "only CIFAR-10 samples"
        )
    images, seconds = sample_images(
        model, n, batch_size=batch_size, seed=seed, progress=progress, **options
    )
    return score_images(classifier, images, reference, bootstrap=bootstrap, seed=seed) | {
        "sample_seconds": seconds
    }
