"""A scene's sun and view angles: where ``detect`` and ``tanks`` find them, how they are checked, and
the image-frame azimuths a ``format_version`` 3 model takes (:data:`~.onnx_model.VIEW_COLUMNS`) and
the tank reader measures shadows along (:mod:`.tanks`).

Conventions (docs/view-angles.md has the tags of common products):

* degrees; ``sun_elevation_deg`` above the horizon, in (0, 90]; ``view_zenith_deg`` the sensor's
  zenith angle seen from the ground at the scene centre (0 at nadir), in [0, :data:`MAX_VIEW_ZENITH_DEG`);
* azimuths geographic here, clockwise from true north, in [0, 360); ``view_azimuth_deg`` points from
  the ground towards the sensor (as the synthetic GeoTIFF tags, Maxar's ``meanSatAz`` and Planet's
  ``satellite_azimuth``); it may be None for a nadir view (zenith 0), where it has no meaning;
* angles come as two pairs, sun (elevation, azimuth) and view (zenith, azimuth): half a pair is an
  error naming the tag that is there and the one missing; a pair absent is unknown.

Sources, first wins per pair (:func:`resolve_angles`): angles the caller gives (the commands' flags or
``--angles FILE``, the API's ``angles=``) > ``<stem>.angles.json`` beside a local raster > a STAC
item's view extension > the raster's GDAL metadata items :data:`GDAL_TAGS` > a Maxar ``<stem>.IMD``
beside a local raster. What the caller gives and the hand-written sidecar override deliberately; the
product's own metadata (STAC, tags, IMD) must agree with itself: the same angle from two of them more
than :data:`AGREEMENT_DEG` apart is refused, naming both tags.

STAC: ``view:incidence_angle`` (the zenith at the ground) is the zenith; an item with only
``view:off_nadir`` (the angle at the satellite, smaller: the Earth curves away beneath it) has it
converted through :func:`zenith_from_off_nadir` at :data:`NOMINAL_ORBIT_KM`. ``view:azimuth`` is
read as pointing from the scene towards the satellite: the extension's wording ("measured from the
sub-satellite point") reads the other way, but catalogues fill it from the satellite's azimuth as seen
from the scene (Planet ``satellite_azimuth``, Maxar ``meanSatAz``), which is also what the
extension's maintainers mean (stac-extensions/view issue 14).

Image frame (:func:`image_frame`): the model takes azimuths clockwise from the image's up direction
(-y). They come from the geographic ones through the raster's georeferencing at the scene centre: a
short geodesic step along the azimuth, projected back to pixels, so a rotated or flipped transform
and a projected CRS's grid convergence (grid north is not true north away from a UTM zone's central
meridian) are both taken into account. One direction per scene: across 20,000 px of a UTM scene the
convergence changes by well under a degree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..core.errors import ConfigError, RasterError, located
from ..core.georef import bearing_to_pixel_heading
from ..core.json_file import read_json
from .raster import VIEW_TAGS

ANGLE_NAMES = ("sun_elevation_deg", "sun_azimuth_deg", "view_zenith_deg", "view_azimuth_deg")
SUN_PAIR, VIEW_PAIR = ANGLE_NAMES[:2], ANGLE_NAMES[2:]
# The synthetic generator's GeoTIFF metadata items (infer/synth/physics.py View.gdal_tags).
GDAL_TAGS = dict(zip(ANGLE_NAMES, VIEW_TAGS, strict=True))
FLAGS = dict(zip(ANGLE_NAMES, ("--sun-elevation", "--sun-azimuth", "--view-zenith", "--view-azimuth"), strict=True))
STAC_KEYS = {"sun_elevation_deg": "view:sun_elevation", "sun_azimuth_deg": "view:sun_azimuth",
             "view_zenith_deg": "view:incidence_angle", "view_azimuth_deg": "view:azimuth"}
SIDECAR_SUFFIX = ".angles.json"
IMD_SUFFIXES = (".IMD", ".imd")
# Beyond this zenith a sensor sees more of a hull's side than of its deck and the GSD across the look
# direction has doubled; commercial tasking stops near 45 degrees off nadir (about 50 of zenith). A
# larger value is far likelier a satellite *elevation* given as the zenith (the usual mix-up) than a view.
MAX_VIEW_ZENITH_DEG = 60.0
# Two metadata sources of one product giving the same angle further apart than this disagree: more
# than rounding or than the off-nadir conversion's error (under 0.8 degrees, below).
AGREEMENT_DEG = 1.0
# Below this zenith a view's azimuth is ill-conditioned (products round it any way) and moves the
# seen hull side by under a tenth of its height: two sources' view azimuths are not compared there.
AZIMUTH_CHECK_MIN_ZENITH_DEG = 5.0
# Off-nadir to zenith conversion when only the angle at the satellite is known: a 600 km orbit is
# within 0.8 degrees of the right zenith for 450-700 km orbits (SkySat to Pleiades) up to 30 off nadir.
NOMINAL_ORBIT_KM = 600.0
EARTH_RADIUS_KM = 6371.0
# Maxar IMD items; meanOffNadirViewAngle serves when meanSatEl is missing.
IMD_ITEMS = ("meanSunEl", "meanSunAz", "meanSatEl", "meanSatAz", "meanOffNadirViewAngle")
PRODUCT_SOURCES = ("stac", "tags", "imd")
RANGE_TEXT = {"sun_elevation_deg": "(0, 90]", "sun_azimuth_deg": "[0, 360)",
              "view_zenith_deg": f"[0, {MAX_VIEW_ZENITH_DEG:g})", "view_azimuth_deg": "[0, 360)"}
OUT_OF_RANGE_HINT = {
    "sun_elevation_deg": " (a sun at or below the horizon casts no shadow to read)",
    "view_zenith_deg": " (this large, it is more likely a satellite elevation: the zenith is 90 minus that)",
    "sun_azimuth_deg": " (clockwise from north; add 360 to a negative one)",
    "view_azimuth_deg": " (clockwise from north; add 360 to a negative one)",
}


@dataclass(frozen=True)
class SceneAngles:
    """Sun and view angles of one scene (module doc for units and frames); None where unknown.

    ``source`` says where they came from (``flags``, ``angles argument``, ``sidecar NAME``,
    ``STAC view``, ``GeoTIFF tags``, ``IMD NAME``, or one per pair as ``X (sun), Y (view)``);
    ``tags`` names each angle's tag or flag there, for error messages.
    """

    sun_elevation_deg: float | None = None
    sun_azimuth_deg: float | None = None
    view_zenith_deg: float | None = None
    view_azimuth_deg: float | None = None
    source: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def has_sun(self) -> bool:
        return self.sun_elevation_deg is not None

    @property
    def has_view(self) -> bool:
        return self.view_zenith_deg is not None

    @property
    def complete(self) -> bool:
        return self.has_sun and self.has_view

    @property
    def empty(self) -> bool:
        return not (self.has_sun or self.has_view)

    def values(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in ANGLE_NAMES}


def checked_angles(values: dict, tags: dict[str, str], source: str, where) -> SceneAngles:
    """:class:`SceneAngles` from ``values`` (angle name -> number or None), each checked: a number in
    range, its pair partner present (a zenith of 0 needs no azimuth). ``tags`` names each angle as
    ``where`` (the file, or "command line" for flags) calls it; errors name it. Error type: ConfigError for
    flags and arguments, RasterError for files."""
    error = ConfigError if source in ("flags", "angles argument") else RasterError
    out = {}
    for name in ANGLE_NAMES:
        value = values.get(name)
        if value is None:
            out[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise error(located(where, f"{tags[name]} {value!r} is not a number of degrees"))
        value = float(value)
        if not _in_range(name, value):
            raise error(located(where, f"{tags[name]} {value:g} is outside {RANGE_TEXT[name]} degrees"
                                       f"{OUT_OF_RANGE_HINT.get(name, '')}"))
        out[name] = value
    for first, second in (SUN_PAIR, VIEW_PAIR):
        have, lack = (first, second) if out[second] is None else (second, first)
        if (out[first] is None) == (out[second] is None):
            continue
        if have == "view_zenith_deg" and out[have] == 0.0:
            continue  # nadir: no azimuth to give
        raise error(located(where, f"{tags[have]} is given without {tags[lack]}; give both or neither"))
    return SceneAngles(**out, source=source, tags=tuple(tags[name] for name in ANGLE_NAMES))


def _in_range(name: str, value: float) -> bool:
    if name == "sun_elevation_deg":
        return 0.0 < value <= 90.0
    if name == "view_zenith_deg":
        return 0.0 <= value < MAX_VIEW_ZENITH_DEG
    return 0.0 <= value < 360.0


def from_flags(sun_elevation=None, sun_azimuth=None, view_zenith=None, view_azimuth=None,
               source: str = "flags") -> SceneAngles | None:
    """The angles given on the command line (or to the API, ``source="angles argument"``), checked;
    None when none is given."""
    values = dict(zip(ANGLE_NAMES, (sun_elevation, sun_azimuth, view_zenith, view_azimuth), strict=True))
    if all(v is None for v in values.values()):
        return None
    tags = FLAGS if source == "flags" else {name: name for name in ANGLE_NAMES}
    return checked_angles(values, tags, source, "command line" if source == "flags" else source)


def read_sidecar(path) -> SceneAngles:
    """Angles from a sidecar: ``*.json`` with keys :data:`ANGLE_NAMES` (numbers or null; no others),
    or a Maxar ``.IMD``."""
    path = Path(path)
    if path.suffix in IMD_SUFFIXES:
        return read_imd(path)
    data = read_json(path, RasterError)
    if not isinstance(data, dict):
        raise RasterError(located(path, f"an angles sidecar is a JSON object with keys {', '.join(ANGLE_NAMES)}"))
    unknown = sorted(set(data) - set(ANGLE_NAMES))
    if unknown:
        raise RasterError(located(path, f"unknown key {unknown[0]!r} (an angles sidecar takes "
                                        f"{', '.join(ANGLE_NAMES)})"))
    return checked_angles(data, {name: name for name in ANGLE_NAMES}, f"sidecar {path.name}", path)


def read_imd(path) -> SceneAngles:
    """Angles from a Maxar ``.IMD`` (the first image group's ``meanSunEl``, ``meanSunAz``,
    ``meanSatEl``, ``meanSatAz``): zenith = 90 - ``meanSatEl`` (exact: the satellite's elevation seen
    from the ground), else from ``meanOffNadirViewAngle`` (:func:`zenith_from_off_nadir`);
    ``meanSatAz`` points from the ground to the satellite."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RasterError(located(path, f"cannot read the IMD file ({exc.strerror})")) from None
    items = {}
    for key, value in re.findall(r"^[ \t]*(\w+)[ \t]*=[ \t]*([^;\n]*);", text, flags=re.MULTILINE):
        if key in IMD_ITEMS and key not in items:
            try:
                items[key] = float(value)
            except ValueError:
                raise RasterError(located(path, f"{key} {value.strip()!r} is not a number")) from None
    zenith, zenith_tag = None, "meanSatEl"
    if "meanSatEl" in items:
        zenith = 90.0 - items["meanSatEl"]
    elif "meanOffNadirViewAngle" in items:
        zenith, zenith_tag = zenith_from_off_nadir(items["meanOffNadirViewAngle"]), "meanOffNadirViewAngle"
    values = dict(zip(ANGLE_NAMES, (items.get("meanSunEl"), items.get("meanSunAz"), zenith, items.get("meanSatAz")),
                      strict=True))
    tags = dict(zip(ANGLE_NAMES, ("meanSunEl", "meanSunAz", zenith_tag, "meanSatAz"), strict=True))
    if zenith_tag == "meanSatEl" and zenith is not None and not 0 <= zenith < MAX_VIEW_ZENITH_DEG:
        raise RasterError(located(path, f"meanSatEl {items['meanSatEl']:g} gives a view zenith of {zenith:g} degrees, "
                                        f"outside [0, {MAX_VIEW_ZENITH_DEG:g})"))
    return checked_angles(values, tags, f"IMD {path.name}", path)


