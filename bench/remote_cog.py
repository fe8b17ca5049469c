"""Bytes a remote scene costs: a cloud-optimised GeoTIFF (overviews) against a plain tiled GeoTIFF.

    .venv/bin/python bench/remote_cog.py [--size 8192] [--gsd 1.0] [--scale 4] [--model MODEL.onnx]
                                         [--threads 2] [--workdir DIR]

Target (issue 20): the coarse pass over a COG with overviews reads at least 4x fewer bytes than
over the same scene without them. A synthetic scene from ``tankerwatch synth scene`` (a COG: 512 px
tiles, average overviews) is copied to a tiled GeoTIFF without overviews (same tiles and
compression); both are served on 127.0.0.1 by a server that honours HTTP ranges and counts the
bytes it sends (tests/range_server.py), and read through ``/vsicurl/`` exactly as ``detect`` reads:

* stats: the decimated read (longest side 2,048 px) the percentile stretch and quick-look come from;
* coarse pass: every tile of a coarse-pass grid (scale ``--scale``: source px per model px; a
  model reaching 85 m at 1 m needs 4 for a 340 m vessel) read by ``detect``'s own tile reader.

With ``--model``, whole ``detect`` runs too (over HTTP and from disk, for each file, every box the
model returns): total bytes over HTTP, and whether the remote and local detections are identical.
Prints the CPU line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
from _common import cpu_description  # noqa: E402
from range_server import RangeServer  # noqa: E402

from tankerwatch.infer.cli import main as cli  # noqa: E402
from tankerwatch.infer.runtime.detect import COARSE_MAX_WINDOW_PX, _read_tile  # noqa: E402
from tankerwatch.infer.runtime.raster import open_raster, read_decimated  # noqa: E402
from tankerwatch.infer.runtime.scaling import STATS_MAX_SIDE  # noqa: E402
from tankerwatch.infer.runtime.tiling import LONGEST_VESSEL_M, make_grid  # noqa: E402

INPUT_MULTIPLE = 32


def make_files(workdir: Path, size: int, gsd: float, threads: int) -> tuple[Path, Path]:
    cog, plain = workdir / "www" / "scene_cog.tif", workdir / "www" / "scene_plain.tif"
    if not cog.exists():
        code = cli(["synth", "scene", str(cog), "--size", str(size), "--gsd", str(gsd), "--seed", "1",
                    "--threads", str(threads)])
        if code:
            raise SystemExit(f"synth scene failed ({code})")
    if not plain.exists():
        # The same tiles and compression, no overviews (GTiff copies them only when told to).
        rasterio.shutil.copy(cog, plain, driver="GTiff", TILED="YES", BLOCKXSIZE=512, BLOCKYSIZE=512,
                             COMPRESS="DEFLATE", ZLEVEL=1, PREDICTOR=2, BIGTIFF="IF_SAFER")
    return cog, plain


def read_bytes(server: RangeServer, url: str, scale: float, gsd: float) -> dict:
    """Bytes sent for the stats read, the coarse pass's tile reads (each on a fresh URL, so GDAL's
    cache of the other does not hide it) and both in turn on one URL, as ``detect`` does them."""
    figures = {}
    for part in ("stats", "coarse", "both"):
        fresh = f"{url}?{part}"
        server.reset_counts()
        start = time.perf_counter()
        if part != "coarse":
            read_decimated(fresh, STATS_MAX_SIDE)
        if part != "stats":
            with open_raster(fresh) as ds:
                # As plan_coarse_pass sizes it: source windows of COARSE_MAX_WINDOW_PX at most.
                tile = int(COARSE_MAX_WINDOW_PX / scale // INPUT_MULTIPLE) * INPUT_MULTIPLE
                grid = make_grid(ds.width, ds.height, tile, math.ceil(LONGEST_VESSEL_M / gsd), scale=scale,
                                 input_multiple=INPUT_MULTIPLE)
                tiles = list(grid)
                for window in tiles:  # the stretch's limits do not change what is read
                    _read_tile(ds, window, grid, None, np.zeros(ds.count), np.full(ds.count, 255.0))
                figures["tiles"] = len(tiles)
        figures[part] = (server.bytes_sent, time.perf_counter() - start)
    return figures


def whole_detect(server: RangeServer, model: Path, url: str, local: Path, out: Path,
                 threads: int) -> tuple[int, int, bool]:
    """(bytes over HTTP, detections, whether they equal the local run's) for ``detect`` with
    ``--min-score 0``, so every box the model returns is compared, not only those over the
    operating point."""
    server.reset_counts()
    args = ["--threads", str(threads), "--cluster", "none", "--overwrite", "--min-score", "0"]
    if cli(["detect", str(model), url, "-o", str(out / "remote"), *args]):
        raise SystemExit(f"detect {url} failed")
    sent = server.bytes_sent
    if cli(["detect", str(model), str(local), "-o", str(out / "local"), *args]):
        raise SystemExit(f"detect {local} failed")

    def features(path):
        data = json.loads(path.read_text())["features"]
        for feature in data:
            feature["properties"].pop("source")
        return data

    remote, here = (features(out / where / f"{local.stem}.geojson") for where in ("remote", "local"))
    return sent, len(remote), remote == here


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--gsd", type=float, default=1.0)
    parser.add_argument("--scale", type=float, default=4.0, help="coarse pass: source px per model px")
    parser.add_argument("--model", type=Path, default=None, help="also run whole detect with this model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the scenes here (default: a temp dir)")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        cog, plain = make_files(workdir, args.size, args.gsd, args.threads)
        with rasterio.open(cog) as ds:
            overviews = ds.overviews(1)
        print(f"scene: {args.size} x {args.size} px at {args.gsd:g} m, 3-band uint8; COG {cog.stat().st_size:,} bytes "
              f"(overviews {overviews}), plain GeoTIFF {plain.stat().st_size:,} bytes (none)")
        figures = {}
        with RangeServer(cog.parent) as server:
            for label, path in (("COG", cog), ("plain", plain)):
                url = f"{server.url}/{path.name}"
                figures[label] = read_bytes(server, url, args.scale, args.gsd)
                print(f"{label:5s}: " + "; ".join(f"{part} {figures[label][part][0]:>12,} bytes "
                                                  f"({figures[label][part][1]:.1f} s)"
                                                  for part in ("stats", "coarse", "both")))
                if args.model is not None:
                    sent, found, same = whole_detect(server, args.model, f"{url}?detect", path,
                                                     workdir / "out" / label, args.threads)
                    print(f"{label:5s}: whole detect over HTTP {sent:,} bytes; {found} detections (min score 0), "
                          f"identical to the local run's: {same}")
        print(f"(stats: the decimated read, longest side {STATS_MAX_SIDE}; coarse: {figures['COG']['tiles']} tiles at "
              f"scale {args.scale:g}; both: the two in turn on one URL, as detect does)")
        for part in ("stats", "coarse", "both"):
            ratio = figures["plain"][part][0] / max(1, figures["COG"][part][0])
            print(f"{part}: {ratio:.1f}x fewer bytes from the COG" + (" (target >= 4x)" if part == "coarse" else ""))


if __name__ == "__main__":
    main()
