"""``tankerwatch detect MODEL.onnx INPUT... -o OUT_DIR``: run an exported model over scenes.

Inputs are image files, folders of them (not recursive), URLs, GDAL paths or STAC items, kept as
given (:mod:`tankerwatch.infer.runtime.sources`). Per scene it writes ``<stem>.geojson``, ``<stem>.csv`` and ``<stem>.quicklook.png``
into OUT_DIR (atomically) and prints one summary line. A scene whose three outputs already exist is
skipped unless ``--overwrite``. With several inputs a broken one is reported on one line and
skipped, and the exit status is 1 at the end; a single bad input is an error (exit 2). A model not
taught vessel types or load states (its metadata's ``taught``) is noted once per run on stderr, and
what it was not taught is reported ``unknown``.

A model with the view input (``format_version`` 3) is fed each scene's sun and view angles: from
``--sun-elevation``/``--sun-azimuth`` and ``--view-zenith``/``--view-azimuth`` (pairs; ``--view-zenith 0``
alone for nadir) or ``--angles FILE`` (a ``.angles.json`` sidecar or a Maxar ``.IMD``), applied to
every scene, else from each scene's own metadata (:mod:`tankerwatch.infer.runtime.view_angles`,
docs/view-angles.md); a scene without them runs the load stage geometry-free, with a note.

It runs on the Python API (:meth:`tankerwatch.infer.Detector.detect_many`): in this process, or
with ``--cluster`` on a Dask cluster, scenes as tasks (:mod:`tankerwatch.infer.runtime.batch`);
``auto`` (the default) uses a local one for more than one scene on more than one core when the
``cluster`` extra is installed. The files are the same bytes either way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import EXIT_OK, EXIT_SOME_FAILED, ConfigError
from ..formats.dataset import IMAGE_SUFFIXES, list_images
from ..runtime.batch import (
    ALREADY_DONE,
    CLUSTER_AUTO,
    CLUSTER_LOCAL,
    CLUSTER_NONE,
    FAILED,
    check_writable,
    choose_cluster,
    is_done,
    local_layout,
)
from ..runtime.detect import DEFAULT_MIN_SCORE
from ..runtime.onnx_model import DEVICES
from ..runtime.sources import parse_source
from ..runtime.tiling import DEFAULT_MAX_GSD_M
from .args import add_angles, add_overwrite, given_angles, gsd_range, positive_float, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="ONNX model written by 'tankerwatch export'")
    # Strings, not paths: Path() would fold the '//' of a remote GDAL path such as /vsicurl/https://...
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files, folders of them, URLs (https://, s3://), GDAL paths (/vsicurl/...) "
                             "or STAC items (.json files or URLs: their visual asset)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto: CUDA when onnxruntime-gpu and a GPU are present, else CPU (default auto)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads the run may use (default: all cores): the onnxruntime session's in "
                             "one process, shared out among a local cluster's workers; not used on a running "
                             "cluster, where each worker thread runs one scene on one thread")
    parser.add_argument("--batch-size", type=positive_int, default=2, help="tiles per model call (default 2)")
    parser.add_argument("--tile", type=positive_int, default=None,
                        help="tile size in model pixels (default 1024, or more when the overlap needs it)")
    parser.add_argument("--gsd", type=gsd_range, default=None, metavar="M",
                        help="ground metres per pixel, overriding the georeferencing (needed for images without it "
                             "when they are outside the model's range)")
    parser.add_argument("--max-gsd", type=positive_float, default=DEFAULT_MAX_GSD_M, metavar="M",
                        help=f"run a scene coarser than M metres enlarged to M, when the model was trained at M "
                             f"(default {DEFAULT_MAX_GSD_M:g}: at 3 m two hulls moored alongside fall into one "
                             f"peak of the model's map; 3 m scenes then take about twice the time). A value at "
                             f"or above the top of the model's GSD range runs every scene at its own GSD")
    parser.add_argument("--tta", action="store_true",
                        help="test-time flips: also run each tile mirrored left-right, top-bottom and both, and "
                             "score each vessel by the mean of its four scores (4x the model time; finds more of "
                             "the ships a model is unsure of, e.g. at Sentinel-2's 10 m)")
    parser.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE, metavar="S",
                        help=f"leave out detections scoring below S, the operating point (default {DEFAULT_MIN_SCORE}; "
                             "0 keeps everything the model returns, e.g. for your own evaluation)")
    parser.add_argument("--cluster", default=CLUSTER_AUTO, metavar="WHERE",
                        help="where scenes run: 'none' (this process), 'local' (a Dask cluster of worker processes "
                             "on this machine, for this run) or a running Dask scheduler's address "
                             "(tcp://host:8786); default auto: local for more than one scene and more than one "
                             "thread, CPU only, when the 'cluster' extra is installed")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="worker processes of a local cluster (default: one per thread of --threads, at most "
                             "one per scene)")
    add_angles(parser, "sun and view angles (for models that take them; default: each scene's metadata, see "
                       "docs/view-angles.md)")
    add_overwrite(parser)


def gather_inputs(inputs: list[str]) -> list[str]:
    """Inputs as given, local folders expanded to their image files (sorted); missing paths kept, so
    the run reports them like any broken file."""
    found = []
    for item in inputs:
        if Path(item).is_dir():
            found.extend(str(path) for path in list_images(Path(item)))
        else:
            found.append(item)
    stems = {}
    for source in found:
        stem = parse_source(source).stem
        if stem in stems and stems[stem] != source:
            raise ConfigError(f"{source} and {stems[stem]} would write the same outputs ({stem}.*); "
                              f"run them into different output folders")
        stems[stem] = source
    return found


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..api import Detector

    gsd = None
    if args.gsd is not None:
        if args.gsd[0] != args.gsd[1]:
            raise ConfigError(f"--gsd takes one value for detect, got {args.gsd[0]:g}:{args.gsd[1]:g}")
        gsd = args.gsd[0]
    scenes = gather_inputs(args.inputs)
    if not 0.0 <= args.min_score <= 1.0:
        raise ConfigError(f"--min-score must be between 0 and 1, got {args.min_score:g}")
    if not scenes:
        raise ConfigError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(args.inputs)}")
    angles = given_angles(args)
    check_writable(args.output)
    detector = Detector(args.model, device=args.device, threads=args.threads, batch_size=args.batch_size,
                        tile=args.tile, min_score=args.min_score, max_gsd=args.max_gsd, tta=args.tta)
    info = detector.info
    print(f"model {args.model.name} ({info.precision}, id {info.model_id[:12]}) on {detector.device}", file=sys.stderr)
    if info.untaught_note() is not None:
        print(f"note: {args.model.name} was {info.untaught_note()}", file=sys.stderr)
    if info.version_note() is not None:
        print(f"note: {args.model.name} was {info.version_note()}", file=sys.stderr)
    if angles is not None and not info.view_input:
        print(f"note: {args.model.name} (format_version {info.format_version}) takes no sun and view angles: "
              f"those given ({angles.source}) are not used", file=sys.stderr)
    todo = sum(args.overwrite or not is_done(source, args.output) for source in scenes)
    cluster = choose_cluster(args.cluster, todo, detector.device, args.threads, args.workers)
    if cluster == CLUSTER_LOCAL and todo:
        workers, threads = local_layout(todo, args.workers, args.threads)
        print(f"{todo} scenes on a local Dask cluster: {workers} workers x {threads} onnxruntime "
              f"thread{'s' if threads > 1 else ''}", file=sys.stderr)
    elif cluster != CLUSTER_NONE and todo:
        print(f"{todo} scenes on the Dask cluster at {cluster}", file=sys.stderr)

    def report(outcome) -> None:
        # tqdm.write clears the scenes bar (on stderr, only on a terminal), prints, and redraws it.
        name = parse_source(outcome.source).name
        if outcome.status == ALREADY_DONE:
            tqdm.write(f"{name}: already done in {args.output} (--overwrite to redo)", file=sys.stdout)
        elif outcome.status == FAILED:
            if len(scenes) > 1:  # a single scene's failure is the run's error, below
                tqdm.write(f"skipped {outcome.reason}", file=sys.stderr)
        else:
            for note in outcome.result.notes:
                tqdm.write(f"note: {name}: {note}", file=sys.stderr)
            tqdm.write(outcome.result.summary(types_taught=info.types_taught, load_taught=info.load_taught),
                       file=sys.stdout)

    outcomes = detector.detect_many(scenes, args.output, gsd=gsd, overwrite=args.overwrite, cluster=cluster,
                                    workers=args.workers, progress=None, on_scene=report, angles=angles)
    failed = [outcome for outcome in outcomes if outcome.status == FAILED]
    if failed and len(scenes) == 1:
        raise failed[0].error
    if failed:
        print(f"{len(failed)} of {len(scenes)} scenes failed", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK
