"""The report's map panel: an SVG of the area drawn from the data alone (no web tiles, no network).

It shows each date's imaged footprint, the area-of-interest file's features (its berths and
anchorages, labelled by name) and every event as a marker coloured and shaped by kind (the
timeline's colours), with a legend, a scale bar and a north arrow. Each event marker is a
``<path class="event event-KIND">`` whose ``<title>`` gives the event, so a browser shows it on
hover; markers that share a position are set side by side so none hides another.

Projection: azimuthal equidistant on WGS84 centred on the middle of everything drawn, in metres.
Distances from the centre are true, and at a terminal's scale (a few km) the whole panel is
true to scale within a fraction of a percent; north is straight up along the central meridian
and off it by under a degree across such an area, so the arrow points up. Drawn extent is
assumed not to cross the antimeridian.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import shapely

from ..core.georef import local_frame
from .events import EVENT_KINDS, Event
from .inputs import AoiPart, DatedScene, iso_utc
from .render import EVENT_STYLE

WIDTH_PX = 720
MAX_HEIGHT_PX = 720
MARGIN_PX = 24
LEGEND_PX = 150  # a column on the right for the legend
MIN_EXTENT_M = 500.0  # a map of a single point still shows its surroundings
MARKER_PX = 7.0
# Marker outlines as unit paths (pointing like the timeline's matplotlib markers > < ^ v).
_MARKERS = {">": [(-1, -1), (1, 0), (-1, 1)], "<": [(1, -1), (-1, 0), (1, 1)],
            "^": [(-1, 1), (0, -1), (1, 1)], "v": [(-1, -1), (0, 1), (1, -1)]}


def _nice_length(limit_m: float) -> float:
    """The longest 1, 2 or 5 x 10^k metres not over ``limit_m``."""
    power = 10.0 ** math.floor(math.log10(limit_m))
    return max(step * power for step in (1, 2, 5) if step * power <= limit_m)


def _distance_text(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


class _Canvas:
    """Projected metres to SVG pixels (y down), fitted to the drawn extent."""

    def __init__(self, bounds_m: tuple[float, float, float, float]):
        minx, miny, maxx, maxy = bounds_m
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        half_w = max(maxx - minx, MIN_EXTENT_M) * 0.55
        half_h = max(maxy - miny, MIN_EXTENT_M) * 0.55
        plot_w = WIDTH_PX - LEGEND_PX - 2 * MARGIN_PX
        self.scale = min(plot_w / (2 * half_w), (MAX_HEIGHT_PX - 2 * MARGIN_PX) / (2 * half_h))  # px per m
        self.plot_w, self.plot_h = plot_w, 2 * half_h * self.scale
        self.height = round(self.plot_h + 2 * MARGIN_PX)
        self.origin = (cx - plot_w / 2 / self.scale, cy + half_h)  # map position of the plot's top-left

    def xy(self, x: float, y: float) -> tuple[float, float]:
        return (MARGIN_PX + (x - self.origin[0]) * self.scale, MARGIN_PX + (self.origin[1] - y) * self.scale)

    def path(self, geometry) -> str:
        """SVG path data of the polygons in ``geometry`` (projected), every ring closed."""
        rings = []
        for polygon in getattr(geometry, "geoms", [geometry]):
            if polygon.geom_type != "Polygon":
                continue
            for ring in (polygon.exterior, *polygon.interiors):
                points = [self.xy(x, y) for x, y in np.asarray(ring.coords)[:-1]]
                rings.append("M" + " L".join(f"{px:.1f} {py:.1f}" for px, py in points) + " Z")
        return " ".join(rings)

    def line_path(self, geometry) -> str:
        """SVG path data of the lines in ``geometry`` (projected), left open."""
        lines = [line for line in getattr(geometry, "geoms", [geometry]) if line.geom_type == "LineString"]
        return " ".join("M" + " L".join(f"{px:.1f} {py:.1f}" for px, py in (self.xy(x, y) for x, y in line.coords))
                        for line in lines)


def _event_title(event: Event) -> str:
    barrels = (f"; {event.volume.low:,.0f} - {event.volume.high:,.0f} barrels (central {event.volume.central:,.0f})"
               if event.volume else "")
    return (f"{event.kind}, track {event.track_id}, between {iso_utc(event.date_before)} and "
            f"{iso_utc(event.date_after)}, {event.length_m:.0f} m, {event.load}{barrels}")


def render_map_svg(scenes: list[DatedScene], events: list[Event], aoi_parts: list[AoiPart] | None = None,
                   seen: Iterable[tuple[float, float]] = ()) -> str:
    """The map panel as standalone SVG text (see module doc); positions are lon/lat degrees.
    ``seen``: (lon, lat) of each vessel seen on any date (the grey dots), in date order."""
    seen = list(seen)
    footprints = [(s, s.footprint) for s in scenes if s.footprint is not None and not s.footprint.is_empty]
    parts = [p for p in aoi_parts or [] if not p.geometry.is_empty]
    points = [shapely.Point(e.lon, e.lat) for e in events]
    points += [shapely.Point(lon, lat) for lon, lat in seen]
    everything = shapely.union_all([f for _, f in footprints] + [p.geometry for p in parts] + points)
    if everything.is_empty:  # nothing imaged, no area and no vessel: an empty panel says so
        everything = shapely.Point(0.0, 0.0)
    minlon, minlat, maxlon, maxlat = everything.bounds
    to_local = local_frame((minlon + maxlon) / 2, (minlat + maxlat) / 2)

    def project(geometry):
        return shapely.transform(geometry, lambda xy: np.column_stack(to_local.transform(xy[:, 0], xy[:, 1])))

    canvas = _Canvas(project(everything).bounds)
    e = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_PX}" height="{canvas.height}" '
           f'viewBox="0 0 {WIDTH_PX} {canvas.height}" font-family="sans-serif" font-size="11" role="img" '
           f'aria-label="map of the area: footprints, area of interest and events">',
           f'<rect x="0" y="0" width="{WIDTH_PX}" height="{canvas.height}" fill="#f7f9fb"/>',
           f'<clipPath id="plot"><rect x="{MARGIN_PX}" y="{MARGIN_PX}" width="{canvas.plot_w:.1f}" '
           f'height="{canvas.plot_h:.1f}"/></clipPath>', '<g clip-path="url(#plot)">']
    for scene, footprint in footprints:
        out.append(f'<path class="footprint" d="{canvas.path(project(footprint))}" fill="#9ab8d3" '
                   f'fill-opacity="0.12" stroke="#6f8fae" stroke-width="0.8" fill-rule="evenodd">'
                   f'<title>imaged {e(scene.date_text)} ({e(scene.path.name)})</title></path>')
    for part in parts:
        shape_m = project(part.geometry)
        title = f"<title>{e(part.label)}</title>" if part.label else ""
        if shape_m.geom_type in ("Polygon", "MultiPolygon"):
            out.append(f'<path class="aoi" d="{canvas.path(shape_m)}" fill="none" stroke="#1f4e79" '
                       f'stroke-width="1.4" stroke-dasharray="5 3">{title}</path>')
        elif shape_m.geom_type in ("LineString", "MultiLineString"):  # a berth along a quay face
            out.append(f'<path class="berth" d="{canvas.line_path(shape_m)}" fill="none" stroke="#1f4e79" '
                       f'stroke-width="3">{title}</path>')
        elif shape_m.geom_type in ("Point", "MultiPoint"):
            for point in getattr(shape_m, "geoms", [shape_m]):
                px, py = canvas.xy(point.x, point.y)
                out.append(f'<rect class="berth" x="{px - 3:.1f}" y="{py - 3:.1f}" width="6" height="6" '
                           f'fill="#1f4e79">{title}</rect>')
        if part.label:
            # Points: beside the mark. Areas: along their top edge, clear of the vessels inside.
            minx, _, _, maxy = shape_m.bounds
            px, py = canvas.xy(minx, maxy)
            out.append(f'<text x="{px + 5:.1f}" y="{py - 4:.1f}" fill="#1f4e79">{e(part.label)}</text>')
    dots = {f"{x:.1f} {y:.1f}": None for x, y in (canvas.xy(*to_local.transform(lon, lat))
                                                   for lon, lat in seen)}  # one dot per place
    for position in dots:
        x, y = position.split()
        out.append(f'<circle cx="{x}" cy="{y}" r="1.5" fill="#555" fill-opacity="0.6"/>')
    shared = defaultdict(int)  # markers already drawn at a pixel position
    for event in events:
        px, py = canvas.xy(*to_local.transform(event.lon, event.lat))
        slot = shared[(round(px), round(py))]
        shared[(round(px), round(py))] += 1
        px += slot * 2.2 * MARKER_PX
        colour, marker = EVENT_STYLE[event.kind]
        d = "M" + " L".join(f"{px + u * MARKER_PX:.1f} {py + v * MARKER_PX:.1f}" for u, v in _MARKERS[marker]) + " Z"
        out.append(f'<path class="event event-{event.kind}" d="{d}" fill="{colour}" stroke="white" '
                   f'stroke-width="1"><title>{e(_event_title(event))}</title></path>')
    out.append("</g>")
    out.append(f'<rect x="{MARGIN_PX}" y="{MARGIN_PX}" width="{canvas.plot_w:.1f}" height="{canvas.plot_h:.1f}" '
               f'fill="none" stroke="#999"/>')
    out += _scale_bar(canvas) + _north_arrow(canvas) + _legend(canvas, events, bool(footprints), bool(parts))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _scale_bar(canvas: _Canvas) -> list[str]:
    metres = _nice_length(0.3 * canvas.plot_w / canvas.scale)
    length = metres * canvas.scale
    x0, y0 = MARGIN_PX + 12, MARGIN_PX + canvas.plot_h - 14
    return [f'<g class="scale-bar"><rect x="{x0:.1f}" y="{y0:.1f}" width="{length:.1f}" height="4" fill="#222"/>',
            f'<text x="{x0:.1f}" y="{y0 - 4:.1f}">{_distance_text(metres)}</text></g>']


def _north_arrow(canvas: _Canvas) -> list[str]:
    x, y = MARGIN_PX + canvas.plot_w - 20, MARGIN_PX + 14
    return [f'<g class="north-arrow"><path d="M{x:.1f} {y:.1f} L{x + 7:.1f} {y + 22:.1f} L{x:.1f} {y + 17:.1f} '
            f'L{x - 7:.1f} {y + 22:.1f} Z" fill="#222"/>',
            f'<text x="{x:.1f}" y="{y + 34:.1f}" text-anchor="middle" font-weight="bold">N</text></g>']


def _legend(canvas: _Canvas, events: list[Event], footprints: bool, aoi: bool) -> list[str]:
    x = WIDTH_PX - LEGEND_PX + 6
    y = MARGIN_PX + 8
    out = ['<g class="legend">']
    for kind in EVENT_KINDS:
        colour, marker = EVENT_STYLE[kind]
        d = "M" + " L".join(f"{x + 6 + u * 5:.1f} {y + v * 5:.1f}" for u, v in _MARKERS[marker]) + " Z"
        out.append(f'<path d="{d}" fill="{colour}"/><text x="{x + 18}" y="{y + 4}">'
                   f'{kind} ({sum(ev.kind == kind for ev in events)})</text>')
        y += 18
    out.append(f'<circle cx="{x + 6}" cy="{y}" r="2" fill="#555"/><text x="{x + 18}" y="{y + 4}">vessel seen</text>')
    y += 18
    if footprints:
        out.append(f'<rect x="{x}" y="{y - 5}" width="12" height="10" fill="#9ab8d3" fill-opacity="0.4" '
                   f'stroke="#6f8fae"/><text x="{x + 18}" y="{y + 4}">imaged (per date)</text>')
        y += 18
    if aoi:
        out.append(f'<rect x="{x}" y="{y - 5}" width="12" height="10" fill="none" stroke="#1f4e79" '
                   f'stroke-dasharray="3 2"/><text x="{x + 18}" y="{y + 4}">area of interest</text>')
        y += 18
    out.append(f'<text x="{x}" y="{y + 10}" fill="#555">local azimuthal</text>'
               f'<text x="{x}" y="{y + 24}" fill="#555">equidistant, metres</text></g>')
    return out
