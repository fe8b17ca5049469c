"""The report's data files: events CSV, per-date counts CSV, period totals CSV and the timeline PNG.

Everything is written atomically, and the same inputs give the same bytes (no wall-clock time; the
PNG carries no software/version metadata). Dates are UTC ISO 8601; positions lon/lat degrees.
"""

from __future__ import annotations

from pathlib import Path

from ..core.atomic import atomic_path, atomic_write_csv
from .events import EVENT_KINDS, EVENTS_CSV_COLUMNS, DateCount, Event, PeriodTotal
from .inputs import iso_utc

COUNTS_CSV_COLUMNS = ("date", "source", "gsd_m", "coverage", "tankers", "tankers_empty", "tankers_loaded",
                      "tankers_uncertain", "other_vessels", *[f"{k}s" for k in EVENT_KINDS])
TOTALS_CSV_COLUMNS = ("period", "loadings", "barrels_loaded_low", "barrels_loaded_central", "barrels_loaded_high",
                      "discharges", "barrels_discharged_low", "barrels_discharged_central",
                      "barrels_discharged_high")
MAX_DATE_TICKS = 31  # beyond this many dates the timeline labels a few dates, not every one
DARK_COLOUR = "#d62728"
STATE_COLOURS = {"empty": "#4c9be8", "loaded": "#b5452b", "uncertain": "#b0b0b0"}
EVENT_STYLE = {"arrival": ("#2a7f3f", ">"), "departure": ("#7f2a6d", "<"),
               "loading": ("#b5452b", "^"), "discharge": ("#4c9be8", "v")}


def event_row(event: Event) -> list:
    volume = event.volume
    return [event.kind, ";".join(event.vessel_ids), event.track_id, iso_utc(event.date_before),
            iso_utc(event.date_after), round(event.lon, 7), round(event.lat, 7), round(event.length_m, 1),
            volume.size_class if volume else None, event.load,
            round(volume.central) if volume else None, round(volume.low) if volume else None,
            round(volume.high) if volume else None]


def write_events_csv(path: Path, events: list[Event]) -> None:
    atomic_write_csv(path, EVENTS_CSV_COLUMNS, [event_row(e) for e in events])


def count_row(count: DateCount) -> list:
    scene = count.scene
    return [scene.date_text, scene.path.name, None if scene.gsd_m is None else round(scene.gsd_m, 3),
            round(count.coverage, 3), count.tankers, count.empty, count.loaded, count.uncertain, count.other,
            *[count.events[k] for k in EVENT_KINDS]]


def write_counts_csv(path: Path, counts: list[DateCount]) -> None:
    atomic_write_csv(path, COUNTS_CSV_COLUMNS, [count_row(c) for c in counts])


def total_row(total: PeriodTotal) -> list:
    return [total.period, total.loadings, round(total.loaded_low), round(total.loaded_central),
            round(total.loaded_high), total.discharges, round(total.discharged_low),
            round(total.discharged_central), round(total.discharged_high)]


def write_totals_csv(path: Path, totals: list[PeriodTotal]) -> None:
    atomic_write_csv(path, TOTALS_CSV_COLUMNS, [total_row(t) for t in totals])


def render_timeline(path: Path, counts: list[DateCount], events: list[Event], title: str,
                    dark: list[int] | None = None) -> None:
    """Top: tankers per date stacked by load state, other vessels as a line, partly imaged dates
    hatched, and with ``dark`` (per date, from ``report --ais``) dark tankers as red diamonds.
    Bottom: one lane per event kind, each event a bar from date_before to date_after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    dates = [c.scene.acquired for c in counts]
    x = mdates.date2num(dates)
    gaps = [b - a for a, b in zip(x, x[1:], strict=False)]
    width = 0.6 * min(gaps) if gaps else 1.0
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1.4]})
    base = [0] * len(counts)
    for state in ("empty", "loaded", "uncertain"):
        heights = [getattr(c, state) for c in counts]
        top.bar(x, heights, width, bottom=base, color=STATE_COLOURS[state], label=f"tankers {state}",
                edgecolor="white", linewidth=0.5)
        base = [b + h for b, h in zip(base, heights, strict=True)]
    partial = [i for i, c in enumerate(counts) if c.coverage < 0.99]
    if partial:
        top.bar([x[i] for i in partial], [max(base + [1]) * 1.05] * len(partial), width, fill=False,
                hatch="//", edgecolor="#888888", linewidth=0, label="area partly imaged")
    top.plot(x, [c.other for c in counts], color="black", marker="o", linestyle="--", linewidth=1,
             markersize=4, label="other vessels")
    if dark is not None:
        top.plot(x, dark, color=DARK_COLOUR, marker="D", linestyle=":", linewidth=1, markersize=6,
                 label="dark tankers (no AIS)")
    top.set_ylabel("vessels in area")
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8, ncols=3, frameon=False)
    top.set_ylim(0, max(base + [c.other for c in counts] + [1]) * 1.35)
    top.yaxis.get_major_locator().set_params(integer=True)
    top.grid(axis="y", alpha=0.3)
    for lane, kind in enumerate(EVENT_KINDS):
        colour, marker = EVENT_STYLE[kind]
        chosen = [e for e in events if e.kind == kind]
        if chosen:  # one artist per kind, not per event: a year at a busy terminal has thousands
            y = [lane + (k % 3 - 1) * 0.22 for k in range(len(chosen))]  # staggered: shared brackets stay visible
            start = mdates.date2num([e.date_before for e in chosen])
            end = mdates.date2num([e.date_after for e in chosen])
            bottom.hlines(y, start, end, color=colour, linewidth=2, alpha=0.7)
            bottom.plot(end, y, marker=marker, color=colour, markersize=7, linestyle="none")
    bottom.set_yticks(range(len(EVENT_KINDS)), [f"{k} ({sum(e.kind == k for e in events)})" for k in EVENT_KINDS])
    bottom.set_ylim(-0.6, len(EVENT_KINDS) - 0.4)
    bottom.invert_yaxis()
    bottom.grid(axis="x", alpha=0.3)
    bottom.set_xlabel("acquisition date (UTC); event bars span the dates that bracket each event")
    if len(x) <= MAX_DATE_TICKS:
        bottom.set_xticks(x)
    else:  # a tick per date would be an unreadable smear (and slow to lay out) over a year of daily files
        bottom.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=MAX_DATE_TICKS))
    save_dated_figure(fig, bottom, path)


def save_dated_figure(fig, axis, path: Path) -> None:
    """Label ``axis``'s x ticks as dates (slanted ``YYYY-MM-DD``), lay ``fig`` out, write it as a PNG
    atomically (without matplotlib's version, so a rerun writes the same bytes) and close it."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    axis.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    plt.setp(axis.get_xticklabels(), rotation=45, ha="right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)
