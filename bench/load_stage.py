"""Benchmark: the hull-window load stage trained alone, and its accuracy on true and on detected boxes.

The load stage (``models/hull_window.py``) shares no weights with the detector, so it can be studied
in minutes instead of a whole run: this trains a fresh stage on the same training crops, step for
step as ``tankerwatch fit`` does (``window_repeats`` windows a tanker, AdamW, warm-up then cosine),
and prints, every ten epochs, its load accuracy over the tankers at GSD <= 2 m of held-out tiles
twice: on their true boxes, and on the boxes a trained detector found for them (matched at IoU
>= 0.5). The gap between the two is what the detector's box errors cost the load call. A third
column gives the true-box accuracy on the part-loaded tankers alone (draft fraction 0.25-0.75,
where the bulbous bow no longer tells and freeboard must). All figures are SYNTHETIC.

    .venv/bin/python bench/load_stage.py --train TILES/train --eval OTHER_TILES --detector best.ckpt
        [--epochs 60] [--threads 2] [--seed 0]
        [--length-jitter F --width-jitter F] [--no-standardise]   # ablations

``--eval`` is a ``synth tiles`` folder (its manifest gives each vessel's kind and draft); tiles of
another seed than the training tiles', e.g. ``tankerwatch synth tiles /tmp/eval --count 1000
--size 256 --seed 11``. The ablation switches change the stage's module constants for this process
only: the training-time jitter of box length and width, and the per-window standardisation.
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

from tankerwatch.infer.core.boxes import normalize_boxes, rotated_iou  # noqa: E402
from tankerwatch.infer.formats.dataset import read_dataset  # noqa: E402
from tankerwatch.infer.runtime.scaling import Scaling  # noqa: E402
from tankerwatch.models import hull_window  # noqa: E402
from tankerwatch.train.augment import AugmentConfig  # noqa: E402
from tankerwatch.train.checkpoint import load_checkpoint  # noqa: E402
from tankerwatch.train.datasets import SceneSource, TrainCrops  # noqa: E402
from tankerwatch.train.export import model_input  # noqa: E402
from tankerwatch.train.lightning_module import warmup_cosine  # noqa: E402

# Crops, scaling, schedule and loss masking as `tankerwatch fit` has them: read, not copied.
CONFIG = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "synthetic.yaml").read_text())
DATA, MODEL = CONFIG["data"], CONFIG["model"]
SCALING = Scaling.from_dict(DATA["scaling"])
EVAL_MAX_GSD_M = 2.0
PART_LOADED = (0.25, 0.75)


def eval_tankers(folder: Path, detector) -> list[tuple]:
    """Per held-out tile with tankers at GSD <= 2 m: (input, true boxes, detected boxes, matched,
    loaded, part_loaded), the detected box of a tanker being the detector's best match at IoU >= 0.5."""
    tiles = json.loads((folder / "manifest.json").read_text())["tiles"]
    out = []
    for tile in tiles:
        tankers = [v for v in tile["vessels"] if v["kind"] == "tanker"]
        if tile["view"]["gsd_m"] > EVAL_MAX_GSD_M or not tankers:
            continue
        image = torch.from_numpy(model_input(folder / tile["file"], SCALING))[None]
        truth = normalize_boxes(np.array([v["box_px"] for v in tankers]))
        found, matched = truth.copy(), np.zeros(len(truth), bool)
        with torch.no_grad():
            boxes, _, _, _, count, _ = detector.detect(image)
        n = int(count[0])
        if n:
            iou = rotated_iou(truth, boxes[0, :n].double().numpy())
            best = iou.argmax(axis=1)
            matched = iou[np.arange(len(truth)), best] >= 0.5
            found[matched] = boxes[0, best[matched]].double().numpy()
        drafts = np.array([v["draft_fraction"] for v in tankers])
        part_loaded = (drafts >= PART_LOADED[0]) & (drafts <= PART_LOADED[1])
        out.append((image, torch.tensor(truth, dtype=torch.float32)[None],
                    torch.tensor(found, dtype=torch.float32)[None], matched, drafts >= 0.5, part_loaded))
    return out


