"""The ways the generator can draw a vessel, by name: ``default`` (:mod:`.vessels`, flat paints)
and ``facet`` (:mod:`.hull_style_facet`, its own plan shapes, deck layouts, paints and Lambert
shading). Both follow the same physics and give the same labels (docs/physics.md, "Render
styles"), so datasets drawn in either style differ only in looks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import hull_style_facet, vessels
from .canvas import Canvas
from .physics import View
from .vessels import Ship

DrawCall = Callable[[Canvas, Ship, View, frozenset[str]], None]
# (..., cues, the surface's height above the water in metres, its share of each pixel or None)
ShadowCall = Callable[[Canvas, Ship, View, frozenset[str], float, np.ndarray | None], None]


@dataclass(frozen=True)
class HullStyle:
    draw_shadow: ShadowCall
    draw_ship: DrawCall


HULL_STYLES = {
    "default": HullStyle(vessels.draw_shadow, vessels.draw_ship),
    "facet": HullStyle(hull_style_facet.draw_shadow, hull_style_facet.draw_ship),
}
DEFAULT_HULL_STYLE = "default"


def parse_hull_styles(text: str) -> tuple[str, ...]:
    """Hull style names from ``default,facet`` (comma-separated, each once, in the order given)."""
    names = [w.strip().lower() for w in text.split(",")]
    unknown = [n for n in names if n not in HULL_STYLES]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"styles must be a comma-separated list of {', '.join(HULL_STYLES)} (each once); "
                         f"got {text!r}")
    return tuple(names)
