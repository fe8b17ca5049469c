"""`tankerwatch check-labels` through the real CLI: statistics, problems, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.labels import LabelledImage, LoadState, Vessel, VesselType
from tankerwatch.infer.formats.dataset import write_splits


def dota_folder(root, lines_by_stem, size=(40, 30)):
    (root / "images").mkdir(parents=True)
    (root / "labelTxt").mkdir()
    for stem, lines in lines_by_stem.items():
        Image.fromarray(np.zeros((size[1], size[0]), np.uint8)).save(root / "images" / f"{stem}.png")
        if lines is not None:
            (root / "labelTxt" / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
    return root


def test_statistics_of_a_clean_split_dataset(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    path = src / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=200, height=100, count=1, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500_000.0, 4_700_000.0, 2.0, 2.0)) as dst:
        dst.write(np.zeros((1, 100, 200), np.uint8))
    vessels = [Vessel([50, 50, 40, 8, 0.2], VesselType.TANKER, LoadState.EMPTY),  # 80 m
               Vessel([120, 40, 70, 12, 0.0], VesselType.TANKER, LoadState.LOADED),  # 140 m
               Vessel([160, 70, 10, 3, 1.0], VesselType.OTHER, difficult=True)]  # 20 m
    write_splits({"train": [LabelledImage(path, 200, 100, None, vessels)],
                  "val": [LabelledImage(path, 200, 100, None, [])]}, tmp_path / "ds", "coco")
    out = tmp_path / "summary.json"
    assert main(["check-labels", str(tmp_path / "ds"), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "images    2 (train 1, val 1); 1 without vessels" in text
    assert "by type:        tanker 2, other 1, unknown 0" in text
    assert "tankers by load: empty 1, loaded 1, unknown 0" in text
    summary = json.loads(out.read_text())
    assert summary["format"] == "coco" and summary["vessels"] == 3 and summary["difficult"] == 1
    assert summary["images_per_gsd_band"]["gsd_1_3"] == 2
    px = {b["from"]: b["count"] for b in summary["length_px_histogram"]}
    assert (px[8], px[32], px[64]) == (1, 1, 1)
    metres = {b["from"]: b["count"] for b in summary["length_m_histogram"]}
    assert (metres[0], metres[75], metres[100]) == (1, 1, 1)  # 20 m, 80 m, 140 m at 2 m GSD


def test_every_problem_is_listed_and_exit_is_2(tmp_path, capsys):
    root = dota_folder(tmp_path / "d", {
        "a": ["1 1 9 1 9 4 1 4 ship 0", "1 1 9 1 9 4 1 4", "1 1 9 1 9 4 1 4 barge 0", "2 2 nan 2 9 5 2 5 ship 0",
              "5 5 5 5 5 5 5 5 ship 0", "30 5 50 5 50 10 30 10 ship 0"],
        "b": None,
    })
    (root / "labelTxt" / "lost.txt").write_text("1 1 9 1 9 4 1 4 ship 0\n")
    assert main(["check-labels", str(root)]) == 2
    captured = capsys.readouterr()
    assert "errors: 5" in captured.out and "warnings: 1" in captured.out
    for expected in ("a.txt:2: expected", "a.txt:3: unknown class 'barge'", "a.txt:4: corner coordinates",
                     "a.txt:5: zero-area box", "a.txt:6: box reaches outside", "lost.txt: missing image file"):
        assert expected in captured.out
    assert "images without vessels: b.png" in captured.out
    assert "boxes outside the image: clipped 1, outside 1" in captured.out
    error_lines = captured.err.strip().splitlines()
    assert len(error_lines) == 1 and "5 fatal problems" in error_lines[0]


def test_reject_setting_and_class_map_flags(tmp_path, capsys):
    root = dota_folder(tmp_path / "d", {"a": ["30 5 50 5 50 10 30 10 boat 0", "1 1 9 1 9 4 1 4 boat 0"]})
    assert main(["check-labels", str(root), "--outside", "reject", "--class-map", "boat=other/unknown"]) == 0
    out = capsys.readouterr().out
    assert "vessels   1 " in out and "rejected 1" in out


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    root = dota_folder(tmp_path / "d", {"a": ["1 1 9 1 9 4 1 4 ship 0"]})
    (root / "images" / "a.png").write_bytes(b"\x89PNG broken")
    cmd = [sys.executable, "-m", "tankerwatch.infer.cli", "check-labels", str(root)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "a.png: not an image GDAL can read" in result.stderr
    debug = subprocess.run([*cmd, "--debug"], capture_output=True, text=True)
    assert debug.returncode == 2 and "Traceback" in debug.stderr
    empty = subprocess.run([sys.executable, "-m", "tankerwatch.infer.cli", "check-labels", str(tmp_path / "none")],
                           capture_output=True, text=True)
    assert empty.returncode == 2 and "no such dataset folder" in empty.stderr
