"""COCO JSON labels: ``annotations.json`` beside ``images/`` (or any ``.json`` given as the dataset).

Images: ``id``, ``file_name`` (relative to the json's folder), ``width``, ``height`` (must match the
file), optional ``gsd_m`` and the angles of ``labels.ANGLE_KEYS`` (degrees, all four or none). Each annotation's oriented box comes from, in order of preference:

* ``segmentation`` as RLE (``counts`` a list of run lengths, or compressed as a string; decoded by
  pycocotools): the minimum-area rectangle of the mask's pixel squares, so it contains every pixel;
* ``segmentation`` as polygons (``[[x1, y1, x2, y2, ...], ...]``): minimum-area rectangle of all
  vertices;
* ``bbox`` ``[x, y, w, h]``: the axis-aligned box.

``iscrowd: 1`` or ``difficult: 1`` marks the vessel difficult. Optional extras this project writes and
reads: ``heading`` (bow direction, radians, pixel frame), ``vessel_id``, ``draft_fraction``,
``shadow_width_m``, ``side_strip_m``, ``shadow_surface``.
Category names go through the class map. Writing stores each box as its 4-corner polygon.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from ..core.atomic import atomic_write_text
from ..core.boxes import mask_to_box, min_area_box, normalize_boxes
from ..core.errors import located
from ..core.labels import ANGLE_KEYS, SHADOW_SURFACES, LabelledImage
from .dataset import ReadContext, is_number, read_label_text

ANNOTATIONS = "annotations.json"
CUE_WIDTH_KEYS = ("shadow_width_m", "side_strip_m")


def read_split(split: Path, ctx: ReadContext) -> list[LabelledImage]:
    path = split if split.is_file() else split / ANNOTATIONS
    if not path.is_file():
        ctx.error(located(path, "no such COCO annotations file"))
        return []
    text = read_label_text(path, ctx)
    return [] if text is None else parse_text(text, path, ctx)


def parse_text(text: str, path, ctx: ReadContext, check_files: bool = True) -> list[LabelledImage]:
    """Images and vessels of COCO json ``text`` read from ``path``; problems are logged in ``ctx``.

    ``check_files=False`` trusts the json's image sizes without opening the images (for tests).
    """
    path = Path(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        ctx.error(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})")
        return []
    except RecursionError:
        ctx.error(located(path, "JSON nested too deeply"))
        return []
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations")):
        ctx.error(located(path, "not a COCO file: needs 'images' and 'annotations' lists"))
        return []
    categories = _categories(data.get("categories"), path, ctx)
    images = _images(data["images"], path, ctx, check_files)
    for index, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            ctx.error(located(path, f"annotation #{index} is not an object"))
            continue
        where = located(path, f"annotation id {ann.get('id', f'#{index}')}")
        image = images.get(_key(ann.get("image_id")))
        if image is None:
            if _key(ann.get("image_id")) not in images.skipped:
                ctx.error(f"{where}: image_id {ann.get('image_id')!r} is not among the images")
            continue
        category = categories.get(_key(ann.get("category_id")))
        if category is None:
            if _key(ann.get("category_id")) not in categories.skipped:
                ctx.error(f"{where}: category_id {ann.get('category_id')!r} is not among the categories")
            continue
        box = _box(ann, image, where, ctx)
        if box is None:
            continue
        attributes = _attributes(ann, where, ctx)
        if attributes is not None:
            ctx.add_vessel(image, box, category, where, **attributes)
    return list(images.values())


class _Table(dict):
    """Entries by id, remembering the ids that were present but unusable (already reported)."""

    def __init__(self):
        super().__init__()
        self.skipped = set()


def _key(value):
    """Ids compare as given, but never let an unhashable id (a list) crash a lookup."""
    return value if isinstance(value, (int, str)) and not isinstance(value, bool) else repr(value)


def _categories(raw, path, ctx: ReadContext) -> _Table:
    table = _Table()
    if not isinstance(raw, list):
        ctx.error(located(path, "not a COCO file: needs a 'categories' list"))
        return table
    for index, cat in enumerate(raw):
        if not isinstance(cat, dict) or not isinstance(cat.get("name"), str) or "id" not in cat:
            ctx.error(located(path, f"category #{index} needs an 'id' and a 'name'"))
            continue
        classes = ctx.lookup(cat["name"], located(path, f"category id {cat['id']!r}"))
        if classes is None:
            table.skipped.add(_key(cat["id"]))
        else:
            table[_key(cat["id"])] = classes
    return table


def _images(raw: list, path: Path, ctx: ReadContext, check_files: bool) -> _Table:
    table = _Table()
    for index, entry in enumerate(raw):
        where = located(path, f"image #{index}")
        if not isinstance(entry, dict):
            ctx.error(f"{where}: not an object")
            continue
        key = _key(entry.get("id"))
        file_name, width, height = entry.get("file_name"), entry.get("width"), entry.get("height")
        if key in table or key in table.skipped:
            ctx.error(f"{where}: duplicate image id {entry.get('id')!r}")
            continue
        table.skipped.add(key)
        if not isinstance(file_name, str) or not file_name:
            ctx.error(f"{where}: needs a 'file_name'")
            continue
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
            ctx.error(f"{where} ({file_name}): width and height must be positive whole numbers, "
                      f"got {width!r} x {height!r}")
            continue
        gsd = entry.get("gsd_m")
        if gsd is not None and not (isinstance(gsd, (int, float)) and not isinstance(gsd, bool)
                                    and math.isfinite(gsd) and gsd > 0):
            ctx.error(f"{where} ({file_name}): gsd_m must be a positive number of metres, got {gsd!r}")
            continue
        angles, problem = _angles(entry)
        if problem:
            ctx.error(f"{where} ({file_name}): {problem}")
            continue
        image_path = path.parent / file_name
        if check_files:
            info = ctx.image_info(image_path)
            if info is None:
                continue
            if (info.width, info.height) != (width, height):
                ctx.error(located(image_path, f"COCO size mismatch: {path.name} says {width} x {height}, "
                                              f"the file is {info.width} x {info.height}"))
                continue
            gsd = info.gsd_m if info.gsd_m is not None else gsd
        table.skipped.discard(key)
        table[key] = LabelledImage(image_path, width, height, None if gsd is None else float(gsd), [], angles)
    return table


# Valid range of each angle (degrees): the sun above the horizon, a view off nadir by less than 90.
ANGLE_RANGES = {"sun_elevation_deg": (0.0, 90.0), "sun_azimuth_deg": (0.0, 360.0),
                "view_zenith_deg": (0.0, 90.0), "view_azimuth_deg": (0.0, 360.0)}


def _angles(entry: dict) -> tuple[dict[str, float] | None, str | None]:
    """An image entry's angles (all of ``ANGLE_KEYS`` or none) and, when they are unusable, why."""
    given = {k: entry[k] for k in ANGLE_KEYS if entry.get(k) is not None}
    if not given:
        return None, None
    if len(given) < len(ANGLE_KEYS):
        return None, f"angles need all of {', '.join(ANGLE_KEYS)}; missing {', '.join(k for k in ANGLE_KEYS if k not in given)}"
    for key, value in given.items():
        low, high = ANGLE_RANGES[key]
        if not (is_number(value) and math.isfinite(value) and low <= value <= high):
            return None, f"{key} must be a number of degrees in [{low:g}, {high:g}], got {value!r}"
    return {k: float(v) for k, v in given.items()}, None


