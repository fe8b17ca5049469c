"""Read and check the dated detection files a report is made from.

Each input is a detection file (see :mod:`tankerwatch.infer.runtime.detection_file`) for the same place on
a different date. Positions are lon/lat degrees (WGS84); lengths are geodesic metres; hull axes
and headings are bearings in degrees clockwise from true north.

A file's date comes from, in order of precedence: the ``--dates`` flag (one per file, in the order
given), a ``--date-pattern`` regular expression on the file name, or the file's own
``tankerwatch.acquired`` header (copied from the raster's ACQUISITION_DATETIME). Dates are UTC.

:func:`load_scenes` reads every file in full at once (the Python API). ``report`` instead dates,
places and checks the files from their headers alone (:func:`scan_scenes`, :func:`check_series`)
and then reads them one at a time in date order (:mod:`tankerwatch.infer.report.series`); a file
whose header reads but whose detections do not is then skipped at that point.

Checks, each an error naming the file or a warning, never a silent wrong total:

* unreadable files, files in pixel coordinates (no georeferencing) and files of another format
  version are skipped and named (the command then exits 1);
* files given out of date order are sorted, with a warning; two files with the same acquisition
  time are an error (merge or drop one);
* a file whose footprint overlaps neither the area of interest nor any other file's footprint is
  an error (a different place); files from different source CRSs are compared in lon/lat, with a
  warning; a file without a footprint is treated as imaging everything, with a warning;
* files from a model not taught vessel types (header ``model.taught.type`` false; their vessels
  have type ``unknown``) give a warning: no tanker, and no other vessel, is counted from them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import shape

from ..core.errors import TankerwatchError, located
from ..core.georef import WGS84
from ..core.json_file import read_json
from ..runtime.detection_file import read_detection_file, read_detection_header


class ReportInputError(TankerwatchError):
    """The set of detection files cannot make one consistent report."""


@dataclass(frozen=True)
class SeenVessel:
    """One detected vessel on one date: centre in lon/lat, geodesic length/width in metres,
    ``axis_deg`` the hull axis bearing in [0, 180) clockwise from true north."""

    lon: float
    lat: float
    length_m: float
    width_m: float
    axis_deg: float
    vessel_type: str  # "tanker" | "other" | "unknown" (a model not taught types)
    load: str  # "empty" | "loaded" | "uncertain" | "unknown", as detect wrote it (never re-thresholded)
    p_loaded: float | None
    score: float
    vessel_id: str | None = None  # synthetic ground truth only
    # (central, lo, hi): the draft between ballast (0) and laden (1), as detect wrote it, or None
    laden_fraction: tuple[float, float, float] | None = None


@dataclass
class DatedScene:
    """One date: its detections, the footprint actually imaged (lon/lat), and provenance."""

    path: Path
    acquired: datetime  # UTC, timezone-aware
    acquired_from: str  # "flag" | "filename" | "header"
    footprint: object | None  # shapely geometry in lon/lat, or None when the file has none
    gsd_m: float | None
    crs: str | None
    model: dict | None
    vessels: list[SeenVessel]
    quicklook: Path | None = None
    truth: bool = False  # synthetic ground truth rather than a model's detections
    # Parallel to ``vessels``: each one's feature properties as the file wrote them, plus
    # ``geometry`` (its lon/lat polygon), for outputs that carry every property along.
    records: list[dict] = field(default_factory=list)

    @property
    def date_text(self) -> str:
        return iso_utc(self.acquired)

    @property
    def types_taught(self) -> bool:
        """False when the file's model says it was not taught vessel types (a header without
        ``taught``, from before the key existed, means taught)."""
        taught = self.model.get("taught") if isinstance(self.model, dict) else None
        return not (isinstance(taught, dict) and taught.get("type") is False)

    def imaged(self, lon: float, lat: float) -> bool:
        """Whether this scene saw the point (so a vessel absent there is really absent)."""
        return self.footprint is None or bool(self.footprint.covers(shapely.Point(lon, lat)))


@dataclass
class ReportInputs:
    scenes: list[DatedScene]  # sorted by acquisition time
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line per file that could not be used


def iso_utc(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``; midnight is written as the date alone."""
    moment = moment.astimezone(timezone.utc)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d", "%Y%m%dT%H%M%S", "%Y%m%dT%H%M%SZ", "%Y_%m_%d")


