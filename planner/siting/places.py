"""Where a suggested site is, in words: the name of its 街道 and of the nearest named street of the walk network."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.engine.streets import nearest_edges
from planner.network.build import WalkNetwork
from planner.network.points import point_xy
from planner.schema import NOT_ZONES

__all__ = ["ROAD_NAME_LIMIT_M", "nearest_road_names", "zone_names"]

#: a site farther than this (metres, straight line) from every named street gets no street name
ROAD_NAME_LIMIT_M = 300.0


def named_edges(network: WalkNetwork) -> np.ndarray:
    """Boolean mask over the edges: the way the edge comes from has a name."""
    names = pd.Series(network.name, dtype=object).fillna("").astype(str).str.strip()
    return (names != "").to_numpy() & ~names.isin(["nan", "None", "<NA>"]).to_numpy()


def nearest_road_names(network: WalkNetwork, points, *, limit_m: float = ROAD_NAME_LIMIT_M) -> np.ndarray:
    """For each point (shapely Points or an (n, 2) array in the network CRS): the name of the nearest named edge of
    the walk network, "" when none lies within ``limit_m`` metres. One index of the named edges for all points."""
    xy = point_xy(points)
    out = np.full(len(xy), "", dtype=object)
    mask = named_edges(network)
    if not len(xy) or not mask.any():
        return out
    edge, _, dist = nearest_edges(network.streets, xy[:, 0], xy[:, 1], edges=mask)
    hit = (edge >= 0) & (dist <= limit_m)
    out[hit] = pd.Series(network.name, dtype=object).to_numpy()[edge[hit]]
    return np.array([str(v).strip() for v in out], dtype=object)


def zone_names(zone_ids: pd.Series, zones: pd.DataFrame | None) -> pd.Series:
    """The 街道 name of each zone id ("" outside every 街道, or without a zones layer); ``zones`` indexed by id with a
    ``name`` column."""
    ids = zone_ids.astype(str)
    if zones is None or not len(zones) or "name" not in zones.columns:
        return pd.Series("", index=zone_ids.index, dtype=object)
    names = pd.Series(zones["name"].astype(str).to_numpy(), index=zones.index.astype(str))
    names = names[~names.index.duplicated()]
    out = ids.map(names).where(~ids.isin(NOT_ZONES), None)
    return out.fillna("").astype(object)
