"""GeoJSON labels: ``labels/<stem>.geojson`` over the image ``images/<stem>.*``.

A FeatureCollection of Polygon features. Coordinates are, in order of precedence:

* pixels (GDAL frame) when the top-level ``"tankerwatch"`` member says ``"coordinates": "pixel"``;
* the CRS named by a (pre-RFC 7946) ``crs`` member, e.g. the raster's own projected CRS;
* otherwise lon/lat degrees (EPSG:4326, longitude first, RFC 7946).

The last two need a georeferenced image. A feature's box is its ``box_px`` property
(``[cx, cy, L, W, angle]`` in the image's pixels, as detection files and synthetic truth carry it)
when present, else the minimum-area rectangle of the polygon's vertices in pixels. Its class is the
``class`` property (through the class map), else the detection-file ``type``/``load`` properties
(``uncertain`` load reads as unknown). ``heading_deg`` (bearing of the bow, clockwise from true
north), ``difficult``, ``vessel_id`` and ``draft_fraction`` are read when present.

Written files use lon/lat (counter-clockwise rings, 7 decimals) for georeferenced images and pixel
coordinates otherwise, with the ``box_px`` of each vessel, so reading gives back the exact boxes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.polygon import orient

from ..core.atomic import atomic_write_text
from ..core.boxes import min_area_box
from ..core.errors import located
from ..core.georef import bearing_to_pixel_heading, heading_deg, lonlat_to_pixels, pixels_to_lonlat
from ..core.labels import LabelledImage, LoadState, VesselType
from ..runtime.raster import RasterInfo, inspect_raster
from .dataset import ReadContext, is_number, read_label_text, read_per_image_labels

LABEL_DIR = "labels"
SUFFIX = ".geojson"
LONLAT_DECIMALS = 7
PIXEL_DECIMALS = 3


def read_split(split: Path, ctx: ReadContext) -> list[LabelledImage]:
    def parse(path: Path, image: LabelledImage, info: RasterInfo, ctx: ReadContext) -> None:
        text = read_label_text(path, ctx)
        if text is not None:
            parse_text(text, path, image, info, ctx)

    return read_per_image_labels(split, LABEL_DIR, SUFFIX, ctx, parse)


def parse_text(text: str, path, image: LabelledImage, info: RasterInfo, ctx: ReadContext) -> None:
    """Add the vessels of GeoJSON ``text`` (labels of ``image``, header ``info``) to ``image``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        ctx.error(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})")
        return
    except RecursionError:
        ctx.error(located(path, "JSON nested too deeply"))
        return
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(
            data.get("features"), list):
        ctx.error(located(path, "not a GeoJSON FeatureCollection with a 'features' list"))
        return
    to_pixels = _coordinate_mapping(data, path, info, ctx)
    if to_pixels is None:
        return
    header = data.get("tankerwatch")
    if isinstance(header, dict) and not info.georeferenced and is_number(header.get("gsd_m")) \
            and math.isfinite(header["gsd_m"]) and header["gsd_m"] > 0:
        image.gsd_m = float(header["gsd_m"])
    for index, feature in enumerate(data["features"]):
        where = located(path, f"feature {index}")
        props = feature.get("properties") if isinstance(feature, dict) else None
        props = {} if props is None else props
        if not isinstance(feature, dict) or not isinstance(props, dict):
            ctx.error(f"{where}: not a GeoJSON Feature with a properties object")
            continue
        classes = _classes(props, where, ctx)
        if classes is None:
            continue
        box = _box(feature, props, to_pixels, where, ctx)
        if box is None:
            continue
        heading = None
        if props.get("heading_deg") is not None:
            bearing = props["heading_deg"]
            if not (is_number(bearing) and math.isfinite(bearing)):
                ctx.error(f"{where}: heading_deg must be a finite number or null, got {bearing!r}")
                continue
            if info.georeferenced and np.all(np.isfinite(box)):
                heading = bearing_to_pixel_heading(info.crs, info.transform, box[:2], float(bearing))
                heading = heading if math.isfinite(heading) else None
        draft = props.get("draft_fraction")
        if draft is not None and not (is_number(draft) and math.isfinite(draft)):
            ctx.error(f"{where}: draft_fraction must be a finite number, got {draft!r}")
            continue
        ctx.add_vessel(image, box, classes, where, heading=heading, difficult=bool(props.get("difficult")),
                       vessel_id=None if props.get("vessel_id") is None else str(props["vessel_id"]),
                       draft_fraction=None if draft is None else float(draft))


