"""Latency relative to the peer: our exported detector end to end on a busy 1024 x 1024 port crop,
divided by Ultralytics YOLO11n-obb's raw network on the same size, both timed in one process.

    .venv/bin/python bench/latency_peer.py (--checkpoint CKPT | --config YAML) [--threads 2] [--repeats 20]
                                           [--seed S | --seeds 8] [--gsd 1.0] [--sts 40]
                                           [--calib TILES] [--work runs/latency_peer]

Ours: the checkpoint exported to ONNX (fp32, and int8 by the project's quantiser as bench/latency.py
does), ``OnnxDetector.run`` from the uint8 ``[1, 3, 1024, 1024]`` tile and the scene's view row to
the final decoded boxes, the load stage included (``--config``: the config's model with random weights, to time an
architecture before it is trained; nearly every peak then clears the score floor, so ``top_k`` rows
reach the load stage). The peer: YOLO11n-obb built from
``yolo11n-obb.yaml`` (random weights: speed does not depend on them), exported to ONNX once in the
separate environment ``.venv-peer`` (bench/peer/yolo_obb_worker.py export, offline, no NMS) and run
on a float32 ``[1, 3, 1024, 1024]`` input. Both on onnxruntime's CPU provider in this process with
the same thread count, batch 1, alternating (ours fp32, peer, ours int8, peer, ...), medians.

Timed twice, in two modes one after the other. First with onnxruntime's intra-op threads sleeping
between runs: each run then has the cores to itself, as in ``detect``, which runs one session.
Then with them spinning, onnxruntime's default and how this bench timed until 2026-12-07: after
each run the session's threads busy-wait for a while and take cores from the next session's run;
on 2 cores that adds tens of milliseconds to each side alike, which pulls the ratio towards 1 and
so counts against the faster model. Both ratios are printed.

The crop is a whole 1024 px synthetic terminal scene (shore, berths, anchorage) with ``--sts``
ship-to-ship pairs rafted in it, which makes it busy (60-80 vessels at the defaults); without
``--seed`` the ``--seeds`` candidates are rendered and the one where most rows reach our load stage
is kept (ties: the one with most vessels). Rows reaching the load stage are the graph's ``count``
output: peaks scoring at least the model's ``score_threshold``, at most ``top_k`` (models/decode.py,
models/detector.py).

Targets (issue text, measured with the demo model on an AVX-512 machine): ratio <= 0.60 fp32,
<= 0.51 int8, on a crop where 50 or more rows reach the load stage. Prints the CPU model and SIMD
flags and the load average: other processes on the cores inflate both sides, not always alike.
Nothing is downloaded (the peer's export needs ``onnx`` in .venv-peer: bench/peer/requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description  # noqa: E402
from latency import build_model, export_variants  # noqa: E402

from tankerwatch.infer.runtime.detect import DEFAULT_MIN_SCORE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
PEER_WORKER = ROOT / "bench" / "peer" / "yolo_obb_worker.py"
SIZE = 1024
TARGETS = {"fp32": 0.60, "int8": 0.51}
MIN_ROWS = 50
WARMUP = 3  # first runs allocate and pick kernels


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def render_crop(seed: int, gsd_m: float, sts_pairs: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The scene of ``seed`` as a uint8 ``[3, 1024, 1024]`` tile, its view row and its vessel count."""
    from tankerwatch.infer.synth.effects import brightness_to_uint8
    from tankerwatch.infer.synth.scene import SceneSettings, _reach_px, compose_scene, render_window

    settings = SceneSettings(size=SIZE, gsd_m=gsd_m, sts_pairs=sts_pairs)
    world = compose_scene(seed, settings)
    bounds = np.array([_reach_px(ship, world.view) for ship in world.ships]).reshape(-1, 4)
    pixels = render_window(world, seed, 0, 0, SIZE, SIZE, settings.bands, bounds, settings.cues)
    # The generator draws with azimuths in the image grid (up = grid north): they are already the
    # image-frame angles the view input wants.
    v = world.view
    view = np.array([v.gsd_m, v.sun_elevation_deg, v.sun_azimuth_deg, v.view_zenith_deg, v.view_azimuth_deg],
                    dtype=np.float32)
    return np.moveaxis(brightness_to_uint8(pixels), 2, 0), view, len(world.ships)


