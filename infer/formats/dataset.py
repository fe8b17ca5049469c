"""Labelled datasets on disk: one reader/writer entry point over DOTA, YOLO-OBB, COCO and GeoJSON.

A dataset split folder holds ``images/`` plus the format's labels:

* ``dota``: ``labelTxt/<stem>.txt`` (``imagesource:``/``gsd:`` headers, then
  ``x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]`` in pixels);
* ``yolo-obb``: ``labels/<stem>.txt`` (``class_index x1 y1 ... x4 y4``, corners normalised by the
  image width and height) and an Ultralytics ``data.yaml`` (``names``) in the split or its parent;
* ``coco``: ``annotations.json`` (``file_name`` relative to the json's folder; an image entry may
  carry ``gsd_m``); the json file itself may also be given as the dataset path;
* ``geojson``: ``labels/<stem>.geojson``, polygons over a georeferenced image, in lon/lat (RFC 7946),
  in a CRS named by a ``crs`` member, or in pixels (``"tankerwatch": {"coordinates": "pixel"}``).

A split dataset is ``ROOT/{train,val,test}/``, each a split folder as above.

Every box becomes the project's oriented box (see :mod:`tankerwatch.infer.core.boxes`): a quad or
polygon becomes the minimum-area rectangle of its vertices, a mask that of its pixel squares. Class
strings map to (type, load) through a class map (default :data:`labels.DEFAULT_CLASS_MAP`). GSD is
the image's geodesic ground GSD when it is georeferenced, otherwise what the labels declare.

Reading collects every problem instead of stopping at the first: ``errors`` are fatal (malformed
line, unknown class, non-finite or zero-area box, missing or unreadable image, COCO size mismatch,
empty dataset) and make :func:`read_dataset` raise unless ``strict=False``; ``warnings`` are
counted fixes (boxes outside the image, clipped or rejected per ``outside``).
"""

from __future__ import annotations

import importlib
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import shapely
import yaml

from ..core.atomic import atomic_path
from ..core.boxes import box_corners, min_area_box
from ..core.errors import ConfigError, LabelError, TankerwatchError, located
from ..core.labels import (
    DEFAULT_CLASS_MAP,
    ClassMap,
    LabelledImage,
    LoadState,
    Vessel,
    VesselType,
    parse_class_map,
)
from ..runtime.raster import MAX_DECODE_PIXELS, RasterInfo, inspect_raster

FORMAT_MODULES = {
    "dota": "tankerwatch.infer.formats.dota",
    "yolo-obb": "tankerwatch.infer.formats.yolo_obb",
    "coco": "tankerwatch.infer.formats.coco",
    "geojson": "tankerwatch.infer.formats.geojson",
}
SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
OUTSIDE_MODES = ("clip", "reject")
# Share of a box's area that may lie beyond the image edges before it counts as outside: a
# rotated rectangle around a mask touching the edge may stick out a little without being wrong.
OUTSIDE_TOLERANCE = 0.01
# The project's class strings, in the order writers list them (YOLO indices, COCO category ids).
PROJECT_CLASS_NAMES = tuple(DEFAULT_CLASS_MAP)
MIN_SIDE_PX = 1e-6


@dataclass
class ReadContext:
    """Settings and the problem log shared by the format readers while reading one dataset."""

    class_map: ClassMap
    outside: str = "clip"
    max_pixels: int = MAX_DECODE_PIXELS
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def error(self, message: str) -> None:
        self.errors.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def image_info(self, path: Path) -> RasterInfo | None:
        """Header of a labelled image, or None (and an error) if it is missing or unreadable."""
        try:
            return inspect_raster(path, self.max_pixels)
        except TankerwatchError as exc:
            self.error(str(exc))
            return None

    def lookup(self, name: str, where: str) -> tuple[VesselType, LoadState] | None:
        if name in self.class_map:
            return self.class_map[name]
        self.error(f"{where}: unknown class {name!r}; known: {', '.join(sorted(self.class_map))}")
        return None

    def add_vessel(self, image: LabelledImage, box, classes: tuple[VesselType, LoadState], where: str,
                   **attributes) -> None:
        """Validate ``box`` ``[5]`` against ``image`` and append the vessel, or log why not.

        Non-finite and zero-area boxes are errors. A box with more than OUTSIDE_TOLERANCE of its
        area beyond the image is clipped to the image (its minimum-area rectangle; the heading is
        dropped, since the clipped part may not reach the bow) or rejected, per ``outside``.
        """
        box = np.asarray(box, dtype=np.float64)
        if not np.all(np.isfinite(box)):
            self.error(f"{where}: coordinates are not finite numbers")
            return
        if min(box[2], box[3]) <= MIN_SIDE_PX:
            self.error(f"{where}: zero-area box (length {box[2]:.3g} px, width {box[3]:.3g} px)")
            return
        if image.width and image.height:
            polygon = shapely.Polygon(box_corners(box))
            inside = shapely.intersection(polygon, shapely.box(0, 0, image.width, image.height))
            if inside.area < (1 - OUTSIDE_TOLERANCE) * polygon.area:
                self.counts["outside"] += 1
                if self.outside == "reject" or inside.area <= 0:
                    self.counts["rejected"] += 1
                    self.warn(f"{where}: box outside the {image.width} x {image.height} image; rejected")
                    return
                box = min_area_box(np.asarray(inside.exterior.coords))
                attributes["heading"] = None
                self.counts["clipped"] += 1
                self.warn(f"{where}: box reaches outside the {image.width} x {image.height} image; "
                          f"clipped to it")
        try:
            image.vessels.append(Vessel(box, classes[0], classes[1], **attributes))
        except LabelError as exc:
            self.error(f"{where}: {exc}")


