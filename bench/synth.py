"""Benchmark of the synthetic generator, and the README's contact sheet.

Prints tiles per second at 512 x 512 (target: 1,000 tiles in under 2 minutes on 2 cores), the
time and peak memory of one 20,000 x 20,000 px scene (targets: under 3 minutes, under 1 GB), and
the CPU they ran on. Both go through the same code as ``tankerwatch synth``.

    .venv/bin/python bench/synth.py [--tiles 1000] [--scene-size 20000] [--threads 2]
    .venv/bin/python bench/synth.py --contact-sheet bench/figures/contact_sheet.png --tiles 0 --scene-size 0
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description  # noqa: E402

from tankerwatch.infer.synth.scene import SceneSettings, write_scene  # noqa: E402
from tankerwatch.infer.synth.tiles import TileSettings, render_tile, write_tiles  # noqa: E402
from tankerwatch.infer.synth.vessels import ShipGeometry  # noqa: E402

# (row title, GSD range) of the contact sheet; each row shows an empty tanker, a loaded one, a
# distractor and a whole tile at that GSD.
SHEET_ROWS = (("0.5 m (Pleiades, SkySat)", (0.45, 0.55)), ("1 m", (0.9, 1.1)),
              ("3 m (PlanetScope)", (2.8, 3.2)), ("10 m (Sentinel-2)", (9.0, 10.0)))
MIN_CROP_PX, MAX_CROP_PX = 48, 320


def peak_rss_mb() -> float:
    """Peak resident memory of this process plus the largest child (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + child) / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished workers."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def load_note() -> str:
    # The machine may be shared: the load average says how much of it these figures had.
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def bench_tiles(count: int, threads: int, work: Path) -> None:
    start, cpu = time.perf_counter(), cpu_seconds()
    write_tiles(work / "tiles", count, TileSettings(512), seed=0, threads=threads)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    print(f"tiles: {count} x 512x512 px in {seconds:.1f} s with {threads} process(es): "
          f"{count / seconds:.1f} tiles/s; {1000 * cpu / count:.0f} ms CPU per tile "
          f"(target: 1000 in < 120 s); {load_note()}")


def bench_scene(size: int, threads: int, work: Path) -> None:
    start, cpu = time.perf_counter(), cpu_seconds()
    write_scene(work / "scene.tif", SceneSettings(size=size, gsd_m=1.0), seed=0, threads=threads)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    megabytes = (work / "scene.tif").stat().st_size / 1e6
    print(f"scene: {size}x{size} px at 1 m in {seconds:.1f} s with {threads} process(es) ({cpu:.0f} s CPU), "
          f"{megabytes:.0f} MB on disk, peak RSS {peak_rss_mb():.0f} MB (self + largest worker) "
          f"(targets: < 180 s, < 1024 MB); {load_note()}")


def _crop(image: np.ndarray, centre, size: int) -> np.ndarray:
    """A ``size`` px square of ``image`` around ``centre``, moved inside the image where needed."""
    height, width = image.shape[:2]
    size = min(size, height, width)
    x0 = int(np.clip(centre[0] - size / 2, 0, width - size))
    y0 = int(np.clip(centre[1] - size / 2, 0, height - size))
    return image[y0:y0 + size, x0:x0 + size]


def _find(kind: str, load: str | None, gsd_range, seed: int):
    """The first tile (from ``seed`` on) holding a matching vessel: (image, ship, view)."""
    settings = TileSettings(512, gsd_range=gsd_range)
    for index in range(200):
        image, world = render_tile(seed, index, settings)
        for ship in world.ships:
            if (ship.kind == "tanker") == (kind == "tanker") and (load is None or ship.load.value == load):
                return image, ship, world
    raise RuntimeError(f"no {kind} {load} in 200 tiles")


def contact_sheet(path: Path, seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = (("tanker", "empty"), ("tanker", "loaded"), ("other", None), ("tile", None))
    fig, axes = plt.subplots(len(SHEET_ROWS), len(columns), figsize=(12, 12.6), dpi=80)
    for r, (title, gsd_range) in enumerate(SHEET_ROWS):
        for c, (kind, load) in enumerate(columns):
            ax = axes[r, c]
            if kind == "tile":
                image, world = render_tile(seed + 7, r, TileSettings(512, gsd_range=gsd_range))
                ax.imshow(image, interpolation="nearest")
                caption = f"whole tile, {world.view.gsd_m:.1f} m/px, {len(world.ships)} vessels"
            else:
                image, ship, world = _find(kind, load, gsd_range, seed + 13 * r + c)
                view = world.view
                span = int(np.clip(ShipGeometry(ship, view).box()[2] * 2.2, MIN_CROP_PX, MAX_CROP_PX))
                crop = _crop(image, ship.centre, span)
                ax.imshow(crop, interpolation="nearest")
                what = (f"{load} tanker, {ship.length_m:.0f} m, draft {ship.tanker.draft_fraction:.2f}"
                        if kind == "tanker" else f"{ship.kind}, {ship.length_m:.0f} m")
                caption = (f"{what}\nsun {view.sun_elevation_deg:.0f}\N{DEGREE SIGN} high, "
                           f"view {view.view_zenith_deg:.0f}\N{DEGREE SIGN} off nadir")
            ax.set_title(caption, fontsize=8.5)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(title, fontsize=10)
    fig.suptitle("tankerwatch synthetic tiles (synthetic data): crops around an empty tanker, a loaded "
                 "tanker, a distractor; and a whole 512 px tile", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    print(f"contact sheet: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=1000, help="tiles to time (0 skips)")
    parser.add_argument("--scene-size", type=int, default=20000, help="scene side to time (0 skips)")
    parser.add_argument("--threads", type=int, default=2, help="worker processes")
    parser.add_argument("--contact-sheet", type=Path, default=None, help="also write the contact sheet here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}")
    with tempfile.TemporaryDirectory(prefix="tw-synth-bench-") as tmp:
        work = Path(tmp)
        if args.tiles:
            bench_tiles(args.tiles, args.threads, work)
        if args.scene_size:
            bench_scene(args.scene_size, args.threads, work)
    if args.contact_sheet is not None:
        contact_sheet(args.contact_sheet, args.seed)


if __name__ == "__main__":
    main()
