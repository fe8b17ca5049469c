"""Score a report's events against a known event log (the synthetic series' ``events.csv``).

A reported event matches a true one when it is of the same kind, its bracketing dates contain the
true bracket (``date_before <= true date_before`` and ``date_after >= true date_after``: an event
reported with a wider bracket, e.g. across an uncertain date, is still the same event), and, when
both sides know it, the same ``vessel_id``; otherwise the lengths agree within ``length_tol``
(relative). Pairs are taken greedily, tightest bracket first, each event used once. Recall and
precision are then per kind and over all kinds, and for each matched loading or discharge, whether
the true volume (``cargo_barrels``) lies within the reported low..high range. A log's
``sts_transfer`` rows (vessel ids ``giver;taker``) are read too, and scored by
:mod:`tankerwatch.infer.report.sts`, not here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..core.errors import located
from .events import EVENT_KINDS, Event
from .inputs import ReportInputError, parse_date
from .sts import TRANSFER_EVENT

TRUTH_COLUMNS = ("event", "date_before", "date_after")
TRUTH_KINDS = (*EVENT_KINDS, TRANSFER_EVENT)


@dataclass(frozen=True)
class TrueEvent:
    kind: str
    date_before: datetime
    date_after: datetime
    vessel_id: str | None
    length_m: float | None
    cargo_barrels: float | None


@dataclass
class EventScore:
    matched: list[tuple[Event, TrueEvent]] = field(default_factory=list)
    missed: list[TrueEvent] = field(default_factory=list)
    spurious: list[Event] = field(default_factory=list)

    def recall(self, kind: str | None = None) -> float | None:
        hit = sum(1 for _, t in self.matched if kind in (None, t.kind))
        total = hit + sum(1 for t in self.missed if kind in (None, t.kind))
        return hit / total if total else None

    def precision(self, kind: str | None = None) -> float | None:
        hit = sum(1 for e, _ in self.matched if kind in (None, e.kind))
        total = hit + sum(1 for e in self.spurious if kind in (None, e.kind))
        return hit / total if total else None

    def volumes_in_range(self) -> tuple[int, int]:
        """(matched loadings/discharges whose true volume is within the stated range, those with a true volume)."""
        judged = [(e, t) for e, t in self.matched if e.volume is not None and t.cargo_barrels is not None]
        inside = sum(e.volume.low <= t.cargo_barrels <= e.volume.high for e, t in judged)
        return inside, len(judged)


def _number(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def read_truth_events(path: str | Path) -> list[TrueEvent]:
    """Read an event log with at least the columns event, date_before, date_after."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise ReportInputError(located(path, "no such file")) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReportInputError(located(path, f"not a readable CSV file ({exc})")) from None
    events = []
    for line, row in enumerate(rows, start=2):
        missing = [c for c in TRUTH_COLUMNS if not row.get(c)]
        if missing:
            raise ReportInputError(located(path, f"missing {', '.join(missing)}", line))
        if row["event"] not in TRUTH_KINDS:
            raise ReportInputError(located(path, f"unknown event {row['event']!r} (known: {', '.join(TRUTH_KINDS)})", line))
        try:
            events.append(TrueEvent(row["event"], parse_date(row["date_before"]), parse_date(row["date_after"]),
                                    row.get("vessel_id") or None, _number(row.get("length_m")),
                                    _number(row.get("cargo_barrels"))))
        except ValueError as exc:
            raise ReportInputError(located(path, str(exc), line)) from None
    return events


def _compatible(event: Event, truth: TrueEvent, length_tol: float) -> bool:
    if event.kind != truth.kind or event.date_before > truth.date_before or event.date_after < truth.date_after:
        return False
    if truth.vessel_id is not None and event.vessel_ids:
        return truth.vessel_id in event.vessel_ids
    if truth.length_m is not None:
        return abs(event.length_m - truth.length_m) <= length_tol * truth.length_m
    return True


def score_events(events: list[Event], truth: list[TrueEvent], length_tol: float = 0.25) -> EventScore:
    """Match reported events to true ones of the event kinds (see module doc)."""
    truth = [t for t in truth if t.kind in EVENT_KINDS]
    candidates = [(e.date_after - e.date_before, i, j) for i, e in enumerate(events)
                  for j, t in enumerate(truth) if _compatible(e, t, length_tol)]
    used_e, used_t, score = set(), set(), EventScore()
    for _, i, j in sorted(candidates):
        if i not in used_e and j not in used_t:
            used_e.add(i)
            used_t.add(j)
            score.matched.append((events[i], truth[j]))
    score.missed = [t for j, t in enumerate(truth) if j not in used_t]
    score.spurious = [e for i, e in enumerate(events) if i not in used_e]
    return score
