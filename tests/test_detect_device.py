"""--device: CUDA when the GPU build and a GPU are there, CPU otherwise; never two runtimes at once.

onnxruntime is mocked here (its provider list and session), so these run on any machine.
"""

import types

import pytest

from tankerwatch.infer.core.errors import ConfigError, ModelError
from tankerwatch.infer.runtime import onnx_model
from tankerwatch.infer.runtime.onnx_model import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    OnnxDetector,
    check_single_runtime,
    select_providers,
)

GPU_BUILD = ["TensorrtExecutionProvider", CUDA_PROVIDER, CPU_PROVIDER]
CPU_BUILD = ["AzureExecutionProvider", CPU_PROVIDER]


def test_provider_choice():
    assert select_providers("auto", GPU_BUILD) == [CUDA_PROVIDER, CPU_PROVIDER]
    assert select_providers("auto", CPU_BUILD) == [CPU_PROVIDER]
    assert select_providers("cpu", GPU_BUILD) == [CPU_PROVIDER]
    assert select_providers("cuda", GPU_BUILD) == [CUDA_PROVIDER, CPU_PROVIDER]
    with pytest.raises(ConfigError, match="no CUDA provider.*make install-gpu"):
        select_providers("cuda", CPU_BUILD)
    with pytest.raises(ConfigError, match="--device"):
        select_providers("tpu", CPU_BUILD)


def test_two_runtimes_installed_is_refused():
    check_single_runtime(["onnxruntime"])
    with pytest.raises(ConfigError, match="both onnxruntime and onnxruntime-gpu are installed"):
        check_single_runtime(["onnxruntime", "onnxruntime-gpu"])


class FakeSession:
    """Stands in for onnxruntime.InferenceSession: records the providers asked for and reports
    what a real session would (``granted``); it has no metadata, so loading stops right after."""

    granted: list[str] = []
    asked: list[str] = []

    def __init__(self, path, sess_options=None, providers=None):
        FakeSession.asked = list(providers)

    def get_providers(self):
        return FakeSession.granted

    def get_modelmeta(self):
        return types.SimpleNamespace(custom_metadata_map={})


@pytest.fixture
def fake_ort(monkeypatch, tmp_path):
    import onnxruntime

    def install(available, granted):
        monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(available))
        monkeypatch.setattr(onnxruntime, "InferenceSession", FakeSession)
        monkeypatch.setattr(onnx_model, "installed_runtimes", lambda: ["onnxruntime-gpu"])
        FakeSession.granted = list(granted)

    model = tmp_path / "m.onnx"
    model.write_bytes(b"stand-in")
    return install, model


def test_auto_uses_cuda_when_the_gpu_build_has_it(fake_ort):
    install, model = fake_ort
    install(GPU_BUILD, [CUDA_PROVIDER, CPU_PROVIDER])
    with pytest.raises(ModelError, match="without tankerwatch metadata"):  # got as far as reading metadata
        OnnxDetector(model, device="auto")
    assert FakeSession.asked == [CUDA_PROVIDER, CPU_PROVIDER]


def test_auto_uses_cpu_without_cuda(fake_ort):
    install, model = fake_ort
    install(CPU_BUILD, [CPU_PROVIDER])
    with pytest.raises(ModelError, match="without tankerwatch metadata"):
        OnnxDetector(model, device="auto")
    assert FakeSession.asked == [CPU_PROVIDER]


def test_cuda_that_silently_fell_back_to_cpu_is_an_error(fake_ort):
    install, model = fake_ort
    install(GPU_BUILD, [CPU_PROVIDER])  # CUDA libraries failed to load: onnxruntime only warns
    with pytest.raises(ConfigError, match="fell back to CPUExecutionProvider"):
        OnnxDetector(model, device="cuda")


def test_sleeping_intra_op_threads_are_asked_for_and_change_no_output(blob_model):
    """A process taking turns between sessions (bench/latency_peer.py) asks for sleeping threads."""
    import numpy as np

    spinning = OnnxDetector(blob_model, device="cpu", threads=2)
    sleeping = OnnxDetector(blob_model, device="cpu", threads=2, spinning=False)
    key = "session.intra_op.allow_spinning"
    assert sleeping.session.get_session_options().get_session_config_entry(key) == "0"
    with pytest.raises(RuntimeError, match=key):  # left at onnxruntime's default (spinning)
        spinning.session.get_session_options().get_session_config_entry(key)
    tile = np.zeros((1, 3, 64, 64), dtype=np.uint8)
    tile[0, :, 20:26, 10:40] = 255
    a, b = spinning.run(tile).image(0), sleeping.run(tile).image(0)
    assert len(a.scores) > 0
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.scores, b.scores)
