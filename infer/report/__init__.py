"""The terminal activity report over dated detection files.

- :mod:`.inputs`: reading dated detection files and the area of interest.
- :mod:`.tracking`: the same tanker across dates.
- :mod:`.series`: one pass over the files in date order, one file's detections in memory at a time.
- :mod:`.events`: arrivals, departures and loadings, with per-period totals.
- :mod:`.volume`: barrels ranges from the size-class table.
- :mod:`.evaluate`: scoring events against a synthetic series' truth.
- :mod:`.render`, :mod:`.document`: CSV tables, the timeline and the Markdown / HTML report.
- :mod:`.gis`, :mod:`.map_svg`: ``events.geojson`` and ``detections.gpkg`` for a GIS, and the
  report's map panel.
- :mod:`.ais`, :mod:`.ais_output`: dark tankers and AIS-only positions against an AIS file
  (``report --ais``), and what they add to the report.
- :mod:`.sts`, :mod:`.sts_output`: ship-to-ship pairs away from berths and probable transfers,
  and what they add to the report.
- :mod:`.terminals`, :mod:`.summary`: ``report --terminals``: the terminals file, which files each
  gets, and the summary table.
"""

from .document import build_document
from .evaluate import read_truth_events, score_events
from .events import date_counts, find_events, period_totals
from .inputs import load_scenes, read_aoi
from .tracking import TrackingTolerances, track_tankers
from .volume import estimate_volume

__all__ = [
    "load_scenes",
    "read_aoi",
    "track_tankers",
    "TrackingTolerances",
    "date_counts",
    "find_events",
    "period_totals",
    "estimate_volume",
    "read_truth_events",
    "score_events",
    "build_document",
]
