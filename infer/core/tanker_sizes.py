"""The one tanker size-class table, used by the synthetic generator and by ``report``'s volumes.

Figures are the rounded typical values of ``docs/physics.md``: lengths in metres (bounds made
contiguous so every length falls in exactly one class), deadweight in tonnes, drafts and depth in
metres. Real ships vary around them; length is a weak predictor of deadweight within a class, so
volumes derived from this table are ranges (low / central / high), never single numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

# Cargo is 0.9-0.95 of deadweight (bunkers, stores and water take the rest).
CARGO_FRACTION = (0.90, 0.925, 0.95)
# Barrels per tonne by cargo; refined products are the default (the case the project exists for).
BARRELS_PER_TONNE = {
    "refined": (7.2, 7.5, 8.5),  # diesel/gasoil 7.2-7.5 .. gasoline 8.3-8.5
    "diesel": (7.2, 7.35, 7.5),
    "gasoline": (8.3, 8.4, 8.5),
    "crude": (7.0, 7.32, 7.6),  # UN average 7.32
    "fuel_oil": (6.5, 6.6, 6.7),
}
DEFAULT_CARGO = "refined"


@dataclass(frozen=True)
class TankerClass:
    name: str
    length_m: tuple[float, float]  # [low, high): contiguous across the table
    dwt_t: tuple[float, float]
    beam_m: tuple[float, float]
    depth_m: tuple[float, float]
    laden_draft_m: tuple[float, float]
    ballast_draft_m: tuple[float, float]


TANKER_CLASSES: tuple[TankerClass, ...] = (
    TankerClass("small coastal / product", (40, 120), (1_000, 10_000), (10, 18), (5, 10), (4, 7.5), (2, 4)),
    TankerClass("general purpose / small Handysize", (120, 165), (10_000, 25_000), (18, 27), (10, 14), (7.5, 10), (4, 5)),
    TankerClass("MR1", (165, 182), (25_000, 40_000), (27, 32), (16, 18), (10, 11), (5, 6)),
    TankerClass("MR2", (182, 205), (40_000, 55_000), (32, 32.2), (18.5, 19.5), (12, 13), (6, 7)),
    TankerClass("LR1 / Panamax", (205, 235), (55_000, 80_000), (32, 32.3), (19.5, 20.5), (13, 14), (6.5, 7.5)),
    TankerClass("Aframax / LR2", (235, 262), (80_000, 120_000), (42, 44), (20.5, 21.5), (14, 15), (7, 8)),
    TankerClass("Suezmax", (262, 300), (120_000, 200_000), (46, 50), (23, 24), (16, 17), (8, 9)),
    TankerClass("VLCC", (300, 380), (200_000, 320_000), (58, 60), (29, 31), (20, 22.5), (9, 11)),
)


def class_for_length(length_m: float) -> TankerClass:
    """The size class whose length bounds hold ``length_m`` (clamped to the table's ends)."""
    for cls in TANKER_CLASSES:
        if length_m < cls.length_m[1]:
            return cls
    return TANKER_CLASSES[-1]


def cargo_barrels(length_m: float, cargo: str = DEFAULT_CARGO) -> tuple[float, float, float]:
    """Low / central / high barrels a tanker of this length carries when laden.

    Low and high combine the class's deadweight bounds with the low and high cargo fraction and
    barrels per tonne; central uses the middle of each. Cap at tank capacity where it is known.
    """
    cls = class_for_length(length_m)
    bpt = BARRELS_PER_TONNE[cargo]
    dwt_low, dwt_high = cls.dwt_t
    return (dwt_low * CARGO_FRACTION[0] * bpt[0],
            (dwt_low + dwt_high) / 2 * CARGO_FRACTION[1] * bpt[1],
            dwt_high * CARGO_FRACTION[2] * bpt[2])


def position_in_class(length_m: float) -> tuple[TankerClass, float]:
    """The class at ``length_m`` and where the length lies in its bounds, 0 (shortest) .. 1
    (longest), clamped. Every other dimension is taken at the same relative position of its range
    (a longer ship is also broader, deeper and heavier), as the synthetic generator draws them."""
    cls = class_for_length(length_m)
    low, high = cls.length_m
    return cls, min(max((float(length_m) - low) / (high - low), 0.0), 1.0)


def _at(bounds: tuple[float, float], t: float) -> float:
    return bounds[0] + t * (bounds[1] - bounds[0])


def deadweight_at(length_m: float) -> float:
    """Deadweight (tonnes) of a tanker ``length_m`` long: its class's range at the length's relative
    position (continuous across classes, whose ranges meet)."""
    cls, t = position_in_class(length_m)
    return _at(cls.dwt_t, t)


def freeboard_at(length_m: float, laden_fraction: float) -> float:
    """Freeboard (metres, deck edge above the water) of a tanker ``length_m`` long whose draft lies
    ``laden_fraction`` of the way from its ballast draft (0) to its laden draft (1): moulded depth
    minus draft, each at the length's relative position in its class."""
    cls, t = position_in_class(length_m)
    ballast, laden = _at(cls.ballast_draft_m, t), _at(cls.laden_draft_m, t)
    return _at(cls.depth_m, t) - (ballast + float(laden_fraction) * (laden - ballast))
