"""Colour-only load-state baseline on synthetic tiles: balanced accuracy overall and by GSD.

Generates tiles through the real CLI (``tankerwatch synth tiles``), fits the colour classifier of
``tankerwatch.infer.evaluation.colour_baseline`` on the train split and scores it on val, then on both held-out
splits (val + test) overall and by GSD, for more tankers per figure. CONVENTIONS.md caps the figure
at 0.65; above it the generator leaks load state through colour.

    .venv/bin/python bench/baseline_colour.py [--count 1500] [--size 256] [--seed 1] [--gsd 0.3:12]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import cpu_description

from tankerwatch.infer.evaluation.colour_baseline import (
    BASELINE_MAX_BALANCED_ACCURACY,
    evaluate_colour_baseline,
)
from tankerwatch.infer.formats.dataset import read_dataset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gsd", default=None, help="A:B ground metres per pixel (synth's default if unset)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tiles"
        command = [str(Path(sys.executable).with_name("tankerwatch")), "synth", "tiles", str(out),
                   "--count", str(args.count), "--size", str(args.size), "--seed", str(args.seed),
                   "--format", "dota"] + (["--gsd", args.gsd] if args.gsd else [])
        subprocess.run(command, check=True, capture_output=True)
        train = read_dataset(out / "train").images
        val = read_dataset(out / "val").images
        held_out = val + read_dataset(out / "test").images
        print(f"synthetic data: tankerwatch {' '.join(command[1:3])} <tmp> {' '.join(command[4:])}")
        cuts = [("val", val, lambda g: True), ("val+test", held_out, lambda g: True),
                ("  gsd <= 1", held_out, lambda g: g <= 1), ("  gsd (1, 3]", held_out, lambda g: 1 < g <= 3),
                ("  gsd <= 2", held_out, lambda g: g <= 2), ("  gsd > 3", held_out, lambda g: g > 3)]
        for name, images, keep in cuts:
            subset = [im for im in images if im.gsd_m is not None and keep(im.gsd_m)]
            try:
                result = evaluate_colour_baseline(train, subset)
            except ValueError as exc:
                print(f"  {name:<12} skipped: {exc}")
                continue
            verdict = "ok (no colour leak)" if result.passes else "LEAK: colour gives load state away"
            print(f"  {name:<12} balanced accuracy {result.balanced_accuracy:.3f} on {result.n_eval} tankers "
                  f"(train {result.train_balanced_accuracy:.3f} on {result.n_train}); "
                  f"cap {BASELINE_MAX_BALANCED_ACCURACY}: {verdict}")
    print(f"cpu: {cpu_description()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
