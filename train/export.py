"""Export a detector to one self-describing ONNX file, check it against PyTorch, and score it.

The file follows the ONNX contract pinned in :mod:`tankerwatch.infer.runtime.onnx_model`: inputs
``image`` uint8 ``[N, C, H, W]`` with dynamic N, H, W and, for a model with ``view_input`` (format
version 3), ``view`` f32 ``[N, 5]`` (GSD and sun and view angles per image); decoding and peak
selection inside the graph (outputs are final oriented boxes ``(cx, cy, length, width, angle)`` in
input pixels, angle in ``[-pi/2, pi/2)``, with type and load-state probabilities, the laden
fraction and, in version 3, the freeboard, each with its interval); only standard ONNX ops; opset
:data:`OPSET`; ``tankerwatch.*`` metadata with JSON values. The model id is the sha256 of the file.

Exporter: torch's dynamo exporter (``torch.onnx.export(..., dynamo=True)``), chosen explicitly. It
specialises any dimension whose example size is 1, so the example batch is 2 and the exported
input shape is checked to be symbolic in N, H and W.

Parity (:func:`check_parity`) compares every output of the contract between PyTorch and
onnxruntime; :func:`evaluate_onnx` scores a file on a labelled dataset. The int8 and fp16 variants
are derived from the fp32 file in :mod:`tankerwatch.train.quantise`.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from tankerwatch.infer import __version__
from tankerwatch.infer.core.atomic import atomic_path
from tankerwatch.infer.core.boxes import rotated_iou
from tankerwatch.infer.core.errors import ModelError
from tankerwatch.infer.core.labels import ANGLE_KEYS, LOAD_NAMES, TYPE_NAMES
from tankerwatch.infer.runtime.onnx_model import (
    FORMAT_VERSION,
    INPUT_NAME,
    OUTPUT_NAMES,
    VERSION_OUTPUTS,
    VIEW_COLUMNS,
    VIEW_INPUT_NAME,
    VIEW_INPUT_SPEC,
    Outputs,
    encode_metadata,
    file_sha256,
)
from tankerwatch.infer.runtime.scaling import Scaling
from tankerwatch.models.detector import LADEN_FRACTION_QUANTILES

OPSET = 18
# Example input for tracing: batch 2 (a size-1 dimension would be specialised), height != width
# so the two are not unified, both multiples of every network's downsampling factor.
EXAMPLE_BATCH, EXAMPLE_HEIGHT, EXAMPLE_WIDTH = 2, 64, 96
MAX_DIM = 16384
# Parity: shapes (N, H, W) compared between PyTorch and onnxruntime after export.
PARITY_SHAPES = ((1, 96, 128), (2, 64, 64), (3, 160, 96))
SCORE_TOLERANCE = 1e-3
# Type and load probabilities of one peak, as for its score: PyTorch and onnxruntime agree on all
# three to about 1e-7 (tiny and small backbones, untrained), so a thousandth is a different graph.
# The laden fraction is held to the same.
PROB_TOLERANCE = 1e-3
# Freeboard (metres): a millimetre is far below anything a pixel shows.
FREEBOARD_TOLERANCE_M = 1e-3
# Without a view input a model is written as format version 2 (no view, no freeboard output).
FORMAT_WITHOUT_VIEW = 2
# Parity and tracing view rows: one geometry with every cue visible, and one with the angles
# unknown at another GSD, so both of the load stage's branches and its calibration's GSD term are
# compared.
EXAMPLE_VIEW = (1.0, 40.0, 150.0, 15.0, 60.0)
UNKNOWN_ANGLES_VIEW = (0.5, math.nan, math.nan, math.nan, math.nan)
MATCH_IOU = 0.9
MAX_UNMATCHED_SHARE = 0.01
META_REQUIRED = ("scaling", "gsd_range_m", "load_uncertain_band", "load_max_gsd_m", "config_sha256")


def model_metadata(model: torch.nn.Module, meta: dict, precision: str = "fp32") -> dict:
    """The ``tankerwatch.*`` metadata values for ``model`` trained as ``meta`` describes.

    ``meta`` is a checkpoint's metadata: ``scaling`` (a :class:`Scaling` dict), ``gsd_range_m``,
    ``load_uncertain_band``, ``load_max_gsd_m``, ``config_sha256`` and optionally ``val_metrics``,
    ``type_names``/``load_names`` (which must be the contract's order) and ``max_vessel_px`` (the
    longest vessel the model was trained to find, input pixels; see
    :func:`~tankerwatch.train.datamodule.max_vessel_px_of`). A checkpoint without ``max_vessel_px``
    (written before it existed, or trained on images without labels) exports without the key, and
    ``detect`` then runs its single pass as before. Likewise ``taught`` (which heads had labels,
    :func:`~tankerwatch.train.datamodule.taught_heads`) and ``label_counts``: without ``taught``
    ``detect`` takes the model as taught type and load, as it always did.
    """
    missing = [k for k in META_REQUIRED if meta.get(k) is None]
    if missing:
        raise ModelError(f"checkpoint metadata lacks {', '.join(missing)}; cannot describe the model")
    for key, expected in (("type_names", TYPE_NAMES), ("load_names", LOAD_NAMES)):
        if key in meta and list(meta[key]) != list(expected):
            raise ModelError(f"checkpoint {key} {list(meta[key])} differ from the ONNX contract's {list(expected)}")
    version = model_format_version(model)
    values = {
        "format_version": version,
        "project_version": __version__,
        "type_names": list(TYPE_NAMES),
        "load_names": list(LOAD_NAMES),
        "in_channels": int(model.in_channels),
        "scaling": Scaling.from_dict(dict(meta["scaling"])).to_dict(),
        "input_multiple": int(model.input_multiple),
        "output_stride": int(model.output_stride),
        "top_k": int(model.top_k),
        "gsd_range_m": [float(v) for v in meta["gsd_range_m"]],
        "load_uncertain_band": [float(v) for v in meta["load_uncertain_band"]],
        "load_max_gsd_m": float(meta["load_max_gsd_m"]),
        "config_sha256": str(meta["config_sha256"]),
        "val_metrics": _json_safe(meta.get("val_metrics") or {}),
        "precision": precision,
        "laden_fraction_quantiles": list(LADEN_FRACTION_QUANTILES),
    }
    for key in ("max_vessel_px", "taught", "label_counts"):
        if meta.get(key) is not None:
            values[key] = _json_safe(meta[key])  # validated just below, like the rest
    if version >= 3:
        values["view_input"] = VIEW_INPUT_SPEC
    encode_metadata(values)  # validates with the same rules detect applies
    return values


def model_format_version(model: torch.nn.Module) -> int:
    """The format version ``model`` exports as: the current one with a view input, else 2."""
    return FORMAT_VERSION if getattr(model, "view_input", False) else FORMAT_WITHOUT_VIEW


def example_views(n: int) -> np.ndarray:
    """``[n, 5]`` f32 view rows, alternating :data:`EXAMPLE_VIEW` and :data:`UNKNOWN_ANGLES_VIEW`."""
    rows = [EXAMPLE_VIEW if i % 2 == 0 else UNKNOWN_ANGLES_VIEW for i in range(n)]
    return np.array(rows, dtype=np.float32).reshape(n, len(VIEW_COLUMNS))


def _json_safe(value):
    """Metrics as plain JSON: floats (NaN -> None), ints, strings, nested dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