def accuracy(head, prepare, tankers) -> tuple[float, float, float]:
    """Load accuracy on true boxes (all tankers), on detected boxes (matched ones), and on the true
    boxes of the part-loaded tankers."""
    head.eval()
    right_true = right_found = right_part = total = matched_total = part_total = 0
    with torch.no_grad():
        for image, truth, found, matched, loaded, part_loaded in tankers:
            x = prepare(image)
            right = (torch.softmax(head(x, truth), -1)[0, :, 1].numpy() >= 0.5) == loaded
            p_found = torch.softmax(head(x, found), -1)[0, :, 1].numpy()
            right_true += int(right.sum())
            right_part += int(right[part_loaded].sum())
            right_found += int(((p_found >= 0.5) == loaded)[matched].sum())
            total += len(loaded)
            matched_total += int(matched.sum())
            part_total += int(part_loaded.sum())
    head.train()
    return right_true / max(total, 1), right_found / max(matched_total, 1), right_part / max(part_total, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="training tiles (a split folder)")
    parser.add_argument("--eval", type=Path, required=True, help="held-out `synth tiles` folder")
    parser.add_argument("--detector", type=Path, required=True, help="checkpoint whose boxes are scored")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=MODEL["window_repeats"],
                        help="windows per tanker per step (model.window_repeats)")
    parser.add_argument("--lr", type=float, default=MODEL["lr"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--length-jitter", type=float, help=f"ablation (default {hull_window.LENGTH_JITTER})")
    parser.add_argument("--width-jitter", type=float, help=f"ablation (default {hull_window.WIDTH_JITTER})")
    parser.add_argument("--no-standardise", action="store_true", help="ablation: raw windows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.length_jitter is not None:
        hull_window.LENGTH_JITTER = args.length_jitter
    if args.width_jitter is not None:
        hull_window.WIDTH_JITTER = args.width_jitter
    if args.no_standardise:
        hull_window._standardise = lambda windows: windows
    print(f"CPU: {cpu_description()}; torch threads {args.threads}")
    print(f"load stage alone: jitter length {hull_window.LENGTH_JITTER}, width {hull_window.WIDTH_JITTER}, "
          f"standardised windows: {not args.no_standardise}; {args.epochs} epochs (SYNTHETIC data)")

    detector, _ = load_checkpoint(args.detector)
    tankers = eval_tankers(args.eval, detector)
    sources = [SceneSource.open(image, SCALING, DATA["upsample_above_gsd_m"])
               for image in read_dataset(args.train).images]
    samples, batch = DATA["samples_per_epoch"], DATA["batch_size"]
    crops = TrainCrops(sources, DATA["crop_size"], detector.output_stride, samples, DATA["background_crop_p"],
                       tuple(DATA["scale_range"]), True, AugmentConfig(), MODEL["load_max_gsd_m"], args.seed)
    head = hull_window.HullWindowHead(detector.in_channels)
    optimizer = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=MODEL["weight_decay"])
    total_steps = args.epochs * math.ceil(samples / batch)
    factor = functools.partial(warmup_cosine, warmup=min(MODEL["warmup_steps"], total_steps // 2), total=total_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    print(f"{'epoch':>5} {'time_s':>7} {'true boxes':>10} {'detected':>9} {'part-loaded':>11}  (tankers: "
          f"{sum(len(t[4]) for t in tankers)}, matched {sum(int(t[3].sum()) for t in tankers)}, "
          f"part-loaded {sum(int(t[5].sum()) for t in tankers)})")
    start = time.perf_counter()
    for epoch in range(args.epochs):
        order = np.random.default_rng([args.seed, epoch]).permutation(samples)
        for first in range(0, samples, batch):
            items = [crops[epoch * samples + int(k)] for k in order[first:first + batch]]
            image = torch.stack([it["image"] for it in items])
            labels = torch.stack([it["window_load"] for it in items]).repeat(1, args.repeats)
            if not bool((labels >= 0).any()):
                continue
            boxes = torch.stack([it["window_boxes"] for it in items]).repeat(1, args.repeats, 1)
            logits = head(detector._prepare(image), boxes, valid=labels >= 0)
            loss = F.cross_entropy(logits[labels >= 0], labels[labels >= 0])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if epoch % 10 == 9 or epoch == args.epochs - 1:
            on_truth, on_found, on_part = accuracy(head, detector._prepare, tankers)
            print(f"{epoch:>5} {time.perf_counter() - start:7.0f} {on_truth:10.3f} {on_found:9.3f} {on_part:11.3f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
