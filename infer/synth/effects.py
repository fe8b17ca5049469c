"""What the atmosphere and the sensor do to the picture: haze, clouds and their shadows, blur,
noise, and (for 8-bit tiles) JPEG artefacts.

* Haze: a veil of bluish grey, 0-18 % opacity, slowly varying (features about 3 km).
* Clouds: fractal noise over about 2 km features cut at a threshold set by the cloud cover; each
  cloud casts its shadow ``cloud_height * cot(sun_elevation)`` away from the sun (cloud height
  800-3000 m), so a shadow can lie over a hull whose cloud is out of frame. A tile may also get a
  thin cloud whose shadow falls right on a tanker (``shadow_spots``).
* Blur: scenes and series use a Gaussian point-spread function, sigma 0.3-1.0 px (the optics and
  any resampling). Tiles draw a randomised :class:`Optics` per tile instead (:func:`sample_optics`),
  so that a model does not learn one sensor's edge profile:

  - a point-spread function from a family, integrated over each pixel's square footprint: Gaussian
    (sigma 0.3-1.2 px), the Airy pattern of a circular aperture (first dark ring at 1.0-2.6 px, so
    its rings ripple beside hard edges) or a motion smear 0.8-2.5 px long at any angle (pointing
    jitter) over a 0.35 px Gaussian;
  - in three tiles of five, pan-sharpening: the bands recorded at a quarter of the panchromatic
    resolution (blurred by ``PAN_COLOUR_BLUR_PER_RATIO * 4`` px), red (with NIR) and blue
    misregistered against green by 0.2-1.2 px, merged with the sharp luminance by component
    substitution (each band plus luminance minus the bands' mean): sharp edges with colour fringes;
  - in half of tiles, unsharp-mask sharpening (amount 0.3-1.5, sigma 0.7-2 px) as commercial
    products apply, with its light and dark halos.
* Noise: Gaussian read noise plus signal-dependent shot noise, about 0.3-1.5 % of full scale. With
  :class:`Optics` it is added before pan-sharpening and sharpening (detector noise, then ground
  processing), so sharpening amplifies it and the colour noise is smoothed, as in products.
* JPEG: re-encoding at quality 45-95 for a share of uint8 tiles (imagery often arrives that way).

The cloud and haze fields are :func:`synth_canvas.value_noise` on the whole image's lattice, so a
scene drawn window by window gets seamless clouds; only the pixel noise differs per window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .canvas import Canvas, ellipse_points, fractal_noise
from .physics import View

HAZE_COLOUR = (0.62, 0.66, 0.72, 0.55)
CLOUD_COLOUR = (0.93, 0.94, 0.95, 0.90)
CLOUD_SHADOW_FACTOR = 0.55
# Clouds stay thin enough to see through: every labelled vessel must remain visible.
MAX_CLOUD_OPACITY = 0.6


PSF_KINDS = ("gaussian", "airy", "motion")
PSF_WEIGHTS = (0.45, 0.35, 0.2)
PSF_SIZE_PX = {"gaussian": (0.3, 1.2), "airy": (1.0, 2.6), "motion": (0.8, 2.5)}
MOTION_CORE_SIGMA_PX = 0.35
PSF_SUPERSAMPLE = 5  # kernel values averaged over 5 x 5 points per pixel: the detector's footprint
AIRY_FIRST_ZERO = 3.8317  # first zero of the Bessel function J1
PAN_SHARPENED_SHARE = 0.6
PAN_RATIO = 4.0  # multispectral GSD over panchromatic GSD (WorldView, Pleiades, SkySat: about 4)
PAN_COLOUR_BLUR_PER_RATIO = 0.35  # Gaussian sigma (px) of the colour detail lost, per unit of ratio
FRINGE_PX = (0.2, 1.2)
SHARPENED_SHARE = 0.5
SHARPEN_AMOUNT = (0.3, 1.5)
SHARPEN_SIGMA_PX = (0.7, 2.0)


@dataclass(frozen=True)
class Optics:
    """One tile's sensor optics and ground processing (module doc). ``psf_size_px``: the Gaussian's
    sigma, the Airy pattern's first dark ring radius, or the motion smear's length; ``psf_angle_deg``
    the smear's direction in the pixel frame (from +x towards +y). ``pan_ratio`` 1 means no
    pan-sharpening; ``fringe_px`` is the (dx, dy) shift in pixels of red (and NIR), then of blue,
    against green. ``sharpen`` is the unsharp mask's amount (0: none)."""

    psf: str
    psf_size_px: float
    psf_angle_deg: float
    pan_ratio: float
    fringe_px: tuple[float, float, float, float]
    sharpen: float
    sharpen_sigma_px: float

    def to_dict(self) -> dict:
        return {"psf": self.psf, "psf_size_px": round(self.psf_size_px, 3),
                "psf_angle_deg": round(self.psf_angle_deg, 1), "pan_ratio": self.pan_ratio,
                "fringe_px": [round(f, 3) for f in self.fringe_px], "sharpen": round(self.sharpen, 3),
                "sharpen_sigma_px": round(self.sharpen_sigma_px, 3)}


