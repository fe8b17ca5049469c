"""Dark vessels: detections checked against AIS position reports at each image time.

For each dated scene (image time *t*, UTC) every AIS transponder with fixes within
``window_min`` of *t* is placed at *t* in a local metric frame (azimuthal equidistant, metres,
centred on the scene's footprint):

* fixes on both sides of *t*: linear interpolation between the last fix before and the first after;
  ``gap`` is the time to the nearer of the two, ``speed`` the pair's mean speed;
* fixes on one side only: the nearest fix, ``gap`` the time to it, ``speed`` the mean speed over that
  side's fixes (first to last, the longest baseline, so GNSS noise does not pass for motion), or
  ``assumed_speed_ms`` with a single fix: under way, class A transponders report every 2-10 s, so a
  vessel with one fix in the window is almost always at anchor or moored (3 min reports).

The uncertainty of a placed position is ``position_m + speed x gap``: ``position_m`` (default 100 m)
covers the GNSS fix, the image's georeferencing error and AIS latency; ``speed x gap`` how far the
vessel could have gone from what the fixes say. A transponder whose ``speed x gap`` exceeds
``max_drift_m`` (default 400 m) is *too sparse to place*: it is counted, but neither matched nor
called AIS-only, because a gate that wide would let a passing vessel heard long before vouch for a
silent tanker at a berth. So the usable time gap shrinks as the speed grows: a moored vessel's
fixes serve for the whole window, a vessel at 10 knots needs one within about 80 s.

AIS reports the position of its GNSS antenna, which is anywhere on the hull (on a tanker at the
bridge, near the stern), so a position is compared with each detected hull outline (the rectangle of
its length, width and axis): the distance is 0 inside the hull. A detection and a position may pair
when that distance is within the position's uncertainty and, when both lengths are known, the
detected length is no more than ``max(length_min_m, length_short_frac x AIS)`` shorter (default
half: detectors undersize and split long hulls) and no more than ``max(length_min_m,
length_long_frac x AIS)`` longer (default 30 %: so an assisting tug's transponder does not vouch
for the silent tanker it lies against). Pairs are then taken greedily, nearest first
(:func:`~tankerwatch.infer.report.tracking.greedy_pairs`; the cost adds a tenth of the distance between
the centres so that an antenna inside two touching hulls, ships alongside, goes to the nearer centre),
each detection and each position used once: every detection of any type may take a position, so a
cargo ship's AIS is never lent to the tanker beside it.

A detector splits a long hull into pieces, or boxes part of a hull twice, and only one piece can
take the transponder. An unmatched detection is a *piece* of a matched one's hull when the two lie on
one axis (axes within ``piece_axis_deg``, the piece's centre off the other's centre line by at most
half the broader box) and together span no more than the AIS length plus ``max(length_min_m,
piece_slack_frac x AIS)``: then the transponder vouches for it too (``ais_piece`` true). The slack is
tight so that a silent tanker moored end to end behind a transmitting one is not taken for a piece of
it; without an AIS length, no detection is a piece.

Results, per detection: ``ais_mmsi`` and ``ais_distance_m`` (metres from the AIS position to the hull
outline) of its match, or null; ``ais_piece``; ``dark``: true for a tanker with no AIS match, false
for a matched tanker, null for other vessels (small craft, barges and many tugs carry no AIS by law:
only tankers are judged) and, when an area of interest is given, for tankers whose centre lies
outside it (the report counts only what lies inside: a shadowed building ashore or a jetty head taken
for a hull must not be called a dark tanker). Per scene, ``ais_only``: a position with no detection,
inside the scene's footprint (and the area of interest, when given); a scene without a footprint has
none (it cannot say what it imaged).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import Transformer

from ..core.ais_file import AisFile, AisTrack
from ..core.errors import located
from ..core.georef import local_frame
from .inputs import DatedScene, ReportInputError, SeenVessel, iso_utc
from .tracking import greedy_pairs, tanker_sightings

MATCH_COLUMNS = ("date", "source", "record", "track_id", "vessel_id", "type", "load", "lon", "lat", "length_m",
                 "ais_mmsi", "ais_distance_m", "ais_piece", "ais_length_m", "ais_ship_type", "ais_gap_s",
                 "ais_placed_by", "dark", "ais_nearest_mmsi", "ais_nearest_m")
CENTRE_WEIGHT = 0.1


@dataclass(frozen=True)
class AisTolerances:
    """Matching settings (module doc): metres, minutes, metres per second."""

    window_min: float = 30.0  # fixes further from the image time are not used
    position_m: float = 100.0  # the gate's base: GNSS fix, image georeferencing error, AIS latency
    max_drift_m: float = 400.0  # speed x gap above this: too sparse to place (neither matched nor AIS-only)
    assumed_speed_ms: float = 0.5  # about 1 knot, for a transponder with a single fix in the window
    # A detection may be shorter than the AIS length by max(length_min_m, length_short_frac x AIS) and
    # longer by max(length_min_m, length_long_frac x AIS) (see the module doc for why not symmetric).
    length_short_frac: float = 0.5
    length_long_frac: float = 0.3
    length_min_m: float = 30.0
    # Pieces of one matched hull (module doc): axes this close, spanning at most the AIS length plus
    # max(length_min_m, piece_slack_frac x AIS).
    piece_axis_deg: float = 15.0
    piece_slack_frac: float = 0.1


@dataclass(frozen=True)
class Placement:
    """Where a transponder was at the image time, in the local frame: ``xy`` metres; ``gap_s`` to the
    fix it rests on; ``speed_ms``; ``method`` ``interpolated`` or ``nearest``."""

    xy: np.ndarray
    gap_s: float
    speed_ms: float
    method: str

    def uncertainty_m(self, tol: AisTolerances) -> float:
        return tol.position_m + self.speed_ms * self.gap_s


def place_at(times: np.ndarray, xy: np.ndarray, t: float, tol: AisTolerances) -> Placement | None:
    """Place one transponder at time ``t`` (UTC seconds) from its fixes (``times`` sorted, ``xy``
    ``[N, 2]`` metres in a local frame); None when no fix lies within the window (module doc)."""
    inside = np.abs(times - t) <= tol.window_min * 60.0
    times, xy = times[inside], xy[inside]
    if not len(times):
        return None
    before, after = np.flatnonzero(times <= t), np.flatnonzero(times >= t)
    if len(before) and len(after):
        i0, i1 = before[-1], after[0]
        span = times[i1] - times[i0]
        if span == 0:  # a fix at the image time itself
            return Placement(xy[i0].copy(), 0.0, 0.0, "interpolated")
        w = (t - times[i0]) / span
        speed = float(np.hypot(*(xy[i1] - xy[i0])) / span)
        return Placement(xy[i0] + w * (xy[i1] - xy[i0]), float(min(t - times[i0], times[i1] - t)), speed,
                         "interpolated")
    side = before if len(before) else after
    near, far = (side[-1], side[0]) if len(before) else (side[0], side[-1])
    span = abs(times[far] - times[near])
    speed = float(np.hypot(*(xy[far] - xy[near])) / span) if span > 0 else tol.assumed_speed_ms
    return Placement(xy[near].copy(), float(abs(t - times[near])), speed, "nearest")


@dataclass(frozen=True)
class AisPosition:
    """A transponder placed at one scene's time, in lon/lat degrees (WGS84)."""

    mmsi: int
    lon: float
    lat: float
    placement: Placement
    length_m: float | None
    ship_type: str | None


