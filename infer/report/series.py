"""One pass over a report's detection files in date order, each file's detections in memory only
while it is being read.

The headers (:func:`~tankerwatch.infer.report.inputs.scan_scenes`) have already dated, placed,
sorted and checked the files; :func:`stream_series` reads each in full in turn, steps the tracker
with it, counts it, hands it to the report's per-date consumers (the GeoPackage's rows, AIS,
quick-looks: anything that needs a date's detections must be one) and then drops its detections.

What stays in memory, so a year of daily files costs little more than a month:

* per date: the header (a :class:`~tankerwatch.infer.report.inputs.DatedScene` with no vessels;
  its footprint) and a :class:`~tankerwatch.infer.report.events.Tally`;
* per track: its sightings (a few numbers each, tankers in the area only);
* the distinct positions of the vessels seen, for the map's grey dots (two floats each: vessels at a
  berth repeat; real detections mostly do not, so this one grows with the detections, at about a
  hundred bytes each);
* with ``keep_vessels`` (``report --ais``, whose tables list every detection against AIS), each
  date's vessels: the one documented exception.

A file whose header was read but whose detections cannot be is skipped and named, like a file
whose header cannot be read: the dates after it are numbered as if it had never been given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..core.errors import TankerwatchError
from .events import Tally, tally
from .inputs import DatedScene, read_scene
from .tracking import Track, Tracker

# (date index, the scene with its vessels and records, id(vessel) -> track id for its tankers)
SceneConsumer = Callable[[int, DatedScene, dict[int, int]], None]


@dataclass
class Series:
    """The dates that were read, sorted, without their vessels (unless kept), and what was derived
    from them on the way: one tally and one vessel count per date, the tracks, and the positions of
    the vessels seen (insertion-ordered, distinct)."""

    scenes: list[DatedScene] = field(default_factory=list)
    tallies: list[Tally] = field(default_factory=list)
    vessels: list[int] = field(default_factory=list)
    tracks: list[Track] = field(default_factory=list)
    seen: dict[tuple[float, float], None] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def stream_series(headers: list[DatedScene], tracker: Tracker, min_score: float = 0.0,
                  consumers: Sequence[SceneConsumer] = (), keep_vessels: bool = False) -> Series:
    """Read the date-sorted ``headers``' files one at a time (see module doc); ``tracker`` counts
    only inside its area of interest, and ``consumers`` are called in order for each date read."""
    series = Series(tracks=tracker.tracks)
    for header in headers:
        try:
            scene = read_scene(header.path, header.acquired, header.acquired_from, min_score)
        except TankerwatchError as exc:
            series.skipped.append(str(exc))
            continue
        index = len(series.scenes)
        track_of = tracker.step(index, scene)
        series.tallies.append(tally(scene, tracker.aoi))
        series.vessels.append(len(scene.vessels))
        series.seen.update(dict.fromkeys((v.lon, v.lat) for v in scene.vessels))
        for consume in consumers:
            consume(index, scene, track_of)
        scene.model = header.model  # the header scan's copy, shared by every file of that model
        scene.records = []
        if not keep_vessels:
            scene.vessels = []
        series.scenes.append(scene)
    return series