def sample_optics(rng: np.random.Generator) -> Optics:
    """Random optics for one tile (ranges in the module doc); every draw is made whatever the
    outcome, so the stream does not depend on earlier choices."""
    kind = PSF_KINDS[int(rng.choice(len(PSF_KINDS), p=PSF_WEIGHTS))]
    size = float(rng.uniform(*PSF_SIZE_PX[kind]))
    angle = float(rng.uniform(0.0, 180.0))
    pan = rng.random() < PAN_SHARPENED_SHARE
    lengths = rng.uniform(*FRINGE_PX, size=2)
    directions = rng.uniform(0.0, 2 * math.pi, size=2)
    fringe = np.stack([lengths * np.cos(directions), lengths * np.sin(directions)], axis=1).ravel()
    sharpen = rng.random() < SHARPENED_SHARE
    amount = float(rng.uniform(*SHARPEN_AMOUNT))
    sigma = float(rng.uniform(*SHARPEN_SIGMA_PX))
    return Optics(kind, size, angle, PAN_RATIO if pan else 1.0,
                  tuple(float(f) for f in fringe) if pan else (0.0, 0.0, 0.0, 0.0),
                  amount if sharpen else 0.0, sigma if sharpen else 0.0)


def _bessel_j1(x: np.ndarray) -> np.ndarray:
    """J1(x) from Bessel's integral (1/pi) * integral_0^pi cos(t - x sin t) dt (numpy only)."""
    t = (np.arange(64) + 0.5) * (math.pi / 64)
    return np.cos(t - x[..., None] * np.sin(t)).mean(axis=-1)


def psf_kernel(optics: Optics) -> np.ndarray:
    """The point-spread function as a float32 kernel ``[k, k]`` (odd k) summing to 1, each value the
    PSF integrated over one pixel's footprint."""
    size = optics.psf_size_px
    reach = {"gaussian": 3.5 * size, "airy": 2.3 * size,  # through the second dark ring (2.23 radii)
             "motion": size / 2 + 3.5 * MOTION_CORE_SIGMA_PX}[optics.psf]
    half = int(math.ceil(reach))
    n = 2 * half + 1
    ss = PSF_SUPERSAMPLE
    fine = (np.arange(n * ss) + 0.5) / ss - n / 2
    x, y = np.meshgrid(fine, fine)
    if optics.psf == "gaussian":
        values = np.exp(-(x**2 + y**2) / (2 * size**2))
    elif optics.psf == "airy":
        r = np.hypot(x, y) * (AIRY_FIRST_ZERO / size)
        safe = np.maximum(r, 1e-9)
        values = np.where(r < 1e-6, 1.0, (2 * _bessel_j1(safe) / safe) ** 2)
    else:
        a = math.radians(optics.psf_angle_deg)
        along = np.clip(x * math.cos(a) + y * math.sin(a), -size / 2, size / 2)
        dx, dy = x - along * math.cos(a), y - along * math.sin(a)
        values = np.exp(-(dx**2 + dy**2) / (2 * MOTION_CORE_SIGMA_PX**2))
    kernel = values.reshape(n, ss, n, ss).sum(axis=(1, 3))
    return (kernel / kernel.sum()).astype(np.float32)


