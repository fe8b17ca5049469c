"""The detection file: what ``detect`` writes and ``report`` and evaluation read.

Per scene, ``<stem>.geojson`` and ``<stem>.csv`` (written atomically).

GeoJSON (RFC 7946): a FeatureCollection with one Polygon feature per vessel, a closed 4-corner ring,
counter-clockwise, in lon/lat degrees (EPSG:4326, longitude first) to 7 decimals. A raster without
georeferencing gives pixel coordinates instead (``coordinates: "pixel"``, a warning is printed, and
``report`` refuses the file). Feature properties:

* ``score`` (vessel confidence), ``type`` (``tanker``/``other``, or ``unknown`` from a model not
  taught types: its header's ``model.taught``), ``type_score`` (null for ``unknown``);
* ``load`` (``empty``/``loaded``/``uncertain``/``unknown``; ``unknown`` for type ``other`` or
  ``unknown``, and for tankers from a model not taught load) and ``p_loaded`` (probability of
  loaded given tanker; null wherever ``load`` is ``unknown``);
* ``laden_fraction`` with ``laden_fraction_lo`` and ``laden_fraction_hi`` (where the draft lies
  between the size class's ballast draft, 0, and laden draft, 1: the model's median and its
  interval, at the levels the header's ``model.laden_fraction_quantiles`` gives) and
  ``freeboard_m`` (metres, the deck edge above the water: a ``format_version`` 3 model's own
  estimate, with its interval ``freeboard_m_lo`` and ``freeboard_m_hi`` at the same levels (since
  models exported on 2026-12-05, within the freeboards a hull of its size class can have); from
  older models derived from the laden fraction and the size class at the hull's length,
  :func:`tankerwatch.infer.core.tanker_sizes.freeboard_at`, with ``_lo``/``_hi`` null); null for
  vessels not read as tankers, above the model's ``load_max_gsd_m``, and from models without a
  laden-fraction output. Optional members: a file without them (written before they existed) reads
  as null, so the file's ``format_version`` stays 1;
* ``length_m``, ``width_m`` (geodesic from the corners; null when no scale is known);
* ``heading_deg`` (geodesic bearing of the bow, clockwise from true north; null if unknown);
* ``box_px``: ``[cx, cy, length, width, angle]`` in the full-resolution source raster's pixels
  (see :mod:`tankerwatch.infer.core.boxes` for the convention); tables without lists (the CSV, a
  GeoPackage, a dataframe) carry it as the plain numbers :data:`BOX_COLUMNS`;
* ``source``, ``acquired`` and ``model_id``, copied from the header onto every feature (and CSV
  row), so files of several scenes concatenated in a GIS or a dataframe keep what they came from;
* ``sts_pair``: the id (1, 2, ...) of the raft of vessels side by side this one belongs to, a
  ship-to-ship transfer candidate (:mod:`tankerwatch.infer.runtime.sts`), or null; optional (files
  from before it, and scenes without a GSD, read as null); in synthetic truth, the true pair;
* synthetic ground truth adds ``vessel_id``, ``draft_fraction`` and ``truth: true``.

The top-level member ``"tankerwatch"`` holds the header: ``format_version``, ``source`` (file name),
``acquired`` (UTC ISO 8601 or null) and ``acquired_from``, ``gsd_m``, ``crs`` (WKT or null),
``coordinates`` (``lonlat``/``pixel``), ``model`` (id = sha256 of the .onnx bytes, and a metadata
summary), ``project_version``, ``scaling``, and ``footprint``: the observed (valid) pixels as a
geometry in the file's coordinates, so a report can tell "no tanker here" from "not imaged". A scene
given as a STAC item adds ``stac`` (item, asset, href and, where the item has them, ``view``: its
``view:`` sun and view angles, degrees, keys without the prefix, as the item states them). A scene
run through a model with the view input (``format_version`` 3) adds ``view``: the angles it was fed
(:func:`tankerwatch.infer.runtime.view_angles.header_member`): ``source`` (``flags``, ``angles
argument``, ``sidecar NAME``, ``STAC view``, ``GeoTIFF tags``, ``IMD NAME``, one per pair as ``X
(sun), Y (view)``, or null), ``sun_elevation_deg``, ``sun_azimuth_deg``, ``view_zenith_deg``,
``view_azimuth_deg`` (geographic: clockwise from true north, the view's from the ground towards the
sensor; null when unknown, the view azimuth also at nadir), ``image_sun_azimuth_deg`` and
``image_view_azimuth_deg`` (what the model took: clockwise from the image's up direction), and
``load_geometry`` (``angles``, or ``geometry-free`` when they were incomplete). Both beyond
CONVENTIONS.md's list, optional, and ignored by readers. ``source`` is the input as given: a file
name, or the URL.

The CSV has one row per vessel: :data:`CSV_COLUMNS` (``x``, ``y``: the polygon's centroid in the
file's coordinates, lon/lat degrees when georeferenced), then every other property by name.
No wall-clock time is written, so the same input gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.polygon import orient

from .. import __version__
from ..core.atomic import atomic_write_text
from ..core.boxes import box_corners
from ..core.errors import TankerwatchError, located
from ..core.georef import box_size_m, heading_deg, pixels_to_lonlat
from ..core.json_file import read_json

FORMAT_VERSION = 1
VESSEL_TYPES = ("tanker", "other", "unknown")
LOAD_LABELS = ("empty", "loaded", "uncertain", "unknown")
DECIMALS = 7
# Header members repeated on every feature: what a row needs to be joined on once files are merged.
JOINED_FROM_HEADER = ("source", "acquired", "model_id")
LADEN_FRACTION_KEYS = ("laden_fraction", "laden_fraction_lo", "laden_fraction_hi")
FREEBOARD_KEYS = ("freeboard_m", "freeboard_m_lo", "freeboard_m_hi")
# ``box_px`` as plain numbers, for tables that hold no lists (CSV, GeoPackage, dataframes).
BOX_COLUMNS = ("cx_px", "cy_px", "length_px", "width_px", "angle_rad")
CSV_COLUMNS = ("index", "type", "load", "score", "type_score", "p_loaded", "length_m", "width_m",
               "heading_deg", "x", "y", *BOX_COLUMNS)


@dataclass
class Detection:
    """One vessel. ``box_px``: ``[cx, cy, L, W, angle]`` in source-raster pixels (L >= W, angle in
    ``[-pi/2, pi/2)``); ``heading``: bow direction in radians in the pixel frame, or None.
    ``type_score`` is None exactly when ``vessel_type`` is ``unknown``. ``laden_fraction``:
    ``(central, lo, hi)`` in [0, 1] or None (tankers only); ``freeboard_m`` likewise (metres), and
    ``freeboard_range_m`` its ``(lo, hi)`` where the model estimated one, else None."""

    box_px: np.ndarray
    score: float
    vessel_type: str
    type_score: float | None
    load: str
    p_loaded: float | None
    heading: float | None = None
    extra: dict = field(default_factory=dict)
    laden_fraction: tuple[float, float, float] | None = None
    freeboard_m: float | None = None
    freeboard_range_m: tuple[float, float] | None = None

    def __post_init__(self):
        self.box_px = np.asarray(self.box_px, dtype=np.float64).reshape(5)
        if self.vessel_type not in VESSEL_TYPES:
            raise ValueError(f"vessel_type must be one of {VESSEL_TYPES}, got {self.vessel_type!r}")
        if self.load not in LOAD_LABELS:
            raise ValueError(f"load must be one of {LOAD_LABELS}, got {self.load!r}")
        if self.vessel_type != "tanker" and (self.load != "unknown" or self.p_loaded is not None):
            raise ValueError(f"a vessel of type {self.vessel_type!r} has load 'unknown' and p_loaded None")
        if self.freeboard_range_m is not None:
            self.freeboard_range_m = tuple(float(v) for v in self.freeboard_range_m)
            if self.freeboard_m is None or not self.freeboard_range_m[0] <= self.freeboard_m <= self.freeboard_range_m[1]:
                raise ValueError(f"freeboard_m needs lo <= central <= hi, got {self.freeboard_m} within "
                                 f"{self.freeboard_range_m}")
        if self.vessel_type != "tanker" and (self.laden_fraction is not None or self.freeboard_m is not None):
            raise ValueError(f"a vessel of type {self.vessel_type!r} has laden_fraction and freeboard_m None")
        if self.laden_fraction is not None:
            self.laden_fraction = tuple(float(v) for v in self.laden_fraction)
            central, lo, hi = self.laden_fraction
            if not 0.0 <= lo <= central <= hi <= 1.0:
                raise ValueError(f"laden_fraction needs 0 <= lo <= central <= hi <= 1, got {self.laden_fraction}")
        if (self.type_score is None) != (self.vessel_type == "unknown"):
            raise ValueError(f"type_score is null exactly when the type is 'unknown', got {self.type_score!r} "
                             f"for type {self.vessel_type!r}")


@dataclass
class DetectionFile:
    """A parsed detection file: header, detections, and each one's polygon in file coordinates."""

    path: Path
    header: dict
    detections: list[Detection]
    polygons: list  # shapely Polygons, lon/lat or pixel per header["coordinates"]
    footprint: object | None  # shapely geometry in the same coordinates, or None
    properties: list[dict]  # each feature's properties as written (length_m, heading_deg, ...)

    @property
    def georeferenced(self) -> bool:
        return self.header.get("coordinates") == "lonlat"