def from_stac(view: dict | None, where) -> SceneAngles:
    """Angles from a STAC item's view extension (``view``: the item's ``view:`` values, keys without
    the prefix, as :mod:`.stac` reads them); module doc for the zenith and azimuth."""
    view = view or {}
    zenith, tags = view.get("incidence_angle"), dict(STAC_KEYS)
    if zenith is None and view.get("off_nadir") is not None:
        zenith, tags["view_zenith_deg"] = zenith_from_off_nadir(view["off_nadir"]), "view:off_nadir"
    values = dict(zip(ANGLE_NAMES, (view.get("sun_elevation"), view.get("sun_azimuth"), zenith, view.get("azimuth")),
                      strict=True))
    return checked_angles(values, tags, "STAC view", where)


def from_tags(tags: dict[str, str], where) -> SceneAngles:
    """Angles from a raster's GDAL metadata items :data:`GDAL_TAGS` (text, degrees)."""
    values = {}
    for name, tag in GDAL_TAGS.items():
        text = tags.get(tag)
        if text is None or not str(text).strip():
            continue
        try:
            values[name] = float(text)
        except ValueError:
            raise RasterError(located(where, f"{tag} {str(text).strip()!r} is not a number of degrees")) from None
    return checked_angles(values, GDAL_TAGS, "GeoTIFF tags", where)


