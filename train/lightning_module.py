"""The LightningModule: the detector, its loss, optimiser and schedule, and validation / test metrics.

Metrics come from :class:`tankerwatch.infer.evaluation.metrics.DetectionEvaluator` (the project's one
definition) over whole validation images: detection figures are logged as ``val/vessel_AP50``,
``val/vessel_AP50_95`` (checkpoint selection uses the first), type AP as ``val/AP50_tanker`` /
``val/AP50_other``, and load-state figures apart under ``val/load_*`` (accuracy, macro-F1, coverage,
ECE; also ``.gsd_le2`` for GSD <= 2 m). Each epoch's full figures go to ``<log_dir>/metrics_<stage>/``
as JSON plus PR-curve and confusion PNGs.

Each validation image is read with its own view row (``models/detector.py``: its GSD at the model's
input and its angles, NaN where the labels give none), as ``detect`` reads a scene. The load
stage's calibration (a factor on each cue's error scales, then two temperatures, a slope in GSD
and a bias on its logit) is refitted on the validation tankers after each validation epoch
(:mod:`tankerwatch.train.calibration`) and logged as ``val/shadow_scale_factor``,
``val/side_scale_factor``, ``val/load_temperature``, ``val/load_side_temperature``,
``val/load_gsd_temperature_slope`` and ``val/load_bias``. The laden fraction
is read on the same tankers' labelled boxes where their draft fraction is known (synthetic truth):
``val/laden_fraction_mae`` (central estimate) and ``val/laden_fraction_coverage`` (share of truths
inside [lo, hi], nominally 0.8).

Under DDP each rank evaluates its share of the images; at the epoch's end the ranks exchange what
they gathered (keyed by dataset index, so the images a padded ``DistributedSampler`` repeats count
once) and every rank computes the figures and fits the calibration on all of it. So every rank logs,
saves and checkpoints the numbers a single process would give.

Checkpoints carry a ``"tankerwatch"`` member of plain JSON values (see ``train/checkpoint.py``), so
they load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import functools
import hashlib
import math
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.optim.swa_utils import AveragedModel

from tankerwatch.infer import __version__
from tankerwatch.infer.core.errors import ConfigError, TankerwatchError
from tankerwatch.infer.core.labels import LOAD_NAMES, TYPE_NAMES, VesselType
from tankerwatch.infer.evaluation.metrics import DetectionEvaluator
from tankerwatch.infer.runtime.tiling import assumed_gsd_m
from tankerwatch.models import build_detector
from tankerwatch.models.hull_window import WINDOW_HW

from .calibration import LabelledReadings, fit_stage_calibration
from .datamodule import taught_heads
from .losses import LossWeights, detection_loss
from .rarity import WidthRarity
from .targets import IGNORE, cue_labelled, labelled_view_row, load_visible, vessel_classes, vessel_cue_widths
from .twins import TWIN_CUES, frozen_batch_statistics, same_draws

CHECKPOINT_FORMAT = "tankerwatch-checkpoint"
# 2: the detector gained its quality head; version-1 weights lack it. 3: the load stage's hull
# windows span 2.5 beams, not 4 (models/hull_window.ACROSS_SPAN, not stored in the weights): a
# version-2 load stage would load cleanly and misread every window. 4: a hull-window type head.
# 5: the load head also regresses the laden fraction (5 outputs, not 2). 6: the load stage
# measures shadow and hull-side widths (4 outputs) and reads load state from them by geometry.
# 7: it measures them from a profile across the hull (models/hull_profile.py), other weights.
# 8: its error scales also read the scene's geometry (a hidden layer, wider input). 9: its profile
# is turned by the scene's angles and says so in two more input rows (a wider first layer).
# 10: its calibration has a bias beside the temperature (one more buffer). 11: and a factor per
# cue on the error scales (one more buffer). 12: and a second temperature, for calls resting on
# the side strip (one more buffer). 13: and a slope of its inverse temperature in log GSD (one
# more buffer).
CHECKPOINT_FORMAT_VERSION = 13
# Figures logged per epoch (the JSON file has them all, per GSD band too).
LOGGED_FIGURES = ("vessel_AP50", "vessel_AP50_95", "AP50_tanker", "AP50_other", "load_accuracy",
                  "load_macro_f1", "load_coverage", "load_accuracy_covered", "load_ece",
                  "load_accuracy.gsd_le2", "length_rel_mae")


def _all_gather(obj: Any) -> list | None:
    """Every rank's ``obj`` (picklable), in rank order, under multi-process training; None in a
    single process, where there is nothing to gather."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def _ramped_ema(decay: float):
    """EMA update with the decay ramped up over the first steps, so early evaluations are not an
    average dominated by the random initial weights."""
    # A partial of a module-level function, not a closure: ddp_spawn pickles the module.
    return functools.partial(_ramped_ema_update, decay=decay)


