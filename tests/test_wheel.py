"""The wheel is complete: built from the source tree, installed into a fresh virtual environment,
``tankerwatch --help`` answers and every module of infer/, models/ and train/ imports from it.

No network: the build reuses the installed setuptools (no build isolation) and the fresh
environment sees the project's dependencies through a .pth file pointing at this environment's
site-packages (a path line, so that folder's own .pth files, such as the editable install's
finder, are not run).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("infer", "models", "train")


def run(cmd, **kwargs):
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path):
    # Build from a copy so the shared working tree gets no build/ or egg-info from this test.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, source])
    (wheel,) = wheels.glob("tankerwatch-*.whl")

    expected = {f"tankerwatch/{package}/{p.relative_to(REPO / package).as_posix()}"
                for package in PACKAGES for p in (REPO / package).rglob("*.py")}
    assert "tankerwatch/infer/runtime/detect.py" in expected
    inside = set(zipfile.ZipFile(wheel).namelist())
    assert expected <= inside, f"missing from the wheel: {sorted(expected - inside)}"

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    fresh_site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    (fresh_site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel])

    help_text = run([venv / "bin" / "tankerwatch", "--help"], cwd=tmp_path)
    assert "check-labels" in help_text and "detect" in help_text
    modules = sorted(f"tankerwatch.{name[len('tankerwatch/'):-3].replace('/', '.')}" for name in expected
                     if not name.endswith("__init__.py"))
    code = ("import importlib\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "import tankerwatch.infer as infer\n"
            f"assert infer.__file__.startswith({str(fresh_site)!r}), infer.__file__\n")
    run([python, "-c", code], cwd=tmp_path)