def zenith_from_off_nadir(off_nadir_deg: float, orbit_km: float = NOMINAL_ORBIT_KM) -> float:
    """The zenith at the ground of a line of sight ``off_nadir_deg`` from nadir at the satellite,
    over a spherical Earth (law of sines: ``sin z = (R + h) / R * sin off_nadir``). Off-nadir angles
    past the horizon come back as NaN."""
    ratio = (EARTH_RADIUS_KM + orbit_km) / EARTH_RADIUS_KM * math.sin(math.radians(off_nadir_deg))
    return math.degrees(math.asin(ratio)) if abs(ratio) <= 1 else math.nan


def auto_sidecars(raster) -> list[Path]:
    """The sidecar files beside a local raster (``<stem>.angles.json``, ``<stem>.IMD``) that exist;
    none for a remote or virtual one."""
    text = str(raster)
    if text.startswith("/vsi") or "://" in text:
        return []
    path = Path(text)
    candidates = [path.with_name(path.stem + SIDECAR_SUFFIX), *(path.with_suffix(s) for s in IMD_SUFFIXES)]
    found = []
    for candidate in candidates:
        if candidate.is_file() and not any(candidate.samefile(f) for f in found):
            found.append(candidate)
    return found


def resolve_angles(raster, tags: dict[str, str], *, given: SceneAngles | None = None,
                   stac_view: dict | None = None, stac_where=None) -> SceneAngles:
    """A scene's angles from every source (module doc for the order and the agreement check).

    ``raster``: the raster as opened (errors name it and its sidecars); ``tags``: its GDAL metadata
    items; ``given``: the caller's (flags, ``--angles``, API); ``stac_view``: its STAC item's view
    angles, ``stac_where`` the item as given.
    """
    sidecars = auto_sidecars(raster)
    json_sidecars = [read_sidecar(p) for p in sidecars if p.name.endswith(SIDECAR_SUFFIX)]
    product = {"stac": from_stac(stac_view, stac_where) if stac_view else None,
               "tags": from_tags(tags, raster),
               "imd": next((read_imd(p) for p in sidecars if p.suffix in IMD_SUFFIXES), None)}
    _check_agreement([product[k] for k in PRODUCT_SOURCES if product[k] is not None], raster)
    ranked = [a for a in (given, *json_sidecars, *(product[k] for k in PRODUCT_SOURCES)) if a is not None]
    sun = next((a for a in ranked if a.has_sun), None)
    view = next((a for a in ranked if a.has_view), None)
    if sun is None or view is None or sun is view:
        return sun or view or SceneAngles()  # a source without one pair has None there already
    source = sun.source if sun.source == view.source else f"{sun.source} (sun), {view.source} (view)"
    return SceneAngles(**{n: getattr(sun, n) for n in SUN_PAIR}, **{n: getattr(view, n) for n in VIEW_PAIR},
                       source=source)


