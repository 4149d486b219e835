"""The drawing kernels (planner.engine.drawing) against shapely (GEOS) as the oracle, and on hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from planner.engine.drawing import chain_coords, encode_varints, merge_chains, ring_sizes, simplify_keep
from planner.engine.streets import StreetArrays
from planner.outputs.map_layers import polygon_table


def _dedupe(xy: np.ndarray) -> np.ndarray:
    return xy[np.r_[True, (np.diff(xy, axis=0) != 0).any(axis=1)]] if len(xy) else xy


# ------------------------------------------------------------------------------------------------ Douglas–Peucker


def test_simplify_keeps_what_geos_keeps() -> None:
    rng = np.random.default_rng(7)
    lines = []
    for _ in range(400):
        n = int(rng.integers(2, 30))
        xy = np.cumsum(rng.normal(0, float(rng.choice([1.0, 3.0, 10.0])), (n, 2)), axis=0).round(int(rng.choice([0, 1, 6])))
        if rng.random() < 0.3:
            xy[-1] = xy[0]  # closed
        if rng.random() < 0.2 and n > 3:
            xy[2] = xy[1]  # a repeated vertex
        lines.append(xy)
    sizes = np.array([len(x) for x in lines])
    packed = np.concatenate(lines)
    for tolerance in (0.5, 3.0, 5.0):
        keep = simplify_keep(packed, sizes, tolerance)
        at = np.r_[0, np.cumsum(sizes)]
        for i, xy in enumerate(lines):
            ref = shapely.get_coordinates(shapely.simplify(shapely.linestrings(xy), tolerance, preserve_topology=False))
            assert np.array_equal(_dedupe(packed[at[i]:at[i + 1]][keep[at[i]:at[i + 1]]]), _dedupe(ref))


def test_simplify_by_hand() -> None:
    # a 0.5 m kink goes at 3 m, a 5 m one stays; endpoints always stay
    xy = np.array([[0.0, 0.0], [50.0, 0.5], [100.0, 0.0], [150.0, 5.0], [200.0, 0.0]])
    assert simplify_keep(xy, np.array([5]), 3.0).tolist() == [True, False, True, True, True]
    assert simplify_keep(xy, np.array([2, 3]), 3.0).tolist() == [True, True, True, True, True]


# ------------------------------------------------------------------------------------------------ chains


def _lines(u, v, group, n_groups, coords_per_edge=None):
    u, v = np.asarray(u), np.asarray(v)
    n_nodes = int(max(u.max(), v.max())) + 1
    x = np.arange(n_nodes) * 1000.0
    y = (np.arange(n_nodes) ** 2) % 7 * 100.0
    st = StreetArrays.straight(x, y, u, v)
    edges, flipped, start, line_group = merge_chains(group, u, v, n_groups, n_nodes)
    xy, sizes = chain_coords(edges, flipped, start, st.offsets, st.coords)
    at = np.r_[0, np.cumsum(sizes)]
    return st, [xy[at[i]:at[i + 1]] for i in range(len(sizes))], line_group, edges, start


def test_chains_by_hand() -> None:
    # 0-1-2-3 a path, 3-4-5-3 a triangle on it (node 3 meets three edges), 6-7 apart, 8-9-8 two parallel edges
    u = [0, 1, 2, 3, 4, 5, 6, 8, 9]
    v = [1, 2, 3, 4, 5, 3, 7, 9, 8]
    st, lines, line_group, edges, start = _lines(u, v, np.zeros(9, dtype=np.int64), 1)
    as_nodes = [[int(round(p[0] / 1000)) for p in line] for line in lines]
    # open chains first (from the first edge with a free end), then rings
    assert as_nodes == [[0, 1, 2, 3], [3, 4, 5, 3], [6, 7], [8, 9, 8]]
    assert line_group.tolist() == [0, 0, 0, 0]
    assert sorted(edges.tolist()) == list(range(9))


def test_chains_per_group() -> None:
    # one straight street 0-1-2-3 whose middle edge is another group: three lines, not one
    st, lines, line_group, _, _ = _lines([0, 1, 2], [1, 2, 3], np.array([0, 1, 0]), 2)
    assert line_group.tolist() == [0, 0, 1]
    assert [len(line) for line in lines] == [2, 2, 2]


def test_a_self_loop_is_its_own_line() -> None:
    # a loop 1 → 1 through a vertex, on a path 0-1-2: node 1 meets four edge ends, so three lines
    st = StreetArrays(
        node_x=np.array([0.0, 10.0, 20.0]), node_y=np.zeros(3), u=np.array([0, 1, 1]), v=np.array([1, 1, 2]),
        length=np.array([10.0, 20.0, 10.0]),
        coords=np.array([[0, 0], [10, 0], [10, 0], [15, 5], [10, 0], [10, 0], [20, 0]], dtype=float),
        offsets=np.array([0, 2, 5, 7]),
    )
    edges, flipped, start, line_group = merge_chains(np.zeros(3, dtype=np.int64), st.u, st.v, 1, 3)
    xy, sizes = chain_coords(edges, flipped, start, st.offsets, st.coords)
    assert sizes.tolist() == [2, 3, 2]
    assert xy[2:5].tolist() == [[10, 0], [15, 5], [10, 0]]


@pytest.mark.parametrize("seed", range(5))
def test_chains_merge_as_line_merge(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n_nodes, n_edges, n_groups = int(rng.integers(2, 12)), int(rng.integers(1, 20)), int(rng.integers(1, 4))
        u = rng.integers(0, n_nodes, n_edges)
        v = rng.integers(0, n_nodes, n_edges)
        v = np.where(u == v, (v + 1) % n_nodes, v)  # straight edges: a self-loop would have no length
        group = rng.integers(0, n_groups, n_edges)
        st, lines, line_group, _, _ = _lines(u, v, group, n_groups)
        edge_geoms = shapely.linestrings(st.coords, indices=np.repeat(np.arange(n_edges), 2))
        for g in range(n_groups):
            mine = [lines[i] for i in np.flatnonzero(line_group == g)]
            sel = np.flatnonzero(group == g)
            if not len(sel):
                assert not mine
                continue
            ref = shapely.line_merge(shapely.multilinestrings(edge_geoms[sel]))
            assert len(mine) == shapely.get_num_geometries(ref)
            assert sum(len(line) for line in mine) == shapely.get_num_coordinates(ref)
            # every edge of the group is a step of one of its lines
            steps = {(tuple(a), tuple(b)) for line in mine for a, b in zip(line[:-1], line[1:], strict=True)}
            for e in sel:
                a, b = tuple(st.coords[2 * e]), tuple(st.coords[2 * e + 1])
                assert (a, b) in steps or (b, a) in steps


# ------------------------------------------------------------------------------------------------ rings and varints


def test_ring_sizes_as_shapely_finds_them() -> None:
    outer = shapely.box(0, 0, 100, 100)
    holes = [shapely.box(10, 10, 20, 20).exterior, shapely.box(50, 50, 60, 70).exterior]
    polys = [shapely.Polygon(outer.exterior, holes), shapely.box(200, 0, 210, 5), shapely.Polygon([(0, 0), (5, 0), (0, 5)])]
    xy = shapely.get_coordinates(polys)
    n_rings = shapely.get_num_interior_rings(polys) + 1
    rings = shapely.get_rings(polys)
    assert ring_sizes(xy, shapely.get_num_coordinates(polys), n_rings).tolist() == shapely.get_num_coordinates(rings).tolist()


def test_ring_touching_itself_at_its_start_is_not_guessed() -> None:
    # a bow-tie ring through (0, 0) twice: invalid, and the scan would split it
    bowtie = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 0), (-10, 0), (-10, -10), (0, 0)])
    xy = shapely.get_coordinates(bowtie)
    assert ring_sizes(xy, np.array([len(xy)]), np.array([1])) is None
    # the table takes such rings one by one, as shapely gives them
    table = polygon_table(np.array([bowtie, shapely.box(0, 0, 1, 1)]), "EPSG:4547", basemap="offline", tolerance_m=0.0)
    assert len(table["pp"]) == 2 and table["pp"][0] and table["pp"][1]


def test_varints_are_googles_code() -> None:
    # the example of Google's polyline documentation: -179.9832104 → 1e5 units → "`~oia@"
    # zig-zag: 0 → 0 "?", 15 → 30 "]", 16 → 32 = 0 + 1·32 "_@", -1 → 1 "@"
    chars, count = encode_varints(np.array([-17998321, 0, 15, 16, -1]))
    assert chars.tobytes().decode() == "`~oia@" + "?" + "]" + "_@" + "@"
    assert count.tolist() == [6, 1, 1, 2, 1]
