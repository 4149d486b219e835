"""Compiled kernels behind coverage and isochrones against independent oracles: scipy's Dijkstra (ties included),
GEOS lengths, a brute-force distance field, and interval merging written out by hand."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from planner.analysis.isochrones import isochrone, isochrones_by, reached_pieces
from planner.engine._dijkstra import bounded_from_each, nearest_source
from planner.engine.raster import polyline_lengths, segment_distance_field
from planner.engine.reach import build_reach_graph
from planner.network.build import network_from_lines
from planner.network.points import snap_geometries

X0, Y0 = 500_000.0, 3_500_000.0


def _random_graph(rng, n: int, m: int, *, integer: bool, leaves: int = 0) -> sp.csr_matrix:
    """A symmetric graph: a path through every node plus random edges, weights 0–9 (integer ones tie a lot),
    with ``leaves`` extra nodes of degree one."""
    u = np.r_[np.arange(n - 1), rng.integers(0, n, m)]
    v = np.r_[np.arange(1, n), rng.integers(0, n, m)]
    keep = u != v
    u, v = u[keep], v[keep]
    w = rng.integers(0, 10, len(u)).astype(float) if integer else rng.uniform(0, 10, len(u))
    key = np.minimum(u, v) * n + np.maximum(u, v)
    _, first = np.unique(key, return_index=True)  # no parallel edges (a CSR built from COO would add them up)
    u, v, w = u[first], v[first], w[first]
    if leaves:
        foot = rng.integers(0, n, leaves)
        u, v = np.r_[u, foot], np.r_[v, n + np.arange(leaves)]
        w = np.r_[w, rng.integers(0, 5, leaves).astype(float)]
    size = n + leaves
    g = sp.coo_matrix((np.r_[w, w], (np.r_[u, v], np.r_[v, u])), shape=(size, size)).tocsr()
    g.sort_indices()
    return g


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("integer", [True, False])
def test_nearest_source_is_scipys_answer_ties_included(seed, integer):
    """Distances bit for bit and, where sources are equally near (integer weights, zero weights, leaves), the very
    source scipy's Dijkstra picks."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    g = _random_graph(rng, n, int(rng.integers(0, 3 * n)), integer=integer, leaves=int(rng.integers(0, n)))
    sources = rng.choice(g.shape[0], size=int(rng.integers(1, 12)), replace=False)
    if seed % 3 == 0:
        sources = np.r_[sources, sources[:1]]  # a source given twice
    for limit in (np.inf, 15.0, 4.0, 0.0):
        d0, _, s0 = dijkstra(g, directed=True, indices=sources, min_only=True, limit=limit, return_predecessors=True)
        d1, s1 = nearest_source(g.indptr.astype(np.int64), g.indices.astype(np.int64), g.data, sources.astype(np.int64), limit)
        np.testing.assert_array_equal(d1, d0)
        np.testing.assert_array_equal(s1, np.where(s0 < 0, -1, s0))


def test_nearest_source_by_hand():
    """A path 0 –2– 1 –2– 2 with sources at both ends: the middle is 2 m from both and scipy's order (equal
    distances: the higher node first) gives it to node 2; a zero-length leaf 3 on node 1 follows it."""
    g = sp.csr_matrix(sp.coo_matrix(([2.0, 2.0, 2.0, 2.0, 0.0, 0.0], ([0, 1, 1, 2, 1, 3], [1, 0, 2, 1, 3, 1])), shape=(4, 4)))
    g.sort_indices()
    d, s = nearest_source(g.indptr.astype(np.int64), g.indices.astype(np.int64), g.data, np.array([0, 2]), np.inf)
    np.testing.assert_array_equal(d, [0.0, 2.0, 0.0, 2.0])
    np.testing.assert_array_equal(s, [0, 2, 2, 2])


