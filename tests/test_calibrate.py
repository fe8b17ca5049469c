"""`tankerwatch calibrate`: refits a checkpoint's load calibration on labelled data, changes nothing
else, and refuses what it cannot use with one line."""

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from tankerwatch.infer.cli import main  # noqa: E402
from tankerwatch.infer.core.errors import EXIT_BAD_INPUT  # noqa: E402
from tankerwatch.train.checkpoint import load_checkpoint  # noqa: E402

CALIBRATION_KEYS = ("load_head.cue_scale_log", "load_head.log_temperature", "load_head.log_side_temperature",
                    "load_head.gsd_temperature_slope", "load_head.load_bias")


def _checkpoint_and_tiles(ci_model):
    work = ci_model.parent
    return work / "checkpoints" / "last.ckpt", work / "tiles" / "test"


def test_calibrate_refits_only_the_calibration(ci_model, tmp_path, capsys):
    checkpoint, tiles = _checkpoint_and_tiles(ci_model)
    original_bytes = checkpoint.read_bytes()
    out = tmp_path / "calibrated.ckpt"
    assert main(["calibrate", str(checkpoint), str(tiles), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert checkpoint.read_bytes() == original_bytes  # the original is kept as it was

    model, meta = load_checkpoint(out)  # a checkpoint like any other, format checked
    recorded = meta["load_calibration"]
    assert recorded["data"] == str(tiles) and recorded["tankers"] >= 20
    assert f"calibrated on {recorded['tankers']} tankers" in printed and "note:" not in printed  # coco: angles
    assert math.isclose(float(model.load_head.log_temperature.exp()), recorded["temperature"], rel_tol=1e-5)
    low, high = recorded["temperature_spread"]  # the resamples' refits left the full set's fit in place
    assert 0 < low < high and f"({low:.3f}-{high:.3f} over resamples" in printed
    side = float(model.load_head.log_side_temperature.exp())
    assert math.isclose(side, recorded["side_temperature"], rel_tol=1e-5)
    side_low, side_high = recorded["side_temperature_spread"]
    assert 0 < side_low < side_high and "carries the call" in printed and f"{side:.3f} ({side_low:.3f}-" in printed
    slope = float(model.load_head.gsd_temperature_slope)
    assert math.isclose(slope, recorded["gsd_slope"], rel_tol=1e-5, abs_tol=1e-7)
    slope_low, slope_high = recorded["gsd_slope_spread"]
    assert slope_low < slope_high and f"-> {slope:+.3f} ({slope_low:+.3f} to {slope_high:+.3f})" in printed
    assert math.isclose(float(model.load_head.load_bias), recorded["bias"], rel_tol=1e-5, abs_tol=1e-7)
    # Synthetic labels carry the drawn widths: each cue's error scales got a factor of their own.
    assert min(recorded["cue_readings"]) >= 20
    factors = model.load_head.cue_scale_log.exp().tolist()
    assert factors == pytest.approx(recorded["cue_scale_factors"], rel=1e-5) and factors != [1.0, 1.0]
    assert f"error scales x{factors[0]:.3f} (shadow" in printed

    before = torch.load(checkpoint, weights_only=True)["state_dict"]
    after = torch.load(out, weights_only=True)["state_dict"]
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.endswith(CALIBRATION_KEYS) for k in changed)
    # Both copies of the weights (the trained and the averaged ones) carry the new calibration.
    for suffix in CALIBRATION_KEYS:
        copies = [after[k] for k in after if k.endswith(suffix)]
        assert len(copies) >= 1 and all(torch.equal(c, copies[0]) for c in copies)


def test_calibrate_needs_enough_tankers_with_a_known_load(ci_model, tmp_path, capsys):
    checkpoint, _ = _checkpoint_and_tiles(ci_model)
    few = tmp_path / "few"
    assert main(["synth", "tiles", str(few), "--count", "6", "--size", "128", "--seed", "0", "--format", "coco"]) == 0
    capsys.readouterr()
    out = tmp_path / "calibrated.ckpt"
    # The validation split of six small tiles: one tile, a handful of tankers.
    assert main(["calibrate", str(checkpoint), str(few / "val"), "-o", str(out)]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and str(few / "val") in error and "at least 20" in error
    assert not out.exists()


def test_calibrate_keeps_an_existing_output(ci_model, tmp_path, capsys):
    checkpoint, tiles = _checkpoint_and_tiles(ci_model)
    out = tmp_path / "calibrated.ckpt"
    out.write_bytes(b"keep me")
    assert main(["calibrate", str(checkpoint), str(tiles), "-o", str(out)]) == EXIT_BAD_INPUT
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    original = checkpoint.read_bytes()
    assert main(["calibrate", str(checkpoint), str(tiles), "-o", str(checkpoint), "--overwrite"]) == EXIT_BAD_INPUT
    assert "beside the original" in capsys.readouterr().err and checkpoint.read_bytes() == original
