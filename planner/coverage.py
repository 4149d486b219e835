"""Per-compound coverage: network walking distance to the nearest facility of each category and the time bands it falls in."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .reach import ReachGraph, nearest_distance

__all__ = ["Coverage", "compute_coverage", "band_column", "dist_column"]

log = logging.getLogger(__name__)


def dist_column(category: str) -> str:
    return f"dist_m__{category}"


def band_column(category: str, minutes: float) -> str:
    return f"within_{minutes:g}min__{category}"


@dataclass(frozen=True)
class Coverage:
    """Coverage of every compound (rows, on the compounds' index) by every analysed category.

    table columns, for each category ``c``: ``dist_m__c`` (metres, inf when none is reachable),
    ``minutes__c``, ``nearest_id__c``, ``nearest_name__c`` and ``within_<t>min__c`` (bool) for each
    threshold ``t``; then ``covered_<T>min`` (number of categories within the longest threshold
    T) and ``completeness`` (that number / number of categories).
    """

    table: pd.DataFrame
    categories: tuple[str, ...]
    thresholds_min: tuple[float, ...]
    speed_m_per_min: float


def compute_coverage(
    graph: ReachGraph,
    compound_points: np.ndarray,
    compound_index: pd.Index,
    facility_points: np.ndarray,
    facilities: pd.DataFrame,
    categories: Sequence[str],
    *,
    thresholds_min: Sequence[float],
    speed_m_per_min: float,
) -> Coverage:
    """Nearest-facility distances per category (one multi-source search per category).

    Parameters
    ----------
    graph
        Reach graph built with all compound and facility points.
    compound_points, facility_points
        Positions of the compounds / facilities among the snapped points.
    facilities
        Facility attributes (``id``, ``name``, ``category``) aligned with ``facility_points``.
    thresholds_min
        Walking-time thresholds in minutes; metres = minutes × ``speed_m_per_min``.
    """
    cols: dict[str, object] = {}
    cat_values = facilities["category"].to_numpy()
    for cat in categories:
        members = np.flatnonzero(cat_values == cat)
        dist, nearest = nearest_distance(graph, facility_points[members], compound_points)
        ids = np.where(nearest >= 0, facilities["id"].to_numpy()[members[np.maximum(nearest, 0)]] if len(members) else "", "")
        names = np.where(nearest >= 0, facilities["name"].to_numpy()[members[np.maximum(nearest, 0)]] if len(members) else "", "")
        cols[dist_column(cat)] = dist
        cols[f"minutes__{cat}"] = dist / speed_m_per_min
        cols[f"nearest_id__{cat}"] = ids
        cols[f"nearest_name__{cat}"] = names
        for t in thresholds_min:
            cols[band_column(cat, t)] = dist <= t * speed_m_per_min
        log.debug("category %s: %d facilities", cat, len(members))
    table = pd.DataFrame(cols, index=compound_index)
    longest = max(thresholds_min)
    within = [band_column(c, longest) for c in categories]
    table[f"covered_{longest:g}min"] = table[within].sum(axis=1).astype(int) if within else 0
    table["completeness"] = table[f"covered_{longest:g}min"] / max(len(categories), 1)
    log.info("coverage: %d compounds × %d categories", len(table), len(categories))
    return Coverage(table=table, categories=tuple(categories), thresholds_min=tuple(thresholds_min), speed_m_per_min=speed_m_per_min)
