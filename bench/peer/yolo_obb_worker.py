"""The peer side of bench/peer_sen2ships.py: train or run Ultralytics YOLO11n-obb, offline.

Runs ONLY in the separate benchmark environment ``.venv-peer`` (see bench/peer/README.md); it never
imports tankerwatch and tankerwatch never imports it. Three subcommands, JSON in and out:

    .venv-peer/bin/python bench/peer/yolo_obb_worker.py train --data D/data.yaml --project P --hours H
    .venv-peer/bin/python bench/peer/yolo_obb_worker.py predict --weights W --images a.png b.png [--flips] -o out.json
    .venv-peer/bin/python bench/peer/yolo_obb_worker.py export --onnx peer.onnx --imgsz 1024 -o out.json

``export`` (for bench/latency_peer.py) writes the raw network of a YOLO11n-obb built from its YAML
(random weights: speed does not depend on them) as ONNX, no NMS, batch 1, with Ultralytics' own
exporter and ``simplify=False`` (onnxslim would be auto-installed); it needs the ``onnx`` package
(bench/peer/requirements.txt). ``YOLO_AUTOINSTALL`` should be ``False`` so a missing requirement
fails instead of being installed.

Offline by construction: ``YOLO_OFFLINE=1`` and a private ``YOLO_CONFIG_DIR`` must be set by the
caller; settings ``sync`` (analytics) is turned off; the model is built from ``yolo11n-obb.yaml``
with ``pretrained=False`` and ``amp=False`` (the AMP check would fetch yolo11n.pt); the dataset
check's font lookup (only used to draw plots, and plots are off) is disabled. On top of that a guard
refuses every IPv4/IPv6 connection and host-name lookup in this process and its data-loader workers,
and the output JSON reports how many were attempted (0 expected), so a hidden download fails loudly
instead of silently hanging on a timeout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
import time
from pathlib import Path

NETWORK_ATTEMPTS: list[str] = []


def _guard_network() -> None:
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            NETWORK_ATTEMPTS.append(f"connect {address}")
            raise OSError(f"network disabled by bench/peer/yolo_obb_worker.py (connect {address})")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in (None, "localhost", "127.0.0.1", "::1"):
            NETWORK_ATTEMPTS.append(f"getaddrinfo {host}")
            raise socket.gaierror(f"network disabled by bench/peer/yolo_obb_worker.py (lookup {host})")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.getaddrinfo = getaddrinfo


def _ultralytics():
    if os.environ.get("YOLO_OFFLINE") != "1" or not os.environ.get("YOLO_CONFIG_DIR"):
        sys.exit("yolo_obb_worker: set YOLO_OFFLINE=1 and YOLO_CONFIG_DIR (bench/peer_sen2ships.py does)")
    _guard_network()
    import ultralytics
    import ultralytics.data.utils
    from ultralytics.utils import SETTINGS

    SETTINGS.update({"sync": False})
    # check_det_dataset() looks for Arial.ttf and downloads it when missing; it only labels plots.
    ultralytics.data.utils.check_font = lambda *args, **kwargs: None
    _read_results_without_polars()
    return ultralytics


def _read_results_without_polars() -> None:
    """Where polars is missing (the lent GPU's image: its 54 MB wheel does not fit the transfer
    limit), read the copy of results.csv that every saved checkpoint embeds with the csv module;
    nothing else in a training run without plots uses polars."""
    try:
        import polars  # noqa: F401
    except ImportError:
        import csv

        from ultralytics.engine.trainer import BaseTrainer

        def read_results_csv(self) -> dict:
            try:
                rows = list(csv.DictReader(self.csv.read_text().splitlines()))
            except OSError:
                return {}
            return {key.strip(): [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}

        BaseTrainer.read_results_csv = read_results_csv


# The peer's exact training settings; everything not named here is the Ultralytics default.
TRAIN_SETTINGS = dict(imgsz=640, batch=16, pretrained=False, amp=False, plots=False, seed=0,
                      deterministic=True, val=True, exist_ok=True, verbose=False)


def train(args) -> dict:
    ultralytics = _ultralytics()
    model = ultralytics.YOLO("yolo11n-obb.yaml", task="obb")  # from the model YAML: random weights
    settings = dict(TRAIN_SETTINGS, data=str(args.data), project=str(args.project), name="train",
                    time=args.hours, epochs=args.epochs, workers=args.workers, device=args.device)
    start = time.perf_counter()
    model.train(**settings)
    wall = time.perf_counter() - start
    save_dir = Path(model.trainer.save_dir)
    rows = (save_dir / "results.csv").read_text().strip().splitlines() if (save_dir / "results.csv").exists() else []
    best, last = save_dir / "weights" / "best.pt", save_dir / "weights" / "last.pt"
    return {"ultralytics": ultralytics.__version__, "settings": settings, "train_call_s": wall,
            "epochs_done": max(0, len(rows) - 1), "best": str(best), "last": str(last),
            "best_is_last": _same_weights(best, last), "results_csv": rows, "network_attempts": NETWORK_ATTEMPTS}


def _same_weights(a: Path, b: Path) -> bool:
    import torch

    weights = [torch.load(p, map_location="cpu", weights_only=False)["model"].state_dict() for p in (a, b)]
    return weights[0].keys() == weights[1].keys() and all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def predict(args) -> dict:
    ultralytics = _ultralytics()
    import cv2
    import numpy as np
    from ultralytics.utils import nms

    # Rotated NMS compares every candidate with every other: Ultralytics' default pool of 30,000
    # candidates per image (what a barely trained model gives over a whole scene at conf 0.001) needs
    # about 8 GB and many minutes. Only the top --max-nms by score enter NMS (Ultralytics' own
    # max_nms mechanism, lowered); what lies below them could only add to the far tail of the
    # precision-recall curve.
    full_nms = nms.non_max_suppression

    def capped_nms(*nms_args, **nms_kwargs):
        nms_kwargs["max_nms"] = min(nms_kwargs.get("max_nms", 30000), args.max_nms)
        return full_nms(*nms_args, **nms_kwargs)

    nms.non_max_suppression = capped_nms
    model = ultralytics.YOLO(str(args.weights), task="obb")

    def rows_of(image, size) -> list[list[float]]:
        result = model.predict(image, imgsz=size, conf=args.conf, iou=args.iou, max_det=args.max_det,
                               device=args.device, verbose=False)[0]
        obb = result.obb
        return [] if obb is None else [[*map(float, box), float(c)]
                                       for box, c in zip(obb.xywhr.tolist(), obb.conf.tolist(), strict=True)]

    out = {}
    plain_s = flips_s = 0.0
    for path in args.images:
        image = cv2.imread(str(path))  # BGR, as Ultralytics reads a path itself
        height, width = image.shape[:2]
        # The whole (upsampled) scene at its own scale: a rectangle of multiples of 32 around it,
        # so letterboxing neither shrinks nor enlarges it (the scale the 640 px training tiles had).
        size = [math.ceil(height / 32) * 32, math.ceil(width / 32) * 32]
        start = time.perf_counter()
        out[Path(path).stem] = {"size": [width, height], "imgsz": size, "xywhr_conf": rows_of(image, size)}
        plain_s += time.perf_counter() - start
        if args.flips:
            # The three mirror images of the project's test-time flips, each predicted as the scene
            # is; their rows stay in the mirror image's pixels (the caller maps them back and fuses).
            start = time.perf_counter()
            out[Path(path).stem]["mirrored"] = [
                {"left_right": lr, "top_bottom": tb,
                 "xywhr_conf": rows_of(np.ascontiguousarray(image[::-1 if tb else 1, ::-1 if lr else 1]), size)}
                for lr, tb in ((True, False), (False, True), (True, True))]
            flips_s += time.perf_counter() - start
    return {"ultralytics": ultralytics.__version__, "predict_s": plain_s, "mirrored_predict_s": flips_s,
            "images": out,
            "settings": {"conf": args.conf, "iou": args.iou, "max_det": args.max_det, "max_nms": args.max_nms},
            "network_attempts": NETWORK_ATTEMPTS}


def export(args) -> dict:
    ultralytics = _ultralytics()
    model = ultralytics.YOLO("yolo11n-obb.yaml", task="obb")  # from the model YAML: random weights
    settings = dict(format="onnx", imgsz=args.imgsz, batch=1, dynamic=False, simplify=False, nms=False,
                    opset=args.opset, device="cpu")
    start = time.perf_counter()
    # The exporter writes next to the model's own file name (here the working directory): move it.
    written = Path(model.export(**settings))
    args.onnx.parent.mkdir(parents=True, exist_ok=True)
    written.replace(args.onnx)
    return {"ultralytics": ultralytics.__version__, "settings": settings,
            "export_s": time.perf_counter() - start, "onnx": str(args.onnx),
            "parameters": sum(p.numel() for p in model.model.parameters()),
            "network_attempts": NETWORK_ATTEMPTS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--project", type=Path, required=True)
    t.add_argument("--hours", type=float, required=True, help="Ultralytics 'time': wall-clock budget in hours")
    t.add_argument("--epochs", type=int, default=1000, help="ignored by Ultralytics while 'time' is set")
    t.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("predict")
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--images", type=Path, nargs="+", required=True)
    p.add_argument("--conf", type=float, default=0.001, help="keep every candidate (what Ultralytics' val uses)")
    p.add_argument("--iou", type=float, default=0.7, help="NMS IoU (Ultralytics' default)")
    p.add_argument("--max-det", type=int, default=1000)
    p.add_argument("--max-nms", type=int, default=3000, help="candidates per scene entering NMS (default 3000)")
    p.add_argument("--flips", action="store_true",
                   help="also predict each image mirrored left-right, top-bottom and both ('mirrored' rows)")
    e = sub.add_parser("export")
    e.add_argument("--onnx", type=Path, required=True, help="where the ONNX file goes")
    e.add_argument("--imgsz", type=int, default=1024, help="square input side (default 1024)")
    e.add_argument("--opset", type=int, default=17)
    for s in (t, p):
        s.add_argument("--device", default="cpu", help="Ultralytics device: cpu (default) or 0 for the first GPU")
    for s in (t, p, e):
        s.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    result = {"train": train, "predict": predict, "export": export}[args.command](args)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    if result["network_attempts"]:
        print(f"yolo_obb_worker: {len(result['network_attempts'])} network attempts refused: "
              f"{result['network_attempts'][:5]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
