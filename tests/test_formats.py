"""Label formats: round trips, layout detection, class maps, and each kind of bad label."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from PIL import Image
from pycocotools import mask as mask_utils
from rasterio.transform import from_origin

from tankerwatch.infer.core.boxes import box_corners, rotated_iou
from tankerwatch.infer.core.errors import ConfigError, LabelError
from tankerwatch.infer.core.labels import LabelledImage, LoadState, Vessel, VesselType
from tankerwatch.infer.formats.dataset import (
    detect_format,
    load_class_map,
    read_dataset,
    write_dataset,
    write_splits,
)

FORMATS = ("dota", "yolo-obb", "coco", "geojson")


def geotiff(path, width=64, height=48, crs="EPSG:32633", gsd=2.0):
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3, dtype="uint8",
                       crs=crs, transform=from_origin(500_000.0, 4_700_000.0, gsd, gsd)) as dst:
        dst.write(np.zeros((3, height, width), np.uint8))
    return path


def png(path, width=40, height=30):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(path)
    return path


@pytest.fixture
def images(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    first = LabelledImage(geotiff(src / "port_a.tif"), 64, 48, None, [
        Vessel([20, 20, 30, 8, 0.3], VesselType.TANKER, LoadState.EMPTY, heading=0.3 + math.pi,
               shadow_width_m=3.5, side_strip_m=1.25, shadow_surface="structure"),
        Vessel([40, 30, 12, 4, -1.0], VesselType.OTHER, difficult=True),
        Vessel([10, 38, 6, 3, 1.2]),
        Vessel([50, 12, 14, 5, 0.0], VesselType.TANKER, LoadState.LOADED),
    ])
    second = LabelledImage(geotiff(src / "port_b.tif"), 64, 48, None, [Vessel([30, 24, 20, 6, -0.7],
                                                                              VesselType.TANKER)])
    empty = LabelledImage(geotiff(src / "port_c.tif"), 64, 48, None, [])
    return [first, second, empty]


def assert_same_vessels(expected, got, tol=2e-3, min_iou=0.999):
    assert len(expected) == len(got)
    for a, b in zip(expected, got, strict=True):
        assert rotated_iou(a.box[None], b.box[None])[0, 0] > min_iou
        np.testing.assert_allclose(box_corners(a.box), box_corners(b.box), atol=tol)
        assert (a.vessel_type, a.load) == (b.vessel_type, b.load)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(tmp_path, images, fmt):
    out = tmp_path / fmt
    write_dataset(images, out, fmt)
    assert detect_format(out) == fmt
    dataset = read_dataset(out)
    assert dataset.format == fmt and not dataset.problems
    assert [p.image_path.name for p in dataset.images] == ["port_a.tif", "port_b.tif", "port_c.tif"]
    for written, read in zip(images, dataset.images, strict=True):
        assert_same_vessels(written.vessels, read.vessels)
        assert read.gsd_m == pytest.approx(2.0, rel=0.01)  # geodesic GSD from the GeoTIFF
    if fmt != "yolo-obb":  # YOLO-OBB has no difficult flag
        assert [v.difficult for v in dataset.images[0].vessels] == [False, True, False, False]
    if fmt in ("coco", "geojson"):  # formats that carry the bow direction
        assert dataset.images[0].vessels[0].heading == pytest.approx(0.3 + math.pi, abs=1e-5)
    if fmt == "coco":  # and the synthetic truth the load stage learns from
        first = dataset.images[0].vessels[0]
        assert (first.shadow_width_m, first.side_strip_m, first.shadow_surface) == (3.5, 1.25, "structure")
    # Once read (GSD now known), writing and reading again is a fixed point, byte for byte.
    again, third = tmp_path / f"{fmt}-2", tmp_path / f"{fmt}-3"
    write_dataset(dataset.images, again, fmt)
    write_dataset(read_dataset(again).images, third, fmt)
    for label in again.rglob("*"):
        if label.is_file() and label.parent.name != "images":
            if label.name == "data.yaml":  # its one absolute line names the folder written
                mine, theirs = yaml.safe_load(label.read_text()), yaml.safe_load((third / "data.yaml").read_text())
                assert mine.pop("path") == str(again.resolve()) and theirs.pop("path") == str(third.resolve())
                assert mine == theirs
                continue
            assert (third / label.relative_to(again)).read_bytes() == label.read_bytes()


def test_split_dataset_round_trip_and_yolo_root_yaml(tmp_path, images):
    out = tmp_path / "yolo"
    write_splits({"train": images[:2], "val": images[2:]}, out, "yolo-obb")
    data = yaml.safe_load((out / "data.yaml").read_text())
    # Ultralytics resolves a relative `path` against its own datasets folder: only an absolute one
    # finds the images from any working directory.
    assert Path(data["path"]).is_absolute() and Path(data["path"]) == out.resolve()
    assert all((Path(data["path"]) / data[split]).is_dir() for split in ("train", "val"))
    dataset = read_dataset(out)
    assert list(dataset.splits) == ["train", "val"]
    assert len(dataset.splits["train"]) == 2 and len(dataset.images) == 3


def test_dota_gsd_header_for_plain_images_and_custom_class_map(tmp_path):
    png(tmp_path / "images" / "x.png")
    (tmp_path / "labelTxt").mkdir()
    (tmp_path / "labelTxt" / "x.txt").write_text(
        "imagesource:GoogleEarth\ngsd:0.5\n\n2 2 12 2 12 6 2 6 boat 0\n1 1 5 1 5 3 1 3 ship\n")
    with pytest.raises(LabelError, match=r"x\.txt:4: unknown class 'boat'; known: other, ship, tanker"):
        read_dataset(tmp_path)
    dataset = read_dataset(tmp_path, class_map=load_class_map(["boat=tanker/loaded"]))
    image = dataset.images[0]
    assert image.gsd_m == 0.5 and image.width == 40
    assert (image.vessels[0].vessel_type, image.vessels[0].load) == (VesselType.TANKER, LoadState.LOADED)
    np.testing.assert_allclose(image.vessels[0].box, [7, 4, 10, 4, 0])


def test_class_map_yaml_file_and_bad_entries(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("vessel: unknown/unknown\noil: tanker_empty\n")
    mapping = load_class_map([str(path), "ship=other/unknown"])
    assert mapping["oil"] == (VesselType.TANKER, LoadState.EMPTY)
    assert mapping["ship"] == (VesselType.OTHER, LoadState.UNKNOWN)
    with pytest.raises(LabelError, match="neither 'type/load'"):
        load_class_map(["x=boat"])
    with pytest.raises(ConfigError, match="neither name=type/load nor an existing YAML file"):
        load_class_map(["nothing.yaml"])


def coco_folder(tmp_path, annotations, width=40, height=30, declared=None, categories=None):
    png(tmp_path / "images" / "x.png", width, height)
    declared = declared or (width, height)
    data = {"images": [{"id": 7, "file_name": "images/x.png", "width": declared[0], "height": declared[1]}],
            "annotations": annotations,
            "categories": categories or [{"id": 1, "name": "ship"}]}
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    return tmp_path


def test_coco_rle_uncompressed_compressed_polygon_and_bbox(tmp_path):
    mask = np.zeros((30, 40), np.uint8, order="F")
    mask[10:13, 5:20] = 1
    compressed = mask_utils.encode(mask)
    flat = mask.flatten(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    anns = [
        {"id": 1, "image_id": 7, "category_id": 1, "segmentation": {"size": [30, 40], "counts": runs}},
        {"id": 2, "image_id": 7, "category_id": 1,
         "segmentation": {"size": [30, 40], "counts": compressed["counts"].decode()}},
        {"id": 3, "image_id": 7, "category_id": 1, "segmentation": [[25, 5, 35, 15, 33, 17, 23, 7]]},
        {"id": 4, "image_id": 7, "category_id": 1, "bbox": [2, 20, 8, 4], "iscrowd": 1},
    ]
    dataset = read_dataset(coco_folder(tmp_path, anns))
    boxes = dataset.images[0].boxes()
    np.testing.assert_allclose(boxes[0], [12.5, 11.5, 15, 3, 0], atol=1e-9)  # pixel squares, whole
    np.testing.assert_allclose(boxes[1], boxes[0])
    np.testing.assert_allclose(boxes[2][:4], [29, 11, math.hypot(10, 10), math.hypot(2, 2)], atol=1e-9)
    assert boxes[2][4] == pytest.approx(math.pi / 4)
    np.testing.assert_allclose(boxes[3], [6, 22, 8, 4, 0])
    assert dataset.images[0].vessels[3].difficult


def test_coco_size_mismatch_and_rle_size(tmp_path):
    with pytest.raises(LabelError, match=r"x\.png: COCO size mismatch: annotations\.json says 41 x 30, "
                                         r"the file is 40 x 30"):
        read_dataset(coco_folder(tmp_path / "a", [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [1, 1, 4, 2]}],
                                 declared=(41, 30)))
    anns = [{"id": 1, "image_id": 7, "category_id": 1, "segmentation": {"size": [40, 30], "counts": [1200]}}]
    with pytest.raises(LabelError, match=r"annotation id 1: RLE size \[40, 30\] does not match"):
        read_dataset(coco_folder(tmp_path / "b", anns))


@pytest.mark.parametrize("line,message", [
    ("1 2 3 4 5 6 ship 0", r"x\.txt:2: expected 'x1 y1 x2 y2 x3 y3 x4 y4 class \[difficult\]', got 8 fields"),
    ("1 2 3 4 5 six 7 8 ship 0", r"x\.txt:2: corner coordinates must be 8 finite numbers"),
    ("1 2 nan 4 5 6 7 8 ship 0", r"x\.txt:2: corner coordinates must be 8 finite numbers"),
    ("1 2 inf 4 5 6 7 8 ship 0", r"x\.txt:2: corner coordinates must be 8 finite numbers"),
    ("1 1 9 1 9 1 1 1 ship 0", r"x\.txt:2: zero-area box"),
    ("1 1 9 1 9 4 1 4 ship 2", r"x\.txt:2: difficult flag must be 0 or 1"),
    ("1 1 9 1 9 4 1 4 barge", r"x\.txt:2: unknown class 'barge'; known: other, ship, tanker, "
                              r"tanker_empty, tanker_loaded"),
])
def test_dota_bad_lines_name_file_and_line(tmp_path, line, message):
    png(tmp_path / "images" / "x.png")
    (tmp_path / "labelTxt").mkdir()
    (tmp_path / "labelTxt" / "x.txt").write_text(f"gsd:null\n{line}\n3 3 9 3 9 6 3 6 ship 0\n")
    with pytest.raises(LabelError, match=message) as info:
        read_dataset(tmp_path)
    assert "\n" not in str(info.value)
    dataset = read_dataset(tmp_path, strict=False)  # the rest of the file is still read
    assert len(dataset.errors) == 1 and len(dataset.images[0].vessels) == 1


def test_yolo_bad_index_and_missing_names(tmp_path, images):
    out = tmp_path / "y"
    write_dataset(images[1:2], out, "yolo-obb")
    (out / "labels" / "port_b.txt").write_text("9 0.1 0.1 0.5 0.1 0.5 0.3 0.1 0.3\n")
    with pytest.raises(LabelError, match=r"port_b\.txt:1: class index 9 is not in data\.yaml names \(0: tanker_empty"):
        read_dataset(out)
    (out / "data.yaml").unlink()
    with pytest.raises(LabelError, match="no data.yaml with class names"):
        read_dataset(out, fmt="yolo-obb")


def test_boxes_outside_the_image_are_clipped_or_rejected_and_counted(tmp_path):
    png(tmp_path / "images" / "x.png", 40, 30)
    (tmp_path / "labelTxt").mkdir()
    (tmp_path / "labelTxt" / "x.txt").write_text(
        "30 5 50 5 50 10 30 10 ship 0\n"  # half outside on the right
        "60 60 70 60 70 65 60 65 ship 0\n"  # wholly outside
        "5 5 15 5 15 8 5 8 ship 0\n")  # inside
    clipped = read_dataset(tmp_path)
    boxes = clipped.images[0].boxes()
    assert len(boxes) == 2 and clipped.counts["outside"] == 2 and clipped.counts["clipped"] == 1
    np.testing.assert_allclose(boxes[0], [35, 7.5, 10, 5, 0], atol=1e-9)
    assert clipped.counts["rejected"] == 1 and len(clipped.warnings) == 2 and not clipped.errors
    rejected = read_dataset(tmp_path, outside="reject")
    assert len(rejected.images[0].vessels) == 1 and rejected.counts["rejected"] == 2


def test_missing_image_non_image_and_over_cap(tmp_path):
    png(tmp_path / "images" / "x.png")
    (tmp_path / "labelTxt").mkdir()
    (tmp_path / "labelTxt" / "x.txt").write_text("1 1 9 1 9 4 1 4 ship 0\n")
    (tmp_path / "labelTxt" / "gone.txt").write_text("1 1 9 1 9 4 1 4 ship 0\n")
    with pytest.raises(LabelError, match=r"gone\.txt: missing image file: no gone\{\.png"):
        read_dataset(tmp_path)
    (tmp_path / "labelTxt" / "gone.txt").unlink()
    (tmp_path / "images" / "notes.png").write_text("not a picture")
    with pytest.raises(LabelError, match=r"notes\.png: not an image GDAL can read"):
        read_dataset(tmp_path)
    (tmp_path / "images" / "notes.png").unlink()
    with pytest.raises(LabelError, match=r"x\.png: 40 x 30 = 1,200 pixels exceeds the cap of 1,000"):
        read_dataset(tmp_path, max_pixels=1000)


def test_empty_dataset_and_unknown_layout(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labelTxt").mkdir()
    with pytest.raises(LabelError, match="empty dataset: no images found"):
        read_dataset(tmp_path)
    png(tmp_path / "images" / "x.png")
    with pytest.raises(LabelError, match="empty dataset: no image has a usable vessel label"):
        read_dataset(tmp_path)
    with pytest.raises(LabelError, match="no known label layout; name one with --format"):
        detect_format(tmp_path / "images")
    with pytest.raises(LabelError, match="no such dataset"):
        read_dataset(tmp_path / "nowhere")


def test_geojson_in_raster_crs_lonlat_and_detection_properties(tmp_path):
    (tmp_path / "images").mkdir()
    geotiff(tmp_path / "images" / "s.tif")
    (tmp_path / "labels").mkdir()
    # Corners in the raster's own CRS (UTM 33N): pixel (x, y) is (500000 + 2x, 4700000 - 2y).
    ring = [[500_000 + 2 * x, 4_700_000 - 2 * y] for x, y in [(10, 10), (30, 10), (30, 14), (10, 14), (10, 10)]]
    utm = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:32633"}},
           "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"type": "tanker", "load": "uncertain", "score": 0.9}}]}
    (tmp_path / "labels" / "s.geojson").write_text(json.dumps(utm))
    vessel = read_dataset(tmp_path).images[0].vessels[0]
    np.testing.assert_allclose(vessel.box, [20, 12, 20, 4, 0], atol=1e-6)
    assert (vessel.vessel_type, vessel.load) == (VesselType.TANKER, LoadState.UNKNOWN)
    utm["features"][0]["properties"] = {"type": "boat"}
    (tmp_path / "labels" / "s.geojson").write_text(json.dumps(utm))
    with pytest.raises(LabelError, match=r"s\.geojson: feature 0: type/load 'boat'/'unknown' not known"):
        read_dataset(tmp_path)


def test_writing_refuses_classes_outside_the_names(tmp_path, images):
    with pytest.raises(ConfigError, match="not among the output classes"):
        write_dataset(images, tmp_path / "o", "yolo-obb", class_names=("ship",))


def test_coco_missing_image_and_unknown_category(tmp_path):
    root = coco_folder(tmp_path / "a", [{"id": 1, "image_id": 7, "category_id": 2, "bbox": [1, 1, 4, 2]}],
                       categories=[{"id": 1, "name": "ship"}, {"id": 2, "name": "dinghy"}])
    with pytest.raises(LabelError, match=r"category id 2: unknown class 'dinghy'; known: other, ship"):
        read_dataset(root)
    (root / "images" / "x.png").unlink()
    errors = read_dataset(root, strict=False).errors
    assert any(e.endswith("x.png: no such image file") for e in errors), errors


def test_coco_unknown_shadow_surface_is_named(tmp_path):
    root = coco_folder(tmp_path, [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [1, 1, 4, 2],
                                   "shadow_surface": "quay"}])
    errors = read_dataset(root, strict=False).errors
    assert any("shadow_surface must be one of water, structure, vessel, got 'quay'" in e for e in errors), errors


def test_geojson_lonlat_polygons_without_box_px(tmp_path, images):
    out = tmp_path / "g"
    write_dataset(images[:1], out, "geojson")
    path = out / "labels" / "port_a.geojson"
    data = json.loads(path.read_text())
    assert data["tankerwatch"]["coordinates"] == "lonlat"
    lon, lat = data["features"][0]["geometry"]["coordinates"][0][0]
    assert 14 < lon < 16 and 42 < lat < 43  # UTM 33N near 15 E, 42.4 N
    for feature in data["features"]:
        del feature["properties"]["box_px"]
    path.write_text(json.dumps(data))
    assert_same_vessels(images[0].vessels, read_dataset(out).images[0].vessels,
                        tol=1e-2, min_iou=0.995)  # 1e-7 degrees is ~0.01 m
