"""YOLO-OBB labels (Ultralytics): ``labels/<stem>.txt`` beside ``images/``, names in ``data.yaml``.

One object per line: ``class_index x1 y1 x2 y2 x3 y3 x4 y4``, corners divided by the image width (x)
and height (y), so 0..1 spans the image edge to edge (GDAL frame: corner of the top-left pixel is
0, 0). ``data.yaml`` (in the split folder, or its parent for ``ROOT/{train,val,test}``) gives
``names`` as a list or an ``{index: name}`` mapping; the names go through the class map.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from ..core.atomic import atomic_write_text
from ..core.boxes import min_area_box
from ..core.errors import located
from ..core.labels import LabelledImage
from ..runtime.raster import RasterInfo
from .dataset import ReadContext, parse_number, read_label_text, read_per_image_labels

LABEL_DIR = "labels"
SUFFIX = ".txt"
DATA_YAML = "data.yaml"


def read_split(split: Path, ctx: ReadContext) -> list[LabelledImage]:
    names = read_names(split, ctx)

    def parse(path: Path, image: LabelledImage, info: RasterInfo, ctx: ReadContext) -> None:
        text = read_label_text(path, ctx)
        if text is not None and names is not None:
            parse_text(text, path, image, names, ctx)

    return read_per_image_labels(split, LABEL_DIR, SUFFIX, ctx, parse)


def read_names(split: Path, ctx: ReadContext) -> dict[int, str] | None:
    """Class names by index from the nearest ``data.yaml`` (split folder, then its parent)."""
    path = next((p for p in (split / DATA_YAML, split.parent / DATA_YAML) if p.is_file()), None)
    if path is None:
        ctx.error(located(split, f"no {DATA_YAML} with class names here or in {split.parent}"))
        return None
    text = read_label_text(path, ctx)
    if text is None:
        return None
    return parse_names(text, path, ctx)


def parse_names(text: str, path, ctx: ReadContext) -> dict[int, str] | None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        ctx.error(located(path, f"not valid YAML ({' '.join(str(exc).split())})"))
        return None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names or not all(
            isinstance(k, int) and not isinstance(k, bool) and isinstance(v, str) for k, v in names.items()):
        ctx.error(located(path, "'names' must be a list of class names or a mapping index: name"))
        return None
    return names


def parse_text(text: str, path, image: LabelledImage, names: dict[int, str], ctx: ReadContext) -> None:
    """Add the vessels of YOLO-OBB label ``text`` to ``image`` (whose size must be known)."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        where = f"{path}:{number}"
        fields = line.split()
        if len(fields) != 9:
            ctx.error(f"{where}: expected 'class_index x1 y1 x2 y2 x3 y3 x4 y4', got {len(fields)} "
                      f"field{'s' * (len(fields) != 1)}")
            continue
        try:
            index = int(fields[0])
        except ValueError:
            ctx.error(f"{where}: class index must be a whole number, got {fields[0]!r}")
            continue
        if index not in names:
            ctx.error(f"{where}: class index {index} is not in data.yaml names "
                      f"({', '.join(f'{k}: {v}' for k, v in sorted(names.items()))})")
            continue
        try:
            corners = np.array([parse_number(v) for v in fields[1:]]).reshape(4, 2)
        except ValueError:
            ctx.error(f"{where}: corner coordinates must be 8 finite numbers, got {' '.join(fields[1:])!r}")
            continue
        classes = ctx.lookup(names[index], where)
        if classes is not None:
            corners *= (image.width, image.height)
            ctx.add_vessel(image, min_area_box(corners), classes, where)


def format_text(image: LabelledImage, class_names: tuple[str, ...]) -> str:
    lines = []
    for vessel in image.vessels:
        corners = vessel.corners() / (image.width, image.height)
        coords = " ".join(f"{c:.6f}" for c in corners.reshape(-1))
        lines.append(f"{class_names.index(vessel.class_name)} {coords}")
    return "".join(line + "\n" for line in lines)


DATA_YAML_HEADER = "# Ultralytics YOLO-OBB dataset written by tankerwatch\n"


def _data_yaml(root: Path, class_names: tuple[str, ...], image_dirs: dict[str, str]) -> str:
    """``path`` is the dataset folder made absolute: Ultralytics resolves a relative ``path`` (even
    ``.``) against its own datasets folder, not the YAML file's, so only an absolute one trains from
    any working directory. Moving the dataset means rewriting that one line."""
    data = {"path": str(Path(root).resolve()), **image_dirs, "names": dict(enumerate(class_names))}
    return DATA_YAML_HEADER + yaml.safe_dump(data, sort_keys=False)


def write_split(images: list[LabelledImage], out_dir: Path, class_names: tuple[str, ...]) -> None:
    for image in images:
        atomic_write_text(out_dir / LABEL_DIR / f"{Path(image.image_path).stem}{SUFFIX}",
                          format_text(image, class_names))
    atomic_write_text(out_dir / DATA_YAML, _data_yaml(out_dir, class_names, {"train": "images", "val": "images"}))


def relocate(root: Path) -> None:
    """Point every ``data.yaml`` of a dataset written elsewhere (``convert`` writes into a staging
    folder, then renames it) at the folder it now sits in: ``path`` is absolute (see
    :func:`_data_yaml`), so a renamed dataset would still name the staging folder."""
    root = Path(root)
    for data_yaml in [root / DATA_YAML, *sorted(root.glob(f"*/{DATA_YAML}"))]:
        if data_yaml.is_file():
            data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
            data["path"] = str(data_yaml.parent.resolve())
            atomic_write_text(data_yaml, DATA_YAML_HEADER + yaml.safe_dump(data, sort_keys=False))


def write_root(out_root: Path, split_names: list[str], class_names: tuple[str, ...]) -> None:
    """The dataset-level ``data.yaml`` Ultralytics trains from (``train: train/images`` ...)."""
    atomic_write_text(out_root / DATA_YAML,
                      _data_yaml(out_root, class_names, {name: f"{name}/images" for name in split_names}))