def set_metadata(proto: onnx.ModelProto, values: dict) -> None:
    """Replace the model's ``tankerwatch.*`` metadata_props with ``values`` (JSON-encoded)."""
    kept = [p for p in proto.metadata_props if not p.key.startswith("tankerwatch.")]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    onnx.helper.set_model_props(proto, {**{p.key: p.value for p in kept}, **encode_metadata(values)})


def read_metadata_values(proto: onnx.ModelProto) -> dict:
    """The ``tankerwatch.*`` metadata of an exported model, decoded (already validated at export)."""
    return {p.key[len("tankerwatch."):]: json.loads(p.value) for p in proto.metadata_props
            if p.key.startswith("tankerwatch.")}


def check_onnx(proto: onnx.ModelProto, where, version: int = FORMAT_VERSION) -> None:
    """onnx's full check (with shape inference), plus the contract's dynamic N, H, W and the inputs
    and outputs of format ``version``."""
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelError(f"{where}: exported graph fails onnx.checker ({str(exc).splitlines()[0]})") from None
    inputs = [i for i in proto.graph.input if i.name == INPUT_NAME]
    if len(inputs) != 1:
        raise ModelError(f"{where}: exported graph has no '{INPUT_NAME}' input")
    dims = inputs[0].type.tensor_type.shape.dim
    fixed = [axis for axis in (0, 2, 3) if dims[axis].HasField("dim_value")]
    if fixed:
        raise ModelError(f"{where}: exporter fixed input axes {fixed} to {[dims[a].dim_value for a in fixed]}; "
                         f"N, H and W must stay dynamic")
    expected_inputs = [INPUT_NAME, VIEW_INPUT_NAME] if version >= 3 else [INPUT_NAME]
    if [i.name for i in proto.graph.input] != expected_inputs:
        raise ModelError(f"{where}: exported inputs are {[i.name for i in proto.graph.input]}, format version "
                         f"{version} says {expected_inputs}")
    names, expected = tuple(o.name for o in proto.graph.output), VERSION_OUTPUTS[version]
    if names != expected:
        raise ModelError(f"{where}: exported outputs are {list(names)}, the contract says {list(expected)}")