def _check_agreement(sources: list[SceneAngles], where) -> None:
    for i, first in enumerate(sources):
        for second in sources[i + 1:]:
            for index, name in enumerate(ANGLE_NAMES):
                a, b = getattr(first, name), getattr(second, name)
                if a is None or b is None:
                    continue
                if name == "view_azimuth_deg" and min(first.view_zenith_deg, second.view_zenith_deg) \
                        < AZIMUTH_CHECK_MIN_ZENITH_DEG:
                    continue
                gap = abs(a - b) if "azimuth" not in name else abs((a - b + 180.0) % 360.0 - 180.0)
                if gap > AGREEMENT_DEG:
                    raise RasterError(located(where, f"{first.tags[index]} {a:g} ({first.source}) and "
                                                     f"{second.tags[index]} {b:g} ({second.source}) disagree by "
                                                     f"{gap:.1f} degrees; give the angles with --angles or flags"))


def image_azimuth_deg(azimuth_deg: float, crs, transform, width: int, height: int) -> float:
    """A geographic azimuth (clockwise from true north) as the image frame's (clockwise from the
    image's up direction, -y), at the scene centre; unchanged without georeferencing (``crs`` None),
    where the image is taken as north up."""
    if crs is None:
        return float(azimuth_deg) % 360.0
    centre = (width / 2.0, height / 2.0)
    heading = bearing_to_pixel_heading(crs, transform, centre, float(azimuth_deg))  # from +x towards +y
    # Up (-y) is heading -90 degrees in the pixel frame, and both turn clockwise on screen.
    # Rounded so that north up gives exactly the geographic value, not 359.999999999.
    return round((math.degrees(heading) + 90.0) % 360.0, 9) % 360.0


