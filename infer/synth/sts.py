"""Ship-to-ship (STS) pairs in synthetic scenes and series, with their truth.

**Scene** (``synth scene --sts N``): N pairs of tankers rafted in the anchorage, hulls 2-5 m apart at
the waterline (fenders), bows either way, abreast within 15 % of the first one's length, each hull
at least :data:`CLEAR_OF_BERTHS_M` from every berth; and, as the case that must not count, up to N
vessels double-banked at berths (a second tanker, or a bunker barge, outboard of a berthed ship).
They come from their own generator (``[seed, 13]``) after every other vessel is placed, so
``--sts 0`` leaves a seed's scene exactly as it was before STS pairs existed.

**Truth**: every raft of a scene (these, and the tankers :func:`.scene.fill_anchorage` already lays
alongside another, 15 % of those at anchor) whose hulls both lie farther than
:data:`tankerwatch.infer.report.sts.BERTH_RADIUS_M` from every berth gets ``sts_pair`` 1, 2, ...;
a raft at a berth gets null, like every other vessel.

**Series** (``synth series --sts N``, :class:`StsAnchorage`): up to N pairs at a time, with the
terminal's rules for timing (:mod:`.series`). On a date with fewer, a pair arrives with probability
:data:`P_PAIR_ARRIVAL`: a *giver* near its laden draft and a *taker* near ballast, both small
coastal tankers most often, of capacities within 25 % of each other. A pair that has not yet
transferred does so by the next date with probability ``P_WORKED``: the giver ends near ballast,
the taker near laden, and the barrels the giver loses are exactly the barrels the taker gains (the
amount is drawn among those that keep both in those draft ranges). A pair that has transferred
leaves with probability ``P_LEAVE_WORKED`` per date. Its id is the pair's number in the series
(``sts_pair`` on both hulls on every date) and each transfer is an ``sts_transfer`` row of the event
log (vessel ids ``giver;taker``, the true barrels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from ..core.boxes import box_corners
from ..core.labels import LoadState
from ..report.sts import BERTH_RADIUS_M, TRANSFER_EVENT
from .background import Layout
from .physics import MIN_TANKER_LENGTH_M, NEAR_BALLAST, NEAR_LADEN, TankerSpec, View, sample_tanker
from .placement import Placer, alongside, random_water_point
from .vessels import Ship, make_ship, to_label

CLEAR_OF_BERTHS_M = 1.5 * BERTH_RADIUS_M  # placed well clear, so no box error puts a pair at a berth
P_PAIR_ARRIVAL = 0.5
CAPACITY_RATIO = 1.25
SMALL_TANKER_WEIGHT = 8.0
BERTH_RAFT_BARGE_M = (40.0, 90.0)
TRIES = 50


def _hull_m(ship: Ship, view: View):
    return shapely.Polygon(box_corners(to_label(ship, view).box) * view.gsd_m)


def berth_distance_m(ship: Ship, layout: Layout, view: View) -> float:
    """Metres from ``ship``'s label box to the nearest berth (infinite without berths)."""
    if not layout.berths:
        return math.inf
    hull = _hull_m(ship, view)
    return min(shapely.distance(hull, shapely.Point(*(b.centre * view.gsd_m))) for b in layout.berths)


def label_rafts(rafts: list[tuple[Ship, Ship]], layout: Layout, view: View) -> None:
    """Number the rafts away from berths 1, 2, ... in ``sts_pair`` (see module doc)."""
    number = 0
    for first, second in rafts:
        if min(berth_distance_m(first, layout, view), berth_distance_m(second, layout, view)) > BERTH_RADIUS_M:
            number += 1
            first.sts_pair = second.sts_pair = number


def _pair_specs(rng: np.random.Generator, max_len: float) -> tuple[TankerSpec, TankerSpec]:
    """A laden giver and a taker in ballast whose capacities are within CAPACITY_RATIO."""
    for _ in range(TRIES):
        giver = sample_tanker(rng, max_len, LoadState.LOADED, small_weight=SMALL_TANKER_WEIGHT, part_loaded_share=0.0)
        taker = sample_tanker(rng, max_len, LoadState.EMPTY, small_weight=SMALL_TANKER_WEIGHT, part_loaded_share=0.0)
        ratio = taker.cargo_capacity_barrels() / giver.cargo_capacity_barrels()
        if 1 / CAPACITY_RATIO <= ratio <= CAPACITY_RATIO and _transfer_range(giver, taker) is not None:
            return giver, taker
    return giver, giver.with_draft(rng.uniform(*NEAR_BALLAST))


def _transfer_range(giver: TankerSpec, taker: TankerSpec) -> tuple[float, float] | None:
    """Barrels that leave the giver near ballast and the taker near laden, or None if none do."""
    cap_g, cap_t = giver.cargo_capacity_barrels(), taker.cargo_capacity_barrels()
    low = max((giver.draft_fraction - NEAR_BALLAST[1]) * cap_g, (NEAR_LADEN[0] - taker.draft_fraction) * cap_t)
    high = min((giver.draft_fraction - NEAR_BALLAST[0]) * cap_g, (NEAR_LADEN[1] - taker.draft_fraction) * cap_t)
    return (low, high) if low <= high else None


