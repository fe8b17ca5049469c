"""Tank detection and floating-roof fill on synthetic terminals (docs/tanks.md): SYNTHETIC figures.

Draws terminal scenes at several GSDs and sun elevations (the generator's tank farm, 70 % floating
roofs at fills 0.15-0.9 with truth), runs the ``tanks`` measurement on each and prints, per GSD
band and sun-elevation band: true tanks, detection recall and precision, the share of true floating
roofs read as floating (coverage), the fill's mean absolute error over those, how often the truth
falls in the stated interval, and fixed roofs called floating. The targets: fill MAE <= 0.1 at
<= 1 m GSD with the sun above 25 degrees, recall >= 0.95.

    .venv/bin/python bench/tank_fill.py [--gsd 0.5,1,1.5,2] [--elevations 20,30,45,60] [--seeds 1]

Each scene spans ``--extent-m`` (1.5 km) so the farm's size does not depend on the GSD; view zenith
0-20 degrees at any azimuth, sun azimuth 130-230 degrees, from the bench's own seed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description  # noqa: E402

from tankerwatch.infer.evaluation.tanks import TankScore, score_tanks  # noqa: E402
from tankerwatch.infer.runtime.tank_file import read_tank_file, tank_properties  # noqa: E402
from tankerwatch.infer.runtime.tanks import find_tanks  # noqa: E402
from tankerwatch.infer.synth.floating_roofs import tank_truth_path  # noqa: E402
from tankerwatch.infer.synth.physics import View  # noqa: E402
from tankerwatch.infer.synth.scene import SceneSettings, compose_scene, write_raster, write_truth  # noqa: E402

GSD_BANDS = ((0.0, 1.0, "<= 1 m"), (1.0, 2.0, "1-2 m"))
SUN_BANDS = ((0.0, 25.0, "sun <= 25"), (25.0, 45.0, "sun 25-45"), (45.0, 90.0, "sun > 45"))


def _numbers(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def _band(value: float, bands) -> str:
    return next(name for lo, hi, name in bands if lo < value <= hi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gsd", type=_numbers, default=[0.5, 1.0, 1.5, 2.0])
    parser.add_argument("--elevations", type=_numbers, default=[20.0, 30.0, 45.0, 60.0])
    parser.add_argument("--seeds", type=int, default=1, help="scenes per GSD and elevation")
    parser.add_argument("--extent-m", type=float, default=1500.0)
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}")
    print("SYNTHETIC tank farms (tankerwatch synth terminal), truth from the generator")
    rng = np.random.default_rng(2024)
    cells: dict[tuple[str, str], TankScore] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        for gsd in args.gsd:
            for elevation in args.elevations:
                for seed in range(args.seeds):
                    view = View(gsd, rng.uniform(130, 230), elevation, rng.uniform(0, 360), rng.uniform(0, 20))
                    settings = SceneSettings(size=int(args.extent_m / gsd), gsd_m=gsd)
                    world = compose_scene(seed, settings)
                    world.view = view
                    path = Path(work) / f"scene_{gsd:g}_{elevation:g}_{seed}.tif"
                    write_raster(path, world, seed, settings, None)
                    write_truth(path, world, settings, None)
                    tanks, _, _ = find_tanks(path)
                    score = score_tanks([tank_properties(t) for t in tanks], read_tank_file(tank_truth_path(path)).tanks)
                    cells.setdefault((_band(gsd, GSD_BANDS), _band(elevation, SUN_BANDS)), TankScore()).add(score)
                    print(f"  gsd {gsd:g} m, sun {elevation:g} deg, view zenith {view.view_zenith_deg:.0f} deg: "
                          f"recall {score.recall:.2f}, fill MAE {score.fill_mae:.3f} over {len(score.fill_errors)}",
                          flush=True)
    print(f"\n{'GSD':<8}{'sun':<11}{'tanks':>6}{'recall':>8}{'prec.':>7}{'cover':>7}{'fill MAE':>10}"
          f"{'in int.':>9}{'fixed->fl':>10}")
    for (gsd_band, sun_band), s in sorted(cells.items()):
        print(f"{gsd_band:<8}{sun_band:<11}{s.true:>6}{s.recall:>8.3f}{s.precision:>7.3f}{s.coverage:>7.2f}"
              f"{s.fill_mae:>10.3f}{s.interval_coverage:>9.2f}{s.fixed_called_floating:>5}/{s.fixed_matched:<4}")
    target = TankScore()
    for (gsd_band, sun_band), s in cells.items():
        if gsd_band == "<= 1 m" and sun_band != "sun <= 25":
            target.add(s)
    recall = TankScore()
    for s in cells.values():
        recall.add(s)
    print(f"\ntarget cut (GSD <= 1 m, sun > 25 deg): fill MAE {target.fill_mae:.3f} over {len(target.fill_errors)} "
          f"roofs (target <= 0.1); all scenes: recall {recall.recall:.3f} (target >= 0.95), precision "
          f"{recall.precision:.3f}; {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