@dataclass(frozen=True)
class VesselAis:
    """What AIS says about one detection (module doc); ``nearest_*`` the closest position whether it
    matched or not (context for a dark one)."""

    mmsi: int | None
    distance_m: float | None
    dark: bool | None
    nearest_mmsi: int | None = None
    nearest_m: float | None = None
    piece: bool = False


@dataclass
class SceneAis:
    """One scene: ``vessels`` aligned with ``scene.vessels``; ``positions`` every transponder placed
    (``matched`` indexes them), ``sparse`` those heard near the time but too sparse to place."""

    scene: DatedScene
    vessels: list[VesselAis]
    positions: list[AisPosition]
    sparse: list[AisPosition]
    ais_only: list[AisPosition]
    matched: dict[int, int]  # detection index -> position index, pieces of a matched hull included
    tankers: int  # tankers counted (inside the area of interest, when given)
    dark_tankers: int


@dataclass
class AisResult:
    file: AisFile
    tolerances: AisTolerances
    scenes: list[SceneAis] = field(default_factory=list)
    track_of: dict[tuple[int, int], int] = field(default_factory=dict)  # (scene index, id(SeenVessel)) -> track id

    @property
    def tankers(self) -> int:
        return sum(s.tankers for s in self.scenes)

    @property
    def dark_tankers(self) -> int:
        return sum(s.dark_tankers for s in self.scenes)

    @property
    def ais_only(self) -> int:
        return sum(len(s.ais_only) for s in self.scenes)


