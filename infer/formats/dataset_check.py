"""What an engineer wants to know about a labelled dataset before training on it.

:func:`summarize` turns a :class:`~tankerwatch.infer.formats.dataset.LabelledDataset` (read with
``strict=False`` so every problem is kept) into a plain-JSON dict: images per split, vessels per type
and per load state (load counts tankers only), per class string, images without vessels, images per
GSD band, box length histograms in pixels and, for images whose GSD is known, in metres (length in
pixels x the image's ground GSD at its centre), and every problem found. :func:`format_summary`
renders it for the terminal.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from ..core.labels import LoadState, VesselType
from ..evaluation.metrics import GSD_BANDS, gsd_band
from .dataset import LabelledDataset

# Bin edges; the last bin is open-ended. Metres span the tanker classes (60 m coasters to 330 m VLCCs).
LENGTH_EDGES_PX = (0, 8, 16, 32, 64, 128, 256, 512, 1024)
LENGTH_EDGES_M = (0, 25, 50, 75, 100, 150, 200, 250, 300, 350)


def _histogram(values, edges) -> list[dict]:
    bins = np.asarray([*edges, math.inf], dtype=np.float64)
    counts, _ = np.histogram(np.asarray(values, dtype=np.float64), bins=bins)
    return [{"from": edges[i], "to": None if i + 1 == len(edges) else edges[i + 1], "count": int(c)}
            for i, c in enumerate(counts)]


def summarize(dataset: LabelledDataset) -> dict:
    """Statistics and problems of ``dataset`` as a plain-JSON dict (see module doc)."""
    images = dataset.images
    vessels = [v for image in images for v in image.vessels]
    lengths_px = [float(v.box[2]) for v in vessels]
    lengths_m = [float(v.box[2]) * image.gsd_m for image in images if image.gsd_m for v in image.vessels]
    bands = Counter(gsd_band(image.gsd_m) or "unknown" for image in images)
    band_names = [name for name, _, _ in GSD_BANDS] + ["unknown"]
    tankers = [v for v in vessels if v.vessel_type is VesselType.TANKER]
    return {
        "path": str(dataset.root),
        "format": dataset.format,
        "images": len(images),
        "images_per_split": {name: len(split) for name, split in dataset.splits.items() if name},
        "images_without_vessels": sorted(Path(image.image_path).name for image in images if not image.vessels),
        "vessels": len(vessels),
        "by_type": {t.value: sum(v.vessel_type is t for v in vessels) for t in VesselType},
        "tankers_by_load": {s.value: sum(v.load is s for v in tankers) for s in LoadState},
        "by_class": dict(sorted(Counter(v.class_name for v in vessels).items())),
        "difficult": sum(v.difficult for v in vessels),
        "images_per_gsd_band": {name: bands.get(name, 0) for name in band_names},
        "length_px_histogram": _histogram(lengths_px, LENGTH_EDGES_PX),
        "length_m_histogram": _histogram(lengths_m, LENGTH_EDGES_M) if lengths_m else None,
        "vessels_with_length_m": len(lengths_m),
        "boxes_outside_image": dict(dataset.counts),
        "errors": list(dataset.errors),
        "warnings": list(dataset.warnings),
    }


def _bar(count: int, largest: int, width: int = 30) -> str:
    return "#" * (math.ceil(width * count / largest) if largest else 0)


def _histogram_lines(histogram: list[dict], unit: str) -> list[str]:
    largest = max(b["count"] for b in histogram)
    lines = []
    for b in histogram:
        label = f"{b['from']}-{b['to']} {unit}" if b["to"] is not None else f">= {b['from']} {unit}"
        lines.append(f"  {label:>14} {b['count']:6d} {_bar(b['count'], largest)}")
    return lines


def format_summary(summary: dict, max_problems: int = 200) -> str:
    """The terminal report of :func:`summarize`; lists at most ``max_problems`` of each kind."""
    s = summary
    split_text = ", ".join(f"{k} {v}" for k, v in s["images_per_split"].items())
    lines = [
        f"dataset   {s['path']} ({s['format']})",
        f"images    {s['images']}" + (f" ({split_text})" if split_text else "")
        + f"; {len(s['images_without_vessels'])} without vessels",
        f"vessels   {s['vessels']} ({s['difficult']} difficult)",
        "  by type:        " + ", ".join(f"{k} {v}" for k, v in s["by_type"].items()),
        "  tankers by load: " + ", ".join(f"{k} {v}" for k, v in s["tankers_by_load"].items()),
        "  by class:       " + (", ".join(f"{k} {v}" for k, v in s["by_class"].items()) or "none"),
        "images per GSD band: " + ", ".join(f"{k} {v}" for k, v in s["images_per_gsd_band"].items()),
        "box length (pixels):",
        *_histogram_lines(s["length_px_histogram"], "px"),
    ]
    if s["length_m_histogram"]:
        lines += [f"box length (metres, {s['vessels_with_length_m']} vessels with known GSD):",
                  *_histogram_lines(s["length_m_histogram"], "m")]
    else:
        lines.append("box length (metres): no image has a known GSD")
    outside = s["boxes_outside_image"]
    if outside:
        lines.append("boxes outside the image: " + ", ".join(f"{k} {v}" for k, v in sorted(outside.items())))
    if s["images_without_vessels"]:
        names = s["images_without_vessels"]
        shown = ", ".join(names[:20]) + (f", ... ({len(names) - 20} more)" if len(names) > 20 else "")
        lines.append(f"images without vessels: {shown}")
    for kind in ("errors", "warnings"):
        items = s[kind]
        lines.append(f"{kind}: {len(items)}")
        lines += [f"  {item}" for item in items[:max_problems]]
        if len(items) > max_problems:
            lines.append(f"  ... and {len(items) - max_problems} more")
    return "\n".join(lines)
