"""``tankerwatch fit | validate | test``: LightningCLI over the module and data module.

Defaults (overridable in the YAML config or on the command line): checkpoints ``best-*.ckpt`` by
``val/vessel_AP50`` (max) and ``last.ckpt`` after every validation (so ``--ckpt_path last`` resumes), CSV and TensorBoard
logs, a seed. The resolved config is saved as ``config.yaml`` in the run's log folder and inside
every checkpoint (``checkpoint["tankerwatch"]["config_yaml"]``, with its sha256). Checkpoints given
with ``--ckpt_path`` are loaded with ``weights_only=True``.
"""

from __future__ import annotations

import warnings

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from .callbacks import EpochSummary
from .datamodule import TankerwatchDataModule
from .lightning_module import TankerwatchModule


class SaveConfigIntoModule(SaveConfigCallback):
    """Also hand the resolved config text to the module, which stores it in every checkpoint."""

    def save_config(self, trainer, pl_module, stage) -> None:
        pl_module.run_config_yaml = self.parser.dump(self.config, skip_none=False)


class TankerwatchCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.monitor": "val/vessel_AP50", "checkpoint.mode": "max", "checkpoint.save_last": False,
            "checkpoint.save_top_k": 1, "checkpoint.filename": "best-epoch{epoch:03d}",
            "checkpoint.auto_insert_metric_name": False,
        })
        # Lightning 2.6 refreshes a monitored callback's last.ckpt only when the best one changes, so a
        # second, unmonitored callback writes last.ckpt after every validation (what --ckpt_path last
        # needs; with check_val_every_n_epoch 2 a killed run redoes at most one epoch). There, not at
        # the training epoch's end, so its metadata carries that validation's figures.
        parser.add_lightning_class_args(ModelCheckpoint, "last_checkpoint")
        parser.set_defaults({"last_checkpoint.monitor": None, "last_checkpoint.save_top_k": 1,
                             "last_checkpoint.filename": "last", "last_checkpoint.enable_version_counter": False})
        parser.link_arguments("checkpoint.dirpath", "last_checkpoint.dirpath")
        # One line per validation when the progress bar is off (--epoch_summary.enabled false: none).
        parser.add_lightning_class_args(EpochSummary, "epoch_summary")

    def _weights_only(self) -> None:
        self.config_init[self.subcommand]["weights_only"] = True

    before_fit = before_validate = before_test = _weights_only


def run_lightning(argv: list[str]) -> int:
    """Run a LightningCLI subcommand (``argv[0]`` is fit, validate or test)."""
    # tankerwatch's own entry point hands argv over on purpose; the args-vs-sys.argv warning is noise.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
    TankerwatchCLI(
        TankerwatchModule, TankerwatchDataModule, args=argv, save_config_callback=SaveConfigIntoModule,
        save_config_kwargs={"overwrite": True}, seed_everything_default=0, auto_configure_optimizers=False,
        trainer_defaults={"logger": [
            {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "runs"}},
            {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
             "init_args": {"save_dir": "runs", "name": "tensorboard"}},
        ]},
    )
    return 0
