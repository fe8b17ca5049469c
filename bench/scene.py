"""Whole-scene detect, end to end: seconds and peak memory for synthetic GeoTIFF scenes of growing
size, to show the time scales with the area and the memory does not.

    .venv/bin/python bench/scene.py [--sizes 10000 20000] [--gsd 1.0] [--model MODEL.onnx]
                                    [--threads 2] [--batch-size 2] [--device cpu|cuda] [--workdir DIR]

Targets (issue 5, 2 cores): 10,000 x 10,000 px in <= 30 s with peak RSS <= 1.5 GB, and about the
same peak RSS at 20,000 x 20,000. Each scene comes from ``tankerwatch synth scene`` (not timed) and
runs through ``tankerwatch detect`` in a fresh process; its time includes start-up and model
loading, its peak RSS is the process's own (getrusage). Without ``--model`` the model is the
architecture of configs/synthetic.yaml with its initial weights, exported like a trained one (the
work per tile is the same). Prints the CPU model and SIMD flags.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# Run the CLI in a child that reports its own peak RSS (kB on Linux) when it finishes.
CHILD = ("import resource, sys\n"
         "from tankerwatch.infer.cli import main\n"
         "code = main(sys.argv[1:])\n"
         "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
         "sys.exit(code)\n")


def default_model(workdir: Path) -> Path:
    from latency import build_model

    from tankerwatch.train.export import export_onnx

    path = workdir / "bench_model.onnx"
    if not path.exists():
        model, meta = build_model(ROOT / "configs" / "synthetic.yaml", None)
        export_onnx(model, meta, path)
    return path


def run_scene(model: Path, size: int, gsd: float, args, workdir: Path) -> None:
    scene = workdir / f"scene_{size}_{gsd:g}m.tif"
    if not scene.exists():
        start = time.perf_counter()
        subprocess.run([PYTHON, "-m", "tankerwatch.infer.cli", "synth", "scene", str(scene), "--size", str(size),
                        "--gsd", str(gsd), "--seed", "0"], check=True, capture_output=True)
        print(f"  generated {scene.name} in {time.perf_counter() - start:.0f} s (not counted)")
    out = workdir / f"out_{size}"
    command = [PYTHON, "-c", CHILD, "detect", str(model), str(scene), "-o", str(out), "--overwrite",
               "--threads", str(args.threads), "--batch-size", str(args.batch_size), "--device", args.device]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"detect failed on {scene}:\n{done.stderr}")
    peak_kb = int(next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB")))
    header = json.loads((out / f"{scene.stem}.geojson").read_text())["tankerwatch"]
    tiling = header["tiling"]
    print(f"{size} x {size} px at {gsd:g} m: {seconds:.1f} s end to end, peak RSS {peak_kb / 1024:.0f} MB; "
          f"tile {tiling['tile_px']} px, overlap {tiling['overlap_px']} px; {done.stdout.strip()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 20000])
    parser.add_argument("--gsd", type=float, default=1.0)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    parser.add_argument("--workdir", type=Path, default=None, help="keep scenes here (default: a temp folder)")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        model = args.model or default_model(workdir)
        print(f"model: {model}; {args.threads} threads, batch {args.batch_size}, device {args.device}")
        for size in args.sizes:
            run_scene(model, size, args.gsd, args, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
