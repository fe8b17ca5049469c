"""The top-level command line, as a user meets it."""

import subprocess
import sys

TORCHLESS = ("import sys; sys.modules['torch'] = None\n"  # behave as a base install without torch
             "from tankerwatch.infer.cli import main; sys.exit(main(sys.argv[1:]))")


def run(*args, code=None):
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "tankerwatch.infer.cli", *args]
    return subprocess.run(command, capture_output=True, text=True)


def test_unknown_command_names_the_valid_ones():
    result = run("frobnicate")
    assert result.returncode == 2
    assert "check-labels" in result.stderr


def test_train_commands_on_a_base_install_name_the_train_extra():
    result = run("fit", "--config", "configs/tiny.yaml", code=TORCHLESS)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "tankerwatch[train]" in lines[0], result.stderr


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("tankerwatch ")
