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
    """

    edge: np.ndarray
    offset: np.ndarray
    access: np.ndarray
    reachable: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)


def as_streets(network: HasStreets | StreetArrays) -> StreetArrays:
    """The coordinate-array form of ``network`` (itself if it already is one)."""
    return network if isinstance(network, StreetArrays) else network.streets


def snap_points(network: HasStreets | StreetArrays, points: np.ndarray, *, max_snap_m: float) -> Snapped:
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
    """
    streets = as_streets(network)
    points = np.asarray(points)
    if points.dtype == object:
        raise TypeError("snap_points takes an (n, 2) array of coordinates; snap shapely Points with planner.network.points.snap_geometries")
    points = points.reshape(-1, 2).astype(np.float64)
    x, y = points[:, 0], points[:, 1]
    n = len(x)
    edge, offset, access = nearest_edges(streets, x, y)
    reachable = (edge >= 0) & (access <= max_snap_m)
    if n and (~reachable).any():
        log.info("%d of %d points are farther than %.0f m from the network (unreachable)", int((~reachable).sum()), n, max_snap_m)
    return Snapped(edge, offset, access, reachable)
