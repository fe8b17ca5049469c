"""Dark vessels against AIS on a synthetic series (SYNTHETIC): speed on a large AIS file, dark recall and precision.

Generates a series with AIS through the real CLI (``tankerwatch synth series --ais``: a share of the
tanker visits silent, the truth in ``ais_truth.csv``), pads its ``ais.csv`` to ``--rows`` rows with
background traffic (transponders moving along lanes 10-30 km off the terminal over the whole
period, so they are read, windowed and placed but never inside a footprint), then:

* times reading and matching that file in-process (``read_ais`` + ``add_scene`` per date) and the whole
  ``tankerwatch report --ais`` command on the series' truth detections;
* scores dark tankers against the truth: recall = truly dark tanker sightings flagged dark (a tanker
  not detected at all counts as missed), precision = tanker detections flagged dark that are truly dark
  (a false detection counts against); and AIS-only positions against the spoofed ones;
* scores the same on the truth *perturbed* like a detector's output (not a model: a sensitivity
  check): centres moved by ``--jitter-px`` (sigma, pixels), lengths by 8 % and axes by 3 degrees
  (sigma), a share ``--miss`` of vessels dropped, and ``--false`` false tanker detections per scene
  (Poisson mean) in the open water; each detection is paired with the nearest true vessel within
  half its length;
* with ``--model M.onnx``, runs ``tankerwatch detect`` on the series' scenes and scores the same on
  the model's detections, reported at each ``--min-scores`` operating point (``report --min-score``),
  without and with the series' area of interest (``report --aoi terminal.aoi.geojson``: the terminal's
  waters, as an analyst draws them; tankers outside are not judged).

Prints the CPU line. All figures are synthetic.

    .venv/bin/python bench/ais_matching.py [--rows 1000000] [--dates 12] [--size 1536] [--gsd 1] [--seeds 1[,2,3]]
        [--dark-share 0.3] [--jitter-px 2] [--miss 0.05] [--false 0.5] [--model M.onnx [--min-scores 0,0.5]]
        [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from _common import cpu_description, run_tankerwatch
from rasterio.crs import CRS

from tankerwatch.infer.core.ais_file import read_ais
from tankerwatch.infer.core.georef import WGS84
from tankerwatch.infer.report.ais import AisResult, AisTolerances, add_scene
from tankerwatch.infer.report.inputs import load_scenes
from tankerwatch.infer.runtime.detection_file import Detection, read_detection_file, write_detection_files
from tankerwatch.infer.synth.scene import scene_transform

TERMINAL = (133.07, 42.75)
BACKGROUND_VESSELS = 600
BACKGROUND_INTERVAL_S = 60


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def pad_ais(source: Path, target: Path, rows: int, seed: int) -> int:
    """``source``'s rows plus background traffic up to ``rows`` rows, sorted by time; returns the row count."""
    own = source.read_text().splitlines()
    header, own_rows = own[0], own[1:]
    times = [np.datetime64(r.split(",")[1].rstrip("Z"), "s") for r in own_rows]
    start, end = min(times) - np.timedelta64(1, "D"), max(times) + np.timedelta64(1, "D")
    n = max(rows - len(own_rows), 0)
    rng = np.random.default_rng(seed)
    vessel = rng.integers(0, BACKGROUND_VESSELS, n)
    span_s = int((end - start) / np.timedelta64(1, "s"))
    t = np.sort(rng.integers(0, span_s // BACKGROUND_INTERVAL_S, n)) * BACKGROUND_INTERVAL_S
    # Each background vessel shuttles along a lane at 4-7 m/s, within 4 km of a point 10-30 km from the
    # terminal: outside every footprint (a vessel inside one would be in the image).
    ring = rng.uniform(10_000, 30_000, BACKGROUND_VESSELS)
    bearing = rng.uniform(0, 360, BACKGROUND_VESSELS)
    speed = rng.uniform(4, 7, BACKGROUND_VESSELS)
    lane_lon, lane_lat, _ = WGS84.fwd(np.full(BACKGROUND_VESSELS, TERMINAL[0]), np.full(BACKGROUND_VESSELS, TERMINAL[1]),
                                      bearing, ring)
    along = (speed[vessel] * t) % 8_000 - 4_000  # to and fro within 4 km of the lane's centre
    lon, lat, _ = WGS84.fwd(lane_lon[vessel], lane_lat[vessel], (bearing[vessel] + 90) % 360, np.abs(along) + 1)
    stamps = np.datetime_as_string(start + t.astype("timedelta64[s]"), unit="s")
    mmsi = 200_000_000 + vessel
    background = [f"{m},{s}Z,{x:.6f},{y:.6f},150,70" for m, s, x, y in zip(mmsi, stamps, lon, lat, strict=True)]
    merged = sorted(own_rows + background, key=lambda r: r.split(",", 2)[1])
    target.write_text(header + "\n" + "\n".join(merged) + "\n")
    return len(merged)


def perturb(truth_files: list[Path], out: Path, size: int, gsd: float, jitter_px: float, miss: float,
            false_rate: float, seed: int) -> list[Path]:
    """Copies of the truth detection files with a detector's kind of errors (module doc)."""
    rng = np.random.default_rng([seed, 99])
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in truth_files:
        parsed = read_detection_file(path)
        kept = []
        for det in parsed.detections:
            if rng.random() < miss:
                continue
            cx, cy, length, width, angle = det.box_px
            box = [cx + rng.normal(0, jitter_px), cy + rng.normal(0, jitter_px), length * (1 + rng.normal(0, 0.08)),
                   width, (angle + np.radians(rng.normal(0, 3.0)) + np.pi / 2) % np.pi - np.pi / 2]
            kept.append(Detection(box, det.score, det.vessel_type, det.type_score, det.load, det.p_loaded))
        for _ in range(rng.poisson(false_rate)):
            box = [rng.uniform(0.05, 0.95) * size, rng.uniform(0.45, 0.95) * size, rng.uniform(60, 120) / gsd,
                   rng.uniform(10, 18) / gsd, rng.uniform(-np.pi / 2, np.pi / 2)]
            kept.append(Detection(box, 0.6, "tanker", 0.6, "uncertain", 0.5))
        header = {k: parsed.header.get(k) for k in ("source", "acquired", "acquired_from", "gsd_m", "model", "scaling")}
        geojson, _ = write_detection_files(out / path.name.removesuffix(".truth.geojson"), kept, header,
                                           CRS.from_wkt(parsed.header["crs"]), scene_transform(size, gsd),
                                           shapely.box(0, 0, size, size))
        written.append(geojson)
    return written


def _pair_to_truth(rows: list[dict], truth: list[dict]) -> dict[tuple[str, int], str]:
    """(date, row index) of each detection -> the vessel_id of the nearest true vessel within half the
    detection's length, greedily nearest first; detections without one are absent."""
    by_date: dict[str, list[dict]] = {}
    for t in truth:
        if t["kind"] != "spoof":
            by_date.setdefault(t["date"], []).append(t)
    candidates = []
    for k, r in enumerate(rows):
        for t in by_date.get(r["date"], []):
            _, _, d = WGS84.inv(float(r["lon"]), float(r["lat"]), float(t["lon"]), float(t["lat"]))
            if d <= 0.5 * float(r["length_m"]):
                candidates.append((d, k, t["vessel_id"]))
    pairs, used_rows, used_truth = {}, set(), set()
    for _, k, vid in sorted(candidates):
        if k not in used_rows and (rows[k]["date"], vid) not in used_truth:
            used_rows.add(k)
            used_truth.add((rows[k]["date"], vid))
            pairs[(rows[k]["date"], k)] = vid
    return pairs


def score(label: str, matches: Path, truth_path: Path) -> tuple[int, int, int]:
    """Print dark recall and precision (module doc); return (hits, truly dark, flagged)."""
    truth = _csv(truth_path)
    rows = [r for r in _csv(matches) if r["record"] == "detection"]
    truly_dark = {(t["date"], t["vessel_id"]) for t in truth if t["dark"] == "true"}
    pairs = _pair_to_truth(rows, truth)
    flagged = [(r["date"], k) for k, r in enumerate(rows) if r["dark"] == "true"]
    hits = {(date, pairs[(date, k)]) for date, k in flagged if (date, pairs.get((date, k))) in truly_dark}
    recall = len(hits) / len(truly_dark) if truly_dark else float("nan")
    precision = len(hits) / len(flagged) if flagged else float("nan")
    tankers = sum(t["kind"] == "tanker" for t in truth)
    spoofs = {(t["date"], t["mmsi"]) for t in truth if t["ais_only"] == "true"}
    ais_only = {(r["date"], r["ais_mmsi"]) for r in _csv(matches) if r["record"] == "ais_only"}
    print(f"[{label}] dark tankers: recall {recall:.3f} ({len(hits)}/{len(truly_dark)} truly dark sightings), "
          f"precision {precision:.3f} ({len(hits)}/{len(flagged)} flagged), of {tankers} true tanker sightings; "
          f"AIS-only: {len(ais_only & spoofs)}/{len(spoofs)} spoofed positions found, "
          f"{len(ais_only - spoofs)} other AIS-only")
    return len(hits), len(truly_dark), len(flagged)


def run_series(args: argparse.Namespace, seed: int, work: Path) -> dict[str, tuple[int, int, int]]:
    """One seed's series through every step of the module doc, in ``work``; (hits, truly dark,
    flagged) per scored run."""
    series = work / "series"
    _, seconds = run_tankerwatch("synth", "series", series, "--dates", args.dates, "--size", args.size, "--gsd", args.gsd,
                     "--seed", seed, "--ais", "--ais-dark-share", args.dark_share, "--overwrite")
    print(f"synthetic series: {args.dates} dates of {args.size} px at {args.gsd:g} m, seed {seed}, "
          f"made in {seconds:.1f} s")
    big = work / "ais_big.csv"
    total = pad_ais(series / "ais.csv", big, args.rows, seed)
    print(f"AIS file: {total:,} rows ({big.stat().st_size / 1e6:.0f} MB), of which "
          f"{len(_csv(series / 'ais.csv')):,} from the series")
    truth_files = sorted(series.glob("*.truth.geojson"))
    scenes = load_scenes(truth_files).scenes
    tol = AisTolerances()
    start = time.perf_counter()
    ais = read_ais(big, [s.acquired.timestamp() for s in scenes], tol.window_min * 60)
    read_s = time.perf_counter() - start
    result = AisResult(ais, tol)
    for index, scene in enumerate(scenes):  # as the report feeds them: dates in time order
        add_scene(result, index, scene, {})
    match_s = time.perf_counter() - start - read_s
    print(f"in-process: read {read_s:.1f} s ({ais.rows:,} rows, {ais.kept:,} fixes kept of "
          f"{len(ais.tracks)} transponders), match {match_s:.2f} s ({len(scenes)} dates, "
          f"{sum(len(s.positions) for s in result.scenes)} placements); total {read_s + match_s:.1f} s")
    stdout, seconds = run_tankerwatch("report", *truth_files, "-o", work / "report_truth", "--ais", big, "--overwrite")
    print(f"[truth detections] report --ais in {seconds:.1f} s: "
          f"{next(line for line in stdout.splitlines() if line.startswith('AIS '))}")
    scores = {}
    scores["truth detections"] = score("truth detections", work / "report_truth" / "ais_matches.csv", series / "ais_truth.csv")
    noisy = perturb(truth_files, work / "perturbed", args.size, args.gsd, args.jitter_px, args.miss, args.false,
                    seed)
    label = f"perturbed truth (jitter {args.jitter_px:g} px, miss {args.miss:g}, false {args.false:g}/scene)"
    stdout, seconds = run_tankerwatch("report", *noisy, "-o", work / "report_perturbed", "--ais", big, "--overwrite")
    print(f"[{label}] report --ais in {seconds:.1f} s: "
          f"{next(line for line in stdout.splitlines() if line.startswith('AIS '))}")
    scores["perturbed truth"] = score(label, work / "report_perturbed" / "ais_matches.csv", series / "ais_truth.csv")
    if args.model:
        detections = work / "detections"
        _, seconds = run_tankerwatch("detect", args.model, *sorted(series.glob("*.tif")), "-o", detections, "--overwrite")
        print(f"[model] detect on {args.dates} scenes in {seconds:.1f} s ({args.model})")
        for min_score in args.min_scores.split(","):
            for aoi in ((), ("--aoi", series / "terminal.aoi.geojson")):
                label = f"model, min score {min_score}{', --aoi waters' if aoi else ''}"
                out = work / f"report_model_{min_score}{'_aoi' if aoi else ''}"
                stdout, seconds = run_tankerwatch("report", *sorted(detections.glob("*.geojson")), "-o", out,
                                                  "--ais", big, "--min-score", min_score, *aoi, "--overwrite")
                print(f"[{label}] report --ais in {seconds:.1f} s: "
                      f"{next(line for line in stdout.splitlines() if line.startswith('AIS '))}")
                scores[label] = score(label, out / "ais_matches.csv", series / "ais_truth.csv")
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dates", type=int, default=12)
    parser.add_argument("--size", type=int, default=1536)
    parser.add_argument("--gsd", type=float, default=1.0)
    parser.add_argument("--seeds", "--seed", default="1", help="series seeds, comma-separated; figures are pooled over them")
    parser.add_argument("--dark-share", type=float, default=0.3)
    parser.add_argument("--jitter-px", type=float, default=2.0)
    parser.add_argument("--miss", type=float, default=0.05)
    parser.add_argument("--false", type=float, default=0.5)
    parser.add_argument("--model", type=Path, help="ONNX model for a run through `tankerwatch detect`")
    parser.add_argument("--min-scores", default="0,0.5", help="report --min-score values for the model's detections")
    parser.add_argument("--work", type=Path, help="keep the series and reports here (default: a temp folder)")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}")
    print("All figures SYNTHETIC.")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    pooled: dict[str, list[int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            work = (args.work or Path(tmp)) / (f"seed{seed}" if len(seeds) > 1 else "")
            for label, counts in run_series(args, seed, work).items():
                pooled[label] = [a + b for a, b in zip(pooled.get(label, [0, 0, 0]), counts, strict=True)]
    if len(seeds) > 1:
        for label, (hits, truly, flagged) in pooled.items():
            print(f"[{label}] pooled over seeds {args.seeds}: recall {hits / truly if truly else float('nan'):.3f} "
                  f"({hits}/{truly}), "
                  f"precision {hits / flagged if flagged else float('nan'):.3f} ({hits}/{flagged})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
