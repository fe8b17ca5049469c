"""Benchmark: which load-state cues a model reads, from counterfactual renders. All figures SYNTHETIC.

Renders held-out tiles (``tankerwatch.infer.synth.tiles.write_tiles``, the code behind ``synth
tiles``) in two GSD bands, 0.5-1 m and 1-2 m, each from one seed under five cue sets: all cues, no
bow, shadow only, side only, none (docs/physics.md, "Counterfactual renders"). The same seed gives
the same tankers, labels and pixels away from them under every cue set, so a change in the figures
is the cue's. Each tile goes through the model as an analyst's scene would (``tankerwatch.infer.
Detector``, its stretch computed over the tile) with the tile's sun and view angles, a switched-off
cue given as the geometry that hides it (no side: a nadir view; no shadow: the sun overhead), which
is what such a render shows; the load metric of CONVENTIONS.md is taken
over the true tankers the model matches (``tankerwatch.infer.evaluation.metrics``): accuracy,
coverage (share not ``uncertain``) and accuracy among the covered calls. Beside it, the colour-only
baseline (``infer/evaluation/colour_baseline.py``), fitted on all-cue tiles of another seed, scores
the same tiles. The single-cue renders are also scored over the tankers whose remaining cue is
drawn at least a pixel wide: at <= 1 m most hull-side strips are under a pixel in the generator's
geometries (docs/experiments.md, 2026-12-07 (fourth)), so the all-tanker figure mixes what a reader
could see with what no reader can.

    .venv/bin/python bench/counterfactual.py --model MODEL.onnx [--tiles 60] [--seed 1000]
        [--size 384] [--threads 2]

Targets (printed as pass/fail, not asserted): load accuracy at GSD <= 1 m at least 0.95 with all
cues, 0.93 without the bow, 0.85 with the shadow only and with the side only; coverage with no cue
at most 0.2 (nothing left to read, the model should say so).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description  # noqa: E402

from tankerwatch.infer import Detector  # noqa: E402
from tankerwatch.infer.core.labels import TYPE_NAMES, LabelledImage, LoadState  # noqa: E402
from tankerwatch.infer.evaluation.colour_baseline import evaluate_colour_baseline  # noqa: E402
from tankerwatch.infer.evaluation.metrics import DetectionEvaluator  # noqa: E402
from tankerwatch.infer.formats.dataset import read_dataset  # noqa: E402
from tankerwatch.infer.synth.physics import parse_cues  # noqa: E402
from tankerwatch.infer.synth.tiles import SPLITS, TileSettings, write_tiles  # noqa: E402

CUE_SETS = (("all cues", "all"), ("no bow", "shadow,side"), ("shadow only", "shadow"), ("side only", "side"),
            ("no cue", "none"))
GSD_BANDS = (("<= 1 m", (0.5, 1.0)), ("1-2 m", (1.0, 2.0)))
# (cue set, minimum load accuracy at GSD <= 1 m)
ACCURACY_TARGETS = (("all cues", 0.95), ("no bow", 0.93), ("shadow only", 0.85), ("side only", 0.85))
NO_CUE_MAX_COVERAGE = 0.2
# The single-cue sets and the label that holds their remaining cue's drawn width (metres).
REMAINING_CUE = (("shadow only", "shadow_width_m"), ("side only", "side_strip_m"))
MIN_CUE_PX = 1.0


def render(out: Path, count: int, size: int, seed: int, gsd: tuple[float, float], cues: str) -> list:
    """``count`` tiles of one seed, band and cue set, written under ``out``; all of them as
    labelled images (every split: the model has seen none of this seed)."""
    settings = TileSettings(size=size, gsd_range=gsd, cues=parse_cues(cues))
    write_tiles(out, count, settings, seed, fmt="coco")  # COCO carries each tile's angles
    return [image for split in SPLITS for image in read_dataset(out / split).images]


def _model_outputs(records: list[dict]) -> tuple[np.ndarray, ...]:
    """Boxes, scores, type and load probabilities of a scene's detections, as the evaluator takes
    them: a model that was not taught type calls every vessel a tanker, one not taught load (or a
    vessel called 'other') gives p_loaded 0.5, an uncertain call."""
    boxes = np.array([r["box_px"] for r in records], dtype=np.float64).reshape(-1, 5)
    scores = np.array([r["score"] for r in records], dtype=np.float64)
    tanker = TYPE_NAMES.index("tanker")
    types = np.zeros((len(records), len(TYPE_NAMES)))
    loaded = np.full(len(records), 0.5)
    for k, r in enumerate(records):
        p_tanker = 1.0 if r["type_score"] is None else (
            r["type_score"] if r["type"] == "tanker" else 1.0 - r["type_score"])
        types[k, tanker], types[k, 1 - tanker] = p_tanker, 1.0 - p_tanker
        if r["p_loaded"] is not None:
            loaded[k] = r["p_loaded"]
    return boxes, scores, types, np.stack([1.0 - loaded, loaded], axis=1)


def hiding_geometry(angles: dict, cues: frozenset[str]) -> dict:
    """The tile's angles with each switched-off cue hidden by geometry: the shadow by a sun
    overhead, the hull side by a nadir view."""
    out = dict(angles)
    if "shadow" not in cues:
        out["sun_elevation_deg"] = 90.0
    if "side" not in cues:
        out["view_zenith_deg"], out["view_azimuth_deg"] = 0.0, None
    return out


def narrow_cue_unscored(truth: LabelledImage, width_key: str) -> LabelledImage:
    """``truth`` with the load of each tanker whose cue ``width_key`` (drawn metres) is under
    :data:`MIN_CUE_PX` pixels set unknown: still a tanker to match, no longer in the load figures."""
    def wide(vessel) -> bool:
        width_m = getattr(vessel, width_key)
        return width_m is not None and width_m / truth.gsd_m >= MIN_CUE_PX

    return replace(truth, vessels=[v if wide(v) else replace(v, load=LoadState.UNKNOWN) for v in truth.vessels])


def score(detector: Detector, images: list, cues: str, width_key: str | None = None) -> tuple[dict, dict | None]:
    """The load figures over every true tanker and, with ``width_key``, over those whose cue
    ``width_key`` is drawn at least :data:`MIN_CUE_PX` wide (else None)."""
    info = detector.info
    evaluators = [DetectionEvaluator(uncertain_band=info.load_uncertain_band, load_max_gsd_m=info.load_max_gsd_m)
                  for _ in range(1 if width_key is None else 2)]
    drawn = parse_cues(cues)
    for truth in images:
        angles = hiding_geometry(truth.angles, drawn) if info.view_input else None
        outputs = _model_outputs(detector.detect(str(truth.image_path), gsd=truth.gsd_m, angles=angles).records)
        evaluators[0].add(truth, *outputs, gsd_m=truth.gsd_m)
        if width_key is not None:
            evaluators[1].add(narrow_cue_unscored(truth, width_key), *outputs, gsd_m=truth.gsd_m)
    figures = [e.compute() for e in evaluators]
    return figures[0], figures[1] if width_key is not None else None


def _fmt(value, digits: int = 3) -> str:
    return "  -  " if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="exported ONNX model")
    parser.add_argument("--tiles", type=int, default=60, help="tiles per GSD band (default 60, at least 6)")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the held-out tiles (default 1000)")
    parser.add_argument("--size", type=int, default=384, help="tile side in pixels (default 384)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads (default 2)")
    args = parser.parse_args()
    started = time.perf_counter()
    detector = Detector(args.model, device="cpu", threads=args.threads)
    info = detector.info
    print(f"SYNTHETIC counterfactual renders: {args.tiles} tiles of {args.size} px per GSD band, seed {args.seed}; "
          f"model {args.model.name} (type taught: {info.types_taught}, load taught: {info.load_taught})")
    results: dict[tuple[str, str], dict] = {}
    wide_cue: dict[tuple[str, str], dict] = {}
    baseline: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for band, gsd in GSD_BANDS:
            colour_train = render(root / f"colour_{gsd}", args.tiles, args.size, args.seed + 1, gsd, "all")
            for name, cues in CUE_SETS:
                images = render(root / f"{gsd}_{cues}", args.tiles, args.size, args.seed, gsd, cues)
                results[band, name], wide = score(detector, images, cues, dict(REMAINING_CUE).get(name))
                if wide is not None:
                    wide_cue[band, name] = wide
                try:
                    colour = evaluate_colour_baseline(colour_train, images)
                    baseline[band, name] = f"{colour.balanced_accuracy:.3f}"
                except ValueError as exc:  # a split without both states
                    baseline[band, name] = f"n/a ({exc})"
    print()
    print("| GSD | cues | tankers matched / true | load accuracy | coverage | accuracy covered | colour baseline BA |")
    print("|---|---|---|---|---|---|---|")
    for band, _ in GSD_BANDS:
        for name, _ in CUE_SETS:
            r = results[band, name]
            true = r["load_count"] + r["load_missed"]
            print(f"| {band} | {name} | {r['load_count']} / {true} | {_fmt(r['load_accuracy'])} | "
                  f"{_fmt(r['load_coverage'])} | {_fmt(r['load_accuracy_covered'])} | {baseline[band, name]} |")
    print()
    print(f"Single cues, over the tankers whose remaining cue is drawn at least {MIN_CUE_PX:g} px wide:")
    print("| GSD | cues | tankers matched / true | load accuracy | coverage | accuracy covered |")
    print("|---|---|---|---|---|---|")
    for band, _ in GSD_BANDS:
        for name, _ in REMAINING_CUE:
            r = wide_cue[band, name]
            print(f"| {band} | {name}, >= {MIN_CUE_PX:g} px | {r['load_count']} / {r['load_count'] + r['load_missed']} | "
                  f"{_fmt(r['load_accuracy'])} | {_fmt(r['load_coverage'])} | {_fmt(r['load_accuracy_covered'])} |")
    print()
    fine = {name: results["<= 1 m", name] for name, _ in CUE_SETS}
    for name, target in ACCURACY_TARGETS:
        value = fine[name]["load_accuracy"]
        verdict = "pass" if value is not None and value >= target else "FAIL"
        print(f"target: load accuracy at GSD <= 1 m, {name}: {_fmt(value)} >= {target}: {verdict}")
    coverage = fine["no cue"]["load_coverage"]
    verdict = "pass" if coverage is not None and coverage <= NO_CUE_MAX_COVERAGE else "FAIL"
    print(f"target: coverage at GSD <= 1 m with no cue: {_fmt(coverage)} <= {NO_CUE_MAX_COVERAGE}: {verdict}")
    print(f"wall {time.perf_counter() - started:.0f} s")
    print(f"cpu: {cpu_description()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
