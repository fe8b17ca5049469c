"""Training crops and whole-image evaluation samples from labelled images.

Every image is scaled to the model's uint8 input with the run's :class:`Scaling`, limits computed
once per image from the whole scene (``Scaling.scene_limits``, as ``detect`` does), never per crop.

Training samples are square crops of ``crop_size`` px: most centred (with jitter) on a vessel drawn
so that each class (empty tanker, loaded tanker, tanker of unknown load, other, ship) is drawn
equally often when ``balance_classes`` is on, the rest anywhere in a random image (background:
quays, wakes, land); so a 2,000 px real image or a whole scene trains at full resolution. A random
scale ``s`` first (window of ``crop_size / s`` px resized to ``crop_size``) divides the effective GSD
by ``s``, which the load-loss mask sees.

Coarse images: a source whose GSD is above the data's ``upsample_above_gsd_m`` is enlarged to that
GSD (``SceneSource.upsample``, > 1): its crops cover ``1 / upsample`` of the ground they would, and
evaluation runs the whole image enlarged, its boxes mapped back to the image's own pixels. A 30 m
tug at 10 m is 3 px long, a cell of the stride-4 map: enlarged, the peak and box regression have
cells to work with. ``detect`` does the same through the model's ``gsd_range_m`` (capped there).

Load crops: the load stage learns from the profiles of tankers whose shadow and side widths are
known, and a detector crop holds two or three of them, so in ``fit`` the stage reached a fifth of
the hull visits that bring it to its plateau when trained alone (docs/experiments.md). With
``load_crops`` > 0 every sample also carries that many crops of ``crop_size`` centred on such
tankers, cut at scale 1 and without augmentation: the stage alone learnt best from unscaled,
unaugmented tiles, and the detector's own crops still give it the scaled and augmented ones. Only
the load stage reads them: two per sample cost the default config about 12 % more time a step.
Where the tanker's image has twins (the same image rendered without one cue: ``train/twins.py``),
each load crop is also cut at the same place from each twin.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from tankerwatch.infer.core.errors import ConfigError
from tankerwatch.infer.core.labels import LabelledImage
from tankerwatch.infer.runtime.raster import inspect_raster, read_image, read_window
from tankerwatch.infer.runtime.scaling import Scaling, to_uint8
from tankerwatch.infer.runtime.tiling import zoom_bands

from .augment import AugmentConfig, augment, build_augmentation
from .targets import (
    IGNORE,
    VesselTargets,
    cue_labelled,
    encode_targets,
    hull_window_targets,
    load_visible,
    scene_cue_directions,
    vessel_classes,
    vessel_cue_geometry,
    vessel_cue_widths,
)
from .twins import TWIN_CUES

# Images up to this many pixels are kept scaled in memory (a sen2ships port is 2 M); larger scenes
# are read window by window.
CACHE_MAX_PIXELS = 16_000_000


@dataclass
class SceneSource:
    """One labelled image plus what is needed to cut scaled crops from it."""

    image: LabelledImage
    scaling: Scaling
    gsd_m: float | None
    width: int
    height: int
    upsample: float = 1.0  # model pixels per image pixel: > 1 for images above upsample_above_gsd_m
    # The same image rendered without one cue, by cue index (train/twins.py), scaled as this one.
    twins: dict[int, SceneSource] = field(default_factory=dict)
    _lo: np.ndarray | None = None
    _hi: np.ndarray | None = None
    _cached: np.ndarray | None = None  # [H, W, C] uint8

    @classmethod
    def open(cls, image: LabelledImage, scaling: Scaling, upsample_above_gsd_m: float | None = None) -> SceneSource:
        info = inspect_raster(image.image_path)
        gsd = image.gsd_m if image.gsd_m is not None else info.gsd_m
        upsample = 1.0
        if gsd is not None and upsample_above_gsd_m is not None and gsd > upsample_above_gsd_m:
            upsample = gsd / upsample_above_gsd_m
        return cls(image, scaling, gsd, info.width, info.height, upsample)

    def with_twins(self, twins: dict[int, LabelledImage]) -> SceneSource:
        """A copy of this source with its twins (``train/twins.py``) by cue index. A twin is scaled
        with this image's limits, not its own: the two then differ by the missing cue alone."""
        if not twins:
            return self
        for image in twins.values():
            info = inspect_raster(image.image_path)
            if (info.width, info.height) != (self.width, self.height):
                raise ConfigError(f"{image.image_path}: {info.width} x {info.height} px, but its twin "
                                  f"{self.path} is {self.width} x {self.height}")
        lo, hi = self._limits()
        return replace(self, twins={cue: replace(self, image=image, twins={}, _lo=lo, _hi=hi, _cached=None)
                                    for cue, image in twins.items()})

    @property
    def path(self) -> Path:
        return Path(self.image.image_path)

    def _limits(self):
        if self._lo is None:
            self._lo, self._hi = self.scaling.scene_limits(self.path)
        return self._lo, self._hi

    def whole(self) -> np.ndarray:
        """The whole image scaled, ``[H, W, C]`` uint8 (cached for images up to CACHE_MAX_PIXELS)."""
        if self._cached is not None:
            return self._cached
        lo, hi = self._limits()
        scaled = to_uint8(read_image(self.path, bands=self.scaling.bands), lo, hi).transpose(1, 2, 0)
        scaled = np.ascontiguousarray(scaled)
        if self.width * self.height <= CACHE_MAX_PIXELS:
            self._cached = scaled
        return scaled

    def window(self, col: int, row: int, size: int) -> np.ndarray:
        """A ``size x size`` window ``[size, size, C]`` uint8; outside the image it is 0."""
        if self.width * self.height <= CACHE_MAX_PIXELS:
            whole = self.whole()
            out = np.zeros((size, size, whole.shape[2]), np.uint8)
            r0, c0 = max(row, 0), max(col, 0)
            r1, c1 = min(row + size, self.height), min(col + size, self.width)
            if r1 > r0 and c1 > c0:
                out[r0 - row:r1 - row, c0 - col:c1 - col] = whole[r0:r1, c0:c1]
            return out
        lo, hi = self._limits()
        array, valid = read_window(self.path, col, row, size, size, bands=self.scaling.bands)
        scaled = to_uint8(array, lo, hi) * valid[None]
        return np.ascontiguousarray(scaled.transpose(1, 2, 0))


