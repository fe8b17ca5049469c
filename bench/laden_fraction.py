"""Benchmark: the laden fraction of the hull-window load stage, trained alone, on true tanker boxes.

The load stage (``models/hull_window.py``: load logits and the laden fraction's median and 80 %
interval from one head) shares no weights with the detector, so it can be studied without training
one: this trains a fresh stage on a config's training crops, step for step as ``tankerwatch fit``
does (``window_repeats`` windows a tanker, AdamW, warm-up then cosine, the config's load and
laden-fraction loss weights), and prints, every ``--every`` epochs, on the true boxes of held-out
tankers at GSD <= ``load_max_gsd_m`` per GSD band: the laden fraction's mean absolute error, the
share of truths inside [lo, hi] (nominally 0.80), the median interval width, and the load accuracy
of part-loaded tankers (draft fraction 0.3-0.7; truth loaded from 0.5) from ``load_probs`` and from
``fraction >= 0.5``. True boxes, not detected ones: the detector's box errors (which the training
jitter imitates) are not in these figures. All figures are SYNTHETIC.

    .venv/bin/python bench/laden_fraction.py --train TILES/train --eval OTHER_TILES
        [--config configs/ci.yaml] [--epochs 24] [--every 4] [--threads 2] [--seed 0]

``--train``: a split folder of ``synth tiles ... --format coco`` (the format that carries
``draft_fraction``); ``--eval``: a ``synth tiles`` folder of another seed (its manifest gives each
tanker's box, draft and the tile's GSD), e.g. ``tankerwatch synth tiles /tmp/eval --count 200
--size 256 --gsd 0.5:3 --seed 11 --format coco``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description  # noqa: E402

from tankerwatch.infer.core.boxes import normalize_boxes  # noqa: E402
from tankerwatch.infer.formats.dataset import read_dataset  # noqa: E402
from tankerwatch.infer.runtime.scaling import Scaling  # noqa: E402
from tankerwatch.models import build_detector  # noqa: E402
from tankerwatch.models.hull_window import HullWindowHead, laden_fraction_quantiles  # noqa: E402
from tankerwatch.train.augment import AugmentConfig  # noqa: E402
from tankerwatch.train.datasets import SceneSource, TrainCrops  # noqa: E402
from tankerwatch.train.export import model_input  # noqa: E402
from tankerwatch.train.lightning_module import warmup_cosine  # noqa: E402
from tankerwatch.train.losses import LossWeights, laden_fraction_loss  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BANDS = ((0.0, 1.0), (1.0, 2.0), (2.0, 3.0))  # GSD bands (m) of the targets, up to load_max_gsd_m
PART_LOADED = (0.3, 0.7)
MODEL_KEYS = ("backbone", "in_channels", "output_stride", "fpn_channels", "head_channels", "top_k")


def eval_tankers(folder: Path, scaling: Scaling, max_gsd: float) -> list[tuple]:
    """Per held-out tile with tankers at GSD <= ``max_gsd``: (input, true boxes [1, M, 5], draft
    fractions [M], gsd)."""
    out = []
    for tile in json.loads((folder / "manifest.json").read_text())["tiles"]:
        tankers = [v for v in tile["vessels"] if v["kind"] == "tanker"]
        if tile["view"]["gsd_m"] > max_gsd or not tankers:
            continue
        image = torch.from_numpy(model_input(folder / tile["file"], scaling))[None]
        boxes = normalize_boxes(np.array([v["box_px"] for v in tankers]))
        out.append((image, torch.tensor(boxes, dtype=torch.float32)[None],
                    np.array([v["draft_fraction"] for v in tankers]), tile["view"]["gsd_m"]))
    return out


def figures(head, prepare, tankers) -> list[dict]:
    """Per GSD band: count, fraction MAE, interval coverage and median width, part-loaded accuracy."""
    head.eval()
    rows = []
    with torch.no_grad():
        for image, boxes, drafts, gsd in tankers:
            out = head(prepare(image), boxes)[0]
            p_loaded = torch.softmax(out[:, :2], -1)[:, 1].numpy()
            fraction = laden_fraction_quantiles(out[:, 2:]).numpy()
            rows.extend((gsd, d, p, *f) for d, p, f in zip(drafts, p_loaded, fraction, strict=True))
    head.train()
    table = np.array(rows)
    result = []
    for low, high in BANDS:
        band = table[(table[:, 0] > low) & (table[:, 0] <= high)]
        if not len(band):
            continue
        truth, p_loaded, central, lo, hi = band[:, 1], band[:, 2], band[:, 3], band[:, 4], band[:, 5]
        part = (truth >= PART_LOADED[0]) & (truth <= PART_LOADED[1])
        loaded = truth >= 0.5
        result.append({"band": f"({low:g}, {high:g}]", "n": len(band), "part": int(part.sum()),
                       "mae": float(np.abs(central - truth).mean()),
                       "coverage": float(((truth >= lo) & (truth <= hi)).mean()),
                       "width": float(np.median(hi - lo)),
                       "part_acc_p": float(((p_loaded >= 0.5) == loaded)[part].mean()) if part.any() else math.nan,
                       "part_acc_f": float(((central >= 0.5) == loaded)[part].mean()) if part.any() else math.nan})
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="training tiles (a split folder, coco labels)")
    parser.add_argument("--eval", type=Path, required=True, help="held-out `synth tiles` folder")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "ci.yaml")
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--every", type=int, default=4, help="print the figures every this many epochs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    data, model_config = config["data"], config["model"]
    weights = LossWeights(**model_config.get("loss_weights", {}))
    scaling = Scaling.from_dict(data["scaling"])
    max_gsd = model_config["load_max_gsd_m"]
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    print(f"CPU: {cpu_description()}; torch threads {args.threads}")
    print(f"load stage alone ({args.config.name}: loss weights load {weights.load}, laden_fraction "
          f"{weights.laden_fraction}), {args.epochs} epochs; true boxes of held-out tankers (SYNTHETIC data)")

    detector = build_detector(**{k: model_config[k] for k in MODEL_KEYS if k in model_config})
    tankers = eval_tankers(args.eval, scaling, max_gsd)
    sources = [SceneSource.open(image, scaling, data.get("upsample_above_gsd_m"))
               for image in read_dataset(args.train).images]
    samples, batch, repeats = data["samples_per_epoch"], data["batch_size"], model_config["window_repeats"]
    crops = TrainCrops(sources, data["crop_size"], detector.output_stride, samples, data["background_crop_p"],
                       tuple(data["scale_range"]), True, AugmentConfig(), max_gsd, args.seed)
    head = HullWindowHead(detector.in_channels, fraction=True)
    optimizer = torch.optim.AdamW(head.parameters(), lr=model_config["lr"], weight_decay=model_config["weight_decay"])
    total_steps = args.epochs * math.ceil(samples / batch)
    factor = functools.partial(warmup_cosine, warmup=min(model_config["warmup_steps"], total_steps // 2),
                               total=total_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    print(f"{'epoch':>5} {'time_s':>7} {'GSD band':>10} {'n':>4} {'MAE':>6} {'cover':>6} {'width':>6} "
          f"{'part n':>6} {'part acc p_loaded':>17} {'part acc f>=0.5':>15}")
    start = time.perf_counter()
    for epoch in range(args.epochs):
        order = np.random.default_rng([args.seed, epoch]).permutation(samples)
        for first in range(0, samples, batch):
            items = [crops[epoch * samples + int(k)] for k in order[first:first + batch]]
            image = torch.stack([it["image"] for it in items])
            labels = torch.stack([it["window_load"] for it in items]).repeat(1, repeats)
            fractions = torch.stack([it["window_fraction"] for it in items]).repeat(1, repeats)
            valid = (labels >= 0) | (fractions >= 0)
            if not bool(valid.any()):
                continue
            boxes = torch.stack([it["window_boxes"] for it in items]).repeat(1, repeats, 1)
            out = head(detector._prepare(image), boxes, valid=valid)
            known = labels >= 0
            loss = (weights.load * F.cross_entropy(out[..., :2][known], labels[known])
                    + weights.laden_fraction * laden_fraction_loss(laden_fraction_quantiles(out[..., 2:]), fractions))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if (epoch + 1) % args.every == 0 or epoch == args.epochs - 1:
            for row in figures(head, detector._prepare, tankers):
                print(f"{epoch:>5} {time.perf_counter() - start:7.0f} {row['band']:>10} {row['n']:>4} "
                      f"{row['mae']:6.3f} {row['coverage']:6.3f} {row['width']:6.3f} {row['part']:>6} "
                      f"{row['part_acc_p']:17.3f} {row['part_acc_f']:15.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
