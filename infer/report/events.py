"""Events at a terminal, from tanker tracks: arrival, departure, loading, discharge.

Every event is bracketed by two acquisition dates: ``date_before`` (the last date the earlier
state was seen) and ``date_after`` (the first date the new state was seen); it happened somewhere
in between. Rules:

* arrival: a track's first sighting, when an earlier date imaged that position and saw no tanker
  there (date_before = the latest such date). A tanker already there on the first date that imaged
  its position has no arrival event.
* departure: a track that was missing on a later date that imaged its last position (date_after =
  the first such date). A tanker still there on the last date that imaged it has no departure.
* loading (empty -> loaded) and discharge (loaded -> empty): between consecutive *certain* load
  states along a track. ``uncertain`` and ``unknown`` sightings neither create an event nor break
  the track; they only widen the bracket. Load states are used as the detection file gives them:
  the report never re-thresholds ``p_loaded``.

Volumes (loading and discharge) come from :mod:`tankerwatch.infer.report.volume`, using the
track's median length and the coarsest GSD among its sightings: from the change in laden fraction
between the two sightings when both carry one, else from the load states alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import shapely

from .inputs import DatedScene
from .tracking import Track, tanker_sightings
from .volume import VolumeEstimate, estimate_volume, estimate_volume_from_fraction, length_error_m

EVENT_KINDS = ("arrival", "departure", "loading", "discharge")
CERTAIN_LOADS = ("empty", "loaded")
# The events CSV (the synthetic series' event log uses the same column names; it leaves the
# estimate columns empty and puts the true volume in cargo_barrels).
EVENTS_CSV_COLUMNS = ("event", "vessel_id", "track_id", "date_before", "date_after", "lon", "lat",
                      "length_m", "size_class", "load", "cargo_barrels", "barrels_low", "barrels_high")
PERIODS = ("month", "week", "all")


@dataclass(frozen=True)
class Event:
    """One event of one track. ``load`` is the state seen at the event (arrival: first sighting;
    departure: last sighting; loading/discharge: the new state). ``volume`` is set for loading and
    discharge only; ``cargo_barrels`` in the CSV is its central value."""

    kind: str
    track_id: int
    date_before: datetime
    date_after: datetime
    lon: float
    lat: float
    length_m: float
    load: str
    volume: VolumeEstimate | None = None
    vessel_ids: tuple[str, ...] = ()


def _latest_imaged_before(scenes: list[DatedScene], index: int, lon: float, lat: float) -> int | None:
    for j in range(index - 1, -1, -1):
        if scenes[j].imaged(lon, lat):
            return j
    return None


def track_events(track: Track, scenes: list[DatedScene], cargo: str) -> list[Event]:
    """The events of one track, in time order (see module doc)."""
    vessel_ids = tuple(track.vessel_ids)
    length = track.length_m
    coarsest = max((scenes[s.scene_index].gsd_m or 0.0 for s in track.sightings), default=0.0) or None
    events = []

    def event(kind, before, after, sighting, volume=None):
        v = sighting.vessel
        return Event(kind, track.track_id, scenes[before].acquired, scenes[after].acquired,
                     v.lon, v.lat, length, v.load, volume, vessel_ids)

    first = track.first
    before = _latest_imaged_before(scenes, first.scene_index, first.vessel.lon, first.vessel.lat)
    if before is not None:
        events.append(event("arrival", before, first.scene_index, first))
    previous = None
    for sighting in track.sightings:
        if sighting.vessel.load not in CERTAIN_LOADS:
            continue
        if previous is not None and previous.vessel.load != sighting.vessel.load:
            kind = "loading" if sighting.vessel.load == "loaded" else "discharge"
            error_m = length_error_m(length, coarsest)
            before, after = previous.vessel.laden_fraction, sighting.vessel.laden_fraction
            volume = (estimate_volume(length, cargo, error_m) if before is None or after is None
                      else estimate_volume_from_fraction(length, before, after, cargo, error_m))
            events.append(event(kind, previous.scene_index, sighting.scene_index, sighting, volume))
        previous = sighting
    if track.first_absent is not None:
        events.append(event("departure", track.last.scene_index, track.first_absent, track.last))
    return events


def find_events(tracks: list[Track], scenes: list[DatedScene], cargo: str) -> list[Event]:
    """All events, sorted by bracketing dates, then kind, then track."""
    events = [e for t in tracks for e in track_events(t, scenes, cargo)]
    return sorted(events, key=lambda e: (e.date_after, e.date_before, EVENT_KINDS.index(e.kind), e.track_id))


def period_key(moment: datetime, period: str) -> str:
    """The reporting period a moment falls in: ``2024-03`` (month), ``2024-W10`` (ISO week) or ``all``."""
    if period == "month":
        return moment.strftime("%Y-%m")
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    return "all"


@dataclass(frozen=True)
class PeriodTotal:
    period: str
    loadings: int
    discharges: int
    loaded_low: float
    loaded_central: float
    loaded_high: float
    discharged_low: float
    discharged_central: float
    discharged_high: float


def period_totals(events: list[Event], period: str) -> list[PeriodTotal]:
    """Barrels loaded and discharged per period (an event counts in the period of its date_after),
    plus a final ``total`` row over the whole series."""
    keys = sorted({period_key(e.date_after, period) for e in events if e.volume is not None})

    def total(name, selected):
        load = [e.volume for e in selected if e.kind == "loading"]
        dis = [e.volume for e in selected if e.kind == "discharge"]
        return PeriodTotal(name, len(load), len(dis),
                           sum(v.low for v in load), sum(v.central for v in load), sum(v.high for v in load),
                           sum(v.low for v in dis), sum(v.central for v in dis), sum(v.high for v in dis))

    rows = [total(k, [e for e in events if period_key(e.date_after, period) == k]) for k in keys]
    rows.append(total("total", events))
    return rows


@dataclass(frozen=True)
class DateCount:
    """What one date shows inside the area counted: tankers by state, other vessels, and how much
    of that area the scene imaged (``coverage`` 0..1)."""

    scene: DatedScene
    coverage: float
    empty: int
    loaded: int
    uncertain: int
    other: int
    events: dict

    @property
    def tankers(self) -> int:
        return self.empty + self.loaded + self.uncertain


@dataclass(frozen=True)
class Tally:
    """One date's vessels inside the area counted, by the columns of :class:`DateCount`."""

    empty: int
    loaded: int
    uncertain: int
    other: int


