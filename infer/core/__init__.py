"""The shared core every other part builds on: no I/O beyond small files, no model.

- :mod:`.errors`: the one error base class and the exit codes.
- :mod:`.atomic`: outputs written through a temporary file and a rename.
- :mod:`.json_file`: size-capped JSON reading with located errors.
- :mod:`.boxes`: oriented boxes ``(cx, cy, length, width, angle)`` in pixels, corners, rotated IoU and NMS.
- :mod:`.georef`: pixels to map and lon/lat, geodesic ground GSD, lengths and headings.
- :mod:`.labels`: the label model (vessel type, load state, vessels, labelled images, class maps).
- :mod:`.timestamps`: acquisition times normalised to UTC.
- :mod:`.tanker_sizes`: the tanker size-class table (lengths, drafts, deadweight, cargo).
"""

from .atomic import atomic_path, atomic_write_bytes, atomic_write_text
from .boxes import (
    box_corners,
    box_from_corners,
    mask_to_box,
    min_area_box,
    normalize_boxes,
    paired_rotated_iou,
    rotated_iou,
    rotated_nms,
)
from .errors import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_SOME_FAILED,
    ConfigError,
    LabelError,
    ModelError,
    RasterError,
    TankerwatchError,
    first_line,
    located,
)
from .georef import WGS84, box_size_m, ground_gsd_m, heading_deg, lonlat_to_pixels, pixels_to_lonlat
from .json_file import read_json
from .labels import DEFAULT_CLASS_MAP, LOAD_NAMES, TYPE_NAMES, LabelledImage, LoadState, Vessel, VesselType
from .tanker_sizes import TANKER_CLASSES, TankerClass, cargo_barrels, class_for_length
from .timestamps import normalise_utc

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "ConfigError",
    "LabelError",
    "first_line",
    "located",
    "ModelError",
    "RasterError",
    "TankerwatchError",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "read_json",
    "box_corners",
    "box_from_corners",
    "mask_to_box",
    "min_area_box",
    "normalize_boxes",
    "paired_rotated_iou",
    "rotated_iou",
    "rotated_nms",
    "WGS84",
    "box_size_m",
    "ground_gsd_m",
    "heading_deg",
    "lonlat_to_pixels",
    "pixels_to_lonlat",
    "DEFAULT_CLASS_MAP",
    "LOAD_NAMES",
    "TYPE_NAMES",
    "LabelledImage",
    "LoadState",
    "Vessel",
    "VesselType",
    "TANKER_CLASSES",
    "cargo_barrels",
    "class_for_length",
    "TankerClass",
    "normalise_utc",
]
