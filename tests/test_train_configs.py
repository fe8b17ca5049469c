"""The shipped configs parse (LightningCLI names any unknown key) and sen2ships splits by port."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("lightning")

from tankerwatch.infer.cli import main  # noqa: E402
from tankerwatch.train.datamodule import read_entries  # noqa: E402

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_config_parses(config, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(config), "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["backbone"] and printed["checkpoint"]["monitor"] == "val/vessel_AP50"


def test_sen2ships_config_splits_ports_as_agreed(sen2ships_dir, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the config's data path is repo-relative
    data = yaml.safe_load((Path("configs") / "sen2ships.yaml").read_text())["data"]
    train, val = read_entries(data["train"], "train"), read_entries(data["val"], "val")
    assert sorted(Path(i.image_path).stem for i in val) == ["durban", "gdynia"]
    assert sum(len(i.vessels) for i in val) == 56
    assert len(train) == 6 and not {i.image_path for i in train} & {i.image_path for i in val}
    assert all(v.vessel_type.value == "unknown" for i in train for v in i.vessels)