@pytest.mark.parametrize("seed", range(6))
def test_bounded_from_each_equals_scipy_rows(seed):
    """Every (source, target) pair within the limit, with scipy's distance, whatever the order of the searches."""
    rng = np.random.default_rng(100 + seed)
    n = 300
    g = _random_graph(rng, n, 500, integer=False, leaves=80)
    sources = rng.choice(g.shape[0], size=15, replace=False)
    target_id = np.full(g.shape[0], -1, dtype=np.int64)
    targets = rng.choice(g.shape[0], size=120, replace=False)
    target_id[targets] = np.arange(len(targets))
    s, t, d = bounded_from_each(g.indptr.astype(np.int64), g.indices.astype(np.int64), g.data, sources.astype(np.int64), 12.0, target_id)
    dense = dijkstra(g, indices=sources, limit=12.0)[:, targets]
    ii, jj = np.nonzero(np.isfinite(dense))
    order = np.lexsort((t, s))
    np.testing.assert_array_equal(np.c_[s[order], t[order]], np.c_[ii, jj])
    np.testing.assert_array_equal(d[order], dense[ii, jj])


def test_polyline_lengths_equal_geos_bit_for_bit():
    rng = np.random.default_rng(7)
    counts = rng.integers(2, 9, 500)
    coords = rng.uniform(-1e6, 1e6, (counts.sum(), 2)) + [X0, Y0]
    offsets = np.r_[0, np.cumsum(counts)]
    lines = shapely.linestrings(coords, indices=np.repeat(np.arange(len(counts)), counts))
    np.testing.assert_array_equal(polyline_lengths(coords, offsets[:-1], offsets[1:]), shapely.length(lines))


def test_distance_field_by_hand_and_against_brute_force():
    """A 10 m segment on a 1 m grid: the distance is read off by hand; random segments match a brute force."""
    field = segment_distance_field(np.array([[2.0, 5.0], [12.0, 5.0]]), np.array([0, 2]), (0.0, 0.0), 1.0, (11, 20), reach=4.0, fill=99.0)
    assert field[8, 7] == 3.0  # above the middle
    assert field[9, 15] == 5.0  # 3 m past the end, 4 m up
    assert field[0, 0] == 99.0  # beyond the reach of the segment's box
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 100, (40, 2))
    offsets = np.array([0, 3, 4, 10, 25, 40])  # polylines, and one single point
    got = segment_distance_field(pts, offsets, (-20.0, -20.0), 2.5, (57, 57), reach=300.0, fill=1e9)
    gx, gy = np.meshgrid(-20.0 + np.arange(57) * 2.5, -20.0 + np.arange(57) * 2.5)
    want = np.full(gx.shape, np.inf)
    for p in range(len(offsets) - 1):
        poly = pts[offsets[p] : offsets[p + 1]]
        ends = [(poly[0], poly[0])] if len(poly) == 1 else zip(poly[:-1], poly[1:], strict=True)
        for a, b in ends:
            dx, dy = b - a
            px, py = gx - a[0], gy - a[1]
            l2 = dx * dx + dy * dy
            t = np.clip((px * dx + py * dy) / l2, 0, 1) if l2 > 0 else 0.0
            want = np.minimum(want, np.hypot(px - t * dx, py - t * dy))
    np.testing.assert_array_equal(got, want.astype(np.float32))


def _world(segments, points, max_snap_m=60.0):
    lines = gpd.GeoDataFrame(
        {"highway": ["footway"] * len(segments)},
        geometry=[shapely.LineString([(X0 + x, Y0 + y) for x, y in seg]) for seg in segments],
        crs="EPSG:4549",
    )
    net = network_from_lines(lines)
    snapped = snap_geometries(net, np.array([shapely.Point(X0 + x, Y0 + y) for x, y in points]), max_snap_m=max_snap_m)
    return net, snapped, build_reach_graph(net, snapped)