def _frame_centre(scene: DatedScene, tracks: list[AisTrack]) -> tuple[float, float]:
    if scene.footprint is not None:
        c = scene.footprint.centroid
        return c.x, c.y
    if scene.vessels:
        return (float(np.mean([v.lon for v in scene.vessels])), float(np.mean([v.lat for v in scene.vessels])))
    return float(tracks[0].lonlat[0, 0]), float(tracks[0].lonlat[0, 1])


def _hulls(vessels: list[SeenVessel], frame: Transformer) -> tuple[np.ndarray, np.ndarray]:
    """Hull rectangles (shapely) and centres ``[N, 2]`` in the local frame. The frame is
    azimuthal equidistant about a point a few km away at most, so bearings hold to well under a degree."""
    x, y = frame.transform([v.lon for v in vessels], [v.lat for v in vessels])
    centres = np.stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)], axis=1)
    axis = np.radians([v.axis_deg for v in vessels])
    u = np.stack([np.sin(axis), np.cos(axis)], axis=1)  # bearing clockwise from north -> (east, north)
    v_ = np.stack([u[:, 1], -u[:, 0]], axis=1)
    half_l = np.array([v.length_m for v in vessels])[:, None] / 2
    half_w = np.array([v.width_m for v in vessels])[:, None] / 2
    corners = np.stack([centres + su * half_l * u + sv * half_w * v_
                        for su, sv in ((1, -1), (1, 1), (-1, 1), (-1, -1))], axis=1)
    return shapely.polygons(corners), centres


def _length_agrees(detected: float, ais: float | None, tol: AisTolerances) -> bool:
    if ais is None:
        return True
    return (ais - max(tol.length_min_m, tol.length_short_frac * ais) <= detected
            <= ais + max(tol.length_min_m, tol.length_long_frac * ais))


def _hull_pieces(vessels: list[SeenVessel], centres: np.ndarray, matched: dict[int, int],
                 positions: list[AisPosition], tol: AisTolerances) -> dict[int, int]:
    """Unmatched detection -> the position of the matched hull it is a piece of (module doc); when
    several would do, the one whose centre is nearest. ``centres``: ``[N, 2]`` in the local frame."""
    axes = np.radians([v.axis_deg for v in vessels])
    pieces = {}
    for i, vessel in enumerate(vessels):
        if i in matched:
            continue
        fits = []
        for d, j in matched.items():
            ais_length = positions[j].length_m
            turn = abs((vessel.axis_deg - vessels[d].axis_deg + 90.0) % 180.0 - 90.0)
            if ais_length is None or turn > tol.piece_axis_deg:
                continue
            along_axis = np.array([np.sin(axes[d]), np.cos(axes[d])])  # bearing -> (east, north)
            offset = centres[i] - centres[d]
            lateral = abs(offset[0] * along_axis[1] - offset[1] * along_axis[0])
            if lateral > max(vessel.width_m, vessels[d].width_m) / 2:
                continue
            shift = float(offset @ along_axis)
            half_piece = vessel.length_m / 2 * np.cos(np.radians(turn))
            span = max(shift + half_piece, vessels[d].length_m / 2) - min(shift - half_piece, -vessels[d].length_m / 2)
            if span <= ais_length + max(tol.length_min_m, tol.piece_slack_frac * ais_length):
                fits.append((float(np.hypot(*offset)), d, j))
        if fits:
            pieces[i] = min(fits)[2]
    return pieces


