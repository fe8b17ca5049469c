"""An exported detector as ``detect`` sees it: one ONNX file, its metadata checked before use.

The ONNX contract (CONVENTIONS.md) is pinned here, for the exporter to write and ``detect`` to read:

* input ``image``: uint8 ``[N, C, H, W]``, dynamic N, H, W; H and W multiples of
  ``input_multiple``; from ``format_version`` 3 also input ``view``: float32 ``[N, 5]``, one row per
  image, columns :data:`VIEW_COLUMNS`: ``gsd_m``, ground metres per pixel of the model input (the
  scene's GSD times ``detect``'s resample scale at that pass; finite, > 0), then the sun's elevation
  and azimuth and the view's zenith and azimuth in degrees, azimuths in the image frame (clockwise
  from the image's up direction, -y) and the view azimuth pointing from the ground towards the
  sensor; NaN in all four angle columns means the angles are unknown and the graph runs its
  geometry-free mode. Metadata ``view_input`` equals :data:`VIEW_INPUT_SPEC`;
* outputs ``boxes`` f32 ``[N, K, 5]`` (``cx, cy, length, width, angle`` in input pixels, angle in
  ``[-pi/2, pi/2)``), ``scores`` f32 ``[N, K]``, ``type_probs`` f32 ``[N, K, 2]`` over
  :data:`~tankerwatch.infer.core.labels.TYPE_NAMES`, ``load_probs`` f32 ``[N, K, 2]`` over
  :data:`~tankerwatch.infer.core.labels.LOAD_NAMES` (conditional on tanker), ``count`` int64 ``[N]``,
  and from ``format_version`` 2 ``laden_fraction`` f32 ``[N, K, 3]`` (conditional on tanker: where
  the draft lies between the class's ballast draft, 0, and laden draft, 1; columns central, lo, hi at
  the quantile levels of metadata ``laden_fraction_quantiles``, e.g. ``[0.5, 0.1, 0.9]``: the median
  and an 80 % interval), and from ``format_version`` 3 ``freeboard_m`` f32 ``[N, K, 3]`` (conditional
  on tanker: the deck edge's height above the water in metres, columns central, lo, hi at the same
  quantile levels); rows sorted by score, rows past ``count`` all zero;
* ``metadata_props``: ``tankerwatch.<key>`` -> JSON text for every key of :data:`METADATA_KEYS`,
  and for those of :data:`OPTIONAL_METADATA_KEYS` the model has (files written before a key existed
  lack it, and ``detect`` then does what it did before); version 2 also requires
  :data:`V2_METADATA_KEYS`, version 3 those and :data:`V3_METADATA_KEYS`.

``detect`` reads versions 1 (no laden fraction: :attr:`Outputs.laden_fraction` is None), 2 (no
freeboard output: :attr:`Outputs.freeboard_m` is None) and 3.
The model id is the sha256 of the file's bytes. Only onnxruntime is needed here (no torch, no onnx).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..core.errors import ConfigError, ModelError, first_line, located
from ..core.labels import LOAD_NAMES, TYPE_NAMES
from .scaling import Scaling

# 2: the laden_fraction output and its laden_fraction_quantiles metadata.
# 3: the view input (GSD, sun and view angles) and the freeboard_m output.
FORMAT_VERSION = 3
READABLE_FORMAT_VERSIONS = (1, 2, 3)
METADATA_PREFIX = "tankerwatch."
INPUT_NAME = "image"
VIEW_INPUT_NAME = "view"
VIEW_COLUMNS = ("gsd_m", "sun_elevation_deg", "sun_azimuth_deg", "view_zenith_deg", "view_azimuth_deg")
# What metadata view_input must equal, so a graph and a runtime that disagree on the row's layout,
# units or azimuth frame refuse each other instead of feeding angles into the wrong columns.
VIEW_INPUT_SPEC = {
    "name": VIEW_INPUT_NAME,
    "columns": list(VIEW_COLUMNS),
    "units": ["m", "deg", "deg", "deg", "deg"],
    "azimuth_frame": "image: clockwise from up (-y)",
    "view_azimuth": "from the ground towards the sensor",
    "missing": "NaN",
}
OUTPUT_NAMES = ("boxes", "scores", "type_probs", "load_probs", "count", "laden_fraction", "freeboard_m")
# The outputs of each format version: version 1 lacks the laden fraction, version 2 the freeboard.
VERSION_OUTPUTS = {1: OUTPUT_NAMES[:5], 2: OUTPUT_NAMES[:6], 3: OUTPUT_NAMES}
# key -> what the value must be, for the error message
METADATA_KEYS = {
    "format_version": "an integer",
    "project_version": "a string",
    "type_names": f"the list {list(TYPE_NAMES)}",
    "load_names": f"the list {list(LOAD_NAMES)}",
    "in_channels": "a positive integer",
    "scaling": "a scaling mapping (bands, method, percentiles, value_range)",
    "input_multiple": "a positive integer",
    "output_stride": "a positive integer",
    "top_k": "a positive integer",
    "gsd_range_m": "[low, high] metres with 0 < low <= high",
    "load_uncertain_band": "[low, high] with 0 <= low <= high <= 1",
    "load_max_gsd_m": "a positive number",
    "config_sha256": "a string",
    "val_metrics": "a mapping",
    "precision": "one of fp32, fp16, int8",
}
# Keys added after format_version 1 was fixed: validated when present, never required.
# max_vessel_px: the longest vessel (input pixels) the model was trained to find whole; detect runs a
# coarser second pass when a scene's longest possible vessel is longer (see train/datamodule.py, max_vessel_px_of).
# taught: which heads had labels in training (train/datamodule.py, taught_heads); a file without it
# is taken as taught both, as every model was before the key existed. label_counts: how many.
OPTIONAL_METADATA_KEYS = {
    "max_vessel_px": "a finite number > 0 (input pixels)",
    "taught": 'a mapping {"type": true|false, "load": true|false[, "laden_fraction": true|false]}',
    "label_counts": "a mapping of label names to whole numbers >= 0",
}
# Keys format_version 2 requires: the quantile level of each laden_fraction column (central, lo, hi).
V2_METADATA_KEYS = {
    "laden_fraction_quantiles": "[central, lo, hi] quantile levels with 0 < lo < central < hi < 1",
}
# Keys format_version 3 requires (besides version 2's): the view input's layout.
V3_METADATA_KEYS = {
    "view_input": f"the mapping {json.dumps(VIEW_INPUT_SPEC, sort_keys=True)}",
}
TAUGHT_HEADS = ("type", "load")
# Declared by models exported since the laden fraction existed; a file without it is taken as taught.
OPTIONAL_TAUGHT_HEADS = ("laden_fraction",)
# Which training label length stands for "the longest vessel the model finds": the 99th percentile,
# not the maximum, so a handful of outsized labels (a ship-to-ship pair labelled as one) does not
# claim a reach the model was hardly ever taught.
PRECISIONS = ("fp32", "fp16", "int8")
DEVICES = ("auto", "cpu", "cuda")
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
# Distributions that each install the `onnxruntime` module; two at once overwrite each other's files.
RUNTIME_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino")
GPU_SWAP_HINT = "make install-gpu (swaps onnxruntime for onnxruntime-gpu of the same minor version)"


@dataclass(frozen=True)
class ModelInfo:
    """The validated ``tankerwatch.*`` metadata of a model file.

    ``gsd_range_m``: ground metres per pixel the model was trained for; ``load_uncertain_band``:
    ``p_loaded`` inside it is reported ``uncertain``; above ``load_max_gsd_m`` every tanker's load
    is ``uncertain`` (the cue is not in the pixels there). ``max_vessel_px``: the longest vessel, in
    input pixels, the model was trained to find (None for a file exported before the key existed).
    ``types_taught`` / ``load_taught``: whether training labelled vessel type / load state; ``detect``
    reports what the model was not taught as ``unknown`` (load too when types were not taught, as
    load is conditional on tanker). ``label_counts``: the training labels per class, when recorded.
    ``laden_fraction_quantiles``: the quantile levels of the laden_fraction columns (central, lo,
    hi); None for a version-1 model, which has no such output. ``fraction_taught``: whether
    training saw draft fractions (``taught.laden_fraction``; True when the file does not say).
    ``view_input``: the graph takes the ``view`` input and returns ``freeboard_m`` (version 3).
    """

    model_id: str
    format_version: int
    project_version: str
    in_channels: int
    scaling: Scaling
    input_multiple: int
    output_stride: int
    top_k: int
    gsd_range_m: tuple[float, float]
    load_uncertain_band: tuple[float, float]
    load_max_gsd_m: float
    config_sha256: str
    val_metrics: dict
    precision: str
    max_vessel_px: float | None = None
    types_taught: bool = True
    load_taught: bool = True
    label_counts: dict | None = None
    laden_fraction_quantiles: tuple[float, float, float] | None = None
    fraction_taught: bool = True
    fraction_taught_declared: bool = False
    view_input: bool = False

    @property
    def output_names(self) -> tuple[str, ...]:
        return VERSION_OUTPUTS[self.format_version]

    def summary(self) -> dict:
        """What a detection file's header records about the model (``taught`` always: a file's
        reader need not know which model versions lacked the key)."""
        summary = {"id": self.model_id, "format_version": self.format_version,
                   "project_version": self.project_version, "precision": self.precision,
                   "in_channels": self.in_channels, "gsd_range_m": list(self.gsd_range_m),
                   "load_uncertain_band": list(self.load_uncertain_band), "load_max_gsd_m": self.load_max_gsd_m,
                   "config_sha256": self.config_sha256, "val_metrics": self.val_metrics,
                   "taught": {"type": self.types_taught, "load": self.load_taught}}
        if self.fraction_taught_declared:
            summary["taught"]["laden_fraction"] = self.fraction_taught
        if self.label_counts is not None:
            summary["label_counts"] = self.label_counts
        if self.laden_fraction_quantiles is not None:
            summary["laden_fraction_quantiles"] = list(self.laden_fraction_quantiles)
        return summary

    def untaught_note(self) -> str | None:
        """What the model's outputs leave out because it was not taught it, for ``detect`` to say
        once per run (completing "MODEL was ..."); None for a model taught type and load."""
        if not self.types_taught:
            return "trained without type labels: vessels are reported with type 'unknown' and no load state"
        if not self.load_taught:
            return "trained without load labels: tankers are reported with load 'unknown'"
        if not self.fraction_taught and self.laden_fraction_quantiles is not None:
            return "trained without draft fractions: laden_fraction and freeboard_m are null"
        return None

    def version_note(self) -> str | None:
        """What an older format leaves out, for ``detect`` to say once per run (completing "MODEL
        was ..."); None for a current model."""
        if self.laden_fraction_quantiles is None:
            return (f"exported with format_version {self.format_version}, without a laden-fraction output: "
                    f"laden_fraction and freeboard_m are null; re-export it to have them")
        return None


ROW_FIELDS = ("boxes", "scores", "type_probs", "load_probs", "laden_fraction", "freeboard_m")
_OPTIONAL_ROW_FIELDS = ("laden_fraction", "freeboard_m")


class Outputs(NamedTuple):
    """One batch of model outputs (see the module doc for shapes and meaning); ``laden_fraction``
    is None for a version-1 model, ``freeboard_m`` for versions 1 and 2."""

    boxes: np.ndarray
    scores: np.ndarray
    type_probs: np.ndarray
    load_probs: np.ndarray
    count: np.ndarray
    laden_fraction: np.ndarray | None = None
    freeboard_m: np.ndarray | None = None

    def image(self, i: int) -> Outputs:
        """The valid rows (``count[i]`` of them) of image ``i``."""
        n = int(self.count[i])
        return self._rows(lambda a: a[i, :n], self.count[i:i + 1])

    def take(self, index: np.ndarray) -> Outputs:
        """The rows ``index`` of one image's detections."""
        return self._rows(lambda a: a[index], np.array([len(index)], dtype=np.int64))

    @classmethod
    def concatenate(cls, parts: list[Outputs]) -> Outputs:
        """One image's rows from several (tiles, passes), in order; ``count`` is their total."""
        def joined(name):
            arrays = [getattr(p, name) for p in parts]
            return None if any(a is None for a in arrays) else np.concatenate(arrays)
        rows = {name: joined(name) for name in ROW_FIELDS}
        return cls(count=np.array([len(rows["scores"])], dtype=np.int64), **rows)

    def _rows(self, pick, count: np.ndarray) -> Outputs:
        rows = {name: None if getattr(self, name) is None else pick(getattr(self, name)) for name in ROW_FIELDS}
        return Outputs(count=count, **rows)


def encode_metadata(values: dict) -> dict[str, str]:
    """``metadata_props`` entries for ``values`` (every key of :data:`METADATA_KEYS`, and those of
    :data:`OPTIONAL_METADATA_KEYS` it has), JSON-encoded."""
    missing = [k for k in METADATA_KEYS if k not in values]
    if missing:
        raise ModelError(f"model metadata lacks {missing}")
    decode_metadata({METADATA_PREFIX + k: json.dumps(v) for k, v in values.items()}, "<export>", "0" * 64)
    keys = [*METADATA_KEYS,
            *(k for k in (*OPTIONAL_METADATA_KEYS, *V2_METADATA_KEYS, *V3_METADATA_KEYS) if k in values)]
    return {METADATA_PREFIX + k: json.dumps(values[k], sort_keys=True) for k in keys}


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number_pair(value) -> tuple[float, float] | None:
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        return float(value[0]), float(value[1])
    return None


def decode_metadata(props: dict[str, str], path, model_id: str) -> ModelInfo:
    """Validate a model's ``metadata_props`` and return them typed; ModelError names what is wrong."""
    ours = {k[len(METADATA_PREFIX):]: v for k, v in props.items() if k.startswith(METADATA_PREFIX)}
    if not ours:
        raise ModelError(located(path, "ONNX model without tankerwatch metadata; export it with "
                                       "'tankerwatch export'"))
    values = {}
    for key, text in ours.items():
        try:
            values[key] = json.loads(text)
        except (json.JSONDecodeError, TypeError):
            raise ModelError(located(path, f"metadata {METADATA_PREFIX}{key} is not valid JSON")) from None
    version = values.get("format_version")
    if isinstance(version, bool) or version not in READABLE_FORMAT_VERSIONS:
        raise ModelError(located(path, f"metadata format_version {version!r} is not one this tankerwatch "
                                       f"reads ({', '.join(map(str, READABLE_FORMAT_VERSIONS))}); re-export the "
                                       f"model or upgrade tankerwatch"))
    required = {**METADATA_KEYS, **(V2_METADATA_KEYS if version >= 2 else {}),
                **(V3_METADATA_KEYS if version >= 3 else {})}
    missing = [k for k in required if k not in values]
    if missing:
        raise ModelError(located(path, f"metadata lacks {', '.join(METADATA_PREFIX + k for k in missing)}"))

    def bad(key):
        must = {**METADATA_KEYS, **OPTIONAL_METADATA_KEYS, **V2_METADATA_KEYS, **V3_METADATA_KEYS}[key]
        return ModelError(located(path, f"metadata {METADATA_PREFIX}{key} must be {must}, got {values[key]!r}"))

    for key in ("in_channels", "input_multiple", "output_stride", "top_k"):
        if not _positive_int(values[key]):
            raise bad(key)
    for key in ("project_version", "config_sha256"):
        if not isinstance(values[key], str):
            raise bad(key)
    if values["type_names"] != list(TYPE_NAMES):
        raise bad("type_names")
    if values["load_names"] != list(LOAD_NAMES):
        raise bad("load_names")
    if not isinstance(values["val_metrics"], dict):
        raise bad("val_metrics")
    if values["precision"] not in PRECISIONS:
        raise bad("precision")
    gsd = _number_pair(values["gsd_range_m"])
    if gsd is None or not 0 < gsd[0] <= gsd[1]:
        raise bad("gsd_range_m")
    band = _number_pair(values["load_uncertain_band"])
    if band is None or not 0 <= band[0] <= band[1] <= 1:
        raise bad("load_uncertain_band")
    max_gsd = values["load_max_gsd_m"]
    if isinstance(max_gsd, bool) or not isinstance(max_gsd, (int, float)) or not max_gsd > 0:
        raise bad("load_max_gsd_m")
    max_vessel = values.get("max_vessel_px")  # absent from files exported before the key existed
    if "max_vessel_px" in values and not (_finite_number(max_vessel) and max_vessel > 0):
        raise bad("max_vessel_px")
    taught = values.get("taught", dict.fromkeys(TAUGHT_HEADS, True))
    if not (isinstance(taught, dict) and set(TAUGHT_HEADS) <= set(taught) <= {*TAUGHT_HEADS, *OPTIONAL_TAUGHT_HEADS}
            and all(isinstance(v, bool) for v in taught.values())):
        raise bad("taught")
    counts = values.get("label_counts")
    if "label_counts" in values and not (isinstance(counts, dict) and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values())):
        raise bad("label_counts")
    quantiles = None
    if version >= 2:
        levels = values["laden_fraction_quantiles"]
        if not (isinstance(levels, list) and len(levels) == 3 and all(_finite_number(v) for v in levels)
                and 0 < levels[1] < levels[0] < levels[2] < 1):
            raise bad("laden_fraction_quantiles")
        quantiles = tuple(float(v) for v in levels)
    if version >= 3 and values["view_input"] != VIEW_INPUT_SPEC:
        raise bad("view_input")
    try:
        scaling = Scaling.from_dict(values["scaling"])
    except ConfigError as exc:
        raise ModelError(located(path, f"metadata {METADATA_PREFIX}scaling: {exc}")) from None
    if scaling.bands is not None and len(scaling.bands) != values["in_channels"]:
        raise ModelError(located(path, f"metadata scaling selects {len(scaling.bands)} bands but the model "
                                       f"takes {values['in_channels']} channels"))
    return ModelInfo(model_id=model_id, format_version=version, project_version=values["project_version"],
                     in_channels=values["in_channels"], scaling=scaling, input_multiple=values["input_multiple"],
                     output_stride=values["output_stride"], top_k=values["top_k"], gsd_range_m=gsd,
                     load_uncertain_band=band, load_max_gsd_m=float(max_gsd),
                     config_sha256=values["config_sha256"], val_metrics=values["val_metrics"],
                     precision=values["precision"],
                     max_vessel_px=None if max_vessel is None else float(max_vessel),
                     types_taught=taught["type"], load_taught=taught["load"], label_counts=counts,
                     laden_fraction_quantiles=quantiles, fraction_taught=taught.get("laden_fraction", True),
                     fraction_taught_declared="laden_fraction" in taught, view_input=version >= 3)


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def installed_runtimes() -> list[str]:
    """Names of the installed distributions that provide the ``onnxruntime`` module."""
    found = []
    for name in RUNTIME_DISTRIBUTIONS:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def check_single_runtime(runtimes: list[str] | None = None) -> None:
    """Refuse to run when two onnxruntime builds are installed: they share one module folder, so
    whichever installed last silently wins file by file."""
    runtimes = installed_runtimes() if runtimes is None else runtimes
    if len(runtimes) > 1:
        raise ConfigError(f"both {' and '.join(runtimes)} are installed and overwrite each other; uninstall "
                          f"all but one (for a GPU: pip uninstall -y {' '.join(runtimes)}, then {GPU_SWAP_HINT})")


