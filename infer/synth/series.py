"""The same terminal on N dates: tankers arrive, load or discharge at the berths, and leave.

Dates start at ``start`` and follow each other by 2-9 days, at about 02:10 UTC (12:10 on
Vladivostok clocks, a morning sun-synchronous pass). Each date has its own sun, sensor and
atmosphere; the terminal (shore, jetties, quay, tank farm) is the same on every date.

The life of a tanker, decided one date step at a time from the seed:

* Arrival: a free berth gets a tanker with probability 0.55, most often a small coastal one (the
  class is drawn 8 times as often as each other class that fits); four in five arrive empty to load,
  the rest loaded to discharge. One or two tankers may also arrive at the anchorage; they wait
  there (their state does not change) and leave.
* At a berth: a tanker whose cargo is not yet worked is worked by the next date with probability
  0.7 (empty -> loaded is a *loading*, loaded -> empty a *discharge*); a worked one leaves with
  probability 0.6 per step, so some stay several dates.
* Departure: the tanker is absent from the next date on. A tanker seen on the first date has no
  arrival event, one seen on the last has no departure event (nothing brackets them).

* Ship to ship: up to ``sts_pairs`` pairs of tankers rafted in the anchorage at a time, one
  handing its cargo to the other (:class:`.sts.StsAnchorage`, from their own generator: with 0 a
  seed's series is what it was before STS pairs existed).

Draft fractions: empty 0.0-0.3, loaded 0.75-1.0. Cargo moved = the change of draft fraction
times the tanker's laden capacity (``TankerSpec.cargo_capacity_barrels``, refined products).

Outputs in OUT_DIR: ``terminal_<date>.tif`` (GeoTIFF, ACQUISITION_DATETIME tag in UTC),
``terminal_<date>.truth.geojson`` (+ ``.csv``), ``events.csv`` with the columns of ``report``'s
events CSV (estimate columns left empty, the true volume in ``cargo_barrels``; each ship-to-ship
transfer an ``sts_transfer`` row, vessel ids ``giver;taker``), ``manifest.json``, and
``terminal.aoi.geojson``: the terminal's waters and berths, as an analyst would draw them for
``report --aoi`` (:mod:`.aoi`; ``report`` given the folder leaves it out). Distractors are drawn
afresh on each date and have no events. The tank farm's stock moves with the berths' trade: what a date's loadings took is drawn from its floating-roof
tanks, what discharges brought is put in (:func:`.floating_roofs.move_stock`), each date's fills in
``terminal_<date>.tank-truth.geojson``. With AIS
(``synth series --ais``), ``ais.csv`` and ``ais_truth.csv`` as :mod:`.ais_track` describes.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from .. import __version__
from ..core.atomic import atomic_write_text
from ..core.errors import ConfigError
from ..core.georef import pixels_to_lonlat
from ..core.labels import LoadState
from ..report.events import EVENTS_CSV_COLUMNS
from ..report.inputs import AOI_SUFFIX
from ..report.sts import TRANSFER_EVENT
from .ais_track import write_ais
from .aoi import write_aoi
from .background import glint_strength
from .effects import sample_atmosphere
from .floating_roofs import move_stock, tank_truth_path, terminal_flow_barrels
from .physics import TankerSpec, View, sample_draft_fraction, sample_tanker, sample_view
from .placement import Placer, at_berth, random_water_point
from .scene import (
    UTM_CRS,
    SceneSettings,
    SceneWorld,
    fill_anchorage,
    scene_transform,
    terminal_layout,
    truth_stem,
    write_raster,
    write_truth,
)
from .sts import StsAnchorage
from .vessels import Ship, make_ship

MAX_DATES = 366
AOI_NAME = "terminal" + AOI_SUFFIX
PASS_TIME_UTC = (2, 10)
P_BERTH_ARRIVAL = 0.55
P_EMPTY_ARRIVAL = 0.8
P_WORKED = 0.7
P_LEAVE_WORKED = 0.6
P_LEAVE_ANCHORAGE = 0.5
# The terminal's trade is the project's case: small coastal product tankers (docs/physics.md).
SMALL_TANKER_WEIGHT = 8.0


@dataclass
class Visit:
    """One tanker's stay: where it lies and what it is there for."""

    ship: Ship
    berth: int | None  # index into the layout's berths; None = anchorage
    worked: bool = False  # cargo operation done (or none planned: anchorage)


