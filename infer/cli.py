"""The ``tankerwatch`` command line: one entry point, one module per subcommand.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
only the module of the command being run is imported, so ``tankerwatch --help`` and the analyst's
commands never import torch. The training commands (``fit``, ``validate``, ``test``) are handed to
LightningCLI unchanged (its flags keep jsonargparse's underscore names, e.g. ``--ckpt_path``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from . import __version__
from .core.errors import EXIT_BAD_INPUT, TankerwatchError

# name -> (module, one-line help). Train-side modules need the `train` extra.
COMMANDS: dict[str, tuple[str, str]] = {
    "check-labels": ("tankerwatch.infer.commands.check_labels", "validate a labelled dataset and print its statistics"),
    "convert": ("tankerwatch.infer.commands.convert", "convert a labelled dataset from one format to another"),
    "synth": ("tankerwatch.infer.commands.synth", "generate synthetic port imagery with exact ground truth"),
    "fit": ("tankerwatch.train.lightning_cli", "train a detector from a YAML config (LightningCLI)"),
    "validate": ("tankerwatch.train.lightning_cli", "evaluate a checkpoint on the validation split (LightningCLI)"),
    "test": ("tankerwatch.train.lightning_cli", "evaluate a checkpoint on the test split (LightningCLI)"),
    "export": ("tankerwatch.train.export_command", "export a checkpoint to one self-describing ONNX file"),
    "calibrate": ("tankerwatch.train.calibrate_command", "refit a checkpoint's load calibration on labelled data"),
    "detect": ("tankerwatch.infer.commands.detect", "run an ONNX model on images or whole scenes"),
    "report": ("tankerwatch.infer.commands.report", "terminal activity report over dated detections"),
    "tanks": ("tankerwatch.infer.commands.tanks", "find storage tanks and read floating roofs' fill from shadows"),
}
LIGHTNING_COMMANDS = ("fit", "validate", "test")
TRAIN_EXTRA_HINT = "pip install 'tankerwatch[train]' (torch==2.14.1 torchvision==0.29.1 first; see README)"


def _top_parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:<13} {help_}" for name, (_, help_) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="tankerwatch",
        description="Find tankers in satellite imagery and tell empty from loaded.",
        epilog=f"commands:\n{listing}\n\nRun 'tankerwatch COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tankerwatch {__version__}")
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND")
    return parser


def _import_command(name: str):
    module_name = COMMANDS[name][0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if module_name.startswith("tankerwatch.train") and exc.name and exc.name.split(".")[0] in (
                "torch", "torchvision", "lightning", "albumentations", "jsonargparse", "onnx", "onnxscript"):
            raise TankerwatchError(f"'tankerwatch {name}' needs the train extra ({exc.name} is missing): "
                                   f"{TRAIN_EXTRA_HINT}") from None
        if exc.name == module_name:
            raise TankerwatchError(f"'tankerwatch {name}' is reserved but not built in this version") from None
        raise


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0].startswith("-"):
        top.parse_args(argv)  # handles --help / --version, or errors
        return EXIT_BAD_INPUT
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        top.parse_args([name])  # argparse names the valid choices and exits 2
    debug = "--debug" in rest
    try:
        module = _import_command(name)
        if name in LIGHTNING_COMMANDS:
            return int(module.run_lightning([name, *[a for a in rest if a != "--debug"]]) or 0)
        parser = argparse.ArgumentParser(prog=f"tankerwatch {name}", description=COMMANDS[name][1])
        module.add_arguments(parser)
        parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
        args = parser.parse_args(rest)
        return int(module.run(args) or 0)
    except TankerwatchError as exc:
        if debug:
            traceback.print_exc()
        print(f"tankerwatch {name}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"tankerwatch {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
