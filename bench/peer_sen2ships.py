"""Benchmark: the project's sen2ships model against Ultralytics YOLO11n-obb, side by side, in one run.

Both train from scratch on the same six real Sentinel-2 ports (configs/sen2ships.yaml's data.train)
under the same wall-clock budget on the same CPU threads, both are run on the validation ports
(Durban + Gdynia, 56 vessels: data.val) and both are scored by the project's one scorer,
tankerwatch.infer.evaluation.metrics (class-agnostic vessel AP50, rotated IoU, COCO 101-point; AP25
in the (3, 10] m band, which holds both validation ports). All figures are REAL data.

    .venv/bin/python bench/peer_sen2ships.py [--budget-min 15] [--threads 2] [--work runs/peer_sen2ships]
        [--pretrain-min M] [--tta]

``--pretrain-min M`` spends the first M minutes of OUR budget on the pre-training that
configs/sen2ships_pretrain.yaml describes (synthetic ports drawn at Sentinel-2's GSD, then trained on),
the drawing included, and fine-tunes from it for the rest; the peer trains from scratch for the whole
budget, so the pre-training is paid for, not free.

Steps: (1) ``tankerwatch convert`` writes sen2ships as a YOLO-OBB dataset; the peer's copy is then
prepared as its best documented setting needs (bench/peer/README.md: per-scene 1-99 % stretch to 8-bit
PNG, the project's own scaling; upsampled x2; 640 px tiles overlapping by 160 px). (2) ``tankerwatch
fit --config configs/sen2ships.yaml --trainer.max_time=...`` (by default with
bench/peer/time_budget.py, which re-sizes our cosine schedule to the budget after each epoch as
Ultralytics' time= mode re-sizes the peer's), ``tankerwatch export``, then the Detector API on the
validation GeoTIFFs. (3) The peer trains in the separate environment
``.venv-peer`` (Ultralytics ``time=`` budget in hours) and predicts on the upsampled validation
scenes; its oriented boxes become the project's ``[cx, cy, length, width, angle]`` in source pixels.
(4) Both are scored; recall is at each model's operating point (ours DEFAULT_MIN_SCORE, the peer's
default conf 0.25). Each model is scored twice: with the checkpoint its framework selects on the
validation ports (ours: best val AP50; Ultralytics: best.pt, by mAP50-95) and with the last one (no
selection). ``--tta`` scores each also with the project's test-time flips (``detect --tta``), which
the peer gets too: Ultralytics' own ``augment=True`` reverts to a single view for OBB models, so the
worker predicts each scene's mirror images and the project's rule (``flips.fuse_scores``) fuses them.

Ultralytics is never imported here and is no dependency of the project: bench/peer/README.md says how
to create ``.venv-peer``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, gpu_description, read_curve  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The console script beside this Python, else on PATH (a --target install on a lent GPU puts it there).
TW = shutil.which("tankerwatch", path=os.pathsep.join((str(BIN), os.environ.get("PATH", "")))) or str(BIN / "tankerwatch")
PEER_PYTHON = REPO / ".venv-peer" / "bin" / "python"
PEER_WORKER = REPO / "bench" / "peer" / "yolo_obb_worker.py"
CONFIG = REPO / "configs" / "sen2ships.yaml"
PRETRAIN_CONFIG = REPO / "configs" / "sen2ships_pretrain.yaml"
PEER_CONF = 0.25  # Ultralytics' default predict confidence: the peer's operating point
# (detections key suffix, label): as predicted, and with the project's test-time flips (--tta).
MODES = (("", ""), ("_tta", "+flips"))
# Seconds per epoch of configs/sen2ships.yaml on 2 otherwise idle cores, validation included (issue 19
# quotes 1,012 s for 30 epochs; docs/experiments.md 2026-11-26 has 734 s): sizes our cosine schedule
# to the budget, as Ultralytics' time= mode re-sizes its own after the first epoch. On busier cores
# --trainer.max_time stops the run before the schedule ends (the table shows epochs done).
OUR_EPOCH_S = 34.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(argv: list[str], env: dict | None = None, log_path: Path | None = None) -> float:
    """Run a command from the repository root (the config's data paths are relative to it); its
    output goes to ``log_path``. Returns its wall time; raises with the log's tail on failure."""
    log(" ".join(str(a) for a in argv) + (f"  (log: {log_path})" if log_path else ""))
    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log_path or os.devnull, "w") as out:
        code = subprocess.run([str(a) for a in argv], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - start
    if code:
        tail = log_path.read_text()[-3000:] if log_path else ""
        raise SystemExit(f"command failed (exit {code}): {' '.join(map(str, argv))}\n{tail}")
    return wall


def thread_env(threads: int, **extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), **extra}


