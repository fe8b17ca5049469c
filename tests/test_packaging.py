"""The analyst's path must not pull in torch, and the CLI must answer."""

import subprocess
import sys


def test_importing_infer_never_imports_torch():
    # walk_packages recurses: every module of every subpackage is imported, not just the top level.
    code = ("import sys, pkgutil, importlib, tankerwatch.infer as p\n"
            "names = [m.name for m in pkgutil.walk_packages(p.__path__, 'tankerwatch.infer.')]\n"
            "assert 'tankerwatch.infer.runtime.detect' in names and 'tankerwatch.infer.synth.tiles' in names\n"
            "for name in names: importlib.import_module(name)\n"
            "heavy = [n for n in ('torch', 'torchvision', 'lightning', 'albumentations') if n in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "tankerwatch.infer.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for name in ("check-labels", "convert", "synth", "fit", "export", "calibrate", "detect", "report"):
        assert name in out


def test_every_public_name_of_every_subpackage_resolves():
    import importlib.util
    import pkgutil

    import tankerwatch.infer as infer

    packages = [m.name for m in pkgutil.walk_packages(infer.__path__, "tankerwatch.infer.") if m.ispkg]
    assert {"tankerwatch.infer.core", "tankerwatch.infer.runtime", "tankerwatch.infer.synth"} <= set(packages)
    for name in packages:
        package = importlib.import_module(name)
        assert package.__all__, name
        missing = [n for n in package.__all__ if not hasattr(package, n)
                   and importlib.util.find_spec(f"{name}.{n}") is None]
        assert not missing, (name, missing)
