"""The quick-look picture of a scene: the decimated image with every detection outlined by class.

Empty (in ballast) and loaded (laden) tankers get distinct colours that stay apart for colour-blind
readers (blue / orange), uncertain tankers yellow, other vessels grey, with a legend giving the
count of each. Vessels of unknown type (from a model not taught types) are cyan, and a picture that
has any lists only the classes it shows, so it claims no tanker count its model could not make.
Boxes are drawn from ``box_px`` (source-raster pixels) scaled to the picture.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..core.atomic import atomic_write_bytes
from ..core.boxes import box_corners

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


def write_quicklook(path, image: np.ndarray, boxes_px: np.ndarray, classes: list[str], scale: float,
                    title: str = "") -> None:
    """Render (see :func:`render_quicklook`) and write the PNG atomically."""
    atomic_write_bytes(path, render_quicklook(image, boxes_px, classes, scale, title))
