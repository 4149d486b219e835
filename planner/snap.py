"""Snap points onto the nearest network edge (not node), keeping the access leg and the position along the edge."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely

from .network import WalkNetwork

__all__ = ["Snapped", "snap_points"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapped:
    """Where each point joins the network.

    edge
        Row position of the nearest edge in ``network.edges``.
    offset
        Distance in metres along that edge's geometry from its node ``u`` to the foot of the point.
    access
        Straight-line access leg in metres from the point to the edge (0 for a point on the edge).
    reachable
        False where ``access`` exceeds the scenario's ``max_snap_m``: such points are reported as
        unreachable, never dropped and never routed.
    """

    edge: np.ndarray
    offset: np.ndarray
    access: np.ndarray
    reachable: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)


def snap_points(network: WalkNetwork, points: np.ndarray, *, max_snap_m: float) -> Snapped:
    """Snap ``points`` (shapely Points in the network's metric CRS) onto their nearest edges.

    Ties (a point exactly as far from two edges, e.g. at a shared node or between two overlapping
    edges) go to the edge with the lowest row position, so results are deterministic.

    Parameters
    ----------
    network
        The walk network.
    points
        Array of shapely Points, in the network CRS (metres).
    max_snap_m
        Largest access leg (metres) at which a point still counts as connected.
    """
    points = np.asarray(points, dtype=object)
    n = len(points)
    edge = np.full(n, -1, dtype=np.int64)
    offset = np.zeros(n)
    access = np.full(n, np.inf)
    if n == 0:
        return Snapped(edge, offset, access, np.zeros(0, dtype=bool))
    geoms = network.edges.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    valid = ~shapely.is_missing(points) & ~shapely.is_empty(points)
    (pt_idx, edge_idx), dist = tree.query_nearest(points[valid], return_distance=True, all_matches=True)
    # keep, per point, the lowest edge index among the equally nearest
    order = np.lexsort((edge_idx, pt_idx))
    pt_idx, edge_idx, dist = pt_idx[order], edge_idx[order], dist[order]
    first = np.ones(len(pt_idx), dtype=bool)
    first[1:] = pt_idx[1:] != pt_idx[:-1]
    rows = np.flatnonzero(valid)[pt_idx[first]]
    edge[rows] = edge_idx[first]
    access[rows] = dist[first]
    offset[rows] = shapely.line_locate_point(geoms[edge[rows]], points[rows])
    lengths = network.edges["length"].to_numpy()
    offset[rows] = np.clip(offset[rows], 0.0, lengths[edge[rows]])
    reachable = (edge >= 0) & (access <= max_snap_m)
    if (~reachable).any():
        log.info("%d of %d points are farther than %.0f m from the network (unreachable)", int((~reachable).sum()), n, max_snap_m)
    return Snapped(edge, offset, access, reachable)
