"""Oil moved: a tanker's measured length -> size class -> deadweight -> barrels, as a range.

Everything comes from the one class table, :mod:`tankerwatch.infer.tanker_classes`. Length is a
weak predictor of deadweight within a class, and a measured length carries an error of about a
pixel at each end, so a volume is a low / central / high range, never one number:

* the measured length is widened by ``length_error_m`` either side (by default two pixels of the
  scene's ground sample distance, at least 5 m), and every class that interval touches counts;
* low = the smallest class's low deadweight x low cargo fraction x low barrels per tonne;
  high = the largest class's high deadweight x high fraction x high barrels per tonne;
* central = the class at the measured length, mid deadweight x mid fraction x mid barrels per tonne.

A loading event moves one full cargo (ballast to laden); part cargoes are not visible in imagery.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError
from .tanker_classes import (
    BARRELS_PER_TONNE,
    CARGO_FRACTION,
    DEFAULT_CARGO,
    TANKER_CLASSES,
    cargo_barrels,
    class_for_length,
)

MIN_LENGTH_ERROR_M = 5.0
LENGTH_ERROR_PIXELS = 2.0  # one pixel at each end of the hull


@dataclass(frozen=True)
class VolumeEstimate:
    """Barrels one full cargo of a tanker of ``length_m`` holds; ``classes`` names the classes
    the low..high range spans (the first is the class at the measured length)."""

    length_m: float
    size_class: str
    classes: tuple[str, ...]
    low: float
    central: float
    high: float


def check_cargo(cargo: str) -> str:
    if cargo not in BARRELS_PER_TONNE:
        raise ConfigError(f"unknown cargo {cargo!r}; known: {', '.join(BARRELS_PER_TONNE)}")
    return cargo


def length_error_m(gsd_m: float | None) -> float:
    """How far a measured hull length may be off, in metres, at this ground sample distance."""
    if gsd_m is None:
        return MIN_LENGTH_ERROR_M
    return max(MIN_LENGTH_ERROR_M, LENGTH_ERROR_PIXELS * float(gsd_m))


def estimate_volume(length_m: float, cargo: str = DEFAULT_CARGO, error_m: float = MIN_LENGTH_ERROR_M) -> VolumeEstimate:
    """Low / central / high barrels of one full cargo for a tanker measured ``length_m`` long."""
    check_cargo(cargo)
    at_length = class_for_length(length_m)
    shortest = class_for_length(max(0.0, length_m - error_m))
    longest = class_for_length(length_m + error_m)
    spanned = TANKER_CLASSES[TANKER_CLASSES.index(shortest):TANKER_CLASSES.index(longest) + 1]
    low = cargo_barrels(shortest.length_m[0], cargo)[0]
    high = cargo_barrels(longest.length_m[0], cargo)[2]
    central = cargo_barrels(length_m, cargo)[1]
    names = (at_length.name, *[c.name for c in spanned if c is not at_length])
    return VolumeEstimate(float(length_m), at_length.name, names, low, central, high)


def assumptions_rows(cargo: str = DEFAULT_CARGO) -> list[list[str]]:
    """The class table as printed in the report: one row per class with its barrels range."""
    check_cargo(cargo)
    rows = []
    for cls in TANKER_CLASSES:
        low, central, high = cargo_barrels(cls.length_m[0], cargo)
        rows.append([cls.name, f"{cls.length_m[0]:.0f}-{cls.length_m[1]:.0f}",
                     f"{cls.dwt_t[0]:,.0f}-{cls.dwt_t[1]:,.0f}",
                     f"{low:,.0f}", f"{central:,.0f}", f"{high:,.0f}"])
    return rows


ASSUMPTIONS_HEADER = ["class", "length (m)", "deadweight (t)", "barrels low", "barrels central", "barrels high"]


def assumptions_text(cargo: str = DEFAULT_CARGO) -> str:
    """One paragraph stating the factors behind every volume in the report."""
    bpt = BARRELS_PER_TONNE[check_cargo(cargo)]
    return (f"Cargo '{cargo}': {bpt[0]}-{bpt[2]} barrels per tonne (central {bpt[1]}); cargo is "
            f"{CARGO_FRACTION[0]:.3g}-{CARGO_FRACTION[2]:.3g} of deadweight (central {CARGO_FRACTION[1]:.3g}), "
            f"the rest being bunkers, stores and water. Size classes by length from the project's class table "
            f"(approximate typical values); a measured length is taken as uncertain by "
            f"{LENGTH_ERROR_PIXELS:.0f} pixels of the scene's GSD (at least {MIN_LENGTH_ERROR_M:.0f} m), and every "
            f"class that interval touches widens the range. Each loading event counts one full cargo; "
            f"part cargoes and cargoes limited by tank volume (light products) are not visible.")
