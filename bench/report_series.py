"""`tankerwatch report` on a synthetic date series: events recovered and the README's timeline picture.

Generates a series through the real CLI (``tankerwatch synth series``), reports on its ground truth
(perfect detections) and, given ``--model``, on what ``tankerwatch detect`` finds with that ONNX
model; prints event recall and precision against the series' event log for each, the share of true
volumes inside the stated ranges, the times taken, and the CPU. ``--figure`` copies the truth
report's timeline to the given path (the README's bench/figures/timeline.png comes from the defaults).

    .venv/bin/python bench/report_series.py [--dates 12] [--size 1536] [--seed 1] [--model M.onnx]
        [--figure bench/figures/timeline.png] [--work DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _common import cpu_description, run_tankerwatch


def report(label: str, inputs: list[Path], out: Path, events: Path) -> None:
    stdout, seconds = run_tankerwatch("report", *inputs, "-o", out, "--truth-events", events, "--overwrite")
    print(f"[{label}] report in {seconds:.1f} s")
    for line in stdout.splitlines():
        print(f"[{label}]   {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=12)
    parser.add_argument("--size", type=int, default=1536)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", type=Path, help="ONNX model for a run through `tankerwatch detect`")
    parser.add_argument("--figure", type=Path, help="copy the ground-truth report's timeline here")
    parser.add_argument("--work", type=Path, help="keep the series and reports here (default: a temp folder)")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        series = work / "series"
        _, seconds = run_tankerwatch("synth", "series", series, "--dates", args.dates, "--size", args.size,
                         "--seed", args.seed, "--overwrite")
        print(f"synthetic series: {args.dates} dates of {args.size} px, seed {args.seed}, made in {seconds:.1f} s")
        events = series / "events.csv"
        report("synthetic truth", sorted(series.glob("*.truth.geojson")), work / "report_truth", events)
        if args.figure:
            args.figure.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(work / "report_truth" / "timeline.png", args.figure)
            print(f"timeline copied to {args.figure}")
        if args.model:
            _, seconds = run_tankerwatch("detect", args.model, *sorted(series.glob("*.tif")), "-o", work / "detections",
                             "--overwrite")
            print(f"[model {args.model.name}] detect on {args.dates} scenes in {seconds:.1f} s")
            report(f"model {args.model.name}", sorted((work / "detections").glob("*.geojson")),
                   work / "report_model", events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
