"""Ship-to-ship pairs on synthetic scenes (SYNTHETIC): pair recall, precision and berth false positives.

For each GSD and seed, composes a ``synth scene`` world with ``--sts`` pairs rafted in the anchorage
and as many vessels double-banked at berths (no pixels are drawn: the pairing reads boxes only),
writes its ground truth as a detection file and its berths as an area-of-interest file (points
marked ``"kind": "berth"``), and runs the report's pairing on them
(:class:`tankerwatch.infer.report.sts.StsFinder`: the rules of :mod:`tankerwatch.infer.runtime.sts`,
then berths). Scored twice:

* on the truth as it is (perfect boxes);
* on the truth *perturbed* like a detector's boxes (not a model: a sensitivity check): centres moved
  by ``--jitter-px`` (sigma, pixels), lengths and widths by ``--size-jitter`` (relative sigma), axes
  by ``--angle-deg`` (sigma);
* with ``--model M.onnx``, on that model's detections (score >= ``--min-score``) in the same scenes
  rendered (``synth scene``). Each detection takes the identity of the true vessel it overlaps most
  (rotated IoU >= ``MATCH_IOU``, one detection per vessel, highest scores first); one that matches
  none is a vessel that is not there, so a pair with it is wrong.

A found pair is right when its two vessels are a true pair (same ``sts_pair`` in the truth). Recall =
true pairs found / true pairs; precision = right pairs / pairs found; berth FP = pairs found with a
vessel moored at a berth (a berthed ship or one double-banked outboard of it); "berth rafts flagged
by geometry" counts the same before berths are applied (what ``detect`` alone flags). Prints the CPU
line. All figures are synthetic; targets: recall >= 0.9 and precision >= 0.8 at GSD <= 2 m, no
berth pair counted.

    .venv/bin/python bench/sts_pairs.py [--gsds 0.5,1,2] [--seeds 6] [--size 3000] [--sts 3]
        [--jitter-px 1] [--size-jitter 0.03] [--angle-deg 2] [--seed 0]
        [--model M.onnx [--min-score 0.3] [--max-gsd 2]]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import shapely
from _common import cpu_description

from tankerwatch.infer.core.boxes import rotated_iou
from tankerwatch.infer.core.georef import pixels_to_lonlat
from tankerwatch.infer.report.inputs import read_scene
from tankerwatch.infer.report.sts import StsFinder, read_berths
from tankerwatch.infer.runtime.detect import DEFAULT_MIN_SCORE, analyse_scene
from tankerwatch.infer.runtime.detection_file import write_detection_files
from tankerwatch.infer.runtime.onnx_model import OnnxDetector
from tankerwatch.infer.runtime.sts import detection_hulls, find_rafts
from tankerwatch.infer.runtime.tiling import DEFAULT_MAX_GSD_M
from tankerwatch.infer.synth.scene import SceneSettings, _crs, compose_scene, truth_detections, write_scene
from tankerwatch.infer.synth.tiles import UTM_CRS

# A rafted pair's two hulls touch: a detection boxing both, or half of one, must not borrow an identity.
MATCH_IOU = 0.3


def perturbed(detections, rng, jitter_px: float, size_jitter: float, angle_deg: float):
    out = []
    for d in detections:
        cx, cy, length, width, angle = d.box_px
        length, width = length * (1 + rng.normal(0, size_jitter)), width * (1 + rng.normal(0, size_jitter))
        angle = (angle + np.radians(rng.normal(0, angle_deg)) + np.pi / 2) % np.pi - np.pi / 2
        box = [cx + rng.normal(0, jitter_px), cy + rng.normal(0, jitter_px), max(length, width), min(length, width),
               angle if length >= width else (angle + np.pi) % np.pi - np.pi / 2]
        out.append(replace(d, box_px=np.array(box)))
    return out


def identified(detections, truth):
    """The model's ``detections`` with ``extra["vessel_id"]`` of the true vessel each one overlaps
    most (rotated IoU >= MATCH_IOU; greedy, highest score first, one detection per vessel), else None."""
    iou = rotated_iou([d.box_px for d in detections], [t.box_px for t in truth])
    taken: set[int] = set()
    out = []
    for index in np.argsort([-d.score for d in detections], kind="stable"):
        row = iou[index].copy() if len(truth) else np.zeros(0)
        row[list(taken)] = 0.0
        best = int(np.argmax(row)) if len(row) else -1
        vessel_id = None
        if best >= 0 and row[best] >= MATCH_IOU:
            taken.add(best)
            vessel_id = truth[best].extra["vessel_id"]
        out.append(replace(detections[index], extra={**detections[index].extra, "vessel_id": vessel_id}))
    return out


def write_berths(path: Path, world) -> None:
    points = pixels_to_lonlat(UTM_CRS, world.transform, [b.centre for b in world.layout.berths]).reshape(-1, 2)
    features = [{"type": "Feature", "properties": {"kind": "berth"},
                 "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]}} for lon, lat in points]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def score(folder: Path, name: str, world, detections, gsd: float, berths_path: Path, truth) -> dict:
    header = {"source": name, "acquired": "2024-05-02T02:10:00Z", "gsd_m": gsd, "model": None, "scaling": None}
    write_detection_files(folder / name, detections, header, crs=_crs(), transform=world.transform,
                          footprint_px=shapely.box(0, 0, world.layout.width, world.layout.height))
    scene = read_scene(folder / f"{name}.geojson", None, None)
    finder = StsFinder(read_berths(berths_path))
    finder.step(0, scene, {})
    result = finder.finish([], [], [scene])
    members: dict[int, set] = {}
    for d in truth:
        if d.extra.get("sts_pair") is not None:
            members.setdefault(d.extra["sts_pair"], set()).add(d.extra["vessel_id"])
    true_pairs = {frozenset(v) for v in members.values()}
    found = [frozenset(v.vessel_id for v in p.vessels) for p in result.pairs]
    moored = {s.vessel_id for s in world.ships if s.berthed}
    by_geometry = find_rafts(detection_hulls(detections, gsd), gsd)
    ids = [d.extra["vessel_id"] for d in detections]
    return {"true": len(true_pairs), "found": len(found), "right": sum(f in true_pairs for f in found),
            "hit": sum(t in set(found) for t in true_pairs), "berth_fp": sum(bool(f & moored) for f in found),
            "berth_geometry": sum(bool({ids[r.first], ids[r.second]} & moored) for r in by_geometry)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gsds", default="0.5,1,2")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--size", type=int, default=3000)
    parser.add_argument("--sts", type=int, default=3)
    parser.add_argument("--jitter-px", type=float, default=1.0)
    parser.add_argument("--size-jitter", type=float, default=0.03)
    parser.add_argument("--angle-deg", type=float, default=2.0)
    parser.add_argument("--model", type=Path, help="also score this ONNX model's detections in the rendered scenes")
    parser.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE, help="the model's operating point")
    parser.add_argument("--threads", type=int, default=2, help="threads for rendering and the model")
    parser.add_argument("--max-gsd", type=float, default=DEFAULT_MAX_GSD_M,
                        help="as detect's --max-gsd: scenes coarser than this run enlarged to it")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}")
    print(f"SYNTHETIC scenes: {args.seeds} seeds x GSD {args.gsds} m, {args.size} px, --sts {args.sts}")
    model = None
    if args.model:
        model = OnnxDetector(args.model, device="cpu", threads=args.threads)
        print(f"model {args.model} (id {model.info.model_id}), min score {args.min_score:g}")
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        for gsd in [float(g) for g in args.gsds.split(",")]:
            totals = {"exact": {}, "perturbed": {}, **({"model": {}} if model else {})}
            for seed in range(args.seed, args.seed + args.seeds):
                world = compose_scene(seed, SceneSettings(size=args.size, gsd_m=gsd, sts_pairs=args.sts))
                berths = folder / f"berths_{seed}.geojson"
                write_berths(berths, world)
                exact = truth_detections(world.ships, world.view)
                noisy = perturbed(exact, rng, args.jitter_px, args.size_jitter, args.angle_deg)
                kinds = [("exact", exact), ("perturbed", noisy)]
                if model:
                    settings = SceneSettings(size=args.size, gsd_m=gsd, sts_pairs=args.sts)
                    write_scene(folder / "scene.tif", settings, seed, overwrite=True, threads=args.threads)
                    found = analyse_scene(model, folder / "scene.tif", min_score=args.min_score, progress=False,
                                          max_gsd_m=args.max_gsd)
                    kinds.append(("model", identified(found.detections, exact)))
                for kind, detections in kinds:
                    for key, value in score(folder, f"{kind}_{seed}", world, detections, gsd, berths, exact).items():
                        totals[kind][key] = totals[kind].get(key, 0) + value
            for kind, t in totals.items():
                recall = t["hit"] / t["true"] if t["true"] else float("nan")
                precision = t["right"] / t["found"] if t["found"] else float("nan")
                print(f"GSD {gsd:g} m, {kind:9s} boxes: {t['true']} true pairs, {t['found']} found; recall "
                      f"{recall:.3f}, precision {precision:.3f}; berth pairs counted as STS {t['berth_fp']} "
                      f"(berth rafts flagged by geometry alone {t['berth_geometry']})")


if __name__ == "__main__":
    main()
