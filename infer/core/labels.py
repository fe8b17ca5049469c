"""The one in-memory model of a labelled image, shared by every format, the generator and training.

Boxes follow :mod:`tankerwatch.infer.core.boxes`: ``(cx, cy, length, width, angle)`` in pixels of
the image's own frame (x = column, y = row, origin at the top-left corner of the top-left pixel),
``length >= width``, ``angle`` of the long axis from +x towards +y in ``[-pi/2, pi/2)``.

A vessel has a type (tanker / other / unknown) and a load state (empty / loaded / unknown). Real
datasets often say only "ship": that is ``type=unknown, load=unknown``, which teaches detection and
nothing about type or load. Load state is defined for tankers only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from .boxes import box_corners, normalize_boxes
from .errors import LabelError


class VesselType(str, Enum):
    TANKER = "tanker"
    OTHER = "other"
    UNKNOWN = "unknown"


class LoadState(str, Enum):
    EMPTY = "empty"
    LOADED = "loaded"
    UNKNOWN = "unknown"


# Model output order, fixed by the ONNX contract.
TYPE_NAMES = ("tanker", "other")
LOAD_NAMES = ("empty", "loaded")

ClassMap = Mapping[str, tuple[VesselType, LoadState]]

DEFAULT_CLASS_MAP: dict[str, tuple[VesselType, LoadState]] = {
    "tanker_empty": (VesselType.TANKER, LoadState.EMPTY),
    "tanker_loaded": (VesselType.TANKER, LoadState.LOADED),
    "tanker": (VesselType.TANKER, LoadState.UNKNOWN),
    "other": (VesselType.OTHER, LoadState.UNKNOWN),
    "ship": (VesselType.UNKNOWN, LoadState.UNKNOWN),
}


def parse_class_map(raw: Mapping[str, str]) -> dict[str, tuple[VesselType, LoadState]]:
    """Build a class map from config form ``{name: "type/load"}``, e.g. ``{"ship": "unknown/unknown"}``.

    A value may also name one of the project's own class strings (``tanker_empty``, ...).
    """
    out = {}
    for name, target in raw.items():
        if target in DEFAULT_CLASS_MAP:
            out[str(name)] = DEFAULT_CLASS_MAP[target]
            continue
        try:
            type_str, load_str = str(target).split("/")
            out[str(name)] = (VesselType(type_str), LoadState(load_str))
        except ValueError:
            raise LabelError(
                f"class map entry {name!r}: {target!r} is neither 'type/load' "
                f"(types {[t.value for t in VesselType]}, loads {[s.value for s in LoadState]}) "
                f"nor one of {sorted(DEFAULT_CLASS_MAP)}"
            ) from None
    return out


def class_name(vessel_type: VesselType, load: LoadState) -> str:
    """The project's class string for a (type, load) pair, the inverse of DEFAULT_CLASS_MAP."""
    if vessel_type is VesselType.TANKER:
        return {LoadState.EMPTY: "tanker_empty", LoadState.LOADED: "tanker_loaded"}.get(load, "tanker")
    return "other" if vessel_type is VesselType.OTHER else "ship"


# What a hull's shadow lies on: the water (its width tells the freeboard), a quay, jetty or shore
# standing above the water, or another hull (it does not).
SHADOW_SURFACES = ("water", "structure", "vessel")
ANGLE_KEYS = ("sun_elevation_deg", "sun_azimuth_deg", "view_zenith_deg", "view_azimuth_deg")


@dataclass
class Vessel:
    """One labelled vessel.

    ``box``: ``[cx, cy, length, width, angle]`` (pixels, radians; canonicalised on construction).
    ``heading``: bow direction in ``[0, 2 pi)`` radians in the pixel frame, or None if unknown.
    ``draft_fraction``: 0 = ballast draft, 1 = laden draft (synthetic truth only).
    ``shadow_width_m`` / ``side_strip_m``: the widths (metres, across the hull) of its shadow on the
    water and of its visible hull side as drawn (synthetic truth only; what the load stage learns to
    measure, ``docs/physics.md``).
    ``shadow_surface``: what the shadow beside its midbody lies on, one of :data:`SHADOW_SURFACES`
    (synthetic truth only; off the water the shadow's width does not tell the freeboard).
    """

    box: np.ndarray
    vessel_type: VesselType = VesselType.UNKNOWN
    load: LoadState = LoadState.UNKNOWN
    heading: float | None = None
    difficult: bool = False
    vessel_id: str | None = None
    draft_fraction: float | None = None
    shadow_width_m: float | None = None
    side_strip_m: float | None = None
    shadow_surface: str | None = None

    def __post_init__(self):
        if self.shadow_surface is not None and self.shadow_surface not in SHADOW_SURFACES:
            raise LabelError(f"shadow_surface must be one of {', '.join(SHADOW_SURFACES)}, got {self.shadow_surface!r}")
        self.vessel_type = VesselType(self.vessel_type)
        self.load = LoadState(self.load)
        box = np.asarray(self.box, dtype=np.float64).reshape(-1)
        if box.shape != (5,) or not np.all(np.isfinite(box)):
            raise LabelError(f"box must be 5 finite numbers, got {box.tolist()}")
        if self.load is not LoadState.UNKNOWN and self.vessel_type is not VesselType.TANKER:
            raise LabelError(f"load state {self.load.value!r} given for a vessel of type "
                             f"{self.vessel_type.value!r}; load state is defined for tankers only")
        if self.heading is not None:
            self.heading = float(np.mod(self.heading, 2 * math.pi))
        self.box = normalize_boxes(box)
        if self.heading is not None:
            # Keep the angle pointing at the bow, so the first corner is at the bow end.
            self.box[4] = float(np.mod(self.heading + math.pi / 2, math.pi) - math.pi / 2)

    def corners(self) -> np.ndarray:
        """Corners ``[4, 2]`` in the project's order, starting at the bow end when the heading is known."""
        box = self.box.copy()
        if self.heading is not None:
            box[4] = self.heading
        return box_corners(box)

    @property
    def class_name(self) -> str:
        return class_name(self.vessel_type, self.load)


@dataclass
class LabelledImage:
    """An image file and its vessels. ``gsd_m`` is ground metres per pixel, or None if unknown.
    ``angles``: the sun and view angles, degrees, keys :data:`ANGLE_KEYS` (azimuths clockwise from
    the image's up direction, the view azimuth from the ground towards the sensor), or None if
    unknown."""

    image_path: Path
    width: int | None = None
    height: int | None = None
    gsd_m: float | None = None
    vessels: list[Vessel] = field(default_factory=list)
    angles: dict[str, float] | None = None

    def boxes(self) -> np.ndarray:
        """All boxes as ``[N, 5]`` float64."""
        if not self.vessels:
            return np.zeros((0, 5))
        return np.stack([v.box for v in self.vessels])
