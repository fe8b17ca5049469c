"""What a report says about ship-to-ship transfers: ``sts_pairs.csv``, ``sts_transfers.csv``, its
section and one summary line (the rules are :mod:`tankerwatch.infer.report.sts`'s).

``sts_pairs.csv``: one row per rafted pair away from berths per date: ``date``, ``source`` (the
detection file), ``pair`` (the raft's number on that date), per vessel ``_1``/``_2``: ``track_id``
(empty if not tracked), ``vessel_id`` (truth only), ``type``, ``load`` (as the file gives it),
``length_m``; then ``gap_m`` (between the boxes, negative where they overlap), ``axis_diff_deg``,
``along_share`` (overlap along the hulls over the shorter one), ``lon``, ``lat`` (midpoint).

``sts_transfers.csv``: one row per probable transfer: ``event`` (``sts_transfer``), ``vessel_id``
(``giver;taker`` where the files name them), ``track_from`` (loaded -> empty), ``track_to`` (empty
-> loaded), ``date_before``, ``date_after``, ``lon``, ``lat``, ``length_from_m``, ``length_to_m``,
``cargo_barrels`` (central), ``barrels_low``, ``barrels_high``, ``estimates_agree``. Both files are
written atomically; dates UTC ISO 8601, positions lon/lat degrees.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..core.atomic import atomic_write_csv
from .inputs import DatedScene, iso_utc
from .sts import BERTH_RADIUS_M, TRANSFER_EVENT, StsPair, StsResult, Transfer

if TYPE_CHECKING:  # document.py imports this module to add the section
    from .document import Document

STS_OUTPUT_NAMES = ("sts_pairs.csv", "sts_transfers.csv")
VESSEL_COLUMNS = ("track_id", "vessel_id", "type", "load", "length_m")
PAIR_COLUMNS = ("date", "source", "pair", *[f"{c}_{k}" for k in (1, 2) for c in VESSEL_COLUMNS],
                "gap_m", "axis_diff_deg", "along_share", "lon", "lat")
TRANSFER_COLUMNS = ("event", "vessel_id", "track_from", "track_to", "date_before", "date_after", "lon", "lat",
                    "length_from_m", "length_to_m", "cargo_barrels", "barrels_low", "barrels_high", "estimates_agree")


def pair_row(pair: StsPair, scenes: list[DatedScene]) -> list:
    scene = scenes[pair.scene_index]
    row = [scene.date_text, scene.path.name, pair.pair_id]
    for vessel, track in zip(pair.vessels, pair.tracks, strict=True):
        row += [track, vessel.vessel_id, vessel.vessel_type, vessel.load, round(vessel.length_m, 1)]
    return row + [round(pair.gap_m, 1), round(pair.axis_deg, 1), round(pair.along_share, 2), round(pair.lon, 7),
                  round(pair.lat, 7)]


def _ids(transfer: Transfer) -> str | None:
    giver, taker = transfer.giver.vessel_ids, transfer.taker.vessel_ids
    return f"{','.join(giver)};{','.join(taker)}" if giver and taker else None


def transfer_row(t: Transfer) -> list:
    return [TRANSFER_EVENT, _ids(t), t.giver.track_id, t.taker.track_id, iso_utc(t.date_before), iso_utc(t.date_after),
            round(t.lon, 7), round(t.lat, 7), round(t.giver.length_m, 1), round(t.taker.length_m, 1),
            round(t.central), round(t.low), round(t.high), t.agree]


def write_sts_files(out_dir: Path, result: StsResult, scenes: list[DatedScene]) -> None:
    """Write ``sts_pairs.csv`` and ``sts_transfers.csv`` into ``out_dir`` (module doc)."""
    atomic_write_csv(out_dir / "sts_pairs.csv", PAIR_COLUMNS, [pair_row(p, scenes) for p in result.pairs])
    atomic_write_csv(out_dir / "sts_transfers.csv", TRANSFER_COLUMNS, [transfer_row(t) for t in result.transfers])


def _vessel(vessel, track) -> str:
    who = f"track {track}" if track is not None else "untracked"
    if vessel.vessel_id:
        who += f" ({vessel.vessel_id})"
    load = f", {vessel.load}" if vessel.vessel_type == "tanker" else ""
    return f"{who}: {vessel.vessel_type}{load}, {vessel.length_m:.0f} m"


def _berth_text(result: StsResult) -> str:
    return (f"{result.at_berths} rafted pair(s) within {BERTH_RADIUS_M:.0f} m of a berth left out (berths: "
            f"{result.aoi_berths} from the area-of-interest file, {result.learned_berths} learned where two tankers "
            f"lay at different times).")


def add_sts_section(doc: Document, result: StsResult, scenes: list[DatedScene]) -> None:
    """The report's ship-to-ship section: pairs per date, probable transfers and their barrels."""
    doc.heading("Ship-to-ship transfer candidates")
    doc.para("Two vessels rafted side by side (hull axes within 10 degrees, boxes a fender's gap apart, abreast "
             "over at least half the shorter hull, both 40 m or longer), at least one a tanker, away from any "
             "berth. " + _berth_text(result))
    if result.pairs:
        doc.table(["date", "pair", "vessel 1", "vessel 2", "gap (m)", "lon", "lat"],
                  [[scenes[p.scene_index].date_text, p.pair_id, _vessel(p.vessels[0], p.tracks[0]),
                    _vessel(p.vessels[1], p.tracks[1]), f"{p.gap_m:.1f}", f"{p.lon:.5f}", f"{p.lat:.5f}"]
                   for p in result.pairs])
    else:
        doc.para("No rafted pair away from berths on any date.")
    if result.transfers:
        doc.para("Probable transfers: one tanker of a pair went loaded -> empty while the other went empty -> loaded "
                 "between the same dates. Barrels: the range both tankers' estimates allow (marked where they do not "
                 "agree, then the span of both).")
        doc.table(["between", "and", "from (loaded -> empty)", "to (empty -> loaded)", "barrels (low - high, central)"],
                  [[iso_utc(t.date_before), iso_utc(t.date_after), _track(t.giver), _track(t.taker),
                    f"{t.low:,.0f} - {t.high:,.0f} (central {t.central:,.0f})" + ("" if t.agree else "; estimates disagree")]
                   for t in result.transfers])
    if result.truth is not None:
        doc.para(f"Against the known event log: {len(result.matched)} of {len(result.truth)} true transfers found, "
                 f"{len(result.transfers)} reported; recall {_share(result.recall())}, precision "
                 f"{_share(result.precision())}.")


def _track(event) -> str:
    ids = f" ({', '.join(event.vessel_ids)})" if event.vessel_ids else ""
    return f"track {event.track_id}{ids}, {event.length_m:.0f} m"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def sts_summary_line(result: StsResult) -> str:
    dates = len({p.scene_index for p in result.pairs})
    line = (f"ship-to-ship: {len(result.pairs)} rafted pairs away from berths on {dates} dates "
            f"({result.at_berths} at berths left out), {len(result.transfers)} probable transfers")
    if result.transfers:
        line += (f": {sum(t.low for t in result.transfers):,.0f} - {sum(t.high for t in result.transfers):,.0f} barrels")
    if result.truth is not None:
        line += f"; against the event log recall {_share(result.recall())}, precision {_share(result.precision())}"
    return line
