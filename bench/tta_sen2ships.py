"""Benchmark: test-time flips (``detect --tta``) on real Sentinel-2 ports, on and off in one run.

Runs exported sen2ships models through the Detector API as they are and with test-time flips
(each tile also mirrored left-right, top-bottom and both; each vessel's score the mean of its four:
tankerwatch.infer.runtime.flips), and scores both by the project's one scorer (class-agnostic vessel
AP50, rotated IoU, COCO 101-point; recall and precision at detect's operating point). All figures
are REAL data.

    .venv/bin/python bench/tta_sen2ships.py --model MODEL.onnx [--ports durban,gdynia] [--threads 2]
    .venv/bin/python bench/tta_sen2ships.py --lopo-work runs/lopo_sen2ships

``--model``: one model on the validation ports of configs/sen2ships.yaml (or ``--ports``), e.g. the
last checkpoint of ``bench/train_sen2ships.py`` exported. ``--lopo-work``: the fold models of a
``bench/lopo_sen2ships.py`` run (``WORK/<port>/last.onnx``), each on the port it did not see; prints
each port, the mean over ports with its spread and the pooled figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description  # noqa: E402
from peer_sen2ships import fmt, our_detections, score, split_of_config  # noqa: E402

MODES = (("plain", False), ("tta", True))


def scored(runs: list[tuple[Path, list]], threads: int, operating_point: float) -> dict:
    """For each mode: the detections of every (model, truth images) pair pooled, their figures,
    each image's figures and the model time."""
    out = {}
    for mode, tta in MODES:
        start = time.perf_counter()
        detections = {}
        for model, truth in runs:
            detections.update(our_detections(model, truth, threads, tta=tta))
        seconds = time.perf_counter() - start
        images = [image for _, truth in runs for image in truth]
        out[mode] = {"figures": score(images, detections, operating_point), "seconds": seconds,
                     "per_image": {Path(im.image_path).stem: score([im], detections, operating_point) for im in images}}
    return out


def row(name: str, f: dict) -> str:
    return (f"{name:<14} {fmt(f['AP50']):>6} {fmt(f['AP50_95']):>7} {fmt(f['AP25_3_10']):>10} "
            f"{fmt(f['recall_at_op']):>9} {fmt(f['precision_at_op']):>7}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", type=Path, help="an exported sen2ships model")
    which.add_argument("--lopo-work", type=Path, help="the --work folder of a bench/lopo_sen2ships.py run")
    parser.add_argument("--ports", help="comma-separated ports to score --model on (default: the config's validation ports)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from tankerwatch.infer.formats.dataset import read_dataset
    from tankerwatch.infer.runtime.detect import DEFAULT_MIN_SCORE

    source, _, val_stems = split_of_config()
    by_stem = {Path(im.image_path).stem: im for im in read_dataset(source, fmt="coco").images}
    if args.model:
        ports = args.ports.split(",") if args.ports else val_stems
        runs = [(args.model, [by_stem[p] for p in ports])]
    else:
        ports = sorted(p.name for p in args.lopo_work.iterdir() if (p / "last.onnx").is_file() and p.name in by_stem)
        if not ports:
            raise SystemExit(f"--lopo-work {args.lopo_work}: no <port>/last.onnx of a sen2ships port")
        runs = [(args.lopo_work / p / "last.onnx", [by_stem[p]]) for p in ports]
    cpu = cpu_description()
    results = scored(runs, args.threads, DEFAULT_MIN_SCORE)

    what = args.model.name if args.model else f"leave-one-port-out fold models of {args.lopo_work}"
    print(f"\n== sen2ships (REAL data), test-time flips on and off: {what} ==")
    print(f"CPU: {cpu}; {args.threads} threads; operating point {DEFAULT_MIN_SCORE:g}")
    print(f"{'port':<14} {'AP50':>6} {'AP50:95':>7} {'AP25 3-10m':>10} {'recall@op':>9} {'prec@op':>7}")
    for mode, _ in MODES:
        print(f"-- {mode}")
        if len(ports) > 1:
            for port in ports:
                print(row(port, results[mode]["per_image"][port]))
        print(row("pooled" if len(ports) > 1 else ports[0], results[mode]["figures"]))
        if args.lopo_work and len(ports) > 1:
            ap50 = [results[mode]["per_image"][p]["AP50"] for p in ports]
            print(f"mean AP50 over {len(ports)} ports {statistics.fmean(ap50):.3f}, standard deviation "
                  f"{statistics.stdev(ap50):.3f}")
        print(f"model and scoring time {results[mode]['seconds']:.0f} s")
    plain, tta = (results[m]["figures"]["AP50"] for m, _ in MODES)
    if args.lopo_work and len(ports) > 1:
        better = sum(results["tta"]["per_image"][p]["AP50"] > results["plain"]["per_image"][p]["AP50"] for p in ports)
        print(f"tta higher on {better} of {len(ports)} ports")
    print(f"AP50 with tta / without: {'n/a' if not plain else f'{tta / plain:.2f}'}; time ratio "
          f"{results['tta']['seconds'] / max(results['plain']['seconds'], 1e-9):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
