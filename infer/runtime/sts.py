"""Ship-to-ship (STS) candidates: two hulls rafted side by side, judged by geometry alone.

Hulls are oriented rectangles in a local metric frame (metres; orientation and handedness do not
matter: a raster's pixel frame times its GSD, or lon/lat projected about the scene). Two vessels
are *rafted* when all of these hold, each for a physical reason:

* **parallel**: their long axes differ by at most :data:`PARALLEL_DEG`. Rafted ships are held by
  lines fore and aft and lie within a few degrees of each other; the rest is box-angle error;
* **side by side, fendered**: the gap between the two boxes is at most :data:`MAX_GAP_M` plus
  :data:`GAP_ERROR_PX` pixels of the scene's GSD. Pneumatic fenders (2.5-4.5 m across) hold rafted
  hulls 2-5 m apart, and a box may be a pixel off on each side. Boxes may also overlap: off-nadir a
  box holds the hull side (freeboard x tan(view zenith), up to several metres), which can reach over
  the fender gap into the partner's box, so a penetration of up to :data:`MAX_PENETRATION_SHARE` of
  the narrower box is allowed (measured as the overlap's area over its length along the hulls). A
  duplicate box of one hull penetrates by its whole width and fails;
* **abreast**: projected on the pair's mean axis, the hulls overlap by at least
  :data:`MIN_ALONG_SHARE` of the shorter one. Transfers bring the manifolds, amidships, abreast;
  ships end to end along a quay overlap by nothing;
* **big enough**: both hulls at least :data:`MIN_LENGTH_M` long. Tugs and launches come alongside
  for other reasons and carry no cargo worth counting;
* **a tanker**: at least one of the two is of type ``tanker``.

A raft of three or more shares one ``sts_pair`` id; ids are 1, 2, ... in the order of each raft's
first vessel in the list, so they are stable for a given file. A single scene cannot tell a
double-banked ship at a quay from a transfer at anchor: ``detect`` flags every rafted pair
(:func:`flag_sts_pairs`), and ``report`` leaves out those at berths
(:mod:`tankerwatch.infer.report.sts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import shapely

from ..core.boxes import box_corners
from ..core.components import component_labels
from .detection_file import Detection

PARALLEL_DEG = 10.0
MAX_GAP_M = 6.0
GAP_ERROR_PX = 2.0
MAX_PENETRATION_SHARE = 0.5
MIN_ALONG_SHARE = 0.5
MIN_LENGTH_M = 40.0
STS_PAIR_KEY = "sts_pair"


@dataclass(frozen=True)
class Hull:
    """One vessel's box in a local metric frame: its four corners ``[4, 2]`` (metres, in order
    round the box) and whether it is a tanker."""

    corners: np.ndarray
    tanker: bool

    @property
    def polygon(self):
        return shapely.Polygon(self.corners)

    @property
    def centre(self) -> np.ndarray:
        return np.asarray(self.corners, dtype=np.float64).mean(axis=0)

    def sides(self) -> tuple[np.ndarray, float, float]:
        """Unit vector along the long axis, length and width (metres)."""
        c = np.asarray(self.corners, dtype=np.float64)
        first, second = c[1] - c[0], c[2] - c[1]
        a, b = np.linalg.norm(first), np.linalg.norm(second)
        if a >= b:
            return first / max(a, 1e-12), float(a), float(b)
        return second / max(b, 1e-12), float(b), float(a)


@dataclass(frozen=True)
class Raft:
    """Two rafted vessels (indices into the hull list, ``first < second``), how far apart their
    boxes are (``gap_m``, negative where they overlap), their axis difference (degrees) and their
    overlap along the hulls as a share of the shorter one."""

    first: int
    second: int
    gap_m: float
    axis_deg: float
    along_share: float


def _measure(a: Hull, b: Hull) -> tuple[float, float, float, float]:
    """(axis difference in degrees, signed gap in metres, along-hull overlap share, narrower width)."""
    ua, la, wa = a.sides()
    ub, lb, wb = b.sides()
    cosine = abs(float(ua @ ub))
    axis_deg = math.degrees(math.acos(min(cosine, 1.0)))
    axis = ua + (ub if ua @ ub >= 0 else -ub)
    axis /= np.linalg.norm(axis)
    offset = float((b.centre - a.centre) @ axis)
    overlap = min(la / 2, offset + lb / 2) - max(-la / 2, offset - lb / 2)
    share = max(overlap, 0.0) / min(la, lb)
    pa, pb = a.polygon, b.polygon
    if pa.intersects(pb):
        gap = -shapely.intersection(pa, pb).area / max(overlap, 1e-9)
    else:
        gap = float(shapely.distance(pa, pb))
    return axis_deg, gap, share, min(wa, wb)


def rafted(a: Hull, b: Hull, gsd_m: float) -> Raft | None:
    """The raft ``a`` and ``b`` form (indices 0 and 1), or None (rules in the module doc)."""
    if not (a.tanker or b.tanker) or min(a.sides()[1], b.sides()[1]) < MIN_LENGTH_M:
        return None
    axis_deg, gap, share, narrower = _measure(a, b)
    if (axis_deg > PARALLEL_DEG or share < MIN_ALONG_SHARE or gap > max_gap_m(gsd_m)
            or gap < -MAX_PENETRATION_SHARE * narrower):
        return None
    return Raft(0, 1, gap, axis_deg, share)


def max_gap_m(gsd_m: float) -> float:
    """The widest gap between two rafted boxes at this GSD (metres)."""
    return MAX_GAP_M + GAP_ERROR_PX * gsd_m


def find_rafts(hulls: list[Hull], gsd_m: float) -> list[Raft]:
    """Every rafted pair among ``hulls`` (``first < second``, sorted), found among boxes within the
    widest gap of each other."""
    if len(hulls) < 2:
        return []
    polygons = [h.polygon for h in hulls]
    tree = shapely.STRtree(polygons)
    near = tree.query(polygons, predicate="dwithin", distance=max_gap_m(gsd_m))
    rafts = []
    for i, j in sorted({(int(min(p)), int(max(p))) for p in near.T if p[0] != p[1]}):
        raft = rafted(hulls[i], hulls[j], gsd_m)
        if raft is not None:
            rafts.append(replace(raft, first=i, second=j))
    return rafts


def raft_ids(count: int, rafts: list[Raft]) -> list[int | None]:
    """Per vessel, the id of the raft it belongs to (1, 2, ... in order of each raft's first
    vessel; connected rafts share one), or None."""
    labels = component_labels(count, ((r.first, r.second) for r in rafts)).tolist()
    numbers = {r: n for n, r in enumerate(sorted({labels[r.first] for r in rafts}), start=1)}
    return [numbers.get(label) for label in labels]


def detection_hulls(detections: list[Detection], gsd_m: float) -> list[Hull]:
    """Detections' boxes in metres: the pixel frame scaled by the GSD."""
    return [Hull(box_corners(d.box_px) * gsd_m, d.vessel_type == "tanker") for d in detections]


def flag_sts_pairs(detections: list[Detection], gsd_m: float | None) -> list[Detection]:
    """The detections with ``sts_pair`` set on each: its raft's id, or None (also for every vessel
    of a scene without a known GSD: a gap in metres cannot be judged there)."""
    ids = [None] * len(detections)
    if gsd_m:
        ids = raft_ids(len(detections), find_rafts(detection_hulls(detections, gsd_m), gsd_m))
    return [replace(d, extra={**d.extra, STS_PAIR_KEY: k}) for d, k in zip(detections, ids, strict=True)]
