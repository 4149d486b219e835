"""The walk network as plain coordinate arrays: all the reach engine needs, without shapely objects.

A :class:`~planner.network.build.WalkNetwork` keeps GeoDataFrames for maps and reports; at city scale their shapely
geometries (one Python object and one GEOS geometry per node and per edge) cost about 0.5 KiB each — close to
1 GiB for a million-node network. :class:`StreetArrays` holds the same topology and geometry in flat numpy
arrays (about 60 bytes per edge for a straight street), and :func:`nearest_edges` snaps points onto it through
a grid of cells, exactly (nearest point on the nearest polyline, ties to the lowest edge).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from planner.engine._nearest_segment import build_cells, cell_segments, nearest_segments

__all__ = ["EdgeIndex", "StreetArrays", "HasStreets", "nearest_edges"]



@dataclass(frozen=True)
class StreetArrays:
    """An undirected street network in a metric CRS, as arrays.

    node_x, node_y
        Coordinates (metres) of node ``i``.
    u, v, length
        Edge ``e`` joins node positions ``u[e]`` and ``v[e]`` and is ``length[e]`` metres long (along its geometry).
    coords, offsets
        Edge ``e``'s polyline, from ``u`` to ``v``, is ``coords[offsets[e]:offsets[e + 1]]`` (at least two vertices).
    """

    node_x: np.ndarray
    node_y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    coords: np.ndarray
    offsets: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.node_x)

    @property
    def n_edges(self) -> int:
        return len(self.u)

    @classmethod
    def straight(cls, node_x, node_y, u, v) -> StreetArrays:
        """A network of straight edges between the given nodes; lengths are the straight-line distances."""
        node_x, node_y = np.asarray(node_x, dtype=np.float64), np.asarray(node_y, dtype=np.float64)
        u, v = np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64)
        coords = np.empty((2 * len(u), 2))
        coords[0::2, 0], coords[0::2, 1] = node_x[u], node_y[u]
        coords[1::2, 0], coords[1::2, 1] = node_x[v], node_y[v]
        length = np.hypot(node_x[v] - node_x[u], node_y[v] - node_y[u])
        return cls(node_x, node_y, u, v, length, coords, np.arange(0, 2 * len(u) + 1, 2, dtype=np.int64))

    def point_at(self, edge: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """(n, 2) coordinates of the points ``offset`` metres along ``edge`` from its ``u`` end."""
        edge = np.asarray(edge, dtype=np.int64)
        offset = np.asarray(offset, dtype=np.float64)
        seg, start, seglen = self._segments()
        out = np.empty((len(edge), 2))
        if len(edge) == 0:
            return out
        # the segment holding each offset: the last segment of the edge whose start is <= offset
        first = self.offsets[edge] - edge  # segment index of each edge's first segment
        last = self.offsets[edge + 1] - edge - 2
        lo, hi = first.copy(), last.copy()
        while True:  # vectorised binary search within each edge's segments
            active = lo < hi
            if not active.any():
                break
            mid = (lo + hi + 1) // 2
            go_right = active & (start[np.minimum(mid, len(start) - 1)] <= offset)
            lo = np.where(go_right, mid, lo)
            hi = np.where(active & ~go_right, mid - 1, hi)
        s = lo
        a = self.coords[seg[s]]
        b = self.coords[seg[s] + 1]
        t = np.divide(offset - start[s], seglen[s], out=np.zeros(len(s)), where=seglen[s] > 0)
        t = np.clip(t, 0.0, 1.0)
        out[:] = a + t[:, None] * (b - a)
        return out

    def _segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first vertex of each segment in ``coords``, its start along the edge, its length), cached.

        Segments are numbered edge by edge, so edge ``e``'s segments are ``offsets[e] - e`` … ``offsets[e+1] - e - 2``.
        """
        cached = self.__dict__.get("_seg")
        if cached is None:
            n_vert = np.diff(self.offsets)
            is_last_vertex = np.zeros(len(self.coords), dtype=bool)
            is_last_vertex[self.offsets[1:] - 1] = True
            seg = np.flatnonzero(~is_last_vertex)
            d = self.coords[seg + 1] - self.coords[seg]
            seglen = np.hypot(d[:, 0], d[:, 1])
            cum = np.cumsum(seglen)
            edge_first = self.offsets[:-1] - np.arange(self.n_edges)
            base = np.repeat(np.r_[0.0, cum][edge_first], n_vert - 1)
            start = np.r_[0.0, cum[:-1]] - base
            cached = (seg, start, seglen)
            object.__setattr__(self, "_seg", cached)
        return cached


