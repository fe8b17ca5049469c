"""Oil moved: a tanker's measured length -> size class -> deadweight -> barrels, as a range.

Everything comes from the one class table, :mod:`tankerwatch.infer.core.tanker_sizes`. Length is a
weak predictor of deadweight within a class, and a measured length carries an error of about a
pixel at each end, so a volume is a low / central / high range, never one number:

* the measured length is widened by ``length_error_m`` either side (the largest of two pixels of
  the scene's ground sample distance, 5 % of the length, and 5 m), and every class that interval
  touches counts;
* a full cargo is deadweight x cargo fraction x barrels per tonne: low uses the smallest class's low
  deadweight and the low factors, high the largest class's high deadweight and the high factors,
  central the class at the measured length with the middle of each;
* a tanker seen empty and later loaded has not always taken a whole cargo: the load states mean a
  draft in the lower ~30 % (ballast) and upper ~25 % (laden) of the ballast-to-laden range, so the
  cargo moved is between ``CARGO_SHARE_MOVED[0]`` and all of a full cargo, and the low, central and
  high figures are scaled by ``CARGO_SHARE_MOVED``. Smaller part cargoes do not show in imagery.

When both sightings carry the model's laden fraction (0 = ballast draft, 1 = laden draft, a median
with an interval), :func:`estimate_volume_from_fraction` replaces the share moved and the class's
whole deadweight range by what was measured:

* the share of a full cargo moved is the change in the central laden fraction; its interval
  combines the two sightings' intervals in quadrature (independent errors: the half-widths of a
  difference of two such estimates add as the root of their squares, not linearly);
* the full cargo is the deadweight at the measured length (the class's range at the length's
  relative position in its bounds, as the class table and the synthetic generator take every
  dimension), low and high at the length less and plus its error, with the low and high cargo
  factors.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ConfigError
from ..core.tanker_sizes import (
    BARRELS_PER_TONNE,
    CARGO_FRACTION,
    DEFAULT_CARGO,
    TANKER_CLASSES,
    cargo_barrels,
    class_for_length,
    deadweight_at,
)

MIN_LENGTH_ERROR_M = 5.0
LENGTH_ERROR_PIXELS = 2.0  # one pixel at each end of the hull
# A box holds the hull side seen off-nadir, which can lengthen it by a few percent.
LENGTH_ERROR_FRACTION = 0.05
# Share of a full cargo an empty -> loaded change moves: from the least (top of ballast, 0.3 of the
# draft range, to the bottom of laden, 0.75) through the typical to all of it.
CARGO_SHARE_MOVED = (0.45, 0.725, 1.0)


@dataclass(frozen=True)
class VolumeEstimate:
    """Barrels one loading or discharge of a tanker of ``length_m`` moves; ``classes`` names the classes
    the low..high range spans (the first is the class at the measured length). ``from_laden_fraction``:
    whether the share moved was measured (:func:`estimate_volume_from_fraction`) rather than assumed."""

    length_m: float
    size_class: str
    classes: tuple[str, ...]
    low: float
    central: float
    high: float
    from_laden_fraction: bool = False


def check_cargo(cargo: str) -> str:
    if cargo not in BARRELS_PER_TONNE:
        raise ConfigError(f"unknown cargo {cargo!r}; known: {', '.join(BARRELS_PER_TONNE)}")
    return cargo


def length_error_m(length_m: float, gsd_m: float | None) -> float:
    """How far a measured hull length may be off, in metres, at this ground sample distance."""
    pixels = 0.0 if gsd_m is None else LENGTH_ERROR_PIXELS * float(gsd_m)
    return max(MIN_LENGTH_ERROR_M, pixels, LENGTH_ERROR_FRACTION * float(length_m))


def estimate_volume(length_m: float, cargo: str = DEFAULT_CARGO, error_m: float = MIN_LENGTH_ERROR_M) -> VolumeEstimate:
    """Low / central / high barrels moved by one loading or discharge of a tanker ``length_m`` long."""
    check_cargo(cargo)
    at_length = class_for_length(length_m)
    shortest = class_for_length(max(0.0, length_m - error_m))
    longest = class_for_length(length_m + error_m)
    spanned = TANKER_CLASSES[TANKER_CLASSES.index(shortest):TANKER_CLASSES.index(longest) + 1]
    low = cargo_barrels(shortest.length_m[0], cargo)[0] * CARGO_SHARE_MOVED[0]
    high = cargo_barrels(longest.length_m[0], cargo)[2] * CARGO_SHARE_MOVED[2]
    central = cargo_barrels(length_m, cargo)[1] * CARGO_SHARE_MOVED[1]
    names = (at_length.name, *[c.name for c in spanned if c is not at_length])
    return VolumeEstimate(float(length_m), at_length.name, names, low, central, high)


def fraction_moved(before: tuple[float, float, float],
                   after: tuple[float, float, float]) -> tuple[float, float, float]:
    """Low / central / high share of a full cargo moved between two laden fractions ``(central, lo,
    hi)``, as a magnitude in [0, 1] (loading or discharge alike); see the module doc."""
    change = after[0] - before[0]
    below = ((after[0] - after[1]) ** 2 + (before[2] - before[0]) ** 2) ** 0.5
    above = ((after[2] - after[0]) ** 2 + (before[0] - before[1]) ** 2) ** 0.5
    low, high = change - below, change + above
    if change < 0:
        change, low, high = -change, -high, -low
    # high <= 1 already: each half-width is at most its fraction's distance to the bound.
    return max(low, 0.0), change, high


def estimate_volume_from_fraction(length_m: float, before: tuple[float, float, float],
                                  after: tuple[float, float, float], cargo: str = DEFAULT_CARGO,
                                  error_m: float = MIN_LENGTH_ERROR_M) -> VolumeEstimate:
    """Low / central / high barrels moved between a sighting at laden fraction ``before`` and one at
    ``after`` (each ``(central, lo, hi)``) of a tanker ``length_m`` long (see the module doc)."""
    check_cargo(cargo)
    bpt = BARRELS_PER_TONNE[cargo]
    share_low, share, share_high = fraction_moved(before, after)
    shortest, longest = max(0.0, length_m - error_m), length_m + error_m
    low = share_low * deadweight_at(shortest) * CARGO_FRACTION[0] * bpt[0]
    central = share * deadweight_at(length_m) * CARGO_FRACTION[1] * bpt[1]
    high = share_high * deadweight_at(longest) * CARGO_FRACTION[2] * bpt[2]
    at_length = class_for_length(length_m)
    spanned = TANKER_CLASSES[TANKER_CLASSES.index(class_for_length(shortest)):
                             TANKER_CLASSES.index(class_for_length(longest)) + 1]
    names = (at_length.name, *[c.name for c in spanned if c is not at_length])
    return VolumeEstimate(float(length_m), at_length.name, names, low, central, high, from_laden_fraction=True)


def assumptions_rows(cargo: str = DEFAULT_CARGO) -> list[list[str]]:
    """The class table as printed in the report: one row per class with a full cargo's barrels."""
    check_cargo(cargo)
    rows = []
    for cls in TANKER_CLASSES:
        low, central, high = cargo_barrels(cls.length_m[0], cargo)
        rows.append([cls.name, f"{cls.length_m[0]:.0f}-{cls.length_m[1]:.0f}",
                     f"{cls.dwt_t[0]:,.0f}-{cls.dwt_t[1]:,.0f}",
                     f"{low:,.0f}", f"{central:,.0f}", f"{high:,.0f}"])
    return rows