@contextlib.contextmanager
def _decoding(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The model in eval mode with in-graph decoding on; its previous state restored after."""
    was_training, was_decoding = model.training, model.decode
    model.eval()
    model.decode = True
    try:
        yield model
    finally:
        model.decode = was_decoding
        model.train(was_training)


def export_onnx(model: torch.nn.Module, meta: dict, out_path, opset: int = OPSET) -> str:
    """Export ``model`` (an OrientedDetector or anything with its attributes and decode switch)
    to ``out_path`` atomically, with metadata and checks; return the model id (sha256)."""
    values = model_metadata(model, meta, "fp32")
    version = values["format_version"]
    batch = torch.export.Dim("batch", min=1, max=1024)
    example = torch.zeros((EXAMPLE_BATCH, model.in_channels, EXAMPLE_HEIGHT, EXAMPLE_WIDTH), dtype=torch.uint8)
    dims = {"image": {0: batch, 2: torch.export.Dim("height", min=1, max=MAX_DIM),
                      3: torch.export.Dim("width", min=1, max=MAX_DIM)}}
    inputs, input_names = (example,), [INPUT_NAME]
    if version >= 3:
        inputs, input_names = (example, torch.from_numpy(example_views(EXAMPLE_BATCH))), [INPUT_NAME, VIEW_INPUT_NAME]
        dims["view"] = {0: batch}
    out_path = Path(out_path)
    with _decoding(model), atomic_path(out_path) as tmp:
        # The exporter narrates every step on stdout; keep the command's output to what it found.
        with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            try:
                torch.onnx.export(model, inputs, str(tmp), input_names=input_names,
                                  output_names=list(VERSION_OUTPUTS[version]), dynamic_shapes=dims,
                                  opset_version=opset, dynamo=True, external_data=False)
            except Exception as exc:  # the exporter raises many types; the one line matters
                raise ModelError(f"{out_path}: ONNX export failed ({str(exc).strip().splitlines()[0]})") from None
        proto = onnx.load(str(tmp))
        _strip_trace_metadata(proto.graph)
        set_metadata(proto, values)
        check_onnx(proto, out_path, version)
        onnx.save(proto, str(tmp))
    return file_sha256(out_path)


def _strip_trace_metadata(graph: onnx.GraphProto) -> None:
    """Drop the exporter's per-node debug metadata (stack traces, and object addresses that change
    from run to run), so one checkpoint always exports to the same bytes and the same model id."""
    for item in (*graph.node, *graph.input, *graph.output, *graph.value_info, *graph.initializer):
        del item.metadata_props[:]


def _session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = min(2, torch.get_num_threads())
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class ParityReport:
    """PyTorch (reference) vs onnxruntime on the same inputs, one figure per output of the contract.

    ``rows``: the reference's valid rows compared. ``boxes``: ``unmatched`` rows (a box with no
    partner of IoU >= :data:`MATCH_IOU` on the other side, unless it scores at the weakest kept
    score, where a peak may fall either side of the threshold) and the lowest IoU among matches.
    ``scores``, ``type_probs``, ``load_probs``, ``laden_fraction``, ``freeboard_m`` (when both sides
    have it): the largest absolute difference between matched rows. ``count``: ``count_diff``, the images' differences in valid rows beyond those explained
    by rows at the threshold. ``wrong_layout``: outputs whose shape or dtype differ (their rows are
    then not compared).
    """

    rows: int
    unmatched: int
    min_iou: float
    max_score_diff: float
    max_type_diff: float
    max_load_diff: float
    count_diff: int
    max_fraction_diff: float = 0.0
    max_freeboard_diff: float = 0.0
    wrong_layout: tuple[str, ...] = ()

    @property
    def failed(self) -> list[str]:
        """Names of the outputs that disagree beyond tolerance, in the contract's order."""
        # A weakly trained net has flat heatmaps, where a 1e-7 difference can flip which of two
        # equal neighbours is a peak (and so how many peaks there are): allow that for at most 1 %
        # of the rows. Matched rows are the same peak and must agree.
        allowance = self.rows * MAX_UNMATCHED_SHARE
        agree = {"boxes": self.unmatched <= allowance,
                 "scores": self.max_score_diff <= SCORE_TOLERANCE,
                 "type_probs": self.max_type_diff <= PROB_TOLERANCE,
                 "load_probs": self.max_load_diff <= PROB_TOLERANCE,
                 "count": self.count_diff <= allowance,
                 "laden_fraction": self.max_fraction_diff <= PROB_TOLERANCE,
                 "freeboard_m": self.max_freeboard_diff <= FREEBOARD_TOLERANCE_M}
        return [name for name in OUTPUT_NAMES if name in self.wrong_layout or not agree[name]]

    @property
    def ok(self) -> bool:
        return not self.failed

    def __add__(self, other: ParityReport) -> ParityReport:
        return ParityReport(self.rows + other.rows, self.unmatched + other.unmatched, min(self.min_iou, other.min_iou),
                            max(self.max_score_diff, other.max_score_diff), max(self.max_type_diff, other.max_type_diff),
                            max(self.max_load_diff, other.max_load_diff), self.count_diff + other.count_diff,
                            max(self.max_fraction_diff, other.max_fraction_diff),
                            max(self.max_freeboard_diff, other.max_freeboard_diff),
                            tuple(n for n in OUTPUT_NAMES if n in self.wrong_layout or n in other.wrong_layout))

    def __str__(self) -> str:
        layout = f"; shape or dtype differ: {', '.join(self.wrong_layout)}" if self.wrong_layout else ""
        return (f"{self.rows} boxes compared, {self.unmatched} unmatched, min IoU {self.min_iou:.4f}; max difference "
                f"of scores {self.max_score_diff:.2e}, type_probs {self.max_type_diff:.2e}, load_probs "
                f"{self.max_load_diff:.2e}, laden_fraction {self.max_fraction_diff:.2e}, freeboard_m "
                f"{self.max_freeboard_diff:.2e} m; count off by "
                f"{self.count_diff}{layout}")


