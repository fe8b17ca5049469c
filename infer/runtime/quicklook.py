"""The quick-look picture of a scene: the decimated image with every detection outlined by class.

Empty (in ballast) and loaded (laden) tankers get distinct colours that stay apart for colour-blind
readers (blue / orange), uncertain tankers yellow, other vessels grey, with a legend giving the
count of each. Vessels of unknown type (from a model not taught types) are cyan, and a picture that
has any lists only the classes it shows, so it claims no tanker count its model could not make.
Boxes are drawn from ``box_px`` (source-raster pixels) scaled to the picture.

A quick-look of a georeferenced scene is georeferenced too, so a GIS (QGIS, GDAL, rasterio) lays it
over the map where the scene lies: a world file ``<stem>.quicklook.pgw`` (the picture's pixel-to-map
transform in the scene's CRS; GDAL reads it for a PNG) and a GDAL PAM sidecar
``<stem>.quicklook.png.aux.xml`` holding that CRS, which a world file cannot. The picture covers the
whole scene, so its transform is the scene's scaled by the decimation in x and in y separately
(their sizes are rounded up independently). A scene without georeferencing gets neither file: it
has no map position to give, and a world file left over from an earlier run is removed so the
picture is not placed by a stale one.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np
from affine import Affine
from PIL import Image, ImageDraw, ImageFont
from pyproj import CRS

from ..core.atomic import atomic_write_bytes, atomic_write_text
from ..core.boxes import box_corners
from ..core.georef import pixels_to_map

# (label in the legend, RGB)
CLASS_STYLE = {
    "empty": ("tanker, empty (ballast)", (40, 150, 255)),
    "loaded": ("tanker, loaded (laden)", (255, 120, 0)),
    "uncertain": ("tanker, load uncertain", (255, 230, 0)),
    "other": ("other vessel", (200, 200, 200)),
    "vessel": ("vessel, type not taught", (0, 220, 220)),
}
MIN_OUTLINE_PX = 6  # a vessel smaller than this in the picture gets a marker ring instead


def detection_class(vessel_type: str, load: str) -> str:
    """Quick-look class of a detection: its load state for tankers (``uncertain`` when its model was
    not taught load), ``vessel`` for type ``unknown``, ``other`` otherwise."""
    if vessel_type == "tanker":
        return load if load in ("empty", "loaded") else "uncertain"
    return "vessel" if vessel_type == "unknown" else "other"


def render_quicklook(image: np.ndarray, boxes_px: np.ndarray, classes: list[str], scale: float,
                     title: str = "") -> bytes:
    """PNG bytes of ``image`` (uint8 ``[C, h, w]``: 1 band is grey, 3+ use the first three as RGB)
    with boxes ``[N, 5]`` in source pixels drawn at ``scale`` (picture px per source px)."""
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(f"quick-look image must be uint8 [C, H, W], got {image.dtype} {image.shape}")
    rgb = np.repeat(image[:1], 3, axis=0) if image.shape[0] < 3 else image[:3]
    picture = Image.fromarray(np.ascontiguousarray(rgb.transpose(1, 2, 0)), "RGB")
    draw = ImageDraw.Draw(picture)
    line = max(1, round(min(picture.size) / 600))
    boxes = np.asarray(boxes_px, dtype=np.float64).reshape(-1, 5)
    for box, cls in zip(boxes, classes, strict=True):
        colour = CLASS_STYLE[cls][1]
        corners = box_corners(box) * scale
        if box[2] * scale < MIN_OUTLINE_PX:
            cx, cy, r = box[0] * scale, box[1] * scale, MIN_OUTLINE_PX
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=colour, width=line)
        else:
            draw.polygon([tuple(p) for p in corners], outline=colour, width=line)
    _legend(draw, picture.size, classes, title)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _legend(draw: ImageDraw.ImageDraw, size: tuple[int, int], classes: list[str], title: str) -> None:
    font_size = max(10, min(size) // 50)
    font = ImageFont.load_default(size=font_size)
    counts = {cls: classes.count(cls) for cls in CLASS_STYLE}
    untyped = counts["vessel"] > 0
    lines = ([(title, None)] if title else []) + [
        (f"{label}: {counts[cls]}", colour) for cls, (label, colour) in CLASS_STYLE.items()
        if (counts[cls] > 0 if untyped else cls != "vessel")]
    pad, swatch, step = font_size // 2, font_size, round(font_size * 1.4)
    text_width = max(draw.textlength(text, font=font) for text, _ in lines)
    box_w = int(pad * 3 + swatch + text_width)
    box_h = int(pad * 2 + step * len(lines))
    draw.rectangle([0, 0, box_w, box_h], fill=(0, 0, 0))
    for row, (text, colour) in enumerate(lines):
        y = pad + row * step
        if colour is not None:
            draw.rectangle([pad, y + 2, pad + swatch, y + swatch - 2], outline=colour, width=2)
        draw.text((pad * 2 + swatch, y), text, fill=(255, 255, 255), font=font)


def picture_transform(source_transform: Affine, source_size: tuple[int, int],
                      picture_size: tuple[int, int]) -> Affine:
    """Pixel-to-map transform of a picture of the whole scene: ``source_size`` and ``picture_size``
    are ``(width, height)`` in pixels; each picture pixel spans ``source/picture`` scene pixels."""
    return source_transform @ Affine.scale(source_size[0] / picture_size[0], source_size[1] / picture_size[1])


def world_file_text(transform: Affine) -> str:
    """The six lines of an ESRI world file: x and y pixel size and rotation terms, then the map
    position of the *centre* of the top-left pixel (GDAL's transform gives its corner)."""
    a, b, _, d, e, _ = transform[:6]
    centre_x, centre_y = pixels_to_map(transform, [(0.5, 0.5)])[0]
    return "".join(f"{float(v)!r}\n" for v in (a, d, b, e, centre_x, centre_y))  # shortest exact decimal


def pam_text(crs) -> str:
    """A GDAL PAM ``.aux.xml`` giving the CRS. Axis mapping: data x/y are easting/northing (or
    lon/lat) whatever axis order the CRS's definition lists, as in GDAL's traditional GIS order."""
    crs = CRS.from_user_input(crs)
    northing_first = bool(crs.axis_info) and crs.axis_info[0].direction in ("north", "south")
    mapping = "2,1" if northing_first else "1,2"
    return (f'<PAMDataset>\n  <SRS dataAxisToSRSAxisMapping="{mapping}">{html.escape(crs.to_wkt())}</SRS>\n'
            f"</PAMDataset>\n")


def sidecar_paths(path) -> tuple[Path, Path]:
    """The world file and the PAM sidecar of the PNG at ``path``."""
    path = Path(path)
    return path.with_suffix(".pgw"), path.with_name(path.name + ".aux.xml")


def write_quicklook(path, image: np.ndarray, boxes_px: np.ndarray, classes: list[str], scale: float,
                    title: str = "", *, crs=None, source_transform: Affine | None = None,
                    source_size: tuple[int, int] | None = None) -> None:
    """Render (see :func:`render_quicklook`) and write the PNG atomically; with the scene's ``crs``,
    ``source_transform`` and ``source_size`` (``(width, height)``), also its world file and PAM
    sidecar (see module doc), written before the PNG so a picture never appears unplaced."""
    world_path, pam_path = sidecar_paths(path)
    if crs is not None and source_transform is not None and source_size is not None:
        transform = picture_transform(source_transform, source_size, (image.shape[2], image.shape[1]))
        atomic_write_text(world_path, world_file_text(transform))
        atomic_write_text(pam_path, pam_text(crs))
    else:
        world_path.unlink(missing_ok=True)
        pam_path.unlink(missing_ok=True)
    atomic_write_bytes(path, render_quicklook(image, boxes_px, classes, scale, title))