def tally(scene: DatedScene, aoi=None) -> Tally:
    """Count ``scene``'s vessels (see :func:`date_counts`) while it still holds them."""
    tankers = tanker_sightings(scene, aoi)
    others = [v for v in scene.vessels if v.vessel_type == "other"
              and (aoi is None or aoi.covers(shapely.Point(v.lon, v.lat)))]
    return Tally(empty=sum(v.load == "empty" for v in tankers), loaded=sum(v.load == "loaded" for v in tankers),
                 uncertain=sum(v.load not in CERTAIN_LOADS for v in tankers), other=len(others))


def date_counts(scenes: list[DatedScene], events: list[Event], aoi=None,
                tallies: list[Tally] | None = None) -> list[DateCount]:
    """Per-date counts; ``uncertain`` also holds tankers whose load is ``unknown``, and vessels of
    unknown type count in no column. Coverage is measured against the area of interest, or else
    the union of all the footprints. ``tallies`` (one per scene, from :func:`tally`) stand in for
    the scenes' vessels when those were dropped after reading."""
    footprints = [s.footprint for s in scenes if s.footprint is not None]
    reference = aoi if aoi is not None else (shapely.union_all(footprints) if footprints else None)
    rows = []
    for scene, counted in zip(scenes, [tally(s, aoi) for s in scenes] if tallies is None else tallies, strict=True):
        if scene.footprint is None or reference is None or reference.area == 0:
            coverage = 1.0
        else:
            coverage = float(scene.footprint.intersection(reference).area / reference.area)
        rows.append(DateCount(
            scene, coverage, empty=counted.empty, loaded=counted.loaded, uncertain=counted.uncertain,
            other=counted.other,
            events={k: sum(e.kind == k and e.date_after == scene.acquired for e in events) for k in EVENT_KINDS}))
    return rows