def model_input(detector, crop: np.ndarray) -> np.ndarray:
    """The crop as ``detect`` would hand it to the model: the model's own scaling, batch of one."""
    from tankerwatch.infer.runtime.scaling import to_uint8

    scaling = detector.info.scaling
    bands = crop if scaling.bands is None else crop[[b - 1 for b in scaling.bands]]
    lo, hi = scaling.limits(bands)
    return to_uint8(bands, lo, hi)[None]


def choose_crop(detector, seeds: list[int], gsd_m: float, sts_pairs: int):
    """The candidate where most rows reach the load stage (ties: most vessels drawn):
    ``(seed, tile, view, vessels, rows)``."""
    best = None
    for seed in seeds:
        crop, view, vessels = render_crop(seed, gsd_m, sts_pairs)
        tile = model_input(detector, crop)
        rows, confident = load_rows(detector, tile, view)
        print(f"  seed {seed}: {vessels} vessels drawn, {rows} rows reach the load stage "
              f"({confident} score >= detect's default {DEFAULT_MIN_SCORE})", flush=True)
        if best is None or (rows, vessels) > (best[4], best[3]):
            best = (seed, tile, view, vessels, rows)
    return best


def load_rows(detector, tile: np.ndarray, view: np.ndarray) -> tuple[int, int]:
    """Rows the load stage reads: the graph's ``count`` (models/detector.py keeps at least one); and
    how many of them ``detect`` would report at its default minimum score."""
    out = detector.run(tile, view=view if detector.info.view_input else None)
    return max(int(out.count[0]), 1), int((out.image(0).scores >= DEFAULT_MIN_SCORE).sum())


def export_ours(checkpoint: Path | None, config: Path | None, work: Path,
                calib: Path | None = None) -> tuple[Path, Path, object]:
    """fp32 and int8 ONNX files of the checkpoint, or of the config's model with random weights, as
    bench/latency.py makes them (int8 calibrated on ``calib``'s images, else on blobs), and the model."""
    model, meta = build_model(config or ROOT / "configs" / "synthetic.yaml", checkpoint)
    fp32, int8 = export_variants(model, meta, work, calib)
    return fp32, int8, model


def export_peer(work: Path, threads: int) -> tuple[Path, dict]:
    """YOLO11n-obb's raw network as ONNX, exported in .venv-peer (kept in ``work`` for later runs)."""
    path, report = work / f"yolo11n-obb-{SIZE}.onnx", work / "peer-export.json"
    if path.exists() and report.exists():
        return path, json.loads(report.read_text())
    if not PEER_PYTHON.exists():
        sys.exit(f"no {PEER_PYTHON}: create the peer's environment (bench/peer/README.md)")
    # Offline: no settings sync, no auto-install of a missing requirement; the worker's guard refuses
    # any connection. Run in ``work`` because the exporter writes beside the model's file name.
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False",
           "YOLO_CONFIG_DIR": str(work / "config"), "OMP_NUM_THREADS": str(threads)}
    argv = [str(PEER_PYTHON), str(PEER_WORKER), "export", "--onnx", str(path), "--imgsz", str(SIZE),
            "-o", str(report)]
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"peer export failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return path, json.loads(report.read_text())