def compare_outputs(reference: Outputs, candidate: Outputs, score_tolerance: float = SCORE_TOLERANCE) -> ParityReport:
    """Compare two batches of outputs, output by output (see :class:`ParityReport`).

    Each image's valid rows are matched by rotated IoU, greedily in the reference's score order,
    each to the partner nearest in score. A row may go unmatched only when its score is within
    ``score_tolerance`` of the weakest row kept on either side (a peak at the score threshold may
    fall either side of it); those rows also explain a difference in ``count``. The weakest row is
    taken among positive scores: a row scoring 0 is padding, and counting it is an error.
    """
    wrong_layout = tuple(name for name, ref, got in zip(OUTPUT_NAMES, reference, candidate, strict=True)
                         if (ref is None) != (got is None)
                         or ref is not None and (ref.shape != got.shape or ref.dtype != got.dtype))
    if wrong_layout:
        return ParityReport(0, 0, 1.0, 0.0, 0.0, 0.0, 0, wrong_layout=wrong_layout)
    rows = unmatched = count_diff = 0
    compared = [n for n in ("scores", "type_probs", "load_probs", "laden_fraction", "freeboard_m")
                if getattr(reference, n) is not None]
    min_iou, max_diff = 1.0, dict.fromkeys(compared, 0.0)
    for i in range(len(reference.count)):
        ref, got = reference.image(i), candidate.image(i)
        rows += len(ref.scores)
        iou = rotated_iou(ref.boxes, got.boxes)
        taken = np.zeros(len(got.scores), dtype=bool)
        positive = np.concatenate([ref.scores, got.scores])
        floor = float(positive[positive > 0].min(initial=np.inf))
        excused = 0
        for r in range(len(ref.scores)):
            candidates = np.flatnonzero(~taken & (iou[r] >= MATCH_IOU)) if iou.size else np.array([], int)
            if len(candidates) == 0:
                if abs(float(ref.scores[r]) - floor) <= score_tolerance:
                    excused += 1
                else:
                    unmatched += 1
                continue
            best = candidates[np.argmin(np.abs(got.scores[candidates] - ref.scores[r]))]
            taken[best] = True
            min_iou = min(min_iou, float(iou[r, best]))
            for name in max_diff:
                difference = np.abs(getattr(got, name)[best] - getattr(ref, name)[r]).max()
                max_diff[name] = max(max_diff[name], float(difference))
        extra_at_threshold = np.abs(got.scores[~taken] - floor) <= score_tolerance
        excused += int(extra_at_threshold.sum())
        unmatched += int((~extra_at_threshold).sum())
        count_diff += max(0, abs(int(ref.count[0]) - int(got.count[0])) - excused)
    return ParityReport(rows, unmatched, min_iou, max_diff["scores"], max_diff["type_probs"], max_diff["load_probs"],
                        count_diff, max_diff.get("laden_fraction", 0.0), max_diff.get("freeboard_m", 0.0))


