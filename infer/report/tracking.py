"""Recognise the same tanker from one date to the next.

A tanker seen on date *i* continues a track from an earlier date when it lies where that track was
last seen (geodesic distance of the centres within ``position_m``), has about the same length
(within ``max(length_min_m, length_frac x length)``) and the same hull axis (bearings, modulo
180 degrees, within ``axis_deg``). Among all pairs that pass these gates, pairs are taken greedily,
cheapest first, where the cost is the sum of each difference divided by its tolerance: tankers at a
terminal sit still at berths and anchorages, so the nearest plausible match is the right one far
more often than a global optimum would change it, and greedy keeps the result easy to explain.

A track is only judged absent on a date whose footprint covers its last position (a vessel outside
a date's footprint was not imaged, which is not a departure). It ends after more than
``max_missed`` consecutive imaged absences (0 by default: detections are taken at their word;
raise it for a model that sometimes misses a vessel that is still there). The identity of the
vessel (``vessel_id`` in synthetic truth) is never used to associate; it is only carried along.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from ..core.georef import WGS84
from .inputs import DatedScene, SeenVessel


@dataclass(frozen=True)
class TrackingTolerances:
    position_m: float = 60.0
    length_frac: float = 0.2
    length_min_m: float = 20.0
    axis_deg: float = 20.0
    max_missed: int = 0


@dataclass
class Sighting:
    scene_index: int
    vessel: SeenVessel


@dataclass
class Track:
    """One tanker across dates. ``first_absent`` is the index of the first imaged date after its
    last sighting on which it was missing (None if it was never seen missing)."""

    track_id: int
    sightings: list[Sighting] = field(default_factory=list)
    missed: int = 0
    ended: bool = False
    first_absent: int | None = None

    @property
    def first(self) -> Sighting:
        return self.sightings[0]

    @property
    def last(self) -> Sighting:
        return self.sightings[-1]

    @property
    def length_m(self) -> float:
        """Median of the measured lengths: robust to one bad box."""
        return float(np.median([s.vessel.length_m for s in self.sightings]))

    @property
    def vessel_ids(self) -> list[str]:
        """Distinct truth identities along the track, in order (synthetic truth only)."""
        ids: list[str] = []
        for s in self.sightings:
            if s.vessel.vessel_id is not None and s.vessel.vessel_id not in ids:
                ids.append(s.vessel.vessel_id)
        return ids


def axis_difference_deg(a, b):
    """Smallest angle between two hull axes (bearings modulo 180), in [0, 90]."""
    d = np.mod(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), 180.0)
    return np.minimum(d, 180.0 - d)


def _pair_costs(tracks: list[Track], vessels: list[SeenVessel], tol: TrackingTolerances) -> np.ndarray:
    """Cost matrix [tracks, vessels]; inf where a pair fails a gate."""
    last = [t.last.vessel for t in tracks]
    lon_t = np.repeat([v.lon for v in last], len(vessels))
    lat_t = np.repeat([v.lat for v in last], len(vessels))
    lon_v = np.tile([v.lon for v in vessels], len(tracks))
    lat_v = np.tile([v.lat for v in vessels], len(tracks))
    _, _, distance = WGS84.inv(lon_t, lat_t, lon_v, lat_v)
    distance = np.asarray(distance).reshape(len(tracks), len(vessels))
    track_length = np.array([t.length_m for t in tracks])[:, None]
    length_gap = np.abs(track_length - np.array([v.length_m for v in vessels])[None, :])
    length_tol = np.maximum(tol.length_min_m, tol.length_frac * track_length)
    axis_gap = axis_difference_deg(np.array([v.axis_deg for v in last])[:, None],
                                   np.array([v.axis_deg for v in vessels])[None, :])
    cost = distance / tol.position_m + length_gap / length_tol + axis_gap / tol.axis_deg
    passes = (distance <= tol.position_m) & (length_gap <= length_tol) & (axis_gap <= tol.axis_deg)
    return np.where(passes, cost, np.inf)


def greedy_pairs(cost: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (row, col) with finite cost, cheapest first, each row and column used once."""
    rows, cols = np.nonzero(np.isfinite(cost))
    order = np.lexsort((cols, rows, cost[rows, cols]))  # ties broken by index: deterministic
    used_rows, used_cols, pairs = set(), set(), []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            pairs.append((r, c))
    return pairs


def tanker_sightings(scene: DatedScene, aoi=None) -> list[SeenVessel]:
    """The scene's tankers (type ``tanker`` only: a vessel of unknown type is no tanker sighting),
    only those whose centre lies in the area of interest when one is given."""
    return [v for v in scene.vessels if v.vessel_type == "tanker"
            and (aoi is None or aoi.covers(shapely.Point(v.lon, v.lat)))]


class Tracker:
    """:func:`track_tankers` one date at a time, so a long series never needs every date's
    detections at once: :meth:`step` takes the dates in order. What it keeps is per track (each
    sighting's few numbers); ended tracks are never looked at again."""

    def __init__(self, tolerances: TrackingTolerances = TrackingTolerances(), aoi=None):
        self.tolerances = tolerances
        self.aoi = aoi
        self.tracks: list[Track] = []
        self._active: list[Track] = []  # not ended, in the order they began

    def step(self, index: int, scene: DatedScene) -> dict[int, int]:
        """Associate the tankers of ``scene``, the ``index``-th date (dates come in time order);
        return ``id(vessel) -> track id`` for each of its tankers."""
        vessels = tanker_sightings(scene, self.aoi)
        active = self._active
        pairs = greedy_pairs(_pair_costs(active, vessels, self.tolerances)) if active and vessels else []
        matched_tracks = set()
        matched_vessels = set()
        for r, c in pairs:
            track = active[r]
            track.sightings.append(Sighting(index, vessels[c]))
            track.missed, track.first_absent = 0, None
            matched_tracks.add(r)
            matched_vessels.add(c)
        for r, track in enumerate(active):
            if r in matched_tracks or not scene.imaged(track.last.vessel.lon, track.last.vessel.lat):
                continue
            track.missed += 1
            if track.first_absent is None:
                track.first_absent = index
            track.ended = track.missed > self.tolerances.max_missed
        track_of = {id(vessels[c]): active[r].track_id for r, c in pairs}
        self._active = [t for t in active if not t.ended]
        for c, vessel in enumerate(vessels):
            if c not in matched_vessels:
                track = Track(track_id=len(self.tracks) + 1, sightings=[Sighting(index, vessel)])
                self.tracks.append(track)
                self._active.append(track)
                track_of[id(vessel)] = track.track_id
        return track_of


def track_tankers(scenes: list[DatedScene], tolerances: TrackingTolerances = TrackingTolerances(),
                  aoi=None) -> list[Track]:
    """Associate the tankers of date-sorted ``scenes`` into tracks (see module doc)."""
    tracker = Tracker(tolerances, aoi)
    for index, scene in enumerate(scenes):
        tracker.step(index, scene)
    return tracker.tracks
