"""Many scenes into one output folder: skip what is done, detect the rest in this process or on a
Dask cluster (:mod:`.distributed`), write each scene's files as it finishes, say what became of each.

- A scene is done when its three files exist (:func:`~.detect.output_paths`); a run skips it unless
  ``overwrite``, so a killed run, run again, finishes only the rest.
- A scene failing with a :class:`~tankerwatch.infer.core.errors.TankerwatchError` (or killing the
  worker that ran it) is recorded with the reason and the others go on; any other exception is a
  bug and stops the run.
- Files are written each atomically, by the same code wherever the scene ran, so the bytes are
  those a single-process run writes: by the workers when they all see the output folder (always
  on a local cluster), else here as results come in, so a cluster must read the inputs but need
  not see the output folder.
- Cluster choice (``cluster``): ``none`` runs in this process; ``local`` starts a local cluster of
  ``workers`` processes for the run (:func:`local_layout`); an address joins a running one;
  ``auto`` is ``local`` when more than one scene is to be done, the run has more than one CPU
  thread (``threads``, default every usable core) or asks for more than one worker, the model
  runs on CPU and the ``cluster`` extra (Dask distributed) is installed, else ``none``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ConfigError, TankerwatchError
from .detect import SceneResult, analyse_scene, output_paths, write_result
from .onnx_model import OnnxDetector
from .sources import parse_source
from .tiling import DEFAULT_MAX_GSD_M
from .view_angles import SceneAngles

CLUSTER_AUTO, CLUSTER_NONE, CLUSTER_LOCAL = "auto", "none", "local"
DONE, ALREADY_DONE, FAILED = "done", "already done", "failed"


@dataclass(frozen=True)
class SceneOptions:
    """How every scene of a run is detected (see :func:`~.detect.analyse_scene`); ``angles``: the
    caller's sun and view angles, for every scene (values, not a file: a worker need not see it)."""

    tile: int | None
    batch_size: int
    gsd_m: float | None
    min_score: float
    angles: SceneAngles | None = None
    max_gsd_m: float | None = DEFAULT_MAX_GSD_M
    tta: bool = False


@dataclass
class SceneOutcome:
    """What became of one scene: ``status`` :data:`DONE` (``result``: its detections and files),
    :data:`ALREADY_DONE` (its files were there) or :data:`FAILED` (``error`` says why)."""

    source: str
    status: str
    result: SceneResult | None = None
    error: TankerwatchError | None = None

    @property
    def reason(self) -> str | None:
        """A failure as one line naming the scene (None unless failed)."""
        if self.error is None:
            return None
        text = str(self.error)
        return text if self.source in text else f"{self.source}: {text}"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def engine_installed() -> bool:
    return importlib.util.find_spec("distributed") is not None


def choose_cluster(cluster: str, todo: int, device: str, threads: int | None = None,
                   workers: int | None = None) -> str:
    """:data:`CLUSTER_NONE`, :data:`CLUSTER_LOCAL` or an address, resolving ``auto`` (module doc;
    ``threads``: the run's CPU threads, None for every usable core; ``workers`` asked for, if any)."""
    if cluster == CLUSTER_AUTO:
        parallel = (todo > 1 and (workers or threads or usable_cores()) > 1 and device == "cpu"
                    and engine_installed())
        return CLUSTER_LOCAL if parallel else CLUSTER_NONE
    if cluster != CLUSTER_NONE and not engine_installed():
        raise ConfigError(f"cluster {cluster!r} needs Dask distributed: pip install 'tankerwatch[cluster]'")
    return cluster


def local_layout(todo: int, workers: int | None, threads: int | None) -> tuple[int, int]:
    """Worker processes and onnxruntime threads per worker for a local cluster given the run's CPU
    threads (None: every usable core): by default a worker per thread, at most one per scene, and
    the threads shared out among the workers, so they never ask for more cores than the run has."""
    budget = threads or usable_cores()
    workers = workers or max(1, min(budget, todo))
    return workers, max(1, budget // workers)


def check_writable(out_dir: Path) -> None:
    """Create ``out_dir`` if need be and prove a file can be made in it, before any work."""
    import tempfile

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".tankerwatch-write-test."):
            pass
    except OSError as exc:
        raise ConfigError(f"{out_dir}: output folder is not writable ({exc.strerror})") from None


