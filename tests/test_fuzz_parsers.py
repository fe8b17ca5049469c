"""Fuzzing the label text parsers: any input either parses or fails with the project's own error.

A parser logs problems into its ReadContext; raising anything but a TankerwatchError (IndexError,
KeyError, TypeError from a malformed structure, ...) is the bug these tests look for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS
from rasterio.transform import from_origin

from tankerwatch.infer.core.errors import TankerwatchError
from tankerwatch.infer.core.labels import DEFAULT_CLASS_MAP, LabelledImage
from tankerwatch.infer.formats import coco, dota, geojson, yolo_obb
from tankerwatch.infer.formats.dataset import ReadContext
from tankerwatch.infer.runtime.raster import RasterInfo

# TW_FUZZ_EXAMPLES=5000 for a deeper hunt than the test suite's budget allows.
FUZZ = settings(max_examples=int(os.environ.get("TW_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
NUMBER_TOKENS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                          st.integers(-10**6, 10**6).map(str), st.sampled_from(["nan", "inf", "-inf", "1e309", "0x10"]))
TOKENS = st.one_of(NUMBER_TOKENS, st.sampled_from(["ship", "tanker_empty", "boat", "0", "1", "2", "gsd:", ":"]),
                   st.text(max_size=8))
LINES = st.lists(st.lists(TOKENS, max_size=11).map(" ".join), max_size=6).map("\n".join)
JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False),
                        st.sampled_from(["ship", "images/x.png", "Polygon", "pixel", ""]))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                               st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                           max_leaves=20)


def context() -> ReadContext:
    return ReadContext(class_map=DEFAULT_CLASS_MAP)


def image() -> LabelledImage:
    return LabelledImage(Path("x.png"), 100, 80, None, [])


def parses_or_raises_own_error(call) -> None:
    try:
        call()
    except TankerwatchError:
        pass


@FUZZ
@given(st.one_of(st.text(max_size=200), LINES))
def test_dota(text):
    ctx, img = context(), image()
    parses_or_raises_own_error(lambda: dota.parse_text(text, "x.txt", img, ctx))
    assert all(np.all(np.isfinite(v.box)) and v.box[3] > 0 for v in img.vessels)


@FUZZ
@given(st.one_of(st.text(max_size=200), LINES), st.text(max_size=80))
def test_yolo_obb(text, yaml_text):
    ctx, img = context(), image()
    parses_or_raises_own_error(lambda: yolo_obb.parse_text(text, "x.txt", img, {0: "ship", 3: "boat"}, ctx))
    parses_or_raises_own_error(lambda: yolo_obb.parse_names(yaml_text, "data.yaml", ctx))
    assert all(np.all(np.isfinite(v.box)) for v in img.vessels)


COCO_ANNOTATION = st.fixed_dictionaries({}, optional={
    "id": JSON_LEAVES, "image_id": st.sampled_from([1, 2, "1", None]), "category_id": st.sampled_from([1, 2, None]),
    "bbox": st.one_of(JSON_VALUES, st.lists(st.floats(), min_size=4, max_size=4)),
    "segmentation": st.one_of(JSON_VALUES, st.lists(st.lists(st.floats(), max_size=10), max_size=2),
                              st.fixed_dictionaries({"size": st.sampled_from([[80, 100], [1, 1], "80x100"]),
                                                     "counts": st.one_of(st.lists(st.integers(-2, 9000), max_size=5),
                                                                         st.text(max_size=12), JSON_LEAVES)})),
    "heading": JSON_LEAVES, "iscrowd": JSON_LEAVES, "draft_fraction": JSON_LEAVES, "vessel_id": JSON_LEAVES})
COCO = st.fixed_dictionaries({
    "images": st.lists(st.one_of(JSON_VALUES, st.fixed_dictionaries(
        {"id": st.sampled_from([1, 2, [1]]), "file_name": st.sampled_from(["images/x.png", "", 3]),
         "width": st.sampled_from([100, 0, -1, 1.5, True]), "height": st.sampled_from([80, 0, None])},
        optional={"gsd_m": JSON_LEAVES})), max_size=3),
    "annotations": st.lists(st.one_of(COCO_ANNOTATION, JSON_VALUES), max_size=4),
}, optional={"categories": st.one_of(JSON_VALUES, st.lists(st.fixed_dictionaries(
    {"id": st.sampled_from([1, 2, [3]]), "name": st.sampled_from(["ship", "boat", "tanker_loaded"])}), max_size=3))})


@FUZZ
@given(st.one_of(st.text(max_size=200), JSON_VALUES.map(json.dumps), COCO.map(json.dumps)))
def test_coco(text):
    ctx = context()
    parses_or_raises_own_error(lambda: coco.parse_text(text, "annotations.json", ctx, check_files=False))


GEO_FEATURE = st.fixed_dictionaries({"type": st.just("Feature")}, optional={
    "geometry": st.one_of(JSON_VALUES, st.fixed_dictionaries({
        "type": st.sampled_from(["Polygon", "Point"]),
        "coordinates": st.lists(st.lists(st.lists(st.floats(-200, 200), min_size=2, max_size=3), max_size=5),
                                max_size=2)})),
    "properties": st.one_of(JSON_VALUES, st.fixed_dictionaries({}, optional={
        "class": st.sampled_from(["ship", "boat", 3]), "type": st.sampled_from(["tanker", "other", "x", None]),
        "load": st.sampled_from(["empty", "uncertain", "full", None]), "heading_deg": JSON_LEAVES,
        "box_px": st.one_of(JSON_VALUES, st.lists(st.floats(), min_size=5, max_size=5)),
        "draft_fraction": JSON_LEAVES}))})
GEOJSON = st.fixed_dictionaries({"type": st.sampled_from(["FeatureCollection", "Feature"]),
                                 "features": st.lists(st.one_of(GEO_FEATURE, JSON_VALUES), max_size=3)},
                                optional={"crs": st.one_of(JSON_VALUES, st.just(
                                    {"type": "name", "properties": {"name": "EPSG:32633"}})),
                                    "tankerwatch": st.one_of(JSON_VALUES, st.just({"coordinates": "pixel"}))})
GEOREFERENCED = RasterInfo(Path("x.tif"), 100, 80, 1, "uint8", CRS.from_epsg(32633),
                           from_origin(500_000.0, 4_700_000.0, 2.0, 2.0), None, None, 2.0)


@FUZZ
@given(st.one_of(st.text(max_size=200), JSON_VALUES.map(json.dumps), GEOJSON.map(json.dumps)))
def test_geojson(text):
    ctx, img = context(), image()
    parses_or_raises_own_error(lambda: geojson.parse_text(text, "x.geojson", img, GEOREFERENCED, ctx))
    assert all(np.all(np.isfinite(v.box)) for v in img.vessels)
