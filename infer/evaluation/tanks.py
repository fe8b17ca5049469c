"""Tanks found against synthetic truth: detection recall and precision, roof calls and fill error.

A found tank matches a true one when their foot centres lie within ``MATCH_SHARE`` of the true
radius (greedy, nearest pairs first; each tank matches at most once). Fill figures are over true
floating roofs matched and called floating; ``coverage`` is the share of matched true floating
roofs called floating, ``false_floating`` the share of matched fixed roofs called floating.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MATCH_SHARE = 0.5


@dataclass
class TankScore:
    """Counts and fill errors, summable over scenes with :meth:`add`."""

    true: int = 0
    found: int = 0
    matched: int = 0
    floating_matched: int = 0
    floating_called: int = 0
    fixed_matched: int = 0
    fixed_called_floating: int = 0
    fill_errors: list = field(default_factory=list)
    in_interval: int = 0

    def add(self, other: TankScore) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def recall(self) -> float:
        return self.matched / self.true if self.true else float("nan")

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else float("nan")

    @property
    def fill_mae(self) -> float:
        return float(np.mean(np.abs(self.fill_errors))) if self.fill_errors else float("nan")

    @property
    def coverage(self) -> float:
        return self.floating_called / self.floating_matched if self.floating_matched else float("nan")

    @property
    def interval_coverage(self) -> float:
        return self.in_interval / len(self.fill_errors) if self.fill_errors else float("nan")


def match_tanks(found: list[dict], truth: list[dict]) -> list[tuple[int, int]]:
    """Pairs ``(found index, truth index)`` of tanks-file properties (module doc)."""
    if not found or not truth:
        return []
    a = np.array([f["centre_px"] for f in found], dtype=np.float64)
    b = np.array([t["centre_px"] for t in truth], dtype=np.float64)
    dist = np.linalg.norm(a[:, None] - b[None], axis=2)
    limit = MATCH_SHARE * np.array([t["radius_px"] for t in truth])[None]
    pairs, used_a, used_b = [], set(), set()
    for i, j in zip(*np.unravel_index(np.argsort(dist, axis=None), dist.shape), strict=True):
        if dist[i, j] > limit[0, j]:
            break
        if i not in used_a and j not in used_b:
            pairs.append((int(i), int(j)))
            used_a.add(i)
            used_b.add(j)
    return pairs


def score_tanks(found: list[dict], truth: list[dict]) -> TankScore:
    score = TankScore(true=len(truth), found=len(found))
    for i, j in match_tanks(found, truth):
        score.matched += 1
        f, t = found[i], truth[j]
        if t["roof"] == "floating":
            score.floating_matched += 1
            if f["roof"] == "floating":
                score.floating_called += 1
                score.fill_errors.append(f["fill_fraction"] - t["fill_fraction"])
                score.in_interval += f["fill_lo"] <= t["fill_fraction"] <= f["fill_hi"]
        else:
            score.fixed_matched += 1
            score.fixed_called_floating += f["roof"] == "floating"
    return score
