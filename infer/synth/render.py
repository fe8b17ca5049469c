"""Drawing one picture of the synthetic world, in the order light and sensor impose.

Background (water, land, land objects), then the wakes of ships under way, then every ship's
shadow (before any hull, so a hull is never darkened by its own shadow and a neighbour's shadow
falls on the water between them), then the ships, then atmosphere and sensor (haze, clouds and
their shadows, blur, noise). Tiles draw a whole image this way, scenes one window at a time.
"""

from __future__ import annotations

import numpy as np

from .background import Layout, draw_background
from .canvas import Canvas
from .effects import Atmosphere, apply_atmosphere
from .physics import View
from .vessels import Ship, draw_shadow, draw_ship, draw_wake


def draw_world(canvas: Canvas, view: View, layout: Layout, ships: list[Ship], atmosphere: Atmosphere,
               rng: np.random.Generator) -> None:
    """Background, wakes, shadows, vessels, then atmosphere and sensor, into ``canvas``."""
    draw_background(canvas, layout, view, rng)
    for ship in ships:
        draw_wake(canvas, ship, view)
    for ship in ships:
        draw_shadow(canvas, ship, view)
    for ship in ships:
        draw_ship(canvas, ship, view)
    apply_atmosphere(canvas, atmosphere, view, rng)
