"""Snap points onto the nearest network edge (not node), keeping the access leg and the position along the edge."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from planner.engine.streets import EdgeIndex, HasStreets, StreetArrays, nearest_edges

__all__ = ["SnapIndex", "Snapped", "as_streets", "snap_points"]

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


class SnapIndex:
    """The nearest-edge indexes :func:`snap_points` needs for one network and one ``edge_ok`` mask, each built when
    first needed and then kept: for a caller that snaps a few points at a time (a server placing facilities) and must
    not rebuild the grid of a whole city's streets for each (about half a second for a million edges).

    ``allowed`` indexes the edges a point may snap to, ``small`` the others (only asked for points that find no
    allowed edge within reach). The indexes hold about 50 bytes per street segment.
    """

    def __init__(self, network: HasStreets | StreetArrays, edge_ok: np.ndarray | None = None):
        self.streets = as_streets(network)
        edge_ok = None if edge_ok is None else np.asarray(edge_ok, dtype=bool)
        self.edge_ok = None if edge_ok is None or edge_ok.all() else edge_ok
        self._allowed: EdgeIndex | None = None
        self._small: EdgeIndex | None = None

    @property
    def allowed(self) -> EdgeIndex:
        if self._allowed is None:
            self._allowed = EdgeIndex.build(self.streets, self.edge_ok)
        return self._allowed

    @property
    def small(self) -> EdgeIndex:
        if self._small is None:
            self._small = EdgeIndex.build(self.streets, None if self.edge_ok is None else ~self.edge_ok)
        return self._small


def snap_points(
    network: HasStreets | StreetArrays, points: np.ndarray, *, max_snap_m: float, edge_ok: np.ndarray | None = None,
    index: SnapIndex | None = None,
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
    index
        A :class:`SnapIndex` of the same network and ``edge_ok``, kept by the caller across calls (the same answers,
        without building the grid of cells again); None: built for this call.
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
    if index is not None and (index.streets is not streets or (index.edge_ok is None) != (edge_ok is None)
                              or (edge_ok is not None and index.edge_ok is not edge_ok and not np.array_equal(index.edge_ok, edge_ok))):
        raise ValueError("snap_points: the index was built for another network or another edge_ok mask")
    edge, offset, access = nearest_edges(streets, x, y, edges=edge_ok, index=None if index is None else index.allowed)
    reachable = (edge >= 0) & (access <= max_snap_m)
    isolated = None
    if edge_ok is not None:
        isolated = np.zeros(n, dtype=bool)
        far = np.flatnonzero(~reachable & np.isfinite(x) & np.isfinite(y))
        if len(far):  # only the small pieces are indexed for these: is one of them within reach?
            e_small, _, d_small = nearest_edges(streets, x[far], y[far], edges=~edge_ok, index=None if index is None else index.small)
            isolated[far] = (e_small >= 0) & (d_small <= max_snap_m)
        if isolated.any():
            log.info("%d of %d points are near only small, cut-off pieces of network (unreachable)", int(isolated.sum()), n)
    beyond = ~reachable if isolated is None else ~reachable & ~isolated
    if n and beyond.any():
        log.info("%d of %d points are farther than %.0f m from the network (unreachable)", int(beyond.sum()), n, max_snap_m)
    return Snapped(edge, offset, access, reachable, isolated)
