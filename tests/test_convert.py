"""`tankerwatch convert` through the real CLI: every format pair, splits kept, nothing half-written."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from rasterio.transform import from_origin

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.boxes import rotated_iou
from tankerwatch.infer.core.labels import LabelledImage, LoadState, Vessel, VesselType
from tankerwatch.infer.formats.dataset import read_dataset, write_splits

FORMATS = ("dota", "yolo-obb", "coco", "geojson")


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The same small split dataset written in every format."""
    base = tmp_path_factory.mktemp("convert")
    path = base / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=80, height=60, count=3, dtype="uint16",
                       crs="EPSG:3857", transform=from_origin(14_800_000.0, 5_270_000.0, 10.0, 10.0)) as dst:
        dst.write(np.zeros((3, 60, 80), np.uint16))
    vessels = [Vessel([20, 20, 24, 6, 0.4], VesselType.TANKER, LoadState.LOADED),
               Vessel([55, 40, 15, 4, -1.2], VesselType.OTHER), Vessel([40, 10, 9, 3, 0.0])]
    splits = {"train": [LabelledImage(path, 80, 60, None, vessels)],
              "val": [LabelledImage(path, 80, 60, None, vessels[:1])]}
    for fmt in FORMATS:
        write_splits(splits, base / fmt, fmt)
    return base, splits


@pytest.mark.parametrize("src,dst", list(itertools.permutations(FORMATS, 2)))
def test_every_pair_keeps_boxes_classes_and_splits(tmp_path, sources, src, dst, capsys):
    base, splits = sources
    out = tmp_path / "out"
    assert main(["convert", str(base / src), "-o", str(out), "--to", dst]) == 0
    assert f"converted 2 images, 4 vessels ({src} -> {dst})" in capsys.readouterr().out
    dataset = read_dataset(out)
    assert dataset.format == dst and list(dataset.splits) == ["train", "val"]
    for name, images in splits.items():
        got = dataset.splits[name][0].vessels
        want = images[0].vessels
        assert [v.class_name for v in got] == [v.class_name for v in want]
        iou = rotated_iou(np.stack([v.box for v in want]), np.stack([v.box for v in got]))
        assert np.diag(iou).min() > 0.998


def test_converted_yolo_data_yaml_names_where_the_dataset_lies_not_the_staging_folder(tmp_path, sources):
    # convert writes into a staging folder and renames it: the absolute `path` Ultralytics trains
    # from must follow the rename.
    base, _ = sources
    out = tmp_path / "yolo"
    assert main(["convert", str(base / "dota"), "-o", str(out), "--to", "yolo-obb"]) == 0
    for data_yaml in (out / "data.yaml", out / "train" / "data.yaml", out / "val" / "data.yaml"):
        data = yaml.safe_load(data_yaml.read_text())
        assert data["path"] == str(data_yaml.parent.resolve())
        assert (Path(data["path"]) / data["train"]).is_dir()


def test_refuses_to_overwrite_or_nest_and_writes_nothing_on_bad_input(tmp_path, sources, capsys):
    base, _ = sources
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["convert", str(base / "dota"), "-o", str(out), "--to", "coco"]) == 2
    assert "exists and is not empty; pass --overwrite" in capsys.readouterr().err
    assert main(["convert", str(base / "dota"), "-o", str(base / "dota" / "inside"), "--to", "coco"]) == 2
    assert "must be outside the source dataset" in capsys.readouterr().err
    assert main(["convert", str(base / "dota"), "-o", str(out), "--to", "coco", "--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "train" / "annotations.json").is_file()
    # A broken source: nothing is written and no staging folder is left behind.
    broken = tmp_path / "broken"
    assert main(["convert", str(base / "coco"), "-o", str(broken), "--to", "dota"]) == 0
    (broken / "val" / "labelTxt" / "scene.txt").write_text("1 2 3\n")
    target = tmp_path / "never"
    assert main(["convert", str(broken), "-o", str(target), "--to", "coco"]) == 2
    assert "scene.txt:1: expected" in capsys.readouterr().err
    assert not target.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