def place_pair(rng: np.random.Generator, placer: Placer, layout: Layout, first: Ship, second: Ship,
               size: int) -> bool:
    """Raft ``second`` alongside ``first`` at a free anchorage point clear of berths; False if no
    try fits."""
    view = placer.view
    for _ in range(TRIES):
        first.centre = random_water_point(rng, size, size)
        first.heading = float(rng.uniform(0, 2 * math.pi))
        alongside(rng, first, second, view)
        if min(berth_distance_m(first, layout, view), berth_distance_m(second, layout, view)) < CLEAR_OF_BERTHS_M:
            continue
        if placer.try_add(first):
            if placer.try_add(second, beside=first):
                placer.rafts.append((first, second))
                return True
            placer.taken.pop()
            placer.ships.pop()
    return False


def add_scene_rafts(rng: np.random.Generator, placer: Placer, layout: Layout, size: int, max_len: float,
                    count: int) -> None:
    """``count`` STS pairs in the anchorage and up to ``count`` vessels double-banked at berths."""
    for k in range(count):
        giver, taker = _pair_specs(rng, max_len)
        first = make_ship(rng, f"s{k:03d}a", "tanker", (0.0, 0.0), 0.0, tanker=giver)
        second = make_ship(rng, f"s{k:03d}b", "tanker", (0.0, 0.0), 0.0, tanker=taker)
        place_pair(rng, placer, layout, first, second, size)
    hosts = [s for s in placer.ships if s.berthed and s.length_m >= MIN_TANKER_LENGTH_M]
    for host in [hosts[k] for k in rng.permutation(len(hosts))[:count]]:
        vid = host.vessel_id + "o"
        if host.tanker is None or rng.random() < 0.5:  # at least one tanker: a pair the rules would take
            spec = sample_tanker(rng, max(min(max_len, host.length_m * 1.2), MIN_TANKER_LENGTH_M),
                                 small_weight=SMALL_TANKER_WEIGHT)
            outboard = make_ship(rng, vid, "tanker", host.centre, 0.0, tanker=spec)
        else:
            outboard = make_ship(rng, vid, "barge", host.centre, 0.0, length_m=rng.uniform(*BERTH_RAFT_BARGE_M))
        outboard.berthed = True
        for _ in range(4):  # the quay's side fails; the open side fits unless another ship is there
            if placer.try_raft(rng, host, outboard):
                break


@dataclass
class StsVisit:
    """One pair's stay: who gives, who takes, the barrels a transfer may move, whether it is done."""

    pair_id: int
    giver: Ship
    taker: Ship
    barrels: tuple[float, float]
    moved: float | None = None


class StsAnchorage:
    """The series' STS pairs between dates (module doc); ``rows`` collects the transfers as
    ``(pair visit, date index before, date index after)``."""

    def __init__(self, seed: int, size: int, max_len: float, max_pairs: int, p_worked: float, p_leave: float):
        self.rng = np.random.default_rng([seed, 14])
        self.size, self.max_len, self.max_pairs = size, max_len, max_pairs
        self.p_worked, self.p_leave = p_worked, p_leave
        self.visits: list[StsVisit] = []
        self.transfers: list[tuple[StsVisit, int, int]] = []
        self.pairs = 0

    def ships(self) -> list[Ship]:
        return [s for v in self.visits for s in (v.giver, v.taker)]

    def snapshot(self) -> dict[str, tuple[Ship, TankerSpec]]:
        return {s.vessel_id: (s, s.tanker) for s in self.ships()}

    def step(self, date_index: int) -> None:
        """From date ``date_index - 1`` to ``date_index``: transfer or leave (module doc)."""
        staying = []
        for visit in self.visits:
            if visit.moved is not None:
                if self.rng.random() < self.p_leave:
                    continue
            elif self.rng.random() < self.p_worked:
                visit.moved = float(self.rng.uniform(*visit.barrels))
                give, take = visit.giver.tanker, visit.taker.tanker
                visit.giver.tanker = give.with_draft(give.draft_fraction - visit.moved / give.cargo_capacity_barrels())
                visit.taker.tanker = take.with_draft(take.draft_fraction + visit.moved / take.cargo_capacity_barrels())
                self.transfers.append((visit, date_index - 1, date_index))
            staying.append(visit)
        self.visits = staying

    def arrivals(self, placer: Placer, layout: Layout) -> None:
        """Perhaps a new pair, placed among the vessels ``placer`` already holds."""
        if len(self.visits) >= self.max_pairs or self.rng.random() >= P_PAIR_ARRIVAL:
            return
        giver, taker = _pair_specs(self.rng, self.max_len)
        barrels = _transfer_range(giver, taker)
        number = self.pairs + 1
        first = make_ship(self.rng, f"S{number:03d}a", "tanker", (0.0, 0.0), 0.0, tanker=giver)
        second = make_ship(self.rng, f"S{number:03d}b", "tanker", (0.0, 0.0), 0.0, tanker=taker)
        if barrels is not None and place_pair(self.rng, placer, layout, first, second, self.size):
            self.pairs = number
            first.sts_pair = second.sts_pair = number
            self.visits.append(StsVisit(number, first, taker=second, barrels=barrels))

    def event_rows(self, row) -> None:
        """Each transfer as ``row(kind, vessel_id, i_before, i_after, ship, spec, barrels)``."""
        for visit, before, after in self.transfers:
            row(TRANSFER_EVENT, f"{visit.giver.vessel_id};{visit.taker.vessel_id}", before, after, visit.giver,
                visit.giver.tanker, visit.moved)
