"""Display geometry of walking reach: the street segments reached within a distance, and isochrone polygons built from them."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import shapely

from planner.engine.reach import ReachGraph, node_distances
from planner.engine.snap import Snapped
from planner.network.build import WalkNetwork

__all__ = ["reached_segments", "isochrone"]

log = logging.getLogger(__name__)


def reached_segments(
    network: WalkNetwork, graph: ReachGraph, snapped: Snapped, sources: np.ndarray, *, limit: float
) -> gpd.GeoDataFrame:
    """Parts of the streets within ``limit`` metres of walking from the nearest of ``sources``.

    An edge whose ends are reached with distances ``du``, ``dv`` is covered from ``u`` up to
    ``limit − du`` and from ``v`` back to ``limit − dv``; a source standing on the edge itself also
    covers ``limit − access`` to either side of its foot. Parts are cut from the edge geometry, so they
    follow the street (not straight lines or convex hulls).

    Returns
    -------
    GeoDataFrame
        One row per reached piece: ``edge`` (row in ``network.edges``), ``from_m``, ``to_m`` (metres
        along the edge from ``u``), geometry, in the network CRS.
    """
    d = node_distances(graph, sources, limit=limit)
    base = d[graph.base_node]
    node_pos = {nid: i for i, nid in enumerate(network.nodes.index)}
    eu = network.edges["u"].map(node_pos).to_numpy()
    ev = network.edges["v"].map(node_pos).to_numpy()
    length = network.edges["length"].to_numpy()
    du, dv = base[eu], base[ev]
    intervals: dict[int, list[tuple[float, float]]] = {}

    def add(e: int, a: float, b: float) -> None:
        a, b = max(0.0, a), min(length[e], b)
        if b > a or (b == a and length[e] == 0):
            intervals.setdefault(e, []).append((a, b))

    for e in np.flatnonzero(np.isfinite(du) | np.isfinite(dv)):
        if np.isfinite(du[e]):
            add(int(e), 0.0, limit - du[e])
        if np.isfinite(dv[e]):
            add(int(e), length[e] - (limit - dv[e]), length[e])
    src = np.asarray(sources, dtype=np.int64)
    for p in src[snapped.reachable[src]]:
        reach = limit - snapped.access[p]
        if reach >= 0:
            add(int(snapped.edge[p]), snapped.offset[p] - reach, snapped.offset[p] + reach)
    rows_e, rows_a, rows_b, geoms = [], [], [], []
    edge_geoms = network.edges.geometry.to_numpy()
    for e in sorted(intervals):
        merged: list[list[float]] = []
        for a, b in sorted(intervals[e]):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        for a, b in merged:
            rows_e.append(e)
            rows_a.append(a)
            rows_b.append(b)
            geoms.append(edge_geoms[e] if a <= 0 and b >= length[e] else _substring(edge_geoms[e], a, b))
    out = gpd.GeoDataFrame({"edge": rows_e, "from_m": rows_a, "to_m": rows_b}, geometry=geoms, crs=network.crs)
    log.debug("reached %d pieces of %d edges within %.0f m", len(out), len(intervals), limit)
    return out


def _substring(line: shapely.LineString, a: float, b: float) -> shapely.LineString:
    from shapely.ops import substring

    return substring(line, a, b)


def isochrone(segments: gpd.GeoDataFrame, *, buffer_m: float = 40.0) -> shapely.Geometry:
    """The area within ``buffer_m`` metres of the reached streets: an isochrone that follows the network.

    Unlike a convex hull it leaves out blocks across a river or behind a wall that the walk cannot reach.
    """
    if len(segments) == 0:
        return shapely.Polygon()
    return shapely.union_all(shapely.buffer(segments.geometry.to_numpy(), buffer_m, quad_segs=4))