def _merged_by_hand(net, graph, snapped, sources, limit):
    """The reached intervals of every edge, merged one edge at a time in plain Python (the oracle)."""
    from planner.engine.reach import node_distances

    st = net.streets
    d = node_distances(graph, sources, limit=limit)[graph.base_node]
    out = []
    for e in range(st.n_edges):
        length = st.length[e]
        iv = []
        if np.isfinite(d[st.u[e]]):
            iv.append((0.0, min(length, limit - d[st.u[e]])))
        if np.isfinite(d[st.v[e]]):
            iv.append((max(0.0, length - (limit - d[st.v[e]])), length))
        for s in sources:
            if snapped.reachable[s] and snapped.edge[s] == e and limit - snapped.access[s] >= 0:
                r = limit - snapped.access[s]
                iv.append((max(0.0, snapped.offset[s] - r), min(length, snapped.offset[s] + r)))
        iv = sorted((a, b) for a, b in iv if b > a or (b == a and length == 0))
        runs: list[list[float]] = []
        for a, b in iv:
            if runs and a <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], b)
            else:
                runs.append([a, b])
        out += [(e, a, b) for a, b in runs]
    return out


@pytest.mark.parametrize("seed", range(8))
def test_reached_pieces_match_merging_by_hand(seed):
    """On a perturbed grid with sources on and off the streets, the pieces (edge, from, to) equal the intervals
    merged edge by edge, their length equals GEOS's, and the grid isochrone drawn from the arrays is the one drawn
    from the LineStrings."""
    rng = np.random.default_rng(seed)
    n = 8
    xy = {(i, j): (i * 100 + rng.uniform(-15, 15), j * 100 + rng.uniform(-15, 15)) for i in range(n) for j in range(n)}
    segs = [[xy[(i, j)], ((xy[(i, j)][0] + xy[(i + 1, j)][0]) / 2, xy[(i, j)][1] + 7), xy[(i + 1, j)]] for i in range(n - 1) for j in range(n)]
    segs += [[xy[(i, j)], xy[(i, j + 1)]] for i in range(n) for j in range(n - 1) if rng.uniform() < 0.8]
    pts = rng.uniform(0, 700, (12, 2))
    net, snapped, graph = _world(segs, pts)
    sources = np.arange(int(rng.integers(1, 12)))
    limit = float(rng.uniform(30, 400))
    pieces = reached_pieces(net, graph, snapped, sources, limit=limit)
    want = _merged_by_hand(net, graph, snapped, sources, limit)
    assert [(int(e), a, b) for e, a, b in zip(pieces.edge, pieces.from_m, pieces.to_m, strict=True)] == want
    assert pieces.length_m == float(pd.Series(shapely.length(pieces.geometry)).sum())  # as reached_km was summed
    from_arrays = isochrone(pieces, buffer_m=40.0, exact_pieces=0)
    from_lines = isochrone(np.asarray(pieces.geometry), buffer_m=40.0, exact_pieces=0)
    assert from_arrays.equals_exact(from_lines, 0.0)


def test_isochrones_by_in_threads_equal_one_at_a_time():
    """The threaded drawing gives, key by key and in order, what one reached_pieces + isochrone gives."""
    rng = np.random.default_rng(5)
    xy = {(i, j): (i * 100 + rng.uniform(-15, 15), j * 100 + rng.uniform(-15, 15)) for i in range(6) for j in range(6)}
    segs = [[xy[(i, j)], xy[(i + 1, j)]] for i in range(5) for j in range(6)] + [[xy[(i, j)], xy[(i, j + 1)]] for i in range(6) for j in range(5)]
    net, snapped, graph = _world(segs, rng.uniform(0, 500, (9, 2)))
    sources = {"a": np.array([0, 1]), "b": np.array([2]), "c": np.array([3, 4, 5, 6])}
    got = list(isochrones_by(net, graph, snapped, sources, limit=250.0))
    assert [k for k, _, _ in got] == ["a", "b", "c"]
    for key, length_m, area in got:
        pieces = reached_pieces(net, graph, snapped, sources[key], limit=250.0)
        assert length_m == pieces.length_m
        assert area.equals_exact(isochrone(pieces), 0.0)