def series_dates(rng: np.random.Generator, start: str, count: int) -> list[datetime]:
    try:
        day = datetime.strptime(start, "%Y-%m-%d").replace(hour=PASS_TIME_UTC[0], minute=PASS_TIME_UTC[1],
                                                           tzinfo=timezone.utc)
    except ValueError:
        raise ConfigError(f"--start must be a date YYYY-MM-DD, got {start!r}") from None
    dates = []
    for _ in range(count):
        dates.append(day + timedelta(minutes=int(rng.integers(-8, 9))))
        day += timedelta(days=int(rng.integers(2, 10)))
    return dates


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Terminal:
    """The simulation state between dates."""

    def __init__(self, seed: int, settings: SceneSettings, layout):
        self.rng = np.random.default_rng([seed, 11])
        self.settings, self.layout = settings, layout
        self.visits: list[Visit] = []
        self.next_id = 0
        self.max_len = 0.8 * settings.size * settings.gsd_m

    def _new_id(self) -> str:
        self.next_id += 1
        return f"T{self.next_id:03d}"

    def step(self) -> None:
        """Advance one date: work cargo, let tankers leave (see module doc)."""
        rng = self.rng
        staying = []
        for visit in self.visits:
            if visit.worked:
                p_leave = P_LEAVE_ANCHORAGE if visit.berth is None else P_LEAVE_WORKED
                if rng.random() < p_leave:
                    continue
            elif rng.random() < P_WORKED:
                target = LoadState.LOADED if visit.ship.load is LoadState.EMPTY else LoadState.EMPTY
                visit.ship.tanker = visit.ship.tanker.with_draft(sample_draft_fraction(rng, target))
                visit.worked = True
            staying.append(visit)
        self.visits = staying

    def arrivals(self, view: View, others: list[Ship] = ()) -> None:
        """New tankers at free berths and at anchor, clear of ``others`` (the STS pairs)."""
        rng = self.rng
        busy = {v.berth for v in self.visits}
        placer = self._placer(view, others)
        for b, berth in enumerate(self.layout.berths):
            if b in busy or rng.random() >= P_BERTH_ARRIVAL:
                continue
            load = LoadState.EMPTY if rng.random() < P_EMPTY_ARRIVAL else LoadState.LOADED
            spec = sample_tanker(rng, min(berth.max_length_m, self.max_len), load, small_weight=SMALL_TANKER_WEIGHT)
            ship = at_berth(make_ship(rng, self._new_id(), "tanker", berth.centre, 0.0, tanker=spec),
                            berth, view, flip=rng.random() < 0.5)
            if placer.try_add(ship, berthed=True):
                self.visits.append(Visit(ship, b))
        for _ in range(int(rng.integers(0, 3))):
            spec = sample_tanker(rng, self.max_len, LoadState.EMPTY if rng.random() < 0.7 else LoadState.LOADED)
            for _attempt in range(20):
                ship = make_ship(rng, "", "tanker", random_water_point(rng, self.settings.size, self.settings.size),
                                 rng.uniform(0, 2 * math.pi), tanker=spec)
                if placer.try_add(ship):
                    ship.vessel_id = self._new_id()
                    self.visits.append(Visit(ship, None, worked=True))
                    break

    def _placer(self, view: View, others: list[Ship] = ()) -> Placer:
        placer = Placer(self.layout, view, self.settings.size, self.settings.size)
        for ship in [v.ship for v in self.visits] + list(others):
            placer.taken.append(placer.footprint(ship)[0])
            placer.ships.append(ship)
        return placer


