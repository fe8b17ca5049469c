"""Benchmark: wall time on this CPU until validation vessel AP50 >= 0.90 on held-out synthetic
tiles (configs/synthetic.yaml), and the tanker load-state accuracy at GSD <= 2 m reached then.
Then the same for the demo's short budget. All figures are SYNTHETIC.

    .venv/bin/python bench/train_synthetic.py [--threads 2] [--max-epochs 80] [--demo-epochs 40] [--no-twins]

It trains as ``make demo`` does: on the tiles and their twins without the hulls' shadows and
without their sides (``train/twins.py``), rendered into ``--work`` beside the tiles.

On a GPU the config's accelerator (auto) takes it; give the loaders CPU workers there, e.g.
``--threads 4 --num-workers 8``, or the GPU waits on one process cutting crops.

Training stops at the target through Lightning's EarlyStopping(stopping_threshold=0.90).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, read_curve  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TW = str(Path(sys.executable).parent / "tankerwatch")
CURVE_KEYS = ["time/elapsed_s", "val/vessel_AP50", "val/vessel_AP50_95", "val/AP50_tanker", "val/AP50_other",
              "val/load_accuracy", "val/load_accuracy.gsd_le2", "val/load_ece"]


def device_description() -> str:
    """The accelerator Lightning's ``accelerator: auto`` will pick, in words."""
    import torch

    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    return f"no GPU: training on the CPU (torch {torch.__version__})"


# As make demo: the training tiles with their twins without one cue (train/twins.py), by the cue
# they lack, and the synth tiles --cues that renders each.
TWINS = {"shadow": ("tiles_noshadow", "side,bow"), "side": ("tiles_noside", "shadow,bow")}


def train_entry(work: Path, twins: bool) -> str:
    """The ``--data.train`` value: the tiles' train split, with its twins when ``twins``."""
    train = str(work / "tiles" / "train")
    if not twins:
        return train
    named = {cue: str(work / folder / "train") for cue, (folder, _) in TWINS.items()}
    return json.dumps({"path": train, "twins": named})


def fit(work: Path, name: str, epochs: int, target: float | None, extra: list[str],
        twins: bool) -> tuple[float, list[dict], dict]:
    argv = [TW, "fit", "--config", str(REPO / "configs" / "synthetic.yaml"),
            "--data.train", train_entry(work, twins), "--data.val", str(work / "tiles" / "val"),
            "--data.test", "null", "--trainer.max_epochs", str(epochs), "--trainer.enable_progress_bar", "false",
            "--trainer.callbacks+=tankerwatch.train.callbacks.ElapsedTime", *extra]
    if target is not None:
        argv += ["--trainer.callbacks+=lightning.pytorch.callbacks.EarlyStopping",
                 "--trainer.callbacks.monitor=val/vessel_AP50", "--trainer.callbacks.mode=max",
                 f"--trainer.callbacks.stopping_threshold={target}", "--trainer.callbacks.patience=1000"]
    # Each run in its own folder: the config's relative runs/synthetic/... paths land there.
    run_root = work / name
    run_root.mkdir(exist_ok=True)
    start = time.perf_counter()
    subprocess.run(argv, check=True, cwd=run_root)
    wall = time.perf_counter() - start
    versions = sorted((run_root / "runs" / "synthetic").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    run = versions[-1]
    final = json.loads((run / "metrics_val" / "metrics.json").read_text())
    return wall, read_curve(run / "metrics.csv", CURVE_KEYS), final


def show(title: str, wall: float, curve: list[dict], final: dict) -> None:
    print(f"\n== {title} (synthetic data) ==")
    print(f"{'epoch':>5} {'time_s':>7} {'AP50':>6} {'AP50:95':>7} {'AP_tank':>7} {'AP_oth':>6} "
          f"{'load_acc':>8} {'load<=2m':>8} {'ECE':>6}")
    for row in curve:
        cells = [row.get(k) for k in CURVE_KEYS]
        text = " ".join("   n/a" if v is None else f"{v:6.3f}" for v in cells[1:])
        print(f"{row['epoch']:>5} {cells[0] or 0:7.0f} {text}")
    print(f"total wall time incl. start-up and validation: {wall:.0f} s")
    print(f"final: vessel_AP50 {final.get('vessel_AP50')}, vessel_AP50_95 {final.get('vessel_AP50_95')}, "
          f"load_accuracy.gsd_le2 {final.get('load_accuracy.gsd_le2')} "
          f"(n={final.get('load_count.gsd_le2')}), load_ece {final.get('load_ece')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench_synthetic")
    parser.add_argument("--tiles", type=int, default=1200, help="tiles to generate (train/val/test 80/10/10)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-epochs", type=int, default=80, help="budget of the run to the target; 0 skips it")
    parser.add_argument("--target", type=float, default=0.90)
    parser.add_argument("--demo-epochs", type=int, default=40, help="the demo's budget (Makefile DEMO_EPOCHS); 0 skips that run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-workers", type=int, default=0, help="data loader worker processes (config: 0)")
    parser.add_argument("--synth-threads", type=int, help="processes generating the tiles (default: --threads)")
    parser.add_argument("--no-twins", action="store_true",
                        help="train without the tiles' twins (make demo trains with them: train/twins.py)")
    parser.add_argument("--fit-arg", action="append", default=[], metavar="--KEY=VALUE",
                        help="extra `tankerwatch fit` override for both runs, e.g. --fit-arg=--trainer.max_time=00:00:10:00")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    # fit runs in its own folder under --work, so every path handed to it must be absolute.
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {cpu_description()}; torch threads {args.threads}; loader workers {args.num_workers}")
    print(f"device: {device_description()}")
    renders = {"tiles": "all"}
    if not args.no_twins:
        renders.update({folder: cues for folder, cues in TWINS.values()})
    for folder, cues in renders.items():
        if not (args.work / folder / "manifest.json").is_file():
            subprocess.run([TW, "synth", "tiles", str(args.work / folder), "--count", str(args.tiles), "--size", "256",
                            "--seed", str(args.seed), "--threads", str(args.synth_threads or args.threads),
                            # COCO keeps each tanker's drawn widths, which the load stage learns from.
                            "--format", "coco", "--cues", cues], check=True)
    overrides = [f"--seed_everything={args.seed}", f"--data.num_workers={args.num_workers}", *args.fit_arg]
    if args.max_epochs:
        wall, curve, final = fit(args.work, "to_target", args.max_epochs, args.target, overrides, not args.no_twins)
        show(f"until val vessel_AP50 >= {args.target} (max {args.max_epochs} epochs)", wall, curve, final)
        reached = [r for r in curve if r.get("val/vessel_AP50", 0) >= args.target]
        if reached:
            print(f"target reached: yes, epoch {reached[0]['epoch']}, {reached[0]['time/elapsed_s']:.0f} s of training")
        else:
            print("target reached: no")
    if args.demo_epochs:
        wall, curve, final = fit(args.work, "demo_budget", args.demo_epochs, None, overrides, not args.no_twins)
        show(f"demo budget: {args.demo_epochs} epochs", wall, curve, final)
    return 0


if __name__ == "__main__":
    sys.exit(main())
