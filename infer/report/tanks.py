"""The terminal's stock beside its loadings: ``report --tanks`` (docs/tanks.md).

Reads the tanks files of the terminal (``tankerwatch tanks`` output, or synthetic truth), one per
date, dated by their header's ``acquired`` (UTC). Per date, over the floating-roof tanks whose fill
was read: the stock in barrels (central, lo, hi: the tanks' intervals added end to end) and the
terminal's fill, stock over those tanks' capacity. Tanks read on one date but not another (a deck in
full shadow, a tank outside the scene) change the stock but hardly the fill, so the figure plots
the fill and the CSV carries both.

Writes ``tank_stock.csv`` and ``tank_stock.png`` (top: the fill with its interval; bottom: the
barrels each loading took and each discharge brought, at the first date after it) and adds a
section to the report. A loading should show as the fill dropping across its dates; small tankers
move well under a tenth of a large farm's stock, so only a run of them is visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..core.atomic import atomic_write_csv
from ..core.errors import TankerwatchError, located
from ..core.timestamps import normalise_utc
from ..runtime.tank_file import read_tank_file
from .events import Event
from .inputs import geojson_files, iso_utc
from .render import save_dated_figure

STOCK_CSV_COLUMNS = ("date", "source", "tanks_read", "capacity_barrels", "stock_barrels", "stock_lo", "stock_hi",
                     "fill", "fill_lo", "fill_hi", "truth")
TANK_SUFFIXES = (".tanks.geojson", ".tank-truth.geojson")


@dataclass(frozen=True)
class TankDate:
    """One date's floating-roof stock (barrels) over the tanks whose fill was read."""

    path: Path
    acquired: datetime
    tanks: int
    capacity: float
    stock: tuple[float, float, float]  # central, lo, hi
    truth: bool

    @property
    def fill(self) -> tuple[float, float, float] | None:
        return tuple(v / self.capacity for v in self.stock) if self.capacity > 0 else None


def read_tank_dates(paths: list[Path]) -> list[TankDate]:
    """Each file's date and stock, in date order; two files of one date are an error."""
    dates = []
    for path in geojson_files(paths, lambda name: name.endswith(TANK_SUFFIXES),
                              ".tanks.geojson or .tank-truth.geojson files"):
        tank_file = read_tank_file(path)
        acquired = tank_file.header.get("acquired")
        if not acquired:
            raise TankerwatchError(located(path, "no acquisition date in its header (the scene had no "
                                                 "ACQUISITION_DATETIME): cannot place it on the timeline"))
        try:
            when = datetime.fromisoformat(normalise_utc(acquired).replace("Z", "+00:00"))
        except (TypeError, ValueError):
            raise TankerwatchError(located(path, f"header 'acquired' {acquired!r} is not an ISO 8601 date-time")) from None
        read = [t for t in tank_file.tanks if t["roof"] == "floating" and t.get("volume_barrels") is not None]
        stock = tuple(float(sum(t[k] for t in read)) for k in ("volume_barrels", "volume_lo", "volume_hi"))
        dates.append(TankDate(path, when, len(read), float(sum(t["capacity_barrels"] for t in read)), stock,
                              any(t.get("truth") for t in tank_file.tanks)))
    dates.sort(key=lambda d: d.acquired)
    for a, b in zip(dates, dates[1:], strict=False):
        if a.acquired == b.acquired:
            raise TankerwatchError(f"{a.path} and {b.path}: the same acquisition time; give one tanks file per date")
    return dates


def _stock_row(d: TankDate) -> list:
    fill = d.fill or (None, None, None)
    return [iso_utc(d.acquired), d.path.name, d.tanks, round(d.capacity), *(round(v) for v in d.stock),
            *(None if v is None else round(v, 4) for v in fill), str(d.truth).lower()]


def write_stock_csv(path: Path, dates: list[TankDate]) -> None:
    atomic_write_csv(path, STOCK_CSV_COLUMNS, [_stock_row(d) for d in dates])


def render_stock(path: Path, dates: list[TankDate], events: list[Event]) -> None:
    """Top: the terminal's fill per date with its interval. Bottom: barrels per loading (down)
    and discharge (up) at the first date after each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.6]})
    shown = [d for d in dates if d.fill is not None]
    x = mdates.date2num([d.acquired for d in shown])
    top.fill_between(x, [100 * d.fill[1] for d in shown], [100 * d.fill[2] for d in shown], color="#b5452b",
                     alpha=0.2, linewidth=0, label="interval")
    top.plot(x, [100 * d.fill[0] for d in shown], color="#b5452b", marker="o", label="floating-roof tanks' fill")
    top.set_ylabel("terminal fill (%)")
    top.set_ylim(0, 100)
    top.grid(axis="y", alpha=0.3)
    kind = "synthetic truth" if shown and all(d.truth for d in shown) else "measured from roof shadows"
    top.set_title(f"Terminal stock ({kind}) beside the loadings")
    top.legend(loc="upper left", fontsize=8, frameon=False)
    moved = [e for e in events if e.kind in ("loading", "discharge") and e.volume is not None]
    bx = mdates.date2num([e.date_after for e in moved])
    heights = [(-1 if e.kind == "loading" else 1) * e.volume.central / 1000 for e in moved]
    width = 0.4 * min([b - a for a, b in zip(x, x[1:], strict=False)] or [1.0])
    bottom.bar(bx, heights, width, color=["#b5452b" if h < 0 else "#4c9be8" for h in heights])
    bottom.axhline(0, color="black", linewidth=0.8)
    bottom.set_ylabel("thousand barrels\n(- loaded, + discharged)")
    bottom.grid(axis="y", alpha=0.3)
    save_dated_figure(fig, bottom, path)


def add_tank_section(doc, dates: list[TankDate], image: str) -> None:
    """The report's section: the figure, a table per date and how to read it."""
    doc.heading("Terminal stock from floating roofs")
    doc.image("terminal fill per date beside the loadings", image)
    rows = []
    for d in dates:
        fill = d.fill
        rows.append([iso_utc(d.acquired), d.path.name, d.tanks, f"{d.stock[0]:,.0f}",
                     f"{d.stock[1]:,.0f} - {d.stock[2]:,.0f}",
                     "" if fill is None else f"{100 * fill[0]:.0f}% ({100 * fill[1]:.0f} - {100 * fill[2]:.0f}%)"])
    doc.table(["date", "tanks file", "floating roofs read", "stock (barrels)", "stock range", "fill"], rows)
    doc.para("Each floating roof's fill comes from the crescent of shadow its rim casts on it, against the length of "
             "the tank's own shadow on the ground (docs/tanks.md); the fill is the stock over the capacity of the "
             "tanks read that date. A loading draws the tanks down and a discharge fills them, but pipelines and "
             "other tankers move oil too, and one small tanker's cargo is well under the error of a farm's total: "
             "read the trend over many dates, not one loading. Fixed-roof tanks, decks wholly in shadow and roofs "
             "at the brim are not read.")