def model_feed(model: torch.nn.Module, images: np.ndarray) -> dict[str, np.ndarray]:
    """The ONNX inputs for ``images``: the images, and for a model with a view input the
    :func:`example_views` rows."""
    feed = {INPUT_NAME: images}
    if model_format_version(model) >= 3:
        feed[VIEW_INPUT_NAME] = example_views(len(images))
    return feed


def torch_outputs(model: torch.nn.Module, feed: dict[str, np.ndarray]) -> Outputs:
    """The model's decoded outputs on an ONNX-style ``feed`` (:func:`model_feed`)."""
    with _decoding(model), torch.no_grad():
        return Outputs(*(t.numpy() for t in model(*(torch.from_numpy(feed[name]) for name in feed))))


def check_parity(model: torch.nn.Module, onnx_path, images: Iterable[np.ndarray] | None = None,
                 seed: int = 0) -> ParityReport:
    """Compare PyTorch and onnxruntime, every output, on batches ``uint8 [N, C, H, W]``; by default
    on :data:`PARITY_SHAPES` filled with bright blobs on a dark, noisy sea, so there are peaks."""
    session = _session(onnx_path)
    if images is None:
        rng = np.random.default_rng(seed)
        images = [blob_images(rng, n, model.in_channels, h, w) for n, h, w in PARITY_SHAPES]
    names = list(VERSION_OUTPUTS[model_format_version(model)])
    reports = []
    for batch in images:
        feed = model_feed(model, batch)
        raw = session.run(names, feed)
        reports.append(compare_outputs(torch_outputs(model, feed), Outputs(*raw)))
    return sum(reports[1:], reports[0])


