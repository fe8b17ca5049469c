"""Training end to end through the real CLI on a tiny config (what CI runs), and its bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from train_fixtures import make_images  # noqa: E402

from tankerwatch.infer.cli import main  # noqa: E402
from tankerwatch.infer.core.labels import LoadState, VesselType  # noqa: E402
from tankerwatch.infer.formats.dataset import write_dataset  # noqa: E402
from tankerwatch.train.checkpoint import load_checkpoint  # noqa: E402

TINY = str(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml")


class StopAfterFirstEpoch(__import__("lightning").Callback):
    """Stands in for a run killed after its first epoch (the config still says two)."""

    def on_train_epoch_end(self, trainer, pl_module):
        trainer.should_stop = True


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["synth", "tiles", "data", "--count", "12", "--size", "128", "--seed", "0", "--format", "coco"]) == 0
    ships = make_images(tmp_path / "raw_ships", 3, seed=5, classes=[(VesselType.UNKNOWN, LoadState.UNKNOWN)])
    write_dataset(ships, tmp_path / "ships", "coco")
    return tmp_path


def test_synth_fit_validate_and_resume(workdir, capsys):
    # Ship-only COCO labels mixed with fully labelled synthetic tiles in one run.
    mixed = "[data/train, {path: ships, format: coco}]"
    # Tiles coarser than 3 m are trained and validated enlarged to 3 m; the model's range ends there.
    assert main(["fit", "--config", TINY, "--data.train", mixed, "--data.val", "data/val",
                 "--data.upsample_above_gsd_m", "3.0"]) == 0
    checkpoints = workdir / "runs" / "tiny" / "checkpoints"
    assert (checkpoints / "last.ckpt").is_file() and list(checkpoints.glob("best-*.ckpt"))
    model, meta = load_checkpoint(checkpoints / "last.ckpt")
    assert "backbone: tiny" in meta["config_yaml"] and "ships" in meta["config_yaml"]
    low, high = meta["gsd_range_m"]
    train_gsds = [t["view"]["gsd_m"] for t in json.loads((workdir / "data" / "manifest.json").read_text())["tiles"]
                  if t["split"] == "train"]
    assert max(train_gsds) > 3.0 and high == 3.0 and low == pytest.approx(min(train_gsds), abs=1e-3)
    assert meta["scaling"]["method"] == "fixed"
    assert 0 < meta["max_vessel_px"] <= 128  # in the 128 px tiles' pixels: what detect's second pass keys on
    # The tiles label type and the tankers' drawn cue widths, which teach load; the ships neither.
    assert meta["taught"] == {"type": True, "load": True, "laden_fraction": True}
    assert meta["label_counts"]["vessels"] > meta["label_counts"]["tanker"] + meta["label_counts"]["other"]
    assert "vessel_AP50" in meta["val_metrics"] and model.output_stride == 4
    # tiny.yaml keeps an EMA of the weights: the checkpoint's model is the average, not the last step.
    state = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, state[f"ema.module.{name}"], rtol=0, atol=0, msg=name)
    assert any(not torch.equal(state[f"model.{name}"], state[f"ema.module.{name}"])
               for name, _ in model.named_parameters())
    run = workdir / "runs" / "tiny" / "version_0"
    assert (run / "config.yaml").is_file() and (run / "metrics.csv").is_file()
    figures = json.loads((run / "metrics_val" / "metrics.json").read_text())
    assert figures["data"] == "synthetic" and 0.0 <= figures["vessel_AP50"] <= 1.0
    assert (run / "metrics_val" / "pr_curve.png").is_file()

    assert main(["validate", "--config", TINY, "--data.val", "data/val",
                 "--ckpt_path", str(checkpoints / "last.ckpt")]) == 0

    # A two-epoch run stopped after one, then resumed with --ckpt_path last, ends with the same
    # weights as the same run never stopped: data, optimiser, schedule and loop state all resume.
    two_epochs = ["fit", "--config", TINY, "--data.train", mixed, "--data.val", "data/val",
                  "--trainer.max_epochs", "2"]
    assert main([*two_epochs, "--checkpoint.dirpath", "resumed",
                 "--trainer.callbacks+=test_train_cli.StopAfterFirstEpoch"]) == 0
    assert main([*two_epochs, "--checkpoint.dirpath", "resumed", "--ckpt_path", "last"]) == 0
    resumed = torch.load(workdir / "resumed" / "last.ckpt", map_location="cpu", weights_only=True)
    assert resumed["global_step"] == 8  # 4 steps per epoch, 2 epochs: nothing repeated or lost
    assert main([*two_epochs, "--checkpoint.dirpath", "straight"]) == 0
    straight = torch.load(workdir / "straight" / "last.ckpt", map_location="cpu", weights_only=True)
    for name, value in straight["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_step_generators_repeat_per_step_and_differ_per_stream_and_rank():
    from tankerwatch.train.lightning_module import step_generator

    def draws(seed, stream, rank):
        return torch.rand(8, generator=step_generator(seed, stream, rank, torch.device("cpu")))

    torch.testing.assert_close(draws(3, 1, 0), draws(3, 1, 0), rtol=0, atol=0)
    others = [draws(4, 1, 0), draws(3, 2, 0), draws(3, 1, 1)]
    assert all(not torch.equal(draws(3, 1, 0), other) for other in others)


def test_the_load_stage_learns_the_same_whatever_the_type_window(workdir):
    # Each head draws its jitter and flips from a stream of its own: a type window of another size
    # (a different dropout, other draws) leaves the load stage's training as it was, weight for
    # weight, also when load crops are read after the type head in the same step.
    fit = ["fit", "--config", TINY, "--data.train", "data/train", "--data.val", "data/val", "--data.load_crops", "2"]
    states = []
    for size in ("[16, 48]", "[8, 24]"):
        folder = f"window{size[1:3]}"
        assert main([*fit, "--model.window_size", size, "--checkpoint.dirpath", folder]) == 0
        states.append(torch.load(workdir / folder / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"])
    load_stage = [name for name in states[0] if name.startswith("model.load_head.")]
    assert load_stage
    for name in load_stage:
        torch.testing.assert_close(states[1][name], states[0][name], rtol=1e-5, atol=1e-6, msg=name)
    assert states[0]["model.type_window_head.classifier.2.weight"].shape != \
        states[1]["model.type_window_head.classifier.2.weight"].shape


def test_fit_reads_twins_of_the_training_tiles_and_refuses_strangers(workdir, capsys):
    # Twins: the same tiles rendered without the hulls' shadows and without their sides.
    render = ["synth", "tiles", "--count", "12", "--size", "128", "--format", "coco"]
    assert main([*render[:2], "noshadow", *render[2:], "--seed", "0", "--cues", "side,bow"]) == 0
    assert main([*render[:2], "noside", *render[2:], "--seed", "0", "--cues", "shadow,bow"]) == 0
    assert main([*render[:2], "stranger", *render[2:], "--seed", "1", "--cues", "side,bow"]) == 0
    twins = "{path: data/train, twins: {shadow: noshadow/train, side: noside/train}}"
    fit = ["fit", "--config", TINY, "--data.val", "data/val", "--data.load_crops", "2"]
    assert main([*fit, "--data.train", twins, "--checkpoint.dirpath", "twins"]) == 0
    run = sorted((workdir / "runs" / "tiny").glob("version_*"))[-1]
    header, *rows = (run / "metrics.csv").read_text().splitlines()
    column = header.split(",").index("train/loss_cue_twins")
    losses = [float(row.split(",")[column]) for row in rows if row.split(",")[column]]
    assert len(losses) == 4 and all(0.0 < loss < 10.0 for loss in losses)

    capsys.readouterr()
    for bad, says in (("{path: data/train, twins: {shadow: stranger/train}}", "is not the twin of"),
                      ("{path: data/train, twins: {side: noshadow/train}}", "draws the side")):
        assert main([*fit, "--data.train", bad, "--checkpoint.dirpath", "bad"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], err


def test_fit_starts_from_another_runs_weights(workdir, capsys):
    fit = ["fit", "--config", TINY, "--data.train", "data/train", "--data.val", "data/val"]
    assert main([*fit, "--checkpoint.dirpath", "pretrained"]) == 0
    pretrained, _ = load_checkpoint(workdir / "pretrained" / "last.ckpt")
    # At learning rate 0 a run's weights stay what it started from: the copied ones with init_from,
    # the seed's random ones without.
    frozen = [*fit, "--model.lr", "0", "--model.weight_decay", "0"]
    assert main([*frozen, "--checkpoint.dirpath", "fine", "--model.init_from", "pretrained/last.ckpt"]) == 0
    assert main([*frozen, "--checkpoint.dirpath", "scratch"]) == 0
    fine, _ = load_checkpoint(workdir / "fine" / "last.ckpt")
    scratch, _ = load_checkpoint(workdir / "scratch" / "last.ckpt")
    start = dict(pretrained.named_parameters())
    for name, value in fine.named_parameters():  # the moving average's arithmetic rounds at 1e-8
        torch.testing.assert_close(value, start[name], rtol=0, atol=1e-6, msg=name)
    assert max((value - start[name]).abs().max().item() for name, value in scratch.named_parameters()) > 1e-2

    capsys.readouterr()
    assert main([*fit, "--checkpoint.dirpath", "missing", "--model.init_from", "nowhere.ckpt"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere.ckpt" in err[0] and "no such checkpoint" in err[0]


def test_ship_only_labels_are_recorded_as_teaching_neither_type_nor_load(tmp_path, monkeypatch):
    from tankerwatch.train.export import model_metadata

    monkeypatch.chdir(tmp_path)
    ships = make_images(tmp_path / "raw_ships", 4, seed=5, classes=[(VesselType.UNKNOWN, LoadState.UNKNOWN)])
    write_dataset(ships, tmp_path / "ships", "coco")
    coco = "{path: ships, format: coco}"
    assert main(["fit", "--config", TINY, "--data.train", coco, "--data.val", coco]) == 0
    model, meta = load_checkpoint(tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt")
    assert meta["taught"] == {"type": False, "load": False, "laden_fraction": False}
    assert meta["label_counts"] == {"vessels": sum(len(i.vessels) for i in ships), "tanker": 0, "other": 0,
                                    "empty": 0, "loaded": 0, "cue_widths": 0}
    exported = model_metadata(model, meta)  # what `tankerwatch export` writes into the ONNX file
    assert exported["taught"] == meta["taught"] and exported["label_counts"] == meta["label_counts"]


@pytest.mark.parametrize("where", ["flag", "file"])
def test_config_key_typo_is_named(workdir, capsys, where):
    if where == "flag":
        argv = ["fit", "--config", TINY, "--model.bakbone", "tiny"]
    else:
        typo = workdir / "typo.yaml"
        typo.write_text(Path(TINY).read_text().replace("  backbone: tiny", "  bakbone: tiny"))
        argv = ["fit", "--config", str(typo)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "bakbone" in capsys.readouterr().err


def test_unmapped_class_name_is_an_error(workdir, capsys):
    labels = workdir / "data" / "train" / "annotations.json"
    labels.write_text(labels.read_text().replace('"tanker_empty"', '"barge"'))
    assert main(["fit", "--config", TINY, "--data.train", "data/train", "--data.val", "data/val"]) == 2
    assert "barge" in capsys.readouterr().err


def test_dataset_without_labelled_vessels_is_an_error(workdir, capsys):
    empty = make_images(workdir / "raw_empty", 2, seed=9)
    for image in empty:
        image.vessels = []
    write_dataset(empty, workdir / "empty", "dota")
    assert main(["fit", "--config", TINY, "--data.train", "empty", "--data.val", "data/val"]) == 2
    assert "empty" in capsys.readouterr().err


def test_nan_loss_stops_with_the_batch_files(workdir, capsys):
    assert main(["fit", "--config", TINY, "--data.train", "data/train", "--data.val", "data/val",
                 "--model.loss_weights", "{heatmap: .nan}"]) == 2
    err = capsys.readouterr().err
    assert "not finite" in err and ".png" in err


def test_checkpoints_that_are_not_ours_are_refused(tmp_path):
    from tankerwatch.infer.core.errors import ModelError

    pickled = tmp_path / "code.ckpt"
    torch.save({"state_dict": {}, "payload": Path("x")}, pickled)  # an arbitrary object: needs unpickling
    with pytest.raises(ModelError, match="refused"):
        load_checkpoint(pickled)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(ModelError, match="not a tankerwatch checkpoint"):
        load_checkpoint(foreign)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(ModelError, match="garbage.ckpt"):
        load_checkpoint(garbage)