def is_done(source: str, out_dir: Path) -> bool:
    return all(p.exists() for p in output_paths(parse_source(source), out_dir))


def run_scenes(detector: OnnxDetector, sources: list[str], out_dir: Path, options: SceneOptions, *,
               overwrite: bool = False, cluster: str = CLUSTER_AUTO, workers: int | None = None,
               threads: int | None = None, progress: bool | None = False,
               on_scene: Callable[[SceneOutcome], None] | None = None) -> list[SceneOutcome]:
    """Detect vessels in every scene of ``sources`` not done yet and write their files into ``out_dir``.

    ``detector`` runs the scenes in this process and its metadata is what workers check their copy
    of the model against. ``threads``: the CPU threads of the run (None: every usable core): this
    process's session's, or shared out among a local cluster's workers (:func:`local_layout`); on a
    running cluster each worker thread runs one scene on a one-thread session.
    ``progress``: one scenes bar on stderr (None: only on a terminal and for more than one scene),
    and in this process a tile bar per scene. Returns one outcome per distinct source, in the order
    of ``sources``; ``on_scene`` is called with each in that order too, as soon as it and every one
    before it are known, so what a run prints does not depend on which worker finished first.
    """
    from tqdm import tqdm

    check_writable(out_dir)
    sources = list(dict.fromkeys(sources))
    outcomes: dict[str, SceneOutcome] = {}
    emitted = 0
    bar = tqdm(total=len(sources), unit="scene", leave=False, file=sys.stderr,
               disable=not progress if progress is not None else (None if len(sources) > 1 else True))

    def record(outcome: SceneOutcome) -> None:
        nonlocal emitted
        outcomes[outcome.source] = outcome
        bar.update(1)
        while emitted < len(sources) and sources[emitted] in outcomes:
            if on_scene is not None:
                on_scene(outcomes[sources[emitted]])
            emitted += 1

    todo = []
    for source in sources:
        if not overwrite and is_done(source, out_dir):
            record(SceneOutcome(source, ALREADY_DONE))
        else:
            todo.append(source)
    where = choose_cluster(cluster, len(todo), detector.device, threads, workers)
    with bar:
        if where == CLUSTER_NONE:
            for source in todo:
                bar.update(0)  # draws the bar before the scene's tile bar
                record(_in_process(detector, source, out_dir, options, progress))
        elif todo:
            from .distributed import analyse_on_cluster

            for source, analysis in analyse_on_cluster(where, detector, todo, options, out_dir, workers=workers,
                                                       threads=threads):
                record(_finish(source, analysis, out_dir))
    return [outcomes[source] for source in sources]


def _in_process(detector: OnnxDetector, source: str, out_dir: Path, options: SceneOptions,
                progress: bool | None) -> SceneOutcome:
    try:
        analysis = analyse_scene(detector, source, tile=options.tile, batch_size=options.batch_size,
                                 gsd_m=options.gsd_m, min_score=options.min_score, progress=progress,
                                 angles=options.angles, max_gsd_m=options.max_gsd_m, tta=options.tta)
    except TankerwatchError as exc:
        return SceneOutcome(source, FAILED, error=exc)
    return _finish(source, analysis, out_dir)


def _finish(source: str, analysis, out_dir: Path) -> SceneOutcome:
    """Write a finished scene's files, or record its failure (``analysis`` is then the error) or
    what a worker already wrote (a :class:`~.detect.SceneResult`)."""
    if isinstance(analysis, TankerwatchError):
        return SceneOutcome(source, FAILED, error=analysis)
    if isinstance(analysis, SceneResult):  # the worker wrote the files into out_dir, made absolute
        outputs = [out_dir / path.name for path in analysis.outputs]
        return SceneOutcome(source, DONE, result=dataclasses.replace(analysis, outputs=outputs))
    try:
        return SceneOutcome(source, DONE, result=write_result(analysis, out_dir))
    except TankerwatchError as exc:
        return SceneOutcome(source, FAILED, error=exc)

