"""What the atmosphere and the sensor do to the picture: haze, clouds and their shadows, blur,
noise, and (for 8-bit tiles) JPEG artefacts.

* Haze: a veil of bluish grey, 0-18 % opacity, slowly varying (features about 3 km).
* Clouds: fractal noise over about 2 km features cut at a threshold set by the cloud cover; each
  cloud casts its shadow ``cloud_height * cot(sun_elevation)`` away from the sun (cloud height
  800-3000 m), so a shadow can lie over a hull whose cloud is out of frame. A tile may also get a
  thin cloud whose shadow falls right on a tanker (``shadow_spots``).
* Blur: a Gaussian point-spread function, sigma 0.3-1.0 px (the optics and any resampling).
* Noise: Gaussian read noise plus signal-dependent shot noise, about 0.3-1.5 % of full scale.
* JPEG: re-encoding at quality 45-95 for a share of uint8 tiles (imagery often arrives that way).

The cloud and haze fields are :func:`synth_canvas.value_noise` on the whole image's lattice, so a
scene drawn window by window gets seamless clouds; only the pixel noise differs per window.
"""

from __future__ import annotations

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


@dataclass
class Atmosphere:
    seed: int
    haze: float
    cloud_cover: float
    cloud_height_m: float
    blur_sigma_px: float
    noise_sigma: float
    jpeg_quality: int | None
    shadow_spots: list = field(default_factory=list)  # (centre px [2], radius px)

    def to_dict(self) -> dict:
        return {"haze": round(self.haze, 3), "cloud_cover": round(self.cloud_cover, 3),
                "cloud_height_m": round(self.cloud_height_m, 1), "blur_sigma_px": round(self.blur_sigma_px, 3),
                "noise_sigma": round(self.noise_sigma, 4), "jpeg_quality": self.jpeg_quality,
                "cloud_shadow_spots": len(self.shadow_spots)}


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
    """Haze, cloud shadows and clouds, blur and noise, in place. Blur reaches about 3 sigma
    across the window edge: scenes render windows with a margin and crop it."""
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
    if atmosphere.blur_sigma_px > 0:
        px[:] = cv2.GaussianBlur(px, (0, 0), atmosphere.blur_sigma_px, borderType=cv2.BORDER_REFLECT).reshape(px.shape)
    if atmosphere.noise_sigma > 0:
        # Read noise plus shot noise growing with brightness (linear stand-in for the square root).
        noise = rng.standard_normal(px.shape, dtype=np.float32)
        noise *= np.float32(atmosphere.noise_sigma) * (np.float32(0.55) + np.float32(0.9) * px)
        px += noise
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