def box_columns(properties: dict) -> dict:
    """A feature's ``box_px`` as the plain :data:`BOX_COLUMNS` (pixels, pixels, pixels, pixels, radians)."""
    return dict(zip(BOX_COLUMNS, properties["box_px"], strict=True))


def _round(value, digits=DECIMALS):
    return None if value is None else round(float(value), digits)


def _ring(points_xy: np.ndarray) -> dict:
    polygon = orient(shapely.Polygon(np.round(points_xy, DECIMALS)), sign=1.0)  # counter-clockwise
    return mapping(polygon)


def footprint_geometry(footprint_px, crs=None, transform=None) -> dict | None:
    """GeoJSON geometry of a pixel-frame footprint (shapely), in lon/lat when georeferenced."""
    if footprint_px is None:
        return None
    if crs is not None and transform is not None:
        footprint_px = shapely.transform(footprint_px, lambda xy: pixels_to_lonlat(crs, transform, xy))
    footprint_px = shapely.set_precision(footprint_px, 10.0 ** -DECIMALS)
    return mapping(shapely.normalize(footprint_px))


def _feature(det: Detection, crs, transform, gsd_m: float | None, joined: dict) -> dict:
    bow_box = det.box_px.copy()
    if det.heading is not None:
        bow_box[4] = det.heading  # corners start at the bow end when the heading is known
    corners = box_corners(bow_box)
    if crs is not None and transform is not None:
        corners = pixels_to_lonlat(crs, transform, corners)
        length_m, width_m = box_size_m(crs, transform, det.box_px)
        bearing = None if det.heading is None else heading_deg(crs, transform, det.box_px, det.heading)
    else:
        length_m = width_m = None
        if gsd_m:
            length_m, width_m = det.box_px[2] * gsd_m, det.box_px[3] * gsd_m
        bearing = None
    properties = {
        "score": _round(det.score, 4),
        "type": det.vessel_type,
        "type_score": _round(det.type_score, 4),
        "load": det.load,
        "p_loaded": _round(det.p_loaded, 4),
        **laden_fraction_properties(det),
        "length_m": _round(length_m, 1),
        "width_m": _round(width_m, 1),
        "heading_deg": _round(bearing, 1),
        "box_px": [_round(v, 3) for v in det.box_px[:4]] + [_round(det.box_px[4], 6)],
        **det.extra,
        **joined,
    }
    return {"type": "Feature", "geometry": _ring(corners), "properties": properties}


