"""Labelled datasets on disk: reading, checking and writing the standard label formats.

- :mod:`.dataset`: the dataset model, format detection and dispatch, class maps, splits.
- :mod:`.dota`, :mod:`.yolo_obb`, :mod:`.coco`, :mod:`.geojson`: one module per format.
- :mod:`.dataset_check`: the statistics ``tankerwatch check-labels`` prints.
"""

from .dataset import (
    IMAGE_SUFFIXES,
    SPLITS,
    LabelledDataset,
    detect_format,
    list_images,
    load_class_map,
    read_dataset,
    write_dataset,
    write_splits,
)
from .dataset_check import format_summary, summarize

__all__ = [
    "IMAGE_SUFFIXES",
    "SPLITS",
    "detect_format",
    "LabelledDataset",
    "list_images",
    "load_class_map",
    "read_dataset",
    "write_dataset",
    "write_splits",
    "format_summary",
    "summarize",
]
