"""`tankerwatch report --terminals` over many terminals and many days: wall time and peak memory.

Writes synthetic detection files cheaply through the project's own detection-file writer (no
rendered scenes): ``--terminals`` terminals 5 km apart on a UTM coast, each imaged daily for
``--days`` days by a 1 km scene, with berths that tankers come to empty, load at and leave, and a
few tugs. Then runs the report over the first quarter, the first half and all of the days, each in
a fresh process, and prints its wall time and peak resident memory (``getrusage`` of that
process), so memory flat in days shows as three close figures. Prints the CPU.

    .venv/bin/python bench/report_terminals.py [--terminals 4] [--days 365] [--seed 1] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import shapely
from _common import cpu_description
from affine import Affine
from rasterio.crs import CRS

from tankerwatch.infer.core.georef import pixels_to_lonlat
from tankerwatch.infer.runtime.detection_file import Detection, write_detection_files

UTM53 = CRS.from_epsg(32653)
ORIGIN = (398_000.0, 4_735_000.0)  # easting, northing of the first terminal's top-left corner
SPACING_M = 5_000.0
SIZE_PX = 1_000  # 1 m GSD: a 1 km scene per terminal
BERTHS = 8
SCENE_PX = shapely.box(0, 0, SIZE_PX, SIZE_PX)  # every scene images its whole square


def _detection(cx, cy, length_m, load, angle, vessel_type="tanker") -> Detection:
    p_loaded = {"empty": 0.05, "loaded": 0.95}.get(load)
    return Detection(box_px=[cx, cy, length_m, length_m / 6, angle], score=0.9, vessel_type=vessel_type,
                     type_score=0.9, load=load if vessel_type == "tanker" else "unknown",
                     p_loaded=p_loaded if vessel_type == "tanker" else None)


def generate(folder: Path, terminals: int, days: int, seed: int) -> tuple[list[list[Path]], Path]:
    """Per terminal, its day files in date order; and the terminals GeoJSON."""
    rng = np.random.default_rng(seed)
    features, files = [], []
    for k in range(terminals):
        origin = (ORIGIN[0] + k * SPACING_M, ORIGIN[1])
        transform = Affine(1.0, 0.0, origin[0], 0.0, -1.0, origin[1])
        ring = pixels_to_lonlat(UTM53, transform, [[50, 50], [950, 50], [950, 950], [50, 950], [50, 50]])
        features.append({"type": "Feature", "properties": {"name": f"Terminal {k + 1:02d}"},
                         "geometry": {"type": "Polygon", "coordinates": [ring.tolist()]}})
        berths: dict[int, dict] = {}
        files.append([])
        for day in range(days):
            for b in range(BERTHS):
                ship = berths.get(b)
                if ship is None and rng.random() < 0.25:
                    berths[b] = {"length": float(rng.uniform(90, 300)), "load": "empty"}
                elif ship is not None and ship["load"] == "empty" and rng.random() < 0.4:
                    ship["load"] = "loaded"
                elif ship is not None and ship["load"] == "loaded" and rng.random() < 0.5:
                    del berths[b]
            detections = [_detection(120 + 100 * b + rng.normal(0, 1.5), 300 + 300 * (b % 2) + rng.normal(0, 1.5),
                                     ship["length"], ship["load"], math.pi / 2 - 0.02 * b)
                          for b, ship in sorted(berths.items())]
            detections += [_detection(float(rng.uniform(100, 900)), 850.0, 30.0, None, 0.0, "other") for _ in range(2)]
            acquired = (date(2024, 1, 1) + timedelta(days=day)).isoformat() + "T02:10:00Z"
            stem = folder / f"t{k + 1:02d}_{acquired[:10].replace('-', '')}"
            header = {"source": f"{stem.name}.tif", "acquired": acquired, "acquired_from": "ACQUISITION_DATETIME",
                      "gsd_m": 1.0, "model": None, "scaling": None}
            geojson, _ = write_detection_files(stem, detections, header, UTM53, transform, SCENE_PX)
            files[-1].append(geojson)
    terminals_path = folder.parent / "terminals.geojson"
    terminals_path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return files, terminals_path


def measured_report(arguments: list[str]) -> int:
    """Run the report in this process and print its peak RSS (this process only: the parent reads it)."""
    from tankerwatch.infer.cli import main as tankerwatch

    code = tankerwatch(["report", *arguments])
    print(f"PEAK_RSS_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=4)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, help="keep the files and reports here (default: a temp folder)")
    parser.add_argument("--measure", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        return measured_report(args.measure)
    print(f"CPU: {cpu_description()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        detections = work / "detections"
        detections.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        files, terminals = generate(detections, args.terminals, args.days, args.seed)
        print(f"{args.terminals} terminals x {args.days} days = {args.terminals * args.days} detection files "
              f"written in {time.perf_counter() - start:.1f} s")
        for share, label in ((4, "1/4"), (2, "1/2"), (1, "all")):
            days = max(1, args.days // share)
            chosen = [str(path) for per_terminal in files for path in per_terminal[:days]]
            out = work / f"report_{days}d"
            start = time.perf_counter()
            done = subprocess.run([sys.executable, __file__, "--measure", *chosen, "-o", str(out), "--terminals",
                                   str(terminals), "--overwrite"], capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                sys.exit(f"report failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
            peak_kb = int(next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("PEAK_RSS_KB")))
            last = [line for line in done.stdout.splitlines() if line.startswith("Terminal 01:")][0]
            print(f"{label:>3} of the days ({days} days, {len(chosen)} files): {seconds:.1f} s wall, "
                  f"{seconds / len(chosen) * 1000:.1f} ms per file, peak RSS {peak_kb / 1024:.0f} MiB; {last}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