@dataclass
class LabelledDataset:
    """A dataset read from disk: labelled images per split (``""`` for a single folder)."""

    root: Path
    format: str
    splits: dict[str, list[LabelledImage]]
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    @property
    def images(self) -> list[LabelledImage]:
        return [image for images in self.splits.values() for image in images]

    @property
    def problems(self) -> list[str]:
        return self.errors + self.warnings


def load_class_map(entries) -> dict[str, tuple[VesselType, LoadState]]:
    """The default class map extended (or overridden) by ``entries``.

    Each entry is ``name=type/load`` (or ``name=tanker_empty``-style project class), or the path of
    a YAML file mapping names to such values.
    """
    raw: dict[str, str] = {}
    for entry in entries or ():
        if "=" in entry:
            name, _, target = entry.partition("=")
            raw[name.strip()] = target.strip()
            continue
        path = Path(entry)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"--class-map {entry!r}: neither name=type/load nor an existing YAML file") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(located(path, f"not a readable YAML class map ({str(exc).splitlines()[0]})")) from None
        if not isinstance(data, dict):
            raise ConfigError(located(path, "a class map must be a mapping of name: type/load"))
        raw.update({str(k): str(v) for k, v in data.items()})
    return {**DEFAULT_CLASS_MAP, **parse_class_map(raw)}


def split_folders(root: Path) -> dict[str, Path]:
    """``{split: folder}`` for a split dataset, or ``{"": root}`` for a single split folder."""
    if root.is_dir():
        found = {name: root / name for name in SPLITS if (root / name).is_dir()}
        if found:
            return found
    return {"": root}


def detect_format(path) -> str:
    """Name the label format of a dataset folder (or COCO json file) from what it contains."""
    root = Path(path)
    if root.is_file():
        if root.suffix.lower() == ".json":
            return "coco"
        raise LabelError(located(root, "a dataset is a folder (or a COCO .json file)"))
    found = set()
    for folder in split_folders(root).values():
        if (folder / "annotations.json").is_file():
            found.add("coco")
        if (folder / "labelTxt").is_dir():
            found.add("dota")
        labels = folder / "labels"
        if labels.is_dir():
            if any(labels.glob("*.geojson")):
                found.add("geojson")
            if any(labels.glob("*.txt")) or (folder / "data.yaml").is_file() or (root / "data.yaml").is_file():
                found.add("yolo-obb")
    if len(found) != 1:
        what = "no known label layout" if not found else f"several label layouts ({', '.join(sorted(found))})"
        raise LabelError(located(root, f"{what}; name one with --format ({', '.join(FORMAT_MODULES)})"))
    return found.pop()


def format_module(fmt: str):
    if fmt not in FORMAT_MODULES:
        raise ConfigError(f"unknown label format {fmt!r}; known: {', '.join(FORMAT_MODULES)}")
    return importlib.import_module(FORMAT_MODULES[fmt])


