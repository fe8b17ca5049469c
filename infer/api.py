"""The Python API: load a model once, detect vessels in scenes or arrays, keep the results in memory.

    from tankerwatch.infer import Detector

    detector = Detector("model.onnx")                      # device="auto": CUDA when really usable
    found = detector.detect("scene.tif")                   # any raster GDAL opens, a URL, a STAC item
    found = detector.detect(pixels, gsd=0.5)               # or an array: [C, H, W] or [H, W, C]
    found = detector.detect("scene.tif", angles="scene.IMD")  # sun and view angles (docs/view-angles.md)
    found.counts()                                         # {"vessels": 4, "tanker": 3, "empty": 1, ...}
    found.records[0]["load"], found.records[0]["geometry"] # every file property, a shapely polygon
    found.to_geojson()                                     # the detection file's FeatureCollection
    found.to_geodataframe()                                # needs geopandas (the `geo` extra)
    found.write("detections/")                             # <stem>.geojson, .csv, .quicklook.png
    detector.detect_many(["a.tif", "b.tif"], "detections/")  # files per scene; skips done ones

Conventions are the detection file's (:mod:`tankerwatch.infer.runtime.detection_file`): polygons in
lon/lat (EPSG:4326, longitude first) when the scene is georeferenced, else in the source raster's
pixels (x = column, y = row, origin at the top-left corner of the top-left pixel); ``box_px`` is
``[cx, cy, length, width, angle]`` in source pixels, angle in ``[-pi/2, pi/2)`` from +x towards +y.
``tankerwatch detect`` runs on this same class.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from shapely.geometry import shape

from .core.errors import ConfigError
from .core.timestamps import normalise_utc
from .runtime.batch import SceneOptions, SceneOutcome, run_scenes
from .runtime.detect import DEFAULT_MIN_SCORE, SceneAnalysis, analyse_scene
from .runtime.detection_file import BOX_COLUMNS, box_columns
from .runtime.onnx_model import ModelInfo, OnnxDetector
from .runtime.tiling import DEFAULT_MAX_GSD_M
from .runtime.view_angles import angles_argument

ARRAY_DTYPES = ("uint8", "uint16", "int16", "float32")


class Detections:
    """One scene's vessels, in memory. ``records``: one dict per vessel with every property of the
    detection file (``score``, ``type``, ``load``, ``p_loaded``, ``length_m``, ``heading_deg``,
    ``source``, ``acquired``, ``model_id``, ...), ``box_px`` also as the plain numbers
    :data:`BOX_COLUMNS`, and ``geometry``: a shapely Polygon in the file's coordinates
    (``coordinates``: ``"lonlat"`` or ``"pixel"``). ``header`` is the file's ``"tankerwatch"`` member;
    ``notes`` what ``detect`` would print (resampling, coarse pass, assumed GSD, missing angles)."""

    def __init__(self, analysis: SceneAnalysis):
        self._analysis = analysis
        self._collection = analysis.collection()
        self.header: dict = self._collection["tankerwatch"]
        self.notes: list[str] = list(analysis.notes)
        self.records: list[dict] = []
        for feature in self._collection["features"]:
            record = dict(feature["properties"])
            record.update(box_columns(record))
            record["geometry"] = shape(feature["geometry"])
            self.records.append(record)

    @property
    def coordinates(self) -> str:
        return self.header["coordinates"]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.records)

    def __repr__(self) -> str:
        return f"Detections({self.header['source']!r}, {len(self)} vessels, {self.coordinates})"

    def counts(self) -> dict[str, int]:
        """Vessels, by type, and tankers by load state."""
        tankers = [r for r in self.records if r["type"] == "tanker"]
        counts = {"vessels": len(self.records), "tanker": len(tankers),
                  "other": sum(r["type"] == "other" for r in self.records)}
        counts.update({state: sum(r["load"] == state for r in tankers) for state in ("empty", "loaded", "uncertain")})
        return counts

    def to_geojson(self) -> dict:
        """The FeatureCollection ``detect`` writes, as plain JSON types (a fresh copy each call)."""
        return json.loads(json.dumps(self._collection, allow_nan=False))

    def to_geodataframe(self):
        """A geopandas GeoDataFrame, one row per vessel: every record key as a column (``box_px`` as
        :data:`BOX_COLUMNS`), CRS EPSG:4326 when georeferenced, none for pixel coordinates."""
        try:
            import geopandas
        except ModuleNotFoundError:
            raise ConfigError("to_geodataframe needs geopandas: pip install 'tankerwatch[geo]'") from None
        rows = [{k: v for k, v in r.items() if k not in ("geometry", "box_px")} for r in self.records]
        geometry = [r["geometry"] for r in self.records]
        crs = "EPSG:4326" if self.coordinates == "lonlat" else None
        return geopandas.GeoDataFrame(rows, geometry=geometry, crs=crs)

    def write(self, out_dir) -> list[Path]:
        """Write ``<stem>.quicklook.png``, ``<stem>.geojson`` and ``<stem>.csv`` into ``out_dir``
        (atomically; the stem is the scene's, or the ``name`` given for an array)."""
        return self._analysis.write(out_dir)


class Detector:
    """An exported model, loaded once, run on as many scenes as you like.

    ``device``: ``auto`` (CUDA when onnxruntime-gpu and a GPU are present and really used), ``cpu``
    or ``cuda``. ``threads``: CPU threads (None: all cores). ``tile``: model pixels per tile (None:
    1024, or more when the longest vessel needs it). ``min_score``: the operating point; vessels
    scoring below it are left out (0 keeps everything the model returns). ``max_gsd``: metres; a
    scene coarser than this runs enlarged to it when the model was trained at that GSD (None: only
    into the model's range; see :func:`~tankerwatch.infer.runtime.tiling.working_gsd_range`).
    ``tta``: test-time flips, each vessel scored by the mean over the tile and its three mirror
    images (:mod:`~tankerwatch.infer.runtime.flips`; four model calls a tile).
    """

    def __init__(self, model, device: str = "auto", threads: int | None = None, batch_size: int = 2,
                 tile: int | None = None, min_score: float = DEFAULT_MIN_SCORE,
                 max_gsd: float | None = DEFAULT_MAX_GSD_M, tta: bool = False):
        if not 0.0 <= min_score <= 1.0:
            raise ConfigError(f"min_score must be between 0 and 1, got {min_score:g}")
        if max_gsd is not None and not max_gsd > 0:
            raise ConfigError(f"max_gsd must be positive, got {max_gsd:g}")
        self._model = OnnxDetector(model, device=device, threads=threads)
        self.batch_size, self.tile, self.min_score, self.threads = batch_size, tile, min_score, threads
        self.max_gsd, self.tta = max_gsd, tta

    @property
    def info(self) -> ModelInfo:
        """The model's validated metadata (GSD range, scaling, classes, id)."""
        return self._model.info

    @property
    def device(self) -> str:
        return self._model.device

    @property
    def path(self) -> Path:
        return self._model.path

    def detect(self, source, *, gsd: float | None = None, transform=None, crs=None, acquired: str | None = None,
               name: str = "array", progress: bool | None = False, angles=None) -> Detections:
        """Detect vessels in ``source``: a path GDAL opens, a URL (``https://``, ``s3://``, read by
        range requests), a STAC item (file or URL: its visual asset, datetime and view angles; see
        :mod:`~tankerwatch.infer.runtime.sources`), or a numpy array of pixels.

        For a path or URL, ``gsd`` (ground metres per pixel) overrides what its georeferencing says. For an
        array (``[C, H, W]`` as rasterio reads, or ``[H, W, C]`` with at most 4 channels, or ``[H, W]``;
        raw values the model's scaling maps, as a file would hold them): ``transform`` (an
        ``affine.Affine``, pixel to map) and ``crs`` georeference it, ``gsd`` sizes it when they are
        absent, ``acquired`` (ISO 8601, UTC if no zone) dates it and ``name`` becomes its source name
        and output stem. ``progress``: a tile bar on stderr (None: only on a terminal).

        ``angles``: the scene's sun and view angles for a model that takes them (``info.view_input``),
        ahead of what the scene's metadata says (:mod:`~tankerwatch.infer.runtime.view_angles`): a
        mapping of ``sun_elevation_deg``, ``sun_azimuth_deg``, ``view_zenith_deg``, ``view_azimuth_deg``
        (degrees; azimuths clockwise from true north, the view's from the ground towards the sensor),
        or the path of a sidecar (``.angles.json`` or Maxar ``.IMD``). None: from the scene (its
        sidecars, STAC item, GeoTIFF tags); without any, the model runs geometry-free (``notes`` says so).
        """
        given = angles_argument(angles)
        if isinstance(source, np.ndarray):
            return self._detect_array(source, gsd, transform, crs, acquired, name, progress, given)
        if transform is not None or crs is not None or acquired is not None:
            raise ConfigError(f"{source}: transform, crs and acquired are for arrays; a file carries its own")
        return Detections(analyse_scene(self._model, source, tile=self.tile, batch_size=self.batch_size,
                                        gsd_m=gsd, min_score=self.min_score, progress=progress, angles=given,
                                        max_gsd_m=self.max_gsd, tta=self.tta))

    def detect_many(self, sources, out_dir, *, gsd: float | None = None, overwrite: bool = False,
                    cluster: str = "auto", workers: int | None = None, progress: bool | None = False,
                    on_scene=None, angles=None) -> list[SceneOutcome]:
        """Detect vessels in many scenes and write each one's files into ``out_dir`` as it finishes.

        ``sources``: paths, GDAL paths, URLs or STAC items (text is kept as given). A scene whose
        three files exist is skipped unless ``overwrite``; a scene that fails is recorded and the
        rest go on. Returns one :class:`SceneOutcome` per distinct source, in order (``status``
        ``done``, ``already done`` or ``failed``; ``result.summary()``; ``reason``);
        ``on_scene(outcome)`` is called with each, in that order, as soon as it and those before it
        are known. ``cluster``: ``"none"`` (this process), ``"local"`` (``workers`` processes on
        this machine, one session each, for this call; for one scene, a thread of this process), a
        Dask scheduler address, or ``"auto"``: local for more than one scene on more than one core,
        on CPU, when the ``cluster`` extra is installed. The files are the same bytes wherever the scenes ran. ``progress``: a scenes bar
        on stderr (None: only on a terminal). ``angles``: as for :meth:`detect`, for every scene (one
        acquisition delivered as several tiles); None reads each scene's own.
        """
        options = SceneOptions(self.tile, self.batch_size, gsd, self.min_score, angles_argument(angles), self.max_gsd,
                               self.tta)
        return run_scenes(self._model, [str(s) for s in sources], Path(out_dir), options,
                          overwrite=overwrite, cluster=cluster, workers=workers, threads=self.threads,
                          progress=progress, on_scene=on_scene)

    def _detect_array(self, pixels: np.ndarray, gsd, transform, crs, acquired, name, progress, angles) -> Detections:
        from rasterio.io import MemoryFile

        bands = _channels_first(pixels)
        if (transform is None) != (crs is None):
            raise ConfigError(f"{name}: give both transform and crs to georeference an array, or neither")
        profile = dict(driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
                       dtype=bands.dtype)
        if transform is not None:
            profile.update(transform=transform, crs=crs)
        tags = {} if acquired is None else {"ACQUISITION_DATETIME": _acquired(acquired, name)}
        stem = Path(name).stem or "array"
        # GDAL's in-memory file system: the array goes through the same reader, tiling and merge as a
        # scene on disk, so a result does not depend on where the pixels came from.
        with MemoryFile(filename=f"{stem}.tif") as memory:
            with memory.open(**profile) as dataset:
                dataset.write(bands)
                if tags:
                    dataset.update_tags(**tags)
            analysis = analyse_scene(self._model, memory.name, tile=self.tile, batch_size=self.batch_size,
                                     gsd_m=gsd, min_score=self.min_score, progress=progress, angles=angles,
                                     max_gsd_m=self.max_gsd, tta=self.tta)
        return Detections(analysis)


def _channels_first(pixels: np.ndarray) -> np.ndarray:
    """``[C, H, W]`` from an array in either layout (an ``[H, W]`` image is one band)."""
    if pixels.ndim == 2:
        pixels = pixels[None]
    if pixels.ndim != 3:
        raise ConfigError(f"an image array must be [C, H, W], [H, W, C] or [H, W]; got shape {pixels.shape}")
    if pixels.dtype.name not in ARRAY_DTYPES:
        raise ConfigError(f"array pixels must be one of {', '.join(ARRAY_DTYPES)}; got {pixels.dtype}")
    first_small, last_small = pixels.shape[0] <= 4, pixels.shape[2] <= 4
    if last_small and not first_small:
        pixels = np.moveaxis(pixels, 2, 0)
    elif first_small == last_small:
        raise ConfigError(f"cannot tell the band axis of an array of shape {pixels.shape}: pass [C, H, W]")
    return np.ascontiguousarray(pixels)


def _acquired(text: str, name: str) -> str:
    try:
        return normalise_utc(text)
    except ValueError:
        raise ConfigError(f"{name}: acquired must be an ISO 8601 date-time, got {text!r}") from None


__all__ = ["BOX_COLUMNS", "Detections", "Detector", "SceneOutcome"]
