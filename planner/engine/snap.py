"""Snap points onto the nearest network edge (not node), keeping the access leg and the position along the edge."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from planner.engine.streets import HasStreets, StreetArrays, nearest_edges

__all__ = ["Snapped", "as_streets", "snap_points"]

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
    isolated
        True for the unreachable points that lie within ``max_snap_m`` of an edge of a small piece only (see
        :mod:`planner.engine.pieces`): they are unreachable because that piece leads nowhere. None when the
        snapping was not restricted to some edges.
    """

    edge: np.ndarray
    offset: np.ndarray
    access: np.ndarray
    reachable: np.ndarray
    isolated: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.edge)


def as_streets(network: HasStreets | StreetArrays) -> StreetArrays:
    """The coordinate-array form of ``network`` (itself if it already is one)."""
    return network if isinstance(network, StreetArrays) else network.streets


def snap_points(
    network: HasStreets | StreetArrays, points: np.ndarray, *, max_snap_m: float, edge_ok: np.ndarray | None = None
) -> Snapped:
    """Snap ``points`` onto their nearest edges (exactly: the nearest point of the nearest polyline).

    Ties (a point exactly as far from two edges, e.g. at a shared node or between two overlapping
    edges) go to the edge with the lowest row position, so results are deterministic. Two nodes at the
    same coordinates (a bridge over a road) stay two nodes: a point goes to one edge, never to a merged node.

    Parameters
    ----------
    network
        The walk network, or its :class:`~planner.engine.streets.StreetArrays`.
    points
        An (n, 2) float array of x, y in the network CRS (metres); NaN rows (missing points) are not snapped
        (unreachable). Shapely Points go through :func:`planner.network.points.snap_geometries`.
    max_snap_m
        Largest access leg (metres) at which a point still counts as connected.
    edge_ok
        Boolean mask over the edges a point may snap to (:attr:`planner.engine.pieces.Pieces.edge_ok`: the
        edges of pieces that are not small); None: every edge. A point goes to the nearest allowed edge; when that
        is beyond ``max_snap_m`` but a disallowed edge is within it, the point is unreachable and ``isolated``.
    """
    streets = as_streets(network)
    points = np.asarray(points)
    if points.dtype == object:
        raise TypeError("snap_points takes an (n, 2) array of coordinates; snap shapely Points with planner.network.points.snap_geometries")
    points = points.reshape(-1, 2).astype(np.float64)
    x, y = points[:, 0], points[:, 1]
    n = len(x)
    if edge_ok is not None:
        edge_ok = np.asarray(edge_ok, dtype=bool)
        if edge_ok.all():
            edge_ok = None
    edge, offset, access = nearest_edges(streets, x, y, edges=edge_ok)
    reachable = (edge >= 0) & (access <= max_snap_m)
    isolated = None
    if edge_ok is not None:
        isolated = np.zeros(n, dtype=bool)
        far = np.flatnonzero(~reachable & np.isfinite(x) & np.isfinite(y))
        if len(far):  # only the small pieces are indexed for these: is one of them within reach?
            e_small, _, d_small = nearest_edges(streets, x[far], y[far], edges=~edge_ok)
            isolated[far] = (e_small >= 0) & (d_small <= max_snap_m)
        if isolated.any():
            log.info("%d of %d points are near only small, cut-off pieces of network (unreachable)", int(isolated.sum()), n)
    beyond = ~reachable if isolated is None else ~reachable & ~isolated
    if n and beyond.any():
        log.info("%d of %d points are farther than %.0f m from the network (unreachable)", int(beyond.sum()), n, max_snap_m)
    return Snapped(edge, offset, access, reachable, isolated)
