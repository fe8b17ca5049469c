"""Benchmark: leave-one-port-out cross-validation of configs/sen2ships.yaml on the 8 real sen2ships ports.

For each port, the config's network is trained on the other seven for a fixed number of epochs and
its last weights (no checkpoint selection, so nothing is fitted to the held-out port) are exported
and run through the Detector API on the held-out port, then scored by the project's one scorer
(tankerwatch.infer.evaluation.metrics: class-agnostic vessel AP50, rotated IoU, COCO 101-point).
Prints each port's figures, the mean AP50 over ports with its spread, and AP50 pooled over all 201
vessels (each port's detections from the model that did not see it). All figures are REAL data.

    .venv/bin/python bench/lopo_sen2ships.py [--epochs 20] [--init-from CKPT] [--ports durban,gdynia]
        [--fit-arg='--data.scale_range=[0.6, 1.6]' ...]

``--init-from`` starts every fold from a checkpoint (fine-tuning, ``model.init_from``), e.g. one
pre-trained on synthetic ports at Sentinel-2 GSD (configs/sen2ships_pretrain.yaml): the same folds,
epochs and seed with and without it measure what the pre-training is worth. ``--fit-arg``
(repeatable, as in bench/style_holdout.py) passes one more argument to every fold's ``tankerwatch
fit``: one change of the recipe measured on the same folds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, read_curve  # noqa: E402
from peer_sen2ships import CONFIG, TW, log, our_detections, run, score, split_of_config, thread_env  # noqa: E402


def fold_args(source: Path, train: list[str], held_out: str, epochs: int, work: Path, seed: int) -> list[str]:
    """``tankerwatch fit`` arguments for one fold: train on ``train``, validate once, at the end, on
    the held-out port (Lightning writes last.ckpt after a validation)."""
    def entry(stems: list[str]) -> str:
        return json.dumps({"path": str(source), "format": "coco", "images": stems})

    logger = [{"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(work), "name": "fit"}}]
    return [TW, "fit", "--config", str(CONFIG), "--data.train", entry(train), "--data.val", entry([held_out]),
            "--trainer.max_epochs", str(epochs), "--trainer.check_val_every_n_epoch", str(epochs),
            "--seed_everything", str(seed), "--trainer.enable_progress_bar", "false",
            "--trainer.logger", json.dumps(logger), "--checkpoint.dirpath", str(work / "checkpoints"),
            "--trainer.callbacks+=tankerwatch.train.callbacks.ElapsedTime"]


def run_fold(args, source: Path, ports: list[str], held_out: str, truth) -> dict:
    work = args.work / held_out
    train = [p for p in ports if p != held_out]
    argv = fold_args(source, train, held_out, args.epochs, work, args.seed)
    if args.init_from:
        argv += ["--model.init_from", str(args.init_from)]
    argv += args.fit_arg
    wall = run(argv, thread_env(args.threads), work / "fit.log")
    onnx = work / "last.onnx"
    run([TW, "export", work / "checkpoints" / "last.ckpt", "-o", onnx, "--overwrite"], thread_env(args.threads),
        work / "export.log")
    detections = our_detections(onnx, [truth], args.threads)
    versions = sorted((work / "fit").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    curve = read_curve(versions[-1] / "metrics.csv", ["time/elapsed_s", "val/vessel_AP50"])
    return {"train": train, "train_wall_s": wall, "val_AP50_in_fit": curve[-1].get("val/vessel_AP50") if curve else None,
            "detections": detections, "figures": score([truth], detections, args.operating_point)}


def fmt(value, spec=".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20,
                        help="epochs per fold (default 20: about 11 min a fold on 2 AVX2-only EPYC cores; "
                             "10 epochs take 6-7 min there, about 3.5 min on 2 AVX-512 EPYC cores)")
    parser.add_argument("--init-from", type=Path, help="checkpoint every fold starts from (model.init_from)")
    parser.add_argument("--ports", help="comma-separated ports to hold out (default: all 8)")
    parser.add_argument("--fit-arg", action="append", default=[], metavar="--KEY=VALUE",
                        help="extra `tankerwatch fit` argument for every fold, e.g. --fit-arg=--data.upsample_above_gsd_m=5")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--operating-point", type=float, help="score for recall/precision (default: detect's)")
    parser.add_argument("--work", type=Path, default=Path("runs/lopo_sen2ships"))
    args = parser.parse_args()
    from tankerwatch.infer.formats.dataset import read_dataset
    from tankerwatch.infer.runtime.detect import DEFAULT_MIN_SCORE

    args.operating_point = DEFAULT_MIN_SCORE if args.operating_point is None else args.operating_point
    args.work = args.work.resolve()
    if args.init_from:
        args.init_from = args.init_from.resolve()
        if not args.init_from.is_file():
            raise SystemExit(f"--init-from {args.init_from}: no such file")
    source, train_stems, val_stems = split_of_config()
    by_stem = {Path(im.image_path).stem: im for im in read_dataset(source, fmt="coco").images}
    ports = train_stems + val_stems
    held_out = args.ports.split(",") if args.ports else ports
    unknown = sorted(set(held_out) - set(by_stem))
    if unknown:
        raise SystemExit(f"--ports: not in {source}: {', '.join(unknown)} (known: {', '.join(sorted(by_stem))})")
    cpu = cpu_description()
    start_name = f"init_from {args.init_from}" if args.init_from else "from scratch"
    changes = "".join(f", {arg}" for arg in args.fit_arg)
    log(f"CPU: {cpu}; {args.threads} threads; {args.epochs} epochs per fold, {start_name}, seed {args.seed}{changes}")

    results = {"cpu": cpu, "epochs": args.epochs, "init_from": str(args.init_from) if args.init_from else None,
               "seed": args.seed, "fit_args": args.fit_arg, "config": yaml.safe_load(CONFIG.read_text())["model"], "folds": {}}
    start = time.perf_counter()
    for port in held_out:
        results["folds"][port] = run_fold(args, source, ports, port, by_stem[port])
        figures = results["folds"][port]["figures"]
        log(f"{port}: AP50 {fmt(figures['AP50'])}, AP25 3-10 m {fmt(figures['AP25_3_10'])}")
        (args.work / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    pooled = score([by_stem[p] for p in held_out],
                   {p: results["folds"][p]["detections"][p] for p in held_out}, args.operating_point)
    results["pooled"] = pooled
    results["total_wall_s"] = time.perf_counter() - start
    (args.work / "results.json").write_text(json.dumps(results, indent=1) + "\n")

    print(f"\n== sen2ships (REAL data), leave one port out: {args.epochs} epochs per fold, {start_name}{changes} ==")
    print(f"CPU: {cpu}; {args.threads} threads")
    print(f"{'held-out port':<14} {'vessels':>7} {'GSD m':>5} {'train_s':>7} {'AP50':>6} {'AP50:95':>7} "
          f"{'AP25 3-10m':>10} {'recall@op':>9} {'prec@op':>7}")
    for port in held_out:
        fold, image = results["folds"][port], by_stem[port]
        f = fold["figures"]
        print(f"{port:<14} {len(image.vessels):>7} {fmt(image.gsd_m, '5.1f'):>5} {fold['train_wall_s']:7.0f} "
              f"{fmt(f['AP50']):>6} {fmt(f['AP50_95']):>7} {fmt(f['AP25_3_10']):>10} "
              f"{fmt(f['recall_at_op']):>9} {fmt(f['precision_at_op']):>7}")
    ap50 = [results["folds"][p]["figures"]["AP50"] for p in held_out]
    spread = f", standard deviation {statistics.stdev(ap50):.3f}" if len(ap50) > 1 else ""
    print(f"mean AP50 over {len(ap50)} ports {statistics.fmean(ap50):.3f}{spread}, range {min(ap50):.3f}-{max(ap50):.3f}")
    print(f"pooled over {pooled['n_truth']} vessels: AP50 {fmt(pooled['AP50'])}, AP25 3-10 m {fmt(pooled['AP25_3_10'])}, "
          f"recall {fmt(pooled['recall_at_op'])} at precision {fmt(pooled['precision_at_op'])} "
          f"(score >= {args.operating_point:g})")
    print(f"operating point {args.operating_point:g}; total wall time {results['total_wall_s']:.0f} s; "
          f"details: {args.work / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
