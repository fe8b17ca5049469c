"""``tankerwatch convert SRC -o DST --to FMT``: write a labelled dataset in another format.

The source is read strictly (any fatal problem stops the conversion before anything is written);
boxes are the project's oriented boxes and class names the project's (``tanker_empty`` ...), so
``--class-map`` decides how a dataset's own names are carried over. The split layout
(``train/val/test`` or a single folder) is kept and images are copied. The whole output is built
in a temporary folder beside ``DST`` and renamed into place, so ``DST`` is never half-written.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from ..core.errors import ConfigError
from ..formats.dataset import format_module, write_splits
from .args import LABEL_FORMATS, add_overwrite
from .check_labels import add_dataset_arguments, dataset_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="SRC", help="source dataset folder or COCO .json file")
    parser.add_argument("-o", "--output", required=True, metavar="DST", help="output dataset folder")
    parser.add_argument("--to", required=True, choices=LABEL_FORMATS, help="output label format")
    add_dataset_arguments(parser)
    add_overwrite(parser)


def _check_paths(source: Path, target: Path, overwrite: bool) -> None:
    src, dst = source.resolve(), target.resolve()
    src_dir = src if src.is_dir() else src.parent
    if dst == src_dir or dst in src_dir.parents or src_dir in dst.parents:
        raise ConfigError(f"{target}: output must be outside the source dataset {source} (and not contain it)")
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise ConfigError(f"{target}: exists and is not empty; pass --overwrite to replace it")


def run(args: argparse.Namespace) -> int:
    source, target = Path(args.path), Path(args.output)
    _check_paths(source, target, args.overwrite)
    dataset = dataset_from_args(args, strict=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        write_splits(dataset.splits, staging, args.to)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            target.replace(old / target.name)
            staging.replace(target)
            shutil.rmtree(old)
        else:
            staging.replace(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    module = format_module(args.to)
    if hasattr(module, "relocate"):
        module.relocate(target)
    vessels = sum(len(image.vessels) for image in dataset.images)
    print(f"converted {len(dataset.images)} images, {vessels} vessels ({dataset.format} -> {args.to}): {target}")
    if dataset.warnings:
        print(f"{len(dataset.warnings)} boxes reached outside their image and were "
              f"{'clipped or ' if args.outside == 'clip' else ''}rejected; 'tankerwatch check-labels' lists them")
    return 0
