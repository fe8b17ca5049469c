"""A trained model, exported, run by `detect` on synthetic scenes with known tankers.

Detections must land within a few metres (geodesic, lon/lat) of the ground truth and carry the
right load state. Two versions:

- CI (`make test`): the session's ``ci_model`` (conftest.py: configs/ci.yaml, 960 steps on 400
  tiles at 0.7-2 m, about 5 min on 2 cores) on two 4096 px scenes at 1 m, 22 tankers together. It
  must place the tankers; for load it must not guess. Since the generator stopped drawing the
  bulbous bow by load state (2026-12-03), a CI-sized run no longer learns to read freeboard from
  shadow and hull side (docs/experiments.md), so what CI holds such a model to is honesty: a load
  it cannot read is `uncertain`, never a confident coin toss.
- slow: trained here as `bench/train_synthetic.py` trains (configs/synthetic.yaml, 80 epochs on the
  1,200 tiles of seed 0, about 20 min on 2 cores), or taken from TANKERWATCH_TEST_CKPT, on the same
  two scenes: placement, and a load that is read, not guessed. The load stage's coverage is still
  below half at 1 m (issue 18), so this holds such a model to reading better than chance on the
  tankers it calls; `bench/counterfactual.py` prints the targets (the thresholds' basis:
  docs/experiments.md, 2026-12-05 midday).
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from pyproj import Geod
from train_fixtures import run_cli as tw

from tankerwatch.infer.runtime.detection_file import read_detection_file

ROOT = Path(__file__).resolve().parents[1]
GEOD = Geod(ellps="WGS84")
MATCH_M = 15.0  # a detection belongs to the nearest true vessel within this distance
# The 80-epoch fit takes about 20 minutes alone on 2 cores and over an hour beside other jobs
# (one such run passed the hour the other commands are allowed).
FULL_TRAINING_TIMEOUT_S = 4 * 3600
SCENE_ARGS = ("--size", 4096, "--gsd", 1.0, "--threads", 2)


def centres(result):
    return np.array([p.centroid.coords[0] for p in result.polygons]).reshape(-1, 2)


@dataclass
class TankerScore:
    """The true tankers of some scenes against a model's detections."""

    tankers: int = 0
    errors: list[float] = field(default_factory=list)  # centre error (m) of each matched tanker
    load_called: int = 0  # matched tankers called empty or loaded (not uncertain)
    load_right: int = 0

    def add(self, truth_path: Path, found_path: Path) -> None:
        truth = read_detection_file(truth_path)
        found = read_detection_file(found_path)
        assert found.georeferenced
        truth_xy, found_xy = centres(truth), centres(found)
        for i, true in enumerate(truth.detections):
            if true.vessel_type != "tanker":
                continue
            self.tankers += 1
            lon, lat = truth_xy[i]
            n = len(found_xy)
            dist = GEOD.inv(np.full(n, lon), np.full(n, lat), found_xy[:, 0], found_xy[:, 1])[2] if n else None
            if not n or dist.min() > MATCH_M:
                continue
            j = int(np.argmin(dist))
            self.errors.append(float(dist[j]))
            if found.detections[j].load in ("empty", "loaded"):
                self.load_called += 1
                self.load_right += found.detections[j].load == true.load

    @property
    def summary(self) -> str:
        matched = len(self.errors)
        return (f"{matched} of {self.tankers} tankers found within {MATCH_M} m, median centre error "
                f"{np.median(self.errors) if matched else float('nan'):.1f} m, load right {self.load_right} "
                f"of {self.load_called} called")

    def check_placement(self, min_tankers: int) -> None:
        print(f"\n{self.summary}")
        assert self.tankers >= min_tankers, self.summary
        assert len(self.errors) >= 0.8 * self.tankers, self.summary
        assert np.median(self.errors) <= 5.0, self.summary

    def check_load_better_than_chance(self) -> None:
        """At least four calls, two right for every wrong one: a coin would get as many wrong."""
        assert self.load_called >= 4, self.summary
        assert self.load_right >= 2 * (self.load_called - self.load_right), self.summary

    def check_load_not_guessed(self) -> None:
        """Wrong empty/loaded calls on at most 15 % of the matched tankers: a model that called
        every tanker (about half empty, half loaded here) by a coin or a constant would get about
        half wrong; one that cannot read the cue must say `uncertain`."""
        wrong = self.load_called - self.load_right
        assert wrong <= 0.15 * len(self.errors), self.summary


def test_ci_model_places_tankers_and_does_not_guess_their_load(ci_model, tmp_path):
    # 22 tankers at berths and at anchor, 66-369 m long, 12 empty and 10 loaded (so no constant
    # answer passes), under a low sun (seed 7, long shadows) and a high one (seed 0, short shadows).
    seeds = (7, 0)
    for seed in seeds:
        tw("synth", "scene", tmp_path / f"scene{seed}.tif", *SCENE_ARGS, "--seed", seed)
    tw("detect", ci_model, *(tmp_path / f"scene{seed}.tif" for seed in seeds), "-o", tmp_path / "out",
       "--threads", 2)
    score = TankerScore()
    for seed in seeds:
        score.add(tmp_path / f"scene{seed}.truth.geojson", tmp_path / "out" / f"scene{seed}.geojson")
    score.check_placement(min_tankers=16)
    score.check_load_not_guessed()


@pytest.mark.slow
def test_trained_model_places_tankers_and_reads_their_load(tmp_path):
    checkpoint = os.environ.get("TANKERWATCH_TEST_CKPT")
    if not checkpoint:
        tw("synth", "tiles", tmp_path / "tiles", "--count", 1200, "--size", 256, "--seed", 0, "--format", "coco",
           "--threads", 2)
        tw("fit", "--config", ROOT / "configs" / "synthetic.yaml", "--data.train", tmp_path / "tiles" / "train",
           "--data.val", tmp_path / "tiles" / "val", "--trainer.max_epochs", 80,
           "--checkpoint.dirpath", tmp_path / "checkpoints", cwd=tmp_path, timeout_s=FULL_TRAINING_TIMEOUT_S)
        checkpoint = next((tmp_path / "checkpoints").glob("best-*.ckpt"))
    tw("export", checkpoint, "-o", tmp_path / "model.onnx")
    seeds = (7, 0)
    for seed in seeds:
        tw("synth", "scene", tmp_path / f"scene{seed}.tif", *SCENE_ARGS, "--seed", seed)
    tw("detect", tmp_path / "model.onnx", *(tmp_path / f"scene{seed}.tif" for seed in seeds), "-o", tmp_path / "out",
       "--threads", 2)
    score = TankerScore()
    for seed in seeds:
        score.add(tmp_path / f"scene{seed}.truth.geojson", tmp_path / "out" / f"scene{seed}.geojson")
    score.check_placement(min_tankers=16)
    score.check_load_not_guessed()
    score.check_load_better_than_chance()
