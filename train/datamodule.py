"""The LightningDataModule: labelled datasets in any format the project reads, split into train /
val / test, scaled to uint8 by the run's :class:`~tankerwatch.infer.runtime.scaling.Scaling`.

Each of ``train``, ``val``, ``test`` is a dataset entry or a list of them (several lists mix
datasets in one run, e.g. ship-only real images with fully labelled synthetic tiles). An entry is a
path (a split folder, or a COCO json) or a mapping::

    {path: ../shared/data/sen2ships, format: coco, images: [busan, genoa], class_map: {ship: unknown/unknown}}

``images`` keeps only the named image stems (how one COCO file is split by port); ``exclude`` drops
some; ``class_map`` adds to the project's class strings (``name: type/load`` or a project class).
``twins`` (training only) names, by the cue they lack, folders of the same images rendered without
that cue, in the entry's format (``train/twins.py``)::

    {path: tiles/train, twins: {shadow: tiles_noshadow/train, side: tiles_noside/train}}
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from tankerwatch.infer.core.errors import ConfigError
from tankerwatch.infer.core.labels import DEFAULT_CLASS_MAP, LabelledImage, parse_class_map
from tankerwatch.infer.formats.dataset import read_dataset
from tankerwatch.infer.runtime.scaling import Scaling

from .augment import AugmentConfig
from .datasets import EpochSampler, SceneSource, TrainCrops, WholeImages, collate_train, collate_whole
from .targets import (
    IGNORE,
    LOAD_INDEX,
    TYPE_INDEX,
    cue_labelled,
    load_visible,
    vessel_classes,
    vessel_cue_widths,
)
from .twins import check_twin_manifest, match_twins, twin_cue_index

DatasetEntry = str | dict[str, Any]
ENTRY_KEYS = {"path", "format", "images", "exclude", "class_map", "outside", "twins"}


def read_entries(entries: DatasetEntry | list[DatasetEntry] | None, role: str) -> list[LabelledImage]:
    """Labelled images of one role (train/val/test) from its dataset entries (see module doc)."""
    return [image for image, _ in read_entries_with_twins(entries, role)]


def read_entries_with_twins(entries: DatasetEntry | list[DatasetEntry] | None,
                            role: str) -> list[tuple[LabelledImage, dict[int, LabelledImage]]]:
    """Each labelled image of one role with its twins by cue index (``train/twins.py``; empty where
    its entry names none)."""
    if entries is None:
        return []
    images: list[tuple[LabelledImage, dict[int, LabelledImage]]] = []
    for entry in entries if isinstance(entries, list) else [entries]:
        spec = {"path": entry} if isinstance(entry, str) else dict(entry)
        unknown = set(spec) - ENTRY_KEYS
        if unknown or "path" not in spec:
            raise ConfigError(f"data.{role}: a dataset entry needs 'path' and may have "
                              f"{sorted(ENTRY_KEYS - {'path'})}; got {sorted(spec)}")
        if spec.get("twins") and role != "train":
            raise ConfigError(f"data.{role}: twins teach the load stage in training only; {spec['path']} names some")
        class_map = {**DEFAULT_CLASS_MAP, **parse_class_map(spec.get("class_map") or {})}
        outside = spec.get("outside", "clip")
        dataset = read_dataset(Path(spec["path"]), spec.get("format"), class_map, outside)
        chosen = dataset.images
        if spec.get("images") is not None:
            keep = set(spec["images"])
            missing = keep - {Path(i.image_path).stem for i in chosen}
            if missing:
                raise ConfigError(f"data.{role}: {spec['path']} has no image(s) named {sorted(missing)}")
            chosen = [i for i in chosen if Path(i.image_path).stem in keep]
        if spec.get("exclude"):
            chosen = [i for i in chosen if Path(i.image_path).stem not in set(spec["exclude"])]
        twins: list[dict[int, LabelledImage]] = [{} for _ in chosen]
        where = f"data.{role} twins of {spec['path']}"
        if not isinstance(spec.get("twins") or {}, dict):
            raise ConfigError(f"{where}: give a mapping from the cue a twin lacks to its folder, "
                              f"e.g. {{shadow: tiles_noshadow/train}}; got {spec['twins']!r}")
        for name, folder in (spec.get("twins") or {}).items():
            cue = twin_cue_index(name, where)
            check_twin_manifest(Path(folder), cue, where)
            found = read_dataset(Path(folder), spec.get("format"), class_map, outside).images
            for own, twin in zip(twins, match_twins(chosen, found, Path(folder), where), strict=True):
                own[cue] = twin
        images.extend(zip(chosen, twins, strict=True))
    if not any(image.vessels for image, _ in images):
        raise ConfigError(f"data.{role}: no labelled vessel in {entries!r}")
    return images


# max_vessel_px: the longest vessels are rare, so the very longest label would let one outlier set it.
MAX_VESSEL_PERCENTILE = 99.0


def max_vessel_px_of(images) -> float | None:
    """``max_vessel_px`` for a model trained on ``images`` (:class:`~tankerwatch.infer.core.labels.LabelledImage`):
    the :data:`MAX_VESSEL_PERCENTILE`-th percentile of their labels' lengths in pixels; None without
    a labelled vessel.

    A proxy, not a measurement. It does not count the training crops' scale jitter (vessels seen up
    to ``scale_range[1]`` times larger) nor check the network's receptive field or the crop size,
    which may each cap the reach lower; it says only how long the vessels were that the model was
    taught to box whole. The default synthetic tiles give about 191 px, inside the reach of
    ``synthetic.yaml``'s network; a model whose receptive field is shorter than its labels deserves
    a smaller figure than this gives.
    """
    lengths = [float(vessel.box[2]) for image in images for vessel in image.vessels]
    if not lengths:
        return None
    return round(float(np.percentile(lengths, MAX_VESSEL_PERCENTILE)), 2)


def label_counts_of(sources, load_max_gsd_m: float, max_scale: float = 1.0) -> dict[str, int]:
    """How many training labels each head gets from ``sources`` (:class:`SceneSource`): ``vessels``
    (every box, which teaches detection), ``tanker`` and ``other`` (a known type), ``empty`` and
    ``loaded`` (a known load state where it is visible), ``cue_widths`` (vessels whose shadow and
    hull-side widths are known where the load is visible, synthetic truth: what the load stage learns
    from).

    A load label counts when the finest GSD a training crop of its image reaches (its ground GSD
    over ``upsample`` and ``max_scale``, the top of the scale jitter) is at most ``load_max_gsd_m``,
    as :func:`~tankerwatch.train.targets.vessel_classes` masks it; an image of unknown GSD keeps
    its load labels there too.
    """
    type_names = {index: kind.value for kind, index in TYPE_INDEX.items()}
    load_names = {index: state.value for state, index in LOAD_INDEX.items()}
    counts = dict.fromkeys(["vessels", *type_names.values(), *load_names.values(), "cue_widths"], 0)
    for source in sources:
        finest = None if source.gsd_m is None else source.gsd_m / (source.upsample * max_scale)
        types, loads = vessel_classes(source.image.vessels, finest, load_max_gsd_m)
        counts["vessels"] += len(types)
        if load_visible(finest, load_max_gsd_m):
            counts["cue_widths"] += int(cue_labelled(vessel_cue_widths(source.image.vessels, source.gsd_m)).sum())
        for names, indices in ((type_names, types), (load_names, loads)):
            for index in indices[indices != IGNORE].tolist():
                counts[names[index]] += 1
    return counts


def taught_heads(counts: dict[str, int]) -> dict[str, bool]:
    """``{"type": bool, "load": bool, "laden_fraction": bool}``: whether training taught the model
    vessel type, load state and laden fraction.

    The type head is taught only when its labels held both classes (tanker and other): trained on
    one class alone it learns to say that class whatever it sees, so its word is no better than
    none. Load state and laden fraction both follow from the load stage's measured shadow and side
    widths (``models/freeboard.py``), so they are taught exactly when some vessels gave those
    widths; load labels alone teach nothing. ``detect`` reports what a model was not taught as
    ``unknown`` (the laden fraction as null).
    """
    measured = counts.get("cue_widths", 0) > 0
    return {"type": counts["tanker"] > 0 and counts["other"] > 0, "load": measured, "laden_fraction": measured}


class TankerwatchDataModule(L.LightningDataModule):
    """Training crops (see ``datasets.TrainCrops``) and whole-image validation / test."""

    def __init__(self, train: DatasetEntry | list[DatasetEntry] | None = None,
                 val: DatasetEntry | list[DatasetEntry] | None = None,
                 test: DatasetEntry | list[DatasetEntry] | None = None,
                 scaling: dict[str, Any] | None = None, crop_size: int = 256,
                 scale_range: tuple[float, float] = (0.8, 1.25), samples_per_epoch: int = 512,
                 background_crop_p: float = 0.2, balance_classes: bool = True, batch_size: int = 8,
                 eval_batch_size: int = 1, num_workers: int = 0, augment: dict[str, Any] | None = None,
                 upsample_above_gsd_m: float | None = None, load_crops: int = 0, seed: int = 0,
                 name: str = "synthetic"):
        """``name`` labels every figure (e.g. ``synthetic`` or ``sen2ships (real)``, never mixed up).
        ``scaling``: :class:`Scaling` fields (``bands``, ``method``, ``percentiles``,
        ``value_range``); ``augment``: :class:`~tankerwatch.train.augment.AugmentConfig` fields.
        ``upsample_above_gsd_m``: images coarser than this are enlarged to it for training and
        evaluation, and the model's ``gsd_range_m`` ends there, so ``detect`` enlarges such scenes
        too (``datasets`` module doc); None keeps every image at its own GSD.
        ``load_crops``: per training sample, this many more crops centred on tankers whose shadow and
        side widths are labelled, read by the load stage alone (``datasets`` module doc); 0: none."""
        super().__init__()
        self.save_hyperparameters()
        self.scaling = Scaling.from_dict(scaling or {})
        try:
            self.augment_config = AugmentConfig(**(augment or {}))
        except TypeError as exc:
            raise ConfigError(f"data.augment: {exc}") from None
        if upsample_above_gsd_m is not None and not upsample_above_gsd_m > 0:
            raise ConfigError(f"data.upsample_above_gsd_m must be positive, got {upsample_above_gsd_m}")
        if load_crops < 0:
            raise ConfigError(f"data.load_crops must be >= 0, got {load_crops}")
        if crop_size % 32:
            raise ConfigError(f"data.crop_size must be a multiple of 32, got {crop_size}")
        self._sources: dict[str, list[SceneSource]] = {}
        # Set by the LightningModule before setup: the head's stride and the load-loss GSD cut.
        self.output_stride = 4
        self.load_max_gsd_m = 3.0

    def sources(self, role: str) -> list[SceneSource]:
        """Opened images of one role, read once."""
        if role not in self._sources:
            self._sources[role] = [SceneSource.open(image, self.scaling, self.hparams.upsample_above_gsd_m).with_twins(twins)
                                   for image, twins in read_entries_with_twins(self.hparams[role], role)]
        return self._sources[role]

    def gsd_range_m(self) -> list[float] | None:
        """Ground GSD range the model was trained at: the training images', capped at
        ``upsample_above_gsd_m`` (None when no image has a GSD)."""
        known = [s.gsd_m for s in self.sources("train") if s.gsd_m is not None] if self.hparams.train else []
        if not known:
            return None
        cap = self.hparams.upsample_above_gsd_m or math.inf
        return [min(min(known), cap), min(max(known), cap)]

    def max_vessel_px(self) -> float | None:
        """:func:`max_vessel_px_of` the training images (None when there are none)."""
        return max_vessel_px_of(s.image for s in self.sources("train")) if self.hparams.train else None

    def label_counts(self) -> dict[str, int] | None:
        """:func:`label_counts_of` the training images (None when there are none)."""
        if not self.hparams.train:
            return None
        return label_counts_of(self.sources("train"), self.load_max_gsd_m, max(self.hparams.scale_range))

    def band_count(self, role: str) -> int:
        from tankerwatch.infer.runtime.raster import inspect_raster

        counts = {self.scaling.band_count(inspect_raster(s.path).count) for s in self.sources(role)}
        if len(counts) != 1:
            raise ConfigError(f"data.{role}: images have different band counts {sorted(counts)}")
        return counts.pop()

    def train_dataloader(self):
        dataset = TrainCrops(self.sources("train"), self.hparams.crop_size, self.output_stride,
                             self.hparams.samples_per_epoch, self.hparams.background_crop_p,
                             tuple(self.hparams.scale_range), self.hparams.balance_classes,
                             self.augment_config, self.load_max_gsd_m, self.hparams.seed,
                             self.hparams.load_crops)
        return DataLoader(dataset, batch_size=self.hparams.batch_size,
                          sampler=EpochSampler(self.hparams.samples_per_epoch),
                          num_workers=self.hparams.num_workers, collate_fn=collate_train,
                          persistent_workers=self.hparams.num_workers > 0)

    def _eval_loader(self, role: str):
        if self.hparams[role] is None:
            raise ConfigError(f"data.{role} is not set in the config")
        return DataLoader(WholeImages(self.sources(role)), batch_size=self.hparams.eval_batch_size,
                          shuffle=False, num_workers=self.hparams.num_workers, collate_fn=collate_whole)

    def val_dataloader(self):
        return self._eval_loader("val")

    def test_dataloader(self):
        return self._eval_loader("test")
