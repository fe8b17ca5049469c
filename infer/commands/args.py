"""Argument helpers shared by subcommands, so every command spells a shared flag the same way.

Shared flags: ``--seed``, ``--gsd M`` or ``A:B`` (ground metres per pixel), ``--device``,
``--threads``, ``--batch-size``, ``--overwrite``, ``--format``; output is ``-o/--output``.
"""

from __future__ import annotations

import argparse

LABEL_FORMATS = ("dota", "yolo-obb", "coco", "geojson")


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


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def add_seed(parser: argparse.ArgumentParser, default: int = 0) -> None:
    parser.add_argument("--seed", type=int, default=default, help=f"random seed (default {default})")


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")


def add_format(parser: argparse.ArgumentParser, default: str | None = None, help_: str = "label format") -> None:
    parser.add_argument("--format", choices=LABEL_FORMATS, default=default,
                        help=f"{help_} ({', '.join(LABEL_FORMATS)})" + (f"; default {default}" if default else ""))
