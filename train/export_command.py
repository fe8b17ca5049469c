"""``tankerwatch export CKPT -o model.onnx``: one self-describing ONNX file from a checkpoint.

Writes the fp32 model to ``-o`` and checks it (onnx.checker full check, PyTorch/onnxruntime parity
on several sizes and batch sizes). ``--int8 --calib DIR`` adds ``<stem>.int8.onnx`` (static
quantisation calibrated on DIR's images), ``--fp16`` adds ``<stem>.fp16.onnx`` (for GPUs). With
``--val DIR`` each file is scored on that labelled dataset and the change against fp32 printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tankerwatch.infer.commands.args import add_overwrite, positive_int
from tankerwatch.infer.core.errors import ConfigError, ModelError

from .export import OPSET


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="checkpoint written by 'tankerwatch fit'")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the fp32 .onnx file to write")
    parser.add_argument("--opset", type=positive_int, default=OPSET, help=f"ONNX opset (default {OPSET})")
    parser.add_argument("--int8", action="store_true", help="also write <stem>.int8.onnx (needs --calib)")
    parser.add_argument("--calib", type=Path, help="folder of calibration images for --int8 (32 are used)")
    parser.add_argument("--fp16", action="store_true", help="also write <stem>.fp16.onnx (for GPUs)")
    parser.add_argument("--val", type=Path, help="labelled dataset to report each file's accuracy on")
    add_overwrite(parser)


def variant_path(output: Path, precision: str) -> Path:
    return output.with_name(f"{output.stem}.{precision}{output.suffix or '.onnx'}")


def _figures(metrics: dict) -> str:
    return ", ".join(f"{k} {'n/a' if v is None else f'{v:.4f}'}" for k, v in metrics.items())


def run(args: argparse.Namespace) -> int:
    import torch

    from .checkpoint import load_checkpoint
    from .export import (
        calibration_images,
        check_parity,
        convert_fp16,
        evaluate_onnx,
        export_onnx,
        quantize_int8,
    )

    if args.int8 and args.calib is None:
        raise ConfigError("--int8 needs --calib DIR (images to calibrate the quantisation on)")
    outputs = [args.output] + [variant_path(args.output, p) for p, on in (("int8", args.int8), ("fp16", args.fp16))
                               if on]
    existing = [str(p) for p in outputs if p.exists()]
    if existing and not args.overwrite:
        raise ConfigError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace")
    torch.set_num_threads(min(torch.get_num_threads(), 4))
    model, meta = load_checkpoint(args.checkpoint)
    model_id = export_onnx(model, meta, args.output, opset=args.opset)
    parity = check_parity(model, args.output)
    if not parity.ok:
        args.output.unlink(missing_ok=True)
        raise ModelError(f"{args.output}: PyTorch and onnxruntime disagree ({parity}); file removed")
    print(f"wrote {args.output} (fp32, opset {args.opset}, id {model_id}); parity: {parity}")
    baseline = evaluate_onnx(args.output, args.val) if args.val else None
    if baseline is not None:
        print(f"  fp32 on {args.val}: {_figures(baseline)}")
    for path in outputs[1:]:
        if path.name.endswith(".int8.onnx"):
            variant_id = quantize_int8(args.output, path, calibration_images(args.calib, _scaling(meta)))
        else:
            variant_id = convert_fp16(args.output, path)
        print(f"wrote {path} (id {variant_id})")
        if baseline is not None:
            figures = evaluate_onnx(path, args.val)
            change = {f"{k} change": None if figures[k] is None or baseline[k] is None else figures[k] - baseline[k]
                      for k in figures}
            print(f"  on {args.val}: {_figures(figures)}; {_figures(change)}")
    return 0


def _scaling(meta: dict):
    from tankerwatch.infer.runtime.scaling import Scaling

    return Scaling.from_dict(dict(meta["scaling"]))
