"""Drawing one picture of the synthetic world, in the order light and sensor impose.

Background (water, land, land objects), then the wakes of ships under way, then every ship's
shadow (before any hull, so a hull is never darkened by its own shadow and a neighbour's shadow
falls on the water between them; on a quay, jetty or shore shorter, from the part of the hull
above its top: :mod:`.shadow_ground`), then the ships, then atmosphere and sensor (haze, clouds and
their shadows, blur, noise). Tiles draw a whole image this way, scenes one window at a time.
"""

from __future__ import annotations

import numpy as np

from .background import Layout, draw_background
from .canvas import Canvas
from .effects import Atmosphere, apply_atmosphere
from .hull_styles import DEFAULT_HULL_STYLE, HULL_STYLES
from .physics import ALL_CUES, View
from .shadow_ground import shadow_grounds
from .vessels import Ship, draw_wake


def draw_world(canvas: Canvas, view: View, layout: Layout, ships: list[Ship], atmosphere: Atmosphere,
               rng: np.random.Generator, cues: frozenset[str] = ALL_CUES,
               hull_style: str = DEFAULT_HULL_STYLE) -> None:
    """Background, wakes, shadows, vessels, then atmosphere and sensor, into ``canvas``; ``cues``
    are the load-state cues drawn on tankers (:data:`.physics.CUES`, counterfactual renders);
    ``hull_style`` names the vessel renderer (:data:`.hull_styles.HULL_STYLES`)."""
    style = HULL_STYLES[hull_style]
    draw_background(canvas, layout, view, rng)
    for ship in ships:
        draw_wake(canvas, ship, view)
    grounds = shadow_grounds(canvas, layout)
    for ship in ships:
        for ground in grounds:
            style.draw_shadow(canvas, ship, view, cues, ground.height_m, ground.where)
    for ship in ships:
        style.draw_ship(canvas, ship, view, cues)
    apply_atmosphere(canvas, atmosphere, view, rng)
