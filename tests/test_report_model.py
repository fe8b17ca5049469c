"""`tankerwatch report` on what a trained model finds in a synthetic series.

The chain an analyst runs, end to end through the real CLI: synth tiles -> fit -> export -> synth
series -> detect -> report --truth-events. Two versions, checking the chain and the scoring:

- CI (`make test`): the session's ``ci_model`` (conftest.py: configs/ci.yaml, trained once for this
  and tests/test_detect_trained.py); it must also find most of the logged events.
- slow: trained here with the tiny config (a few minutes on a CPU). Set TANKERWATCH_REPORT_MODEL to
  an exported .onnx to skip training and score that model instead.

The event recall and precision are printed (run with -s).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tankerwatch.infer.report.events import EVENT_KINDS

TANKERWATCH = str(Path(sys.executable).with_name("tankerwatch"))
TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
SCORE_LINE = re.compile(r"recall (n/a|[0-9.]+), precision (n/a|[0-9.]+); true volume within the stated range "
                        r"for (\d+)/(\d+)")
# The series' logged events (arrivals, departures, loadings, discharges) the CI model must find.
MIN_CI_EVENT_RECALL = 0.5


def _run(*args, cwd=None):
    done = subprocess.run([TANKERWATCH, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=3600)
    assert done.returncode == 0, f"tankerwatch {args[0]}: {done.stderr[-2000:]}"
    return done.stdout


def _trained_model(work: Path) -> Path:
    given = os.environ.get("TANKERWATCH_REPORT_MODEL")
    if given:
        return Path(given)
    pytest.importorskip("torch")
    pytest.importorskip("lightning")
    _run("synth", "tiles", work / "tiles", "--count", 160, "--size", 256, "--seed", 0, "--gsd", "0.8:1.2")
    _run("fit", "--config", TINY, "--data.train", work / "tiles" / "train", "--data.val", work / "tiles" / "val",
         "--trainer.max_epochs", 30, "--trainer.limit_train_batches", 16, "--data.crop_size", 128,
         "--data.samples_per_epoch", 64, "--checkpoint.dirpath", work / "checkpoints", cwd=work)
    model = work / "model.onnx"
    _run("export", work / "checkpoints" / "last.ckpt", "-o", model)
    return model


def _report_on_a_series(model: Path, work: Path) -> re.Match:
    """Detect with ``model`` on a 6-date synthetic series, report on it against its event log, check
    the report's files; the report's score line (recall, precision, volumes)."""
    series = work / "series"
    _run("synth", "series", series, "--dates", 6, "--size", 1024, "--seed", 0, "--threads", 2)
    _run("detect", model, *sorted(series.glob("*.tif")), "-o", work / "detections", "--threads", 2)
    stdout = _run("report", work / "detections", "-o", work / "report", "--truth-events",
                  series / "events.csv")
    score = SCORE_LINE.search(stdout)
    assert score, stdout
    print(f"\nevents from model {model.name} against the series log: {score.group(0)}")
    with open(work / "report" / "events.csv", newline="") as f:
        events = list(csv.DictReader(f))
    assert all(e["event"] in EVENT_KINDS and e["date_before"] < e["date_after"] for e in events)
    with open(work / "report" / "counts.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 6
    report = (work / "report" / "report.md").read_text()
    assert "## Against the known event log" in report and "validation metrics" in report
    return score


def test_report_on_the_ci_models_detections(ci_model, tmp_path):
    score = _report_on_a_series(ci_model, tmp_path)
    recall = score.group(1)
    assert recall != "n/a" and float(recall) >= MIN_CI_EVENT_RECALL, score.group(0)


@pytest.mark.slow
def test_report_on_a_trained_models_detections(tmp_path):
    _report_on_a_series(_trained_model(tmp_path), tmp_path)
