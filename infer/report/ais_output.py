"""What the AIS check adds to a report: ``ais_matches.csv`` / ``ais_matches.geojson``, a report
section, and columns for the report's other map layers.

``ais_matches.*`` hold one record per detection per date (its ``ais_mmsi``, ``ais_distance_m`` and
``dark``, see :mod:`tankerwatch.infer.report.ais`) and one per AIS-only position; the GeoJSON has
them as lon/lat points (EPSG:4326, RFC 7946) for a GIS. Dates are UTC. Written atomically, and the
same inputs give the same bytes.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.ais_file import MAX_NAMED_BAD_ROWS, AisFile
from ..core.atomic import atomic_write_csv, atomic_write_text
from .ais import MATCH_COLUMNS, AisResult, SceneAis, match_rows
from .inputs import iso_utc

if TYPE_CHECKING:  # document.py imports this module to add the section
    from .document import Document

AIS_OUTPUT_NAMES = ("ais_matches.csv", "ais_matches.geojson")


def bad_row_lines(f: AisFile) -> list[str]:
    """``file:line: reason`` for the first bad rows skipped, then how many more there were."""
    more = [f"{f.path}: {f.bad - len(f.bad_lines)} more bad rows skipped"] if f.bad > MAX_NAMED_BAD_ROWS else []
    return f.bad_lines + more


def detection_columns(scene: SceneAis) -> dict[int, dict]:
    """Detection index -> ``ais_mmsi``, ``ais_distance_m``, ``ais_piece``, ``dark`` for the report's
    per-date detection layer, for one date."""
    return {d: {"ais_mmsi": v.mmsi, "ais_distance_m": v.distance_m, "ais_piece": v.piece, "dark": v.dark}
            for d, v in enumerate(scene.vessels)}


def dark_sightings(result: AisResult) -> dict[tuple[int, datetime], bool]:
    """(track id, acquisition time) -> whether that tanker was dark on that date."""
    return {(track, scene_ais.scene.acquired): found.dark
            for i, scene_ais in enumerate(result.scenes)
            for vessel, found in zip(scene_ais.scene.vessels, scene_ais.vessels, strict=True)
            if (track := result.track_of.get((i, id(vessel)))) is not None}


def write_match_files(out_dir: Path, result: AisResult) -> tuple[Path, Path]:
    """Write ``ais_matches.csv`` and ``ais_matches.geojson`` into ``out_dir``; return their paths."""
    rows = match_rows(result)
    csv_path, geojson_path = (out_dir / name for name in AIS_OUTPUT_NAMES)
    atomic_write_csv(csv_path, MATCH_COLUMNS,
                     [[str(v).lower() if isinstance(v, bool) else v for v in row.values()] for row in rows])
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
                 "properties": {k: v for k, v in row.items() if k not in ("lon", "lat")}} for row in rows]
    atomic_write_text(geojson_path, json.dumps({"type": "FeatureCollection", "features": features}, indent=1,
                                               allow_nan=False) + "\n")
    return csv_path, geojson_path


def summary_line(result: AisResult) -> str:
    """One line for stdout: what was read and what was found."""
    f = result.file
    bad = f", {f.bad} bad rows skipped" if f.bad else ""
    return (f"AIS {f.path.name}: {f.rows:,} rows{bad}, {f.kept:,} fixes of {len(f.tracks)} transponders within "
            f"{result.tolerances.window_min:g} min of an image time ({sum(len(s.sparse) for s in result.scenes)} "
            f"placements too sparse); {result.dark_tankers} of {result.tankers} "
            f"tanker sightings dark, {result.ais_only} AIS-only positions")


def add_ais_section(doc: Document, result: AisResult) -> None:
    """The report's dark-vessel section: method, per-date counts, dark tankers, AIS-only positions."""
    f, tol = result.file, result.tolerances
    doc.heading("Dark vessels (against AIS)")
    doc.para(
        f"Detections compared with the AIS position reports in {f.path.name}: {f.rows:,} rows, "
        f"{f.bad} bad rows skipped, {f.kept:,} fixes from {len(f.tracks)} transponders within "
        f"{tol.window_min:g} min of an image time. Each transponder is placed at the image time (interpolated "
        f"between the fixes around it, or its nearest fix); a tanker whose hull has no AIS position within "
        f"{tol.position_m:g} m (plus its speed times the time to the nearest fix) is dark. An AIS position inside "
        f"the imaged area with no vessel there is AIS-only: a spoofed position, or a vessel the detector missed. "
        f"A transponder whose speed times the time to its nearest fix exceeds {tol.max_drift_m:g} m is too sparse "
        f"to place and vouches for no vessel. "
        f"Other vessels take their AIS positions too, but are not judged: small craft and barges carry no AIS.")
    doc.table(["date", "tankers", "dark tankers", "AIS transponders placed", "too sparse to place", "AIS-only"],
              [[iso_utc(s.scene.acquired), s.tankers, s.dark_tankers, len(s.positions), len(s.sparse),
                len(s.ais_only)] for s in result.scenes])
    rows = match_rows(result)
    dark = [r for r in rows if r["record"] == "detection" and r["dark"]]
    if dark:
        doc.table(["date", "track (vessel id)", "lon", "lat", "length (m)", "load", "nearest AIS (MMSI, m to hull)"],
                  [[r["date"], _track(r), f"{r['lon']:.5f}", f"{r['lat']:.5f}", f"{r['length_m']:.0f}", r["load"],
                    _nearest(r)] for r in dark])
    else:
        doc.para("No dark tanker: every tanker detected had an AIS position on its hull.")
    ais_only = [r for r in rows if r["record"] == "ais_only"]
    if ais_only:
        doc.table(["date", "AIS-only MMSI", "lon", "lat", "AIS length (m)", "ship type", "s to nearest fix"],
                  [[r["date"], r["ais_mmsi"], f"{r['lon']:.5f}", f"{r['lat']:.5f}", r["ais_length_m"],
                    r["ais_ship_type"], r["ais_gap_s"]] for r in ais_only])
    doc.bullets([
        "Dark means not in this AIS file, which is not proof that the transponder was off: terrestrial "
        "receivers miss vessels out of range, satellite AIS passes leave gaps of hours, and a vessel may be "
        "spoofing a position elsewhere. Check how complete the AIS source is for this place and these times.",
        f"A tanker only counts as heard when an AIS position lies within {tol.window_min:g} min and the gate above; "
        f"when AIS gives a length, the detected one may be up to {tol.length_short_frac:.0%} shorter (detectors "
        f"undersize and split long hulls) and {tol.length_long_frac:.0%} longer (at least {tol.length_min_m:g} m "
        f"either way). A detection on the axis of a matched hull that, with it, spans no more than the AIS "
        f"length (plus {tol.piece_slack_frac:.0%}, at least {tol.length_min_m:g} m) is a piece of that hull and "
        f"shares its transponder.",
        "With an area of interest, only tankers whose centre lies inside it are judged: draw it over the water "
        "(less piers and jetty heads) so that nothing ashore is called a dark tanker.",
    ])


def _nearest(row: dict) -> str:
    if row["ais_nearest_mmsi"] is None:
        return "none heard"
    return f"{row['ais_nearest_mmsi']}, {row['ais_nearest_m']:.0f}"


def _track(row: dict) -> str:
    track = "" if row["track_id"] is None else str(row["track_id"])
    return f"{track} ({row['vessel_id']})" if row["vessel_id"] else track