def peer_session(path: Path, threads: int, spinning: bool):
    """An onnxruntime CPU session configured as OnnxDetector configures ours."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def time_alternating(ours: dict, peer, repeats: int) -> dict[str, list[float]]:
    """Milliseconds per call, round by round: each of ours, each followed by the peer, so a change
    in the cores' load falls on both sides."""
    times = {name: [] for name in [*ours, "peer"]}
    for _ in range(WARMUP):
        for call in [*ours.values(), peer]:
            call()
    for _ in range(repeats):
        for name, call in ours.items():
            times[name].append(timed(call))
            times["peer"].append(timed(peer))
    return times


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ours = parser.add_mutually_exclusive_group(required=True)
    ours.add_argument("--checkpoint", type=Path,
                      help="our model: a trained checkpoint (how many rows reach the load stage depends on it)")
    ours.add_argument("--config", type=Path,
                      help="our model: a training config's architecture with random weights (top_k rows reach the load stage)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="the scene's seed (default: search --seeds)")
    parser.add_argument("--seeds", type=int, default=8, help="without --seed, try seeds 0..N-1 (default 8)")
    parser.add_argument("--gsd", type=float, default=1.0, help="the scene's metres per pixel (default 1)")
    parser.add_argument("--sts", type=int, default=40, help="ship-to-ship pairs in the scene (default 40)")
    parser.add_argument("--calib", type=Path,
                        help="calibrate int8 on this folder's images (e.g. the training tiles), not on blobs")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "latency_peer",
                        help="keeps the peer's ONNX export between runs")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    import torch

    from tankerwatch.infer.runtime.onnx_model import OnnxDetector

    for flag, path in (("--checkpoint", args.checkpoint), ("--config", args.config)):
        if path is not None and not path.is_file():
            sys.exit(f"{flag} {path}: no such file")
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {cpu_description()}")
    print(f"load average before (1, 5, 15 min): {load_average()}")
    peer_path, peer_report = export_peer(args.work.resolve(), args.threads)
    print(f"peer: YOLO11n-obb from yolo11n-obb.yaml (Ultralytics {peer_report['ultralytics']}, random "
          f"weights, the YAML's 80 classes), raw network, no NMS: {peer_path}; "
          f"{len(peer_report['network_attempts'])} network attempts during its export")
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8, model = export_ours(args.checkpoint, args.config, Path(tmp), args.calib)
        source = args.checkpoint or f"{args.config} (random weights)"
        print(f"ours: {source} ({sum(p.numel() for p in model.parameters()) / 1e6:.2f} M "
              f"parameters; score_threshold {model.score_threshold}, top_k {model.top_k})")
        # Per thread mode (sleeping first: spinning threads left over from the other mode would tax
        # its first rounds), ours in both precisions; the sleeping ones also choose the crop.
        ours = {spinning: {name: OnnxDetector(path, device="cpu", threads=args.threads, spinning=spinning)
                           for name, path in (("fp32", fp32), ("int8", int8))}
                for spinning in (False, True)}
        chooser = ours[False]
        seeds = [args.seed] if args.seed is not None else list(range(args.seeds))
        print(f"crop: 1024 px synthetic terminal scene at {args.gsd:g} m with {args.sts} STS pairs; "
              f"candidate seeds {seeds}")
        seed, tile, view, vessels, rows = choose_crop(chooser["fp32"], seeds, args.gsd, args.sts)
        view = view if chooser["fp32"].info.view_input else None
        rows_int8 = load_rows(chooser["int8"], tile, view)[0]
        busy = "met" if min(rows, rows_int8) >= MIN_ROWS else "NOT met"
        full = f"; {model.top_k} is top_k, the most it takes" if max(rows, rows_int8) >= model.top_k else ""
        print(f"crop: seed {seed}, {vessels} vessels drawn; rows reaching the load stage: {rows} fp32, "
              f"{rows_int8} int8 (target >= {MIN_ROWS}: {busy}{full})")
        print(f"batch 1, {args.threads} threads, onnxruntime CPU, {args.repeats} rounds, alternating")
        peer_input = tile.astype(np.float32) / 255.0
        for spinning, detectors in ours.items():
            session = peer_session(peer_path, args.threads, spinning)
            peer_feed = {session.get_inputs()[0].name: peer_input}
            calls = {name: (lambda d=d: d.run(tile, view=view).image(0)) for name, d in detectors.items()}
            times = time_alternating(calls, lambda s=session, f=peer_feed: s.run(None, f), args.repeats)
            report(times, spinning)
    print(f"load average after (1, 5, 15 min): {load_average()}")
    return 0


def report(times: dict[str, list[float]], spinning: bool) -> None:
    mode = ("threads spinning between runs (onnxruntime's default; this bench until 2026-12-07)" if spinning
            else "threads sleeping between runs (each run has the cores to itself, as in detect)")
    print(f"{mode}:")
    peer = statistics.median(times["peer"])
    print(f"  peer raw network: median {peer:.1f} ms (best {min(times['peer']):.1f} ms, "
          f"{len(times['peer'])} runs)")
    for name, target in TARGETS.items():
        median = statistics.median(times[name])
        ratio = median / peer
        print(f"  ours {name} end to end: median {median:.1f} ms (best {min(times[name]):.1f} ms); ratio "
              f"{ratio:.2f} to the peer, target <= {target:.2f}: {'met' if ratio <= target else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