def _coordinate_mapping(data: dict, path, info: RasterInfo, ctx: ReadContext):
    """A function mapping ``[N, 2]`` file coordinates to image pixels, or None (error logged)."""
    header = data.get("tankerwatch")
    if isinstance(header, dict) and header.get("coordinates") == "pixel":
        return lambda xy: xy
    if not info.georeferenced:
        ctx.error(located(path, f"coordinates are geographic but {info.path.name} has no georeferencing"))
        return None
    named = data.get("crs")
    if named is None:
        return lambda xy: lonlat_to_pixels(info.crs, info.transform, xy)
    try:
        crs = CRS.from_user_input(named["properties"]["name"])
    except (CRSError, KeyError, TypeError) as exc:
        ctx.error(located(path, f"unknown 'crs' member ({' '.join(str(exc).split())[:120]})"))
        return None
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def mapping(xy):
        lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
        return lonlat_to_pixels(info.crs, info.transform, np.stack([lon, lat], axis=-1))

    return mapping


def _classes(props: dict, where: str, ctx: ReadContext):
    if "class" in props:
        if not isinstance(props["class"], str):
            ctx.error(f"{where}: class must be a string, got {props['class']!r}")
            return None
        return ctx.lookup(props["class"], where)
    if "type" not in props:
        ctx.error(f"{where}: needs a 'class' property or 'type'/'load' properties")
        return None
    type_value, load_value = props["type"], props.get("load") or "unknown"
    load_value = "unknown" if load_value == "uncertain" else load_value
    try:
        vessel_type, load = VesselType(type_value), LoadState(load_value)
    except ValueError:
        ctx.error(f"{where}: type/load {type_value!r}/{load_value!r} not known; types "
                  f"{[t.value for t in VesselType]}, loads {[s.value for s in LoadState]} (or uncertain)")
        return None
    return vessel_type, load


def _box(feature: dict, props: dict, to_pixels, where: str, ctx: ReadContext):
    box_px = props.get("box_px")
    if box_px is not None:
        if isinstance(box_px, list) and len(box_px) == 5 and all(is_number(v) for v in box_px):
            return np.asarray(box_px, dtype=np.float64)
        ctx.error(f"{where}: box_px must be 5 numbers [cx, cy, length, width, angle]")
        return None
    geometry = feature.get("geometry")
    ring = None
    if isinstance(geometry, dict) and geometry.get("type") == "Polygon":
        rings = geometry.get("coordinates")
        ring = rings[0] if isinstance(rings, list) and rings and isinstance(rings[0], list) else None
    if not ring or not all(isinstance(p, list) and len(p) >= 2 and all(is_number(v) for v in p[:2])
                           for p in ring):
        ctx.error(f"{where}: geometry must be a Polygon with a ring of [x, y] positions")
        return None
    points = np.asarray([p[:2] for p in ring], dtype=np.float64)
    if not np.all(np.isfinite(points)):
        ctx.error(f"{where}: coordinates are not finite numbers")
        return None
    with np.errstate(all="ignore"):
        pixels = np.asarray(to_pixels(points), dtype=np.float64)
    if not np.all(np.isfinite(pixels)):
        ctx.error(f"{where}: coordinates do not map to finite pixel positions")
        return None
    return min_area_box(pixels)


def to_geojson(image: LabelledImage, info: RasterInfo) -> dict:
    """The label FeatureCollection of ``image`` (see module doc for the coordinates chosen)."""
    georeferenced = info.georeferenced
    features = []
    for vessel in image.vessels:
        ring = vessel.corners()
        digits = PIXEL_DECIMALS
        if georeferenced:
            ring, digits = pixels_to_lonlat(info.crs, info.transform, ring), LONLAT_DECIMALS
        polygon = orient(shapely.Polygon(ring), sign=1.0)
        coords = [[round(float(x), digits), round(float(y), digits)] for x, y in polygon.exterior.coords]
        props = {"class": vessel.class_name, "type": vessel.vessel_type.value, "load": vessel.load.value,
                 "box_px": [float(v) for v in vessel.box], "difficult": vessel.difficult,
                 "heading_deg": None}
        if georeferenced and vessel.heading is not None:
            props["heading_deg"] = round(heading_deg(info.crs, info.transform, vessel.box, vessel.heading), 4)
        for name in ("vessel_id", "draft_fraction"):
            if getattr(vessel, name) is not None:
                props[name] = getattr(vessel, name)
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [coords]},
                         "properties": props})
    header = {"labels": True, "source": Path(image.image_path).name,
              "coordinates": "lonlat" if georeferenced else "pixel", "gsd_m": image.gsd_m}
    return {"type": "FeatureCollection", "tankerwatch": header, "features": features}


def write_split(images: list[LabelledImage], out_dir: Path, class_names: tuple[str, ...]) -> None:
    for image in images:
        collection = to_geojson(image, inspect_raster(image.image_path))
        atomic_write_text(out_dir / LABEL_DIR / f"{Path(image.image_path).stem}{SUFFIX}",
                          json.dumps(collection, indent=1) + "\n")