def build_collection(detections: list[Detection], header: dict, crs=None, transform=None,
                     footprint_px=None) -> dict:
    """The FeatureCollection dict for ``detections`` (see module doc for the schema).

    ``header`` supplies the scene- and model-specific members (source, acquired, acquired_from,
    gsd_m, model, scaling); the format version, project version, CRS, coordinate kind and
    footprint are filled in here.
    """
    georeferenced = crs is not None and transform is not None
    meta = {
        "format_version": FORMAT_VERSION,
        "project_version": __version__,
        **header,
        "crs": crs.to_wkt() if georeferenced and hasattr(crs, "to_wkt") else (str(crs) if georeferenced else None),
        "coordinates": "lonlat" if georeferenced else "pixel",
        "footprint": footprint_geometry(footprint_px, crs, transform),
    }
    joined = dict(zip(JOINED_FROM_HEADER, (header.get("source"), header.get("acquired"),
                                           (header.get("model") or {}).get("id")), strict=True))
    features = [_feature(d, crs, transform, header.get("gsd_m"), joined) for d in detections]
    return {"type": "FeatureCollection", "tankerwatch": meta, "features": features}


def laden_fraction_properties(det: Detection) -> dict:
    """The feature properties of a detection's laden fraction and freeboard (nulls when unknown)."""
    fraction = det.laden_fraction or (None, None, None)
    freeboard = (det.freeboard_m, *(det.freeboard_range_m or (None, None)))
    return {**{name: _round(v, 4) for name, v in zip(LADEN_FRACTION_KEYS, fraction, strict=True)},
            **{name: _round(v, 2) for name, v in zip(FREEBOARD_KEYS, freeboard, strict=True)}}


