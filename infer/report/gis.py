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
import pickle
import tempfile
from datetime import timezone
from pathlib import Path

from ..core.atomic import atomic_path, atomic_write_text
from ..runtime.detection_file import BOX_COLUMNS, DECIMALS, LADEN_FRACTION_KEYS, box_columns
from .events import EVENTS_CSV_COLUMNS, Event
from .inputs import DatedScene
from .render import event_row

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


def scene_rows(scene: DatedScene, track_of: dict[int, int], extra: dict[int, dict] | None = None) -> list[dict]:
    """One dict per kept detection of ``scene``, in file order: the GeoPackage's columns (see module
    doc) and ``geometry``. ``track_of`` maps ``id(vessel)`` to its track
    (:meth:`~tankerwatch.infer.report.tracking.Tracker.step`); ``extra`` maps a detection's index to
    more columns (``report --ais``: ``ais_mmsi``, ``ais_distance_m``, ``dark``)."""
    rows = []
    for d, (vessel, record) in enumerate(zip(scene.vessels, scene.records, strict=True)):
        properties = {k: v for k, v in record.items() if k not in ("geometry", "box_px", "acquired")}
        rows.append({"acquired": scene.acquired, "acquired_from": scene.acquired_from, "file": scene.path.name,
                     **properties, **box_columns(record), "track_id": track_of.get(id(vessel)),
                     **(extra or {}).get(d, {}), "geometry": record["geometry"]})
    return rows


def _kind(value) -> str | None:
    """What a value asks of its column: None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "json" if isinstance(value, (list, dict)) else "text"


def _merged(kind: str | None, other: str | None) -> str | None:
    if kind is None or kind == other:
        return other if kind is None else kind
    if other is None:
        return kind
    if "json" in (kind, other):
        return "json"
    return "float" if {kind, other} == {"int", "float"} else "text"


def _column(name: str, values: list, kind: str | None):
    """A pandas column that keeps nulls: the schema's type for known columns, else ``kind`` (over
    every row, so each chunk written agrees): booleans and integers as pandas' nullable types (numpy
    would turn them into floats or objects), lists and dicts as JSON text."""
    import pandas as pd

    if name in FLOAT_COLUMNS or (name not in TEXT_COLUMNS and kind == "float"):
        return pd.array([None if v is None else float(v) for v in values], dtype="Float64")
    if name in ("track_id", "sts_pair") or (name not in TEXT_COLUMNS and kind == "int"):  # ids, null or not
        return pd.array(values, dtype="Int64")
    if kind == "bool" and name not in TEXT_COLUMNS:
        return pd.array(values, dtype="boolean")
    if kind == "json" and name not in TEXT_COLUMNS:
        return pd.array([None if v is None else json.dumps(v) for v in values], dtype=object)
    return pd.array([None if v is None else str(v) for v in values], dtype=object)


class DetectionsLayer:
    """``detections.gpkg`` (see module doc) from dates given one at a time, holding none in memory:
    :meth:`add` spills each date's rows to a temporary file; :meth:`write` reads them back in chunks
    once every column's type is known (a column null on the first dates may hold numbers later).
    Needs :func:`geopackage_available`. Use as a context manager (the spill file is removed on exit)."""

    CHUNK_ROWS = 20_000

    def __init__(self):
        self._spill = tempfile.TemporaryFile()
        self._kinds: dict[str, str | None] = {}  # every column, in first-seen order
        self._rows = 0
        self._last = None

    def __enter__(self) -> DetectionsLayer:
        return self

    def __exit__(self, *exc) -> None:
        self._spill.close()

    def add(self, scene: DatedScene, track_of: dict[int, int], extra: dict[int, dict] | None = None) -> None:
        """Add ``scene``'s detections (arguments as :func:`scene_rows`); dates come in time order."""
        rows = scene_rows(scene, track_of, extra)
        for row in rows:
            for key, value in row.items():
                self._kinds[key] = _merged(self._kinds.get(key), _kind(value))
        pickle.dump(rows, self._spill)
        self._rows += len(rows)
        self._last = scene.acquired

    def _chunks(self):
        self._spill.seek(0)
        chunk: list[dict] = []
        while True:
            try:
                chunk += pickle.load(self._spill)
            except EOFError:
                break
            if len(chunk) >= self.CHUNK_ROWS:
                yield chunk
                chunk = []
        if chunk or not self._rows:
            yield chunk

    def write(self, path: Path) -> None:
        """Write the layer atomically to ``path``."""
        import geopandas
        import pandas as pd
        import pyogrio

        fixed = ["acquired", "acquired_from", "file", "source", "model_id", "track_id"]
        names = fixed + [k for k in self._kinds if k not in fixed and k != "geometry"]
        # The GeoPackage records when it was written; the last acquisition time keeps the bytes reproducible.
        previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
        last = self._last.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": last})
        try:
            with atomic_path(path) as tmp:
                for number, rows in enumerate(self._chunks()):
                    columns = {k: _column(k, [r.get(k) for r in rows], self._kinds.get(k))
                               for k in names if k != "acquired"}
                    columns["acquired"] = pd.to_datetime(pd.Series([r["acquired"] for r in rows], dtype=object),
                                                         utc=True)
                    frame = geopandas.GeoDataFrame({k: columns[k] for k in names},
                                                   geometry=[r["geometry"] for r in rows], crs="EPSG:4326")
                    pyogrio.write_dataframe(frame, tmp, layer=DETECTIONS_LAYER, driver="GPKG",
                                            geometry_type="Polygon", append=number > 0)
        finally:
            pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
