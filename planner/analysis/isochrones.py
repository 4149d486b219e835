"""Display geometry of walking reach: the street pieces reached within a distance, and isochrone polygons built from them.

Both work on the network's arrays (:attr:`~planner.network.build.WalkNetwork.streets`): the reached pieces are
intervals along edges, merged with numpy, and kept as polylines in flat arrays (whole edges copied from the street
arrays, partial ones cut with numpy); LineStrings are built only when asked for (:attr:`ReachedPieces.geometry`),
and the street length reached is summed from the arrays. The polygon is the area within a buffer distance of the
pieces: exact, built by faces (:func:`isochrone`), up to :data:`EXACT_PIECES` pieces; beyond, contoured from a
distance field that a compiled kernel (:mod:`planner.engine.raster`) computes straight from the arrays.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import shapely

from planner.engine.raster import polyline_lengths, segment_distance_field
from planner.engine.reach import ReachGraph, node_distances
from planner.engine.snap import Snapped
from planner.network.build import WalkNetwork

__all__ = ["ReachedPieces", "reached_pieces", "reached_segments", "isochrone", "isochrones_by"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReachedPieces:
    """Street pieces reached within a walking distance: one row per merged interval, sorted by edge and start.

    edge
        Edge id (row of the network's edge arrays).
    from_m, to_m
        Metres along the edge from its ``u`` end.
    coords, offsets
        The pieces as polylines (u → v direction, network CRS): piece ``i`` is ``coords[offsets[i]:offsets[i + 1]]``
        (at least two vertices). :attr:`geometry` builds LineStrings of them on first use; city-scale isochrones
        and :attr:`length_m` read the arrays.
    """

    edge: np.ndarray
    from_m: np.ndarray
    to_m: np.ndarray
    coords: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    @cached_property
    def geometry(self) -> np.ndarray:
        """The pieces as shapely LineStrings (built once, on first use)."""
        counts = np.diff(self.offsets)
        return shapely.linestrings(self.coords, indices=np.repeat(np.arange(len(self.edge)), counts))

    @property
    def length_m(self) -> float:
        """Total length of the pieces (metres, along their polylines; equal to summing ``shapely.length``)."""
        lengths = polyline_lengths(self.coords, self.offsets[:-1], self.offsets[1:])
        return float(pd.Series(lengths, dtype=np.float64).sum())


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
    src = np.asarray(sources, dtype=np.int64)
    src = src[snapped.reachable[src]]
    src = src[limit - snapped.access[src] >= 0]
    own_reach = limit - snapped.access[src]
    own_edge = snapped.edge[src].astype(np.int64)
    # an edge holds at most one interval from each end, unless a source stands on it: those few edges are merged
    # in general below, the others directly (two intervals [0, bu] and [av, L] are one piece when av <= bu)
    has_own = np.zeros(len(length), dtype=bool)
    has_own[own_edge] = True
    reached = np.isfinite(du) | np.isfinite(dv)
    plain = np.flatnonzero(reached & ~has_own)
    lp = length[plain]
    with np.errstate(invalid="ignore"):  # ends not reached give ±inf (nan for an infinite limit): masked here
        bu = np.minimum(lp, limit - du[plain])
        av = np.maximum(0.0, lp - (limit - dv[plain]))
        ok_u = np.isfinite(du[plain]) & ((bu > 0) | ((bu == 0) & (lp == 0)))
        ok_v = np.isfinite(dv[plain]) & ((lp > av) | ((lp == av) & (lp == 0)))
    one = ok_u & ok_v & (av <= bu)  # both, overlapping or touching: the whole edge [0, L]
    first_u = ok_u & ~one  # [0, bu] (then maybe [av, L] after it)
    second_v = ok_v & ~one
    p_edge = np.concatenate([plain[one], plain[first_u], plain[second_v]])
    p_from = np.concatenate([np.zeros(int(one.sum())), np.zeros(int(first_u.sum())), av[second_v]])
    p_to = np.concatenate([lp[one], bu[first_u], lp[second_v]])

    special = np.flatnonzero(reached & has_own)
    fu, fv = special[np.isfinite(du[special])], special[np.isfinite(dv[special])]
    e = np.concatenate([fu, fv, own_edge]).astype(np.int64)
    a = np.concatenate([np.zeros(len(fu)), length[fv] - (limit - dv[fv]), snapped.offset[src] - own_reach])
    b = np.concatenate([limit - du[fu], length[fv], snapped.offset[src] + own_reach])
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
    s_edge = e[starts]
    s_from = a[starts]
    s_to = np.maximum.reduceat(b, starts) if len(starts) else b[:0]
    # both lists hold each edge's pieces in order along it (and share no edge): a stable sort by edge keeps that
    edge = np.concatenate([p_edge, s_edge])
    order = np.argsort(edge, kind="stable")
    edge = edge[order]
    from_m = np.concatenate([p_from, s_from])[order]
    to_m = np.concatenate([p_to, s_to])[order]
    whole = (from_m <= 0) & (to_m >= length[edge])
    coords, offsets = _piece_polylines(st, edge, from_m, to_m, whole)
    log.debug("reached %d pieces within %.0f m", len(edge), limit)
    return ReachedPieces(edge, from_m, to_m, coords, offsets)


def _piece_polylines(st, edge: np.ndarray, from_m: np.ndarray, to_m: np.ndarray, whole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and offsets of the pieces: whole edges copied from the street arrays, the others cut by
    :func:`_substrings`, each piece's vertices in u → v order."""
    part = np.flatnonzero(~whole)
    if len(part):
        pts, rows = _substrings(st, edge[part], from_m[part], to_m[part])
    else:
        pts, rows = np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    counts = np.empty(len(edge), dtype=np.int64)
    counts[whole] = st.offsets[edge[whole] + 1] - st.offsets[edge[whole]]
    counts[part] = np.bincount(rows, minlength=len(part))
    offsets = np.zeros(len(edge) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    coords = np.empty((int(offsets[-1]), 2))
    w = np.flatnonzero(whole)
    cw = counts[w]
    within = np.arange(int(cw.sum())) - np.repeat(np.cumsum(cw) - cw, cw)
    coords[np.repeat(offsets[w], cw) + within] = st.coords[np.repeat(st.offsets[edge[w]], cw) + within]
    if len(part):
        cp = counts[part]
        coords[np.repeat(offsets[part], cp) + np.arange(len(rows)) - np.repeat(np.cumsum(cp) - cp, cp)] = pts
    return coords, offsets


def _substrings(st, edge: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polylines of the parts ``start``–``end`` (metres from ``u``) of ``edge``: the points at both distances and
    the vertices strictly between them (as ``shapely.ops.substring`` cuts them), with numpy. Returns the vertices
    and the piece of each, grouped by piece in order along it."""
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
    return pts[order], rows[order]


def reached_segments(network: WalkNetwork, graph: ReachGraph, snapped: Snapped, sources: np.ndarray, *, limit: float):
    """:func:`reached_pieces` as a GeoDataFrame (``edge``, ``from_m``, ``to_m``, geometry) for people to look at."""
    import geopandas as gpd

    p = reached_pieces(network, graph, snapped, sources, limit=limit)
    return gpd.GeoDataFrame({"edge": p.edge, "from_m": p.from_m, "to_m": p.to_m}, geometry=p.geometry, crs=network.crs)


# up to this many reached pieces the polygon is exact (union of the buffers, by faces); beyond, it is drawn from a
# distance field on a grid of ``buffer_m`` / 2 cells (coarser where the grid would pass GRID_CELLS) — display
# geometry at city scale, within a few per cent of the exact area (holes narrower than a cell close), at a cost
# proportional to the reached streets
EXACT_PIECES = 5_000  # the demo and the real extracts (≤ 2 000 pieces) stay exact
GRID_CELLS = 4_000_000


def isochrone(pieces, *, buffer_m: float = 40.0, exact_pieces: int = EXACT_PIECES, cell_m: float | None = None) -> shapely.Geometry:
    """The area within ``buffer_m`` metres of the reached streets: an isochrone that follows the network.

    Unlike a convex hull it leaves out blocks across a river or behind a wall that the walk cannot reach.
    ``pieces``: :class:`ReachedPieces`, a GeoDataFrame of them (:func:`reached_segments`) or an array of LineStrings.

    Equal (to GEOS precision) to the union of the pieces' buffers, built by faces instead of one union of every
    buffer: the pieces split the plane into faces; within a closed face every point is nearest to the face's own
    boundary or to the loose streets inside it, so the face minus the buffer is the face shrunk by ``buffer_m``
    minus the buffers of its loose streets (a hole). The isochrone is then all faces without their holes, plus the
    buffers of the outer rings and of the loose streets outside every face — a union of the perimeter only.

    ``cell_m``: the grid's cell at least this size (a piece of a partitioned run draws at the whole run's cell).
    """
    r = float(buffer_m)
    if isinstance(pieces, ReachedPieces) and len(pieces) > exact_pieces:
        return _grid_isochrone(pieces.coords, pieces.offsets, r, cell_m)  # straight from the arrays, no LineStrings
    geoms = np.asarray(getattr(pieces, "geometry", pieces), dtype=object)
    geoms = geoms[~shapely.is_empty(geoms)] if len(geoms) else geoms
    if len(geoms) == 0:
        return shapely.Polygon()
    if len(geoms) > exact_pieces:
        xy, idx = shapely.get_coordinates(geoms, return_index=True)
        offsets = np.zeros(len(geoms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(idx, minlength=len(geoms)), out=offsets[1:])
        return _grid_isochrone(xy, offsets, r, cell_m)
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


def _grid_isochrone(coords: np.ndarray, offsets: np.ndarray, r: float, cell_m: float | None = None) -> shapely.Geometry:
    """The area within ``r`` metres of the polylines ``coords[offsets[i]:offsets[i + 1]]``: the exact distance to
    the nearest segment at the corners of a grid of ``r`` / 2 metres (coarser where the grid would pass
    :data:`GRID_CELLS`; each segment sets the corners within ``r`` + one cell of it, in a compiled kernel), contoured
    at ``r`` with linear interpolation (contourpy)."""
    import contourpy

    if len(coords) == 0:
        return shapely.Polygon()
    minx, miny = coords.min(axis=0)
    maxx, maxy = coords.max(axis=0)
    cell = max(r / 2, float(np.sqrt((maxx - minx + 2 * r) * (maxy - miny + 2 * r) / GRID_CELLS)), cell_m or 0.0)
    lo = np.array([minx, miny]) - r - 2 * cell
    hi = np.array([maxx, maxy]) + r + 2 * cell
    nx, ny = (np.ceil((hi - lo) / cell).astype(np.int64) + 1).tolist()
    field = segment_distance_field(coords, offsets, lo, cell, (ny, nx), reach=r + cell, fill=4 * r)
    gen = contourpy.contour_generator(lo[0] + np.arange(nx) * cell, lo[1] + np.arange(ny) * cell, field,
                                      fill_type="OuterOffset", name="serial")
    points, ring_offsets = gen.filled(-1.0, r)
    if not points:
        return shapely.Polygon()
    # every ring in one call, then the polygons (first ring of each is its shell) in another
    rings_per_poly = np.array([len(o) - 1 for o in ring_offsets])
    ring_sizes = np.concatenate([np.diff(o) for o in ring_offsets])
    rings = shapely.linearrings(np.concatenate(points), indices=np.repeat(np.arange(len(ring_sizes)), ring_sizes))
    polygons = shapely.polygons(rings, indices=np.repeat(np.arange(len(points)), rings_per_poly))
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(list(polygons))


# at most this many isochrones at a time. Each holds its reached pieces, edge-sized work arrays and a distance field:
# at 1 M nodes two at a time save ~0.8 s of 4.5 s but raise the stage's peak by ~400 MiB (two categories' arrays,
# and memory freed in worker threads that malloc keeps), so one at a time by default
WORKERS = 1


def isochrones_by(
    network: WalkNetwork, graph: ReachGraph, snapped: Snapped, sources: Mapping[str, np.ndarray], *,
    limit: float | Mapping[str, float], buffer_m: float = 40.0, cell_m: float | None = None,
) -> Iterator[tuple[str, float, shapely.Geometry]]:
    """For each key of ``sources`` (point positions) in order: the key, the street length reached within ``limit``
    (metres, :attr:`ReachedPieces.length_m`; one for every key, or key → metres) and its :func:`isochrone`.

    The keys are independent and their heavy parts (search, distance field, GEOS) release the GIL, so a few run at
    a time in threads (one per core, at most :data:`WORKERS`); each answer depends on its own sources only.
    """
    keys = list(sources)
    graph.arrays()  # build the kernels' arrays once, before the threads share them

    limits = limit if isinstance(limit, Mapping) else dict.fromkeys(keys, limit)

    def one(key: str) -> tuple[str, float, shapely.Geometry]:
        pieces = reached_pieces(network, graph, snapped, sources[key], limit=limits[key])
        return key, pieces.length_m, isochrone(pieces, buffer_m=buffer_m, cell_m=cell_m)

    workers = max(1, min(WORKERS, os.cpu_count() or 1, len(keys)))
    if workers == 1:
        yield from map(one, keys)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(one, keys)
