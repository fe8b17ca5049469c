"""`tankerwatch export`: one checked, self-describing ONNX file; parity with PyTorch; int8 and fp16."""

import hashlib
import json

import numpy as np
import onnx
import pytest
import torch
from detect_fixtures import FIXTURE_META, BlobDetector, labelled_blobs

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.errors import ModelError
from tankerwatch.infer.runtime.onnx_model import OUTPUT_NAMES, OnnxDetector
from tankerwatch.models import build_detector
from tankerwatch.train.export import (
    blob_images,
    check_parity,
    compare_outputs,
    evaluate_onnx,
    model_metadata,
    quantize_int8,
)
from tankerwatch.train.lightning_module import CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION

TINY = dict(backbone="tiny", fpn_channels=16, head_channels=16, top_k=24, output_stride=4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny real detector saved as a checkpoint and exported through the CLI, with both variants."""
    from tankerwatch.infer.formats.dataset import write_dataset

    root = tmp_path_factory.mktemp("export")
    torch.manual_seed(3)
    model = build_detector(**TINY).eval()
    meta = {**FIXTURE_META, "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION,
            "max_vessel_px": 40.5,
            "model_config": dict(model.config), "type_names": ["tanker", "other"], "load_names": ["empty", "loaded"],
            "scaling": {"bands": None, "method": "percentile", "percentiles": [1.0, 99.0],
                        "value_range": [0.0, 255.0]}}
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "tankerwatch": meta},
               root / "tiny.ckpt")
    write_dataset(labelled_blobs(root / "raw"), root / "val", "dota")
    out = root / "model.onnx"
    code = main(["export", str(root / "tiny.ckpt"), "-o", str(out), "--int8", "--calib", str(root / "val"),
                 "--fp16", "--val", str(root / "val")])
    assert code == 0
    return model, root


def test_export_writes_a_checked_file_with_metadata(exported, capsys):
    model, root = exported
    path = root / "model.onnx"
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 18
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.HasField("dim_param") for d in dims] == [True, False, True, True]
    assert [o.name for o in proto.graph.output] == list(OUTPUT_NAMES)
    props = {p.key: json.loads(p.value) for p in proto.metadata_props}
    assert props["tankerwatch.format_version"] == 1
    assert props["tankerwatch.top_k"] == TINY["top_k"] and props["tankerwatch.output_stride"] == 4
    assert props["tankerwatch.scaling"]["method"] == "percentile"
    assert props["tankerwatch.gsd_range_m"] == [1.0, 4.0]
    assert props["tankerwatch.max_vessel_px"] == 40.5
    detector = OnnxDetector(path, device="cpu", threads=1)
    assert detector.info.max_vessel_px == 40.5
    assert detector.info.model_id == hashlib.sha256(path.read_bytes()).hexdigest()
    assert set(op.op_type for op in proto.graph.node).isdisjoint({"NonMaxSuppression"})
    assert all(op.domain in ("", "ai.onnx") for op in proto.graph.node)  # no custom ops
    # no exporter debug metadata (it holds object addresses: the same checkpoint would get a new id)
    assert not any(node.metadata_props for node in proto.graph.node)


def test_exported_model_matches_pytorch_on_sizes_and_batches(exported):
    model, root = exported
    rng = np.random.default_rng(5)
    batches = [blob_images(rng, n, 3, h, w) for n, h, w in ((1, 64, 64), (2, 96, 160), (4, 128, 96), (3, 70, 45))]
    report = check_parity(model, root / "model.onnx", batches)
    assert report.rows > 0 and report.unmatched == 0, report
    assert report.max_score_diff < 1e-4 and report.min_iou > 0.99


def test_parity_check_notices_a_different_model(exported, tmp_path):
    model, root = exported
    other = build_detector(**TINY).eval()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    assert not check_parity(other, root / "model.onnx").ok


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_variants_keep_the_contract_and_stay_close(exported, precision):
    model, root = exported
    fp32 = OnnxDetector(root / "model.onnx", device="cpu", threads=1)
    variant = OnnxDetector(root / f"model.{precision}.onnx", device="cpu", threads=1)
    assert variant.info.precision == precision and fp32.info.precision == "fp32"
    assert variant.info.max_vessel_px == fp32.info.max_vessel_px == 40.5
    assert variant.session.get_inputs()[0].type == "tensor(uint8)"
    assert [o.type for o in variant.session.get_outputs()] == ["tensor(float)"] * 4 + ["tensor(int64)"]
    ops = {n.op_type for n in onnx.load(str(root / f"model.{precision}.onnx")).graph.node}
    assert ("DequantizeLinear" in ops) if precision == "int8" else ("Cast" in ops)
    images = blob_images(np.random.default_rng(2), 2, 3, 128, 128)
    ref, got = fp32.run(images), variant.run(images)
    # Boxes still come from float decoding: the strongest peak lands on the same box.
    top = compare_outputs(ref._replace(count=np.minimum(ref.count, 1)), got._replace(count=np.minimum(got.count, 1)),
                          score_tolerance=0.05)
    assert top.unmatched == 0 and top.min_iou > 0.8, top


def test_int8_calibrates_on_images_of_different_sizes(exported, tmp_path):
    """Calibration folders hold scenes of any size, and each image keeps a different number of
    detections for the load stage: neither may break the calibrator."""
    _, root = exported
    rng = np.random.default_rng(5)
    images = [blob_images(rng, 1, 3, h, w)[0] for h, w in ((96, 128), (160, 96), (64, 64))]
    quantize_int8(root / "model.onnx", tmp_path / "mixed.int8.onnx", images)
    variant = OnnxDetector(tmp_path / "mixed.int8.onnx", device="cpu", threads=1)
    assert variant.info.precision == "int8"
    assert variant.run(images[1][None]).boxes.shape[0] == 1


def test_export_reports_accuracy_change_on_the_validation_set(exported, capsys):
    # The fixture's CLI run printed it; run evaluate directly too, to check the figures' keys.
    _, root = exported
    figures = evaluate_onnx(root / "model.int8.onnx", root / "val")
    assert set(figures) == {"vessel_AP50", "vessel_AP50_95", "load_accuracy", "load_coverage"}


def test_export_refuses_an_incomplete_description():
    with pytest.raises(ModelError, match="gsd_range_m"):
        model_metadata(BlobDetector(), {k: v for k, v in FIXTURE_META.items() if k != "gsd_range_m"})
    with pytest.raises(ModelError, match="type_names"):
        model_metadata(BlobDetector(), {**FIXTURE_META, "type_names": ["other", "tanker"]})


def test_max_vessel_px_is_written_when_the_checkpoint_has_it_and_checked():
    assert model_metadata(BlobDetector(), {**FIXTURE_META, "max_vessel_px": np.float64(190.91)})["max_vessel_px"] \
        == 190.91
    # A checkpoint written before the key existed (or without labels to measure) exports without it.
    assert "max_vessel_px" not in model_metadata(BlobDetector(), FIXTURE_META)
    assert "max_vessel_px" not in model_metadata(BlobDetector(), {**FIXTURE_META, "max_vessel_px": None})
    for bad in (0, -3.0, float("nan"), float("inf"), "190", True):
        with pytest.raises(ModelError, match="max_vessel_px must be a finite number > 0"):
            model_metadata(BlobDetector(), {**FIXTURE_META, "max_vessel_px": bad})


def test_export_cli_errors_are_one_line(tmp_path, capsys):
    bogus = tmp_path / "bogus.ckpt"
    bogus.write_bytes(b"not a checkpoint")
    assert main(["export", str(bogus), "-o", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bogus.ckpt" in err
    assert main(["export", str(bogus), "-o", str(tmp_path / "m.onnx"), "--int8"]) == 2
    assert "--calib" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
