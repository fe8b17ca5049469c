"""The tanks file: what ``tankerwatch tanks`` writes (``<stem>.tanks.geojson``), what ``synth``
writes as truth (``<stem>.tank-truth.geojson``), and what ``report --tanks`` reads.

GeoJSON (RFC 7946): a FeatureCollection with one Polygon per tank (64 vertices,
counter-clockwise) in lon/lat degrees to 7 decimals, or pixels when the raster has no georeferencing.
The polygon is the foot circle. Properties (metres, barrels; null where not known):

* ``centre_px`` ``[x, y]`` and ``radius_px``: the tank's foot circle (where it stands; off-nadir
  the rim appears displaced from it) in the source raster's pixels (project convention: pixel
  centres at +0.5), ``radius_m`` its radius on the ground;
* ``roof``: ``floating`` (a crescent of shadow shows the deck below the rim) or
  ``fixed_or_unknown`` (no crescent: a fixed roof, a floating roof at the brim, or a deck wholly in
  shadow); truth says ``floating`` or ``fixed``;
* ``fill_fraction`` with ``fill_lo`` and ``fill_hi``: liquid height over shell height, 0..1
  (floating roofs only); ``height_m`` (shell height) and ``height_from`` (``shadow``: this tank's
  own shadow on the ground; ``scene median``: the median of the tanks whose shadow could be
  measured; ``given``: ``--tank-height``); ``capacity_barrels`` = pi r^2 H x ``BARRELS_PER_M3`` and
  ``volume_barrels`` / ``volume_lo`` / ``volume_hi`` = capacity x fill;
* the measurements: ``inner_shadow_m`` (the crescent's width along the sun's azimuth through the
  centre, on the deck) and ``outer_shadow_m`` (the shell's shadow beyond its foot on the ground);
* truth adds ``tank_id`` and ``truth: true``.

The top-level member ``"tankerwatch"`` holds ``kind: "tanks"``, ``format_version``, ``source``,
``acquired`` (UTC ISO 8601 or null), ``gsd_m``, ``crs`` (WKT or null), ``coordinates``
(``lonlat``/``pixel``), ``angles`` (``sun_elevation``, ``sun_azimuth``, ``view_zenith``,
``view_azimuth``: degrees, azimuths geographic as the scene states them, ``view_azimuth`` null for a
nadir view; and ``source``, where they came from: :class:`~.view_angles.SceneAngles`),
``project_version`` and
``stock``: the floating-roof tanks' total ``capacity_barrels`` and ``volume_barrels`` (+ ``_lo``,
``_hi``) over those with a volume, and how many tanks that is. No wall-clock time is written.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping
from shapely.geometry.polygon import orient

from .. import __version__
from ..core.atomic import atomic_write_text
from ..core.errors import TankerwatchError, located
from ..core.georef import pixels_to_lonlat
from ..core.json_file import read_json

FORMAT_VERSION = 1
KIND = "tanks"
BARRELS_PER_M3 = 6.2898
ROOFS = ("floating", "fixed_or_unknown", "fixed")
DECIMALS = 7
RING_VERTICES = 64


def capacity_barrels(radius_m: float, height_m: float) -> float:
    """A cylinder's volume in barrels (module doc)."""
    return math.pi * radius_m**2 * height_m * BARRELS_PER_M3


@dataclass
class Tank:
    """One tank as measured (or as drawn, for truth). Lengths in metres, fills in 0..1."""

    centre_px: tuple[float, float]
    radius_px: float
    radius_m: float
    roof: str
    fill: tuple[float, float, float] | None = None  # central, lo, hi
    height_m: float | None = None
    height_from: str | None = None
    inner_shadow_m: float | None = None
    outer_shadow_m: float | None = None
    extra: dict | None = None

    def capacity_barrels(self) -> float | None:
        return None if self.height_m is None else capacity_barrels(self.radius_m, self.height_m)

    def volumes(self) -> tuple[float, float, float] | None:
        capacity = self.capacity_barrels()
        if capacity is None or self.fill is None:
            return None
        return tuple(capacity * f for f in self.fill)


def _number(value, digits: int = 3):
    return None if value is None else round(float(value), digits)


