"""The report's map layers, for a GIS or a dataframe: ``events.geojson`` and ``detections.gpkg``.

``events.geojson`` is RFC 7946: a FeatureCollection in lon/lat degrees on WGS84 (longitude first,
7 decimals), no ``crs`` member. One Point feature per event, at the tanker's centre where the event
was seen (arrival: its first sighting; departure: its last; loading and discharge: the sighting in
the new state). Properties: the events CSV's columns under the same names, so the two join
(``event``, ``vessel_id``, ``track_id``, ``date_before``, ``date_after``, ``lon``, ``lat``,
``length_m``, ``size_class``, ``load``, ``cargo_barrels`` = the central estimate, ``barrels_low``,
``barrels_high``; an empty value is null), plus ``load_before`` and ``load_after`` (null where the
tanker was absent: before an arrival, after a departure) and ``source_before`` and ``source_after``,
the detection files of the two bracketing dates (as ``counts.csv`` names them).

``detections.gpkg`` (GeoPackage, written with pyogrio; needs the ``geo`` extra) has one layer,
``detections``: a Polygon in EPSG:4326 for every detection the report kept, on every date, with
``acquired`` (a UTC datetime column: the date the report used, the file's own or the one
``--dates``/``--date-pattern`` gave), ``acquired_from``, ``file`` (the detection file), every feature
property as written (``source``, ``model_id``, ``score``, ``type``, ``load``, ``p_loaded``, ...),
``box_px`` as the plain columns :data:`~tankerwatch.infer.runtime.detection_file.BOX_COLUMNS` (a
GeoPackage has no list type), and ``track_id``: the report's track of that tanker, the key into
``events.geojson`` (null for vessels not tracked: other vessels, unknown types, outside the area).

Both are written atomically and hold no wall-clock time: the GeoPackage's own timestamp is set to
the last acquisition date, so the same inputs give the same bytes.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import timezone
from pathlib import Path

from ..core.atomic import atomic_path, atomic_write_text
from ..runtime.detection_file import BOX_COLUMNS, DECIMALS, LADEN_FRACTION_KEYS, box_columns
from .events import EVENTS_CSV_COLUMNS, Event
from .inputs import DatedScene
from .render import event_row
from .tracking import Track

DETECTIONS_LAYER = "detections"
# Column types fixed by the detection file's schema, so a column that is all null on these dates
# (no tanker, a model without laden fraction) has the same field type as in any other report.
FLOAT_COLUMNS = ("score", "type_score", "p_loaded", "length_m", "width_m", "heading_deg", "draft_fraction",
                 *LADEN_FRACTION_KEYS, "freeboard_m", *BOX_COLUMNS)
TEXT_COLUMNS = ("acquired_from", "file", "source", "model_id", "type", "load", "vessel_id")
# Which load state an event leaves behind and finds: None where the tanker was not there.
_LOADS_AROUND = {"arrival": lambda load: (None, load), "departure": lambda load: (load, None),
                 "loading": lambda load: ("empty", "loaded"), "discharge": lambda load: ("loaded", "empty")}


def event_feature(event: Event, sources: dict, dark: dict | None = None) -> dict:
    """One event as a GeoJSON Point feature (see module doc); ``sources`` maps each acquisition
    time to its detection file's name; ``dark`` (from ``report --ais``) maps (track id, acquisition
    time) to whether the tanker was dark then, giving ``dark_before``/``dark_after`` (null where the
    tanker was not seen)."""
    properties = {k: (None if v == "" else v) for k, v in zip(EVENTS_CSV_COLUMNS, event_row(event), strict=True)}
    properties["load_before"], properties["load_after"] = _LOADS_AROUND[event.kind](event.load)
    properties["source_before"] = sources[event.date_before]
    properties["source_after"] = sources[event.date_after]
    if dark is not None:
        properties["dark_before"] = dark.get((event.track_id, event.date_before))
        properties["dark_after"] = dark.get((event.track_id, event.date_after))
    point = [round(event.lon, DECIMALS), round(event.lat, DECIMALS)]
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": point}, "properties": properties}


def write_events_geojson(path: Path, events: list[Event], scenes: list[DatedScene], dark: dict | None = None) -> None:
    sources = {s.acquired: s.path.name for s in scenes}
    collection = {"type": "FeatureCollection", "features": [event_feature(e, sources, dark) for e in events]}
    atomic_write_text(path, json.dumps(collection, indent=1, allow_nan=False) + "\n")


def geopackage_available() -> bool:
    """Whether the ``geo`` extra (geopandas, pyogrio) is installed, which ``detections.gpkg`` needs."""
    return all(importlib.util.find_spec(name) is not None for name in ("geopandas", "pyogrio"))


def detection_rows(scenes: list[DatedScene], tracks: list[Track], extra: dict | None = None) -> list[dict]:
    """One dict per kept detection of every date, in date then file order: the GeoPackage's
    columns (see module doc) and ``geometry``; ``extra`` maps (scene index, detection index) to more
    columns (``report --ais``: ``ais_mmsi``, ``ais_distance_m``, ``dark``)."""
    track_of = {id(s.vessel): t.track_id for t in tracks for s in t.sightings}
    rows = []
    for i, scene in enumerate(scenes):
        for d, (vessel, record) in enumerate(zip(scene.vessels, scene.records, strict=True)):
            properties = {k: v for k, v in record.items() if k not in ("geometry", "box_px", "acquired")}
            rows.append({"acquired": scene.acquired, "acquired_from": scene.acquired_from, "file": scene.path.name,
                         **properties, **box_columns(record), "track_id": track_of.get(id(vessel)),
                         **(extra or {}).get((i, d), {}), "geometry": record["geometry"]})
    return rows


def _column(name: str, values: list):
    """A pandas column that keeps nulls: the schema's type for known columns, else booleans and
    integers as pandas' nullable types (numpy would turn them into floats or objects), lists and
    dicts as JSON text."""
    import pandas as pd

    if name in FLOAT_COLUMNS:
        return pd.array([None if v is None else float(v) for v in values], dtype="Float64")
    if name in TEXT_COLUMNS:
        return pd.array([None if v is None else str(v) for v in values], dtype=object)
    if name == "track_id":
        return pd.array(values, dtype="Int64")
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pd.array(values, dtype="boolean")
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pd.array(values, dtype="Int64")
    if any(isinstance(v, (list, dict)) for v in present):
        return pd.array([None if v is None else json.dumps(v) for v in values], dtype=object)
    return pd.array(values, dtype=None if present else object)


def write_detections_gpkg(path: Path, scenes: list[DatedScene], tracks: list[Track], extra: dict | None = None) -> None:
    """Write ``detections.gpkg`` (see module doc; ``extra`` as :func:`detection_rows`); needs
    :func:`geopackage_available`."""
    import geopandas
    import pandas as pd
    import pyogrio

    rows = detection_rows(scenes, tracks, extra)
    fixed = ["acquired", "acquired_from", "file", "source", "model_id", "track_id"]
    names = fixed + [k for k in dict.fromkeys(k for r in rows for k in r) if k not in fixed and k != "geometry"]
    columns = {k: _column(k, [r.get(k) for r in rows]) for k in names if k != "acquired"}
    columns["acquired"] = pd.to_datetime(pd.Series([r["acquired"] for r in rows], dtype=object), utc=True)
    frame = geopandas.GeoDataFrame({k: columns[k] for k in names}, geometry=[r["geometry"] for r in rows],
                                   crs="EPSG:4326")
    # The GeoPackage records when it was written; the last acquisition time keeps the bytes reproducible.
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    last = scenes[-1].acquired.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": last})
    try:
        with atomic_path(path) as tmp:
            pyogrio.write_dataframe(frame, tmp, layer=DETECTIONS_LAYER, driver="GPKG", geometry_type="Polygon")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