def match_scene(scene: DatedScene, ais: AisFile, tol: AisTolerances, aoi=None) -> SceneAis:
    """Place every transponder heard near this scene's time and pair positions with detections (module doc)."""
    t = scene.acquired.timestamp()
    window = tol.window_min * 60.0
    tracks = [ais.tracks[m] for m in sorted(ais.tracks) if np.any(np.abs(ais.tracks[m].times - t) <= window)]
    vessels = scene.vessels
    judged = {id(v) for v in tanker_sightings(scene, aoi)}  # tankers, inside the area when one is given
    if not tracks:
        unheard = [VesselAis(None, None, True if id(v) in judged else None) for v in vessels]
        return _scene_result(scene, unheard, [], [], [], {}, judged)
    frame = local_frame(*_frame_centre(scene, tracks))
    lonlat = np.concatenate([tr.lonlat for tr in tracks])
    x, y = frame.transform(lonlat[:, 0], lonlat[:, 1])
    xy_all = np.stack([np.asarray(x), np.asarray(y)], axis=1)
    starts = np.cumsum([0] + [len(tr.times) for tr in tracks])
    positions, sparse = [], []
    for k, track in enumerate(tracks):
        placement = place_at(track.times, xy_all[starts[k]:starts[k + 1]], t, tol)
        if placement is not None:
            lon, lat = frame.transform(placement.xy[0], placement.xy[1], direction="INVERSE")
            placed = positions if placement.speed_ms * placement.gap_s <= tol.max_drift_m else sparse
            placed.append(AisPosition(track.mmsi, float(lon), float(lat), placement, track.length_m, track.ship_type))
    matched: dict[int, int] = {}
    pieces: dict[int, int] = {}
    outline = np.zeros((len(vessels), 0))
    if vessels and positions:
        hulls, centres = _hulls(vessels, frame)
        points_xy = np.stack([p.placement.xy for p in positions])
        outline = shapely.distance(hulls[:, None], shapely.points(points_xy)[None, :])
        centre = np.hypot(centres[:, None, 0] - points_xy[None, :, 0], centres[:, None, 1] - points_xy[None, :, 1])
        gate = np.array([p.placement.uncertainty_m(tol) for p in positions])[None, :]
        lengths = np.array([[_length_agrees(v.length_m, p.length_m, tol) for p in positions] for v in vessels],
                           dtype=bool).reshape(len(vessels), len(positions))
        cost = np.where((outline <= gate) & lengths, outline + CENTRE_WEIGHT * centre, np.inf)
        matched = dict(greedy_pairs(cost))
        pieces = _hull_pieces(vessels, centres, matched, positions, tol)
    results = []
    for i, vessel in enumerate(vessels):
        nearest = int(np.argmin(outline[i])) if outline.shape[1] else None
        j = matched.get(i, pieces.get(i))
        results.append(VesselAis(
            mmsi=None if j is None else positions[j].mmsi,
            distance_m=None if j is None else round(float(outline[i, j]), 1),
            dark=(j is None) if id(vessel) in judged else None,
            nearest_mmsi=None if nearest is None else positions[nearest].mmsi,
            nearest_m=None if nearest is None else round(float(outline[i, nearest]), 1),
            piece=i in pieces))
    matched.update(pieces)
    taken = set(matched.values())
    ais_only = [p for j, p in enumerate(positions)
                if j not in taken and scene.footprint is not None
                and scene.footprint.covers(shapely.Point(p.lon, p.lat))
                and (aoi is None or aoi.covers(shapely.Point(p.lon, p.lat)))]
    return _scene_result(scene, results, positions, sparse, ais_only, matched, judged)