def split_of_config() -> tuple[Path, list[str], list[str]]:
    """The sen2ships dataset folder and the train/validation image stems of configs/sen2ships.yaml."""
    data = yaml.safe_load(CONFIG.read_text())["data"]
    train, val = data["train"], data["val"]
    if train["path"] != val["path"] or train.get("format") != "coco":
        raise SystemExit(f"{CONFIG}: expected one COCO dataset split by image; got {train} / {val}")
    return (REPO / train["path"]).resolve(), list(train["images"]), list(val["images"])


# ----- (1) data -----------------------------------------------------------------------------------

def tile_origins(size: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one axis, evenly spread from 0 to flush with the far edge, overlapping by at
    least ``overlap`` px."""
    if size <= tile:
        return [0]
    count = math.ceil((size - tile) / (tile - overlap)) + 1
    return [round(i * (size - tile) / (count - 1)) for i in range(count)]


def prepare_peer_data(converted: Path, out: Path, train: list[str], val: list[str], upsample: float,
                      tile: int, overlap: int) -> dict:
    """The peer's dataset from the ``tankerwatch convert`` output: stretched 8-bit PNGs, upsampled,
    cut into tiles with YOLO-OBB labels (one class, ``ship``), plus the whole upsampled validation
    scenes for prediction. A vessel goes into a tile's labels when at least half its box lies in the
    tile (the clipped part's minimum-area rectangle); overlap >= the longest vessel means every
    vessel is whole in some tile."""
    import cv2
    import shapely
    from PIL import Image

    from tankerwatch.infer.core.boxes import box_corners, boxes_to_polygons, min_area_box
    from tankerwatch.infer.formats.dataset import read_dataset
    from tankerwatch.infer.runtime.raster import read_image
    from tankerwatch.infer.runtime.scaling import Scaling, to_uint8

    scaling = Scaling.from_dict(yaml.safe_load(CONFIG.read_text())["data"]["scaling"])
    dataset = read_dataset(converted, fmt="yolo-obb")
    by_stem = {Path(im.image_path).stem: im for im in dataset.images}
    if out.exists():
        shutil.rmtree(out)
    counts = {"train": [0, 0], "val": [0, 0]}  # tiles, labelled vessels
    longest = 0.0
    for role, stems in (("train", train), ("val", val)):
        (out / role / "images").mkdir(parents=True)
        (out / role / "labels").mkdir(parents=True)
        for stem in stems:
            image = by_stem[stem]
            lo, hi = scaling.scene_limits(image.image_path)
            pixels = to_uint8(read_image(image.image_path, bands=scaling.bands), lo, hi).transpose(1, 2, 0)
            height, width = round(image.height * upsample), round(image.width * upsample)
            # cv2's resize aligns pixel centres, so a point of the corner frame scales exactly by upsample.
            big = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_LINEAR)
            boxes = image.boxes().copy()
            boxes[:, :4] *= upsample
            longest = max(longest, float(boxes[:, 2].max()) if len(boxes) else 0.0)
            polygons = boxes_to_polygons(boxes)
            if role == "val":
                (out / "val-full").mkdir(exist_ok=True)
                Image.fromarray(big).save(out / "val-full" / f"{stem}.png")
            for y0 in tile_origins(height, tile, overlap):
                for x0 in tile_origins(width, tile, overlap):
                    th, tw = min(tile, height), min(tile, width)
                    window = shapely.box(x0, y0, x0 + tw, y0 + th)
                    lines = []
                    for box, polygon in zip(boxes, polygons, strict=True):
                        part = polygon.intersection(window)
                        if part.is_empty or part.area < 0.5 * polygon.area:
                            continue
                        if part.area < polygon.area * (1 - 1e-9):  # clipped by the tile's edge
                            box = min_area_box(np.asarray(part.exterior.coords))
                        corners = (box_corners(box) - (x0, y0)) / (tw, th)
                        lines.append("0 " + " ".join(f"{v:.6f}" for v in np.clip(corners, 0, 1).reshape(-1)))
                    name = f"{stem}_{x0}_{y0}"
                    Image.fromarray(big[y0:y0 + th, x0:x0 + tw]).save(out / role / "images" / f"{name}.png")
                    (out / role / "labels" / f"{name}.txt").write_text("".join(f"{line}\n" for line in lines))
                    counts[role][0] += 1
                    counts[role][1] += len(lines)
    if longest > overlap:
        log(f"warning: the longest vessel is {longest:.0f} px after upsampling, more than the tile overlap {overlap}")
    data_yaml = {"path": str(out.resolve()), "train": "train/images", "val": "val/images", "names": {0: "ship"}}
    (out / "data.yaml").write_text(yaml.safe_dump(data_yaml, sort_keys=False))
    return {"tiles": counts, "longest_vessel_px": longest, "data_yaml": str(out / "data.yaml")}


# ----- (2) ours -----------------------------------------------------------------------------------

def our_detections(onnx: Path, truth, threads: int, tta: bool = False) -> dict:
    """Every detection (min_score 0) of the exported model on each validation scene, through the
    Detector API (``tta``: with test-time flips): ``box_px`` is already ``[cx, cy, L, W, angle]`` in
    source pixels."""
    from tankerwatch.infer import Detector

    detector = Detector(onnx, device="cpu", threads=threads, min_score=0.0, tta=tta)
    out = {}
    for image in truth:
        found = detector.detect(image.image_path)
        out[Path(image.image_path).stem] = {"boxes": [r["box_px"] for r in found.records],
                                            "scores": [r["score"] for r in found.records],
                                            "notes": found.notes}
    return out


def our_runs(onnx: Path, args) -> dict:
    """Ours' detections of one exported model on the validation scenes, timed: as they are, and
    with test-time flips too where ``--tta`` asks."""
    out = {}
    for key, tta in (("", False), ("_tta", True)):
        if tta and not args.tta:
            continue
        start = time.perf_counter()
        out[f"detections{key}"] = our_detections(onnx, args.truth, args.threads, tta=tta)
        out[f"detect{key}_s"] = time.perf_counter() - start
    return out


def max_time(seconds: float) -> str:
    """Lightning's ``--trainer.max_time`` for a budget of ``seconds``."""
    budget = int(round(seconds))
    return f"00:{budget // 3600:02d}:{budget % 3600 // 60:02d}:{budget % 60:02d}"


def fit_command(args, config: Path, seconds: float, epochs: int, folder: Path, name: str) -> tuple[list, dict]:
    """Command and environment of ``tankerwatch fit`` of ``config`` under a wall-clock budget of
    ``seconds`` (re-sized as the peer's when ``--our-schedule time``), logging to ``folder/name``
    and checkpointing to ``folder/checkpoints``, whose checkpoints of an earlier run it removes."""
    argv = [TW, "fit", "--config", config, f"--trainer.max_time={max_time(seconds)}", "--trainer.max_epochs", str(epochs),
            "--seed_everything", str(args.seed), "--trainer.enable_progress_bar", "false",
            "--trainer.logger", json.dumps([{"class_path": "lightning.pytorch.loggers.CSVLogger",
                                             "init_args": {"save_dir": str(folder), "name": name}}]),
            "--checkpoint.dirpath", folder / "checkpoints", "--trainer.callbacks+=tankerwatch.train.callbacks.ElapsedTime",
            "--trainer.accelerator", "gpu" if args.device == "cuda" else "cpu"]
    env = thread_env(args.threads)
    if args.our_schedule == "time":
        # Re-size our schedule to the budget after each epoch, as Ultralytics' time= mode does its own.
        argv.append("--trainer.callbacks+=" + json.dumps({"class_path": "time_budget.TimeBudgetSchedule",
                                                          "init_args": {"seconds": seconds}}))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "bench" / "peer"), env.get("PYTHONPATH")) if p)
    if (folder / "checkpoints").exists():
        shutil.rmtree(folder / "checkpoints")
    return argv, env


