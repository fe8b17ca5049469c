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
from .hull_styles import DEFAULT_HULL_STYLE, HULL_STYLES
from .physics import ALL_CUES, View
from .vessels import Ship, ShipGeometry, draw_wake


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
    raised = layout.land + layout.quays
    for ship in ships:
        _draw_shadow(canvas, style, ship, view, cues, raised, layout.deck_m if raised else 0.0)
    for ship in ships:
        style.draw_ship(canvas, ship, view, cues)
    apply_atmosphere(canvas, atmosphere, view, rng)


def _draw_shadow(canvas: Canvas, style, ship: Ship, view: View, cues: frozenset[str], raised: list,
                 deck_m: float) -> None:
    """``ship``'s shadow on the water and, where it reaches a quay or the shore (``raised``
    polygons, their surface ``deck_m`` above the water), the shorter one that surface catches: only
    what stands higher than the deck shades it, so a laden hull beside a quay casts little or none
    there. Shadows multiply the image, so each surface's is drawn onto a field of ones and the two
    are joined by the raised surfaces' coverage."""
    if not raised:
        style.draw_shadow(canvas, ship, view, cues)
        return
    points = ShipGeometry(ship, view).drawn_points()
    reach = view.shadow_shift_px(ship.freeboard_m + 2.0 * ship.house_height_m + 1.0)
    spread = np.concatenate([points, points + reach]) - canvas.origin
    x0, y0 = np.maximum(np.floor(spread.min(axis=0)).astype(int) - 3, 0)
    x1 = min(int(np.ceil(spread[:, 0].max())) + 4, canvas.width)
    y1 = min(int(np.ceil(spread[:, 1].max())) + 4, canvas.height)
    if x1 <= x0 or y1 <= y0:
        return
    origin = canvas.origin + [x0, y0]
    on_water = Canvas(y1 - y0, x1 - x0, 1, origin=origin, fill=[1.0])
    covered = on_water.coverage(raised)
    if covered is None:
        style.draw_shadow(canvas, ship, view, cues)
        return
    on_deck = Canvas(y1 - y0, x1 - x0, 1, origin=origin, fill=[1.0])
    style.draw_shadow(on_water, ship, view, cues)
    style.draw_shadow(on_deck, ship, view, cues, ground_m=deck_m)
    cover, (rows, cols) = covered
    weight = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
    weight[rows, cols] = cover
    shade = on_water.pixels[..., 0] * (1.0 - weight) + on_deck.pixels[..., 0] * weight
    canvas.pixels[y0:y1, x0:x1] *= shade[..., None]