def select_providers(device: str, available: list[str]) -> list[str]:
    """onnxruntime providers, in priority order, for ``--device auto|cpu|cuda``."""
    if device not in DEVICES:
        raise ConfigError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    has_cuda = CUDA_PROVIDER in available
    if device == "cuda" and not has_cuda:
        raise ConfigError(f"--device cuda: this onnxruntime has no CUDA provider (available: "
                          f"{', '.join(available)}); install the GPU build: {GPU_SWAP_HINT}")
    if device == "cpu" or not has_cuda:
        return [CPU_PROVIDER]
    return [CUDA_PROVIDER, CPU_PROVIDER]


class OnnxDetector:
    """A validated model file and its onnxruntime session.

    ``device``: ``auto`` (CUDA when the GPU build and a GPU are present, else CPU), ``cpu`` or
    ``cuda`` (an error unless CUDA is really in use after the session is created: onnxruntime falls
    back to CPU silently when the CUDA libraries fail to load). ``threads``: intra-op threads on CPU
    (None = onnxruntime's default, all cores). ``spinning``: onnxruntime's intra-op threads
    busy-wait for the next run (its default); False makes them sleep, for a process that takes turns
    between this session and another on the same cores, where a waiting session's spinning threads
    would take cores from the running one.
    """

    def __init__(self, path, device: str = "auto", threads: int | None = None, spinning: bool = True):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(located(self.path, "no such model file"))
        check_single_runtime()
        providers = select_providers(device, ort.get_available_providers())
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # onnxruntime's warnings are for its developers, not analysts
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise ModelError(located(self.path, f"not an ONNX model onnxruntime can load ({first_line(exc)})")) \
                from None
        self.providers = list(self.session.get_providers())
        if device == "cuda" and self.providers[0] != CUDA_PROVIDER:
            raise ConfigError(f"--device cuda: onnxruntime fell back to {self.providers[0]} (the CUDA libraries "
                              f"did not load; check the CUDA and cuDNN versions onnxruntime-gpu needs)")
        self.device = "cuda" if self.providers[0] == CUDA_PROVIDER else "cpu"
        props = dict(self.session.get_modelmeta().custom_metadata_map)
        self.info = decode_metadata(props, self.path, file_sha256(self.path))
        self._check_signature()

    def _check_signature(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        expected_inputs = [(INPUT_NAME, "tensor(uint8)", 4)]
        if self.info.view_input:
            expected_inputs.append((VIEW_INPUT_NAME, "tensor(float)", 2))
        if [(i.name, i.type, len(i.shape)) for i in inputs] != expected_inputs:
            got = ", ".join(f"{i.name} {i.type} rank {len(i.shape)}" for i in inputs)
            want = " and ".join(f"{name} {kind} rank {rank}" for name, kind, rank in expected_inputs)
            raise ModelError(located(self.path, f"format_version {self.info.format_version} model inputs must be "
                                                f"{want}, got {got}"))
        names, expected = tuple(o.name for o in outputs), self.info.output_names
        if names != expected:
            raise ModelError(located(self.path, f"format_version {self.info.format_version} model outputs must be "
                                                f"{list(expected)}, got {list(names)}"))
        channels = inputs[0].shape[1]
        if isinstance(channels, int) and channels != self.info.in_channels:
            raise ModelError(located(self.path, f"model input has {channels} channels but its metadata says "
                                                f"{self.info.in_channels}"))
        columns = inputs[1].shape[1] if self.info.view_input else None
        if isinstance(columns, int) and columns != len(VIEW_COLUMNS):
            raise ModelError(located(self.path, f"model input '{VIEW_INPUT_NAME}' has {columns} columns, the "
                                                f"contract says {len(VIEW_COLUMNS)} ({', '.join(VIEW_COLUMNS)})"))

    def run(self, images: np.ndarray, view: np.ndarray | None = None) -> Outputs:
        """Run a batch ``uint8 [N, C, H, W]`` (H, W multiples of ``input_multiple``).

        ``view``: for a version-3 model (:attr:`ModelInfo.view_input`), the ``view`` rows (float32
        ``[N, 5]`` or one row ``[5]`` / ``[1, 5]`` for the whole batch; see the module doc); required
        there, and refused for older models, which have no such input.
        """
        images = np.ascontiguousarray(images)
        info = self.info
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != info.in_channels:
            raise ModelError(f"model input must be uint8 [N, {info.in_channels}, H, W], got {images.dtype} "
                             f"{list(images.shape)}")
        if images.shape[2] % info.input_multiple or images.shape[3] % info.input_multiple:
            raise ModelError(f"model input height and width must be multiples of {info.input_multiple}, "
                             f"got {images.shape[2]} x {images.shape[3]}")
        feeds = {INPUT_NAME: images}
        if info.view_input:
            feeds[VIEW_INPUT_NAME] = self._view_rows(view, len(images))
        elif view is not None:
            raise ModelError(located(self.path, f"format_version {info.format_version} model has no "
                                                f"'{VIEW_INPUT_NAME}' input; pass view=None"))
        try:
            raw = self.session.run(list(info.output_names), feeds)
        except Exception as exc:  # onnxruntime's own exception types
            raise ModelError(located(self.path, f"model failed on a {list(images.shape)} batch "
                                                f"({first_line(exc)})")) from None
        return Outputs(*raw)

    def _view_rows(self, view: np.ndarray | None, n: int) -> np.ndarray:
        """``view`` as the float32 ``[n, 5]`` the graph takes, one row broadcast to the batch."""
        if view is None:
            raise ModelError(located(self.path, f"format_version {self.info.format_version} model needs its "
                                                f"'{VIEW_INPUT_NAME}' input ({', '.join(VIEW_COLUMNS)})"))
        rows = np.asarray(view, dtype=np.float32)
        if rows.ndim == 1:
            rows = rows[None]
        if rows.ndim != 2 or rows.shape[1] != len(VIEW_COLUMNS) or rows.shape[0] not in (1, n):
            raise ModelError(f"model input '{VIEW_INPUT_NAME}' must be float32 [{n}, {len(VIEW_COLUMNS)}] or one "
                             f"row, got {list(np.shape(view))}")
        gsd = rows[:, 0]
        if not (np.isfinite(gsd).all() and (gsd > 0).all()):
            raise ModelError(f"model input '{VIEW_INPUT_NAME}' column gsd_m must be finite and > 0, got {gsd.tolist()}")
        return np.ascontiguousarray(np.broadcast_to(rows, (n, len(VIEW_COLUMNS))))
