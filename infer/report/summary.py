"""The summary of a many-terminal report (``report --terminals``): ``summary.csv``, ``summary.md``
and ``index.html`` in the output folder, one row per terminal.

Columns (:data:`SUMMARY_COLUMNS`): ``terminal`` (its name in the terminals file), ``folder`` (its
report's folder beside the summary), ``status`` (``ok``; ``inputs skipped`` when some of its files
could not be read, named in its report; ``no files`` when no file's footprint meets it; ``failed:``
and the one-line reason when its report could not be made), ``dates`` (dates imaged),
``first_date`` and ``last_date`` (UTC), ``tankers`` (tanker tracks), ``arrivals``, ``departures``,
``loadings``, ``discharges``, barrels loaded and discharged as low / central / high (rounded), and
with ``--ais``, ``tanker_sightings`` and ``dark_sightings`` (tanker sightings with no AIS position
near). Empty where a terminal has no report. Every output is written atomically.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.atomic import atomic_write_csv, atomic_write_text
from .ais import AisResult
from .document import Document
from .events import Event, PeriodTotal
from .inputs import DatedScene, iso_utc
from .tracking import Track

SUMMARY_NAMES = ("summary.csv", "summary.md", "index.html")
FIGURES = ("dates", "first_date", "last_date", "tankers", "arrivals", "departures", "loadings", "discharges",
           "barrels_loaded_low", "barrels_loaded_central", "barrels_loaded_high", "barrels_discharged_low",
           "barrels_discharged_central", "barrels_discharged_high")
AIS_FIGURES = ("tanker_sightings", "dark_sightings")
SUMMARY_COLUMNS = ("terminal", "folder", "status", *FIGURES, *AIS_FIGURES)


@dataclass(frozen=True)
class ReportSummary:
    """One report's headline figures (see module doc); ``failed`` when inputs or AIS rows were skipped."""

    dates: int
    first_date: str
    last_date: str
    tankers: int
    arrivals: int
    departures: int
    loadings: int
    discharges: int
    barrels_loaded_low: int
    barrels_loaded_central: int
    barrels_loaded_high: int
    barrels_discharged_low: int
    barrels_discharged_central: int
    barrels_discharged_high: int
    tanker_sightings: int | None
    dark_sightings: int | None
    skipped: int
    failed: bool

    @classmethod
    def of(cls, scenes: list[DatedScene], tracks: list[Track], events: list[Event], total: PeriodTotal,
           ais: AisResult | None, skipped: int, failed: bool) -> ReportSummary:
        """From a report's date-sorted scenes, tracks, events, ``total`` row and AIS result."""
        return cls(
            len(scenes), iso_utc(scenes[0].acquired), iso_utc(scenes[-1].acquired), len(tracks),
            sum(e.kind == "arrival" for e in events), sum(e.kind == "departure" for e in events),
            total.loadings, total.discharges, round(total.loaded_low), round(total.loaded_central),
            round(total.loaded_high), round(total.discharged_low), round(total.discharged_central),
            round(total.discharged_high), None if ais is None else ais.tankers,
            None if ais is None else ais.dark_tankers, skipped, failed)


@dataclass(frozen=True)
class TerminalRow:
    """A terminal's line of the summary: ``report`` None when it has none (``status`` says why)."""

    terminal: str
    folder: str
    status: str
    report: ReportSummary | None

    def cells(self, columns: tuple[str, ...]) -> list:
        figures = asdict(self.report) if self.report else {}
        known = {"terminal": self.terminal, "folder": self.folder, "status": self.status, **figures}
        return ["" if known.get(c) is None else known[c] for c in columns]


def _columns(with_ais: bool) -> tuple[str, ...]:
    return SUMMARY_COLUMNS if with_ais else SUMMARY_COLUMNS[:-len(AIS_FIGURES)]


def write_summary(out_dir: Path, rows: list[TerminalRow], with_ais: bool, notes: list[str]) -> None:
    """Write ``summary.csv``, ``summary.md`` and ``index.html`` (linking each terminal's
    ``report.html``) into ``out_dir``; ``notes`` (inputs skipped, files meeting no terminal) go
    under the Markdown and HTML tables."""
    columns = _columns(with_ais)
    atomic_write_csv(out_dir / "summary.csv", columns, [row.cells(columns) for row in rows])

    doc = Document("Terminals summary")
    doc.para(f"{len(rows)} terminals; each has its own report in the folder named (report.md, report.html). "
             f"Dates UTC; barrels for the cargo the reports assumed; tankers are tanker tracks.")
    doc.table(list(columns), [row.cells(columns) for row in rows])
    if notes:
        doc.heading("Input problems")
        doc.bullets(notes)
    atomic_write_text(out_dir / "summary.md", doc.markdown())
    atomic_write_text(out_dir / "index.html", _index_html(rows, columns, notes))


def _index_html(rows: list[TerminalRow], columns: tuple[str, ...], notes: list[str]) -> str:
    e = html.escape

    def cell(row: TerminalRow, column: str, value) -> str:
        if column == "terminal" and row.report is not None:
            return f'<td><a href="{e(row.folder)}/report.html">{e(str(value))}</a></td>'
        return f"<td>{e(str(value))}</td>"

    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(row, c, v) for c, v in zip(columns, row.cells(columns), strict=True))
                   + "</tr>" for row in rows)
    problems = ("<h2>Input problems</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>") if notes else ""
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Terminals summary</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
            "td:first-child,th:first-child{text-align:left}</style></head><body>\n"
            f"<h1>Terminals summary</h1>\n<table><tr>{head}</tr>{body}</table>\n{problems}\n</body></html>\n")
