"""AIS position reports for a synthetic series, with chosen tankers silent: the truth for dark-vessel checks.

For every vessel drawn on a date that carries AIS, fixes are written for an hour either side of the
image time, consistent with where the vessel is drawn:

* who transmits: tankers, container ships, bulk carriers and tugs (SOLAS and port rules oblige
  them); small craft and unpowered barges carry none. A share of tanker *visits* (``dark_share``,
  default 0.3, decided once per visit, so a dark tanker is silent on every date of its stay) keep
  their transponder off: the case the project exists for;
* where: the GNSS antenna, on the bridge (``ANTENNA_ALONG`` of the length from the centre along the
  bow direction: aft on tankers and bulk carriers), with ``GNSS_SIGMA_M`` of noise per axis; a vessel
  drawn under way moves along its heading at 3-7 m/s and passes its drawn position at the image time;
* when: every 3 min at anchor or moored and every minute under way (class A reports every 2-10 s
  under way; feeds thin them), at a random phase, with a share ``DROPOUT`` of fixes lost to reception;
* AIS-only: on a share ``P_SPOOF`` of dates, one transponder reports a fixed position in the open water
  where no vessel is drawn (a spoofed position; the truth calls it ``ais_only``).

``ais.csv`` has the columns ``mmsi,time,lon,lat,length,ship_type`` (times UTC with ``Z``, lon/lat
WGS84 degrees to 6 decimals, length whole metres, AIS ship type codes), sorted by time then MMSI.
``ais_truth.csv`` has one row per vessel and date (``date,vessel_id,kind,mmsi,dark,ais_only,lon,lat``):
``mmsi`` is empty for a vessel with no transponder, ``dark`` is true/false for tankers and empty for
other vessels, spoofed positions have ``kind`` ``spoof`` and ``ais_only`` true. Everything follows
from the seed.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
from affine import Affine

from ..core.atomic import atomic_write_csv
from ..core.georef import pixels_to_lonlat
from .tiles import UTM_CRS
from .vessels import Ship

AIS_COLUMNS = ("mmsi", "time", "lon", "lat", "length", "ship_type")
TRUTH_COLUMNS = ("date", "vessel_id", "kind", "mmsi", "dark", "ais_only", "lon", "lat")
DEFAULT_DARK_SHARE = 0.3
SHIP_TYPE_CODES = {"tanker": 80, "container": 70, "bulk": 70, "tug": 52}  # kinds that transmit
ANTENNA_ALONG = {"tanker": -0.4, "container": -0.3, "bulk": -0.4, "tug": 0.1}
GNSS_SIGMA_M = 5.0
SPAN_S = 3600
MOORED_INTERVAL_S = 180
UNDERWAY_INTERVAL_S = 60
UNDERWAY_SPEED_MS = (3.0, 7.0)
DROPOUT = 0.15
P_SPOOF = 0.3
SPOOF_CLEARANCE_M = 400.0  # from every drawn centre: beyond the default 100 m gate plus half the longest hull
# Maritime identification digits (flag states) MMSIs are drawn with: Russia, DPRK, China, Korea, Japan,
# Panama, Liberia, Marshall Islands.
MIDS = (273, 445, 412, 440, 431, 351, 636, 538)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Identities:
    """MMSIs, unique within the series, and which tanker visits are dark."""

    def __init__(self, rng: np.random.Generator, dark_share: float):
        self.rng, self.dark_share = rng, dark_share
        self.mmsi: dict[str, int] = {}
        self.dark: dict[str, bool] = {}

    def new_mmsi(self) -> int:
        used = set(self.mmsi.values())
        while True:
            mmsi = int(self.rng.choice(MIDS)) * 1_000_000 + int(self.rng.integers(0, 1_000_000))
            if mmsi not in used:
                return mmsi

    def transmitter(self, vessel_id: str, kind: str) -> int | None:
        """The vessel's MMSI, or None when it carries no AIS or keeps it off (a dark tanker visit)."""
        if kind not in SHIP_TYPE_CODES:
            return None
        if vessel_id not in self.mmsi:
            self.mmsi[vessel_id] = self.new_mmsi()
            self.dark[vessel_id] = kind == "tanker" and bool(self.rng.random() < self.dark_share)
        return None if self.dark[vessel_id] else self.mmsi[vessel_id]


def _fix_times(rng: np.random.Generator, interval: int) -> np.ndarray:
    """Seconds from the image time of the fixes kept, at a random phase, some lost."""
    offsets = np.arange(-SPAN_S + rng.uniform(0, interval), SPAN_S, interval)
    return np.round(offsets[rng.random(len(offsets)) >= DROPOUT])