class EpochSampler(Sampler):
    """Keys ``epoch * n + i`` for ``i < n``: each crop's randomness is a function of (seed, epoch,
    index) alone, so a run resumed from a checkpoint sees the same crops as one never stopped,
    whatever the number of workers. Lightning calls ``set_epoch`` before every epoch."""

    def __init__(self, samples_per_epoch: int):
        self.samples_per_epoch = samples_per_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __iter__(self):
        start = self.epoch * self.samples_per_epoch
        return iter(range(start, start + self.samples_per_epoch))


class TrainCrops(Dataset):
    """``samples_per_epoch`` random crops per epoch (see module doc), drawn by key from
    :class:`EpochSampler`. Items are dicts of tensors: ``image`` uint8 ``[C, S, S]`` and the targets
    of :func:`encode_targets`, plus ``path`` (str); with ``load_crops`` > 0 and tankers of known cue
    widths to centre on, also the load stage's own crops (:meth:`_cut_load_crops`, module doc)."""

    def __init__(self, sources: list[SceneSource], crop_size: int, stride: int, samples_per_epoch: int,
                 background_p: float = 0.2, scale_range: tuple[float, float] = (0.8, 1.25),
                 balance_classes: bool = True, augment_config: AugmentConfig | None = None,
                 load_max_gsd_m: float = 3.0, seed: int = 0, load_crops: int = 0):
        self.sources = sources
        self.crop_size, self.stride = crop_size, stride
        self.samples_per_epoch = samples_per_epoch
        self.background_p, self.scale_range = background_p, scale_range
        self.load_max_gsd_m = load_max_gsd_m
        self.seed = seed
        self.augment_config = augment_config or AugmentConfig()
        self._pipeline = build_augmentation(self.augment_config)
        self.vessel_index = [(s, v) for s, src in enumerate(sources) for v in range(len(src.image.vessels))]
        classes = [sources[s].image.vessels[v].class_name for s, v in self.vessel_index]
        counts = Counter(classes)
        weights = np.array([1.0 / counts[c] if balance_classes else 1.0 for c in classes])
        self.vessel_p = weights / weights.sum() if len(weights) else weights
        self.load_crops = load_crops
        self.cue_widths = [vessel_cue_widths(src.image.vessels, src.gsd_m)
                           if load_visible(None if src.gsd_m is None else src.gsd_m / src.upsample, load_max_gsd_m)
                           else None for src in sources]
        self.cue_geometry = [vessel_cue_geometry(src.image, src.gsd_m) for src in sources]
        self.cue_directions = [scene_cue_directions(src.image) for src in sources]
        self.measured_index = [(s, v) for s, widths in enumerate(self.cue_widths) if widths is not None
                               for v in np.flatnonzero(cue_labelled(widths))]
        self.with_twins = any(self.sources[s].twins for s, _ in self.measured_index)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, key: int) -> dict:
        epoch, index = divmod(key, self.samples_per_epoch)
        rng = np.random.default_rng([self.seed, epoch, index])
        if self._pipeline is not None:
            self._pipeline.set_random_seed(int(rng.integers(2**31)))
        scale = math.exp(rng.uniform(math.log(self.scale_range[0]), math.log(self.scale_range[1])))
        if len(self.vessel_index) and rng.random() >= self.background_p:
            s, v = self.vessel_index[rng.choice(len(self.vessel_index), p=self.vessel_p)]
            source = self.sources[s]
            side = max(8, round(self.crop_size / (scale * source.upsample)))
            centre = source.image.vessels[v].box[:2] + rng.uniform(-0.35, 0.35, 2) * side
        else:
            s = int(rng.integers(len(self.sources)))
            source = self.sources[s]
            side = max(8, round(self.crop_size / (scale * source.upsample)))
            centre = rng.uniform(0, 1, 2) * (source.width, source.height)
        image, boxes, factor = self._cut(source, centre, side)
        vessels = source.image.vessels
        image, boxes, directions = augment(self._pipeline, image, boxes, self.cue_directions[s])
        gsd = None if source.gsd_m is None else source.gsd_m / factor
        types, loads = vessel_classes(vessels, gsd, self.load_max_gsd_m)
        targets = encode_targets(VesselTargets(boxes, types, loads), self.crop_size, self.crop_size, self.stride)
        # The load stage learns only where the load labels are visible too: at 3-10 m a shadow is a
        # pixel or less, and a quarter of the synthetic tankers taught it noise (docs/experiments.md).
        visible = load_visible(gsd, self.load_max_gsd_m)
        cue_widths = vessel_cue_widths(vessels, source.gsd_m) if visible else None
        cue_geometry = self.cue_geometry[s] if visible else None
        targets.update(hull_window_targets(boxes, types, cue_widths, self.crop_size, cue_geometry, directions))
        item = {k: torch.from_numpy(v) for k, v in targets.items()}
        item["image"] = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        item["path"] = str(source.path)
        if self.load_crops and self.measured_index:
            item.update(self._cut_load_crops(np.random.default_rng([self.seed, epoch, index, 1])))
        return item

    def _cut(self, source: SceneSource, centre, side: int) -> tuple[np.ndarray, np.ndarray, float]:
        """The ``side`` px window of ``source`` around ``centre`` resized to ``crop_size``:
        ``(image [S, S, C] uint8, the source's boxes [M, 5] in crop pixels, crop px per source px)``."""
        col, row = window_origin(centre[0], source.width, side), window_origin(centre[1], source.height, side)
        window = source.window(col, row, side)
        factor = self.crop_size / side
        image = cv2.resize(window, (self.crop_size, self.crop_size),
                           interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
        if image.ndim == 2:
            image = image[..., None]
        boxes = source.image.boxes().copy()
        if len(boxes):
            boxes[:, 0] = (boxes[:, 0] - col) * factor
            boxes[:, 1] = (boxes[:, 1] - row) * factor
            boxes[:, 2:4] *= factor
        return image, boxes, factor

    def _cut_load_crops(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """``load_image [L, C, S, S]`` uint8, ``load_boxes [L, MAX_WINDOW_BOXES, 5]``, ``load_cues
        [L, MAX_WINDOW_BOXES, 2]``, ``load_geometry [L, MAX_WINDOW_BOXES, GEOMETRY_FEATURES]`` and
        ``load_sides [L, MAX_WINDOW_BOXES, 2]`` (:func:`hull_window_targets`' boxes, widths, geometry
        and sides) of ``load_crops`` crops centred on tankers with known widths (module doc). Where
        some of those tankers' images have twins (``train/twins.py``), also ``load_twins [L, 2, C,
        S, S]`` uint8, the same crops of the twins lacking each cue of :data:`TWIN_CUES`, and
        ``load_twin_known [L, 2]`` (bool), which of them exist.
        Centred, so the profile's middle of the hull and its 3.5 beams across lie inside the crop
        where they fit."""
        images, boxes, cues, geometry, sides, twins, twin_known = [], [], [], [], [], [], []
        for pick in rng.choice(len(self.measured_index), size=self.load_crops):
            s, v = self.measured_index[pick]
            source = self.sources[s]
            side = max(8, round(self.crop_size / source.upsample))
            centre = source.image.vessels[v].box[:2]
            image, crop_boxes, _ = self._cut(source, centre, side)
            if self.with_twins:
                # A crop without a twin of a cue stands in as its own (the batch stays one shape);
                # twin_known keeps it out of the twin loss.
                twins.append(np.stack([self._cut(source.twins[cue], centre, side)[0].transpose(2, 0, 1)
                                       if cue in source.twins else image.transpose(2, 0, 1)
                                       for cue in range(len(TWIN_CUES))]))
                twin_known.append([cue in source.twins for cue in range(len(TWIN_CUES))])
            no_types = np.full(len(crop_boxes), IGNORE, np.int64)
            windows = hull_window_targets(crop_boxes, no_types, self.cue_widths[s], self.crop_size,
                                          self.cue_geometry[s], self.cue_directions[s])
            images.append(image.transpose(2, 0, 1))
            boxes.append(windows["window_boxes"])
            cues.append(windows["window_cues"])
            geometry.append(windows["window_geometry"])
            sides.append(windows["window_sides"])
        crops = {"load_image": torch.from_numpy(np.ascontiguousarray(np.stack(images))),
                 "load_boxes": torch.from_numpy(np.stack(boxes)), "load_cues": torch.from_numpy(np.stack(cues)),
                 "load_geometry": torch.from_numpy(np.stack(geometry)), "load_sides": torch.from_numpy(np.stack(sides))}
        if self.with_twins:
            crops["load_twins"] = torch.from_numpy(np.ascontiguousarray(np.stack(twins)))
            crops["load_twin_known"] = torch.tensor(twin_known)
        return crops


def window_origin(centre: float, extent: int, side: int) -> int:
    """Top/left of a window of ``side`` around ``centre``, kept inside the image when it fits."""
    origin = int(round(centre - side / 2))
    if extent >= side:
        return min(max(origin, 0), extent - side)
    return int(round((extent - side) / 2))


class WholeImages(Dataset):
    """Each labelled image whole, scaled and enlarged by its ``upsample``: items ``{"image": uint8
    [C, H, W], "index": int, "upsample": float}`` (model pixels per image pixel, exact: see
    :func:`~tankerwatch.infer.runtime.tiling.zoom_bands`)."""

    def __init__(self, sources: list[SceneSource]):
        self.sources = sources

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> dict:
        source = self.sources[index]
        image = zoom_bands(source.whole().transpose(2, 0, 1), source.upsample)
        return {"image": torch.from_numpy(np.ascontiguousarray(image)), "index": index, "upsample": source.upsample}


def collate_train(items: list[dict]) -> dict:
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0] if k != "path"}
    batch["paths"] = [it["path"] for it in items]
    return batch


def collate_whole(items: list[dict]) -> dict:
    """Pad images bottom/right with 0 to the batch's largest size (coordinates are unchanged)."""
    c = items[0]["image"].shape[0]
    h = max(it["image"].shape[1] for it in items)
    w = max(it["image"].shape[2] for it in items)
    images = torch.zeros((len(items), c, h, w), dtype=torch.uint8)
    for k, it in enumerate(items):
        images[k, :, : it["image"].shape[1], : it["image"].shape[2]] = it["image"]
    return {"image": images, "index": [it["index"] for it in items],
            "sizes": [tuple(it["image"].shape[1:]) for it in items], "upsample": [it["upsample"] for it in items]}
