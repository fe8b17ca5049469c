"""The LightningModule: the detector, its loss, optimiser and schedule, and validation / test metrics.

Metrics come from :class:`tankerwatch.infer.metrics.DetectionEvaluator` (the project's one
definition) over whole validation images: detection figures are logged as ``val/vessel_AP50``,
``val/vessel_AP50_95`` (checkpoint selection uses the first), type AP as ``val/AP50_tanker`` /
``val/AP50_other``, and load-state figures apart under ``val/load_*`` (accuracy, macro-F1, coverage,
ECE; also ``.gsd_le2`` for GSD <= 2 m). Each epoch's full figures go to ``<log_dir>/metrics_<stage>/``
as JSON plus PR-curve and confusion PNGs.

Checkpoints carry a ``"tankerwatch"`` member of plain JSON values (see ``train/checkpoint.py``), so
they load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch

from tankerwatch.infer import __version__
from tankerwatch.infer.errors import ConfigError, TankerwatchError
from tankerwatch.infer.labels import LOAD_NAMES, TYPE_NAMES
from tankerwatch.infer.metrics import DetectionEvaluator
from tankerwatch.models import build_detector

from .losses import LossWeights, detection_loss

CHECKPOINT_FORMAT = "tankerwatch-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
# Figures logged per epoch (the JSON file has them all, per GSD band too).
LOGGED_FIGURES = ("vessel_AP50", "vessel_AP50_95", "AP50_tanker", "AP50_other", "load_accuracy",
                  "load_macro_f1", "load_coverage", "load_accuracy_covered", "load_ece",
                  "load_accuracy.gsd_le2", "length_rel_mae")


class TankerwatchModule(L.LightningModule):
    def __init__(self, backbone: str = "resnet18", in_channels: int = 3, output_stride: int = 4,
                 fpn_channels: int = 64, head_channels: int = 64, top_k: int = 100, score_threshold: float = 0.05,
                 weights: str | None = None, lr: float = 2e-3, weight_decay: float = 1e-4, warmup_steps: int = 50,
                 loss_weights: dict[str, float] | None = None, type_class_weights: list[float] | None = None,
                 load_class_weights: list[float] | None = None,
                 load_uncertain_band: tuple[float, float] = (0.3, 0.7), load_max_gsd_m: float = 3.0):
        """Model options: see :class:`tankerwatch.models.OrientedDetector` (``weights``: an opt-in
        torchvision weight enum name, e.g. ``ResNet18_Weights.IMAGENET1K_V1``, which downloads).
        ``loss_weights``: :class:`~tankerwatch.train.losses.LossWeights` fields.
        ``type_class_weights`` ([tanker, other]) / ``load_class_weights`` ([empty, loaded]): cross-entropy
        weights against class imbalance (the crop sampler balances classes too).
        ``load_uncertain_band`` / ``load_max_gsd_m``: where a load call is 'uncertain' (stored in
        the checkpoint for ``detect``; the load loss is masked above ``load_max_gsd_m``)."""
        super().__init__()
        self.save_hyperparameters()
        self.model = build_detector(backbone=backbone, in_channels=in_channels, output_stride=output_stride,
                                    fpn_channels=fpn_channels, head_channels=head_channels, top_k=top_k,
                                    score_threshold=score_threshold, weights=weights)
        try:
            self.loss_weights = LossWeights(**(loss_weights or {}))
        except TypeError as exc:
            raise ConfigError(f"model.loss_weights: {exc}") from None
        for name, value in (("type_class_weights", type_class_weights), ("load_class_weights", load_class_weights)):
            if value is not None and len(value) != 2:
                raise ConfigError(f"model.{name} needs 2 numbers, got {value}")
            self.register_buffer(name, None if value is None else torch.tensor(value, dtype=torch.float32),
                                 persistent=False)
        self.run_config_yaml: str | None = None  # set by the CLI's config callback
        self.val_metrics: dict[str, float] = {}
        self._evaluator: DetectionEvaluator | None = None

    # -- data hookup -----------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule
        datamodule.output_stride = self.model.output_stride
        datamodule.load_max_gsd_m = self.hparams.load_max_gsd_m
        self._step_seed_base = torch.initial_seed()  # seed_everything's seed, before any reseeding
        roles = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(stage, ())
        for role in roles:
            if datamodule.hparams[role] is None:
                continue
            bands = datamodule.band_count(role)
            if bands != self.model.in_channels:
                raise ConfigError(f"data.{role} images give {bands} band(s) after data.scaling.bands, but "
                                  f"model.in_channels is {self.model.in_channels}")

    # -- training --------------------------------------------------------------------------------
    def forward(self, image: torch.Tensor):
        return self.model(image)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        maps = self.model(batch["image"], load_boxes=batch["load_boxes"])
        losses = detection_loss(maps, batch, self.loss_weights, self.type_class_weights, self.load_class_weights)
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

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        # Randomness inside the model (dropout, the load head's jitter and flips) draws on torch's
        # global generator, which checkpoints do not hold: seeding it per step makes a run resumed
        # with --ckpt_path last identical to one never stopped.
        torch.manual_seed(self._step_seed_base + self.global_step)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = min(self.hparams.warmup_steps, total // 2)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total - warmup)
            return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # -- evaluation ------------------------------------------------------------------------------
    def _start_eval(self) -> None:
        self._evaluator = DetectionEvaluator(uncertain_band=tuple(self.hparams.load_uncertain_band),
                                             load_max_gsd_m=self.hparams.load_max_gsd_m)

    def _eval_step(self, batch: dict, role: str) -> None:
        sources = self.trainer.datamodule.sources(role)
        for k, (index, (height, width)) in enumerate(zip(batch["index"], batch["sizes"], strict=True)):
            one = batch["image"][k:k + 1, :, :height, :width]
            boxes, scores, type_probs, load_probs, count = self.model.detect(one)
            n = int(count[0])
            source = sources[index]
            self._evaluator.add(source.image, boxes[0, :n].double().cpu().numpy(), scores[0, :n].cpu().numpy(),
                                type_probs[0, :n].cpu().numpy(), load_probs[0, :n].cpu().numpy(),
                                gsd_m=source.gsd_m)

    def _end_eval(self, stage: str) -> None:
        figures = self._evaluator.compute()
        logged = {f"{stage}/{k}": float(figures[k]) for k in LOGGED_FIGURES if figures.get(k) is not None}
        if f"{stage}/vessel_AP50" not in logged:
            logged[f"{stage}/vessel_AP50"] = 0.0  # no truth at all: keep the monitored key defined
        self.log_dict(logged, prog_bar=False, sync_dist=True)
        if self.trainer.sanity_checking:
            return
        if stage == "val":
            self.val_metrics = {k.split("/", 1)[1]: v for k, v in logged.items()}
        if self.trainer.is_global_zero and self.trainer.log_dir:
            out_dir = Path(self.trainer.log_dir) / f"metrics_{stage}"
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
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_FORMAT_VERSION,
            "project_version": __version__,
            "model_config": dict(self.model.config),
            "scaling": datamodule.scaling.to_dict() if datamodule is not None else None,
            "type_names": list(TYPE_NAMES),
            "load_names": list(LOAD_NAMES),
            "gsd_range_m": datamodule.gsd_range_m() if datamodule is not None else None,
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
