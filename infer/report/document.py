"""The human-readable report: one list of blocks rendered to both Markdown and HTML.

The report must be readable without the tool: totals, tables, the timeline, quick-looks, how the
volumes were estimated and what the imagery cannot show. Blocks are plain text (no inline markup),
so the HTML is the same content, escaped, with no Markdown library involved.

The HTML is one self-contained file: its images are embedded as ``data:`` URIs and the map is
inline SVG, so it can be mailed or archived alone and opened offline. The Markdown links the same
image files beside it.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from .ais import AisResult
from .ais_output import add_ais_section
from .evaluate import EventScore
from .events import EVENT_KINDS, DateCount, Event, PeriodTotal
from .inputs import DatedScene, iso_utc
from .sts import StsResult
from .sts_output import add_sts_section
from .volume import ASSUMPTIONS_HEADER, assumptions_rows, assumptions_text

DEFAULT_LOAD_MAX_GSD_M = 3.0  # the ONNX contract's default when a model summary does not say


def _markdown_row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


@dataclass
class Document:
    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("ul", list(items)))

    def table(self, header: list[str], rows: list[list]) -> None:
        self.blocks.append(("table", list(header), [["" if v is None else str(v) for v in r] for r in rows]))

    def image(self, alt: str, path: str) -> None:
        self.blocks.append(("img", alt, path))

    def svg(self, alt: str, path: str, markup: str) -> None:
        """A drawing: inline ``markup`` in the HTML, a link to ``path`` (the same SVG) in Markdown."""
        self.blocks.append(("svg", alt, path, markup))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "h2":
                out += [f"## {block[1]}", ""]
            elif kind == "p":
                out += [block[1], ""]
            elif kind == "ul":
                out += [f"- {item}" for item in block[1]] + [""]
            elif kind == "table":
                header, rows = block[1], block[2]
                out.append(_markdown_row(header))
                out.append("|" + "---|" * len(header))
                out += [_markdown_row(row) for row in rows]
                out.append("")
            elif kind in ("img", "svg"):
                out += [f"![{block[1]}]({block[2]})", ""]
        return "\n".join(out)

    def html(self, folder: Path) -> str:
        """The HTML page, with each image read from ``folder`` (what its paths are relative to)
        and embedded, so the page needs no other file."""
        e = html.escape
        out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">", f"<title>{e(self.title)}</title>",
               "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
               "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
               "td:first-child,th:first-child{text-align:left}img{max-width:100%}</style>",
               "</head><body>", f"<h1>{e(self.title)}</h1>"]
        for block in self.blocks:
            kind = block[0]
            if kind == "h2":
                out.append(f"<h2>{e(block[1])}</h2>")
            elif kind == "p":
                out.append(f"<p>{e(block[1])}</p>")
            elif kind == "ul":
                out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in block[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{e(h)}</th>" for h in block[1])
                body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in block[2])
                out.append(f"<table><tr>{head}</tr>{body}</table>")
            elif kind == "img":
                out.append(f"<p><img src=\"{_data_uri(Path(folder) / block[2])}\" alt=\"{e(block[1])}\"></p>")
            elif kind == "svg":
                out.append(f"<figure>{block[3]}</figure>")
        out.append("</body></html>")
        return "\n".join(out) + "\n"


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _barrels(low: float, central: float, high: float) -> str:
    return f"{low:,.0f} - {high:,.0f} (central {central:,.0f})"


HEADLINE_METRICS = ("vessel_AP50", "vessel_AP50_95", "AP50_tanker", "AP50_other", "load_accuracy",
                    "load_macro_f1", "load_coverage", "load_accuracy_covered", "load_ece")


def _headline_metrics(metrics) -> list[tuple[str, float]]:
    """The model's headline validation figures (CONVENTIONS.md's names) that it recorded, in order."""
    if not isinstance(metrics, dict):
        return []
    return [(k, float(metrics[k])) for k in HEADLINE_METRICS
            if isinstance(metrics.get(k), (int, float)) and not isinstance(metrics.get(k), bool)]


def _model_lines(scenes: list[DatedScene]) -> tuple[list[str], float]:
    """What produced the detections, and the coarsest GSD at which load state was read."""
    lines, load_max = [], None
    if all(s.truth for s in scenes):
        lines.append("Detections are synthetic ground truth (perfect detections), not a model's output: "
                     "figures here are synthetic and say nothing about a model's accuracy.")
    models = {}
    for scene in scenes:
        if isinstance(scene.model, dict) and scene.model:
            models.setdefault(str(scene.model.get("id", "unknown id")), scene.model)
    for model_id, summary in models.items():
        described = [f"model {model_id[:16]}"]
        for key in ("gsd_range_m", "load_uncertain_band", "load_max_gsd_m", "trained_on", "val_split"):
            if key in summary:
                described.append(f"{key} {summary[key]}")
        taught = summary.get("taught") if isinstance(summary.get("taught"), dict) else {}
        if taught.get("type") is False:
            described.append("trained without type labels, so its vessels are of unknown type and none is "
                             "counted as a tanker")
        elif taught.get("load") is False:
            described.append("trained without load labels, so its tankers' load state is unknown")
        metrics = _headline_metrics(summary.get("val_metrics"))
        if metrics:
            described.append("validation metrics " + ", ".join(f"{k} {v:.3g}" for k, v in metrics))
        else:
            described.append("no validation metrics recorded in the model")
        lines.append("; ".join(described) + ".")
        if summary.get("load_max_gsd_m") is not None:
            load_max = float(summary["load_max_gsd_m"]) if load_max is None else min(load_max, float(summary["load_max_gsd_m"]))
    if len(models) > 1:
        lines.append(f"{len(models)} different models produced these files: counts from different models are "
                     f"not strictly comparable from date to date.")
    if not models and not all(s.truth for s in scenes):
        lines.append("The files do not say which model produced them.")
    return lines, DEFAULT_LOAD_MAX_GSD_M if load_max is None else load_max


def _score_section(doc: Document, score: EventScore) -> None:
    def shown(value):
        return "n/a" if value is None else f"{value:.2f}"

    doc.heading("Against the known event log")
    doc.para("Events compared with a known event log (synthetic series): a reported event matches a true one of "
             "the same kind whose bracketing dates it contains, for the same vessel.")
    rows = []
    for kind in (*EVENT_KINDS, None):
        true_n = sum(1 for _, t in score.matched if kind in (None, t.kind)) + \
            sum(1 for t in score.missed if kind in (None, t.kind))
        found_n = sum(1 for e, _ in score.matched if kind in (None, e.kind)) + \
            sum(1 for e in score.spurious if kind in (None, e.kind))
        rows.append([kind or "all", true_n, found_n, shown(score.recall(kind)), shown(score.precision(kind))])
    doc.table(["event", "true", "reported", "recall", "precision"], rows)
    inside, judged = score.volumes_in_range()
    doc.para(f"True volume within the stated low - high range for {inside} of {judged} matched loading and "
             f"discharge events.")


def build_document(scenes: list[DatedScene], counts: list[DateCount], events: list[Event],
                   totals: list[PeriodTotal], *, cargo: str, period: str, aoi_name: str | None,
                   min_score: float = 0.0, timeline: str, quicklooks: dict[int, str], warnings: list[str], skipped: list[str],
                   files: dict[str, str], score: EventScore | None = None,
                   map_svg: tuple[str, str] | None = None, ais: AisResult | None = None,
                   sts: StsResult | None = None) -> Document:
    """Assemble the report (paths in ``timeline``, ``quicklooks``, ``files`` and ``map_svg``, a
    (path, SVG markup) pair, are relative to it)."""
    first, last = scenes[0].date_text, scenes[-1].date_text
    doc = Document("Terminal activity report")
    area = f"inside the area of interest {aoi_name}" if aoi_name else "over the whole imaged area"
    kept = f"detections scored {min_score:g} or more" if min_score > 0 else "every detection in the files"
    doc.para(f"{len(scenes)} dates from {first} to {last}, tankers counted {area}, from {kept}. "
             f"Cargo assumed: {cargo}. All dates UTC.")
    overall = totals[-1]
    kinds = {k: sum(e.kind == k for e in events) for k in EVENT_KINDS}
    doc.heading("Totals")
    doc.bullets([
        f"Loading events (empty -> loaded): {overall.loadings}; oil loaded: "
        f"{_barrels(overall.loaded_low, overall.loaded_central, overall.loaded_high)} barrels.",
        f"Discharge events (loaded -> empty): {overall.discharges}; oil discharged: "
        f"{_barrels(overall.discharged_low, overall.discharged_central, overall.discharged_high)} barrels.",
        f"Arrivals: {kinds['arrival']}; departures: {kinds['departure']}.",
    ])
    doc.table([f"period ({period})", "loadings", "barrels loaded (low - high, central)", "discharges",
               "barrels discharged (low - high, central)"],
              [[t.period, t.loadings, _barrels(t.loaded_low, t.loaded_central, t.loaded_high), t.discharges,
                _barrels(t.discharged_low, t.discharged_central, t.discharged_high)] for t in totals])
    doc.para("An event counts in the period of the first date it was seen (its 'and' date below). Ranges add up "
             "low to low and high to high, so the total range is the widest the assumptions allow.")
    doc.heading("Timeline")
    doc.image("tankers per date by load state, with events", timeline)
    doc.para("Bars: tankers present on each date, split empty (in ballast), loaded (laden) and uncertain "
             "(load state not readable). Dashed line: other vessels. Hatched: the area was only partly imaged "
             "that date. Lower panel: each event as a bar from the last date before it to the first date after it.")
    doc.heading("Events")
    if events:
        doc.table(["event", "track (vessel id)", "between", "and", "lon", "lat", "length (m)", "size class",
                   "load seen", "barrels (low - high, central)"],
                  [[e.kind, f"{e.track_id} ({', '.join(e.vessel_ids)})" if e.vessel_ids else e.track_id,
                    iso_utc(e.date_before), iso_utc(e.date_after), f"{e.lon:.5f}",
                    f"{e.lat:.5f}", f"{e.length_m:.0f}", e.volume.size_class if e.volume else "", e.load,
                    _barrels(e.volume.low, e.volume.central, e.volume.high) if e.volume else ""]
                   for e in events])
    else:
        doc.para("No events: the same tankers, in the same states, on every date.")
    if map_svg is not None:
        doc.heading("Map")
        doc.svg("map of the area: imaged footprints, area of interest and events", *map_svg)
        doc.para("Each date's imaged footprint, the area of interest's features and every event at the tanker's "
                 "position (hover a marker for its dates and volume); grey dots are vessels seen on any date. "
                 "Markers at one position are set side by side. The same events with all their properties: "
                 "events.geojson.")
    if score is not None:
        _score_section(doc, score)
    if ais is not None:
        add_ais_section(doc, ais)
    if sts is not None:
        add_sts_section(doc, sts, scenes)
    doc.heading("Per date")
    doc.table(["date", "file", "GSD (m)", "area imaged", "tankers", "empty", "loaded", "uncertain", "other vessels"],
              [[c.scene.date_text, c.scene.path.name, "" if c.scene.gsd_m is None else f"{c.scene.gsd_m:.2f}",
                f"{100 * c.coverage:.0f}%", c.tankers, c.empty, c.loaded, c.uncertain, c.other] for c in counts])
    if quicklooks:
        doc.heading("Quick-looks")
        for index, rel in sorted(quicklooks.items()):
            doc.para(f"{scenes[index].date_text} ({scenes[index].path.name})")
            doc.image(f"quick-look {scenes[index].date_text}", rel)
    doc.heading("How the volumes are estimated")
    doc.para(assumptions_text(cargo))
    doc.table(ASSUMPTIONS_HEADER, assumptions_rows(cargo))
    doc.heading("Caveats")
    model_lines, load_max_gsd = _model_lines(scenes)
    coarse = [s.date_text for s in scenes if s.gsd_m is not None and s.gsd_m > load_max_gsd]
    sightings = sum(c.tankers for c in counts)
    unreadable = sum(c.uncertain for c in counts)
    if sightings:
        model_lines.append(f"{unreadable} of {sightings} tanker sightings ({100 * unreadable / sightings:.0f}%) have an "
                           f"uncertain or unknown load state: loadings and discharges can only be seen among the rest.")
    caveats = model_lines + [
        f"Load state is read from freeboard cues (hull shadow, visible hull side) that need fine imagery: about "
        f"1 m GSD or finer for small tankers, up to about 3 m for large ones in a low sun, essentially never at "
        f"10 m. Above {load_max_gsd:g} m the model says 'uncertain' and no loading or discharge can be seen"
        + (f"; dates that coarse here: {', '.join(coarse)}." if coarse else "."),
        "An event happened somewhere between its two bracketing dates; a tanker that arrived and left between "
        "two dates, or loaded and left, is never seen. Wide gaps between dates hide activity.",
        "Uncertain sightings neither create nor break events; a loading is only counted when the same tanker is "
        "seen empty and later loaded. Part cargoes and ship-to-ship transfers away from the area are not seen.",
        "The same tanker is recognised across dates by position, length and hull axis only: two similar tankers "
        "swapping the same berth between dates look like one that stayed, and a tanker missed or called 'other' "
        "on one date shows as a departure and a new arrival (see --max-missed).",
        "A tanker outside a date's imaged footprint was not seen, which is not counted as a departure.",
        "Volumes come from length alone, through typical size classes: a range, not a measurement.",
    ]
    doc.bullets(caveats)
    notes = [f"Skipped: {s}" for s in skipped] + [f"Warning: {w}" for w in warnings]
    if notes:
        doc.heading("Input problems")
        doc.bullets(notes)
    doc.heading("Files")
    doc.bullets([f"{label}: {path}" for label, path in files.items()])
    return doc
