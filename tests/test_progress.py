"""Long work is never silent: fit prints a line per validation when its bar is off, and the synth
renderers report every finished window to a progress hook without changing a byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from tankerwatch.infer.cli import main
from tankerwatch.infer.synth.scene import SceneSettings, write_scene

TINY = str(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml")


def counting(seen: list):
    def wrap(iterable, total):
        seen.append(total)
        for item in iterable:
            seen.append("window")
            yield item
    return wrap


def test_scene_reports_each_window_and_writes_the_same_bytes(tmp_path):
    settings = SceneSettings(size=1536, gsd_m=1.0)
    write_scene(tmp_path / "plain.tif", settings, seed=4)
    seen = []
    write_scene(tmp_path / "watched.tif", settings, seed=4, progress=counting(seen))
    assert seen[0] == 4 and seen[1:] == ["window"] * 4  # 1536 px in 1024 px windows: 2 x 2
    assert (tmp_path / "watched.tif").read_bytes() == (tmp_path / "plain.tif").read_bytes()


def test_fit_without_a_bar_prints_one_line_per_validation(tmp_path, monkeypatch, capsys):
    pytest.importorskip("lightning")
    monkeypatch.chdir(tmp_path)
    assert main(["synth", "tiles", "data", "--count", "12", "--size", "128", "--seed", "0"]) == 0
    assert main(["fit", "--config", TINY, "--data.train", "data/train", "--data.val", "data/val",
                 "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
    assert [line.split(" (")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("train loss" in line and "val AP50" in line for line in lines)

    assert main(["fit", "--config", TINY, "--data.train", "data/train", "--data.val", "data/val",
                 "--trainer.enable_progress_bar", "false", "--epoch_summary.enabled", "false",
                 "--checkpoint.dirpath", "quiet"]) == 0
    assert not [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
