"""``tankerwatch report DETECTIONS... -o OUT_DIR``: a terminal's activity over dated detections.

Reads the GeoJSON files ``detect`` wrote for one place on several dates (or synthetic ground
truth in the same schema), recognises each tanker from date to date, derives arrivals,
departures, loadings and discharges with the dates that bracket them, estimates the oil moved as
low / central / high barrels, and writes into OUT_DIR:

``report.md`` and ``report.html`` (readable without the tool), ``events.csv``, ``counts.csv``
(per date), ``totals.csv`` (per period), ``timeline.png`` and ``quicklooks/`` (copies of the
``<stem>.quicklook.png`` found next to the inputs). Exit 0, or 1 when some inputs were skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.atomic import atomic_write_bytes, atomic_write_text
from ..core.errors import EXIT_OK, EXIT_SOME_FAILED, ConfigError
from ..core.tanker_sizes import BARRELS_PER_TONNE, DEFAULT_CARGO
from ..report.document import build_document
from ..report.evaluate import read_truth_events, score_events
from ..report.events import PERIODS, date_counts, find_events, period_totals
from ..report.inputs import load_scenes, read_aoi
from ..report.render import render_timeline, write_counts_csv, write_events_csv, write_totals_csv
from ..report.tracking import TrackingTolerances, track_tankers
from ..report.volume import check_cargo
from .args import add_overwrite, non_negative_int, positive_float, probability, regex

OUTPUT_NAMES = ("report.md", "report.html", "events.csv", "counts.csv", "totals.csv", "timeline.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("detections", nargs="+", type=Path, metavar="DETECTIONS",
                        help="detection GeoJSON files of one place on different dates, or folders of them")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the report")
    parser.add_argument("--aoi", type=Path, help="GeoJSON polygon(s) in lon/lat: count only vessels inside "
                                                 "(the terminal's berths and anchorage)")
    parser.add_argument("--cargo", choices=list(BARRELS_PER_TONNE), default=DEFAULT_CARGO,
                        help=f"cargo for barrels per tonne (default {DEFAULT_CARGO})")
    parser.add_argument("--dates", help="comma-separated dates, one per file in the order given "
                                        "(overrides the files' own acquisition dates)")
    parser.add_argument("--date-pattern", type=regex, help="regular expression whose first group finds the date in each "
                                               "file name, e.g. '(\\d{8})' (overrides the files' own dates)")
    parser.add_argument("--period", choices=PERIODS, default="month", help="totals per month, ISO week or all "
                                                                           "(default month)")
    parser.add_argument("--match-distance", type=positive_float, default=TrackingTolerances.position_m,
                        metavar="M", help="metres a tanker's centre may move between dates and still be the "
                                          f"same vessel (default {TrackingTolerances.position_m:g})")
    parser.add_argument("--max-missed", type=non_negative_int, default=TrackingTolerances.max_missed,
                        metavar="N", help="imaged dates a tanker may be missed and still be the same vessel "
                                          "when seen again (default 0: detections taken at their word)")
    parser.add_argument("--min-score", type=probability, default=0.0, metavar="S",
                        help="ignore detections scored below S (default 0: keep every detection detect wrote)")
    parser.add_argument("--truth-events", type=Path, metavar="EVENTS.csv",
                        help="a known event log (e.g. from 'synth series'): add event recall and precision")
    add_overwrite(parser)


def _fraction(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _expand(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.geojson"))
            if not found:
                raise ConfigError(f"{path}: folder holds no .geojson detection files")
            files += found
        else:
            files.append(path)
    return files


def run(args: argparse.Namespace) -> int:
    check_cargo(args.cargo)
    out_dir: Path = args.output
    existing = [n for n in OUTPUT_NAMES if (out_dir / n).exists()]
    if existing and not args.overwrite:
        raise ConfigError(f"{out_dir}: already holds a report ({', '.join(existing)}); use --overwrite")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a folder")
    aoi = read_aoi(args.aoi) if args.aoi else None
    truth = read_truth_events(args.truth_events) if args.truth_events else None
    dates = args.dates.split(",") if args.dates else None
    inputs = load_scenes(_expand(args.detections), dates=dates, date_pattern=args.date_pattern, aoi=aoi,
                         min_score=args.min_score)
    scenes = inputs.scenes
    for line in inputs.skipped:
        print(f"tankerwatch report: skipped {line}", file=sys.stderr)
    for line in inputs.warnings:
        print(f"tankerwatch report: warning: {line}", file=sys.stderr)

    tolerances = TrackingTolerances(position_m=args.match_distance, max_missed=args.max_missed)
    tracks = track_tankers(scenes, tolerances, aoi)
    events = find_events(tracks, scenes, args.cargo)
    counts = date_counts(scenes, events, aoi)
    totals = period_totals(events, args.period)
    score = score_events(events, truth) if truth is not None else None

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out_dir}: cannot create the report folder ({exc.strerror})") from None
    quicklooks = {}
    for index, scene in enumerate(scenes):
        if scene.quicklook is not None:
            rel = f"quicklooks/{index:03d}_{scene.acquired.strftime('%Y%m%dT%H%M%S')}.png"
            atomic_write_bytes(out_dir / rel, scene.quicklook.read_bytes())
            quicklooks[index] = rel
    write_events_csv(out_dir / "events.csv", events)
    write_counts_csv(out_dir / "counts.csv", counts)
    write_totals_csv(out_dir / "totals.csv", totals)
    kind = "synthetic ground truth" if all(s.truth for s in scenes) else "detections"
    render_timeline(out_dir / "timeline.png", counts, events,
                    f"Tankers by load state, {scenes[0].acquired:%Y-%m-%d} to {scenes[-1].acquired:%Y-%m-%d} ({kind})")
    document = build_document(
        scenes, counts, events, totals, cargo=args.cargo, period=args.period,
        aoi_name=args.aoi.name if args.aoi else None, min_score=args.min_score, timeline="timeline.png", quicklooks=quicklooks,
        warnings=inputs.warnings, skipped=inputs.skipped, score=score,
        files={"events": "events.csv", "per-date counts": "counts.csv", "totals per period": "totals.csv",
               "timeline": "timeline.png", "this report as HTML": "report.html"})
    atomic_write_text(out_dir / "report.html", document.html())
    atomic_write_text(out_dir / "report.md", document.markdown())
    loaded = totals[-1]
    print(f"{len(scenes)} dates, {len(tracks)} tankers tracked, {len(events)} events, "
          f"{loaded.loadings} loadings: {loaded.loaded_low:,.0f} - {loaded.loaded_high:,.0f} barrels "
          f"(central {loaded.loaded_central:,.0f})")
    if score is not None:
        inside, judged = score.volumes_in_range()
        print(f"events against {args.truth_events}: recall {_fraction(score.recall())}, precision "
              f"{_fraction(score.precision())}; true volume within the stated range for {inside}/{judged}")
    print(f"report: {out_dir / 'report.md'}")
    return EXIT_SOME_FAILED if inputs.skipped else EXIT_OK