def _scene_result(scene, results, positions, sparse, ais_only, matched, judged: set[int]) -> SceneAis:
    dark = sum(1 for r in results if r.dark)  # only judged tankers carry a dark flag
    return SceneAis(scene, results, positions, sparse, ais_only, matched, len(judged), dark)


def image_times_s(scenes: list[DatedScene]) -> list[float]:
    """Each scene's image time in UTC seconds, refusing a date without a time of day (``--dates``
    or ``--date-pattern`` giving only a date): AIS is matched within minutes of the image time, so
    midnight in place of a 02:10 pass would call every tanker dark."""
    for scene in scenes:
        moment = scene.acquired
        if scene.acquired_from != "header" and (moment.hour, moment.minute, moment.second) == (0, 0, 0):
            raise ReportInputError(located(scene.path, f"--ais needs the image time to the minute, but the "
                                                       f"{scene.acquired_from} gives only the date {iso_utc(moment)} "
                                                       f"(give e.g. {moment:%Y-%m-%d}T02:10:00Z, or use the file's "
                                                       f"own acquisition time)"))
    return [s.acquired.timestamp() for s in scenes]


def add_scene(result: AisResult, index: int, scene: DatedScene, track_of: dict[int, int], aoi=None) -> SceneAis:
    """:func:`match_scene` for the ``index``-th date as dates come in time order, recorded in
    ``result``; ``track_of`` (from :meth:`~tankerwatch.infer.report.tracking.Tracker.step` on the
    same scene) names each tanker's track. ``result`` keeps the scene and its vessels: the AIS
    tables list every detection."""
    found = match_scene(scene, result.file, result.tolerances, aoi)
    result.scenes.append(found)
    result.track_of.update({(index, vessel): track for vessel, track in track_of.items()})
    return found


def match_rows(result: AisResult) -> list[dict]:
    """One row per detection and per AIS-only position, per date (columns :data:`MATCH_COLUMNS`)."""
    rows = []
    for index, scene_ais in enumerate(result.scenes):
        scene = scene_ais.scene
        base = {"date": iso_utc(scene.acquired), "source": scene.path.name}
        for d, (vessel, found) in enumerate(zip(scene.vessels, scene_ais.vessels, strict=True)):
            j = scene_ais.matched.get(d)
            position = None if j is None else scene_ais.positions[j]
            rows.append({**base, "record": "detection", "track_id": result.track_of.get((index, id(vessel))),
                         "vessel_id": vessel.vessel_id, "type": vessel.vessel_type, "load": vessel.load,
                         "lon": round(vessel.lon, 7), "lat": round(vessel.lat, 7),
                         "length_m": round(vessel.length_m, 1), "ais_mmsi": found.mmsi,
                         "ais_distance_m": found.distance_m, "ais_piece": found.piece,
                         **_position_columns(position), "dark": found.dark,
                         "ais_nearest_mmsi": found.nearest_mmsi, "ais_nearest_m": found.nearest_m})
        for position in scene_ais.ais_only:
            rows.append({**base, "record": "ais_only", "lon": round(position.lon, 7), "lat": round(position.lat, 7),
                         "ais_mmsi": position.mmsi, **_position_columns(position)})
    return [{c: r.get(c) for c in MATCH_COLUMNS} for r in rows]


def _position_columns(position: AisPosition | None) -> dict:
    if position is None:
        return {}
    return {"ais_length_m": None if position.length_m is None else round(position.length_m, 1), "ais_ship_type": position.ship_type,
            "ais_gap_s": round(position.placement.gap_s), "ais_placed_by": position.placement.method}