def read_dataset(path, fmt: str | None = None, class_map: ClassMap | None = None, outside: str = "clip",
                 strict: bool = True, max_pixels: int = MAX_DECODE_PIXELS) -> LabelledDataset:
    """Read a dataset folder (single split or ``train/val/test``) in ``fmt`` (detected if None).

    With ``strict`` a fatal problem raises LabelError (the first one, with the count of the rest);
    otherwise every problem is returned in the dataset's ``errors``/``warnings`` for a report.
    """
    root = Path(path)
    if not root.exists():
        raise LabelError(located(root, "no such dataset folder or file"))
    if outside not in OUTSIDE_MODES:
        raise ConfigError(f"outside must be one of {list(OUTSIDE_MODES)}, got {outside!r}")
    fmt = fmt or detect_format(root)
    module = format_module(fmt)
    ctx = ReadContext(class_map=DEFAULT_CLASS_MAP if class_map is None else class_map, outside=outside,
                      max_pixels=max_pixels)
    splits = {name: module.read_split(folder, ctx) for name, folder in split_folders(root).items()}
    dataset = LabelledDataset(root, fmt, splits, ctx.errors, ctx.warnings, ctx.counts)
    if not dataset.images:
        ctx.error(located(root, f"empty dataset: no images found for format {fmt}"))
    elif not any(image.vessels for image in dataset.images):
        ctx.error(located(root, "empty dataset: no image has a usable vessel label"))
    if strict and ctx.errors:
        more = len(ctx.errors) - 1
        suffix = f" (and {more} more problem{'s' * (more > 1)}; 'tankerwatch check-labels' lists them)" if more else ""
        raise LabelError(ctx.errors[0] + suffix)
    return dataset


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_per_image_labels(split: Path, label_dir: str, suffix: str, ctx: ReadContext,
                          parse: Callable[[Path, LabelledImage, RasterInfo, ReadContext], None]
                          ) -> list[LabelledImage]:
    """The shared loop of the one-label-file-per-image formats (DOTA, YOLO-OBB, GeoJSON).

    Every image in ``split/images`` is read (an image without a label file has no vessels); a label
    file without an image, two images with one stem and unreadable images are errors.
    """
    labels = {p.stem: p for p in sorted((split / label_dir).glob(f"*{suffix}"))}
    images, seen = [], {}
    for image_path in list_images(split / "images"):
        if image_path.stem in seen:
            ctx.error(located(image_path, f"two images share the stem {image_path.stem!r} "
                                          f"(also {seen[image_path.stem].name}); labels would be ambiguous"))
            continue
        seen[image_path.stem] = image_path
        label = labels.pop(image_path.stem, None)
        info = ctx.image_info(image_path)
        if info is None:
            continue
        image = LabelledImage(image_path, info.width, info.height, info.gsd_m, [])
        if label is not None:
            parse(label, image, info, ctx)
        images.append(image)
    for stem, label in labels.items():
        ctx.error(located(label, f"missing image file: no {stem}{{{','.join(IMAGE_SUFFIXES)}}} "
                                 f"in {split / 'images'}"))
    return images


def read_label_text(path: Path, ctx: ReadContext) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        ctx.error(located(path, "not UTF-8 text"))
    except OSError as exc:
        ctx.error(located(path, f"cannot read ({exc.strerror})"))
    return None


def is_number(value) -> bool:
    """A JSON number (``bool`` is an ``int`` subclass in Python, but ``true`` is no coordinate)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_number(text: str) -> float:
    """``float(text)`` that refuses non-finite values with ValueError (nan, inf appear in bad data)."""
    value = float(text)
    if not np.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def write_dataset(images: list[LabelledImage], out_dir, fmt: str,
                  class_names: tuple[str, ...] | list[str] | None = None) -> list[LabelledImage]:
    """Write one split folder ``out_dir`` in ``fmt``: images copied into ``images/`` plus labels.

    Class strings are the project's (``tanker_empty`` ...); ``class_names`` orders them for formats
    with indices (YOLO class index, COCO category id = position + 1). Every file is written
    atomically. Returns the images with their new paths.
    """
    out_dir = Path(out_dir)
    names = tuple(class_names or PROJECT_CLASS_NAMES)
    unknown = sorted({v.class_name for image in images for v in image.vessels} - set(names))
    if unknown:
        raise ConfigError(f"class names {unknown} are not among the output classes {list(names)}")
    module = format_module(fmt)
    placed = _place_images(images, out_dir / "images")
    module.write_split(placed, out_dir, names)
    return placed


def write_splits(splits: dict[str, list[LabelledImage]], out_root, fmt: str,
                 class_names: tuple[str, ...] | list[str] | None = None) -> None:
    """Write a dataset with the split layout of ``splits`` (``""`` = a single folder at ``out_root``)."""
    out_root = Path(out_root)
    for name, images in splits.items():
        write_dataset(images, out_root / name if name else out_root, fmt, class_names)
    module = format_module(fmt)
    if hasattr(module, "write_root") and any(splits):
        module.write_root(out_root, [name for name in splits if name], tuple(class_names or PROJECT_CLASS_NAMES))


def _place_images(images: list[LabelledImage], image_dir: Path) -> list[LabelledImage]:
    placed, used = [], {}
    for image in images:
        source = Path(image.image_path)
        target = image_dir / source.name
        if target.name in used and used[target.name] != source.resolve():
            raise LabelError(located(source, f"another image is also named {source.name}; "
                                             f"rename one before writing"))
        used[target.name] = source.resolve()
        if not (target.exists() and target.resolve() == source.resolve()):
            try:
                with atomic_path(target) as tmp:
                    shutil.copyfile(source, tmp)
            except FileNotFoundError:
                raise LabelError(located(source, "missing image file")) from None
        width, height = image.width, image.height
        if width is None or height is None:
            info = inspect_raster(target)
            width, height = info.width, info.height
        placed.append(replace(image, image_path=target, width=width, height=height))
    return placed