def metrics_csv(folder: Path, name: str) -> Path:
    """The CSV log of the latest run logged to ``folder/name``."""
    versions = sorted((folder / name).glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    return versions[-1] / "metrics.csv"


def pretrain_ours(args, work: Path) -> dict:
    """The first ``--pretrain-min`` of our budget: synthetic ports at Sentinel-2's GSD drawn
    (configs/sen2ships_pretrain.yaml's header gives the command), then that config trained on them
    for what is left of those minutes. Both count against our budget; nothing real is seen."""
    folder = work / "pretrain"
    tiles = folder / "synthetic_s2"
    seconds = args.pretrain_min * 60
    tiles_s = run([TW, "synth", "tiles", tiles, "--count", str(args.pretrain_tiles), "--size", "256", "--gsd", "5.8:10",
                   "--dtype", "uint16", "--format", "coco", "--seed", "3", "--overwrite", "--threads", str(args.threads)],
                  thread_env(args.threads), folder / "synth.log")
    if tiles_s >= seconds:
        raise SystemExit(f"--pretrain-min {args.pretrain_min:g}: drawing the tiles alone took {tiles_s:.0f} s")
    argv, env = fit_command(args, PRETRAIN_CONFIG, seconds - tiles_s,
                            yaml.safe_load(PRETRAIN_CONFIG.read_text())["trainer"]["max_epochs"], folder, "peer_bench_pretrain")
    argv += ["--data.train", tiles / "train", "--data.val", tiles / "val"]
    fit_s = run(argv, env, folder / "fit.log")
    checkpoint = folder / "checkpoints" / "last.ckpt"
    if not checkpoint.exists():
        raise SystemExit(f"{checkpoint}: no checkpoint after pre-training")
    epochs = len(read_curve(metrics_csv(folder, "peer_bench_pretrain"), ["val/vessel_AP50"]))
    log(f"ours: pre-trained {epochs} epochs on {args.pretrain_tiles} synthetic tiles in {tiles_s + fit_s:.0f} s "
        f"(tiles {tiles_s:.0f} s, fit {fit_s:.0f} s)")
    return {"tiles": args.pretrain_tiles, "tiles_s": tiles_s, "fit_s": fit_s, "wall_s": tiles_s + fit_s,
            "epochs_done": epochs, "checkpoint": str(checkpoint)}


def train_ours(args, work: Path) -> dict:
    pretrained = pretrain_ours(args, work) if args.pretrain_min else None
    # What the pre-training took, drawing included, comes off our budget: the peer gets the whole.
    seconds = args.budget_min * 60 - (pretrained["wall_s"] if pretrained else 0.0)
    epochs = args.our_epochs or max(1, math.floor(seconds / OUR_EPOCH_S))
    name = "peer_bench_ours"
    ckpt_dir = work / "ours" / "checkpoints"
    argv, env = fit_command(args, CONFIG, seconds, epochs, work / "ours", name)
    if pretrained:
        argv += ["--model.init_from", pretrained["checkpoint"]]
    argv += args.our_arg
    load_before = os.getloadavg()
    wall = run(argv, env, work / "ours" / "fit.log")
    load_after = os.getloadavg()
    curve = read_curve(metrics_csv(work / "ours", name), ["time/elapsed_s", "val/vessel_AP50"])
    result = {"train_wall_s": wall + (pretrained["wall_s"] if pretrained else 0.0), "fine_tune_wall_s": wall,
              "pretrained": pretrained, "load_avg_before": load_before, "load_avg_after": load_after,
              "max_time": max_time(seconds), "max_epochs": epochs, "schedule": args.our_schedule,
              "epochs_done": len(curve), "curve": curve, "checkpoints": {}}
    steps = {}
    for which in ("best", "last"):
        found = sorted(ckpt_dir.glob("best-*.ckpt" if which == "best" else "last.ckpt"))
        if not found and which == "best":
            # The budget ran out before the first validation: nothing was selected.
            found = sorted(ckpt_dir.glob("last.ckpt"))
            log("ours: no best-*.ckpt (no validation finished within the budget); scoring last.ckpt as 'best'")
        if not found:
            raise SystemExit(f"{ckpt_dir}: no checkpoint after fit")
        steps[which] = checkpoint_step(found[-1])
        if which == "last" and steps["last"] == steps["best"]:
            # The best checkpoint is the last epoch's: the same weights, exported and run once.
            result["checkpoints"]["last"] = {**result["checkpoints"]["best"], "checkpoint": found[-1].name}
            continue
        onnx = work / "ours" / f"{which}.onnx"
        export_s = run([TW, "export", found[-1], "-o", onnx, "--overwrite"], thread_env(args.threads),
                       work / "ours" / f"export_{which}.log")
        result["checkpoints"][which] = {"checkpoint": found[-1].name, "global_step": steps[which],
                                        "export_s": export_s, **our_runs(onnx, args)}
    return result


def checkpoint_step(path: Path) -> int | None:
    """The optimiser step a Lightning checkpoint was saved at."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=False).get("global_step")


# ----- (3) the peer -------------------------------------------------------------------------------

def peer_boxes(rows: list[list[float]], upsample: float) -> tuple[np.ndarray, np.ndarray]:
    """Ultralytics OBB rows ``[cx, cy, w, h, r, conf]`` (pixels of the upsampled scene; ``r`` turns
    the ``w`` axis from +x towards +y, as the project's angle does) -> the project's boxes
    ``[cx, cy, L, W, angle]`` in source pixels (L >= W, angle in [-pi/2, pi/2)) and scores."""
    from tankerwatch.infer.core.boxes import normalize_boxes

    if not rows:
        return np.zeros((0, 5)), np.zeros(0)
    a = np.asarray(rows, dtype=np.float64)
    boxes = a[:, :5].copy()
    boxes[:, :4] /= upsample
    return normalize_boxes(boxes), a[:, 5]


def peer_flipped(predicted: dict, upsample: float) -> tuple[np.ndarray, np.ndarray]:
    """One scene's peer rows and those of its three mirror images (the worker's ``--flips``) mapped
    back to the scene and fused by the project's own rule (``flips.fuse_scores``), as at most as
    many rows as one view gave: the project's boxes in source pixels and their fused scores."""
    from tankerwatch.infer.runtime.flips import fuse_scores, unmirror_boxes

    width, height = predicted["size"]
    views = [(False, False, predicted["xywhr_conf"])]
    views += [(m["left_right"], m["top_bottom"], m["xywhr_conf"]) for m in predicted["mirrored"]]
    boxes, scores = [], []
    for left_right, top_bottom, rows in views:
        view_boxes, view_scores = peer_boxes(rows, 1.0)  # the upsampled scene's pixels: what was mirrored
        boxes.append(unmirror_boxes(view_boxes, width, height, left_right, top_bottom))
        scores.append(view_scores)
    picked, fused = fuse_scores(boxes, scores)
    most = max(len(s) for s in scores)
    fused_boxes = np.concatenate(boxes)[picked[:most]]
    fused_boxes[:, :4] /= upsample
    return fused_boxes, fused[:most]


def train_peer(args, work: Path, prepared: dict) -> dict:
    if not args.peer_python.exists():
        raise SystemExit(f"{args.peer_python} is missing: create the peer's environment as bench/peer/README.md says")
    peer_dir = work / "peer"
    if (peer_dir / "train").exists():
        shutil.rmtree(peer_dir / "train")
    env = peer_env(args, work)
    out = peer_dir / "train.json"
    load_before = os.getloadavg()
    wall = run([args.peer_python, PEER_WORKER, "train", "--data", prepared["data_yaml"], "--project", peer_dir.resolve(),
                "--hours", f"{args.budget_min / 60:.6f}", "--workers", str(args.peer_workers), *peer_device(args),
                "-o", out],
               env, peer_dir / "train.log")
    load_after = os.getloadavg()
    trained = json.loads(out.read_text())
    result = {"train_wall_s": wall, "load_avg_before": load_before, "load_avg_after": load_after,
              "trained": trained, "checkpoints": {}}
    for which in ("best", "last"):
        if which == "last" and trained["best_is_last"]:
            result["checkpoints"]["last"] = {**result["checkpoints"]["best"], "checkpoint": Path(trained["last"]).name}
            continue
        result["checkpoints"][which] = peer_detections(args, work, Path(trained[which]), which)
    return result


def peer_device(args) -> list[str]:
    """The worker's ``--device``: Ultralytics names the first GPU ``0``."""
    return ["--device", "0" if args.device == "cuda" else "cpu"]


def peer_env(args, work: Path) -> dict:
    (work / "peer" / "config").mkdir(parents=True, exist_ok=True)
    return thread_env(args.threads, YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str((work / "peer" / "config").resolve()))


def peer_detections(args, work: Path, weights: Path, tag: str) -> dict:
    """The peer's detections on the whole upsampled validation scenes, as the project's boxes in
    source pixels (:func:`peer_boxes`); with ``--tta`` also with the project's test-time flips
    (:func:`peer_flipped`)."""
    stems = [Path(im.image_path).stem for im in args.truth]
    images = [work / "peer-data" / "val-full" / f"{stem}.png" for stem in stems]
    pred = work / "peer" / f"predict_{tag}.json"
    run([args.peer_python, PEER_WORKER, "predict", "--weights", weights, "--images", *images, *peer_device(args),
         *(["--flips"] if args.tta else []), "-o", pred],
        peer_env(args, work), work / "peer" / f"predict_{tag}.log")
    predicted = json.loads(pred.read_text())
    detections, flipped = {}, {}
    for stem in stems:
        boxes, scores = peer_boxes(predicted["images"][stem]["xywhr_conf"], args.upsample)
        detections[stem] = {"boxes": boxes.tolist(), "scores": scores.tolist()}
        if args.tta:
            boxes, scores = peer_flipped(predicted["images"][stem], args.upsample)
            flipped[stem] = {"boxes": boxes.tolist(), "scores": scores.tolist()}
    out = {"checkpoint": weights.name, "detect_s": predicted["predict_s"], "detections": detections,
           "network_attempts": predicted["network_attempts"]}
    if args.tta:
        out.update(detections_tta=flipped, detect_tta_s=predicted["predict_s"] + predicted["mirrored_predict_s"])
    return out


def score_checkpoints(args, work: Path) -> int:
    """Score one checkpoint of each model trained elsewhere (``--score-checkpoints``): ours exported
    and run here, the peer's predicted here, both scored as a training run scores them."""
    from tankerwatch.infer.runtime.detect import DEFAULT_MIN_SCORE

    ours_ckpt, peer_weights = (Path(p).resolve() for p in args.score_checkpoints)
    onnx = work / "ours" / "scored.onnx"
    run([TW, "export", ours_ckpt, "-o", onnx, "--overwrite"], thread_env(args.threads), work / "ours" / "export_scored.log")
    ours = our_runs(onnx, args)
    peer = peer_detections(args, work, peer_weights, "scored")
    rows = {}
    for side, checkpoint, found, point in (("ours", ours_ckpt, ours, DEFAULT_MIN_SCORE),
                                           ("peer", peer_weights, peer, PEER_CONF)):
        for mode, label in MODES:
            if f"detections{mode}" in found:
                rows[side + label] = (checkpoint, score(args.truth, found[f"detections{mode}"], point))
    (work / "scored.json").write_text(json.dumps({k: {"checkpoint": str(c), **f} for k, (c, f) in rows.items()},
                                                 indent=1) + "\n")
    print(f"\n== sen2ships (REAL data): checkpoints trained elsewhere, scored on {len(args.truth)} validation "
          f"ports here ==")
    print(f"{'model':<10} {'checkpoint':<44} {'AP50':>6} {'AP50:95':>7} {'AP25 3-10m':>10} {'op':>5} "
          f"{'recall@op':>9} {'prec@op':>7} {'dets@op':>7}")
    for side, (checkpoint, f) in rows.items():
        print(f"{side:<10} {str(checkpoint)[-44:]:<44} {fmt(f['AP50']):>6} {fmt(f['AP50_95']):>7} "
              f"{fmt(f['AP25_3_10']):>10} {f['operating_point']:5.2f} {fmt(f['recall_at_op']):>9} "
              f"{fmt(f['precision_at_op']):>7} {f['detections_at_op']:>7}")
    for _, label in MODES[:2 if args.tta else 1]:
        ours_ap, peer_ap = rows["ours" + label][1]["AP50"], rows["peer" + label][1]["AP50"]
        print(f"AP50 ratio ours / YOLO11n-obb{label and ', both with flips'}: "
              f"{'n/a' if not peer_ap else f'{ours_ap / peer_ap:.2f}'} (target >= 1.5)")
    return 0


# ----- (4) scoring --------------------------------------------------------------------------------

def score(truth, detections: dict, operating_point: float) -> dict:
    """The project's figures for one model on the validation images, plus recall and precision at
    IoU 0.5 among the detections scoring at least ``operating_point`` (matched as the AP is)."""
    from tankerwatch.infer.core.boxes import rotated_iou
    from tankerwatch.infer.evaluation.metrics import DetectionEvaluator, match_detections

    evaluator = DetectionEvaluator()
    found = positives = kept = 0
    for image in truth:
        det = detections[Path(image.image_path).stem]
        boxes = np.asarray(det["boxes"], dtype=np.float64).reshape(-1, 5)
        scores = np.asarray(det["scores"], dtype=np.float64)
        # Detection only: type and load are not compared (sen2ships labels neither).
        uniform = np.full((len(boxes), 2), 0.5)
        evaluator.add(image, boxes, scores, uniform, uniform)
        keep = scores >= operating_point
        order = np.argsort(-scores[keep], kind="mergesort")
        difficult = np.array([v.difficult for v in image.vessels], dtype=bool)
        matched, ignored = match_detections(rotated_iou(boxes[keep][order], image.boxes()), difficult, [0.5])
        found += int(np.count_nonzero((matched[0] >= 0) & ~ignored[0]))
        kept += int(np.count_nonzero(~ignored[0]))
        positives += int(np.count_nonzero(~difficult))
    figures = evaluator.compute()
    return {"AP50": figures["vessel_AP50"], "AP50_95": figures["vessel_AP50_95"],
            "AP25_3_10": figures.get("vessel_AP25.gsd_3_10"), "n_truth": figures["n_truth"],
            "n_truth_3_10": figures.get("n_truth.gsd_3_10"), "operating_point": operating_point,
            "recall_at_op": found / positives if positives else None,
            "precision_at_op": found / kept if kept else None, "detections_at_op": kept}


def loop_seconds(side: str, result: dict) -> float | None:
    """Seconds of the training loop alone (validation included, start-up excluded): what each
    framework's own budget clock counts. Ours from ElapsedTime, the peer's from its results.csv."""
    if side == "ours":
        times = [row["time/elapsed_s"] for row in result["curve"] if "time/elapsed_s" in row]
        return times[-1] if times else None
    rows = result["trained"]["results_csv"]
    if len(rows) < 2:
        return None
    header = rows[0].split(",")
    return float(rows[-1].split(",")[header.index("time")]) if "time" in header else None


def fmt(value, spec=".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-min", type=float, default=15.0,
                        help="wall-clock training budget of EACH model, minutes (default 15)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for each model (default 2)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "peer_sen2ships",
                        help="working folder (default runs/peer_sen2ships; replaced stage by stage)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--our-epochs", type=int, default=None,
                        help=f"our max_epochs (default: budget / {OUR_EPOCH_S:g} s per epoch, at least 1; "
                             "with --our-schedule time only until the first epoch ends)")
    parser.add_argument("--our-schedule", choices=("time", "fixed"), default="time",
                        help="time (default): after each epoch, re-size max_epochs and our cosine schedule to "
                             "what fits in the budget (bench/peer/time_budget.py), as Ultralytics' time= does "
                             "for the peer; fixed: the schedule of --our-epochs, cut by max_time")
    parser.add_argument("--pretrain-min", type=float, default=0.0,
                        help="spend this many minutes of OUR budget pre-training on synthetic ports at Sentinel-2's "
                             "GSD (configs/sen2ships_pretrain.yaml; drawing the tiles counts), then fine-tune for "
                             "the rest; the peer still trains from scratch for the whole budget (default 0: none)")
    parser.add_argument("--pretrain-tiles", type=int, default=1200,
                        help="synthetic tiles drawn for --pretrain-min (default 1200)")
    parser.add_argument("--upsample", type=float, default=2.0, help="the peer's upsampling factor (default 2)")
    parser.add_argument("--tile", type=int, default=640, help="the peer's tile and imgsz, px (default 640)")
    parser.add_argument("--overlap", type=int, default=160, help="the peer's tile overlap, px (default 160)")
    parser.add_argument("--peer-workers", type=int, default=2,
                        help="Ultralytics data-loader workers (default 2: its default 8, capped at the CPU count)")
    parser.add_argument("--our-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for our 'tankerwatch fit' (repeatable), e.g. "
                             "--our-arg=--data.samples_per_epoch=16 for a smoke run")
    parser.add_argument("--skip", choices=("ours", "peer"), action="append", default=[],
                        help="reuse that model's results from a previous run in --work instead of training it")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where both models train (and the peer predicts); ours is always run through "
                             "onnxruntime on the CPU (default cpu)")
    parser.add_argument("--parallel", action="store_true",
                        help="train both models at once (each with --threads), sharing the device: for a lent "
                             "GPU, whose lease is shorter than two budgets one after the other")
    parser.add_argument("--score-checkpoints", nargs=2, metavar=("OURS.ckpt", "PEER.pt"),
                        help="train nothing: score these two checkpoints (e.g. trained on a lent GPU whose "
                             "torch cannot export ours) on the validation ports")
    parser.add_argument("--tta", action="store_true",
                        help="also run both models with the project's test-time flips (each scene or tile mirrored "
                             "left-right, top-bottom and both; each vessel's score the mean of its four: "
                             "tankerwatch.infer.runtime.flips) and score those too; Ultralytics has no test-time "
                             "augmentation for OBB models, so the peer gets the project's")
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON,
                        help="the Python that has Ultralytics (default .venv-peer/bin/python)")
    args = parser.parse_args()
    if not 0 <= args.pretrain_min < args.budget_min:
        parser.error(f"--pretrain-min must be in [0, --budget-min), got {args.pretrain_min:g}")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    total_start = time.perf_counter()
    order = "trained at the same time" if args.parallel else "trained one after the other"
    cpu = f"CPU: {cpu_description()}; {args.threads} threads per model, models {order}; device {args.device}"
    if args.device == "cuda":
        cpu += f" ({gpu_description()})"
    log(cpu)

    from tankerwatch.infer.formats.dataset import read_dataset
    from tankerwatch.infer.runtime.detect import DEFAULT_MIN_SCORE

    source, train_stems, val_stems = split_of_config()
    coco = read_dataset(source, fmt="coco")
    args.truth = [im for im in coco.images if Path(im.image_path).stem in val_stems]
    n_val = sum(len(im.vessels) for im in args.truth)
    log(f"train ports {', '.join(train_stems)}; validation ports {', '.join(val_stems)} ({n_val} vessels)")

    # (1) data: convert with the project's own command, then prepare the peer's tiles from it.
    converted = work / "sen2ships-yolo-obb"
    run([TW, "convert", source, "-o", converted, "--to", "yolo-obb", "--overwrite"], log_path=work / "convert.log")
    prepared = prepare_peer_data(converted, work / "peer-data", train_stems, val_stems, args.upsample,
                                 args.tile, args.overlap)
    log(f"peer data: {prepared['tiles']} (tiles, labelled vessels) per split; "
        f"longest vessel {prepared['longest_vessel_px']:.0f} px at x{args.upsample:g}")

    if args.score_checkpoints:
        return score_checkpoints(args, work)
    results_path = work / "results.json"
    previous = json.loads(results_path.read_text()) if results_path.exists() else {}
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                           text=True).stdout.splitlines()
    results = {"cpu": cpu, "budget_min": args.budget_min, "threads": args.threads, "prepared": prepared,
               "commit": git.stdout.strip(), "modified_tracked_files": len(dirty), "argv": sys.argv[1:]}
    log(f"commit {results['commit']} with {len(dirty)} modified tracked files in the working tree")
    for side in args.skip:
        if side not in previous:
            raise SystemExit(f"--skip {side}: {results_path} holds no earlier '{side}' results")
        results[side] = previous[side]
        log(f"{side}: reusing the results in {results_path} (budget {previous.get('budget_min')} min)")
    jobs = {"ours": lambda: train_ours(args, work), "peer": lambda: train_peer(args, work, prepared)}
    jobs = {side: job for side, job in jobs.items() if side not in args.skip}
    if args.parallel:
        # Each side's results are kept as it finishes, so a failure of one (e.g. an export) leaves
        # the other's for --skip.
        with ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
            futures = {pool.submit(job): side for side, job in jobs.items()}
            failures = []
            for future in as_completed(futures):
                try:
                    results[futures[future]] = future.result()
                except BaseException as exc:  # SystemExit from run() too
                    failures.append(exc)
                    continue
                results_path.write_text(json.dumps({**previous, **results}, indent=1) + "\n")
        if failures:
            raise failures[0]
    else:
        for side, job in jobs.items():
            results[side] = job()
            results_path.write_text(json.dumps({**previous, **results}, indent=1) + "\n")

    # (4) score both with the project's scorer.
    points = {"ours": DEFAULT_MIN_SCORE, "peer": PEER_CONF}
    scored = {(side, which + label): score(args.truth, results[side]["checkpoints"][which][f"detections{mode}"],
                                           points[side])
              for side in ("ours", "peer") for mode, label in MODES for which in ("best", "last")
              if f"detections{mode}" in results[side]["checkpoints"][which]}
    results["scores"] = {f"{side}/{which}": figures for (side, which), figures in scored.items()}
    results["total_wall_s"] = time.perf_counter() - total_start
    results_path.write_text(json.dumps(results, indent=1) + "\n")

    names = {"ours": "tankerwatch sen2ships.yaml", "peer": "YOLO11n-obb (scratch)"}
    print("train_s: wall time of the training commands (start-up included; ours: pre-training included); "
          "loop_s: the (fine-tuning) training loop with validation, as its own budget clock counts")
    print(f"\n== sen2ships (REAL data): train {len(train_stems)} ports, score {', '.join(val_stems)} "
          f"({n_val} vessels); budget {args.budget_min:g} min per model ==")
    print(cpu)
    print(f"{'model':<27} {'ckpt':<11} {'train_s':>7} {'loop_s':>6} {'epochs':>6} {'AP50':>6} {'AP50:95':>7} "
          f"{'AP25 3-10m':>10} {'op':>5} {'recall@op':>9} {'prec@op':>7} {'dets@op':>7}")
    for (side, which), f in scored.items():
        r = results[side]
        epochs = r["epochs_done"] if side == "ours" else r["trained"]["epochs_done"]
        print(f"{names[side]:<27} {which:<11} {r['train_wall_s']:7.0f} {fmt(loop_seconds(side, r), '6.0f'):>6} "
              f"{epochs:>6} {fmt(f['AP50']):>6} "
              f"{fmt(f['AP50_95']):>7} {fmt(f['AP25_3_10']):>10} {f['operating_point']:5.2f} "
              f"{fmt(f['recall_at_op']):>9} {fmt(f['precision_at_op']):>7} {f['detections_at_op']:>7}")
    for side in ("ours", "peer"):
        r = results[side]
        planned = f"first max_epochs {r['max_epochs']}, schedule {r.get('schedule')}, " if side == "ours" else ""
        if side == "ours" and r.get("pretrained"):
            p = r["pretrained"]
            planned += (f"pre-trained {p['epochs_done']} epochs on {p['tiles']} synthetic tiles in {p['wall_s']:.0f} s "
                        f"of the budget (drawing {p['tiles_s']:.0f} s), fine-tuned {r['fine_tune_wall_s']:.0f} s, ")
        chosen = ", ".join(f"{w}: {c['checkpoint']}" for w, c in r["checkpoints"].items())
        seconds = ", ".join(f"{w} {c['detect_s']:.0f} s" + (f" ({c['detect_tta_s']:.0f} s with flips)"
                                                          if "detect_tta_s" in c else "")
                            for w, c in r["checkpoints"].items())
        chosen += f"; detection {seconds}"
        print(f"{names[side]}: {planned}{chosen}; load average before/after training "
              f"{'/'.join(f'{v:.1f}' for v in r['load_avg_before'])} -> "
              f"{'/'.join(f'{v:.1f}' for v in r['load_avg_after'])}")
    for which in ("best", "last", "best+flips", "last+flips"):
        if ("ours", which) not in scored or ("peer", which) not in scored:
            continue
        ours, peer = scored[("ours", which)]["AP50"], scored[("peer", which)]["AP50"]
        ratio = "n/a" if not peer or ours is None else f"{ours / peer:.2f}"
        print(f"AP50 ratio ours / YOLO11n-obb ({which} checkpoints): {ratio} (target >= 1.5)")
    attempts = [a for which in ("best", "last") for a in results["peer"]["checkpoints"][which]["network_attempts"]]
    attempts += results["peer"]["trained"]["network_attempts"]
    print(f"peer network attempts refused: {len(attempts)}; total wall time {results['total_wall_s']:.0f} s; "
          f"details: {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
