"""``tankerwatch report DETECTIONS... -o OUT_DIR``: a terminal's activity over dated detections.

Reads the GeoJSON files ``detect`` wrote for one place on several dates (or synthetic ground
truth in the same schema), recognises each tanker from date to date, derives arrivals,
departures, loadings and discharges with the dates that bracket them, estimates the oil moved as
low / central / high barrels, and writes into OUT_DIR:

``report.md`` and ``report.html`` (readable without the tool; the HTML is self-contained, images
embedded, with a map panel), ``events.csv``, ``counts.csv`` (per date), ``totals.csv`` (per period),
``timeline.png``, ``map.svg``, ``quicklooks/`` (copies of the ``<stem>.quicklook.png`` found next to
the inputs, with their world files), and for a GIS (:mod:`tankerwatch.infer.report.gis`)
``events.geojson`` and ``detections.gpkg`` (the latter with the ``geo`` extra; without it a warning
says so). With ``--ais AIS.csv`` (:mod:`tankerwatch.infer.report.ais`): ``ais_matches.csv`` and
``ais_matches.geojson``, a dark-vessel section, dark tankers on the timeline, and ``ais_mmsi``,
``ais_distance_m``, ``dark`` on each detection in ``detections.gpkg`` (``dark_before``/``dark_after``
on each event in ``events.geojson``). Exit 0, or 1 when some inputs or AIS rows were skipped.

Files are dated and placed from their headers first, then read in full one at a time in date order
(:mod:`tankerwatch.infer.report.series`), so a year of daily files needs little more memory than a
month. With ``--terminals TERMINALS.geojson``, one such report per terminal and a summary table
(:mod:`tankerwatch.infer.commands.report_terminals`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from functools import partial
from pathlib import Path

from ..core.ais_file import BAD_ROW_MODES, AisFile, read_ais
from ..core.atomic import atomic_write_bytes, atomic_write_text
from ..core.errors import EXIT_OK, EXIT_SOME_FAILED, ConfigError
from ..core.tanker_sizes import BARRELS_PER_TONNE, DEFAULT_CARGO
from ..report.ais import AisResult, AisTolerances, add_scene, image_times_s
from ..report.ais_output import (
    AIS_OUTPUT_NAMES,
    bad_row_lines,
    dark_sightings,
    detection_columns,
    summary_line,
    write_match_files,
)
from ..report.document import build_document
from ..report.evaluate import read_truth_events, score_events
from ..report.events import PERIODS, date_counts, find_events, period_totals
from ..report.gis import DetectionsLayer, geopackage_available, write_events_geojson
from ..report.inputs import (
    AOI_SUFFIX,
    AoiPart,
    DatedScene,
    ReportInputError,
    ReportInputs,
    check_series,
    geojson_files,
    read_aoi,
    read_aoi_parts,
    scan_scenes,
    untyped_warning,
)
from ..report.map_svg import render_map_svg
from ..report.render import render_timeline, write_counts_csv, write_events_csv, write_totals_csv
from ..report.series import stream_series
from ..report.sts import StsFinder, read_berths
from ..report.sts_output import sts_summary_line, write_sts_files
from ..report.summary import ReportSummary
from ..report.tanks import TANK_SUFFIXES, add_tank_section, read_tank_dates, render_stock, write_stock_csv
from ..report.tracking import Tracker, TrackingTolerances
from ..report.volume import check_cargo
from ..runtime.quicklook import sidecar_paths
from .args import add_overwrite, non_negative_int, positive_float, probability, regex
from .report_terminals import run_terminals

OUTPUT_NAMES = ("report.md", "report.html", "events.csv", "counts.csv", "totals.csv", "timeline.png", "map.svg",
                "events.geojson", "detections.gpkg")


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
    parser.add_argument("--ais", type=Path, metavar="AIS.csv",
                        help="AIS position reports (mmsi, time with zone, lon, lat[, length, ship_type]): flag "
                             "tankers with no AIS position as dark, and AIS positions with no vessel as AIS-only")
    parser.add_argument("--ais-bad-rows", choices=BAD_ROW_MODES, default="skip",
                        help="an unreadable AIS row is named and skipped (default), or stops the report")
    parser.add_argument("--ais-window-min", type=positive_float, default=AisTolerances.window_min, metavar="MIN",
                        help=f"use AIS fixes within MIN minutes of each image time (default "
                             f"{AisTolerances.window_min:g})")
    parser.add_argument("--ais-distance", type=positive_float, default=AisTolerances.position_m, metavar="M",
                        help="metres an AIS position may lie off a detected hull, before adding its speed times the "
                             f"time to its nearest fix (default {AisTolerances.position_m:g})")
    parser.add_argument("--terminals", type=Path, metavar="TERMINALS.geojson",
                        help="many terminals in one run: a GeoJSON of polygons, each with a 'name'; writes "
                             "OUT/<name>/ per terminal (from the files whose footprint meets it), "
                             "OUT/summary.csv, summary.md and index.html (see docs/reports.md)")
    parser.add_argument("--tanks", nargs="+", type=Path, metavar="TANKS",
                        help="tanks files of the terminal ('tankerwatch tanks' output or synthetic truth), or folders "
                             "of them: plot its floating-roof stock per date beside the loadings (docs/tanks.md)")
    add_overwrite(parser)


def _fraction(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _detection_files(paths: list[Path]) -> list[Path]:
    return geojson_files(paths, lambda name: not name.endswith((*TANK_SUFFIXES, AOI_SUFFIX)),
                         ".geojson detection files")


def check_output(out_dir: Path, overwrite: bool) -> None:
    """Refuse to write into a folder that holds an earlier report (without ``--overwrite``) or a file."""
    existing = [n for n in OUTPUT_NAMES if (out_dir / n).exists()]
    if existing and not overwrite:
        raise ConfigError(f"{out_dir}: already holds a report ({', '.join(existing)}); use --overwrite")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a folder")


def run(args: argparse.Namespace) -> int:
    check_cargo(args.cargo)
    dates = args.dates.split(",") if args.dates else None
    if args.terminals:
        return run_terminals(args, _detection_files(args.detections), dates, write_report, check_output, read_ais_file)
    check_output(args.output, args.overwrite)
    aoi = read_aoi(args.aoi) if args.aoi else None
    inputs = scan_scenes(_detection_files(args.detections), dates=dates, date_pattern=args.date_pattern)
    check_series(inputs, aoi)
    summary = write_report(inputs, args.output, args, aoi=aoi, aoi_parts=read_aoi_parts(args.aoi) if args.aoi else None,
                           aoi_name=args.aoi.name if args.aoi else None, ais_file=read_ais_file(args, inputs.scenes))
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


def read_ais_file(args: argparse.Namespace, scenes: list[DatedScene]) -> AisFile | None:
    """The ``--ais`` file's fixes near the image times of ``scenes``, its bad rows named on stderr
    (once, however many reports use it); None without ``--ais``."""
    if not args.ais:
        return None
    ais_file = read_ais(args.ais, image_times_s(scenes), 60.0 * args.ais_window_min, args.ais_bad_rows)
    for line in bad_row_lines(ais_file):
        print(f"tankerwatch report: {line}", file=sys.stderr)
    return ais_file


def _copy_quicklook(out_dir: Path, quicklooks: dict[int, str], index: int, scene, track_of) -> None:
    if scene.quicklook is not None:
        rel = f"quicklooks/{index:03d}_{scene.acquired.strftime('%Y%m%dT%H%M%S')}.png"
        atomic_write_bytes(out_dir / rel, scene.quicklook.read_bytes())
        for source, copy in zip(sidecar_paths(scene.quicklook), sidecar_paths(out_dir / rel), strict=True):
            if source.is_file():  # georeferenced: the copy lands where the original does in a GIS
                atomic_write_bytes(copy, source.read_bytes())
        quicklooks[index] = rel


def write_report(inputs: ReportInputs, out_dir: Path, args: argparse.Namespace, *, aoi=None,
                 aoi_parts: list[AoiPart] | None = None, aoi_name: str | None = None,
                 prefix: str = "", ais_file: AisFile | None = None) -> ReportSummary:
    """The report of one place into ``out_dir``, from ``inputs`` checked by
    :func:`~tankerwatch.infer.report.inputs.check_series` (headers only: each file is read in full
    once, in date order, see :mod:`tankerwatch.infer.report.series`) and the options in ``args``.
    ``prefix`` starts each line printed (a terminal's name); ``ais_file``: the ``--ais`` fixes
    (:func:`read_ais_file`, which has named its bad rows). Returns the figures a summary needs."""
    truth = read_truth_events(args.truth_events) if args.truth_events else None
    tank_dates = read_tank_dates(args.tanks) if args.tanks else None
    ais = None
    if ais_file is not None:
        ais = AisResult(ais_file, AisTolerances(window_min=args.ais_window_min, position_m=args.ais_distance))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out_dir}: cannot create the report folder ({exc.strerror})") from None
    quicklooks: dict[int, str] = {}
    consumers = [partial(_copy_quicklook, out_dir, quicklooks)]
    sts = StsFinder(read_berths(args.aoi) if args.aoi else None, aoi)
    consumers.append(sts.step)
    if ais is not None:
        consumers.insert(0, lambda index, scene, track_of: add_scene(ais, index, scene, track_of, aoi))
    tolerances = TrackingTolerances(position_m=args.match_distance, max_missed=args.max_missed)
    with DetectionsLayer() if geopackage_available() else contextlib.nullcontext() as layer:
        if layer is not None:
            consumers.append(lambda index, scene, track_of: layer.add(
                scene, track_of, detection_columns(ais.scenes[index]) if ais is not None else None))
        series = stream_series(inputs.scenes, Tracker(tolerances, aoi), args.min_score, consumers,
                               keep_vessels=ais is not None)
        if layer is not None and series.scenes:
            layer.write(out_dir / "detections.gpkg")
    skipped = inputs.skipped + series.skipped
    for line in skipped:
        print(f"tankerwatch report: {prefix}skipped {line}", file=sys.stderr)
    if not series.scenes:
        raise ReportInputError("no usable detection files: " + "; ".join(skipped))
    untyped = untyped_warning(series.scenes, series.vessels)
    warnings = inputs.warnings + ([untyped] if untyped else [])
    for line in warnings:
        print(f"tankerwatch report: {prefix}warning: {line}", file=sys.stderr)
    scenes, tracks = series.scenes, series.tracks
    events = find_events(tracks, scenes, args.cargo)
    counts = date_counts(scenes, events, aoi, series.tallies)
    totals = period_totals(events, args.period)
    score = score_events(events, truth) if truth is not None else None
    sts_result = sts.finish(tracks, events, scenes, truth)

    write_events_csv(out_dir / "events.csv", events)
    write_counts_csv(out_dir / "counts.csv", counts)
    write_totals_csv(out_dir / "totals.csv", totals)
    write_events_geojson(out_dir / "events.geojson", events, scenes, dark_sightings(ais) if ais else None)
    write_sts_files(out_dir, sts_result, scenes)
    files = {"events": "events.csv", "events for a GIS": "events.geojson", "per-date counts": "counts.csv",
             "totals per period": "totals.csv", "timeline": "timeline.png", "map": "map.svg"}
    if layer is not None:
        files["every date's detections for a GIS"] = "detections.gpkg"
    else:
        (out_dir / "detections.gpkg").unlink(missing_ok=True)  # never leave an earlier run's beside this one
        print("tankerwatch report: warning: detections.gpkg not written: it needs the geo extra "
              "(pip install 'tankerwatch[geo]')", file=sys.stderr)
    if ais is not None:
        write_match_files(out_dir, ais)
        files["each detection against AIS"] = "ais_matches.csv"
        files["the same for a GIS"] = "ais_matches.geojson"
    else:
        for name in AIS_OUTPUT_NAMES:  # never leave an earlier run's beside this one
            (out_dir / name).unlink(missing_ok=True)
    files["ship-to-ship pairs"], files["probable ship-to-ship transfers"] = "sts_pairs.csv", "sts_transfers.csv"
    files["this report as HTML"] = "report.html"
    map_svg = render_map_svg(scenes, events, aoi_parts, series.seen)
    atomic_write_text(out_dir / "map.svg", map_svg)
    kind = "synthetic ground truth" if all(s.truth for s in scenes) else "detections"
    render_timeline(out_dir / "timeline.png", counts, events,
                    f"Tankers by load state, {scenes[0].acquired:%Y-%m-%d} to {scenes[-1].acquired:%Y-%m-%d} ({kind})",
                    dark=[s.dark_tankers for s in ais.scenes] if ais else None)
    document = build_document(
        scenes, counts, events, totals, cargo=args.cargo, period=args.period,
        aoi_name=aoi_name, min_score=args.min_score, timeline="timeline.png", quicklooks=quicklooks,
        warnings=warnings, skipped=skipped, score=score, files=files, map_svg=("map.svg", map_svg),
        ais=ais, sts=sts_result)
    if tank_dates is not None:
        write_stock_csv(out_dir / "tank_stock.csv", tank_dates)
        render_stock(out_dir / "tank_stock.png", tank_dates, events)
        add_tank_section(document, tank_dates, "tank_stock.png")
    atomic_write_text(out_dir / "report.html", document.html(out_dir))
    atomic_write_text(out_dir / "report.md", document.markdown())
    loaded = totals[-1]
    print(f"{prefix}{len(scenes)} dates, {len(tracks)} tankers tracked, {len(events)} events, "
          f"{loaded.loadings} loadings: {loaded.loaded_low:,.0f} - {loaded.loaded_high:,.0f} barrels "
          f"(central {loaded.loaded_central:,.0f})")
    if score is not None:
        inside, judged = score.volumes_in_range()
        print(f"events against {args.truth_events}: recall {_fraction(score.recall())}, precision "
              f"{_fraction(score.precision())}; true volume within the stated range for {inside}/{judged}")
    if ais is not None:
        print(prefix + summary_line(ais))
    print(prefix + sts_summary_line(sts_result))
    print(f"{prefix}report: {out_dir / 'report.md'}")
    return ReportSummary.of(scenes, tracks, events, totals[-1], ais, skipped=len(skipped),
                            failed=bool(skipped) or (ais is not None and ais.file.bad > 0))
