"""Real data: the shared sen2ships COCO masks become oriented boxes that contain them whole."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from pycocotools import mask as mask_utils

from tankerwatch.infer.core.boxes import box_corners
from tankerwatch.infer.core.labels import LoadState, VesselType
from tankerwatch.infer.formats.dataset import read_dataset
from tankerwatch.infer.runtime.raster import inspect_raster

# pycocotools' compiled decode trips numpy 2's copy-keyword deprecation (harmless).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_all_masks_become_boxes_containing_them(sen2ships_dir):
    dataset = read_dataset(sen2ships_dir / "annotations.json")
    assert not dataset.problems and dataset.format == "coco"
    raw = json.loads((sen2ships_dir / "annotations.json").read_text())
    assert len(dataset.images) == 8
    vessels = [v for image in dataset.images for v in image.vessels]
    assert len(vessels) == len(raw["annotations"]) == 201
    assert all((v.vessel_type, v.load) == (VesselType.UNKNOWN, LoadState.UNKNOWN) for v in vessels)
    by_image = {image["id"]: image for image in raw["images"]}
    ordered = iter(vessels)
    for image in dataset.images:  # vessels keep the annotation order within each image
        anns = [a for a in raw["annotations"]
                if sen2ships_dir / by_image[a["image_id"]]["file_name"] == image.image_path]
        for ann in anns:
            vessel = next(ordered)
            h, w = ann["segmentation"]["size"]
            mask = mask_utils.decode(mask_utils.frPyObjects(ann["segmentation"], h, w)).astype(bool)
            rows, cols = np.nonzero(mask)
            pixels = shapely.box(cols, rows, cols + 1, rows + 1)  # every mask pixel square
            box = shapely.Polygon(box_corners(vessel.box)).buffer(1e-6)
            assert shapely.contains(box, pixels).all()
            assert 5 <= vessel.box[2] <= 60  # the README: longest sides 6 to 52 px


def test_images_open_with_georeferencing_and_ground_gsd(sen2ships_dir):
    dataset = read_dataset(sen2ships_dir)
    for image in dataset.images:
        info = inspect_raster(image.image_path)
        assert info.georeferenced and info.crs.to_epsg() == 3857
        assert (info.count, info.dtype) == (3, "uint16")
        assert 5.7 <= info.gsd_m <= 10.0 and image.gsd_m == pytest.approx(info.gsd_m)
    gsd = {image.image_path.stem: image.gsd_m for image in dataset.images}
    assert gsd["gdynia"] == pytest.approx(5.8, abs=0.1)  # the most northern port