def parse_date(text: str) -> datetime:
    """Parse an ISO 8601 date or datetime (naive means UTC), or a compact ``YYYYMMDD[THHMMSS]``."""
    text = str(text).strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date (expected e.g. 2024-03-05, 20240305 or "
                         f"2024-03-05T02:10:00Z)") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def date_from_name(path: Path, pattern: str) -> datetime:
    """The date in ``path``'s file name matched by ``pattern`` (its first group, else the match)."""
    match = re.search(pattern, path.name)
    if match is None:
        raise ReportInputError(located(path, f"file name does not match --date-pattern {pattern!r}"))
    text = match.group(1) if match.groups() else match.group(0)
    try:
        return parse_date(text)
    except ValueError as exc:
        raise ReportInputError(located(path, f"--date-pattern matched {exc}")) from None


@dataclass(frozen=True)
class AoiPart:
    """One feature of the area-of-interest file, lon/lat: a polygon (a berth, an anchorage: an area
    counted) or a point (say, a berth's position, drawn on the map but not counted), and its label:
    the feature's ``name``, ``berth`` or ``id`` property, the first one present."""

    geometry: object
    label: str | None


LABEL_PROPERTIES = ("name", "berth", "id")
# A folder's area-of-interest file (``synth series`` writes one), never read as detections.
AOI_SUFFIX = ".aoi.geojson"


def geojson_files(paths: list[Path], wanted: Callable[[str], bool], what: str) -> list[Path]:
    """Files as given, and each folder's ``*.geojson`` files whose names are ``wanted`` (sorted); a
    folder with none is an error saying it holds no ``what``."""
    files = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.geojson") if wanted(p.name))
            if not found:
                raise ReportInputError(f"{path}: folder holds no {what}")
            files += found
        else:
            files.append(path)
    return files


