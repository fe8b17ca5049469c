"""The area of interest an analyst would draw for a synthetic terminal: its waters, and its berths.

``report --aoi`` counts only vessels whose centre lies inside the file's polygons and takes every
feature marked ``"kind": "berth"`` as a berth (:mod:`tankerwatch.infer.report.sts`). For a real port
an analyst draws the harbour's waters from a coastline and the piers of a map (OpenStreetMap's land
polygons and ``man_made=pier``); this writes the same thing for a generated terminal, from the
layout it was drawn with:

* ``waters``: the imaged square less land, quays, jetty trestles and jetty heads, so a shadowed
  building ashore or a pale jetty head a detector takes for a hull is not counted as a vessel. A
  berthed hull's centre lies on the water beside the quay or head, inside the polygon.
* one ``berth`` per berth: the line a moored hull's side lies along, as long as the berth is free.

GeoJSON FeatureCollection in lon/lat (EPSG:4326, RFC 7946, 7 decimals), written atomically.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import shapely

from ..core.atomic import atomic_write_text
from ..core.georef import pixels_to_lonlat
from .background import Layout

DECIMALS = 7


def _lonlat(geometry, crs, transform):
    return shapely.transform(geometry, lambda xy: np.round(pixels_to_lonlat(crs, transform, xy), DECIMALS))


def aoi_features(layout: Layout, size: int, crs, transform) -> dict:
    """The FeatureCollection (module doc) of a ``size`` x ``size`` px scene drawn from ``layout``
    (pixel frame: x right, y down; ``transform`` maps pixels to ``crs``)."""
    structures = [shapely.Polygon(p) for p in layout.land + layout.quays]
    structures += [shapely.Polygon(part) for jetty in layout.jetties for part in jetty]
    waters = shapely.box(0, 0, size, size).difference(shapely.union_all(structures))
    features = [{"type": "Feature", "properties": {"name": "terminal waters", "kind": "waters"},
                 "geometry": shapely.geometry.mapping(shapely.orient_polygons(_lonlat(waters, crs, transform)))}]
    for index, berth in enumerate(layout.berths):
        along = np.array([math.cos(berth.heading), math.sin(berth.heading)])
        half = berth.max_length_m / 2 / layout.gsd_m
        line = shapely.LineString([berth.centre - half * along, berth.centre + half * along])
        features.append({"type": "Feature", "properties": {"name": f"berth {index + 1}", "kind": "berth"},
                         "geometry": shapely.geometry.mapping(_lonlat(line, crs, transform))})
    return {"type": "FeatureCollection", "features": features}


def write_aoi(path: Path, layout: Layout, size: int, crs, transform) -> Path:
    """Write :func:`aoi_features` to ``path``; returns it."""
    atomic_write_text(path, json.dumps(aoi_features(layout, size, crs, transform), indent=1) + "\n")
    return path
