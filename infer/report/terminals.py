"""The terminals file of ``report --terminals`` and which detection files each terminal gets.

The file is GeoJSON in lon/lat (RFC 7946): a FeatureCollection with one feature per terminal, its
geometry a Polygon or MultiPolygon (the berths and anchorage counted, as ``--aoi`` would be) and a
non-empty ``name`` property. Anything else is an error naming the file and the feature's index
(0-based). Names must differ; each becomes a folder name (:func:`folder_names`).

A detection file goes to every terminal its footprint overlaps by a positive area, so a scene
covering two terminals is read for both; a file without a footprint is taken to image everything
(as a single report does, with a warning) and goes to every terminal.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import shapely

from ..core.errors import located
from ..core.json_file import read_json
from .inputs import AoiPart, DatedScene, ReportInputError, check_lonlat_area, feature_geometry

AREAS = ("Polygon", "MultiPolygon")


@dataclass(frozen=True)
class Terminal:
    """One terminal: ``name`` as the file gives it, ``folder`` its report's folder name, ``area``
    the shapely (Multi)Polygon in lon/lat."""

    name: str
    folder: str
    area: object

    @property
    def part(self) -> AoiPart:
        """The terminal as the map panel draws an area of interest."""
        return AoiPart(self.area, self.name)


def folder_names(names: list[str], reserved: tuple[str, ...] = ()) -> list[str]:
    """Filesystem-safe, distinct folder names for ``names``: accents folded to ASCII, every run of
    characters other than letters, digits, ``.``, ``-`` and ``_`` made one ``_``, no leading dot;
    ``terminal-N`` (N from 1, the feature's place) where nothing is left; names that then collide,
    ignoring case (as macOS and Windows do) or with one of ``reserved``, get ``-2``, ``-3``, ..."""
    taken = {r.lower() for r in reserved}
    folders = []
    for number, name in enumerate(names, start=1):
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._") or f"terminal-{number}"
        folder, suffix = base, 1
        while folder.lower() in taken:
            suffix += 1
            folder = f"{base}-{suffix}"
        taken.add(folder.lower())
        folders.append(folder)
    return folders


def read_terminals(path: Path, reserved: tuple[str, ...] = ()) -> list[Terminal]:
    """The terminals in ``path`` (see module doc); ``reserved`` names folders may not take."""
    data = read_json(path, ReportInputError)
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ReportInputError(located(path, "not a GeoJSON FeatureCollection (one feature per terminal)"))
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise ReportInputError(located(path, "no features: give one Polygon feature per terminal"))
    names, areas = [], []
    for index, feature in enumerate(features):
        where = f"feature {index}"
        properties = feature.get("properties") if isinstance(feature, dict) else None
        name = properties.get("name") if isinstance(properties, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise ReportInputError(located(path, f"{where}: no 'name' property (each terminal needs a name)"))
        area = feature_geometry(path, feature, f"{where} ({name})")
        if area.geom_type not in AREAS:
            raise ReportInputError(located(path, f"{where} ({name}): geometry is a {area.geom_type}; a terminal "
                                                 f"needs a Polygon or MultiPolygon"))
        area = shapely.make_valid(area)
        check_lonlat_area(area, path, f"{where} ({name})")
        if name in names:
            raise ReportInputError(located(path, f"{where}: name {name!r} is used by feature {names.index(name)} too"))
        names.append(name)
        areas.append(area)
    return [Terminal(n, f, a) for n, f, a in zip(names, folder_names(names, reserved), areas, strict=True)]


def assign(scenes: list[DatedScene], terminals: list[Terminal]) -> list[list[DatedScene]]:
    """For each terminal, the scenes whose footprint overlaps it (see module doc), in the order given."""
    tree = shapely.STRtree([t.area for t in terminals])
    chosen: list[list[DatedScene]] = [[] for _ in terminals]
    for scene in scenes:
        if scene.footprint is None:
            hits = range(len(terminals))
        else:
            hits = sorted(int(k) for k in tree.query(scene.footprint, predicate="intersects")
                          if scene.footprint.intersection(terminals[k].area).area > 0)
        for k in hits:
            chosen[k].append(scene)
    return chosen