@runtime_checkable
class HasStreets(Protocol):
    """Anything that carries its street arrays (the walk network does); the engine needs nothing else of it."""

    @property
    def streets(self) -> StreetArrays: ...


def _distance_to_segments(qx, qy, streets: StreetArrays, seg_ids, seg):
    """Distance from each query point to its candidate segment, the fraction t along it (exactly 0 and 1 at the
    ends) and the foot's distance from the segment's start (the projection (q − a)·d / |d|, clipped)."""
    i = seg[seg_ids]
    a = streets.coords[i]
    b = streets.coords[i + 1]
    dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    l2 = dx * dx + dy * dy
    dot = (qx - a[:, 0]) * dx + (qy - a[:, 1]) * dy
    t = np.clip(np.divide(dot, l2, out=np.zeros(len(i)), where=l2 > 0), 0.0, 1.0)
    seglen = np.sqrt(l2)
    along = np.clip(np.divide(dot, seglen, out=np.zeros(len(i)), where=l2 > 0), 0.0, seglen)
    # beyond an end: the distance to that end; inside: |cross product| / length (as GEOS does, exact on axis-aligned streets)
    ex = np.where(t >= 1.0, b[:, 0], a[:, 0])
    ey = np.where(t >= 1.0, b[:, 1], a[:, 1])
    inside = (t > 0.0) & (t < 1.0)
    cross = np.abs((qx - a[:, 0]) * dy - (qy - a[:, 1]) * dx)
    dist = np.where(inside, np.divide(cross, seglen, out=np.zeros(len(i)), where=l2 > 0), np.hypot(qx - ex, qy - ey))
    return dist, t, along


@dataclass(frozen=True)
class EdgeIndex:
    """The grid of cells :func:`nearest_edges` searches, for one set of candidate edges: built once
    (:meth:`build`), queried as often as needed (a server snapping one point per request).

    ``edges`` is the mask it was built for (None: every edge); ``cells`` the arguments of the search kernel
    (:func:`planner.engine._nearest_segment.nearest_segments`) after the query points, ``seg_edge`` the edge of
    each segment. ``empty`` when there is no candidate edge.
    """

    edges: np.ndarray | None
    seg_edge: np.ndarray
    cells: tuple
    empty: bool

    @classmethod
    def build(cls, streets: StreetArrays, edges: np.ndarray | None = None) -> EdgeIndex:
        """The index of ``streets`` restricted to the edges where the boolean mask ``edges`` is True."""
        if edges is not None:
            edges = np.asarray(edges, dtype=bool)
            if len(edges) != streets.n_edges:
                raise ValueError(f"edges mask has {len(edges)} values for {streets.n_edges} edges")
        seg, _, seglen = streets._segments()
        seg_edge = np.repeat(np.arange(streets.n_edges), np.diff(streets.offsets) - 1)
        if streets.n_edges == 0 or (edges is not None and not edges.any()):
            return cls(edges, seg_edge, (), True)
        # the candidate segments (all, or those of the masked edges), numbered as in `seg`
        cand = np.arange(len(seg)) if edges is None else np.flatnonzero(edges[seg_edge])
        # index points: segments cut into pieces no longer than `piece` metres, each represented by its midpoint
        positive = seglen[cand][seglen[cand] > 0]
        piece = float(np.clip(2.0 * np.median(positive), 10.0, 250.0)) if len(positive) else 10.0
        n_pieces = np.maximum(1, np.ceil(seglen[cand] / piece)).astype(np.int64)
        piece_seg = np.repeat(cand, n_pieces)
        k = np.arange(len(piece_seg)) - np.repeat(np.cumsum(n_pieces) - n_pieces, n_pieces)
        frac = (k + 0.5) / np.repeat(n_pieces, n_pieces)
        a = streets.coords[seg[piece_seg]]
        b = streets.coords[seg[piece_seg] + 1]
        mid = a + frac[:, None] * (b - a)
        del a, b, k, frac
        half = float((seglen[cand] / n_pieces / 2.0).max())  # no point of a segment is farther than this from a piece midpoint
        x0, y0, cell, width, height, starts, order = build_cells(mid[:, 0], mid[:, 1], piece)
        del mid
        cs, ax, ay, bx, by = cell_segments(order, piece_seg, seg, streets.coords)
        return cls(edges, seg_edge, (x0, y0, cell, width, height, starts, cs, ax, ay, bx, by, half), False)

    def nbytes(self) -> int:
        """Memory held by the index's arrays (bytes)."""
        return int(self.seg_edge.nbytes + sum(a.nbytes for a in self.cells if isinstance(a, np.ndarray)))