def _ramped_ema_update(averaged: torch.Tensor, current: torch.Tensor, count: torch.Tensor, decay: float) -> torch.Tensor:
    step_decay = min(decay, (1.0 + float(count)) / (10.0 + float(count)))
    return averaged * step_decay + current * (1.0 - step_decay)


def step_generator(seed: int, stream: int, rank: int, device: torch.device) -> torch.Generator:
    """A generator on ``device`` for one stream of one training step on one rank, seeded from all
    three by numpy's SeedSequence: streams of nearby steps and seeds do not overlap."""
    state = np.random.SeedSequence([seed, stream, rank]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device=device).manual_seed(int(state[0]) << 32 | int(state[1]))


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """Learning-rate factor at optimiser step ``step`` of ``total``: a linear ramp over ``warmup``
    steps, then a cosine from 1 down to 0.05 (not 0: the last steps still learn)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def view_row(source, upsample: float, gsd_range_m: tuple[float, float] | None) -> torch.Tensor:
    """``[1, 5]`` view row (``models/detector.py``) of a labelled image enlarged by ``upsample``:
    its GSD at the model's input and its labelled angles, NaN where unknown (the load stage then
    reads it geometry-free). An image without a GSD is read at
    :func:`~tankerwatch.infer.runtime.tiling.assumed_gsd_m` of the model's ``gsd_range_m``, as
    ``detect`` reads a scene without one."""
    gsd = assumed_gsd_m(gsd_range_m) if source.gsd_m is None else source.gsd_m / upsample
    return labelled_view_row(source.image, gsd).to(torch.float32)


def known_draft_fractions(vessels, gsd_m: float | None, load_max_gsd_m: float) -> np.ndarray:
    """``[M]`` the draft fraction (0 ballast, 1 laden) of each tanker that has one where its load
    is visible (GSD at most ``load_max_gsd_m`` or unknown), -1 elsewhere."""
    visible = load_visible(gsd_m, load_max_gsd_m)
    return np.array([float(v.draft_fraction) if visible and v.draft_fraction is not None
                     and v.vessel_type is VesselType.TANKER else IGNORE for v in vessels], dtype=np.float64)


def calibration_readings(model, image: torch.Tensor, view: torch.Tensor, source, upsample: float,
                         load_max_gsd_m: float) -> LabelledReadings | None:
    """The load stage's raw readings of one labelled image's tankers with a known, visible load,
    draft fraction or cue widths, on their labelled boxes (in ``image``'s pixels: the source's
    times ``upsample``) under ``view``; None when there are none."""
    vessels = source.image.vessels
    _, loads = vessel_classes(vessels, source.gsd_m, load_max_gsd_m)
    fractions = known_draft_fractions(vessels, source.gsd_m, load_max_gsd_m)
    cues = vessel_cue_widths(vessels, source.gsd_m if load_visible(source.gsd_m, load_max_gsd_m) else None)
    known = np.flatnonzero((loads >= 0) | (fractions >= 0) | cue_labelled(cues))
    if not len(known):
        return None
    labelled = np.stack([vessels[i].box for i in known]).astype(np.float64)
    labelled[:, :4] *= upsample
    boxes = torch.as_tensor(labelled, dtype=torch.float32, device=image.device)
    readings = model.read_image_cues(image, boxes[None], view)[0].float().cpu()
    return LabelledReadings(readings, boxes.cpu(), view.float().cpu().repeat(len(known), 1),
                            torch.as_tensor(loads[known]), torch.as_tensor(fractions[known], dtype=torch.float32),
                            torch.as_tensor(cues[known]))


class TankerwatchModule(L.LightningModule):
    def __init__(self, backbone: str = "resnet18", in_channels: int = 3, output_stride: int = 4,
                 fpn_channels: int = 64, head_channels: int = 64, top_k: int = 100, score_threshold: float = 0.05,
                 weights: str | None = None, quality_exponent: float = 0.5, window_size: tuple[int, int] = WINDOW_HW,
                 lr: float = 2e-3, weight_decay: float = 1e-4, warmup_steps: int = 50,
                 loss_weights: dict[str, float] | None = None, type_class_weights: list[float] | None = None,
                 load_uncertain_band: tuple[float, float] = (0.3, 0.7), load_max_gsd_m: float = 3.0,
                 window_repeats: int = 1, cue_rarity_power: float = 0.5, ema_decay: float | None = None,
                 init_from: str | None = None):
        """Model options: see :class:`tankerwatch.models.OrientedDetector` (``weights``: an opt-in
        torchvision weight enum name, e.g. ``ResNet18_Weights.IMAGENET1K_V1``, which downloads).
        ``loss_weights``: :class:`~tankerwatch.train.losses.LossWeights` fields.
        ``type_class_weights`` ([tanker, other]): cross-entropy weights against class imbalance (the
        crop sampler balances classes too).
        ``load_uncertain_band`` / ``load_max_gsd_m``: where a load call is 'uncertain' (stored in
        the checkpoint for ``detect``).
        ``window_repeats``: profiles per vessel with known cue widths per step for the load stage,
        each with its own box jitter and flips (a crop holds only a few vessels, so the stage
        otherwise sees few a step); the type head reads one hull window per vessel.
        ``cue_rarity_power``: each shadow and side-strip width weighs in the load stage's losses as
        (its width's frequency in the training data) to the minus this power
        (:class:`~tankerwatch.train.rarity.WidthRarity`), so the rare wide strips of hulls in
        ballast are not read as the common narrow ones; 0 weighs every width the same.
        ``ema_decay``: keep an exponential moving average of the weights (decay ramped up from 0 as
        in ``(1 + n) / (10 + n)``); validation, test, checkpoint selection and export then use it.
        ``init_from``: a tankerwatch checkpoint whose weights start a new ``fit`` (fine-tuning): each
        tensor whose name and shape match is copied (:func:`~tankerwatch.train.checkpoint.copy_matching_weights`);
        ignored when ``fit`` resumes from ``--ckpt_path``, whose weights win."""
        super().__init__()
        self.save_hyperparameters()
        self.model = build_detector(backbone=backbone, in_channels=in_channels, output_stride=output_stride,
                                    fpn_channels=fpn_channels, head_channels=head_channels, top_k=top_k,
                                    score_threshold=score_threshold, weights=weights,
                                    quality_exponent=quality_exponent, window_size=window_size)
        # Channels-last weights and inputs let oneDNN (CPU) and cuDNN (GPU) skip layout reorders
        # around every convolution: about 10 % off a CPU training step of the small config.
        self.model.to(memory_format=torch.channels_last)
        try:
            self.loss_weights = LossWeights(**(loss_weights or {}))
        except TypeError as exc:
            raise ConfigError(f"model.loss_weights: {exc}") from None
        if type_class_weights is not None and len(type_class_weights) != 2:
            raise ConfigError(f"model.type_class_weights needs 2 numbers, got {type_class_weights}")
        self.register_buffer("type_class_weights", None if type_class_weights is None
                             else torch.tensor(type_class_weights, dtype=torch.float32), persistent=False)
        if window_repeats < 1:
            raise ConfigError(f"model.window_repeats must be >= 1, got {window_repeats}")
        if cue_rarity_power < 0:
            raise ConfigError(f"model.cue_rarity_power must be >= 0, got {cue_rarity_power}")
        self.cue_rarity = WidthRarity(power=cue_rarity_power)
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ConfigError(f"model.ema_decay must lie in (0, 1), got {ema_decay}")
        self.ema = None if ema_decay is None else AveragedModel(self.model, avg_fn=_ramped_ema(ema_decay),
                                                                use_buffers=True).requires_grad_(False)
        self.run_config_yaml: str | None = None  # set by the CLI's config callback
        self.val_metrics: dict[str, float] = {}
        # The GSD range the model is trained for (its training images', as the checkpoint records
        # it), which sets the GSD an evaluation image without one is read at (view_row).
        self.gsd_range_m: list[float] | None = None
        self._evaluator: DetectionEvaluator | None = None

    # -- data hookup -----------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule
        datamodule.output_stride = self.model.output_stride
        datamodule.load_max_gsd_m = self.hparams.load_max_gsd_m
        self._step_seed_base = torch.initial_seed()  # seed_everything's seed, before any reseeding
        if stage == "fit":
            self.gsd_range_m = datamodule.gsd_range_m()
        roles = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(stage, ())
        for role in roles:
            if datamodule.hparams[role] is None:
                continue
            bands = datamodule.band_count(role)
            if bands != self.model.in_channels:
                raise ConfigError(f"data.{role} images give {bands} band(s) after data.scaling.bands, but "
                                  f"model.in_channels is {self.model.in_channels}")

    def on_fit_start(self) -> None:
        # Here, not in setup: Lightning sets trainer.ckpt_path (a resumed run) only after setup.
        if self.hparams.init_from and self.trainer.ckpt_path is None:
            self._start_from(self.hparams.init_from)

    def _start_from(self, path: str) -> None:
        # A lazy import: train/checkpoint.py reads this module's format constants.
        from .checkpoint import copy_matching_weights

        copied, left = copy_matching_weights(path, self.model)
        if self.ema is not None:
            self.ema.module.load_state_dict(self.model.state_dict())
        kept = f"; left at their initial values: {', '.join(left[:6])}{' ...' if len(left) > 6 else ''}" if left else ""
        rank_zero_info(f"model.init_from {path}: {copied} weight tensors copied{kept}")

    # -- training --------------------------------------------------------------------------------
    def forward(self, image: torch.Tensor):
        return self.model(image)

    @property
    def eval_model(self):
        """The weights that are evaluated, checkpointed for selection and exported: the EMA if kept."""
        return self.model if self.ema is None else self.ema.module

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        repeats = self.hparams.window_repeats
        # Only the load stage's windows are repeated: the type head learns from every vessel, a few
        # times as many windows, and is not short of them.
        window_cues = batch["window_cues"].repeat(1, repeats, 1)
        unrepeated = batch["window_type"].shape[1]
        window_type = torch.cat([batch["window_type"],
                                 torch.full_like(window_cues[:, unrepeated:, 0], IGNORE, dtype=batch["window_type"].dtype)],
                                dim=1)
        targets = {**batch, "window_cues": window_cues, "window_type": window_type}
        image = batch["image"].contiguous(memory_format=torch.channels_last)
        maps = self.model(image, window_boxes=batch["window_boxes"].repeat(1, repeats, 1),
                          window_geometry=batch["window_geometry"].repeat(1, repeats, 1),
                          window_sides=batch["window_sides"].repeat(1, repeats, 1),
                          load_valid=cue_labelled(window_cues), type_valid=window_type >= 0)
        if "load_image" in batch:
            maps, targets = self._with_load_crops(maps, targets, batch)
        cues = targets["window_cues"]
        targets["window_cue_weights"] = self.cue_rarity(cues, cues >= 0)
        losses = detection_loss(maps, targets, self.loss_weights, self.type_class_weights)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # DDP wants every parameter's gradient from every rank's step, and a step whose crops
            # hold no labelled tanker reads none through the load or window head: they join the
            # loss at weight 0. Not in one process, where AdamW would then decay weights the step
            # did not train.
            untouched = sum(p.sum() for p in self.model.parameters() if p.requires_grad)
            losses["total"] = losses["total"] + 0.0 * untouched
        if not torch.isfinite(losses["total"]):
            bad = ", ".join(k for k, v in losses.items() if not torch.isfinite(v))
            raise TankerwatchError(f"training loss is not finite ({bad}) at step {self.global_step}; "
                                   f"batch files: {', '.join(sorted(set(batch['paths'])))}")
        size = batch["image"].shape[0]
        self.log("train/loss", losses["total"], prog_bar=True, batch_size=size)
        for name, value in losses.items():
            if name != "total":
                self.log(f"train/loss_{name}", value, batch_size=size)
        return losses["total"]

    def _with_load_crops(self, maps: dict, targets: dict, batch: dict) -> tuple[dict, dict]:
        """``maps`` and ``targets`` with the load stage's readings of the batch's load crops
        (``train/datasets.py``: ``load_image [N, L, C, S, S]``, ``load_boxes``, ``load_cues``,
        ``load_geometry``, ``load_sides``) pooled into its own: every profile, from a detector crop
        or a load crop, counts once in the cue losses' means. Each tanker of a load crop is read once, not
        ``window_repeats`` times: the stage learns from distinct hulls per step, not from jittered
        copies of the same ones (docs/experiments.md), and a profile costs the same either way.
        Contiguous, not channels-last: only GridSample reads these images, and it is faster so.

        With the crops' twins (``load_twins [N, L, 2, C, S, S]``, ``load_twin_known [N, L, 2]``)
        also ``maps["twin_base_readings"] [N * L, K, 4]`` (the crops' own readings) and
        ``maps["twin_readings"]``, by cue, ``[N * L, K, 4]`` (the cues some crop has a twin of),
        ``targets["twin_cues"] [N * L, K, 2]`` (the crops' drawn widths) and
        ``targets["twin_known"]``, by cue, ``[N * L, K]`` for :func:`~tankerwatch.train.losses.twin_loss`. Each twin is read under the draws the crops
        are read under (the same jitter, flips and dropped angles), so two readings differ by the
        missing cue alone, and its batch statistics stay out of the running ones."""
        head = self.model.load_head
        image = batch["load_image"].flatten(0, 1)
        boxes = batch["load_boxes"].flatten(0, 1)
        cues = batch["load_cues"].flatten(0, 1)
        geometry, sides = batch["load_geometry"].flatten(0, 1), batch["load_sides"].flatten(0, 1)
        valid = cue_labelled(cues)
        twin_maps, twin_targets = {}, {}
        if "load_twins" in batch:
            twins, known = batch["load_twins"].flatten(0, 1), batch["load_twin_known"].flatten(0, 1)
            twin_readings, twin_known = {}, {}
            for cue in range(len(TWIN_CUES)):
                if bool(known[:, cue].any()):
                    with same_draws(head.draws), frozen_batch_statistics(head):
                        twin_readings[cue] = head(self.model._prepare(twins[:, cue]), boxes, geometry,
                                                  valid=valid, sides=sides)
                    twin_known[cue] = known[:, cue, None] & valid
            twin_maps = {"twin_readings": twin_readings}
            twin_targets = {"twin_cues": cues, "twin_known": twin_known}
        readings, marks, edges = head(self.model._prepare(image), boxes, geometry, valid=valid, with_marks=True,
                                      sides=sides)
        if twin_maps:
            twin_maps["twin_base_readings"] = readings

        def pooled(own: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
            return torch.cat([own.flatten(0, 1), extra.flatten(0, 1)]).unsqueeze(0)

        maps = {**maps, **twin_maps, "cue_readings": pooled(maps["cue_readings"], readings),
                "cue_marks": pooled(maps["cue_marks"], marks), "cue_edges": pooled(maps["cue_edges"], edges)}
        return maps, {**targets, **twin_targets, "window_cues": pooled(targets["window_cues"], cues)}

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        # Checkpoints hold no generator state: seeding every draw inside the model from the step
        # makes a run resumed with --ckpt_path last identical to one never stopped. Each head's
        # jitter and flips get a stream of their own, so a change to one head (its size, its
        # dropout, which draws on the global generator) does not reshuffle the other's.
        seed = self._step_seed_base + self.global_step
        torch.manual_seed(seed)
        for stream, head in enumerate((self.model.load_head, self.model.type_window_head), start=1):
            head.draws = step_generator(seed, stream, self.global_rank, self.device)

    def on_train_batch_end(self, outputs, batch: dict, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = min(self.hparams.warmup_steps, total // 2)
        factor = functools.partial(warmup_cosine, warmup=warmup, total=total)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # -- evaluation ------------------------------------------------------------------------------
    def _start_eval(self) -> None:
        self._evaluator = DetectionEvaluator(uncertain_band=tuple(self.hparams.load_uncertain_band),
                                             load_max_gsd_m=self.hparams.load_max_gsd_m)
        # Dataset index -> the load stage's readings of the image's labelled tankers.
        self._calibration: dict[int, LabelledReadings] = {}

    def _collect_calibration(self, image: torch.Tensor, view: torch.Tensor, source, index: int,
                             upsample: float) -> None:
        """The load stage's readings of the image's tankers with a known load, draft fraction or
        cue widths (:func:`calibration_readings`)."""
        readings = calibration_readings(self.eval_model, image, view, source, upsample, self.hparams.load_max_gsd_m)
        if readings is not None:
            self._calibration[index] = readings

    def _pool_ranks(self) -> None:
        """Under DDP, give every rank the evaluator images and calibration readings of all ranks,
        each image once, in dataset order (what one process with a sequential loader holds)."""
        gathered = _all_gather((self._evaluator.state(), self._calibration))
        if gathered is None:
            return
        self._evaluator.merge(state for state, _ in gathered)
        pooled: dict[int, LabelledReadings] = {}
        for _, calibration in gathered:
            for index, readings in calibration.items():
                pooled.setdefault(index, readings)
        self._calibration = dict(sorted(pooled.items()))

    def _fraction_figures(self) -> dict[str, float]:
        """Laden fraction on the labelled boxes of tankers with a known draft, through the
        calibration fitted before: MAE of the central estimate and the share of truths inside [lo,
        hi]; empty when there are none."""
        if not self._calibration:
            return {}
        labelled = LabelledReadings.pool(list(self._calibration.values()))
        known = labelled.drafts >= 0
        if not bool(known.any()):
            return {}
        with torch.no_grad():
            _, predicted = labelled.to(self.eval_model.load_head.load_bias.device).read(self.eval_model, calibrated=True)
        predicted, truth = predicted[known].cpu(), labelled.drafts[known]
        inside = (truth >= predicted[:, 1]) & (truth <= predicted[:, 2])
        return {"laden_fraction_mae": float((predicted[:, 0] - truth).abs().mean()),
                "laden_fraction_coverage": float(inside.float().mean())}

    def _fit_load_calibration(self) -> None:
        if not self._calibration:
            return
        labelled = LabelledReadings.pool(list(self._calibration.values()))
        device = self.eval_model.load_head.load_bias.device
        with torch.no_grad():
            fitted = fit_stage_calibration(self.eval_model, labelled.to(device))
            # Both copies: the EMA averages buffers too, and would otherwise pull them back to the identity.
            fitted.apply(self.model.load_head)

    def _eval_step(self, batch: dict, role: str) -> None:
        sources = self.trainer.datamodule.sources(role)
        for k, (index, (height, width)) in enumerate(zip(batch["index"], batch["sizes"], strict=True)):
            one = batch["image"][k:k + 1, :, :height, :width].contiguous(memory_format=torch.channels_last)
            source = sources[index]
            view = view_row(source, batch["upsample"][k], self.gsd_range_m).to(one.device)
            boxes, scores, type_probs, load_probs, count, *_ = self.eval_model.detect(one, view)
            n = int(count[0])
            found = boxes[0, :n].double().cpu().numpy()
            found[:, :4] /= batch["upsample"][k]  # back to the image's own pixels, where its labels are
            self._evaluator.add(source.image, found, scores[0, :n].cpu().numpy(),
                                type_probs[0, :n].cpu().numpy(), load_probs[0, :n].cpu().numpy(),
                                gsd_m=source.gsd_m, key=index)
            if role == "val":
                self._collect_calibration(one, view, source, index, batch["upsample"][k])

    def _end_eval(self, stage: str) -> None:
        self._pool_ranks()
        figures = self._evaluator.compute()
        logged = {f"{stage}/{k}": float(figures[k]) for k in LOGGED_FIGURES if figures.get(k) is not None}
        logged.update({f"{stage}/{k}": v for k, v in self._fraction_figures().items()})
        if f"{stage}/vessel_AP50" not in logged:
            logged[f"{stage}/vessel_AP50"] = 0.0  # no truth at all: keep the monitored key defined
        # Every rank holds the same pooled figures, so there is nothing to reduce: AP averaged over
        # ranks would not be AP. sync_dist only keeps Lightning from warning about epoch-level
        # figures logged without it; "max" of equal values is exact at any world size, where a
        # float32 mean over, say, three ranks may move the last bit. One process: no-op either way.
        self.log_dict(logged, prog_bar=False, sync_dist=True, reduce_fx="max")
        if self.trainer.sanity_checking:
            return
        if stage == "val":
            self.val_metrics = {k.split("/", 1)[1]: v for k, v in logged.items()}
            self._fit_load_calibration()
            head = self.eval_model.load_head
            # The same on every rank (fitted on the pooled logits), as above.
            self.log("val/load_temperature", head.log_temperature.exp(), sync_dist=True, reduce_fx="max")
            self.log("val/load_side_temperature", head.log_side_temperature.exp(), sync_dist=True, reduce_fx="max")
            self.log("val/load_gsd_temperature_slope", head.gsd_temperature_slope.clone(), sync_dist=True,
                     reduce_fx="max")
            self.log("val/load_bias", head.load_bias.clone(), sync_dist=True, reduce_fx="max")
            for cue, name in enumerate(("shadow", "side")):
                self.log(f"val/{name}_scale_factor", head.cue_scale_log[cue].exp(), sync_dist=True, reduce_fx="max")
        # log_dir is a broadcast from rank 0: every rank must ask, or rank 0 waits for ever.
        log_dir = self.trainer.log_dir
        if self.trainer.is_global_zero and log_dir:
            out_dir = Path(log_dir) / f"metrics_{stage}"
            out_dir.mkdir(parents=True, exist_ok=True)
            self._evaluator.save(out_dir, labels={"data": self.trainer.datamodule.hparams.name, "split": stage,
                                                  "epoch": self.current_epoch})

    def on_validation_epoch_start(self) -> None:
        self._start_eval()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._end_eval("val")

    def on_test_epoch_start(self) -> None:
        self._start_eval()

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._end_eval("test")

    # -- checkpoint ------------------------------------------------------------------------------
    def checkpoint_meta(self) -> dict[str, Any]:
        """What ``load_checkpoint``, ``export`` and ``detect`` need besides the weights (plain JSON)."""
        datamodule = self.trainer.datamodule if self._trainer is not None else None
        config_yaml = self.run_config_yaml or ""
        counts = datamodule.label_counts() if datamodule is not None else None
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_FORMAT_VERSION,
            "project_version": __version__,
            "model_config": dict(self.model.config),
            "scaling": datamodule.scaling.to_dict() if datamodule is not None else None,
            "type_names": list(TYPE_NAMES),
            "load_names": list(LOAD_NAMES),
            "gsd_range_m": datamodule.gsd_range_m() if datamodule is not None else None,
            # The longest vessel it was taught to box whole (99th percentile of train label lengths).
            "max_vessel_px": datamodule.max_vessel_px() if datamodule is not None else None,
            # Which heads had labels to learn from: detect reports what a model was not taught as
            # 'unknown' rather than pass on an untrained head's guess.
            "label_counts": counts,
            "taught": taught_heads(counts) if counts is not None else None,
            "load_uncertain_band": [float(v) for v in self.hparams.load_uncertain_band],
            "load_max_gsd_m": float(self.hparams.load_max_gsd_m),
            "config_yaml": config_yaml,
            "config_sha256": hashlib.sha256(config_yaml.encode("utf-8")).hexdigest(),
            "val_metrics": dict(self.val_metrics),
        }

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["tankerwatch"] = self.checkpoint_meta()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.val_metrics = dict(checkpoint.get("tankerwatch", {}).get("val_metrics", {}))
        self.gsd_range_m = checkpoint.get("tankerwatch", {}).get("gsd_range_m", self.gsd_range_m)
        # Checkpoints from before the width counts resume with none counted yet.
        state = checkpoint.get("state_dict", {})
        state.setdefault("cue_rarity.counts", torch.zeros_like(self.cue_rarity.counts))
