"""Why a pyramid's samples leave the view they were given (issue 21): every measure of
:mod:`auxpix.diagnostics` on a committed Pyramid PixelCNN run, written to one JSON file (the
maps beside it, in a .npz of the same name).

Per conditional level r, on the first ``--faces`` test images (likelihoods, teacher forcing)
and the first ``--sample-faces`` of them (free-running sampling):

* ``kept_map_samples``: consistency of the MAP samples a chapter shows, read from the kept file
  (``--kept``, checked against the run's checkpoints); without one, ``map_samples``: that many
  MAP samples of the whole pyramid drawn now (cached sampler, ``--seed``);
* ``teacher_forced_on_samples``: each pixel of those samples drawn again (MAP) given the
  sample's own prefix and X̂;
* ``free_running_given_real`` (MAP) and ``free_running_given_real_c0`` (plain draws):
  the level sampled by the cached sampler given real faces' X̂; ``free_running_border_given``:
  the same (MAP) with the faces' real border band given, the interior drawn;
* ``teacher_forced_real``: each pixel drawn (MAP) given the real face's prefix and X̂;
  ``teacher_forced_foreign_prefix``: given the prefix of the next face in the batch and this
  face's X̂, with its gap to both X̂s (which one do the draws follow?); ``left_neighbour_copy``:
  the same gap for a predictor that copies each real pixel's left neighbour and ignores X̂;
* ``shift_ablation``, ``pixel_bits`` (border band against interior, row and column profiles),
  ``border_penalty`` (the central crop, ``--margin`` pixels off each side, scored on its own),
  ``surrounded_border`` (the faces reflect-padded by ``--margin`` pixels of the level);
* ``crop_ablation`` for levels trained on crops; ``sampler``: cached against naive draws in
  float64 on ``--sampler-faces`` faces, the first ``--sampler-rows`` rows, at ``--sampler-level``.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/diagnose_pyramid.py results/runs/pyramid-cpu \\
        --faces 64 --sample-faces 16 --out /tmp/diagnosis/pyramid-cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from auxpix import diagnostics
from auxpix.book import registry
from auxpix.runs import load_run

SECTIONS = ("samples", "free", "teacher", "likelihood", "crop", "sampler")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the pyramid run's folder")
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--faces", type=int, default=64, help="test images for likelihoods")
    parser.add_argument("--sample-faces", type=int, default=16, help="... for sampling")
    parser.add_argument("--kept", type=Path, help="a kept .npz of the run's MAP samples")
    parser.add_argument("--border", type=int, default=1, help="border band, pooled pixels")
    parser.add_argument(
        "--margin", type=int, default=4, help="border_penalty's crop, surrounded_border's pad"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sampler-level", default="64")
    parser.add_argument("--sampler-faces", type=int, default=2)
    parser.add_argument("--sampler-rows", type=int, default=8)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--levels", nargs="+", help="diagnose (and load) only these levels")
    parser.add_argument("--data-dir", default=None, help="default: $AUXPIX_DATA")
    return parser.parse_args()


class Report:
    """The JSON being written: summaries per level and section, maps kept apart for the .npz."""

    def __init__(self, args, model):
        self.out, self.maps, self.started = args.out, {}, time.perf_counter()
        self.content = {
            "command": " ".join(sys.argv),
            "run": str(args.run),
            "checkpoints": json.loads(registry.sample_key(args.run))["checkpoints"],
            "dataset": model.config.dataset,
            "faces": args.faces,
            "sample_faces": args.sample_faces,
            "border_pooled_pixels": args.border,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "processor": platform.processor() or platform.machine(),
            "levels": {},
            "seconds": {},
        }

    def put(self, level: str, section: str, value) -> None:
        self.content["levels"].setdefault(level, {})[section] = self.without_maps(
            f"{level}/{section}", value
        )
        self.save()

    def without_maps(self, where: str, value):
        """``value`` with every "map" in it moved to the .npz, under ``where``."""
        if not isinstance(value, dict):
            return value
        if "map" in value:
            self.maps[where] = np.asarray(value["map"])
        return {
            key: self.without_maps(f"{where}/{key}", item)
            for key, item in value.items()
            if key != "map"
        }

    def timed(self, section: str, seconds: float) -> None:
        self.content["seconds"][section] = round(seconds, 1)
        self.save()

    def save(self) -> None:
        self.content["seconds"]["total"] = round(time.perf_counter() - self.started, 1)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.content, indent=1) + "\n")
        np.savez_compressed(self.out.with_suffix(".npz"), **self.maps)


def kept_levels(args, model, report: Report) -> dict[str, torch.Tensor] | None:
    """The chapter's kept MAP samples by level, if ``--kept`` holds this run's."""
    if args.kept is None:
        return None
    with np.load(args.kept) as kept:
        key = json.loads(str(kept["key"]))
        levels = {name: torch.from_numpy(kept[name]) for name in kept.files if name.isdigit()}
    if key["checkpoints"] != report.content["checkpoints"]:
        raise SystemExit(f"{args.kept} holds samples of other checkpoints than {args.run}'s")
    report.content["kept"] = {"file": str(args.kept), "settings": key}
    return levels


def drawn_levels(args, model) -> dict[str, torch.Tensor]:
    """``--sample-faces`` MAP samples of the whole pyramid, drawn now (cached, ``--seed``)."""
    generator = torch.Generator().manual_seed(args.seed)
    stages = model.sample(args.sample_faces, map=True, method="cached", generator=generator)
    return {str(level.shape[-1]): level for level in stages.values()}


def samples_section(args, model, report: Report) -> None:
    levels = kept_levels(args, model, report)
    label = "kept_map_samples"
    if levels is None:
        levels, label = drawn_levels(args, model), "map_samples"
        report.content["map_samples"] = {"n": args.sample_faces, "seed": args.seed}
    for lo, hi in zip(model.config.resolutions, model.config.resolutions[1:]):
        x, aux = levels[str(hi)].long(), levels[str(lo)].long()
        report.put(str(hi), label, diagnostics.consistency(x, aux, border=args.border))
        redrawn = diagnostics.teacher_forced(
            model.parts[str(hi)], x, aux, generator=torch.Generator().manual_seed(args.seed)
        )
        summary = diagnostics.consistency(redrawn, aux, border=args.border)
        report.put(str(hi), "teacher_forced_on_samples", summary)


def free_section(args, model, faces, report: Report) -> None:
    """Each conditional level sampled given real faces' X̂: MAP and plain draws (c = 0), and MAP
    with the real border band given."""
    for name in conditional_levels(args, model):
        part, x, aux = diagnostics.level_inputs(model, name, faces[: args.sample_faces])
        for label, map in (
            ("free_running_given_real", True),
            ("free_running_given_real_c0", False),
        ):
            started = time.perf_counter()
            generator = torch.Generator().manual_seed(args.seed)
            drawn = part.sample(len(aux), aux, map=map, method="cached", generator=generator)
            report.put(name, label, diagnostics.consistency(drawn, aux, border=args.border))
            report.timed(f"{label}_{name}", time.perf_counter() - started)
        started = time.perf_counter()
        band = diagnostics.border_mask(int(name), 2 * args.border)  # the pooled border band
        drawn = diagnostics.sample_given(
            part, aux, x, band, generator=torch.Generator().manual_seed(args.seed)
        )
        summary = diagnostics.consistency(drawn, aux, border=args.border)
        report.put(name, "free_running_border_given", summary)
        report.timed(f"free_running_border_given_{name}", time.perf_counter() - started)


def teacher_section(args, model, faces, report: Report) -> None:
    """Each pixel drawn (MAP) given a real prefix: the face's own, and the next face's."""
    for name in conditional_levels(args, model):
        part, x, aux = diagnostics.level_inputs(model, name, faces)
        generator = torch.Generator().manual_seed(args.seed)
        drawn = diagnostics.teacher_forced(part, x, aux, generator=generator)
        report.put(
            name, "teacher_forced_real", diagnostics.consistency(drawn, aux, border=args.border)
        )
        # the same measure of a predictor that copies each pixel's left neighbour (no X̂ at all)
        copied = diagnostics.shift(x, "right")
        report.put(
            name, "left_neighbour_copy", diagnostics.consistency(copied, aux, border=args.border)
        )
        foreign = diagnostics.teacher_forced(part, x.roll(1, dims=0), aux, generator=generator)
        views = {"to_own_view": aux, "to_prefix_view": aux.roll(1, dims=0)}
        report.put(
            name,
            "teacher_forced_foreign_prefix",
            {
                key: diagnostics.consistency(foreign, view, border=args.border)
                for key, view in views.items()
            },
        )


def likelihood_section(args, model, faces, report: Report) -> None:
    """Shift ablation (conditional levels) and per-pixel bits (every level)."""
    for name in diagnosed_levels(args, model):
        if model.parts[name].conditional:
            started = time.perf_counter()
            report.put(name, "shift_ablation", diagnostics.shift_ablation(model, name, faces))
            report.timed(f"shift_ablation_{name}", time.perf_counter() - started)
            penalty = diagnostics.border_penalty(model, name, faces, margin=args.margin)
            report.put(name, "border_penalty", penalty)
            surrounded = diagnostics.surrounded_border(model, name, faces, pad=args.margin)
            report.put(name, "surrounded_border", surrounded)
        bits = diagnostics.pixel_bits(model, name, faces)
        width = 2 * args.border  # the level's pixels under the pooled border band
        report.put(
            name,
            "pixel_bits",
            {
                "border_width": width,
                **diagnostics.band_means(bits, width),
                "mean": bits.mean().item(),
                "rows": bits.mean(dim=1).tolist(),
                "columns": bits.mean(dim=0).tolist(),
                "map": bits.tolist(),
            },
        )


def crop_section(args, model, faces, report: Report) -> None:
    for name in conditional_levels(args, model):
        if model.config.crop and int(name) > model.config.crop:
            generator = torch.Generator().manual_seed(args.seed)
            started = time.perf_counter()
            result = diagnostics.crop_ablation(model, name, faces, generator=generator)
            report.put(name, "crop_ablation", result)
            report.timed(f"crop_ablation_{name}", time.perf_counter() - started)


def sampler_section(args, model, faces, report: Report) -> None:
    name = args.sampler_level
    part, _, aux = diagnostics.level_inputs(model, name, faces[: args.sampler_faces])
    started = time.perf_counter()
    result = diagnostics.sampler_agreement(part, aux, rows=args.sampler_rows, seed=args.seed)
    report.put(name, "sampler", {**result, "faces": len(aux), "rows": args.sampler_rows})
    report.timed(f"sampler_{name}", time.perf_counter() - started)


def conditional_levels(args, model) -> list[str]:
    return [name for name in diagnosed_levels(args, model) if model.parts[name].conditional]


def diagnosed_levels(args, model) -> list[str]:
    """The levels ``--levels`` names (every level without it)."""
    return args.levels or list(model.parts)


def headline(content: dict) -> str:
    """A markdown table of the main numbers per level (consistency: mean, border / interior)."""

    def gap(v):
        return f"{v['mean']:.2f} ({v['border_mean']:.2f} / {v['interior_mean']:.2f})"

    columns = {
        "MAP samples": lambda s: gap(s.get("kept_map_samples") or s["map_samples"]),
        "free, real X̂": lambda s: gap(s["free_running_given_real"]),
        "free, real border given": lambda s: gap(s["free_running_border_given"]),
        "teacher-forced": lambda s: gap(s["teacher_forced_real"]),
        "foreign prefix: own / its X̂": lambda s: "{:.1f} / {:.1f}".format(
            *(
                s["teacher_forced_foreign_prefix"][k]["mean"]
                for k in ("to_own_view", "to_prefix_view")
            )
        ),
        "shift: aligned / best other": lambda s: "{:.3f} / {:.3f}".format(
            s["shift_ablation"]["aligned"],
            min(v for k, v in s["shift_ablation"].items() if k != "aligned"),
        ),
        "bits: border / interior": lambda s: "{:.3f} / {:.3f}".format(
            s["pixel_bits"]["border"], s["pixel_bits"]["interior"]
        ),
        "right column: in place / surrounded": lambda s: "{:.2f} / {:.2f}".format(
            s["surrounded_border"]["whole"]["right"], s["surrounded_border"]["surrounded"]["right"]
        ),
    }
    lines = ["| level | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for level, sections in content["levels"].items():
        cells = []
        for show in columns.values():
            try:
                cells.append(show(sections))
            except KeyError:  # a section not run, or not for this level
                cells.append("")
        if any(cells):
            lines.append(f"| {level} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    args = arguments()
    torch.manual_seed(args.seed)
    model = load_run(args.run, parts=args.levels)  # a pilot may have trained only some levels
    faces = registry.model_images(model, "test", data_dir=args.data_dir, limit=args.faces)
    report = Report(args, model)
    report.content["data"] = f"the first {len(faces)} {model.config.dataset} test images"
    sections = {
        "samples": lambda: samples_section(args, model, report),
        "teacher": lambda: teacher_section(args, model, faces, report),
        "likelihood": lambda: likelihood_section(args, model, faces, report),
        "crop": lambda: crop_section(args, model, faces, report),
        "sampler": lambda: sampler_section(args, model, faces, report),
        "free": lambda: free_section(args, model, faces, report),
    }
    for section, run in sections.items():
        if section in args.only:
            started = time.perf_counter()
            run()
            report.timed(section, time.perf_counter() - started)
            print(f"{section}: {time.perf_counter() - started:.0f} s", flush=True)
    print(headline(report.content))


if __name__ == "__main__":
    main()