ASSUMPTIONS_HEADER = ["class", "length (m)", "deadweight (t)", "full cargo, barrels low", "central", "high"]


def assumptions_text(cargo: str = DEFAULT_CARGO) -> str:
    """One paragraph stating the factors behind every volume in the report."""
    bpt = BARRELS_PER_TONNE[check_cargo(cargo)]
    return (f"Cargo '{cargo}': {bpt[0]}-{bpt[2]} barrels per tonne (central {bpt[1]}); cargo is "
            f"{CARGO_FRACTION[0]:.3g}-{CARGO_FRACTION[2]:.3g} of deadweight (central {CARGO_FRACTION[1]:.3g}), "
            f"the rest being bunkers, stores and water. Size classes by length from the project's class table "
            f"(approximate typical values); a measured length is taken as uncertain by "
            f"{LENGTH_ERROR_PIXELS:.0f} pixels of the scene's GSD or {100 * LENGTH_ERROR_FRACTION:.0f} % of the "
            f"length (at least {MIN_LENGTH_ERROR_M:.0f} m), and every class that interval touches widens the range. A tanker seen empty, then loaded, has taken "
            f"{CARGO_SHARE_MOVED[0]:.2f} to {CARGO_SHARE_MOVED[2]:.2f} of a full cargo (central "
            f"{CARGO_SHARE_MOVED[1]:.3g}): the load states mean the lower ~30 % and upper ~25 % of the ballast-to-"
            f"laden draft range; smaller part cargoes, and cargoes limited by tank volume (light products), "
            f"are not visible. Where both sightings carry the model's laden fraction (0 ballast draft, 1 laden), "
            f"the share moved is its change instead, the two intervals combined in quadrature, and the full cargo "
            f"the deadweight at the measured length (the class's range at the length's place in its bounds).")