def _csv_text(collection: dict) -> str:
    extra_keys = sorted({k for f in collection["features"] for k in f["properties"]}
                        - set(CSV_COLUMNS) - {"box_px"})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *extra_keys])
    for index, feature in enumerate(collection["features"]):
        p = feature["properties"]
        centre = shapely.centroid(shape(feature["geometry"]))
        row = [index, p["type"], p["load"], p["score"], p["type_score"], p["p_loaded"], p["length_m"],
               p["width_m"], p["heading_deg"], round(centre.x, DECIMALS), round(centre.y, DECIMALS), *p["box_px"]]
        row += [p.get(k) for k in extra_keys]
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def write_detection_files(stem_path: str | Path, detections: list[Detection], header: dict, crs=None,
                          transform=None, footprint_px=None) -> tuple[Path, Path]:
    """Write ``<stem>.geojson`` and ``<stem>.csv`` atomically; return their paths.

    Without georeferencing the files hold pixel coordinates and a warning is printed to stderr.
    """
    stem_path = Path(stem_path)
    collection = build_collection(detections, header, crs, transform, footprint_px)
    if collection["tankerwatch"]["coordinates"] == "pixel":
        print(f"warning: {header.get('source', stem_path.name)}: no georeferencing; "
              "detections are in pixel coordinates and `report` will refuse them", file=sys.stderr)
    geojson_path = stem_path.with_name(stem_path.name + ".geojson")
    csv_path = stem_path.with_name(stem_path.name + ".csv")
    atomic_write_text(geojson_path, json.dumps(collection, indent=1, allow_nan=False) + "\n")
    atomic_write_text(csv_path, _csv_text(collection))
    return geojson_path, csv_path


def _detection_from_properties(p: dict, where: str) -> Detection:
    known = {"score", "type", "type_score", "load", "p_loaded", "length_m", "width_m", "heading_deg", "box_px",
             *JOINED_FROM_HEADER, *LADEN_FRACTION_KEYS, *FREEBOARD_KEYS}
    try:
        box = np.asarray(p["box_px"], dtype=np.float64)
        fraction = [p.get(k) for k in LADEN_FRACTION_KEYS]
        freeboard_range = [p.get(k) for k in FREEBOARD_KEYS[1:]]
        det = Detection(box_px=box, score=float(p["score"]), vessel_type=p["type"],
                        type_score=None if p["type_score"] is None else float(p["type_score"]), load=p["load"],
                        p_loaded=None if p.get("p_loaded") is None else float(p["p_loaded"]),
                        extra={k: v for k, v in p.items() if k not in known},
                        laden_fraction=None if None in fraction else tuple(float(v) for v in fraction),
                        freeboard_m=None if p.get("freeboard_m") is None else float(p["freeboard_m"]),
                        freeboard_range_m=None if None in freeboard_range else tuple(map(float, freeboard_range)))
    except (KeyError, TypeError, ValueError) as exc:
        raise TankerwatchError(f"{where}: bad feature properties ({exc})") from None
    if not np.all(np.isfinite(det.box_px)):
        raise TankerwatchError(f"{where}: box_px is not finite")
    return det


def _checked_header(path: Path, data) -> dict:
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise TankerwatchError(located(path, "not a GeoJSON FeatureCollection"))
    header = data.get("tankerwatch")
    if not isinstance(header, dict):
        raise TankerwatchError(located(path, "no 'tankerwatch' header: not a tankerwatch detection file"))
    if header.get("format_version") != FORMAT_VERSION:
        raise TankerwatchError(located(path, f"unknown detection file format_version "
                                             f"{header.get('format_version')!r} (this version reads {FORMAT_VERSION})"))
    return header


def _footprint(path: Path, header: dict):
    try:
        return shape(header["footprint"]) if header.get("footprint") else None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TankerwatchError(located(path, f"header 'footprint': bad geometry ({exc})")) from None


def read_detection_header(path: str | Path) -> tuple[dict, object | None]:
    """The checked header of a detection file and its footprint (shapely, or None), building no
    detection: what a reader needs to date, place and sort many files before reading any in full."""
    path = Path(path)
    header = _checked_header(path, read_json(path))
    return header, _footprint(path, header)


def read_detection_file(path: str | Path) -> DetectionFile:
    """Parse and validate a detection file written by :func:`write_detection_files`."""
    path = Path(path)
    data = read_json(path)
    header = _checked_header(path, data)
    detections, polygons, properties = [], [], []
    for index, feature in enumerate(data.get("features") or []):
        where = located(path, f"feature {index}")
        try:
            polygon = shape(feature["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TankerwatchError(f"{where}: bad geometry ({exc})") from None
        if polygon.geom_type != "Polygon" or not all(math.isfinite(c) for c in polygon.bounds):
            raise TankerwatchError(f"{where}: geometry must be a finite Polygon")
        detections.append(_detection_from_properties(feature.get("properties") or {}, where))
        polygons.append(polygon)
        properties.append(dict(feature.get("properties") or {}))
    return DetectionFile(path, header, detections, polygons, _footprint(path, header), properties)
