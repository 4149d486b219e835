"""Candidate sites for new facilities: read from a user's layer, or generated in gap areas and thinned to a spacing."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from planner.engine.reach import ReachGraph, node_distances
from planner.network.build import WalkNetwork

__all__ = ["generate_candidates", "thin"]

log = logging.getLogger(__name__)


def thin(points: np.ndarray, spacing_m: float) -> np.ndarray:
    """Positions of ``points`` kept so that at most one falls in each ``spacing_m`` grid cell (the first one, in
    input order): a deterministic thinning to about one candidate per spacing."""
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    x, y = shapely.get_x(points), shapely.get_y(points)
    cells = np.floor(np.c_[x, y] / spacing_m).astype(np.int64)
    _, first = np.unique(cells, axis=0, return_index=True)
    return np.sort(first)


def generate_candidates(
    network: WalkNetwork,
    graph: ReachGraph,
    uncovered_gates: np.ndarray,
    compounds: gpd.GeoDataFrame,
    uncovered_compounds: np.ndarray,
    zones: gpd.GeoDataFrame | None,
    required_zones: tuple[str, ...],
    *,
    radius_m: float,
    spacing_m: float,
    crs: CRS,
) -> gpd.GeoDataFrame:
    """Candidate sites in gap areas, in the metric CRS.

    * network nodes within ``radius_m`` walking of an uncovered compound (where a new site would serve it);
    * the points of the uncovered compounds themselves (a 小区 may host a station in its own buildings);
    * network nodes inside each 街道 in ``required_zones`` (so "at least one per 街道" can always be met);

    thinned to one per ``spacing_m`` grid cell. Columns: ``id``, ``name``, ``source`` (node / compound / zone).
    """
    d = node_distances(graph, uncovered_gates, limit=radius_m)[graph.base_node]
    st = network.streets
    node_xy = np.column_stack([st.node_x, st.node_y])
    comp_pts = compounds.geometry.representative_point().to_numpy()[uncovered_compounds]
    xy = [node_xy[np.isfinite(d)], np.column_stack([shapely.get_x(comp_pts), shapely.get_y(comp_pts)]).reshape(-1, 2)]
    kinds = [np.full(len(xy[0]), "node"), np.full(len(comp_pts), "compound")]
    if zones is not None:
        wanted = [z for z in required_zones if z in zones.index]
        if wanted:
            # nodes inside each required 街道: one STRtree query of all nodes against those 街道, in the 街道 order
            node_pts = shapely.points(node_xy)
            zone_geoms = zones.loc[wanted].geometry.to_numpy()
            z_i, n_i = shapely.STRtree(node_pts).query(zone_geoms, predicate="contains_properly")
            hit = shapely.within(node_pts[n_i], zone_geoms[z_i])  # within, as before (boundary nodes excluded)
            z_i, n_i = z_i[hit], n_i[hit]
            order = np.lexsort((n_i, z_i))
            xy.append(node_xy[n_i[order]])
            kinds.append(np.full(len(order), "zone"))
    pts_xy = np.concatenate(xy)
    if not len(pts_xy):
        return gpd.GeoDataFrame({"id": [], "name": [], "source": []}, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    sources = np.concatenate(kinds)
    geoms = shapely.points(pts_xy)
    keep = thin(geoms, spacing_m)
    # a zone that needs a site keeps at least its own thinned nodes even where other candidates fill the cells
    if zones is not None and required_zones:
        zone_keep = thin(geoms[sources == "zone"], spacing_m)
        keep = np.union1d(keep, np.flatnonzero(sources == "zone")[zone_keep])
    out = gpd.GeoDataFrame(
        {
            "id": [f"C{i + 1:04d}" for i in range(len(keep))],
            "name": [f"候选点 {i + 1}" for i in range(len(keep))],
            "source": sources[keep],
        },
        geometry=geoms[keep],
        crs=crs,
    )
    log.info("candidates: %d generated (%d before thinning to %.0f m)", len(out), len(geoms), spacing_m)
    return out.set_index(pd.Index(out["id"].to_numpy()))
