"""Twins: training images rendered again without one load-state cue, so the load stage learns what
that cue adds to the pixels.

A shadow under a pixel wide reads much as the deck's edge moved by a tenth of a pixel, and a stage
taught only on labelled widths reads 1-2 px of shadow whether one is drawn or not
(docs/experiments.md, 2026-12-07). Shown the same hull with and without the cue, under the same
jitter and flips, it is taught the difference of its two readings: the width that cue was drawn
at (:func:`tankerwatch.train.losses.twin_loss`).

A dataset entry names its twins by the cue they lack (``train/datamodule.py``)::

    {path: tiles/train, twins: {shadow: tiles_noshadow/train, side: tiles_noside/train}}

``tankerwatch synth tiles`` renders them with the training tiles' seed, count and size and
``--cues side,bow`` (no hull shadows) or ``--cues shadow,bow`` (no hull sides): the cue switches act
after every random draw, so the twin holds the same world. Each image is matched to the twin of the
same file name, with the same size and the same boxes.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import torch

from tankerwatch.infer.core.errors import ConfigError
from tankerwatch.infer.core.labels import LabelledImage

# The cues a twin may lack, in the order of the cue widths (shadow, side strip) everywhere else.
TWIN_CUES = ("shadow", "side")
# Box centres and sizes of a twin's labels may differ by the rounding of the label file.
BOX_TOLERANCE_PX = 0.01


def twin_cue_index(name: str, where: str) -> int:
    """The index in :data:`TWIN_CUES` of ``name``; ConfigError naming ``where`` otherwise."""
    if name not in TWIN_CUES:
        raise ConfigError(f"{where}: twins are keyed by the cue they lack, one of {list(TWIN_CUES)}; got {name!r}")
    return TWIN_CUES.index(name)


def check_twin_manifest(folder: Path, cue: int, where: str) -> None:
    """ConfigError when ``folder`` (or its parent: a split folder) was rendered by ``synth tiles``
    with the cue it should lack drawn; folders without a manifest are trusted."""
    for candidate in (folder / "manifest.json", folder.parent / "manifest.json"):
        if candidate.is_file():
            drawn = json.loads(candidate.read_text()).get("parameters", {}).get("cues")
            if drawn is not None and TWIN_CUES[cue] in drawn:
                raise ConfigError(f"{where}: {folder} draws the {TWIN_CUES[cue]} (its manifest's cues: "
                                  f"{', '.join(drawn)}); render it with --cues without {TWIN_CUES[cue]}")
            return


def match_twins(images: list[LabelledImage], twins: list[LabelledImage], folder: Path,
                where: str) -> list[LabelledImage]:
    """For each of ``images`` its twin among ``twins`` (read from ``folder``): the image of the same
    file name, size and boxes. ConfigError naming the first image that has none."""
    by_name = {Path(twin.image_path).name: twin for twin in twins}
    matched = []
    for image in images:
        name = Path(image.image_path).name
        twin = by_name.get(name)
        if twin is None:
            raise ConfigError(f"{where}: {folder} has no twin of {image.image_path} (no file named {name})")
        same_size = (twin.width, twin.height) == (image.width, image.height)
        boxes, twin_boxes = image.boxes(), twin.boxes()
        same_boxes = boxes.shape == twin_boxes.shape and np.allclose(boxes, twin_boxes, atol=BOX_TOLERANCE_PX)
        if not (same_size and same_boxes):
            raise ConfigError(f"{where}: {twin.image_path} is not the twin of {image.image_path} (other size or "
                              "boxes); render twins with the same seed, count and size")
        matched.append(twin)
    return matched


@contextlib.contextmanager
def same_draws(generator: torch.Generator | None):
    """Whatever runs inside draws what the next draws after the block will be: ``generator``'s
    state (the global generators', CPU and CUDA, when None) is put back on leaving."""
    if generator is None:
        with torch.random.fork_rng():
            yield
        return
    state = generator.get_state()
    try:
        yield
    finally:
        generator.set_state(state)


@contextlib.contextmanager
def frozen_batch_statistics(module: torch.nn.Module):
    """Batch norms inside ``module`` normalise with the batch's statistics as in training but keep
    their running statistics: a twin lacks a cue that every image read at inference holds.
    Momentum 0, not a copy put back afterwards: the running statistics are saved for the backward
    pass, and writing them would void it."""
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    kept = [(norm.momentum, None if norm.num_batches_tracked is None else norm.num_batches_tracked.clone())
            for norm in norms]
    for norm in norms:
        norm.momentum = 0.0
    try:
        yield
    finally:
        for norm, (momentum, tracked) in zip(norms, kept, strict=True):
            norm.momentum = momentum
            if tracked is not None:
                norm.num_batches_tracked.copy_(tracked)
