"""Street arrays and exact edge snapping without shapely objects: against shapely (GEOS) as the oracle."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.engine.streets import StreetArrays, nearest_edges
from planner.network.build import build_network
from planner.network.points import snap_geometries
from planner.scenario import load_scenario


def _arrays_from_lines(lines: list[list[tuple[float, float]]]) -> StreetArrays:
    """Each polyline is an edge; its end vertices are its nodes (not shared: topology does not matter for snapping)."""
    coords = np.array([p for line in lines for p in line], dtype=float)
    offsets = np.r_[0, np.cumsum([len(line) for line in lines])].astype(np.int64)
    ends = np.array([[line[0], line[-1]] for line in lines], dtype=float).reshape(-1, 2)
    length = np.array([shapely.LineString(line).length for line in lines])
    n = len(lines)
    return StreetArrays(ends[:, 0], ends[:, 1], np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2), length, coords, offsets)


def test_hand_checked_snap():
    # an L-shaped street (0,0)->(100,0)->(100,50) and a straight one (0,20)->(0,120)
    s = _arrays_from_lines([[(0, 0), (100, 0), (100, 50)], [(0, 20), (0, 120)]])
    x = np.array([30.0, 110.0, 5.0, 100.0, np.nan, -3.0])
    y = np.array([4.0, 30.0, 70.0, 0.0, 1.0, 20.0])
    edge, off, dist = nearest_edges(s, x, y)
    # (30,4): 4 m from the first leg of edge 0, 30 m along it
    assert (edge[0], off[0], dist[0]) == (0, 30.0, 4.0)
    # (110,30): 10 m from the second leg, 100 + 30 m along the edge
    assert (edge[1], off[1], dist[1]) == (0, 130.0, 10.0)
    # (5,70): 5 m from edge 1, 50 m from its start
    assert (edge[2], off[2], dist[2]) == (1, 50.0, 5.0)
    # exactly on the corner vertex
    assert (edge[3], off[3], dist[3]) == (0, 100.0, 0.0)
    # NaN coordinates are not snapped
    assert (edge[4], dist[4]) == (-1, np.inf)
    # (-3,20): 3 m from edge 1's start (offset 0); edge 0 is sqrt(9 + 400) away
    assert (edge[5], off[5], dist[5]) == (1, 0.0, 3.0)


def test_ties_go_to_the_lowest_edge_and_identical_nodes_stay_apart():
    # a road (edges 0 and 2 overlap, as duplicated ways do) and a bridge over it (edge 1) with no shared node:
    # the crossing point is on all three and goes to edge 0; points on the bridge or on the road stay on their own
    s = _arrays_from_lines([[(0, 0), (100, 0)], [(50, -50), (50, 50)], [(0, 0), (100, 0)]])
    edge, off, dist = nearest_edges(s, np.array([50.0, 50.0, 30.0, 60.0]), np.array([0.0, 7.0, 0.0, 5.0]))
    assert edge.tolist() == [0, 1, 0, 0]
    assert off.tolist() == [50.0, 57.0, 30.0, 60.0]
    assert dist.tolist() == [0.0, 0.0, 0.0, 5.0]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_lines=st.integers(1, 25),
    max_vertices=st.integers(2, 6),
    spread=st.sampled_from([5.0, 200.0, 3000.0]),
)
def test_nearest_edges_matches_geos(seed, n_lines, max_vertices, spread):
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n_lines):
        k = int(rng.integers(2, max_vertices + 1))
        start = rng.uniform(0, spread, 2)
        steps = rng.normal(0, spread / 4, (k - 1, 2)) * (rng.random() < 0.9)  # some degenerate (zero-length) lines
        lines.append([tuple(p) for p in np.vstack([start, start + np.cumsum(steps, axis=0)])])
    s = _arrays_from_lines(lines)
    px, py = rng.uniform(-spread, 2 * spread, (2, 200))
    edge, off, dist = nearest_edges(s, px, py)
    geoms = np.array([shapely.LineString(line) for line in lines])
    pts = shapely.points(px, py)
    d_all = shapely.distance(pts[:, None], geoms[None, :])
    best = d_all.min(axis=1)
    np.testing.assert_allclose(dist, best, rtol=0, atol=1e-9 * max(1.0, spread))
    # the chosen edge is a nearest one (to rounding), and the lowest of those that are clearly tied
    assert np.all(d_all[np.arange(len(px)), edge] <= best + 1e-9 * max(1.0, spread))
    clear = (d_all > best[:, None] + 1e-6).sum(axis=1) == len(lines) - 1  # exactly one edge is nearest
    np.testing.assert_array_equal(edge[clear], d_all[clear].argmin(axis=1))
    # the offset is where the foot lies: the point at that offset is `dist` away from the point
    foot = s.point_at(edge, off)
    np.testing.assert_allclose(np.hypot(foot[:, 0] - px, foot[:, 1] - py), dist, atol=1e-6 * max(1.0, spread))
    assert np.all((off >= 0) & (off <= s.length[edge]))


def test_point_at_matches_geos():
    rng = np.random.default_rng(7)
    lines = [[tuple(p) for p in rng.uniform(0, 500, (int(rng.integers(2, 7)), 2))] for _ in range(40)]
    s = _arrays_from_lines(lines)
    e = rng.integers(0, len(lines), 500)
    t = rng.random(500) * s.length[e]
    t[:10] = 0.0
    t[10:20] = s.length[e[10:20]]
    got = s.point_at(e, t)
    want = shapely.line_interpolate_point(np.array([shapely.LineString(line) for line in lines])[e], t)
    np.testing.assert_allclose(got[:, 0], shapely.get_x(want), atol=1e-6)
    np.testing.assert_allclose(got[:, 1], shapely.get_y(want), atol=1e-6)


@pytest.fixture(scope="module")
def longgang(repo_root):
    scenario = load_scenario(repo_root / "scenarios" / "longgang.toml")
    from planner.io.projection import choose_metric_crs
    from planner.network.build import network_bounds_wgs84

    minx, miny, maxx, maxy = network_bounds_wgs84(scenario.network)
    return build_network(scenario.network, choose_metric_crs((minx + maxx) / 2, (miny + maxy) / 2))


def test_snap_on_a_real_extract_matches_geos_nearest(longgang):
    """Longgang (real OSM geometry, curved ways, identical-coordinate nodes): same distance as GEOS's STRtree."""
    rng = np.random.default_rng(3)
    minx, miny, maxx, maxy = longgang.edges.total_bounds
    pts = shapely.points(rng.uniform(minx, maxx, 3000), rng.uniform(miny, maxy, 3000))
    snapped = snap_geometries(longgang, pts, max_snap_m=150.0)
    geoms = longgang.edges.geometry.to_numpy()
    # points snap only to edges of pieces that are not small: the oracle searches those edges
    allowed = longgang.pieces.edge_ok
    assert longgang.pieces.n_small > 0 and allowed[snapped.edge].all()
    (pi, ei), d = shapely.STRtree(geoms[allowed]).query_nearest(pts, return_distance=True, all_matches=False)
    ref = np.full(len(pts), np.inf)
    ref[pi] = d
    np.testing.assert_allclose(snapped.access, ref, atol=1e-6)
    # without the mask: the nearest of all edges
    _, _, d_all = nearest_edges(longgang.streets, shapely.get_x(pts), shapely.get_y(pts))
    (pa, _), da = shapely.STRtree(geoms).query_nearest(pts, return_distance=True, all_matches=False)
    ref_all = np.full(len(pts), np.inf)
    ref_all[pa] = da
    np.testing.assert_allclose(d_all, ref_all, atol=1e-6)
    # where the GEOS answer is unique, it is the same edge
    second = shapely.distance(pts, geoms[snapped.edge])
    np.testing.assert_allclose(second, snapped.access, atol=1e-6)
    feet = longgang.streets.point_at(snapped.edge, snapped.offset)
    want = shapely.line_interpolate_point(geoms[snapped.edge], snapped.offset)
    np.testing.assert_allclose(feet[:, 0], shapely.get_x(want), atol=1e-6)
    np.testing.assert_allclose(feet[:, 1], shapely.get_y(want), atol=1e-6)
    assert snapped.reachable.sum() == (ref <= 150.0).sum()
    assert longgang.streets.n_edges == len(longgang.edges)
    np.testing.assert_allclose(np.diff(longgang.streets.offsets) >= 2, True)


def test_far_points_and_a_sparse_network():
    """Points tens of kilometres outside a small network, and a network of two clusters 80 km apart (the cell table
    coarsens instead of growing huge): the same nearest distance as GEOS."""
    lines = [[(0, 0), (30, 5)], [(10, 10), (12, 40), (15, 41)], [(80_000, 80_000), (80_020, 80_003)], [(80_005, 79_980), (80_004, 80_030)]]
    s = _arrays_from_lines(lines)
    px = np.array([-50_000.0, 40_000.0, 200_000.0, 15.0, 80_010.0, 40_010.0])
    py = np.array([30_000.0, 1.0, -90_000.0, 20.0, 80_001.0, 40_000.5])
    edge, off, dist = nearest_edges(s, px, py)
    geoms = np.array([shapely.LineString(line) for line in lines])
    want = shapely.distance(shapely.points(px, py)[:, None], geoms[None, :])
    np.testing.assert_allclose(dist, want.min(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(edge, want.argmin(axis=1))