def nearest_edges(
    streets: StreetArrays, x: np.ndarray, y: np.ndarray, *, edges: np.ndarray | None = None, index: EdgeIndex | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each point: its nearest edge, the offset (metres from ``u``) of its foot along it, and the distance.

    ``edges`` (a boolean mask over the edges) restricts the candidates to the edges where it is True (e.g. those of
    the pieces a point may snap to); the other edges are not indexed at all. Without candidates every point gets
    edge −1, distance inf. ``index``: an :class:`EdgeIndex` of ``streets`` built for that same mask, kept by the
    caller (otherwise one is built for this call); ``edges`` is then not needed.

    Exact: every segment that could be as near as the best one found is measured. Ties (the same distance to
    several edges, e.g. at a shared node) go to the lowest edge number. Points with NaN coordinates get edge −1,
    distance inf. Cost: segments (long ones cut into pieces) sorted into square cells, then for each point the
    cells ring by ring around it until no farther segment can be nearer (:mod:`planner.engine._nearest_segment`).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    edge = np.full(n, -1, dtype=np.int64)
    offset = np.zeros(n)
    dist = np.full(n, np.inf)
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if edges is not None and len(edges) != streets.n_edges:
        raise ValueError(f"edges mask has {len(edges)} values for {streets.n_edges} edges")
    if len(ok) == 0 or streets.n_edges == 0 or (edges is not None and not np.asarray(edges, dtype=bool).any()):
        return edge, offset, dist
    if index is None:
        index = EdgeIndex.build(streets, edges)
    if index.empty:
        return edge, offset, dist
    seg, start, _ = streets._segments()
    qx, qy = x[ok], y[ok]
    best_seg, _ = nearest_segments(qx, qy, *index.cells)
    d_best, t_best, along = _distance_to_segments(qx, qy, streets, best_seg, seg)
    e_best = index.seg_edge[best_seg]
    off = start[best_seg] + along
    # the ends exactly: 0 at u, the edge's own length at v
    first_seg = streets.offsets[e_best] - e_best
    last_seg = streets.offsets[e_best + 1] - e_best - 2
    off = np.where((best_seg == first_seg) & (t_best <= 0.0), 0.0, off)
    off = np.where((best_seg == last_seg) & (t_best >= 1.0), streets.length[e_best], off)
    edge[ok] = e_best
    offset[ok] = np.clip(off, 0.0, streets.length[e_best])
    dist[ok] = d_best
    return edge, offset, dist
