"""Multi-process (DDP) training: validation figures pooled over every rank's images, each image once."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from tankerwatch.infer.cli import main  # noqa: E402
from tankerwatch.train.calibration import MIN_SAMPLES  # noqa: E402
from tankerwatch.train.checkpoint import load_checkpoint  # noqa: E402

TINY = str(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml")
# Figures that do not move with the load calibration, which is refitted after the epoch's figures
# are computed and so differs between the run's validation and a validation of its checkpoint
# (its bias moves calls, so every load figure moves with it).
UNCALIBRATED = ("vessel_AP50", "vessel_AP50_95", "AP50_tanker", "AP50_other", "length_rel_mae")
CALIBRATED_PREFIXES = ("load_coverage", "load_accuracy", "load_macro_f1", "load_ece")


def _logged(run: Path) -> dict[str, float]:
    """The validation figures of the last row of a CSVLogger run that has them."""
    with (run / "metrics.csv").open() as f:
        rows = [row for row in csv.DictReader(f) if row.get("val/vessel_AP50")]
    assert rows, f"no validation figures logged in {run}"
    return {k.split("/", 1)[1]: float(v) for k, v in rows[-1].items() if k.startswith("val/") and v}


@pytest.mark.slow
def test_ddp_validation_pools_every_image_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # 19 validation tiles: two ranks get 10 each, the DistributedSampler repeating one. Enough
    # tankers (all at GSD <= 1.2 m, so all calibrate) for a calibration fitted on all of them, not
    # enough for one on either rank's share (that would leave T at 1).
    assert main(["synth", "tiles", "data", "--count", "190", "--size", "128", "--seed", "0", "--gsd", "0.8:1.2"]) == 0
    n_val = len(list((tmp_path / "data" / "val" / "images").iterdir()))
    n_tankers = sum(line.split()[8].startswith("tanker") for label in (tmp_path / "data" / "val" / "labelTxt").iterdir()
                    for line in label.read_text().splitlines() if len(line.split()) >= 9)
    assert n_val == 19 and MIN_SAMPLES <= n_tankers < 2 * MIN_SAMPLES
    data = ["--data.train", "data/train", "--data.val", "data/val"]
    # Two short epochs (each rank 8 steps of 4 crops): far from trained, but past finding nothing
    # (vessel_AP50 about 1e-3 at this seed), so the AP compared below is not just 0 == 0.
    assert main(["fit", "--config", TINY, *data, "--trainer.max_epochs", "2", "--data.samples_per_epoch", "64",
                 "--trainer.limit_train_batches", "8", "--trainer.strategy", "ddp_spawn", "--trainer.devices", "2",
                 "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"]) == 0
    checkpoint = tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt"
    model, meta = load_checkpoint(checkpoint)
    fitted_t = float(model.load_head.log_temperature.exp())
    fitted_bias = float(model.load_head.load_bias)
    fitted_factors = model.load_head.cue_scale_log.exp().tolist()
    assert main(["validate", "--config", TINY, *data, "--ckpt_path", str(checkpoint)]) == 0

    ddp_run, single_run = (tmp_path / "runs" / "tiny" / f"version_{v}" for v in (0, 1))
    ddp_json = json.loads((ddp_run / "metrics_val" / "metrics.json").read_text())
    single_json = json.loads((single_run / "metrics_val" / "metrics.json").read_text())
    # Rank 0 alone would have seen 10 images, the two ranks 20: pooled, each once.
    assert ddp_json["n_images"] == single_json["n_images"] == n_val
    assert ddp_json["n_truth"] == single_json["n_truth"] > 0
    for key, value in single_json.items():
        if key == "epoch" or key.startswith(CALIBRATED_PREFIXES):
            continue
        # Counts and APs agree exactly; figures in metres come from float32 boxes, which two
        # processes batching the images differently round in the last bits: one float32 step of
        # a 100 m length is 1e-5 m, and a bias (a mean of differences) can be far smaller than the
        # lengths it comes from, so the bound is absolute at that step.
        expected = pytest.approx(value, rel=1e-6, abs=1e-5) if isinstance(value, float) else value
        assert ddp_json[key] == expected, key

    # What the run logged and stored in its checkpoint are the pooled figures too.
    ddp_logged, single_logged = _logged(ddp_run), _logged(single_run)
    for key in UNCALIBRATED:
        if single_json[key] is None:
            assert key not in ddp_logged and key not in meta["val_metrics"], key
            continue
        assert ddp_logged[key] == pytest.approx(single_logged[key], abs=1e-6), key
        assert meta["val_metrics"][key] == pytest.approx(single_json[key], abs=1e-6), key
    # The calibration was fitted on every rank's logits at once (a rank alone has too few tankers
    # and keeps T = 1, b = 0): the same one validation of the checkpoint in one process fits.
    assert fitted_t != 1.0 and fitted_bias != 0.0
    assert math.isclose(fitted_t, single_logged["load_temperature"], rel_tol=1e-5)
    assert math.isclose(fitted_bias, single_logged["load_bias"], rel_tol=1e-4, abs_tol=1e-6)
    assert fitted_factors == pytest.approx([single_logged["shadow_scale_factor"], single_logged["side_scale_factor"]],
                                           rel=1e-5)
