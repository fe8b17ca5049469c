"""``tankerwatch check-labels PATH``: validate a labelled dataset and print what it holds.

Reads any supported format (detected, or named with ``--format``), keeps every problem, prints the
statistics and the problems, and exits 2 when any problem is fatal (see
:mod:`tankerwatch.infer.formats.dataset`). ``-o FILE`` also writes the summary as JSON.
"""

from __future__ import annotations

import argparse
import json

from ..core.atomic import atomic_write_text
from ..core.errors import LabelError
from ..formats.dataset import OUTSIDE_MODES, LabelledDataset, load_class_map, read_dataset
from ..formats.dataset_check import format_summary, summarize
from .args import add_format


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """The dataset-reading flags shared by ``check-labels`` and ``convert``."""
    add_format(parser, help_="label format of the dataset, detected from its layout when omitted")
    parser.add_argument("--class-map", action="append", default=[], metavar="NAME=TYPE/LOAD|FILE.yaml",
                        help="how a class name in the labels maps to vessel type/load, e.g. "
                             "'boat=other/unknown' or 'oil=tanker_empty'; repeat it, or give a YAML file "
                             "of name: type/load. Added to the defaults (tanker_empty, tanker_loaded, "
                             "tanker, other, ship=unknown/unknown)")
    parser.add_argument("--outside", choices=OUTSIDE_MODES, default="clip",
                        help="boxes reaching outside their image: clip them to it or reject them "
                             "(default clip; either way they are counted)")


def dataset_from_args(args: argparse.Namespace, strict: bool) -> LabelledDataset:
    return read_dataset(args.path, fmt=args.format, class_map=load_class_map(args.class_map),
                        outside=args.outside, strict=strict)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="dataset folder (images/ + labels, or train/ val/ test/ of those) "
                                     "or a COCO .json file")
    add_dataset_arguments(parser)
    parser.add_argument("-o", "--output", help="also write the summary as JSON to this file")


def run(args: argparse.Namespace) -> int:
    dataset = dataset_from_args(args, strict=False)
    summary = summarize(dataset)
    print(format_summary(summary))
    if args.output:
        atomic_write_text(args.output, json.dumps(summary, indent=1) + "\n")
    if dataset.errors:
        count = len(dataset.errors)
        raise LabelError(f"{dataset.root}: {count} fatal problem{'s' * (count > 1)} (listed above); "
                         f"first: {dataset.errors[0]}")
    return 0
