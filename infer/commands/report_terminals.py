"""``tankerwatch report DETECTIONS... -o OUT --terminals TERMINALS.geojson``: one report per
terminal, and a summary table.

Each detection file's header is read once (its date and footprint); each terminal
(:mod:`tankerwatch.infer.report.terminals`) then gets the files whose footprint overlaps it and the
same report ``report --aoi`` writes, with its polygon as the area of interest, in
``OUT/<folder>/``. Terminals are reported one after another, each reading its files one at a time in
date order (:mod:`tankerwatch.infer.report.series`), so memory is that of one terminal's report
plus each file's header (its footprint and a few fields), not every file's detections. ``--ais`` is
read once, for the image times of every file some terminal gets, its bad rows named once; every
terminal's report matches against it (an AIS file that cannot be read stops the run). Then
``OUT/summary.csv``, ``summary.md`` and ``index.html`` (:mod:`tankerwatch.infer.report.summary`).

A file that cannot be read is skipped and named; a terminal whose files cannot make a report (two
files of the same time, say) is named with the reason and marked failed in the summary while the
others go on; a terminal no file meets is listed as such. Exit 0, or 1 when some terminal failed or
some input was skipped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..core.errors import EXIT_OK, EXIT_SOME_FAILED, ConfigError, TankerwatchError
from ..report.inputs import ReportInputError, ReportInputs, check_series, scan_scenes
from ..report.summary import SUMMARY_NAMES, TerminalRow, write_summary
from ..report.terminals import assign, read_terminals

MAX_NAMED_UNASSIGNED = 5


def run_terminals(args: argparse.Namespace, files: list[Path], dates: list[str] | None,
                  write_report: Callable, check_output: Callable[[Path, bool], None],
                  read_ais_file: Callable) -> int:
    """The many-terminal report (module doc), writing each terminal's with ``write_report`` (the
    single report, :func:`tankerwatch.infer.commands.report.write_report`) after ``check_output``
    has cleared every folder it will write; ``--ais`` is read once, with ``read_ais_file``
    (:func:`~tankerwatch.infer.commands.report.read_ais_file`), for every terminal's images."""
    if args.aoi:
        raise ConfigError("--aoi and --terminals: give one (each terminal's polygon is its area of interest)")
    if args.truth_events:
        raise ConfigError("--truth-events is one place's event log; it cannot be used with --terminals")
    out_dir: Path = args.output
    terminals = read_terminals(args.terminals, reserved=SUMMARY_NAMES)
    existing = [n for n in SUMMARY_NAMES if (out_dir / n).exists()]
    if existing and not args.overwrite:
        raise ConfigError(f"{out_dir}: already holds a summary ({', '.join(existing)}); use --overwrite")
    for terminal in terminals:
        check_output(out_dir / terminal.folder, args.overwrite)
    inputs = scan_scenes(files, dates=dates, date_pattern=args.date_pattern)
    for line in inputs.skipped:
        print(f"tankerwatch report: skipped {line}", file=sys.stderr)
    if not inputs.scenes:
        raise ReportInputError("no usable detection files: " + "; ".join(inputs.skipped))
    chosen = assign(inputs.scenes, terminals)
    notes = [f"Skipped: {line}" for line in inputs.skipped]
    used = {id(scene) for scenes in chosen for scene in scenes}
    unassigned = [scene.path.name for scene in inputs.scenes if id(scene) not in used]
    if unassigned:
        named = ", ".join(unassigned[:MAX_NAMED_UNASSIGNED]) + (", ..." if len(unassigned) > MAX_NAMED_UNASSIGNED else "")
        notes.append(f"Warning: {len(unassigned)} files image none of the terminals: {named}")
        print(f"tankerwatch report: warning: {notes[-1].removeprefix('Warning: ')}", file=sys.stderr)
    ais_file = read_ais_file(args, [scene for scene in inputs.scenes if id(scene) in used])

    rows, failed = [], bool(inputs.skipped)
    for terminal, scenes in zip(terminals, chosen, strict=True):
        if not scenes:
            print(f"tankerwatch report: {terminal.name}: no file's footprint meets this terminal", file=sys.stderr)
            rows.append(TerminalRow(terminal.name, terminal.folder, "no files", None))
            continue
        subset = ReportInputs(scenes=list(scenes))
        try:
            check_series(subset, terminal.area)
            summary = write_report(subset, out_dir / terminal.folder, args, aoi=terminal.area,
                                   aoi_parts=[terminal.part], aoi_name=terminal.name, prefix=f"{terminal.name}: ",
                                   ais_file=ais_file)
        except TankerwatchError as exc:
            print(f"tankerwatch report: {terminal.name}: failed: {exc}", file=sys.stderr)
            rows.append(TerminalRow(terminal.name, terminal.folder, f"failed: {exc}", None))
            failed = True
            continue
        rows.append(TerminalRow(terminal.name, terminal.folder, "inputs skipped" if summary.skipped else "ok", summary))
        failed = failed or summary.failed
    write_summary(out_dir, rows, args.ais is not None, notes)
    reported = sum(row.report is not None for row in rows)
    print(f"{reported} of {len(terminals)} terminals reported from {len(inputs.scenes)} files; "
          f"summary: {out_dir / 'summary.md'}")
    return EXIT_SOME_FAILED if failed else EXIT_OK