def _snapshot(visits: list[Visit]) -> dict[str, tuple[Ship, TankerSpec]]:
    return {v.ship.vessel_id: (v.ship, v.ship.tanker) for v in visits}


def events_rows(snapshots: list[dict], dates: list[datetime], transform, sts: StsAnchorage | None = None) -> list[dict]:
    """The true event log from the per-date snapshots (vessel id -> (ship, spec)), with the
    transfers of ``sts``."""
    rows = []

    def row(kind, vid, i_before, i_after, ship, spec, barrels=None):
        lonlat = pixels_to_lonlat(UTM_CRS, transform, [ship.centre])[0]
        values = {"event": kind, "vessel_id": vid, "date_before": iso(dates[i_before]),
                  "date_after": iso(dates[i_after]), "lon": round(float(lonlat[0]), 7),
                  "lat": round(float(lonlat[1]), 7), "length_m": round(spec.length_m, 1),
                  "size_class": spec.size_class, "load": spec.load.value,
                  "cargo_barrels": None if barrels is None else round(barrels)}
        rows.append({c: values.get(c) for c in EVENTS_CSV_COLUMNS})

    for i in range(len(dates)):
        now = snapshots[i]
        before = snapshots[i - 1] if i > 0 else None
        after = snapshots[i + 1] if i + 1 < len(dates) else None
        for vid, (ship, spec) in sorted(now.items()):
            if before is not None and vid not in before:
                row("arrival", vid, i - 1, i, ship, spec)
            if after is not None and vid not in after:
                row("departure", vid, i, i + 1, ship, spec)
            if after is not None and vid in after:
                next_spec = after[vid][1]
                if next_spec.load is not spec.load:
                    kind = "loading" if next_spec.load is LoadState.LOADED else "discharge"
                    moved = abs(next_spec.draft_fraction - spec.draft_fraction) * spec.cargo_capacity_barrels()
                    row(kind, vid, i, i + 1, ship, next_spec, moved)
    if sts is not None:
        sts.event_rows(row)
    order = {"arrival": 0, "departure": 1, "loading": 2, "discharge": 3, TRANSFER_EVENT: 4}
    return sorted(rows, key=lambda r: (r["date_after"], r["date_before"], order[r["event"]], r["vessel_id"]))


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EVENTS_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if v is None else v for k, v in r.items()})
    return buffer.getvalue()


def scene_name(moment: datetime) -> str:
    return f"terminal_{moment:%Y-%m-%d}.tif"


