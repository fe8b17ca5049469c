"""``tankerwatch detect MODEL.onnx INPUT... -o OUT_DIR``: run an exported model over scenes.

Inputs are image files or folders of them (not recursive). Per scene it writes
``<stem>.geojson``, ``<stem>.csv`` and ``<stem>.quicklook.png`` into OUT_DIR (atomically) and
prints one summary line. A scene whose three outputs already exist is skipped unless
``--overwrite``. With several inputs a broken one is reported on one line and skipped, and the exit
status is 1 at the end; a single bad input is an error (exit 2). A model not taught vessel types or
load states (its metadata's ``taught``) is noted once per run on stderr, and what it was not taught
is reported ``unknown``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from pathlib import Path

from ..core.errors import EXIT_OK, EXIT_SOME_FAILED, ConfigError, TankerwatchError
from ..formats.dataset import IMAGE_SUFFIXES, list_images
from ..runtime.detect import DEFAULT_MIN_SCORE
from ..runtime.onnx_model import DEVICES
from .args import add_overwrite, gsd_range, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="ONNX model written by 'tankerwatch export'")
    parser.add_argument("inputs", type=Path, nargs="+", metavar="INPUT", help="image files or folders of them")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto: CUDA when onnxruntime-gpu and a GPU are present, else CPU (default auto)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads for onnxruntime (default: all cores)")
    parser.add_argument("--batch-size", type=positive_int, default=2, help="tiles per model call (default 2)")
    parser.add_argument("--tile", type=positive_int, default=None,
                        help="tile size in model pixels (default 1024, or more when the overlap needs it)")
    parser.add_argument("--gsd", type=gsd_range, default=None, metavar="M",
                        help="ground metres per pixel, overriding the georeferencing (needed for images without it "
                             "when they are outside the model's range)")
    parser.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE, metavar="S",
                        help=f"leave out detections scoring below S, the operating point (default {DEFAULT_MIN_SCORE}; "
                             "0 keeps everything the model returns, e.g. for your own evaluation)")
    add_overwrite(parser)


def gather_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given, folders expanded to their image files (sorted); missing paths kept, so the
    scene loop reports them like any broken file."""
    found = []
    for item in inputs:
        if item.is_dir():
            found.extend(list_images(item))
        else:
            found.append(item)
    stems = {}
    for path in found:
        if path.stem in stems and stems[path.stem] != path:
            raise ConfigError(f"{path} and {stems[path.stem]} would write the same outputs ({path.stem}.*); "
                              f"run them into different output folders")
        stems[path.stem] = path
    return found


def check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".tankerwatch-write-test."):
            pass
    except OSError as exc:
        raise ConfigError(f"{out_dir}: output folder is not writable ({exc.strerror})") from None


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..runtime.detect import detect_scene, output_paths
    from ..runtime.onnx_model import OnnxDetector

    gsd = None
    if args.gsd is not None:
        if args.gsd[0] != args.gsd[1]:
            raise ConfigError(f"--gsd takes one value for detect, got {args.gsd[0]:g}:{args.gsd[1]:g}")
        gsd = args.gsd[0]
    scenes = gather_inputs(args.inputs)
    if not 0.0 <= args.min_score <= 1.0:
        raise ConfigError(f"--min-score must be between 0 and 1, got {args.min_score:g}")
    if not scenes:
        raise ConfigError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, args.inputs))}")
    check_writable(args.output)
    detector = OnnxDetector(args.model, device=args.device, threads=args.threads)
    print(f"model {args.model.name} ({detector.info.precision}, id {detector.info.model_id[:12]}) on "
          f"{detector.device}", file=sys.stderr)
    info = detector.info
    if info.untaught_note() is not None:
        print(f"note: {args.model.name} was {info.untaught_note()}", file=sys.stderr)
    failed = 0
    # Scenes done, with an ETA, on stderr and only on a terminal; lines go through the bar's write so
    # they do not tear it.
    bar = tqdm(total=len(scenes), unit="scene", leave=False, disable=None if len(scenes) > 1 else True)
    say = functools.partial(bar.write, file=sys.stdout)
    warn = functools.partial(bar.write, file=sys.stderr)
    for path in scenes:
        bar.update(0)
        if not args.overwrite and all(p.exists() for p in output_paths(path, args.output)):
            say(f"{path.name}: already done in {args.output} (--overwrite to redo)")
            bar.update(1)
            continue
        try:
            result = detect_scene(detector, path, args.output, tile=args.tile, batch_size=args.batch_size,
                                  gsd_m=gsd, min_score=args.min_score)
        except TankerwatchError as exc:
            if len(scenes) == 1:
                raise
            failed += 1
            reason = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            warn(f"skipped {reason}")
            bar.update(1)
            continue
        for note in result.notes:
            warn(f"note: {path.name}: {note}")
        say(result.summary(types_taught=info.types_taught, load_taught=info.load_taught))
        bar.update(1)
    bar.close()
    if failed:
        print(f"{failed} of {len(scenes)} scenes failed", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK
