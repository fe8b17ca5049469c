"""DOTA v1 labels: ``labelTxt/<stem>.txt`` beside ``images/``.

Optional header lines ``imagesource:NAME`` and ``gsd:METRES`` (``null`` when unknown), then one
object per line: ``x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]``, corners in pixels of the image
(GDAL frame: x = column, y = row, origin at the top-left corner). A quad need not be a rectangle:
its box is the minimum-area rectangle of the four points. Written corners follow the project's
order (clockwise on screen, starting at the bow end when the heading is known).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.atomic import atomic_write_text
from ..core.boxes import min_area_box
from ..core.labels import LabelledImage
from ..runtime.raster import RasterInfo
from .dataset import ReadContext, parse_number, read_label_text, read_per_image_labels

LABEL_DIR = "labelTxt"
SUFFIX = ".txt"
SOURCE_NAME = "tankerwatch"


def read_split(split: Path, ctx: ReadContext) -> list[LabelledImage]:
    return read_per_image_labels(split, LABEL_DIR, SUFFIX, ctx, _parse_file)


def _parse_file(path: Path, image: LabelledImage, info: RasterInfo, ctx: ReadContext) -> None:
    text = read_label_text(path, ctx)
    if text is not None:
        parse_text(text, path, image, ctx, georeferenced=info.georeferenced)


def parse_text(text: str, path, image: LabelledImage, ctx: ReadContext, georeferenced: bool = False) -> None:
    """Add the vessels of DOTA label ``text`` (read from ``path``) to ``image``; log problems in ``ctx``.

    A ``gsd:`` header sets the image's GSD unless the image is georeferenced (then its geodesic
    ground GSD stands).
    """
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{path}:{number}"
        if not line:
            continue
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "imagesource":
            continue
        if sep and key.strip().lower() == "gsd":
            value = value.strip()
            if value.lower() in ("", "null", "none"):
                continue
            try:
                gsd = parse_number(value)
            except ValueError:
                gsd = -1.0
            if gsd <= 0:
                ctx.error(f"{where}: gsd {value!r} is not a positive number of metres")
            elif not georeferenced:
                image.gsd_m = gsd
            continue
        fields = line.split()
        if len(fields) not in (9, 10):
            ctx.error(f"{where}: expected 'x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]', got {len(fields)} "
                      f"field{'s' * (len(fields) != 1)}")
            continue
        try:
            corners = np.array([parse_number(v) for v in fields[:8]]).reshape(4, 2)
        except ValueError:
            ctx.error(f"{where}: corner coordinates must be 8 finite numbers, got {' '.join(fields[:8])!r}")
            continue
        difficult = fields[9] if len(fields) == 10 else "0"
        if difficult not in ("0", "1"):
            ctx.error(f"{where}: difficult flag must be 0 or 1, got {difficult!r}")
            continue
        classes = ctx.lookup(fields[8], where)
        if classes is not None:
            ctx.add_vessel(image, min_area_box(corners), classes, where, difficult=difficult == "1")


def format_text(image: LabelledImage) -> str:
    gsd = "null" if image.gsd_m is None else f"{image.gsd_m:.6g}"
    lines = [f"imagesource:{SOURCE_NAME}", f"gsd:{gsd}"]
    for vessel in image.vessels:
        coords = " ".join(f"{c:.3f}" for c in vessel.corners().reshape(-1))
        lines.append(f"{coords} {vessel.class_name} {int(vessel.difficult)}")
    return "\n".join(lines) + "\n"


def write_split(images: list[LabelledImage], out_dir: Path, class_names: tuple[str, ...]) -> None:
    for image in images:
        atomic_write_text(out_dir / LABEL_DIR / f"{Path(image.image_path).stem}{SUFFIX}", format_text(image))
