"""``tankerwatch tanks SCENE... -o OUT_DIR``: a terminal's storage tanks and their floating roofs' fill.

For each GeoTIFF scene (georeferenced, with the sun's angles: docs/tanks.md), writes
``OUT_DIR/<stem>.tanks.geojson`` (:mod:`tankerwatch.infer.runtime.tank_file`) atomically and prints
one line. The angles are found as ``detect`` finds them: ``--angles FILE`` or the four angle flags
(for every scene), else each scene's ``<stem>.angles.json``, metadata items or ``.IMD``
(docs/view-angles.md). A scene that cannot be read is named and skipped (exit 1 when some were);
a rerun skips scenes whose file exists unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import EXIT_OK, EXIT_SOME_FAILED, ConfigError, TankerwatchError
from ..runtime.raster import inspect_raster
from ..runtime.tank_file import stock_totals, write_tank_file
from ..runtime.tanks import find_tanks
from .args import add_angles, add_overwrite, given_angles, positive_float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenes", nargs="+", type=Path, metavar="SCENE", help="GeoTIFF scenes of the terminal")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for <stem>.tanks.geojson")
    parser.add_argument("--tank-height", type=positive_float, metavar="M",
                        help="the tanks' shell height in metres, when known: fill from the crescent and the sun's "
                             "elevation instead of the ratio of the crescent to the tank's ground shadow")
    add_angles(parser, "sun and view angles (default: each scene's own, see docs/view-angles.md)")
    add_overwrite(parser)


def run(args: argparse.Namespace) -> int:
    if args.output.exists() and not args.output.is_dir():
        raise ConfigError(f"{args.output}: exists and is not a folder")
    angles = given_angles(args)
    failed = 0
    for scene in args.scenes:
        target = args.output / f"{scene.stem}.tanks.geojson"
        if target.exists() and not args.overwrite:
            print(f"{scene}: skipped, {target} exists (--overwrite to redo it)")
            continue
        try:
            tanks, header, warnings = find_tanks(scene, args.tank_height, angles)
        except TankerwatchError as exc:
            if len(args.scenes) == 1:
                raise
            print(f"tankerwatch tanks: skipped {exc}", file=sys.stderr)
            failed += 1
            continue
        for line in warnings:
            print(f"tankerwatch tanks: warning: {scene}: {line}", file=sys.stderr)
        info = inspect_raster(scene)
        write_tank_file(target, tanks, header, info.crs, info.transform)
        stock = stock_totals(tanks)
        floating = sum(t.roof == "floating" for t in tanks)
        print(f"{scene}: {len(tanks)} tanks ({floating} floating roofs read, {len(tanks) - floating} fixed or unknown); "
              f"stock {stock['volume_barrels']:,} barrels ({stock['volume_lo']:,} - {stock['volume_hi']:,}) "
              f"-> {target}")
    return EXIT_SOME_FAILED if failed else EXIT_OK
