"""Scenes as tasks on a Dask cluster (the ``cluster`` extra): one onnxruntime session per worker
process, loaded once; one task per scene.

- ``local``: a ``distributed.LocalCluster`` of worker processes on this machine, listening on
  127.0.0.1 only, no dashboard, one thread each (one scene at a time per process), torn down when
  the run ends. A run with one scene to do gets one worker in this process instead (a thread):
  a worker process's start and imports were most of the engine's cost on one scene, and a scene
  that kills its worker ends a one-scene run either way. The run's threads are shared out among
  the workers (:func:`~.batch.local_layout`): each session gets its share of intra-op threads and
  OpenCV as many, so two workers on two cores do not each take both.
- an address (``tcp://host:8786``): a running cluster, left running. Each worker thread runs one
  scene on the worker's one session, which has one intra-op thread, so a worker started with
  ``--nthreads N`` uses N cores. Its workers need tankerwatch installed and must be able to read
  the scenes (shared disk, or remote GDAL paths).

The model reaches each worker once, in a worker plugin registered before any task (the scheduler
keeps it for workers that join later): on a local cluster as its path (same disk), on a running
cluster as the file's bytes, written into the worker's local directory. Either way the worker
checks the file it loads against the model id (its sha256). A task carries only the scene's source
string and the options, a few hundred bytes. Workers that see the output folder write the scene's
files themselves (the quick-look's PNG encoding is about a third of a 2,048 px scene's CPU time,
too much to leave to one process) and return its :class:`~.detect.SceneResult`; others return its
:class:`~.detect.SceneAnalysis` for the caller to write (:mod:`.batch`).

Imported only when a cluster is used, so ``tankerwatch.infer`` runs without Dask.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from distributed import Client, LocalCluster, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin
from distributed.scheduler import KilledWorker

from ..core.atomic import atomic_write_bytes
from ..core.errors import ConfigError, ModelError, TankerwatchError, first_line, located
from .batch import CLUSTER_LOCAL, SceneOptions, local_layout
from .detect import SceneAnalysis, SceneResult, analyse_scene, write_result
from .onnx_model import OnnxDetector

# How long to wait for a running cluster's scheduler before saying it cannot be reached.
CONNECT_TIMEOUT = "20s"


class ModelPlugin(WorkerPlugin):
    """Loads the model once per worker (:meth:`setup`) and keeps its session for the tasks.

    ``payload``: the model file's bytes, for workers that do not share this machine's disk; None
    to load ``path`` directly. ``loads`` counts sessions made on this worker (the tests' witness).
    """

    def __init__(self, path: Path, model_id: str, device: str, threads: int, payload: bytes | None):
        self.name = f"tankerwatch-model-{model_id[:16]}-{device}-{threads}"
        self.path, self.model_id, self.device, self.threads, self.payload = path, model_id, device, threads, payload
        self.detector: OnnxDetector | None = None
        self.loads = 0

    def setup(self, worker) -> None:
        import cv2

        path = self.path
        if self.payload is not None:
            path = Path(worker.local_directory) / "tankerwatch-models" / f"{self.model_id}.onnx"
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, self.payload)
            self.payload = None  # the file holds it now
        cv2.setNumThreads(self.threads)
        self.detector = OnnxDetector(path, device=self.device, threads=self.threads)
        self.loads += 1
        if self.detector.info.model_id != self.model_id:
            raise ModelError(located(self.path, f"changed on disk after the run started (sha256 "
                                                f"{self.detector.info.model_id[:12]}, expected {self.model_id[:12]})"))

    def teardown(self, worker) -> None:
        self.detector = None


def analyse_on_worker(source: str, plugin_name: str, options: SceneOptions,
                      out_dir: str | None) -> SceneResult | SceneAnalysis | TankerwatchError:
    """The task: one scene through the worker's own session (progress bars off), its files written
    into ``out_dir`` when the worker sees it (a :class:`~.detect.SceneResult` back), else its
    analysis back for the caller to write.

    A scene's failure comes back as a value, stripped of its traceback and the library exception
    behind it: raised, Dask would log it on the worker and pickle that chain too, and some library
    exceptions (rasterio's) cannot be unpickled, which would turn ours into a bare ``Exception``.
    """
    detector = get_worker().plugins[plugin_name].detector
    try:
        analysis = analyse_scene(detector, source, tile=options.tile, batch_size=options.batch_size,
                                 gsd_m=options.gsd_m, min_score=options.min_score, progress=False,
                                 angles=options.angles, max_gsd_m=options.max_gsd_m, tta=options.tta)
        return analysis if out_dir is None else write_result(analysis, out_dir)
    except TankerwatchError as exc:
        exc.__context__ = exc.__cause__ = None
        return exc.with_traceback(None)


def workers_see(client: Client, out_dir: Path) -> bool:
    """Whether every worker sees ``out_dir`` as this process does (a shared disk): a probe file
    made here must be visible to all of them."""
    with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".tankerwatch-probe.") as probe:
        return all(client.run(os.path.isfile, os.path.abspath(probe.name)).values())


def worker_source(source: str) -> str:
    """A scene's source as a worker must open it: a local path made absolute (a worker's working
    folder need not be ours), a GDAL virtual or remote path (``/vsi...``, ``scheme://``) as given."""
    return source if source.startswith("/vsi") or "://" in source else os.path.abspath(source)


@contextlib.contextmanager
def connect(cluster: str, workers: int, in_process: bool = False) -> Iterator[Client]:
    """A client of a fresh local cluster (``local``, closed on exit; ``in_process``: its workers are
    threads of this process) or of the running one at an address."""
    if cluster == CLUSTER_LOCAL:
        # In this process the scheduler and workers talk through Dask's in-process transport, no
        # socket at all; worker processes reach it on 127.0.0.1 only.
        where = {"processes": False, "protocol": "inproc://"} if in_process else {"processes": True, "host": "127.0.0.1"}
        with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                          silence_logs=logging.CRITICAL, **where) as local, Client(local) as client:
            yield client
        return
    try:
        client = Client(cluster, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"--cluster {cluster}: no Dask scheduler reachable there ({first_line(exc)})") from None
    with client:
        yield client


def analyse_on_cluster(cluster: str, detector: OnnxDetector, sources: list[str], options: SceneOptions,
                       out_dir: Path, *, workers: int | None = None, threads: int | None = None
                       ) -> Iterator[tuple[str, SceneResult | SceneAnalysis | TankerwatchError]]:
    """Each scene's outcome, in the order they finish: its result when the workers wrote its files
    into ``out_dir`` (they do whenever they all see it: always on a local cluster, where this
    process would otherwise encode every quick-look alone), else its analysis for the caller to
    write, or the error that stopped it.

    ``detector``: the model as loaded here (its file and id go to the workers). ``workers`` and
    ``threads`` size a local cluster (:func:`~.batch.local_layout`); a running one has its own.
    """
    local = cluster == CLUSTER_LOCAL
    workers, threads = local_layout(len(sources), workers, threads) if local else (0, 1)
    plugin = ModelPlugin(detector.path.resolve(), detector.info.model_id, detector.device, threads,
                         None if local else detector.path.read_bytes())
    with connect(cluster, workers, in_process=local and len(sources) == 1) as client:
        client.register_plugin(plugin)
        target = str(out_dir.resolve()) if local or workers_see(client, out_dir) else None
        futures = {client.submit(analyse_on_worker, worker_source(source), plugin.name, options, target,
                                 pure=False): source
                   for source in sources}
        for future in as_completed(futures):
            source = futures.pop(future)
            try:
                analysis = future.result()
            except KilledWorker:
                analysis = TankerwatchError(located(source, "the worker running this scene died (out of memory?) "
                                                            "each time it was tried"))
            future.release()
            yield source, analysis