def write_series(out_dir, dates: int, seed: int, size: int = 2048, gsd_m: float = 1.0, start: str = "2024-03-01",
                 overwrite: bool = False, threads: int = 1, progress=None, ais_dark_share: float | None = None,
                 sts_pairs: int = 1) -> list[Path]:
    """Simulate and write the series (module doc); returns the GeoTIFF paths. ``progress`` wraps
    each date's iterator of finished windows (see :func:`~tankerwatch.infer.synth.scene.write_raster`).
    With ``ais_dark_share`` (0..1), also ``ais.csv`` and ``ais_truth.csv`` with that share of tanker
    visits silent (:mod:`tankerwatch.infer.synth.ais_track`). ``sts_pairs``: at most that many
    ship-to-ship pairs at a time (module doc)."""
    out = Path(out_dir)
    if not 1 <= dates <= MAX_DATES:
        raise ConfigError(f"--dates must be between 1 and {MAX_DATES}, got {dates}")
    settings = SceneSettings(size=size, gsd_m=gsd_m)
    settings.check()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if (out / "events.csv").exists() and not overwrite:
        raise ConfigError(f"{out}: already holds a series (pass --overwrite to replace it)")
    rng = np.random.default_rng([seed, 10])
    moments = series_dates(rng, start, dates)
    _remove_previous_series(out)
    views = [sample_view(rng, gsd_m) for _ in moments]
    base_layout = terminal_layout(seed, settings, views[0])
    terminal = Terminal(seed, settings, base_layout)
    sts = StsAnchorage(seed, size, terminal.max_len, sts_pairs, P_WORKED, P_LEAVE_WORKED)
    transform = scene_transform(size, gsd_m)
    snapshots, paths, drawn = [], [], []
    roofs, berthed = base_layout.roofs, {}
    for i, (moment, view) in enumerate(zip(moments, views, strict=True)):
        if i > 0:
            terminal.step()
            sts.step(i)
        terminal.arrivals(view, sts.ships())
        sts.arrivals(terminal._placer(view, sts.ships()), base_layout)
        snapshots.append({**_snapshot(terminal.visits), **sts.snapshot()})
        roofs = move_stock(roofs, base_layout.tanks, gsd_m, terminal_flow_barrels(berthed, _snapshot(terminal.visits)))
        berthed = _snapshot(terminal.visits)
        layout = replace(base_layout, glint=glint_strength(view), roofs=roofs)
        placer = terminal._placer(view, sts.ships())
        placer.layout = layout
        day_rng = np.random.default_rng([seed, 12, i])
        _add_distractors(day_rng, placer, settings, i)
        world = SceneWorld(view, layout, list(placer.ships), sample_atmosphere(day_rng, jpeg=False),
                           transform)
        path = out / scene_name(moment)
        if path.exists() and not overwrite:
            raise ConfigError(f"{path}: exists (pass --overwrite to replace it)")
        write_raster(path, world, seed * 1000 + i, settings, iso(moment), threads, progress)
        write_truth(path, world, settings, iso(moment))
        paths.append(path)
        drawn.append((moment, world.ships))
    rows = events_rows(snapshots, moments, transform, sts)
    atomic_write_text(out / "events.csv", _csv(rows))
    write_aoi(out / AOI_NAME, base_layout, size, UTM_CRS, transform)
    manifest = {"generator": "tankerwatch synth series", "project_version": __version__,
                "parameters": {"dates": dates, "seed": seed, "size": size, "gsd_m": gsd_m, "start": start,
                               "sts_pairs": sts_pairs},
                "scenes": [{"file": p.name, "truth": truth_stem(p).name + ".geojson",
                            "tank_truth": tank_truth_path(p).name, "acquired": iso(m)}
                           for p, m in zip(paths, moments, strict=True)],
                "aoi": AOI_NAME,
                "events": {k: sum(r["event"] == k for r in rows)
                           for k in ("arrival", "departure", "loading", "discharge", TRANSFER_EVENT)}}
    if ais_dark_share is not None:
        manifest["ais"] = write_ais(out, drawn, transform, size, seed, ais_dark_share)
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return paths


def _remove_previous_series(out: Path) -> None:
    """Delete the scenes a previous run listed in its manifest, so no stale date outlives it."""
    try:
        previous = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return
    ais = previous.get("ais") if isinstance(previous.get("ais"), dict) else {}
    for name in (ais.get("file"), ais.get("truth")):
        if isinstance(name, str) and Path(name).name == name:
            (out / name).unlink(missing_ok=True)
    for scene in previous.get("scenes", []):
        for name in (scene.get("file"), scene.get("truth"), scene.get("tank_truth")):
            if isinstance(name, str) and Path(name).name == name:  # only plain names inside OUT_DIR
                (out / name).unlink(missing_ok=True)
                if name.endswith(".truth.geojson"):
                    (out / name.replace(".truth.geojson", ".truth.csv")).unlink(missing_ok=True)


def _add_distractors(rng: np.random.Generator, placer: Placer, settings: SceneSettings, date_index: int) -> None:
    """Non-tankers of the day in the open water (tankers come only from the simulation)."""
    fill_anchorage(rng, placer, settings, f"d{date_index:03d}-", tankers=False)