def blob_images(rng: np.random.Generator, n: int, channels: int, height: int, width: int) -> np.ndarray:
    """uint8 ``[n, channels, height, width]``: noise plus a few bright rotated bars (vessel-like)."""
    images = rng.integers(0, 40, size=(n, channels, height, width)).astype(np.float64)
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    for image in images:
        for _ in range(3):
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            length, angle = rng.uniform(10, 40), rng.uniform(-math.pi / 2, math.pi / 2)
            along = (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)
            across = -(xx - cx) * math.sin(angle) + (yy - cy) * math.cos(angle)
            image[:, (np.abs(along) < length / 2) & (np.abs(across) < length / 8)] += rng.uniform(120, 200)
    return np.clip(images, 0, 255).astype(np.uint8)


def model_input(path, scaling: Scaling, max_side: int | None = None) -> np.ndarray:
    """uint8 ``[C, H, W]`` model input of an image file, each file its own scene (the stretch is
    computed over the whole file); ``max_side`` keeps a centred crop of at most that size."""
    from tankerwatch.infer.runtime.raster import inspect_raster, read_window
    from tankerwatch.infer.runtime.scaling import to_uint8

    info = inspect_raster(path)
    width, height = info.width, info.height
    col, row = 0, 0
    if max_side is not None:
        col, row = max(0, (width - max_side) // 2), max(0, (height - max_side) // 2)
        width, height = min(width, max_side), min(height, max_side)
    lo, hi = scaling.scene_limits(path)
    array, valid = read_window(path, col, row, width, height, scaling.bands)
    image = to_uint8(array, lo, hi)
    image[:, ~valid] = 0
    return image


def evaluate_onnx(onnx_path, dataset_path) -> dict:
    """Headline figures of an ONNX model on a labelled dataset (its ``val`` split if it has one),
    each image run whole as its own scene, resampled into the model's ``gsd_range_m`` as ``detect``
    would by default (enlarged to ``DEFAULT_MAX_GSD_M`` when coarser): vessel_AP50, vessel_AP50_95,
    load_accuracy, load_coverage."""
    from tankerwatch.infer.evaluation.metrics import DetectionEvaluator
    from tankerwatch.infer.formats.dataset import read_dataset
    from tankerwatch.infer.runtime.onnx_model import OnnxDetector
    from tankerwatch.infer.runtime.tiling import (
        DEFAULT_MAX_GSD_M,
        assumed_gsd_m,
        resample_scale,
        working_gsd_range,
        zoom_bands,
    )

    detector = OnnxDetector(onnx_path, device="cpu", threads=min(2, torch.get_num_threads()))
    info = detector.info
    dataset = read_dataset(dataset_path)
    images = dataset.splits.get("val") or dataset.images
    evaluator = DetectionEvaluator(uncertain_band=info.load_uncertain_band, load_max_gsd_m=info.load_max_gsd_m)
    multiple = info.input_multiple
    working = working_gsd_range(info.gsd_range_m, DEFAULT_MAX_GSD_M)
    for truth in images:
        image = model_input(truth.image_path, info.scaling)
        scale = resample_scale(truth.gsd_m, working)  # image pixels per model pixel
        image = zoom_bands(image, 1 / scale)
        _, h, w = image.shape
        padded = np.zeros((image.shape[0], -(-h // multiple) * multiple, -(-w // multiple) * multiple), np.uint8)
        padded[:, :h, :w] = image  # bottom/right padding keeps pixel coordinates
        view = None
        if info.view_input:
            angles = truth.angles or {}
            gsd = assumed_gsd_m(info.gsd_range_m) if truth.gsd_m is None else truth.gsd_m * scale  # as view_row
            view = np.array([[gsd, *(angles.get(k, math.nan) for k in ANGLE_KEYS)]], dtype=np.float32)
        found = detector.run(padded[None], view=view).image(0)
        boxes = np.array(found.boxes, dtype=np.float64).reshape(-1, 5)
        boxes[:, :4] *= scale
        evaluator.add(truth, boxes, found.scores, found.type_probs, found.load_probs, gsd_m=truth.gsd_m)
    figures = evaluator.compute()
    return {k: figures.get(k) for k in ("vessel_AP50", "vessel_AP50_95", "load_accuracy", "load_coverage")}