def _box(ann: dict, image: LabelledImage, where: str, ctx: ReadContext) -> np.ndarray | None:
    seg = ann.get("segmentation")
    if isinstance(seg, dict):
        return _rle_box(seg, image, where, ctx)
    if isinstance(seg, list) and seg:
        points = []
        for polygon in seg:
            if not (isinstance(polygon, list) and len(polygon) >= 6 and len(polygon) % 2 == 0
                    and all(is_number(v) for v in polygon)):
                ctx.error(f"{where}: each segmentation polygon must be an even list of >= 6 numbers")
                return None
            points.extend(polygon)
        if not all(math.isfinite(v) for v in points):
            ctx.error(f"{where}: segmentation coordinates are not finite numbers")
            return None
        return min_area_box(np.asarray(points, dtype=np.float64).reshape(-1, 2))
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(is_number(v) for v in bbox)):
        ctx.error(f"{where}: needs a 'segmentation' or a 'bbox' [x, y, w, h]")
        return None
    x, y, w, h = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        ctx.error(f"{where}: bbox coordinates are not finite numbers")
        return None
    return normalize_boxes([x + w / 2, y + h / 2, abs(w), abs(h), 0.0])


def _rle_box(seg: dict, image: LabelledImage, where: str, ctx: ReadContext) -> np.ndarray | None:
    size, counts = seg.get("size"), seg.get("counts")
    if size != [image.height, image.width]:
        ctx.error(f"{where}: RLE size {size!r} does not match the image's [height, width] "
                  f"[{image.height}, {image.width}]")
        return None
    if isinstance(counts, list):
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            ctx.error(f"{where}: uncompressed RLE counts must be non-negative whole numbers")
            return None
        if sum(counts) != image.height * image.width:
            ctx.error(f"{where}: RLE counts sum to {sum(counts)}, not height x width = "
                      f"{image.height * image.width}")
            return None
        rle = mask_utils.frPyObjects({"size": size, "counts": counts}, *size)
    elif isinstance(counts, str):
        rle = {"size": size, "counts": counts.encode("ascii", "replace")}
    else:
        ctx.error(f"{where}: RLE counts must be a list of run lengths or a compressed string")
        return None
    try:
        with warnings.catch_warnings():
            # pycocotools' compiled decode trips numpy 2's copy-keyword deprecation; harmless here.
            warnings.simplefilter("ignore", DeprecationWarning)
            mask = mask_utils.decode(rle)
    except (ValueError, TypeError) as exc:
        ctx.error(f"{where}: invalid RLE mask ({exc})")
        return None
    if not mask.any():
        ctx.error(f"{where}: zero-area box (empty mask)")
        return None
    return mask_to_box(mask.astype(bool))


