"""Point layers on the walk network: shapely geometries → coordinate arrays, snapped once, and the run's reach.

The reach engine takes plain coordinates; this is the one adapter from geometries (GeoSeries, arrays of shapely
Points) to them, so that the engine itself needs no geometry library. :class:`Reach` bundles a run's snapped
gates and facilities with the reach graph built once over them, for coverage, isochrones, circles and siting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from planner.engine.reach import ReachGraph, build_reach_graph
from planner.engine.snap import SnapIndex, Snapped, snap_points
from planner.engine.streets import HasStreets, StreetArrays
from planner.network.build import WalkNetwork

__all__ = ["Reach", "point_xy", "snap_geometries", "snap_index"]


def point_xy(points) -> np.ndarray:
    """An (n, 2) float array of the x, y of ``points`` (shapely Points); NaN for missing or empty points.

    An (n, 2) numeric array is returned as float64 unchanged.
    """
    arr = np.asarray(points)
    if arr.dtype != object:
        return arr.reshape(-1, 2).astype(np.float64)
    return np.column_stack([shapely.get_x(arr), shapely.get_y(arr)]).astype(np.float64).reshape(-1, 2)


def snap_geometries(network: HasStreets | StreetArrays, points, *, max_snap_m: float, index: SnapIndex | None = None) -> Snapped:
    """:func:`planner.engine.snap.snap_points` for shapely Points (or coordinates), in the network CRS (metres).

    On a :class:`~planner.network.build.WalkNetwork` the points snap only to pieces that are not small
    (:attr:`~planner.network.build.WalkNetwork.snap_edges`); those near only a small piece come back ``isolated``.
    ``index``: the network's :func:`snap_index`, kept by a caller that snaps again and again (the same answers).
    """
    edge_ok = network.snap_edges if isinstance(network, WalkNetwork) else None
    return snap_points(network, point_xy(points), max_snap_m=max_snap_m, edge_ok=edge_ok, index=index)


def snap_index(network: HasStreets | StreetArrays) -> SnapIndex:
    """The nearest-edge index :func:`snap_geometries` uses on ``network``, to keep and pass to it (built lazily)."""
    return SnapIndex(network, network.snap_edges if isinstance(network, WalkNetwork) else None)


@dataclass(frozen=True)
class Reach:
    """A run's points snapped onto the walk network, and the reach graph built once with all of them.

    The points are the compounds' gates (positions ``0 … n_gates − 1``) followed by the facilities (the next
    ``n_facilities`` positions, in the order of the run's facility table). Analyses that need distances among
    only some of these points plus others (siting candidates) take :meth:`graph_of`, which reuses the snapping.
    """

    network: WalkNetwork
    snapped: Snapped
    graph: ReachGraph
    n_gates: int
    max_snap_m: float

    @classmethod
    def build(cls, network: WalkNetwork, snapped: Snapped, *, n_gates: int, max_snap_m: float) -> Reach:
        """The reach of ``snapped`` (gates first, then facilities), with its graph built here."""
        return cls(network, snapped, build_reach_graph(network, snapped), n_gates, max_snap_m)

    @property
    def n_facilities(self) -> int:
        return len(self.snapped) - self.n_gates

    @property
    def gates(self) -> np.ndarray:
        """Point positions of the gates."""
        return np.arange(self.n_gates)

    @property
    def facilities(self) -> np.ndarray:
        """Point positions of the facilities (row ``i`` of the facility table is ``facilities[i]``)."""
        return np.arange(self.n_gates, len(self.snapped))

    def snapped_of(self, positions: np.ndarray, extra: Snapped | None = None) -> Snapped:
        """The snapping of the run's points at ``positions``, followed by ``extra`` (points snapped separately)."""
        s = self.snapped
        parts = [(s.edge[positions], s.offset[positions], s.access[positions], s.reachable[positions])]
        if extra is not None and len(extra):
            parts.append((extra.edge, extra.offset, extra.access, extra.reachable))
        return Snapped(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))

    def graph_of(self, positions: np.ndarray, extra: Snapped | None = None) -> ReachGraph:
        """Reach graph of only the run's points at ``positions`` followed by ``extra``; its point positions are
        ``0 … len(positions) − 1`` and then those of ``extra``.

        Distances depend (in the last bits) on which points split the edges, so an analysis that must not see
        the other points' split nodes builds its own graph here; nothing is snapped again.
        """
        return build_reach_graph(self.network, self.snapped_of(np.asarray(positions, dtype=np.int64), extra))
