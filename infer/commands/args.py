"""Argument helpers shared by subcommands, so every command spells a shared flag the same way.

Shared flags: ``--seed``, ``--gsd M`` or ``A:B`` (ground metres per pixel), ``--device``,
``--threads``, ``--batch-size``, ``--overwrite``, ``--format``, the scene angles ``--angles FILE`` or
``--sun-elevation``/``--sun-azimuth``/``--view-zenith``/``--view-azimuth`` (:func:`add_angles`);
output is ``-o/--output``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

LABEL_FORMATS = ("dota", "yolo-obb", "coco", "geojson")
ANGLE_HELP = {"sun_elevation_deg": "sun elevation above the horizon, (0, 90]",
              "sun_azimuth_deg": "sun azimuth, clockwise from true north, [0, 360)",
              "view_zenith_deg": "sensor zenith angle seen from the ground, [0, 60); 0 (nadir) needs no azimuth",
              "view_azimuth_deg": "azimuth from the ground towards the sensor, clockwise from true north"}


def gsd_range(text: str) -> tuple[float, float]:
    """Parse ``M`` or ``A:B`` (metres per pixel, 0 < A <= B <= 100) into ``(A, B)``."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"GSD must be M or A:B in metres, got {text!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    low, high = parts if len(parts) == 2 else (None, None)
    if low is None or not (0 < low <= high <= 100):
        raise argparse.ArgumentTypeError(f"GSD must be M or A:B with 0 < A <= B <= 100 metres, got {text!r}")
    return low, high


def single_gsd(text: str) -> float:
    """Parse one GSD ``M`` in metres per pixel (same bounds as :func:`gsd_range`, no range)."""
    low, high = gsd_range(text)
    if low != high:
        raise argparse.ArgumentTypeError(f"expected one GSD in metres, got a range {text!r}")
    return low


def _number(text: str, kind: type):
    try:
        return kind(text)
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def probability(text: str) -> float:
    value = _number(text, float)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return value


def regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression ({exc}): {text!r}") from None
    return text


def cue_set(text: str) -> frozenset[str]:
    """Parse ``synth``'s ``--cues``: ``shadow,side,bow`` (any subset), ``all`` or ``none``."""
    from ..synth.physics import parse_cues

    try:
        return parse_cues(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def hull_style_list(text: str) -> tuple[str, ...]:
    """Parse ``synth tiles``'s ``--styles``: hull style names, comma-separated (``default,facet``)."""
    from ..synth.hull_styles import parse_hull_styles

    try:
        return parse_hull_styles(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_seed(parser: argparse.ArgumentParser, default: int = 0) -> None:
    parser.add_argument("--seed", type=int, default=default, help=f"random seed (default {default})")


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")


def add_format(parser: argparse.ArgumentParser, default: str | None = None, help_: str = "label format") -> None:
    parser.add_argument("--format", choices=LABEL_FORMATS, default=default,
                        help=f"{help_} ({', '.join(LABEL_FORMATS)})" + (f"; default {default}" if default else ""))


def add_angles(parser: argparse.ArgumentParser, title: str) -> None:
    """``--angles FILE`` and the four angle flags (pairs), in a group titled ``title``; read them
    with :func:`given_angles`."""
    from ..runtime.view_angles import FLAGS

    angles = parser.add_argument_group(title)
    angles.add_argument("--angles", type=Path, default=None, metavar="FILE",
                        help="the angles of every scene from a sidecar: a .json with sun_elevation_deg, "
                             "sun_azimuth_deg, view_zenith_deg, view_azimuth_deg, or a Maxar .IMD")
    for name, flag in FLAGS.items():
        angles.add_argument(flag, type=float, default=None, metavar="DEG", dest=name,
                            help=f"degrees: {ANGLE_HELP[name]}")


def given_angles(args: argparse.Namespace):
    """The :class:`~tankerwatch.infer.runtime.view_angles.SceneAngles` given on the command line
    (flags or ``--angles``, not both), checked; None if none."""
    from ..core.errors import ConfigError
    from ..runtime.view_angles import FLAGS, from_flags, read_sidecar

    flagged = from_flags(*(getattr(args, name) for name in FLAGS))
    if flagged is not None and args.angles is not None:
        raise ConfigError(f"give the angles with --angles or with {', '.join(FLAGS.values())}, not both")
    return flagged if args.angles is None else read_sidecar(args.angles)