def feature_geometry(path: Path, feature: dict, where: str | None = None):
    """The shapely geometry of a GeoJSON ``feature`` read from ``path``; a ReportInputError naming the
    file and ``where`` in it (``feature 3``) when it has none that parses."""
    try:
        return shape(feature["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportInputError(located(path, f"{where + ': ' if where else ''}bad geometry ({exc})")) from None


def check_lonlat_area(area, path: Path, what: str) -> None:
    """Refuse an ``area`` (shapely, lon/lat) that is empty or outside the degree ranges, naming
    ``what`` (``area of interest``, ``feature 3``) in ``path``."""
    minx, miny, maxx, maxy = area.bounds
    if area.is_empty or area.area == 0 or not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ReportInputError(located(path, f"{what} must be a non-empty polygon in lon/lat degrees"))


def read_aoi_parts(path: str | Path) -> list[AoiPart]:
    """Every geometry in an area-of-interest GeoJSON file (a FeatureCollection, a Feature or a bare
    geometry), with its label."""
    path = Path(path)
    data = read_json(path, ReportInputError)
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = [f for f in data.get("features") or [] if isinstance(f, dict)]
    elif isinstance(data, dict) and data.get("type") == "Feature":
        features = [data]
    else:
        features = [{"geometry": data}]
    parts = []
    for feature in features:
        if not feature.get("geometry"):
            continue
        geometry = feature_geometry(path, feature)
        properties = feature.get("properties") if isinstance(feature.get("properties"), dict) else {}
        label = next((str(properties[k]) for k in LABEL_PROPERTIES if properties.get(k) is not None), None)
        parts.append(AoiPart(geometry, label))
    return parts


def read_aoi(path: str | Path):
    """The area of interest: the union of the polygons in a GeoJSON file, lon/lat (RFC 7946)."""
    path = Path(path)
    polygons = [p.geometry for p in read_aoi_parts(path) if p.geometry.geom_type in ("Polygon", "MultiPolygon")]
    if not polygons:
        raise ReportInputError(located(path, "no Polygon in the area of interest"))
    aoi = shapely.make_valid(shapely.union_all(polygons))
    check_lonlat_area(aoi, path, "area of interest")
    return aoi


def _seen_vessel(polygon, detection) -> SeenVessel:
    ring = np.asarray(polygon.exterior.coords)[:4]
    # Geodesic edge lengths and bearings of two adjacent sides: the longer one is the hull axis.
    azimuths, _, distances = WGS84.inv(ring[:2, 0], ring[:2, 1], ring[1:3, 0], ring[1:3, 1])
    long_side = int(np.argmax(distances))
    centre = ring.mean(axis=0)
    extra = detection.extra
    vessel_id = extra.get("vessel_id")
    return SeenVessel(
        lon=float(centre[0]), lat=float(centre[1]),
        length_m=float(distances[long_side]), width_m=float(distances[1 - long_side]),
        axis_deg=float(np.mod(azimuths[long_side], 180.0)),
        vessel_type=detection.vessel_type, load=detection.load, p_loaded=detection.p_loaded,
        score=float(detection.score), vessel_id=None if vessel_id is None else str(vessel_id),
        laden_fraction=detection.laden_fraction)


def _scene(path: Path, header: dict, footprint, acquired: datetime | None, acquired_from: str | None) -> DatedScene:
    """A dated scene with no vessels yet, from a file's checked header; refuses pixel coordinates."""
    if header.get("coordinates") != "lonlat":
        raise ReportInputError(located(path, "detections are in pixel coordinates (the scene had no "
                                             "georeferencing); a report needs lon/lat"))
    if acquired is None:
        if not header.get("acquired"):
            raise ReportInputError(located(path, "no acquisition date in the file; give --dates or --date-pattern"))
        try:
            acquired = parse_date(header["acquired"])
        except ValueError as exc:
            raise ReportInputError(located(path, f"header 'acquired': {exc}")) from None
        acquired_from = "header"
    quicklook = path.with_name(path.name.removesuffix(".geojson") + ".quicklook.png")
    return DatedScene(
        path=path, acquired=acquired, acquired_from=acquired_from, footprint=footprint,
        gsd_m=None if header.get("gsd_m") is None else float(header["gsd_m"]),
        crs=header.get("crs"), model=header.get("model"), vessels=[],
        quicklook=quicklook if quicklook.is_file() else None)


def read_scene_header(path: Path, acquired: datetime | None, acquired_from: str | None) -> DatedScene:
    """A :class:`DatedScene` from the file's header alone: dated and placed, with no vessels (and
    ``truth`` unknown, False) until :func:`read_scene` reads the whole file."""
    header, footprint = read_detection_header(path)
    return _scene(path, header, footprint, acquired, acquired_from)


def read_scene(path: Path, acquired: datetime | None, acquired_from: str | None, min_score: float = 0.0) -> DatedScene:
    """One detection file as a :class:`DatedScene`, keeping detections scored ``>= min_score``;
    refuses pixel-coordinate files."""
    parsed = read_detection_file(path)
    scene = _scene(path, parsed.header, parsed.footprint, acquired, acquired_from)
    kept = [k for k, det in enumerate(parsed.detections) if det.score >= min_score]
    scene.vessels = [_seen_vessel(parsed.polygons[k], parsed.detections[k]) for k in kept]
    scene.truth = any(det.extra.get("truth") is True for det in parsed.detections)
    scene.records = [{**parsed.properties[k], "geometry": parsed.polygons[k]} for k in kept]
    return scene


def _check_places(scenes: list[DatedScene], aoi, warnings: list[str]) -> None:
    with_footprint = [s for s in scenes if s.footprint is not None]
    for scene in scenes:
        if scene.footprint is None:
            warnings.append(f"{scene.path}: no footprint in the file; treating every position as imaged, "
                            f"so a vessel missing there counts as departed")
    for scene in with_footprint:
        if aoi is not None:
            if scene.footprint.intersection(aoi).area <= 0:
                raise ReportInputError(located(scene.path, "footprint does not overlap the area of interest"))
            continue
        others = [o for o in with_footprint if o is not scene]
        if others and not any(scene.footprint.intersection(o.footprint).area > 0 for o in others):
            raise ReportInputError(located(scene.path, "footprint overlaps no other file's footprint: "
                                                       "detections from a different place?"))
    crs_names = {_crs_name(s.crs) for s in scenes}
    if len(crs_names) > 1:
        warnings.append(f"source CRSs differ ({', '.join(sorted(crs_names))}); positions are compared in "
                        f"lon/lat on the WGS84 ellipsoid, so this is handled")


def _crs_name(crs_text: str | None) -> str:
    """A short name (``EPSG:32653``) for a header's CRS WKT; unparsable text still counts as distinct."""
    if not crs_text:
        return "none"
    try:
        crs = CRS.from_user_input(crs_text)
    except CRSError:
        return str(crs_text)[:40]
    authority = crs.to_authority()
    return ":".join(authority) if authority else crs.name


def _dated_reads(paths: list[Path], dates: list[str] | None, date_pattern: str | None, read) -> ReportInputs:
    """``read(path, acquired, acquired_from)`` for each file, dated by the flags when they say; a
    file that cannot be used is skipped and named."""
    if not paths:
        raise ReportInputError("no detection files given")
    if dates is not None and len(dates) != len(paths):
        raise ReportInputError(f"--dates gives {len(dates)} dates for {len(paths)} files; give one per file")
    inputs = ReportInputs(scenes=[])
    for index, path in enumerate(paths):
        try:
            acquired, source = None, None
            if dates is not None:
                try:
                    acquired, source = parse_date(dates[index]), "flag"
                except ValueError as exc:
                    raise ReportInputError(located(path, f"--dates: {exc}")) from None
            elif date_pattern is not None:
                acquired, source = date_from_name(path, date_pattern), "filename"
            inputs.scenes.append(read(path, acquired, source))
        except TankerwatchError as exc:
            inputs.skipped.append(str(exc))
    return inputs


def check_series(inputs: ReportInputs, aoi=None) -> None:
    """Sort ``inputs.scenes`` (given in the order the user gave their files) by date and check
    they make one report (see module doc), adding warnings to ``inputs``."""
    if not inputs.scenes:
        raise ReportInputError("no usable detection files: " + "; ".join(inputs.skipped))
    given = [s.acquired for s in inputs.scenes]
    inputs.scenes.sort(key=lambda s: s.acquired)
    if given != sorted(given):
        inputs.warnings.append("files were not given in date order; sorted by acquisition date")
    for earlier, later in zip(inputs.scenes, inputs.scenes[1:], strict=False):
        if earlier.acquired == later.acquired:
            raise ReportInputError(f"{earlier.path} and {later.path}: same acquisition date {later.date_text}; "
                                   f"one date per file (merge or drop one)")
    _check_places(inputs.scenes, aoi, inputs.warnings)


def untyped_warning(scenes: list[DatedScene], vessels: list[int]) -> str | None:
    """The warning for files from a model not taught types, given each scene's number of vessels
    kept (a scene streamed no longer holds them)."""
    untyped = [n for s, n in zip(scenes, vessels, strict=True) if not s.types_taught]
    if not untyped:
        return None
    return (f"{len(untyped)} of {len(scenes)} files come from a model trained without type labels: their "
            f"{sum(untyped)} vessels are of unknown type, counted neither as tankers nor as other vessels")


def scan_scenes(paths: list[Path], dates: list[str] | None = None, date_pattern: str | None = None) -> ReportInputs:
    """Each file's header as a :class:`DatedScene` without vessels (:func:`read_scene_header`), in
    the order given, unchecked (:func:`check_series`): enough to date, place and sort thousands of
    files before reading one in full. Model summaries repeated from file to file are held once."""
    models: dict[str, dict] = {}
    inputs = _dated_reads(paths, dates, date_pattern, read_scene_header)
    for scene in inputs.scenes:
        if isinstance(scene.model, dict) and scene.model.get("id") is not None:
            scene.model = models.setdefault(str(scene.model["id"]), scene.model)
    return inputs


def load_scenes(paths: list[Path], dates: list[str] | None = None, date_pattern: str | None = None,
                aoi=None, min_score: float = 0.0) -> ReportInputs:
    """Read, date, sort and check the detection files for one report (see module doc), every
    file's detections in memory at once. Detections scored below ``min_score`` are dropped (0
    keeps what ``detect`` kept)."""
    inputs = _dated_reads(paths, dates, date_pattern,
                          lambda path, acquired, source: read_scene(path, acquired, source, min_score))
    check_series(inputs, aoi)
    warning = untyped_warning(inputs.scenes, [len(s.vessels) for s in inputs.scenes])
    if warning:
        inputs.warnings.append(warning)
    return inputs