def _attributes(ann: dict, where: str, ctx: ReadContext) -> dict | None:
    numbers = {name: ann.get(name) for name in ("heading", "draft_fraction", *CUE_WIDTH_KEYS)}
    for name, value in numbers.items():
        if value is not None and not (is_number(value) and math.isfinite(value)):
            ctx.error(f"{where}: {name} must be a finite number, got {value!r}")
            return None
    for name in CUE_WIDTH_KEYS:
        if numbers[name] is not None and numbers[name] < 0:
            ctx.error(f"{where}: {name} must be >= 0 metres, got {numbers[name]!r}")
            return None
    surface = ann.get("shadow_surface")
    if surface is not None and surface not in SHADOW_SURFACES:
        ctx.error(f"{where}: shadow_surface must be one of {', '.join(SHADOW_SURFACES)}, got {surface!r}")
        return None
    vessel_id = ann.get("vessel_id")
    return {**{name: None if value is None else float(value) for name, value in numbers.items()},
            "shadow_surface": surface,
            "difficult": bool(ann.get("iscrowd")) or bool(ann.get("difficult")),
            "vessel_id": None if vessel_id is None else str(vessel_id)}


def to_coco(images: list[LabelledImage], base: Path, class_names: tuple[str, ...]) -> dict:
    """The COCO dict of ``images`` with file names relative to ``base`` (the json's folder)."""
    out_images, annotations = [], []
    for image_id, image in enumerate(images, start=1):
        entry = {"id": image_id, "file_name": Path(image.image_path).relative_to(base).as_posix(),
                 "width": image.width, "height": image.height}
        if image.gsd_m is not None:
            entry["gsd_m"] = image.gsd_m
        entry.update(image.angles or {})
        out_images.append(entry)
        for vessel in image.vessels:
            corners = vessel.corners()
            low, high = corners.min(axis=0), corners.max(axis=0)
            ann = {"id": len(annotations) + 1, "image_id": image_id,
                   "category_id": class_names.index(vessel.class_name) + 1,
                   "bbox": [round(float(v), 3) for v in (*low, *(high - low))],
                   "area": round(float(vessel.box[2] * vessel.box[3]), 3),
                   "segmentation": [[round(float(c), 3) for c in corners.reshape(-1)]],
                   "iscrowd": 0, "difficult": int(vessel.difficult)}
            for name in ("heading", "vessel_id", "draft_fraction", *CUE_WIDTH_KEYS, "shadow_surface"):
                if getattr(vessel, name) is not None:
                    ann[name] = getattr(vessel, name)
            annotations.append(ann)
    categories = [{"id": i + 1, "name": name, "supercategory": "vessel"} for i, name in enumerate(class_names)]
    return {"info": {"description": "vessel labels written by tankerwatch"}, "images": out_images,
            "annotations": annotations, "categories": categories}


def write_split(images: list[LabelledImage], out_dir: Path, class_names: tuple[str, ...]) -> None:
    atomic_write_text(out_dir / ANNOTATIONS, json.dumps(to_coco(images, out_dir, class_names), indent=1) + "\n")
