"""The detector's training loss: focal loss on the centre heatmap, L1 on box regression around
peak cells (weighted by ``reg_weight``, one unit per vessel: ``train/targets.py``), class-weighted cross-entropy on vessel type where labelled, and on load state from the
hull-window head's logits for the crop's load-labelled boxes.

Partial labels: type and load targets of -1 (unknown, or load above ``load_max_gsd_m``) contribute
nothing, so a ship-only dataset teaches detection alone and can be mixed with fully labelled data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossWeights:
    heatmap: float = 1.0
    offset: float = 1.0
    size: float = 1.0
    angle: float = 1.0
    vessel_type: float = 1.0
    load: float = 1.0


def focal_heatmap_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0):
    """CenterNet's penalty-reduced focal loss, summed and divided by the number of peaks (>= 1)."""
    prob = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1.0).to(prob.dtype)
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    pos_loss = -(log_p * (1 - prob) ** alpha * positive).sum()
    neg_loss = -(log_not_p * prob ** alpha * (1 - target) ** beta * (1 - positive)).sum()
    return (pos_loss + neg_loss) / positive.sum().clamp(min=1.0)


def detection_loss(maps: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], weights: LossWeights,
                   type_class_weights: torch.Tensor | None = None,
                   load_class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """All loss terms and their weighted ``total`` (a dict of scalars)."""
    heat = focal_heatmap_loss(maps["heatmap"], targets["heatmap"])
    weight = targets["reg_weight"].unsqueeze(1)
    vessels = weight.sum().clamp(min=1.0)
    diff = (maps["reg"] - targets["reg"]).abs() * weight
    offset = diff[:, 0:2].sum() / vessels
    size = diff[:, 2:4].sum() / vessels
    angle = diff[:, 4:6].sum() / vessels
    vessel_type = _masked_ce(maps["type_logits"], targets["type"], type_class_weights)
    load = _masked_ce(maps["load_logits"], targets["load"], load_class_weights, channels_last=True)
    total = (weights.heatmap * heat + weights.offset * offset + weights.size * size + weights.angle * angle
             + weights.vessel_type * vessel_type + weights.load * load)
    return {"total": total, "heatmap": heat, "offset": offset, "size": size, "angle": angle,
            "type": vessel_type, "load": load}


def _masked_ce(logits: torch.Tensor, target: torch.Tensor, class_weights: torch.Tensor | None,
               channels_last: bool = False) -> torch.Tensor:
    """Cross-entropy over labelled positions (target >= 0). ``logits``: ``[N, 2, h, w]`` maps, or
    ``[N, M, 2]`` per-box logits with ``channels_last``."""
    labelled = target >= 0
    if not bool(labelled.any()):
        return logits.sum() * 0.0  # keeps the graph (and DDP's parameter bookkeeping) intact
    picked = (logits if channels_last else logits.permute(0, 2, 3, 1))[labelled]
    return F.cross_entropy(picked, target[labelled], weight=class_weights)
