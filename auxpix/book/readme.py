"""The README's results, generated from what the chapters recorded (never typed by hand):
``python -m auxpix.book.readme`` rewrites the block between the README's two markers from
``results/<preset>/*.json``; a test checks that the committed README holds what it generates.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import paper
from ..errors import ConfigError
from . import claims, compute, registry, sizes, tables

START = (
    "<!-- results: generated from results/ by python -m auxpix.book.readme; do not edit by hand -->"
)
END = "<!-- end of generated results -->"
CIFAR_MODELS = {
    "Grayscale PixelCNN": ("grayscale", ""),
    "PixelCNN++": ("pixelcnnpp", ""),
    "Pyramid PixelCNN 8→32": ("pyramid", "-cifar"),
}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows])


def _bits(values: dict, key: str, otherwise: str) -> str:
    return f"{values[key]:.3f}" if key in values else otherwise


def cifar10_section(preset: str) -> str:
    """Table 1 for our models (both test sets) and the exact-pixel experiment, with each run's training."""
    record = registry.recorded("cifar10_likelihoods", preset) or {"values": {}, "data": {}}
    values = record["values"]
    jpeg, subset, exact = (
        values.get(label, {}) for label in (tables.JPEG_TEST, tables.JPEG_SUBSET, tables.EXACT_TEST)
    )
    rows = []
    for name, (kind, suffix) in CIFAR_MODELS.items():
        run = (kind, preset + suffix)
        missing = (
            "not run yet" if (registry.run_dir(*run) / "run.json").is_file() else "not trained yet"
        )
        training = tables.training_note(*run)
        rows.append(
            [
                name,
                *(_bits(scores, f"{kind}_total", missing) for scores in (jpeg, subset, exact)),
                tables.paper_cifar10_text(kind),
                training,
            ]
        )
    tuned = registry.recorded("exact_pixels", preset)
    for label, by_data in (tuned or {"values": {}})["values"].items():
        rows.append(
            [
                label,
                *(
                    _bits(by_data, label, "")
                    for label in (tables.JPEG_TEST, tables.JPEG_SUBSET, tables.EXACT_TEST)
                ),
                tables.paper_cifar10_text("pixelcnnpp"),
                "scripts/finetune_exact.sh",
            ]
        )
    data = record["data"] if isinstance(record["data"], dict) else {}
    labels = (tables.JPEG_TEST, tables.JPEG_SUBSET, tables.EXACT_TEST)
    header = ["model", *labels, "paper (exact test set)", "training"]
    text = f"CIFAR-10 test bits/dim at the {preset} preset (chapter 01, `results/{preset}/cifar10_likelihoods.json`"
    text += f", `exact_pixels.json`; {record.get('compute', 'not run')}):\n\n" + _table(
        header, rows
    )
    text += (
        "\n\nTest sets: "
        + "; ".join(f"{label}: {data.get(label, 'not run')}" for label in labels)
        + "."
    )
    if "aux_share" in jpeg:
        text += (
            f"\n\nThe grayscale loss split (§4.1): p(X̂) costs {jpeg['aux_test']:.3f} of {jpeg['grayscale_total']:.3f} "
            f"bits/dim on the JPEG-decoded test images ({jpeg['aux_share']:.1%}; paper "
            f"{paper.GRAYSCALE_SPLIT['aux_test']:g} of {paper.GRAYSCALE_SPLIT['total_test']:g}, "
            f"{tables.paper_aux_share():.1%}; X̂'s share of the raw bits, 4 of 24: "
            f"{tables.RAW_BIT_SHARE:.1%})."
        )
    return text


def celeba_section(preset: str) -> str:
    """Table 2: the whole image's bits/dim at each resolution, beside the paper's."""
    record = registry.recorded("celeba_pyramid", preset)
    values = (record or {}).get("values", {})
    sizes = list(paper.TABLE2)
    if not any(f"whole_{r}" in values for r in sizes):
        return f"CelebA Table 2 at the {preset} preset (chapter 03): not run yet."
    rows = [
        ["ours", *(_bits(values, f"whole_{r}", "not in this preset") for r in sizes)],
        ["paper", *(f"{paper.TABLE2[r]:g}" for r in sizes)],
    ]
    header = ["CelebA whole image, bits/dim", *(f"{r}×{r}" for r in sizes)]
    return (
        f"CelebA Table 2 at the {preset} preset (chapter 03; {record['data']}; {record['compute']}; "
        f"{tables.training_note('pyramid', preset)}):\n\n" + _table(header, rows)
    )


def claims_section(preset: str) -> str:
    """The claims table: each claim, the paper's number, ours (judged, and beside it) and the verdict."""
    table = claims.claims_table(preset)
    columns = ["paper", "ours", "ours, also", "verdict"]
    rows = [[claim, *(row[c] for c in columns)] for claim, row in table.iterrows()]
    return (
        f"The paper's claims at the {preset} preset, with verdicts computed from the numbers "
        "(chapter 00, `auxpix.book.claims`, which sets each criterion). The CIFAR-10 rows are "
        f"judged on the {claims.VERDICT_SET} set, {claims.VERDICT_SET_WHY}:\n\n"
        + _table(["claim", *columns], rows)
    )


def compute_section(preset: str) -> str:
    """Chapter 00's compute panel: each claimed gap at equal compute, and its reading."""
    curves = compute.curves(preset)
    if curves is None:
        return compute.NO_RUNS.format(preset=preset)
    table = compute.gaps(curves).reset_index()
    rows = [
        [row[0], *(f"{v:.1%}" if row[0] == compute.AUX_SHARE else f"{v:+.3f}" for v in row[1:])]
        for row in table.values.tolist()
    ]
    return (
        f"The claimed gaps at equal compute at the {preset} preset (chapter 00: the committed "
        "runs' own test curves, the first 500 JPEG-decoded test images, each part of a model at "
        "its share of the minutes):\n\n"
        + _table(["gap", *table.columns[1:]], rows)
        + "\n\n"
        + compute.reading(compute.gaps(curves)).replace("**", "")
    )


def sizes_section(preset: str) -> str:
    """Our networks at ``preset`` beside the paper's (``auxpix.book.sizes.sizes``)."""
    try:
        table = sizes.sizes(preset).reset_index()
    except ConfigError:
        return f"Network sizes: the models have no preset {preset!r}."
    return (
        f"Network sizes at the {preset} preset beside the paper's (residual blocks per stream "
        "and resolution / filters, and parameters, as `auxpix.config`'s presets build them; "
        "chapter 00):\n\n" + _table(list(table.columns), table.values.tolist())
    )


def results_markdown(preset: str = "cpu") -> str:
    """The README's generated block at ``preset``: CIFAR-10, CelebA, the claims, the gaps at
    equal compute and the network sizes."""
    sections = [
        cifar10_section(preset),
        celeba_section(preset),
        claims_section(preset),
        compute_section(preset),
        sizes_section(preset),
    ]
    return "\n".join([START, "", "\n\n".join(sections), "", END])


def update(readme: Path, preset: str = "cpu") -> bool:
    """Rewrite ``readme``'s generated block; returns whether it changed."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(
            f"{readme} has no generated block: put the lines {START!r} and {END!r} where it goes"
        )
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    new = before + results_markdown(preset) + after
    readme.write_text(new)
    return new != text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        help="the results folder (default results/)",
    )
    parser.add_argument("--preset", default="cpu")
    args = parser.parse_args()
    registry.use_results(args.results)
    print(
        f"{args.readme}: {'updated' if update(args.readme, args.preset) else 'already up to date'}"
    )


if __name__ == "__main__":
    main()
