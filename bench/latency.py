"""Latency of the exported detector: median ms per 1024 x 1024 tile, batch 1, end to end from a
uint8 array to final boxes (decoding is in the graph), fp32 and int8, on onnxruntime.

    .venv/bin/python bench/latency.py [--config configs/synthetic.yaml] [--size 1024] [--threads 2]
                                      [--repeats 20] [--device cpu|cuda] [--checkpoint CKPT] [--calib TILES]

Targets (issue 5, 2-core CPU): <= 150 ms fp32, <= 80 ms int8. Without ``--checkpoint`` the model
is the config's architecture with its initial weights (speed does not depend on the weights; the
int8 calibration uses generated vessel-like images unless ``--calib`` names a folder). Prints the CPU model and SIMD flags.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCH_META = {
    "scaling": {"bands": None, "method": "fixed", "percentiles": [1.0, 99.0], "value_range": [0.0, 255.0]},
    "gsd_range_m": [0.5, 3.0], "load_uncertain_band": [0.3, 0.7], "load_max_gsd_m": 3.0,
    "config_sha256": "bench", "val_metrics": {},
}


def build_model(config_path: Path, checkpoint: Path | None):
    import torch

    from tankerwatch.models import build_detector
    from tankerwatch.models.detector import OrientedDetector

    if checkpoint is not None:
        from tankerwatch.train.checkpoint import load_checkpoint

        return load_checkpoint(checkpoint)
    config = yaml.safe_load(config_path.read_text())["model"]
    keys = set(OrientedDetector.__init__.__code__.co_varnames[1:OrientedDetector.__init__.__code__.co_argcount])
    torch.manual_seed(0)
    return build_detector(**{k: v for k, v in config.items() if k in keys}).eval(), BENCH_META


def export_variants(model, meta: dict, work: Path, calib: Path | None = None) -> tuple[Path, Path]:
    """fp32 and int8 ONNX files of ``model`` in ``work``. int8 is calibrated on 8 images of
    ``calib`` (as ``export --int8 --calib`` reads it), else on generated blobs: a trained model can
    leave a layer all but silent on blobs, which onnxruntime's calibrator cannot widen from."""
    from tankerwatch.infer.runtime.scaling import Scaling
    from tankerwatch.train.export import blob_images, export_onnx
    from tankerwatch.train.quantise import calibration_images, quantize_int8

    fp32, int8 = work / "model.onnx", work / "model.int8.onnx"
    export_onnx(model, meta, fp32)
    if calib is None:
        images = list(blob_images(np.random.default_rng(1), 8, model.in_channels, 256, 256))
    else:
        images = calibration_images(calib, Scaling.from_dict(meta["scaling"]), limit=8)
    quantize_int8(fp32, int8, images)
    return fp32, int8


def time_model(path: Path, size: int, threads: int, repeats: int, device: str) -> tuple[float, float, float, str]:
    from tankerwatch.infer.runtime.onnx_model import OnnxDetector
    from tankerwatch.train.export import example_views

    detector = OnnxDetector(path, device=device, threads=threads)
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 256, (1, detector.info.in_channels, size, size), dtype=np.uint8)
    # A scene with its angles: the load stage's geometry runs as in a real scene.
    view = example_views(1) if detector.info.view_input else None
    for _ in range(3):  # warm-up: first runs allocate and pick kernels
        detector.run(tile, view=view)
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        detector.run(tile, view=view).image(0)
        times.append((time.perf_counter() - start) * 1000)
        cpu_times.append((time.process_time() - cpu_start) * 1000)
    return statistics.median(times), min(times), statistics.median(cpu_times), detector.device


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "synthetic.yaml")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--calib", type=Path,
                        help="calibrate int8 on this folder's images (e.g. the training tiles), not on blobs")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    model, meta = build_model(args.config, args.checkpoint)
    print(f"CPU: {cpu_description()}")
    print(f"model: {args.checkpoint or args.config} ({sum(p.numel() for p in model.parameters()) / 1e6:.2f} M "
          f"parameters); tile {args.size} x {args.size}, batch 1, {args.threads} threads, device {args.device}")
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = export_variants(model, meta, Path(tmp), args.calib)
        for name, path, target in (("fp32", fp32, 150), ("int8", int8, 80)):
            median, best, cpu, device = time_model(path, args.size, args.threads, args.repeats, args.device)
            print(f"{name}: median {median:.1f} ms per tile (best {best:.1f} ms, {args.repeats} runs, on {device}); "
                  f"CPU time {cpu:.1f} ms per tile; target <= {target} ms on 2 cores")
    # Other processes sharing the cores inflate wall time: say how busy the machine was.
    print(f"load average (1, 5, 15 min): {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