def tank_properties(tank: Tank) -> dict:
    fill = tank.fill or (None, None, None)
    volumes = tank.volumes() or (None, None, None)
    return {"centre_px": [_number(v) for v in tank.centre_px], "radius_px": _number(tank.radius_px),
            "radius_m": _number(tank.radius_m, 2), "roof": tank.roof, "fill_fraction": _number(fill[0]),
            "fill_lo": _number(fill[1]), "fill_hi": _number(fill[2]), "height_m": _number(tank.height_m, 2),
            "height_from": tank.height_from, "capacity_barrels": _number(tank.capacity_barrels(), 0),
            "volume_barrels": _number(volumes[0], 0), "volume_lo": _number(volumes[1], 0),
            "volume_hi": _number(volumes[2], 0), "inner_shadow_m": _number(tank.inner_shadow_m, 2),
            "outer_shadow_m": _number(tank.outer_shadow_m, 2), **(tank.extra or {})}


def stock_totals(tanks: list[Tank]) -> dict:
    """Capacity and volume (central, lo, hi barrels) over the floating-roof tanks with a volume."""
    counted = [t for t in tanks if t.roof == "floating" and t.volumes() is not None]
    volumes = np.array([t.volumes() for t in counted]).reshape(-1, 3).sum(axis=0)
    return {"tanks": len(counted), "capacity_barrels": round(sum(t.capacity_barrels() for t in counted)),
            "volume_barrels": round(float(volumes[0])), "volume_lo": round(float(volumes[1])),
            "volume_hi": round(float(volumes[2]))}


def build_tank_collection(tanks: list[Tank], header: dict, crs=None, transform=None) -> dict:
    """The FeatureCollection (module doc); ``header`` gives source, acquired, gsd_m, angles."""
    georeferenced = crs is not None and transform is not None
    features = []
    t = np.linspace(0, 2 * np.pi, RING_VERTICES, endpoint=False)
    for tank in tanks:
        ring = np.asarray(tank.centre_px) + tank.radius_px * np.stack([np.cos(t), np.sin(t)], axis=1)
        if georeferenced:
            ring = pixels_to_lonlat(crs, transform, ring)
        polygon = orient(shapely.Polygon(np.round(ring, DECIMALS)), sign=1.0)
        features.append({"type": "Feature", "geometry": mapping(polygon), "properties": tank_properties(tank)})
    head = {"kind": KIND, "format_version": FORMAT_VERSION, **header,
            "crs": crs.to_wkt() if crs is not None else None,
            "coordinates": "lonlat" if georeferenced else "pixel", "project_version": __version__,
            "stock": stock_totals(tanks)}
    return {"type": "FeatureCollection", "tankerwatch": head, "features": features}


def write_tank_file(path: str | Path, tanks: list[Tank], header: dict, crs=None, transform=None) -> Path:
    """Write the tanks GeoJSON atomically; returns its path."""
    path = Path(path)
    atomic_write_text(path, json.dumps(build_tank_collection(tanks, header, crs, transform), indent=1) + "\n")
    return path


@dataclass
class TankFile:
    """A parsed tanks file: its header and each tank's properties as written."""

    path: Path
    header: dict
    tanks: list[dict]


def read_tank_file(path: str | Path) -> TankFile:
    """Read and check a tanks file, failing with one line naming it."""
    path = Path(path)
    data = read_json(path)
    header = data.get("tankerwatch") if isinstance(data, dict) else None
    if not isinstance(header, dict) or header.get("kind") != KIND or data.get("type") != "FeatureCollection":
        raise TankerwatchError(located(path, "not a tankerwatch tanks file (no 'tankerwatch' header of kind 'tanks')"))
    if header.get("format_version") != FORMAT_VERSION:
        raise TankerwatchError(located(path, f"unknown tanks file format_version {header.get('format_version')!r} "
                                             f"(this version reads {FORMAT_VERSION})"))
    tanks = []
    for index, feature in enumerate(data.get("features") or []):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict) or props.get("roof") not in ROOFS:
            raise TankerwatchError(located(path, f"feature {index}: no 'roof' of {', '.join(ROOFS)}"))
        tanks.append(props)
    return TankFile(path, header, tanks)
