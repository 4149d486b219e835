"""Per-compound coverage: walking distance to the nearest facility of each category, counts within each time band, catchments."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner import schema
from planner.engine.reach import ReachGraph, catchments, nearest_distance
from planner.progress import progress

__all__ = ["Coverage", "compute_coverage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Coverage:
    """Coverage of every compound (rows, on the compounds' index) by every analysed category.

    table columns, for each category ``c``: ``dist_m__c`` (metres; inf when none within the search
    limit), ``minutes__c``, ``nearest_id__c``, ``nearest_name__c``, ``within_<t>min__c`` (bool) and
    ``count_<t>min__c`` (facilities within t minutes) for each threshold ``t``; then ``covered_<T>min``
    (categories within the longest threshold T) and ``completeness`` (that number / categories).

    catchments: one row per (facility, compound) pair within the longest threshold — ``facility_id``,
    ``compound_id``, ``category``, ``dist_m`` — the input of capacity models and siting.

    Each category's minutes, bands and catchments are at its own walking speed, ``speeds[c]`` (m/min; the elderly's
    for 养老, carers' for 托育); ``speed_m_per_min`` is the adults' speed, used for a category ``speeds`` lacks.
    """

    table: pd.DataFrame
    catchments: pd.DataFrame
    categories: tuple[str, ...]
    thresholds_min: tuple[float, ...]
    speed_m_per_min: float
    speeds: Mapping[str, float] = field(default_factory=dict)

    def speed(self, category: str) -> float:
        """Walking speed (m/min) at which ``category`` is measured."""
        return float(self.speeds.get(category, self.speed_m_per_min))

    def threshold_m(self, minutes: float, category: str) -> float:
        """Metres walked in ``minutes`` to a facility of ``category``."""
        return minutes * self.speed(category)


def compute_coverage(
    graph: ReachGraph,
    gate_points: np.ndarray,
    gate_owner: np.ndarray,
    compound_index: pd.Index,
    facility_points: np.ndarray,
    facilities: pd.DataFrame,
    categories: Sequence[str],
    *,
    thresholds_min: Sequence[float],
    speed_m_per_min: float | Mapping[str, float],
    adults_m_per_min: float | None = None,
    search_limit_m: float = np.inf,
) -> Coverage:
    """Nearest facility, counts and catchments per category.

    Parameters
    ----------
    graph
        Reach graph built with all gate and facility points.
    gate_points, gate_owner
        Positions of the compounds' gates among the snapped points, and the compound (row position in
        ``compound_index``) each belongs to. A compound with several gates uses, for every facility,
        its nearest gate.
    facility_points
        Positions of the facilities among the snapped points; ``facilities`` (``id``, ``name``,
        ``category``) is aligned with them.
    thresholds_min
        Walking-time thresholds in minutes; metres = minutes × the category's speed.
    speed_m_per_min
        Walking speed in m/min: one for every category, or category → speed (e.g. the elderly's for 养老).
    adults_m_per_min
        The speed of a category the mapping lacks and :attr:`Coverage.speed_m_per_min` (default: the mapping's fastest).
    search_limit_m
        Nearest facilities farther than this (metres) are reported as none.
    """
    gate_owner = np.asarray(gate_owner, dtype=np.int64)
    if isinstance(speed_m_per_min, Mapping):
        default = adults_m_per_min if adults_m_per_min is not None else max(speed_m_per_min.values(), default=67.0)
        speeds = {c: float(speed_m_per_min.get(c, default)) for c in categories}
    else:
        default = float(speed_m_per_min)
        speeds = dict.fromkeys(categories, default)
    longest_m = {c: max(thresholds_min) * speeds[c] for c in categories}
    cols: dict[str, object] = {}
    pairs: list[pd.DataFrame] = []
    cat_values = facilities["category"].to_numpy()
    members = {cat: np.flatnonzero(cat_values == cat) for cat in categories}
    searched = _searches(graph, members, facility_points, gate_points, search_limit_m=search_limit_m, longest_m=longest_m)
    for cat, nearest, reached in searched:
        cols.update(_nearest_columns(cat, members[cat], nearest, gate_owner, facilities, len(compound_index),
                                     thresholds_min=thresholds_min, speed_m_per_min=speeds[cat]))
        pair = _catchment_pairs(members[cat], reached, gate_owner)
        del nearest, reached
        for t in thresholds_min:
            within = pair[pair["dist_m"] <= t * speeds[cat]]
            cols[schema.count(cat, t)] = np.bincount(within["c"].to_numpy(), minlength=len(compound_index))
        pairs.append(pair.assign(category=cat))
        log.debug("category %s: %d facilities, %d pairs within %.0f m", cat, len(members[cat]), len(pair), longest_m[cat])
    table = pd.DataFrame(cols, index=compound_index)
    longest = max(thresholds_min)
    within_cols = [schema.within(c, longest) for c in categories]
    table[schema.covered(longest)] = table[within_cols].sum(axis=1).astype(int) if within_cols else 0
    table["completeness"] = table[schema.covered(longest)] / max(len(categories), 1)
    catch = _catchment_table(pairs, facilities["id"].to_numpy(), compound_index)
    log.info("coverage: %d compounds × %d categories, %d catchment pairs", len(table), len(categories), len(catch))
    return Coverage(table=table, catchments=catch, categories=tuple(categories), thresholds_min=tuple(thresholds_min),
                    speed_m_per_min=default, speeds=speeds)


def _searches(
    graph: ReachGraph, members: dict[str, np.ndarray], facility_points: np.ndarray, gate_points: np.ndarray, *,
    search_limit_m: float, longest_m: Mapping[str, float],
) -> Iterator[tuple[str, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Per category, in order: the nearest facility of every gate (:func:`nearest_distance`) and the (facility,
    gate) pairs within the category's ``longest_m`` (:func:`catchments`).

    The searches are independent and their kernels release the GIL, so they run in a few threads (one per core, at
    most :data:`WORKERS`); each answer depends on its own inputs only, so the result is the same in any order.
    Categories are handed over one at a time, so only the few still being searched are held at once. Categories
    without facilities cost nothing.
    """
    graph.arrays()  # build the kernels' arrays once, before the threads share them
    busy = [cat for cat, m in members.items() if len(m)]
    with ThreadPoolExecutor(max_workers=_workers(len(busy))) as pool:
        jobs = {}
        for cat in busy:  # a category's two searches next to each other, so categories finish in order
            jobs[cat] = (pool.submit(nearest_distance, graph, facility_points[members[cat]], gate_points, limit=search_limit_m),
                         pool.submit(catchments, graph, facility_points[members[cat]], gate_points, limit=longest_m[cat]))
        for cat in progress(list(members), desc="步行距离 / walking distances", unit="category"):
            if cat in jobs:
                near, catch = jobs.pop(cat)
                yield cat, near.result(), catch.result()
            else:
                yield cat, nearest_distance(graph, facility_points[:0], gate_points), catchments(graph, facility_points[:0], gate_points, limit=longest_m[cat])


# at most this many searches at a time (each holds a few arrays the size of the graph)
WORKERS = 2


def _workers(n_jobs: int) -> int:
    """Threads for ``n_jobs`` searches: at most WORKERS, the cores, and ``PLANNER_THREADS`` when set (a Dask worker
    of a partitioned run has one core of its own: planner.partition.cluster sets it to 1)."""
    limit = os.environ.get("PLANNER_THREADS", "")
    cap = int(limit) if limit.isdigit() and int(limit) > 0 else WORKERS
    return max(1, min(WORKERS, cap, os.cpu_count() or 1, n_jobs))


def _nearest_columns(
    cat: str,
    members: np.ndarray,
    found: tuple[np.ndarray, np.ndarray],
    gate_owner: np.ndarray,
    facilities: pd.DataFrame,
    n_comp: int,
    *,
    thresholds_min: Sequence[float],
    speed_m_per_min: float,
) -> dict[str, np.ndarray]:
    """Distance, minutes, id and name of the nearest facility of ``cat`` for every compound, and within each band,
    from each gate's nearest facility ``found`` (distance, position in ``members``)."""
    gate_dist, gate_near = found
    dist = np.full(n_comp, np.inf)
    np.minimum.at(dist, gate_owner, gate_dist)
    # the facility of the nearest gate (ties: first gate in order)
    order = np.lexsort((np.arange(len(gate_owner)), gate_dist, gate_owner))
    first = np.ones(len(order), dtype=bool)
    first[1:] = gate_owner[order][1:] != gate_owner[order][:-1]
    near = np.full(n_comp, -1, dtype=np.int64)
    near[gate_owner[order][first]] = gate_near[order][first]
    ok = near >= 0
    ids = np.full(n_comp, "", dtype=object)
    names = np.full(n_comp, "", dtype=object)
    ids[ok] = facilities["id"].to_numpy()[members[near[ok]]]
    names[ok] = facilities["name"].to_numpy()[members[near[ok]]]
    cols: dict[str, np.ndarray] = {
        schema.dist_m(cat): dist,
        schema.minutes(cat): dist / speed_m_per_min,
        schema.nearest_id(cat): ids,
        schema.nearest_name(cat): names,
    }
    for t in thresholds_min:
        cols[schema.within(cat, t)] = dist <= t * speed_m_per_min
    return cols


def _catchment_pairs(members: np.ndarray, reached: tuple[np.ndarray, np.ndarray, np.ndarray], gate_owner: np.ndarray) -> pd.DataFrame:
    """(facility row ``f``, compound row ``c``, ``dist_m``) from the (facility, gate) pairs ``reached``, through each
    compound's nearest gate."""
    src, tgt, d = reached
    pair = pd.DataFrame({"f": members[src], "c": gate_owner[tgt], "dist_m": d})
    return pair.groupby(["f", "c"], sort=True, as_index=False)["dist_m"].min()  # nearest gate per facility


def _catchment_table(pairs: list[pd.DataFrame], fac_ids: np.ndarray, compound_index: pd.Index) -> pd.DataFrame:
    """catchments.csv: facility id, compound id, category, metres."""
    allpairs = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame(columns=["f", "c", "dist_m", "category"])
    return pd.DataFrame(
        {
            "facility_id": fac_ids[allpairs["f"].to_numpy(dtype=np.int64)],
            "compound_id": np.asarray(compound_index)[allpairs["c"].to_numpy(dtype=np.int64)],
            "category": allpairs["category"].to_numpy(),
            "dist_m": allpairs["dist_m"].to_numpy(dtype=float),
        }
    )
