"""Display geometry of walking reach: the street pieces reached within a distance, and isochrone polygons built from them.

Both work on the network's arrays (:attr:`~planner.network.build.WalkNetwork.streets`): the reached pieces are
intervals along edges, merged with numpy; LineStrings are built only for the pieces (whole edges from the street
arrays, partial ones cut with numpy). The polygon is the area within a buffer distance of the pieces, built by
faces (:func:`isochrone`) so that its cost grows with the reached streets, not with their pairwise overlaps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from planner.engine.reach import ReachGraph, node_distances
from planner.engine.snap import Snapped
from planner.network.build import WalkNetwork

__all__ = ["ReachedPieces", "reached_pieces", "reached_segments", "isochrone"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReachedPieces:
    """Street pieces reached within a walking distance: one row per merged interval, sorted by edge and start.

    edge
        Edge id (row of the network's edge arrays).
    from_m, to_m
        Metres along the edge from its ``u`` end.
    geometry
        The pieces as LineStrings (u → v direction), in the network CRS.
    """

    edge: np.ndarray
    from_m: np.ndarray
    to_m: np.ndarray
    geometry: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    @property
    def length_m(self) -> float:
        """Total length of the pieces (metres, along their geometry)."""
        return float(pd.Series(shapely.length(self.geometry), dtype=np.float64).sum())


def reached_pieces(network: WalkNetwork, graph: ReachGraph, snapped: Snapped, sources: np.ndarray, *, limit: float) -> ReachedPieces:
    """Parts of the streets within ``limit`` metres of walking from the nearest of ``sources``.

    An edge whose ends are reached with distances ``du``, ``dv`` is covered from ``u`` up to ``limit − du`` and
    from ``v`` back to ``limit − dv``; a source standing on the edge itself also covers ``limit − access`` to
    either side of its foot. Overlapping intervals of an edge are merged; pieces are cut from the edge geometry, so
    they follow the street (not straight lines or convex hulls).
    """
    st = network.streets
    d = node_distances(graph, sources, limit=limit)
    base = d[graph.base_node]
    length = st.length
    du, dv = base[st.u], base[st.v]
    from_u = np.flatnonzero(np.isfinite(du))
    from_v = np.flatnonzero(np.isfinite(dv))
    src = np.asarray(sources, dtype=np.int64)
    src = src[snapped.reachable[src]]
    src = src[limit - snapped.access[src] >= 0]
    own_reach = limit - snapped.access[src]
    own_edge = snapped.edge[src]
    e = np.concatenate([from_u, from_v, own_edge]).astype(np.int64)
    a = np.concatenate([np.zeros(len(from_u)), length[from_v] - (limit - dv[from_v]), snapped.offset[src] - own_reach])
    b = np.concatenate([limit - du[from_u], length[from_v], snapped.offset[src] + own_reach])
    a = np.maximum(0.0, a)
    b = np.minimum(length[e], b)
    keep = (b > a) | ((b == a) & (length[e] == 0))
    e, a, b = e[keep], a[keep], b[keep]
    # merge overlapping intervals per edge: sorted by (edge, start, end), a run starts where an interval begins after
    # the farthest end reached so far on its edge
    order = np.lexsort((b, a, e))
    e, a, b = e[order], a[order], b[order]
    reach_end = pd.Series(b).groupby(e).cummax().to_numpy() if len(e) else b
    new = np.ones(len(e), dtype=bool)
    new[1:] = (e[1:] != e[:-1]) | (a[1:] > reach_end[:-1])
    starts = np.flatnonzero(new)
    edge = e[starts]
    from_m = a[starts]
    to_m = np.maximum.reduceat(b, starts) if len(starts) else b[:0]
    whole = (from_m <= 0) & (to_m >= length[edge])
    geometry = np.empty(len(edge), dtype=object)
    geometry[whole] = network.edge_geometries(edge[whole])
    if (~whole).any():
        geometry[~whole] = _substrings(network, edge[~whole], from_m[~whole], to_m[~whole])
    log.debug("reached %d pieces of %d edges within %.0f m", len(edge), len(np.unique(edge)), limit)
    return ReachedPieces(edge, from_m, to_m, geometry)


def _substrings(network: WalkNetwork, edge: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """LineStrings of the parts ``start``–``end`` (metres from ``u``) of ``edge``: the points at both distances and
    the vertices strictly between them (as ``shapely.ops.substring`` cuts them), with numpy."""
    st = network.streets
    n_vert = st.offsets[edge + 1] - st.offsets[edge]
    piece = np.repeat(np.arange(len(edge)), n_vert)
    first = np.repeat(np.cumsum(n_vert) - n_vert, n_vert)
    vert = np.repeat(st.offsets[edge], n_vert) + np.arange(len(piece)) - first
    xy = st.coords[vert]
    step = np.zeros(len(piece))
    step[1:] = np.hypot(*(xy[1:] - xy[:-1]).T)
    step[first == np.arange(len(piece))] = 0.0
    cum = np.cumsum(step)
    cum -= np.repeat(cum[np.cumsum(n_vert) - n_vert], n_vert)  # metres from the piece's edge start at each vertex

    def point_at(s: np.ndarray) -> np.ndarray:
        # segment j (from the edge's first vertex) holding distance s: the last vertex at or before s, not the last
        j = np.bincount(piece, weights=cum <= s[piece], minlength=len(edge)).astype(np.int64) - 1
        j = np.clip(j, 0, n_vert - 2)
        i0 = st.offsets[edge] + j
        k0 = np.cumsum(n_vert) - n_vert + j
        seg = cum[k0 + 1] - cum[k0]
        t = np.divide(s - cum[k0], seg, out=np.zeros(len(s)), where=seg > 0)
        return st.coords[i0] + np.clip(t, 0.0, 1.0)[:, None] * (st.coords[i0 + 1] - st.coords[i0])

    inner = (cum > start[piece]) & (cum < end[piece])
    rows = np.concatenate([np.arange(len(edge)), piece[inner], np.arange(len(edge))])
    rank = np.concatenate([np.zeros(len(edge)), 1 + cum[inner], np.full(len(edge), np.inf)])
    pts = np.concatenate([point_at(start), xy[inner], point_at(end)])
    order = np.lexsort((rank, rows))
    return shapely.linestrings(pts[order], indices=rows[order])


def reached_segments(network: WalkNetwork, graph: ReachGraph, snapped: Snapped, sources: np.ndarray, *, limit: float):
    """:func:`reached_pieces` as a GeoDataFrame (``edge``, ``from_m``, ``to_m``, geometry) for people to look at."""
    import geopandas as gpd

    p = reached_pieces(network, graph, snapped, sources, limit=limit)
    return gpd.GeoDataFrame({"edge": p.edge, "from_m": p.from_m, "to_m": p.to_m}, geometry=p.geometry, crs=network.crs)


# up to this many reached pieces the polygon is exact (union of the buffers, by faces); beyond, it is drawn from a
# distance field on a grid of ``buffer_m`` / 2 cells (coarser where the grid would pass GRID_CELLS) — display
# geometry at city scale, within a few per cent of the exact area (holes narrower than a cell close), at a cost
# proportional to the reached streets
EXACT_PIECES = 20_000
GRID_CELLS = 4_000_000


def isochrone(pieces, *, buffer_m: float = 40.0, exact_pieces: int = EXACT_PIECES) -> shapely.Geometry:
    """The area within ``buffer_m`` metres of the reached streets: an isochrone that follows the network.

    Unlike a convex hull it leaves out blocks across a river or behind a wall that the walk cannot reach.
    ``pieces``: :class:`ReachedPieces`, a GeoDataFrame of them (:func:`reached_segments`) or an array of LineStrings.

    Equal (to GEOS precision) to the union of the pieces' buffers, built by faces instead of one union of every
    buffer: the pieces split the plane into faces; within a closed face every point is nearest to the face's own
    boundary or to the loose streets inside it, so the face minus the buffer is the face shrunk by ``buffer_m``
    minus the buffers of its loose streets (a hole). The isochrone is then all faces without their holes, plus the
    buffers of the outer rings and of the loose streets outside every face — a union of the perimeter only.
    """
    geoms = np.asarray(getattr(pieces, "geometry", pieces), dtype=object)
    geoms = geoms[~shapely.is_empty(geoms)] if len(geoms) else geoms
    if len(geoms) == 0:
        return shapely.Polygon()
    r = float(buffer_m)
    if len(geoms) > exact_pieces:
        minx, miny, maxx, maxy = shapely.total_bounds(geoms)
        cell = max(r / 2, float(np.sqrt((maxx - minx + 2 * r) * (maxy - miny + 2 * r) / GRID_CELLS)))
        return _grid_isochrone(geoms, r, cell=cell)
    noded = shapely.get_parts(shapely.node(shapely.multilinestrings(shapely.get_parts(geoms[shapely.get_type_id(geoms) == 1]))))
    points = geoms[shapely.get_type_id(geoms) != 1]
    faces, cuts, dangles, invalid = shapely.polygonize_full(noded)
    faces = shapely.get_parts(faces)
    loose = np.concatenate([shapely.get_parts(cuts), shapely.get_parts(dangles), shapely.get_parts(invalid), points])
    if len(faces) == 0:
        return shapely.union_all(shapely.buffer(loose, r, quad_segs=4))
    # loose streets inside a face cut into its hole; those outside every face join the perimeter
    inside_loose, inside_face = shapely.STRtree(faces).query(loose, predicate="within")
    holes = shapely.buffer(faces, -r, quad_segs=4)
    if len(inside_loose):
        loose_buf = shapely.buffer(loose[inside_loose], r, quad_segs=4)
        by_face = pd.Series(np.arange(len(inside_loose))).groupby(inside_face)
        for f, members in by_face.indices.items():
            holes[f] = shapely.difference(holes[f], shapely.union_all(loose_buf[members]))
    holes = shapely.get_parts(holes[~shapely.is_empty(holes)])
    filled = shapely.coverage_union_all(faces)
    core = shapely.difference(filled, shapely.multipolygons(holes)) if len(holes) else filled
    outside = np.ones(len(loose), dtype=bool)
    outside[inside_loose] = False
    rim = np.concatenate([shapely.get_exterior_ring(shapely.get_parts(filled)), loose[outside]])
    return shapely.union_all(np.concatenate([[core], shapely.buffer(rim, r, quad_segs=4)]))


def _grid_isochrone(geoms: np.ndarray, r: float, *, cell: float, chunk: int = 1_000_000) -> shapely.Geometry:
    """The area within ``r`` metres of ``geoms`` from the exact distance to the nearest segment at the corners of a
    grid of ``cell`` metres (each segment sets the grid points around it, in chunks of ``chunk`` points), contoured
    at ``r`` with linear interpolation (contourpy)."""
    import contourpy

    xy, idx = shapely.get_coordinates(geoms, return_index=True)
    same = idx[1:] == idx[:-1]
    a, b = xy[:-1][same], xy[1:][same]
    single = np.flatnonzero(np.bincount(idx, minlength=len(geoms)) == 1)  # points: segments of no length
    if len(single):
        pts = xy[np.searchsorted(idx, single)]
        a, b = np.concatenate([a, pts]), np.concatenate([b, pts])
    lo = np.minimum(a, b).min(axis=0) - r - 2 * cell
    hi = np.maximum(a, b).max(axis=0) + r + 2 * cell
    nx, ny = (np.ceil((hi - lo) / cell).astype(np.int64) + 1).tolist()
    field = np.full(nx * ny, np.float32(4 * r))
    reach = r + cell
    i0 = np.floor((np.minimum(a[:, 0], b[:, 0]) - reach - lo[0]) / cell).astype(np.int64)
    i1 = np.ceil((np.maximum(a[:, 0], b[:, 0]) + reach - lo[0]) / cell).astype(np.int64)
    j0 = np.floor((np.minimum(a[:, 1], b[:, 1]) - reach - lo[1]) / cell).astype(np.int64)
    j1 = np.ceil((np.maximum(a[:, 1], b[:, 1]) + reach - lo[1]) / cell).astype(np.int64)
    w = i1 - i0 + 1
    count = w * (j1 - j0 + 1)
    ends = np.cumsum(count)
    starts = ends - count
    s = 0
    while s < len(count):
        e = max(s + 1, int(np.searchsorted(ends, starts[s] + chunk, side="right")))
        seg = np.repeat(np.arange(s, e), count[s:e])
        k = np.arange(len(seg)) + starts[s] - starts[seg]
        ii, jj = i0[seg] + k % w[seg], j0[seg] + k // w[seg]
        ax, ay = a[seg, 0], a[seg, 1]
        dx, dy = b[seg, 0] - ax, b[seg, 1] - ay
        px, py = lo[0] + ii * cell - ax, lo[1] + jj * cell - ay
        l2 = dx * dx + dy * dy
        t = np.clip(np.divide(px * dx + py * dy, l2, out=np.zeros(len(seg)), where=l2 > 0), 0.0, 1.0)
        np.minimum.at(field, jj * nx + ii, np.hypot(px - t * dx, py - t * dy).astype(np.float32))
        s = e
    gen = contourpy.contour_generator(lo[0] + np.arange(nx) * cell, lo[1] + np.arange(ny) * cell, field.reshape(ny, nx),
                                      fill_type="OuterOffset", name="serial")
    points, offsets = gen.filled(-1.0, r)
    if not points:
        return shapely.Polygon()
    # every ring in one call, then the polygons (first ring of each is its shell) in another
    rings_per_poly = np.array([len(o) - 1 for o in offsets])
    ring_sizes = np.concatenate([np.diff(o) for o in offsets])
    rings = shapely.linearrings(np.concatenate(points), indices=np.repeat(np.arange(len(ring_sizes)), ring_sizes))
    polygons = shapely.polygons(rings, indices=np.repeat(np.arange(len(points)), rings_per_poly))
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(list(polygons))
