"""Distributed detect on this machine (Dask, local cluster): throughput with 1 and 2 workers, the
overhead of one scene through the engine, worker memory against scene size, the model bytes sent
to workers, and a run killed halfway then rerun.

    .venv/bin/python bench/distributed_detect.py [--scenes 8] [--size 2048] [--memory-sizes 1024,2048,4096]
                                                 [--config configs/synthetic.yaml] [--work DIR] [--skip-kill]
    RAYVENV/bin/python bench/distributed_detect.py --engine ray --work DIR [--scenes 8] [--size 2048]

``--engine ray`` runs the same job on Ray (one actor per worker holding its session) in a venv
with ray and tankerwatch's base install, on the model, scenes and reference outputs a Dask run left
in ``--work``: the figures behind the engine choice (docs/distributed.md).

Targets (issue 21, 2 cores; the issue's size is --scenes 24 --size 4096): 2 workers >= 1.7 x the
throughput of 1; one scene through the engine <= 1.2 x the plain single-process time; memory per
worker flat in scene size; killed after half the scenes and rerun, only the rest is done and the
files are the same; the model sent to each worker once, not per task.

Scenes are synthetic (``tankerwatch synth scene``, 1 m); the model is the config's architecture with
its initial weights (speed does not depend on the weights), exported to ONNX. Every run's files
are compared byte for byte with the plain single-process run's. Wall times include starting the
cluster (printed apart too); other processes on the machine inflate them, so the load average is
printed before and after.
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description  # noqa: E402
from latency import build_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TANKERWATCH = Path(sys.executable).with_name("tankerwatch")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def make_model(config: Path, path: Path) -> Path:
    if not path.exists():
        from tankerwatch.train.export import export_onnx

        model, meta = build_model(config, None)
        export_onnx(model, meta, path)
    return path


def make_scenes(folder: Path, count: int, size: int) -> list[Path]:
    from tankerwatch.infer.synth.scene import SceneSettings, write_scene

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"scene_{i:02d}.tif" for i in range(count)]
    for seed, path in enumerate(paths):
        if not path.exists():
            write_scene(path, SceneSettings(size=size, gsd_m=1.0), seed=seed, threads=2)
    return paths


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def same_files(a: Path, b: Path) -> str:
    one, two = outputs(a), outputs(b)
    if sorted(one) != sorted(two):
        return f"DIFFERENT file sets ({len(one)} vs {len(two)})"
    differ = [name for name in one if one[name] != two[name]]
    return f"{len(one)} files byte-identical" if not differ else f"{len(differ)} of {len(one)} files DIFFER: {differ[:3]}"


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (a local cluster's workers,
    once it is closed)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_run(detector, scenes, out: Path, **kwargs) -> tuple[float, float]:
    """Wall and CPU seconds (this process and the workers) of one ``detect_many`` run."""
    start, cpu = time.perf_counter(), cpu_seconds()
    outcomes = detector.detect_many(scenes, out, overwrite=True, **kwargs)
    elapsed, used = time.perf_counter() - start, cpu_seconds() - cpu
    failed = [o.reason for o in outcomes if o.status != "done"]
    if failed:
        raise SystemExit(f"benchmark scenes failed: {failed}")
    return elapsed, used


def describe(label: str, count: int, wall: float, cpu: float) -> str:
    # Cores used = CPU / wall: on a machine shared with other jobs, what the run was given.
    return (f"{label}: {wall:.1f} s, {count / wall * 60:.1f} scenes/min; CPU {cpu:.1f} s ({cpu / count:.2f} s per "
            f"scene), {cpu / wall:.2f} cores used")


def ray_detect(model: Path, scenes: list[Path], out: Path, workers: int, threads: int) -> float:
    """The same job on Ray, for the engine choice (docs/distributed.md): one actor per worker holding
    its session, scenes mapped over the actors, each actor writing its scenes' files as Dask's local
    workers do. Wall seconds, starting Ray included."""
    import ray
    from ray.util import ActorPool

    from tankerwatch.infer.runtime.batch import SceneOptions
    from tankerwatch.infer.runtime.detect import analyse_scene, write_result

    @ray.remote(num_cpus=1)
    class SceneActor:
        def __init__(self, path: str, threads: int):
            import cv2

            from tankerwatch.infer.runtime.onnx_model import OnnxDetector

            cv2.setNumThreads(threads)
            self.detector = OnnxDetector(path, device="cpu", threads=threads)

        def detect(self, source: str, options: SceneOptions, out: str):
            return write_result(analyse_scene(self.detector, source, tile=options.tile, batch_size=options.batch_size,
                                              gsd_m=options.gsd_m, min_score=options.min_score, progress=False,
                                              max_gsd_m=options.max_gsd_m), out)

    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    ray.init(num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             logging_level=logging.ERROR)
    try:
        options = SceneOptions(None, 2, None, 0.3)
        pool = ActorPool([SceneActor.remote(str(model), threads) for _ in range(workers)])
        for _ in pool.map_unordered(lambda actor, scene: actor.detect.remote(str(scene), options, str(out)), scenes):
            pass
    finally:
        ray.shutdown()
    return time.perf_counter() - start


def run_ray(args: argparse.Namespace, work: Path) -> int:
    """Ray's figures on the model and scenes a Dask run left in ``--work`` (Ray's venv has no torch)."""
    model, scenes = work / "model.onnx", sorted((work / f"scenes_{args.size}").glob("scene_*.tif"))[:args.scenes]
    reference = work / "out_plain"
    if not model.exists() or len(scenes) < args.scenes or not reference.is_dir():
        raise SystemExit(f"run the Dask benchmark with --work {work} first: it leaves the model, scenes and "
                         f"single-process outputs Ray is compared with")
    print(f"CPU: {cpu_description()}")
    print(f"load average before (1, 5, 15 min): {load_average()}")
    times = {}
    for workers in (1, 2):
        out = work / f"ray_{workers}w"
        times[workers] = ray_detect(model, scenes, out, workers, 1)
        print(f"Ray, {workers} actor(s) x 1 thread: {times[workers]:.1f} s (with the start), "
              f"{len(scenes) / times[workers] * 60:.1f} scenes/min; files vs single process: "
              f"{same_files(out, reference)}")
    print(f"Ray throughput 2 actors / 1 actor: {times[1] / times[2]:.2f} x")
    single = ray_detect(model, scenes[:1], work / "ray_one", 1, 2)
    print(f"Ray, one scene through 1 actor x 2 threads (with the start): {single:.1f} s")
    print(f"load average after (1, 5, 15 min): {load_average()}")
    return 0


def cluster_start_time(workers: int) -> float:
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        client.run(lambda: None)
        return time.perf_counter() - start


def worker_peak_rss(model: Path, scene: Path, out: Path, threads: int) -> tuple[float, float, int, int]:
    """(idle, after one scene) peak RSS in MiB of a fresh one-worker cluster, and the pickled bytes
    of the model plugin (sent once per worker) and of one task."""
    from distributed import Client, LocalCluster
    from distributed.protocol.pickle import dumps

    from tankerwatch.infer import Detector
    from tankerwatch.infer.runtime.batch import SceneOptions
    from tankerwatch.infer.runtime.distributed import ModelPlugin, analyse_on_worker

    def peak() -> float:
        # VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across exec, so a worker started
        # from a large parent (this one, holding torch) would report the parent's size.
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    detector = Detector(model, device="cpu", threads=threads)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        (idle,) = client.run(peak).values()
        timed_run(detector, [scene], out, cluster=cluster.scheduler_address)  # workers write: same disk
        (busy,) = client.run(peak).values()
    plugin = ModelPlugin(model, detector.info.model_id, "cpu", threads, model.read_bytes())
    options = SceneOptions(detector.tile, detector.batch_size, None, detector.min_score)
    task = dumps((analyse_on_worker, str(scene.resolve()), plugin.name, options, str(out.resolve())))
    return idle, busy, len(dumps(plugin)), len(task)


def kill_and_resume(model: Path, scenes: list[Path], out: Path, reference: Path) -> None:
    import psutil

    count = len(scenes)
    command = [str(TANKERWATCH), "detect", str(model), *map(str, scenes), "-o", str(out), "--cluster", "local",
               "--workers", "2"]
    shutil.rmtree(out, ignore_errors=True)
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    half = count // 2
    while len(list(out.glob("*.csv"))) < half and run.poll() is None:  # the CSV is each scene's last file
        time.sleep(0.2)
    children = psutil.Process(run.pid).children(recursive=True)
    run.send_signal(signal.SIGKILL)
    run.wait()
    done_at_kill = len(list(out.glob("*.csv")))
    _, alive = psutil.wait_procs(children, timeout=30)
    for process in alive:
        process.kill()
    rerun = subprocess.run(command, capture_output=True, text=True)
    redone = sum(" vessels" in line for line in rerun.stdout.splitlines())
    skipped = sum("already done" in line for line in rerun.stdout.splitlines())
    print(f"killed (SIGKILL) with {done_at_kill} of {count} scenes done; {len(children)} worker processes, "
          f"{len(alive)} still alive 30 s later; rerun (exit {rerun.returncode}) skipped {skipped} and did "
          f"{redone}; files vs single process: {same_files(out, reference)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--memory-sizes", default="1024,2048,4096")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "synthetic.yaml")
    parser.add_argument("--work", type=Path, default=None, help="keep model and scenes here (default: a temp folder)")
    parser.add_argument("--skip-kill", action="store_true", help="leave out the killed-run check")
    parser.add_argument("--engine", choices=("dask", "ray"), default="dask",
                        help="ray: the same job on Ray, with --work of a finished Dask run (for the engine choice)")
    args = parser.parse_args()
    if args.engine == "ray":
        if args.work is None:
            parser.error("--engine ray needs --work (the folder of a finished Dask run)")
        return run_ray(args, args.work)
    with tempfile.TemporaryDirectory() as tmp:
        return run(args, args.work or Path(tmp))


def run(args: argparse.Namespace, work: Path) -> int:
    from tankerwatch.infer import Detector
    from tankerwatch.infer.runtime.batch import usable_cores

    work.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {cpu_description()}; usable cores {usable_cores()}")
    print(f"load average before (1, 5, 15 min): {load_average()}")
    model = make_model(args.config, work / "model.onnx")
    scenes = make_scenes(work / f"scenes_{args.size}", args.scenes, args.size)
    print(f"model {args.config.name} ({model.stat().st_size / 2**20:.1f} MiB ONNX); {len(scenes)} synthetic scenes "
          f"of {args.size} px at 1 m")
    cores = usable_cores()
    plain = Detector(model, device="cpu")  # onnxruntime's default: all cores
    one = Detector(model, device="cpu", threads=1)
    for workers in (1, 2):
        print(f"local cluster start, {workers} worker(s): {cluster_start_time(workers):.1f} s")

    t_plain, cpu_plain = timed_run(plain, scenes, work / "out_plain", cluster="none")
    print(describe(f"single process, {cores} threads", len(scenes), t_plain, cpu_plain))
    times = {}
    for workers in (1, 2):
        out = work / f"out_{workers}w"
        times[workers], cpu = timed_run(one, scenes, out, cluster="local", workers=workers)
        print(describe(f"local cluster, {workers} worker(s) x 1 thread (with the start)", len(scenes),
                       times[workers], cpu) + f"; files vs single process: {same_files(out, work / 'out_plain')}")
    print(f"throughput 2 workers / 1 worker: {times[1] / times[2]:.2f} x (target >= 1.7); "
          f"2 workers / single process with {cores} threads: {t_plain / times[2]:.2f} x")

    single = [scenes[0]]
    t_alone, _ = timed_run(plain, single, work / "one_plain", cluster="none")
    t_engine, _ = timed_run(plain, single, work / "one_engine", cluster="local", workers=1)
    print(f"one scene: single process {t_alone:.1f} s, through the engine (1 worker x {cores} threads, with the "
          f"start) {t_engine:.1f} s: {t_engine / t_alone:.2f} x (target <= 1.2)")

    for size in (int(s) for s in args.memory_sizes.split(",")):
        (scene,) = make_scenes(work / f"scenes_{size}", 1, size)
        idle, busy, plugin_bytes, task_bytes = worker_peak_rss(model, scene, work / f"memory_{size}", cores)
        print(f"worker peak RSS, one {size} px scene: {busy:.0f} MiB (idle worker {idle:.0f} MiB); model plugin "
              f"{plugin_bytes / 2**20:.2f} MiB sent once per worker, a task {task_bytes} bytes")
    if not args.skip_kill:
        kill_and_resume(model, scenes, work / "out_killed", work / "out_plain")
    print(f"load average after (1, 5, 15 min): {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
