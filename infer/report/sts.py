"""Ship-to-ship (STS) transfers in a report: rafted pairs away from berths, and cargo handed over.

On each date, two vessels are a pair when they are rafted (:mod:`tankerwatch.infer.runtime.sts`:
parallel, fendered gap, abreast, at least one tanker), judged afresh from the hulls' lon/lat
polygons projected about the scene (:func:`~tankerwatch.infer.core.georef.local_frame`: azimuthal
equidistant, metres, one cached transformer for a terminal's dates and pairs), so files written before
``detect`` flagged pairs, ground truth, and ``--min-score`` all get the same rules. With ``--aoi``,
both vessels must lie inside it.

A pair is left out when either hull lies within :data:`BERTH_RADIUS_M` of a berth: a ship
double-banked at a quay or a bunker barge alongside a berthed tanker is no ship-to-ship transfer.
Berths come from

* the ``--aoi`` file: every feature marked ``"kind": "berth"`` or carrying a ``berth`` property (its
  label, as the map already reads it), a point or a polygon;
* the dates themselves: a place where two different tankers lay alone at different times (their
  tracks do not overlap in time, the median positions of their sightings outside any raft lie within
  :data:`LEARNED_BERTH_RADIUS_M`) is a berth. Sightings in a raft teach nothing: transfers come back
  to the same anchorage spot (a port's ship-to-ship area), and pair after pair there would otherwise
  be learned as a berth and hide every later transfer. A berth is learned from the tankers that lie
  at it alone, as most do; one used only double-banked is not, and its rafts show as pairs (give the
  berths with ``--aoi``). A busy anchorage spot of single tankers can still be learned as a berth,
  which only ever hides a pair, never invents one.

Across dates a **probable transfer** is a discharge (loaded -> empty) of one tanker and a loading
(empty -> loaded) of another (:mod:`.events`) whose bracketing dates overlap, when the two were seen
rafted on a date within those brackets. Its bracket is the overlap. The barrels are the range both
estimates allow (:mod:`.volume`): the cargo one tanker gave is the cargo the other took, so low is
the larger low and high the smaller high; where the two ranges do not meet, the transfer is still
reported, over the span of both, and marked as not agreeing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

from ..core.georef import WGS84, local_frame
from ..core.json_file import read_json
from ..runtime.sts import Hull, find_rafts, raft_ids
from .events import Event
from .inputs import DatedScene, ReportInputError, SeenVessel, feature_geometry
from .tracking import Track

BERTH_RADIUS_M = 100.0
LEARNED_BERTH_RADIUS_M = 60.0
TRANSFER_EVENT = "sts_transfer"


@dataclass(frozen=True)
class StsPair:
    """Two rafted vessels on one date. ``pair_id``: the raft's number on that date; ``tracks``:
    each vessel's track id (None for a vessel not tracked: not a tanker, or outside the area);
    ``hulls``: their lon/lat polygons; ``lon``, ``lat``: the midpoint of their centres."""

    scene_index: int
    pair_id: int
    vessels: tuple[SeenVessel, SeenVessel]
    tracks: tuple[int | None, int | None]
    hulls: tuple[object, object]
    gap_m: float
    axis_deg: float
    along_share: float

    @property
    def lon(self) -> float:
        return (self.vessels[0].lon + self.vessels[1].lon) / 2

    @property
    def lat(self) -> float:
        return (self.vessels[0].lat + self.vessels[1].lat) / 2


@dataclass(frozen=True)
class Transfer:
    """A probable transfer from ``giver`` (track going loaded -> empty) to ``taker`` (empty ->
    loaded) between two dates; barrels low / central / high; ``agree``: whether the two tankers'
    estimates overlap."""

    giver: Event
    taker: Event
    date_before: datetime
    date_after: datetime
    low: float
    central: float
    high: float
    agree: bool

    @property
    def lon(self) -> float:
        return (self.giver.lon + self.taker.lon) / 2

    @property
    def lat(self) -> float:
        return (self.giver.lat + self.taker.lat) / 2


@dataclass
class StsResult:
    """Pairs away from berths (``pairs``), how many rafted pairs berths hid, how many berths came
    from the AOI and from the dates, the transfers, and (with a known event log) the true transfers."""

    pairs: list[StsPair]
    at_berths: int
    aoi_berths: int
    learned_berths: int
    transfers: list[Transfer]
    truth: list | None = None
    matched: list[tuple[Transfer, object]] = field(default_factory=list)

    def recall(self) -> float | None:
        return len(self.matched) / len(self.truth) if self.truth else None

    def precision(self) -> float | None:
        return len(self.matched) / len(self.transfers) if self.transfers and self.truth is not None else None


def _is_berth(properties: dict) -> bool:
    return properties.get("kind") == "berth" or properties.get("berth") is not None


def read_berths(path: str | Path) -> list:
    """The berth geometries (lon/lat) of an area-of-interest GeoJSON file (see module doc)."""
    path = Path(path)
    data = read_json(path, ReportInputError)
    features = data.get("features") if isinstance(data, dict) and data.get("type") == "FeatureCollection" else [data]
    berths = []
    for index, feature in enumerate(features or []):
        if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
            continue
        if not _is_berth(feature["properties"]):
            continue
        berths.append(feature_geometry(path, feature, f"feature {index} (a berth)"))
    return berths


def _to_metres(geometry, frame: Transformer):
    return shapely.transform(geometry, lambda xy: np.stack(frame.transform(xy[:, 0], xy[:, 1]), axis=1))


def pairs_on_date(index: int, scene: DatedScene, track_of: dict[int, int], aoi=None) -> list[StsPair]:
    """The rafted pairs among ``scene``'s vessels (inside ``aoi`` when given); ``track_of`` maps
    ``id(vessel)`` to its track id. Call it while the scene still holds its vessels."""
    kept = [k for k, v in enumerate(scene.vessels) if aoi is None or aoi.covers(shapely.Point(v.lon, v.lat))]
    if len(kept) < 2:
        return []
    vessels = [scene.vessels[k] for k in kept]
    polygons = [scene.records[k]["geometry"] for k in kept]
    frame = local_frame(float(np.mean([v.lon for v in vessels])), float(np.mean([v.lat for v in vessels])))
    hulls = [Hull(np.asarray(_to_metres(p, frame).exterior.coords)[:4], v.vessel_type == "tanker")
             for p, v in zip(polygons, vessels, strict=True)]
    # Lon/lat files carry no pixel error of their own; the scene's GSD sets the box tolerance.
    rafts = find_rafts(hulls, scene.gsd_m or 0.0)
    ids = raft_ids(len(hulls), rafts)
    return [StsPair(index, ids[r.first], (vessels[r.first], vessels[r.second]),
                    (track_of.get(id(vessels[r.first])), track_of.get(id(vessels[r.second]))),
                    (polygons[r.first], polygons[r.second]), r.gap_m, r.axis_deg, r.along_share) for r in rafts]


def learned_berths(tracks: list[Track], rafted: set[tuple[int, int]] = frozenset()) -> list:
    """Points (lon/lat) where two tankers lay at different times (see module doc), each tanker's
    place the median of its sightings not in ``rafted`` (``(scene_index, track_id)``)."""
    places = []
    for track in tracks:
        alone = [s for s in track.sightings if (s.scene_index, track.track_id) not in rafted]
        if alone:
            places.append((float(np.median([s.vessel.lon for s in alone])), float(np.median([s.vessel.lat for s in alone])),
                           alone[0].scene_index, alone[-1].scene_index))
    berths = set()
    for i, (lon_a, lat_a, first_a, last_a) in enumerate(places):
        for j in range(i + 1, len(places)):
            lon_b, lat_b, first_b, last_b = places[j]
            if first_b <= last_a and first_a <= last_b:
                continue
            if WGS84.inv(lon_a, lat_a, lon_b, lat_b)[2] <= LEARNED_BERTH_RADIUS_M:
                berths.update({i, j})
    return [shapely.Point(places[k][0], places[k][1]) for k in sorted(berths)]


def near_berth(pair: StsPair, berths: list) -> bool:
    """Whether either hull of ``pair`` lies within :data:`BERTH_RADIUS_M` of a berth."""
    if not berths:
        return False
    frame = local_frame(pair.lon, pair.lat)
    hulls = [_to_metres(h, frame) for h in pair.hulls]
    return any(shapely.distance(h, _to_metres(b, frame)) <= BERTH_RADIUS_M for h in hulls for b in berths)


def _combined(giver: Event, taker: Event) -> tuple[float, float, float, bool]:
    a, b = giver.volume, taker.volume
    low, high = max(a.low, b.low), min(a.high, b.high)
    agree = low <= high
    if not agree:
        low, high = min(a.low, b.low), max(a.high, b.high)
    central = min(max((a.central + b.central) / 2, low), high)
    return low, central, high, agree


def find_transfers(pairs: list[StsPair], events: list[Event], scenes: list[DatedScene]) -> list[Transfer]:
    """Probable transfers (see module doc), each discharge and loading used once, in date order."""
    rafted: dict[frozenset, list[datetime]] = {}
    for p in pairs:
        if None not in p.tracks and p.tracks[0] != p.tracks[1]:
            rafted.setdefault(frozenset(p.tracks), []).append(scenes[p.scene_index].acquired)
    discharges = [e for e in events if e.kind == "discharge" and e.volume is not None]
    loadings = [e for e in events if e.kind == "loading" and e.volume is not None]
    used: set[int] = set()
    transfers = []
    for give in discharges:
        for take in loadings:
            seen = rafted.get(frozenset((give.track_id, take.track_id)))
            if not seen or id(take) in used or id(give) in used:
                continue
            before, after = max(give.date_before, take.date_before), min(give.date_after, take.date_after)
            span = (min(give.date_before, take.date_before), max(give.date_after, take.date_after))
            if before < after and any(span[0] <= d <= span[1] for d in seen):
                used.update({id(give), id(take)})
                transfers.append(Transfer(give, take, before, after, *_combined(give, take)))
    return sorted(transfers, key=lambda t: (t.date_after, t.date_before, t.giver.track_id))


def _match_truth(transfers: list[Transfer], truth: list) -> list[tuple[Transfer, object]]:
    """Reported transfers matched to true ``sts_transfer`` rows (vessel ids ``giver;taker``) whose
    bracket they contain, for the same vessels where the files name them."""
    matched, used = [], set()
    for t in transfers:
        for k, true in enumerate(truth):
            if k in used or t.date_before > true.date_before or t.date_after < true.date_after:
                continue
            ids = (true.vessel_id or "").split(";")
            if len(ids) == 2 and t.giver.vessel_ids and t.taker.vessel_ids and not (
                    ids[0] in t.giver.vessel_ids and ids[1] in t.taker.vessel_ids):
                continue
            used.add(k)
            matched.append((t, true))
            break
    return matched


class StsFinder:
    """Collects each date's rafted pairs as the dates are read (:meth:`step`), then judges berths
    and transfers once every date is in (:meth:`finish`)."""

    def __init__(self, berths: list | None = None, aoi=None):
        self.berths = list(berths or [])
        self.aoi = aoi
        self.pairs: list[StsPair] = []

    def step(self, index: int, scene: DatedScene, track_of: dict[int, int]) -> None:
        self.pairs += pairs_on_date(index, scene, track_of, self.aoi)

    def finish(self, tracks: list[Track], events: list[Event], scenes: list[DatedScene],
               truth: list | None = None) -> StsResult:
        rafted = {(p.scene_index, track) for p in self.pairs for track in p.tracks if track is not None}
        learned = learned_berths(tracks, rafted)
        berths = self.berths + learned
        away = [p for p in self.pairs if not near_berth(p, berths)]
        transfers = find_transfers(away, events, scenes)
        result = StsResult(away, len(self.pairs) - len(away), len(self.berths), len(learned), transfers)
        if truth is not None:
            result.truth = [t for t in truth if t.kind == TRANSFER_EVENT]
            result.matched = _match_truth(transfers, result.truth)
        return result

