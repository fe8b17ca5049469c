"""Build small dated detection files for the report tests, through the real detection-file writer, and
read back the report's CSVs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import shapely
from affine import Affine
from rasterio.crs import CRS

from tankerwatch.infer.runtime.detection_file import Detection, write_detection_files

UTM53 = CRS.from_epsg(32653)  # the synthetic terminal near Vostochny
ORIGIN = (398_000.0, 4_735_000.0)  # easting, northing of the top-left corner
SIZE_PX = 1000


def transform(gsd: float = 1.0, origin=ORIGIN) -> Affine:
    return Affine(gsd, 0.0, origin[0], 0.0, -gsd, origin[1])


def tanker(cx, cy, length_m, load, angle=0.0, gsd=1.0, vessel_id=None, vessel_type="tanker", score=0.9):
    """A detection of a vessel ``length_m`` long at pixel (cx, cy), hull axis ``angle`` (pixel frame)."""
    extra = {} if vessel_id is None else {"vessel_id": vessel_id, "truth": True}
    p_loaded = {"empty": 0.05, "loaded": 0.95, "uncertain": 0.5}.get(load)
    if vessel_type == "other":
        load, p_loaded = "unknown", None
    return Detection(box_px=[cx, cy, length_m / gsd, length_m / 6 / gsd, angle], score=score,
                     vessel_type=vessel_type, type_score=0.9, load=load, p_loaded=p_loaded,
                     heading=angle % (2 * math.pi), extra=extra)


def write_scene(folder: Path, name: str, acquired: str | None, detections, footprint_px=None, gsd=1.0,
                crs=UTM53, origin=ORIGIN, model=None, georeferenced=True, pixel_size=None) -> Path:
    """Write ``folder/name.geojson``; the footprint defaults to the whole SIZE_PX square.
    ``pixel_size`` (CRS units) defaults to ``gsd`` (ground metres), true of UTM near its meridian."""
    if footprint_px is None:
        footprint_px = shapely.box(0, 0, SIZE_PX, SIZE_PX)
    header = {"source": f"{name}.tif", "acquired": acquired,
              "acquired_from": "ACQUISITION_DATETIME" if acquired else None,
              "gsd_m": gsd, "model": model, "scaling": None}
    geojson, _ = write_detection_files(folder / name, list(detections), header,
                                       crs if georeferenced else None,
                                       transform(pixel_size or gsd, origin) if georeferenced else None, footprint_px)
    return geojson


def csv_rows(path: Path) -> list[dict]:
    """A CSV file's rows as dicts keyed by its header."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
