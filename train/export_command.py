"""``tankerwatch export CKPT -o model.onnx``: one self-describing ONNX file from a checkpoint.

Writes the fp32 model to ``-o`` and checks it (onnx.checker full check, PyTorch/onnxruntime parity
of every output on several sizes and batch sizes; a file that fails is removed). ``--fp16`` adds
``<stem>.fp16.onnx`` (for GPUs). ``--int8 --calib DIR --val DIR`` adds ``<stem>.int8.onnx`` (static
quantisation calibrated on DIR's images), kept only if its AP50 on ``--val`` is at most
``--max-ap-drop`` points (1 point = 0.01) below the fp32 file's; otherwise it is removed and the
command fails. With ``--val`` each file is scored on that labelled dataset and the change against
fp32 printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tankerwatch.infer.commands.args import add_overwrite, gsd_range, positive_int
from tankerwatch.infer.core.errors import ConfigError, ModelError, located

from .export import OPSET

MAX_AP_DROP_POINTS = 1.0


def ap_points(text: str) -> float:
    """Parse an AP difference in points, 0 to 100 (1 point = 0.01 of the 0..1 metric)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of AP points, got {text!r}") from None
    if not 0.0 <= value <= 100.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected AP points in [0, 100], got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="checkpoint written by 'tankerwatch fit'")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the fp32 .onnx file to write")
    parser.add_argument("--opset", type=positive_int, default=OPSET, help=f"ONNX opset (default {OPSET})")
    parser.add_argument("--int8", action="store_true",
                        help="also write <stem>.int8.onnx (needs --calib, and --val to check its accuracy)")
    parser.add_argument("--calib", type=Path, help="folder of calibration images for --int8 (32 are used)")
    parser.add_argument("--max-ap-drop", type=ap_points, default=MAX_AP_DROP_POINTS, metavar="POINTS",
                        help="most AP50 the int8 model may lose against fp32 on --val, in points, 1 point = 0.01 "
                             f"(default {MAX_AP_DROP_POINTS:g}); a model that loses more is removed")
    parser.add_argument("--fp16", action="store_true", help="also write <stem>.fp16.onnx (for GPUs)")
    parser.add_argument("--val", type=Path, help="labelled dataset to report each file's accuracy on")
    parser.add_argument("--gsd-range", type=gsd_range, metavar="A:B",
                        help="ground metres per pixel of the imagery a checkpoint was trained on, for one that "
                             "records none (none of its training images had a GSD); detect resamples scenes into it")
    add_overwrite(parser)


def with_gsd_range(meta: dict, given: tuple[float, float] | None, checkpoint: Path) -> dict:
    """``meta`` with a GSD range: the one it records, or ``given`` (``--gsd-range``) where it
    records none. ONNX metadata must carry one, since ``detect`` resamples scenes into it."""
    recorded = meta.get("gsd_range_m")
    if given is None:
        if recorded is None:
            raise ModelError(located(checkpoint, "records no GSD range (none of its training images had a GSD); "
                                                 "pass --gsd-range A:B, the ground metres per pixel of that imagery"))
        return meta
    if recorded is not None and tuple(float(v) for v in recorded) != given:
        raise ConfigError(located(checkpoint, f"records the GSD range {recorded[0]:g}:{recorded[1]:g} m from its "
                                              f"training images; --gsd-range only sets one where none is recorded"))
    return {**meta, "gsd_range_m": list(given)}


def variant_path(output: Path, precision: str) -> Path:
    return output.with_name(f"{output.stem}.{precision}{output.suffix or '.onnx'}")


def _figures(metrics: dict) -> str:
    return ", ".join(f"{k} {'n/a' if v is None else f'{v:.4f}'}" for k, v in metrics.items())


def int8_ap_drop(path: Path, baseline: dict, figures: dict, max_drop: float) -> float:
    """The AP50 the int8 model at ``path`` loses against fp32 (``baseline``), in points; raises
    ModelError when that is more than ``max_drop`` points, or cannot be measured (no AP50)."""
    if baseline["vessel_AP50"] is None or figures["vessel_AP50"] is None:
        raise ModelError(f"{path}: cannot check the int8 model's accuracy: vessel_AP50 is n/a on the --val set "
                         f"(it has no labelled vessels)")
    # Rounded so that a drop of exactly the budget (0.88 - 0.87 = 0.010000000000000009) is within it.
    drop = round(100 * (baseline["vessel_AP50"] - figures["vessel_AP50"]), 9)
    if drop > max_drop:
        raise ModelError(f"{path}: int8 loses {drop:.2f} points of AP50 ({figures['vessel_AP50']:.4f} vs "
                         f"{baseline['vessel_AP50']:.4f} fp32), more than --max-ap-drop {max_drop:g}")
    return drop


def run(args: argparse.Namespace) -> int:
    import torch

    from .checkpoint import load_checkpoint
    from .export import check_parity, evaluate_onnx, export_onnx
    from .quantise import calibration_images, convert_fp16, quantize_int8

    if args.int8 and args.calib is None:
        raise ConfigError("--int8 needs --calib DIR (images to calibrate the quantisation on)")
    if args.int8 and args.val is None:
        raise ConfigError(f"--int8 needs --val DIR (a labelled dataset: the int8 model is kept only if it loses "
                          f"at most --max-ap-drop points of AP50 there, default {MAX_AP_DROP_POINTS:g})")
    # fp16 before int8: the int8 accuracy check is the one step that may fail after export.
    outputs = [args.output] + [variant_path(args.output, p) for p, on in (("fp16", args.fp16), ("int8", args.int8))
                               if on]
    existing = [str(p) for p in outputs if p.exists()]
    if existing and not args.overwrite:
        raise ConfigError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace")
    torch.set_num_threads(min(torch.get_num_threads(), 4))
    model, meta = load_checkpoint(args.checkpoint)
    meta = with_gsd_range(meta, args.gsd_range, args.checkpoint)
    model_id = export_onnx(model, meta, args.output, opset=args.opset)
    parity = check_parity(model, args.output)
    if not parity.ok:
        args.output.unlink(missing_ok=True)
        raise ModelError(f"{args.output}: PyTorch and onnxruntime disagree on {', '.join(parity.failed)} "
                         f"({parity}); file removed")
    print(f"wrote {args.output} (fp32, opset {args.opset}, id {model_id}); parity: {parity}")
    baseline = evaluate_onnx(args.output, args.val) if args.val else None
    if baseline is not None:
        print(f"  fp32 on {args.val}: {_figures(baseline)}")
    for path in outputs[1:]:
        int8 = path.name.endswith(".int8.onnx")
        if int8:
            variant_id = quantize_int8(args.output, path, calibration_images(args.calib, _scaling(meta)))
        else:
            variant_id = convert_fp16(args.output, path)
        print(f"wrote {path} (id {variant_id})")
        if baseline is not None:
            figures = evaluate_onnx(path, args.val)
            change = {f"{k} change": None if figures[k] is None or baseline[k] is None else figures[k] - baseline[k]
                      for k in figures}
            print(f"  on {args.val}: {_figures(figures)}; {_figures(change)}")
        if int8:
            try:
                drop = int8_ap_drop(path, baseline, figures, args.max_ap_drop)
            except ModelError as exc:
                path.unlink(missing_ok=True)
                raise ModelError(f"{exc}; file removed") from None
            print(f"  int8 kept: AP50 drop against fp32 {drop:.2f} points, within --max-ap-drop {args.max_ap_drop:g}")
    return 0


def _scaling(meta: dict):
    from tankerwatch.infer.runtime.scaling import Scaling

    return Scaling.from_dict(dict(meta["scaling"]))
