"""``tankerwatch synth``: synthetic port imagery with exact ground truth.

* ``synth tiles OUT --count N --size PX --seed S [--gsd A:B] [--format dota|coco|yolo-obb|geojson]``
  ``[--bands 3|4] [--dtype uint8|uint16] [--threads T] [--cues shadow,side,bow|all|none]``
  ``[--styles default,facet]``: a training dataset (see :mod:`tankerwatch.infer.synth.tiles`).
* ``synth scene OUT.tif --size PX --gsd M --seed S [--cues ...]``: one large georeferenced terminal
  scene, streamed to disk, plus ``OUT.truth.geojson`` (see :mod:`tankerwatch.infer.synth.scene`).

``--cues`` names the load-state cues drawn on tankers; the others are switched off after every
random draw, so the same seed renders the same world (counterfactual renders, docs/physics.md).
* ``synth series OUT_DIR --dates N --seed S [--size PX] [--gsd M] [--ais [--ais-dark-share P]]``: the
  terminal on N dates, with per-date truth and ``events.csv``, and with ``--ais`` AIS fixes in which
  some tankers are silent (see :mod:`tankerwatch.infer.synth.series`, :mod:`tankerwatch.infer.synth.ais_track`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import ConfigError
from ..core.timestamps import normalise_utc
from .args import (
    LABEL_FORMATS,
    add_overwrite,
    add_seed,
    cue_set,
    gsd_range,
    hull_style_list,
    non_negative_int,
    positive_int,
    probability,
    single_gsd,
)


def _acquired(text: str | None) -> str | None:
    """``--acquired`` as UTC ``YYYY-MM-DDTHH:MM:SSZ`` (a time without zone is taken as UTC)."""
    if text is None:
        return None
    try:
        return normalise_utc(text)
    except ValueError:
        raise ConfigError(f"--acquired must be an ISO 8601 date-time, got {text!r}") from None


def _window_bar(label: str):
    """A progress bar over rendered windows on stderr, shown only on a terminal."""
    from tqdm import tqdm

    return lambda it, total: tqdm(it, total=total, unit="window", desc=label, leave=False, disable=None)


def _add_scene_options(parser: argparse.ArgumentParser, default_size: int) -> None:
    """Options ``scene`` and ``series`` share: both render whole georeferenced scenes."""
    parser.add_argument("--size", type=positive_int, default=default_size,
                        help=f"scene side in pixels (default {default_size})")
    parser.add_argument("--gsd", type=single_gsd, default=1.0, metavar="M", help="metres per pixel (default 1)")
    parser.add_argument("--threads", type=positive_int, default=1, help="worker processes (default 1)")
    parser.add_argument("--sts", type=non_negative_int, default=1, metavar="N",
                        help="ship-to-ship pairs rafted in the anchorage, with truth: per scene, plus as many "
                             "vessels double-banked at berths; in a series, at most N at a time (default 1)")
    add_seed(parser)
    add_overwrite(parser)


CUES_HELP = ("load-state cues drawn on tankers, comma-separated: shadow (hull shadow on the water), side "
             "(hull side and antifouling band off-nadir), bow (bulbous bow); 'all' (default) or 'none'. "
             "The same seed draws the same world whatever the cues")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="{tiles,scene,series}")
    # The CLI's --debug belongs to `synth`; accept it after the sub-command too, where users put it.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", help="show tracebacks on errors")

    tiles = sub.add_parser("tiles", parents=[debug], help="a training dataset of tiles with train/val/test splits")
    tiles.add_argument("output", type=Path, metavar="OUT", help="output folder")
    tiles.add_argument("--count", type=positive_int, default=64, help="number of tiles (default 64, at least 6)")
    tiles.add_argument("--size", type=positive_int, default=512, help="tile side in pixels (default 512)")
    tiles.add_argument("--gsd", type=gsd_range, default=None, metavar="M|A:B",
                       help="ground metres per pixel, drawn log-uniform in A:B (default: 80%% in 0.5:3, 20%% in 3:10)")
    tiles.add_argument("--format", choices=LABEL_FORMATS, default="dota", help="label format (default dota)")
    tiles.add_argument("--bands", type=int, choices=(3, 4), default=3, help="3 = RGB, 4 = RGB + NIR (GeoTIFF)")
    tiles.add_argument("--dtype", choices=("uint8", "uint16"), default="uint8",
                       help="pixel type; uint16 (reflectance x 10,000) writes GeoTIFF")
    tiles.add_argument("--threads", type=positive_int, default=1, help="worker processes (default 1)")
    tiles.add_argument("--cues", type=cue_set, default="all", metavar="CUES", help=CUES_HELP)
    tiles.add_argument("--styles", type=hull_style_list, default="default,facet", metavar="STYLES",
                       help="hull render styles, comma-separated, one chosen uniformly per tile: default (flat "
                            "paints), facet (own hull shapes, deck layouts, paints, sun shading); the same seed "
                            "gives the same vessels and labels whatever the styles (default: default,facet)")
    tiles.add_argument("--sensor", choices=("random", "ideal"), default="random",
                       help="random (default): each tile through randomised haze, clouds, optics, noise and "
                            "JPEG; ideal: the same tiles through a perfect sensor, none of those (a benchmark "
                            "aid: what a reader loses to the sensor)")
    add_seed(tiles)
    add_overwrite(tiles)

    scene = sub.add_parser("scene", parents=[debug], help="one large georeferenced terminal scene (GeoTIFF + truth GeoJSON)")
    scene.add_argument("output", type=Path, metavar="OUT.tif", help="output GeoTIFF")
    _add_scene_options(scene, default_size=4096)
    scene.add_argument("--bands", type=int, choices=(3, 4), default=3, help="3 = RGB, 4 = RGB + NIR")
    scene.add_argument("--dtype", choices=("uint8", "uint16"), default="uint8", help="pixel type")
    scene.add_argument("--cues", type=cue_set, default="all", metavar="CUES", help=CUES_HELP)
    scene.add_argument("--acquired", default=None, metavar="ISO",
                       help="UTC acquisition time for the ACQUISITION_DATETIME tag (default none)")

    series = sub.add_parser("series", parents=[debug], help="the same terminal on several dates, with an event log")
    series.add_argument("output", type=Path, metavar="OUT_DIR", help="output folder")
    series.add_argument("--dates", type=positive_int, default=6, help="number of dates (default 6)")
    series.add_argument("--start", default="2024-03-01", metavar="YYYY-MM-DD", help="first date (default 2024-03-01)")
    _add_scene_options(series, default_size=2048)
    series.add_argument("--ais", action="store_true",
                        help="also write ais.csv (AIS fixes of every vessel that carries AIS) and ais_truth.csv")
    series.add_argument("--ais-dark-share", type=probability, default=None, metavar="P",
                        help="with --ais: share of tanker visits with the transponder off (default 0.3)")


def run(args: argparse.Namespace) -> int:
    if args.what == "tiles":
        from tqdm import tqdm

        from ..synth.tiles import TileSettings, write_tiles

        settings = TileSettings(size=args.size, gsd_range=args.gsd, bands=args.bands, dtype=args.dtype,
                                cues=args.cues, hull_styles=args.styles, sensor=args.sensor)
        manifest = write_tiles(args.output, args.count, settings, args.seed, fmt=args.format, threads=args.threads,
                               overwrite=args.overwrite,
                               progress=lambda it: tqdm(it, total=args.count, unit="tile", leave=False, disable=None))
        for name, info in manifest["splits"].items():
            print(f"{name}: {info['tiles']} tiles, " + ", ".join(f"{k} {v}" for k, v in info["vessels"].items()))
        print(f"wrote {args.output}/ ({args.format}); parameters in {args.output}/manifest.json")
        return 0
    if args.what == "scene":
        from ..synth.scene import SceneSettings, write_scene

        settings = SceneSettings(size=args.size, gsd_m=args.gsd, bands=args.bands, dtype=args.dtype,
                                 cues=args.cues, sts_pairs=args.sts)
        truth = write_scene(args.output, settings, args.seed, acquired=_acquired(args.acquired),
                            overwrite=args.overwrite, threads=args.threads, progress=_window_bar(args.output.name))
        print(f"wrote {args.output} and {truth}")
        return 0
    from ..synth.ais_track import DEFAULT_DARK_SHARE
    from ..synth.series import write_series

    if args.ais_dark_share is not None and not args.ais:
        raise ConfigError("--ais-dark-share needs --ais")
    dark_share = (DEFAULT_DARK_SHARE if args.ais_dark_share is None else args.ais_dark_share) if args.ais else None
    paths = write_series(args.output, args.dates, args.seed, size=args.size, gsd_m=args.gsd, start=args.start,
                         overwrite=args.overwrite, threads=args.threads, progress=_window_bar("date"),
                         ais_dark_share=dark_share, sts_pairs=args.sts)
    print(f"wrote {len(paths)} dated scenes and {args.output}/events.csv"
          + (f", {args.output}/ais.csv and {args.output}/ais_truth.csv" if args.ais else ""))
    return 0
