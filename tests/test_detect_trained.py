"""Slow: a trained model, exported, run by `detect` on a synthetic scene with known tankers.

Detections must land within a few metres (geodesic, lon/lat) of the ground truth and carry the
right load state. The model is trained here on generated tiles with configs/synthetic.yaml (about
15-25 min on 2 cores), or taken from TANKERWATCH_TEST_CKPT (e.g. the demo's best checkpoint).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pyproj import Geod

from tankerwatch.infer.runtime.detection_file import read_detection_file

ROOT = Path(__file__).resolve().parents[1]
GEOD = Geod(ellps="WGS84")
MATCH_M = 15.0  # a detection belongs to the nearest true vessel within this distance


def tw(*args, cwd=None):
    done = subprocess.run([sys.executable, "-m", "tankerwatch.infer.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def centres(result):
    return np.array([p.centroid.coords[0] for p in result.polygons]).reshape(-1, 2)


@pytest.mark.slow
def test_trained_model_places_tankers_and_reads_their_load(tmp_path):
    checkpoint = os.environ.get("TANKERWATCH_TEST_CKPT")
    if not checkpoint:
        tw("synth", "tiles", tmp_path / "tiles", "--count", 400, "--size", 256, "--seed", 0, "--gsd", "0.5:2")
        tw("fit", "--config", ROOT / "configs" / "synthetic.yaml", "--data.train", tmp_path / "tiles" / "train",
           "--data.val", tmp_path / "tiles" / "val", "--trainer.max_epochs", 15,
           "--checkpoint.dirpath", tmp_path / "checkpoints", cwd=tmp_path)
        checkpoint = next((tmp_path / "checkpoints").glob("best-*.ckpt"))
    tw("export", checkpoint, "-o", tmp_path / "model.onnx")
    tw("synth", "scene", tmp_path / "scene.tif", "--size", 4096, "--gsd", 1.0, "--seed", 7)
    tw("detect", tmp_path / "model.onnx", tmp_path / "scene.tif", "-o", tmp_path / "out", "--threads", 2)

    truth = read_detection_file(tmp_path / "scene.truth.geojson")
    found = read_detection_file(tmp_path / "out" / "scene.geojson")
    assert found.georeferenced
    tankers = [i for i, d in enumerate(truth.detections) if d.vessel_type == "tanker"]
    assert len(tankers) >= 5
    truth_xy, found_xy = centres(truth), centres(found)
    errors, load_right, load_called = [], 0, 0
    for i in tankers:
        lon, lat = truth_xy[i]
        n = len(found_xy)
        dist = GEOD.inv(np.full(n, lon), np.full(n, lat), found_xy[:, 0], found_xy[:, 1])[2] if n else np.array([])
        if not n or dist.min() > MATCH_M:
            continue
        j = int(np.argmin(dist))
        errors.append(dist[j])
        detection = found.detections[j]
        if detection.load in ("empty", "loaded"):
            load_called += 1
            load_right += detection.load == truth.detections[i].load
    recall = len(errors) / len(tankers)
    assert recall >= 0.8, f"found {len(errors)} of {len(tankers)} tankers within {MATCH_M} m"
    assert np.median(errors) <= 5.0, f"median centre error {np.median(errors):.1f} m"
    assert load_called >= 0.5 * len(errors) and load_right >= 0.8 * load_called, \
        f"load right {load_right} of {load_called} called, {len(errors)} matched"