def _pan_sharpen(px: np.ndarray, optics: Optics) -> None:
    """Component-substitution pan-sharpening of blurred, misregistered bands (module doc), in place:
    each band becomes its low-resolution, shifted self plus the sharp luminance minus the mean of
    the low-resolution RGB bands, so the RGB mean stays the sharp luminance."""
    lum = px[..., :3].mean(axis=2)
    bands = cv2.GaussianBlur(px, (0, 0), PAN_COLOUR_BLUR_PER_RATIO * optics.pan_ratio,
                             borderType=cv2.BORDER_REFLECT).reshape(px.shape)
    h, w = px.shape[:2]
    red, blue = optics.fringe_px[:2], optics.fringe_px[2:]
    for band in range(px.shape[2]):
        if band == 1:
            continue  # green is the reference
        dx, dy = blue if band == 2 else red
        shift = np.float32([[1, 0, dx], [0, 1, dy]])
        bands[..., band] = cv2.warpAffine(np.ascontiguousarray(bands[..., band]), shift, (w, h),
                                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    px[:] = bands + (lum - bands[..., :3].mean(axis=2))[..., None]


def _sharpen(px: np.ndarray, optics: Optics) -> None:
    blurred = cv2.GaussianBlur(px, (0, 0), optics.sharpen_sigma_px, borderType=cv2.BORDER_REFLECT).reshape(px.shape)
    px += np.float32(optics.sharpen) * (px - blurred)


@dataclass
class Atmosphere:
    """Haze, clouds, the sensor's blur and noise, JPEG. With ``optics`` set (tiles), its
    point-spread function replaces the plain Gaussian of ``blur_sigma_px``."""

    seed: int
    haze: float
    cloud_cover: float
    cloud_height_m: float
    blur_sigma_px: float
    noise_sigma: float
    jpeg_quality: int | None
    shadow_spots: list = field(default_factory=list)  # (centre px [2], radius px)
    optics: Optics | None = None

    def to_dict(self) -> dict:
        record = {"haze": round(self.haze, 3), "cloud_cover": round(self.cloud_cover, 3),
                  "cloud_height_m": round(self.cloud_height_m, 1), "blur_sigma_px": round(self.blur_sigma_px, 3),
                  "noise_sigma": round(self.noise_sigma, 4), "jpeg_quality": self.jpeg_quality,
                  "cloud_shadow_spots": len(self.shadow_spots)}
        if self.optics is not None:
            del record["blur_sigma_px"]
            record["optics"] = self.optics.to_dict()
        return record


def sample_atmosphere(rng: np.random.Generator, jpeg: bool, cloudy_share: float = 0.3) -> Atmosphere:
    return Atmosphere(
        seed=int(rng.integers(2**31)),
        haze=float(rng.uniform(0.0, 0.18) if rng.random() < 0.6 else 0.0),
        cloud_cover=float(rng.uniform(0.05, 0.45) if rng.random() < cloudy_share else 0.0),
        cloud_height_m=float(rng.uniform(800, 3000)),
        blur_sigma_px=float(rng.uniform(0.3, 1.0)),
        noise_sigma=float(rng.uniform(0.003, 0.015)),
        jpeg_quality=int(rng.integers(45, 96)) if jpeg and rng.random() < 0.4 else None,
    )


def apply_atmosphere(canvas: Canvas, atmosphere: Atmosphere, view: View, rng: np.random.Generator) -> None:
    """Haze, cloud shadows and clouds, blur (or ``atmosphere.optics``), noise, then any
    pan-sharpening and sharpening, in place. Blur reaches about 3 sigma across the window edge:
    scenes render windows with a margin and crop it."""
    h, w = canvas.height, canvas.width
    gsd = view.gsd_m
    px = canvas.pixels
    if atmosphere.cloud_cover > 0 or atmosphere.shadow_spots:
        cloud = _cloud_field(atmosphere, canvas.origin, h, w, gsd)
        shift = view.shadow_shift_px(atmosphere.cloud_height_m)
        shadow = _cloud_field(atmosphere, canvas.origin - shift, h, w, gsd)
        for centre, radius in atmosphere.shadow_spots:
            spot = Canvas(h, w, 1, origin=canvas.origin)
            spot.fill([ellipse_points(centre, radius, radius * 0.7, 0.6)], (1.0,), alpha=0.8)
            spot.pixels[..., 0] = cv2.GaussianBlur(spot.pixels[..., 0], (0, 0), max(radius * 0.3, 1.0))
            shadow = np.maximum(shadow, spot.pixels[..., 0])
        px *= (1 - shadow * (1 - CLOUD_SHADOW_FACTOR))[..., None]
        canvas.blend_field(CLOUD_COLOUR, cloud)
    if atmosphere.haze > 0:
        veil = atmosphere.haze * (0.6 + 0.8 * fractal_noise(atmosphere.seed + 7, canvas.origin, h, w,
                                                           3000 / gsd, octaves=2))
        canvas.blend_field(HAZE_COLOUR, np.clip(veil, 0, 1))
    optics = atmosphere.optics
    if optics is not None:
        px[:] = cv2.filter2D(px, -1, psf_kernel(optics), borderType=cv2.BORDER_REFLECT).reshape(px.shape)
    elif atmosphere.blur_sigma_px > 0:
        px[:] = cv2.GaussianBlur(px, (0, 0), atmosphere.blur_sigma_px, borderType=cv2.BORDER_REFLECT).reshape(px.shape)
    if atmosphere.noise_sigma > 0:
        # Read noise plus shot noise growing with brightness (linear stand-in for the square root).
        noise = rng.standard_normal(px.shape, dtype=np.float32)
        noise *= np.float32(atmosphere.noise_sigma) * (np.float32(0.55) + np.float32(0.9) * px)
        px += noise
    if optics is not None and optics.pan_ratio > 1:
        _pan_sharpen(px, optics)
    if optics is not None and optics.sharpen > 0:
        _sharpen(px, optics)
    np.clip(px, 0.0, 1.0, out=px)


def _cloud_field(atmosphere: Atmosphere, origin, h: int, w: int, gsd: float) -> np.ndarray:
    if atmosphere.cloud_cover <= 0:
        return np.zeros((h, w), dtype=np.float32)
    n = fractal_noise(atmosphere.seed + 11, origin, h, w, 2000 / gsd, octaves=5)
    # Fractal noise is roughly normal about 0.5: pick the cut so about `cover` of the sky is cloud.
    cut = 0.5 + 0.16 * (0.5 - atmosphere.cloud_cover) * 2.5
    return np.clip((n - cut) * 6.0, 0.0, 1.0) * MAX_CLOUD_OPACITY


def jpeg_roundtrip(image_hwc_uint8: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode an 8-bit RGB image as JPEG at ``quality`` (the artefacts are the point)."""
    ok, data = cv2.imencode(".jpg", image_hwc_uint8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]


def brightness_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Display brightness [0, 1] to 8-bit."""
    return np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)


# uint16 output is reflectance x 10,000 (like Sentinel-2 L2A before its offset); brightness 1.0
# stands for a reflectance of 0.4.
UINT16_PER_BRIGHTNESS = 4000.0


def brightness_to_uint16(pixels: np.ndarray) -> np.ndarray:
    """Display brightness [0, 1] to reflectance x 10,000 (see ``UINT16_PER_BRIGHTNESS``)."""
    return np.round(np.clip(pixels, 0, 1) * UINT16_PER_BRIGHTNESS).astype(np.uint16)