def _track_px(rng: np.random.Generator, ship: Ship, offsets: np.ndarray, gsd_m: float) -> np.ndarray:
    """Antenna positions ``[N, 2]`` in pixels at ``offsets`` seconds from the image time."""
    bow = np.array([math.cos(ship.heading), math.sin(ship.heading)])
    speed = rng.uniform(*UNDERWAY_SPEED_MS) if ship.moving else 0.0
    along_m = ANTENNA_ALONG[ship.kind] * ship.length_m + speed * offsets
    noise_m = rng.normal(0.0, GNSS_SIGMA_M, size=(len(offsets), 2))
    return ship.centre + (along_m[:, None] * bow + noise_m) / gsd_m


def _spoof_px(rng: np.random.Generator, ships: list[Ship], size_px: int, gsd_m: float) -> np.ndarray | None:
    """A point in the open water (south of the shore) far from every drawn vessel, or None."""
    centres = np.array([s.centre for s in ships]).reshape(-1, 2)
    for _ in range(50):
        point = np.array([rng.uniform(0.05, 0.95) * size_px, rng.uniform(0.45, 0.95) * size_px])
        if not len(centres) or np.min(np.hypot(*(centres - point).T)) * gsd_m >= SPOOF_CLEARANCE_M:
            return point
    return None


def write_ais(out_dir, days: list[tuple[datetime, list[Ship]]], transform: Affine, size_px: int, seed: int,
              dark_share: float = DEFAULT_DARK_SHARE) -> dict:
    """Write ``ais.csv`` and ``ais_truth.csv`` (module doc) for ``days`` (image time, vessels drawn);
    ``transform`` is the scenes' north-up UTM transform. Returns a summary for the manifest."""
    rng = np.random.default_rng([seed, 13])
    gsd_m = float(transform.a)
    ids = _Identities(rng, dark_share)
    fixes: list[tuple[str, int, float, float, int, int]] = []
    truth = []
    for moment, ships in days:
        date = _iso(moment)
        centres = pixels_to_lonlat(UTM_CRS, transform, [s.centre for s in ships]) if ships else np.zeros((0, 2))
        for ship, lonlat in zip(ships, centres, strict=True):
            mmsi = ids.transmitter(ship.vessel_id, ship.kind)
            truth.append([date, ship.vessel_id, ship.kind, "" if mmsi is None else mmsi,
                          str(ids.dark[ship.vessel_id]).lower() if ship.kind == "tanker" else "", "false",
                          round(float(lonlat[0]), 7), round(float(lonlat[1]), 7)])
            if mmsi is None:
                continue
            offsets = _fix_times(rng, UNDERWAY_INTERVAL_S if ship.moving else MOORED_INTERVAL_S)
            positions = pixels_to_lonlat(UTM_CRS, transform, _track_px(rng, ship, offsets, gsd_m))
            fixes += [(_iso(moment + timedelta(seconds=float(dt))), mmsi, float(lon), float(lat),
                       round(ship.length_m), SHIP_TYPE_CODES[ship.kind]) for dt, (lon, lat) in zip(offsets, positions,
                                                                                                  strict=True)]
        if rng.random() < P_SPOOF:
            point = _spoof_px(rng, ships, size_px, gsd_m)
            if point is not None:
                spoof_id = f"S{moment:%Y%m%d}"
                mmsi = ids.mmsi[spoof_id] = ids.new_mmsi()
                lon, lat = pixels_to_lonlat(UTM_CRS, transform, [point])[0]
                truth.append([date, spoof_id, "spoof", mmsi, "", "true", round(float(lon), 7), round(float(lat), 7)])
                offsets = _fix_times(rng, MOORED_INTERVAL_S)
                noise = rng.normal(0.0, GNSS_SIGMA_M / gsd_m, size=(len(offsets), 2))
                for dt, (plon, plat) in zip(offsets, pixels_to_lonlat(UTM_CRS, transform, point + noise), strict=True):
                    fixes.append((_iso(moment + timedelta(seconds=float(dt))), mmsi, float(plon), float(plat),
                                  round(float(rng.uniform(80, 110))), SHIP_TYPE_CODES["tanker"]))
    fixes.sort(key=lambda f: (f[0], f[1]))
    atomic_write_csv(out_dir / "ais.csv", AIS_COLUMNS, [[m, t, f"{lon:.6f}", f"{lat:.6f}", length, code]
                                                        for t, m, lon, lat, length, code in fixes])
    atomic_write_csv(out_dir / "ais_truth.csv", TRUTH_COLUMNS, truth)
    tanker_visits = {row[1] for row in truth if row[2] == "tanker"}
    return {"file": "ais.csv", "truth": "ais_truth.csv", "dark_share": dark_share, "rows": len(fixes),
            "tanker_visits": len(tanker_visits), "dark_visits": sum(ids.dark[v] for v in tanker_visits),
            "ais_only": sum(row[2] == "spoof" for row in truth)}


