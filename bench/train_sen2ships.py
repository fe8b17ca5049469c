"""Benchmark: train configs/sen2ships.yaml on 6 real Sentinel-2 ports, evaluate on Durban + Gdynia
(56 vessels), print the validation AP50 curve. All figures are REAL data (sen2ships, ship-only
labels: detection only; no type or load figures exist for it).

    .venv/bin/python bench/train_sen2ships.py [--epochs 30] [--threads 2] [--weights ResNet18_Weights.IMAGENET1K_V1]
        [--init-from PRETRAINED.ckpt]

``--init-from`` starts from another run's weights (``model.init_from``), e.g. the synthetic
Sentinel-2-GSD pre-training of ``configs/sen2ships_pretrain.yaml``; its own time is not in the
wall time printed here.
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
KEYS = ["time/elapsed_s", "val/vessel_AP50", "val/vessel_AP50_95", "val/length_rel_mae"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--samples-per-epoch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--weights", default="null", help="opt-in torchvision weight enum (downloads)")
    parser.add_argument("--name", default="bench_sen2ships")
    parser.add_argument("--init-from", type=Path, help="a tankerwatch fit checkpoint to start from (model.init_from)")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    print(f"CPU: {cpu_description()}; torch threads {args.threads}")
    argv = [TW, "fit", "--config", str(REPO / "configs" / "sen2ships.yaml"),
            "--trainer.max_epochs", str(args.epochs), "--data.samples_per_epoch", str(args.samples_per_epoch),
            "--model.weights", args.weights, "--trainer.enable_progress_bar", "false",
            "--trainer.logger", json.dumps([
                {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "runs", "name": args.name}},
                {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                 "init_args": {"save_dir": f"runs/{args.name}", "name": "tensorboard"}}]),
            "--checkpoint.dirpath", f"runs/{args.name}/checkpoints",
            "--trainer.callbacks+=tankerwatch.train.callbacks.ElapsedTime"]
    if args.init_from:
        argv += ["--model.init_from", str(args.init_from.resolve())]
    start = time.perf_counter()
    subprocess.run(argv, check=True, cwd=REPO)  # the config's data path is relative to the repo root
    wall = time.perf_counter() - start
    runs = sorted((REPO / "runs" / args.name).glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    curve = read_curve(runs[-1] / "metrics.csv", KEYS)
    final = json.loads((runs[-1] / "metrics_val" / "metrics.json").read_text())
    print("\n== sen2ships (REAL data): train 6 ports, validate Durban + Gdynia ==")
    print(f"{'epoch':>5} {'time_s':>7} {'AP50':>6} {'AP50:95':>7} {'len_rel_err':>11}")
    for row in curve:
        values = [row.get(k) for k in KEYS]
        text = " ".join("    n/a" if v is None else f"{v:7.3f}" for v in values[1:])
        print(f"{row['epoch']:>5} {values[0] or 0:7.0f} {text}")
    best = max((r.get("val/vessel_AP50", 0.0) for r in curve), default=0.0)
    print(f"wall time {wall:.0f} s; best val vessel_AP50 {best:.3f}; last epoch: AP50 {final.get('vessel_AP50')}, "
          f"AP50 at 3-10 m {final.get('vessel_AP50.gsd_3_10')}, AP25 at 3-10 m {final.get('vessel_AP25.gsd_3_10')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
