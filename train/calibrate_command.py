"""``tankerwatch calibrate CKPT DATA -o OUT.ckpt``: refit a checkpoint's load calibration on a
labelled dataset.

``fit`` calibrates the load stage (a factor on each cue's error scales, then two temperatures, a
slope in GSD and a bias on the load logit, :mod:`tankerwatch.train.calibration`) on its validation
split, which is often small: a few hundred tankers find only part of the load stage's lean
(docs/experiments.md, 2026-12-06 (evening)). This refits them on any labelled folder of tankers with a known load
(``check-labels`` formats; the factors need drawn widths, which synthetic labels carry):
more tiles of the same generator, or scenes of the sensor the model will be used on. The tankers
are read on their labelled boxes at GSD <= the model's ``load_max_gsd_m``, with each image's view
angles where its labels give them, as ``fit``'s validation reads them. Only the calibration
changes: the weights, and so the measured widths, do not (laden fractions and freeboards do: the
factors weigh the two cues). Labels without drawn widths leave the factors as they were.
It also prints how far the temperatures and the slope move when refitted on resamples of the same
tankers (:func:`tankerwatch.train.calibration.calibration_spread`): a wide spread says the set is
small, or, for the slope, that its tankers span too few GSDs.
The new checkpoint (written atomically) records them and what they were fitted on under its
metadata's ``load_calibration``; export it as any other. Calibrating on the data a figure is then
measured on makes that figure meaningless: keep the two apart.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tankerwatch.infer.commands.args import add_overwrite
from tankerwatch.infer.core.errors import ConfigError, located


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="checkpoint written by 'tankerwatch fit'")
    parser.add_argument("data", type=Path, metavar="DATA",
                        help="labelled dataset folder (any format 'check-labels' reads) of tankers with a known load")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the calibrated checkpoint to write")
    parser.add_argument("--format", choices=("dota", "yolo-obb", "coco", "geojson"),
                        help="label format of DATA (default: detected)")
    add_overwrite(parser)


def run(args: argparse.Namespace) -> int:
    import io
    import math

    import torch

    from tankerwatch.infer.core.atomic import atomic_write_bytes
    from tankerwatch.infer.core.labels import DEFAULT_CLASS_MAP
    from tankerwatch.infer.formats.dataset import read_dataset
    from tankerwatch.infer.runtime.scaling import Scaling
    from tankerwatch.infer.runtime.tiling import zoom_bands

    from .calibration import MIN_SAMPLES, LabelledReadings, calibration_spread, fit_stage_calibration
    from .checkpoint import load_checkpoint
    from .datasets import SceneSource
    from .lightning_module import calibration_readings, view_row

    if args.output.exists() and not args.overwrite:
        raise ConfigError(f"{args.output} already exists; pass --overwrite to replace it")
    if args.output.resolve() == args.checkpoint.resolve():
        raise ConfigError(f"{args.output}: write the calibrated checkpoint beside the original, not over it")
    torch.set_num_threads(min(torch.get_num_threads(), 4))
    model, meta = load_checkpoint(args.checkpoint)
    images = read_dataset(args.data, args.format, DEFAULT_CLASS_MAP).images
    scaling = Scaling.from_dict(dict(meta["scaling"]))
    # Images coarser than the model's GSD range are enlarged into it, as detect enlarges scenes.
    top_gsd = (meta.get("gsd_range_m") or [None, None])[1]
    load_max_gsd_m = float(meta["load_max_gsd_m"])
    parts, without_angles = [], 0
    with torch.no_grad():
        for image in images:
            source = SceneSource.open(image, scaling, top_gsd)
            pixels = zoom_bands(source.whole().transpose(2, 0, 1), source.upsample)
            view = view_row(source, source.upsample, meta.get("gsd_range_m"))
            readings = calibration_readings(model, torch.from_numpy(pixels.copy())[None], view, source,
                                            source.upsample, load_max_gsd_m)
            if readings is not None:
                parts.append(readings)
                with_load = int((readings.loads >= 0).sum())
                without_angles += with_load if bool(torch.isnan(view[0, 1:]).any()) else 0
    count = sum(int((p.loads >= 0).sum()) for p in parts)
    if count < MIN_SAMPLES:
        raise ConfigError(located(args.data, f"{count} tanker(s) with a known load at GSD <= {load_max_gsd_m:g} m; "
                                             f"calibration needs at least {MIN_SAMPLES}"))
    if without_angles:
        # detect reads a scene with angles through them; labels without them calibrate the other mode.
        print(f"note: {without_angles} of the {count} tankers have no sun and view angles in their labels "
              f"(e.g. DOTA or YOLO files): they are read geometry-free, as detect reads a scene without angles")
    head = model.load_head
    before = (float(head.log_temperature.exp()), float(head.log_side_temperature.exp()), float(head.load_bias),
              float(head.gsd_temperature_slope))
    with torch.no_grad():
        labelled = LabelledReadings.pool(parts)
        fitted = fit_stage_calibration(model, labelled)
        spread = calibration_spread(model, labelled, fitted)
    buffers = {"load_head.cue_scale_log": head.cue_scale_log, "load_head.log_temperature": head.log_temperature,
               "load_head.log_side_temperature": head.log_side_temperature,
               "load_head.gsd_temperature_slope": head.gsd_temperature_slope, "load_head.load_bias": head.load_bias}

    checkpoint = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    for key in checkpoint["state_dict"]:
        for suffix, value in buffers.items():
            if key.endswith(suffix):
                checkpoint["state_dict"][key] = value.detach().clone().to(torch.float32)
    factors = [round(math.exp(v), 6) for v in fitted.cue_scale_log]
    checkpoint["tankerwatch"]["load_calibration"] = {
        "data": str(args.data), "tankers": count, "cue_readings": list(fitted.cue_readings),
        "cue_scale_factors": factors, "temperature": fitted.load.temperature,
        "temperature_spread": list(spread["temperature"]), "side_temperature": fitted.load.side_temperature,
        "side_temperature_spread": list(spread["side_temperature"]), "gsd_slope": fitted.load.gsd_slope,
        "gsd_slope_spread": list(spread["gsd_slope"]), "bias": fitted.load.bias}
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    atomic_write_bytes(args.output, buffer.getvalue())
    print(f"calibrated on {count} tankers of {args.data}: error scales x{factors[0]:.3f} (shadow, "
          f"{fitted.cue_readings[0]} widths), x{factors[1]:.3f} (side strip, {fitted.cue_readings[1]}); temperature "
          f"at 1 m {before[0]:.3f} -> {fitted.load.temperature:.3f} ({_span(spread['temperature'])} over resamples of "
          f"these tankers), where the side strip carries the call {before[1]:.3f} -> "
          f"{fitted.load.side_temperature:.3f} ({_span(spread['side_temperature'])}); 1/T per unit of log GSD "
          f"{before[3]:+.3f} -> {fitted.load.gsd_slope:+.3f} ({_span(spread['gsd_slope'], signed=True)}); bias "
          f"{before[2]:+.3f} -> {fitted.load.bias:+.3f}; wrote {args.output}")
    return 0


def _span(bounds: tuple[float, float], signed: bool = False) -> str:
    """A resampling spread as printed: a slope may cross zero, so it keeps its signs."""
    low, high = bounds
    return f"{low:+.3f} to {high:+.3f}" if signed else f"{low:.3f}-{high:.3f}"
