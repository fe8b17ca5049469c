"""Shared fixtures. Tests run on data the project generates or on files in ../shared/."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
SEN2SHIPS = SHARED / "data" / "sen2ships"


@pytest.fixture(autouse=True)
def _restore_environment():
    """Leave ``os.environ`` as each test found it: Dask's local cluster sets OMP_NUM_THREADS=1 in
    its parent process, and every later test's CLI subprocesses (fits, exports) would then run on
    one thread."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _restore_rng_state():
    """Give every test the same seeded RNGs and leave them as they were found."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    random.seed(0)
    np.random.seed(0)
    torch = sys.modules.get("torch")  # only if some test already paid for importing it
    torch_state = torch.random.get_rng_state() if torch is not None else None
    if torch is not None:
        torch.manual_seed(0)
    yield
    random.setstate(py_state)
    np.random.set_state(np_state)
    if torch is not None and torch_state is not None:
        torch.random.set_rng_state(torch_state)


@pytest.fixture(scope="session")
def sen2ships_dir() -> Path:
    if not (SEN2SHIPS / "annotations.json").exists():
        pytest.skip(f"{SEN2SHIPS} is not present")
    return SEN2SHIPS


@pytest.fixture(scope="session")
def blob_model(tmp_path_factory) -> Path:
    """The BlobDetector (tests/detect_fixtures.py: it reports painted vessels exactly where they
    are) exported once per session; read-only, shared by the detect, API and cluster tests."""
    pytest.importorskip("torch")
    from detect_fixtures import FIXTURE_META, BlobDetector

    from tankerwatch.train.export import export_onnx

    path = tmp_path_factory.mktemp("blob_model") / "blob.onnx"
    export_onnx(BlobDetector(), FIXTURE_META, path)
    return path


@pytest.fixture(scope="session")
def reach_model(tmp_path_factory) -> Path:
    """The BlobDetector exported with ``max_vessel_px`` 44 (it splits longer blobs) and a GSD range of
    1-16 m (detect_fixtures.REACH_META), once per session; read-only, shared by the two-pass and
    remote-raster tests."""
    pytest.importorskip("torch")
    from detect_fixtures import REACH_META, BlobDetector

    from tankerwatch.train.export import export_onnx

    path = tmp_path_factory.mktemp("reach_model") / "reach.onnx"
    export_onnx(BlobDetector(), REACH_META, path)
    return path


@pytest.fixture(scope="session")
def ci_model(tmp_path_factory) -> Path:
    """An ONNX model trained for real with configs/ci.yaml through the CLI (``train_fixtures.train_ci_model``:
    synth tiles -> fit -> export), once per session and shared by the tests that need a model that
    has learnt something: about 5.5 minutes on 2 AVX2 CPU cores (tiles 30 s, fit 4.5 min, export 1 min)."""
    pytest.importorskip("torch")
    pytest.importorskip("lightning")
    from train_fixtures import train_ci_model

    return train_ci_model(tmp_path_factory.mktemp("ci_model"))