@dataclass(frozen=True)
class ImageAngles:
    """The four angle columns of a model's view row (:data:`~.onnx_model.VIEW_COLUMNS` less
    ``gsd_m``): azimuths in the image frame; all NaN when the scene's angles are incomplete, which a
    version-3 graph takes as "run geometry-free". A nadir view's azimuth is fed as 0."""

    sun_elevation_deg: float = math.nan
    sun_azimuth_deg: float = math.nan
    view_zenith_deg: float = math.nan
    view_azimuth_deg: float = math.nan

    @property
    def known(self) -> bool:
        return not math.isnan(self.sun_elevation_deg)

    def row(self, gsd_m: float) -> np.ndarray:
        """float32 ``[5]``: the view row of a model input at ``gsd_m`` ground metres per pixel."""
        return np.array([gsd_m, *(getattr(self, f.name) for f in fields(self))], dtype=np.float32)


def image_direction(image_azimuth_deg: float) -> np.ndarray:
    """Unit vector ``[2]`` in pixels (x right, y down) along an image-frame azimuth (clockwise from up)."""
    a = math.radians(image_azimuth_deg)
    return np.array([math.sin(a), -math.cos(a)])


def image_frame(angles: SceneAngles, crs, transform, width: int, height: int) -> ImageAngles:
    """``angles`` as the model takes them (see :class:`ImageAngles`, :func:`image_azimuth_deg`)."""
    if not angles.complete:
        return ImageAngles()
    view_azimuth = angles.view_azimuth_deg
    return ImageAngles(angles.sun_elevation_deg, image_azimuth_deg(angles.sun_azimuth_deg, crs, transform, width, height),
                       angles.view_zenith_deg,
                       0.0 if view_azimuth is None else image_azimuth_deg(view_azimuth, crs, transform, width, height))


def header_member(angles: SceneAngles, image: ImageAngles) -> dict:
    """The detection file header's ``view`` member (documented in :mod:`.detection_file`)."""
    def rounded(value):
        return None if value is None or math.isnan(value) else round(float(value), 4)

    return {"source": angles.source, **{name: rounded(v) for name, v in angles.values().items()},
            "image_sun_azimuth_deg": rounded(image.sun_azimuth_deg),
            "image_view_azimuth_deg": rounded(image.view_azimuth_deg),
            "load_geometry": "angles" if image.known else "geometry-free"}


def missing_note(angles: SceneAngles) -> str:
    """What ``detect`` says of a scene a version-3 model runs without complete angles."""
    if angles.empty:
        what = "no sun or view angles (flags, --angles, <stem>.angles.json, STAC view:, GeoTIFF tags or .IMD)"
    elif angles.has_sun:
        what = f"no view angles (the sun's come from {angles.source})"
    else:
        what = f"no sun angles (the view's come from {angles.source})"
    return (f"{what}: the load stage ran geometry-free (wider freeboard intervals, more 'uncertain' calls); "
            f"see docs/view-angles.md")


def angles_argument(value) -> SceneAngles | None:
    """The API's ``angles=``: None (the scene's own), a :class:`SceneAngles`, a mapping with keys of
    :data:`ANGLE_NAMES` (degrees, geographic azimuths; pairs as for the flags), or the path of a
    sidecar (``.json`` or ``.IMD``)."""
    if value is None or isinstance(value, SceneAngles):
        return value
    if isinstance(value, (str, Path)):
        return read_sidecar(value)
    if not isinstance(value, dict):
        raise ConfigError(f"angles must be a mapping of {', '.join(ANGLE_NAMES)} or a sidecar path, "
                          f"got {type(value).__name__}")
    unknown = sorted(set(value) - set(ANGLE_NAMES))
    if unknown:
        raise ConfigError(f"angles: unknown key {unknown[0]!r} (takes {', '.join(ANGLE_NAMES)})")
    return from_flags(*(value.get(name) for name in ANGLE_NAMES), source="angles argument")
