"""The walk network built on arrays against osmnx (the oracle), and small networks with answers worked by hand.

planner builds the network's topology on arrays (:mod:`planner.engine.topology`). It must give exactly what the
graph route gave before: an osmnx MultiDiGraph with both directions of every segment (``osmid`` = the way),
``ox.simplify_graph(remove_rings=False, edge_attrs_differ=["osmid"])``, ``ox.convert.to_undirected``, then
frames with each polyline oriented u → v and edges sorted by (u, v). That route is kept here, as the oracle, and
both are run on generated networks full of awkward cases and on the real OSM extracts.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS, Transformer

from planner.errors import NetworkError
from planner.network.build import build_network, network_from_lines

osmnx = pytest.importorskip("osmnx")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
METRIC = "EPSG:4549"


# ---- the oracle: the osmnx route --------------------------------------------------------------------------------


def _oracle(ways: list[tuple[list, np.ndarray, np.ndarray, str, str]], crs) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(nodes, edges) of ways given as (node keys, x, y, highway, name), through an osmnx graph."""
    first_xy: dict[object, tuple[float, float]] = {}  # each key's first vertex
    for keys, xs, ys, _, _ in ways:
        for key, px, py in zip(keys, xs, ys, strict=True):
            first_xy.setdefault(key, (float(px), float(py)))
    # nodes numbered in the order of their keys: node ids first, then millimetre points by (x, y)
    key_to_id = {k: i for i, k in enumerate(sorted(first_xy, key=lambda k: (1, k) if isinstance(k, tuple) else (0, k)))}
    node_x = [0.0] * len(key_to_id)
    node_y = [0.0] * len(key_to_id)
    for k, (px, py) in first_xy.items():
        node_x[key_to_id[k]], node_y[key_to_id[k]] = px, py
    seg_u, seg_v, seg_way = [], [], []
    for w_i, (keys, _, _, _, _) in enumerate(ways):
        ids = [key_to_id[key] for key in keys]
        for a, b in zip(ids[:-1], ids[1:], strict=True):
            if a != b:
                seg_u.append(a)
                seg_v.append(b)
                seg_way.append(w_i)
    nx_, ny_ = np.asarray(node_x), np.asarray(node_y)
    u, v = np.asarray(seg_u), np.asarray(seg_v)
    lengths = np.hypot(nx_[u] - nx_[v], ny_[u] - ny_[v])
    highway = [ways[i][3] for i in seg_way]
    name = [ways[i][4] for i in seg_way]
    uu, vv = np.concatenate([u, v]), np.concatenate([v, u])
    edges = pd.DataFrame({
        "u": uu, "v": vv, "length": np.concatenate([lengths, lengths]), "highway": highway + highway,
        "name": name + name, "osmid": np.concatenate([np.asarray(seg_way), np.asarray(seg_way)]),
    })
    edges["key"] = edges.groupby(["u", "v"]).cumcount()
    edges = edges.set_index(["u", "v", "key"])
    geoms = shapely.linestrings(np.stack([nx_[uu], ny_[uu], nx_[vv], ny_[vv]], axis=1).reshape(-1, 2, 2))
    gdf_edges = gpd.GeoDataFrame(edges, geometry=geoms, crs=crs)
    gdf_nodes = gpd.GeoDataFrame(
        {"x": nx_, "y": ny_}, geometry=shapely.points(nx_, ny_), crs=crs, index=pd.RangeIndex(len(nx_), name="osmid")
    )
    graph = osmnx.graph_from_gdfs(gdf_nodes, gdf_edges)
    graph = osmnx.simplify_graph(graph, remove_rings=False, edge_attrs_differ=["osmid"])
    graph = osmnx.convert.to_undirected(graph)
    nodes, out = osmnx.graph_to_gdfs(graph, nodes=True, edges=True, fill_edge_geometry=True)
    out = out.reset_index()[["u", "v", "highway", "name", "geometry"]]
    for col in ("highway", "name"):
        out[col] = out[col].map(lambda val: "；".join(sorted(set(map(str, val)))) if isinstance(val, list) else val)
    first = shapely.get_point(out.geometry.array, 0)
    ux, uy = nodes.loc[out["u"], "x"].to_numpy(), nodes.loc[out["u"], "y"].to_numpy()
    vx, vy = nodes.loc[out["v"], "x"].to_numpy(), nodes.loc[out["v"], "y"].to_numpy()
    fx, fy = shapely.get_x(first), shapely.get_y(first)
    flip = np.hypot(fx - vx, fy - vy) < np.hypot(fx - ux, fy - uy)
    g = out.geometry.to_numpy()
    g[flip] = shapely.reverse(g[flip])
    out = gpd.GeoDataFrame(out.drop(columns="geometry"), geometry=list(g), crs=crs)
    out["length"] = out.length
    out = out.sort_values(["u", "v"], kind="stable").reset_index(drop=True)
    nodes = nodes[["x", "y", "geometry"]].sort_index()
    nodes.index.name = "node"
    return nodes, out[["u", "v", "length", "highway", "name", "geometry"]]


def _frame_ways(lines: gpd.GeoDataFrame) -> list:
    """Ways of a line frame keyed by the documented rule: node_refs ids; a vertex without one (no usable list, a null
    entry) by its millimetre coordinates — the lowest id of a vertex with an id at that place, if any."""
    import json

    rows = []
    first_id: dict = {}  # millimetre point -> the lowest id of a vertex with an id there
    for row in lines.itertuples(index=False):
        c = np.asarray(row.geometry.coords)[:, :2]
        points = [(round(px, 3), round(py, 3)) for px, py in c]
        refs = getattr(row, "node_refs", None)
        ids = json.loads(refs) if isinstance(refs, str) else None
        if ids is None or len(ids) != len(c):
            ids = [None] * len(c)
        for point, i in zip(points, ids, strict=True):
            if i is not None:
                first_id[point] = min(first_id.get(point, i), i)
        rows.append((points, ids, c, row))
    ways = []
    for points, ids, c, row in rows:
        keys = [i if i is not None else first_id.get(p, p) for p, i in zip(points, ids, strict=True)]
        ways.append((keys, c[:, 0], c[:, 1], str(row.highway), str(row.name)))
    return ways


def _assert_same(net, nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame) -> None:
    pd.testing.assert_frame_equal(net.nodes, nodes)
    pd.testing.assert_frame_equal(net.edges, edges)
    assert shapely.equals_exact(net.edges.geometry.to_numpy(), edges.geometry.to_numpy(), tolerance=0).all()


# ---- generated networks with every awkward case ------------------------------------------------------------------


def _awkward_lines(seed: int, *, refs: bool) -> gpd.GeoDataFrame:
    """Random ways on a jittered 6 × 6 lattice: walks that turn back and revisit nodes, rings (alone, touching the
    network once or twice), repeated vertices, duplicated ways (same or reversed direction), and — with node ids —
    distinct nodes on one point and lines without ids."""
    rng = np.random.default_rng(seed)
    side = 6
    xy = np.stack(np.meshgrid(np.arange(side) * 100.0, np.arange(side) * 100.0), -1).reshape(-1, 2)
    xy = xy + rng.uniform(-20, 20, xy.shape) + np.array([500_000.0, 3_500_000.0])
    ids = np.arange(len(xy)) + 1000
    if refs:  # a few nodes that share another node's point under a different id
        twins = rng.choice(len(xy), 4, replace=False)
        xy = np.vstack([xy, xy[twins]])
        ids = np.r_[ids, np.arange(len(twins)) + 9000]

    def neighbours(i: int) -> list[int]:
        r, c = divmod(i % (side * side), side)
        out = [(r + dr) * side + (c + dc) for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)) if 0 <= r + dr < side and 0 <= c + dc < side]
        if refs and i < side * side:
            out += [side * side + k for k, t in enumerate(twins) if t in out]
        return out

    seqs: list[list[int]] = []
    for _ in range(int(rng.integers(6, 14))):
        kind = rng.random()
        start = int(rng.integers(side * side))
        if kind < 0.15:  # a ring around one block
            r, c = divmod(int(rng.integers((side - 1) * (side - 1))), side - 1)
            a = r * side + c
            seqs.append([a, a + 1, a + side + 1, a + side, a])
        elif kind < 0.25 and seqs:  # a duplicate of an earlier way, maybe reversed
            old = seqs[int(rng.integers(len(seqs)))]
            seqs.append(old[::-1] if rng.random() < 0.5 else list(old))
        elif kind < 0.3:  # a way on one point only (an isolated node, or nothing new)
            seqs.append([start, start])
        else:  # a random walk, which may turn back, revisit nodes and repeat a vertex
            seq = [start]
            for _ in range(int(rng.integers(1, 8))):
                if rng.random() < 0.1:
                    seq.append(seq[-1])
                else:
                    seq.append(int(rng.choice(neighbours(seq[-1]))))
            if rng.random() < 0.15:
                seq.append(seq[0])
            seqs.append(seq)
    rows = []
    for k, seq in enumerate(seqs):
        row = {
            "highway": ["footway", "residential", "service", "path"][k % 4],
            "name": "" if k % 3 == 0 else f"路{k % 5}",
            "geometry": shapely.LineString(xy[seq]) if len(seq) > 1 else None,
        }
        if refs:
            row["node_refs"] = None if k % 7 == 3 else "[" + ",".join(str(int(ids[i])) for i in seq) + "]"
        rows.append(row)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC)


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("refs", [False, True], ids=["shared-vertices", "node-ids"])
def test_generated_networks_match_osmnx(seed, refs):
    lines = _awkward_lines(seed, refs=refs)
    net = network_from_lines(lines)
    nodes, edges = _oracle(_frame_ways(lines), lines.crs)
    _assert_same(net, nodes, edges)
    # the arrays agree with the frames
    st = net.streets
    assert st.n_edges == len(edges) and st.n_nodes == len(nodes)
    np.testing.assert_array_equal(net.node_ids[st.u], edges["u"].to_numpy())
    np.testing.assert_array_equal(st.coords, shapely.get_coordinates(edges.geometry.to_numpy()))


def test_generated_cases_include_the_awkward_ones():
    """The generator does produce self-loops, parallel edges, interior vertices and rings without junctions."""
    loops = parallel = merged = 0
    for seed in range(60):
        for refs in (False, True):
            e = network_from_lines(_awkward_lines(seed, refs=refs)).edges
            loops += int((e["u"] == e["v"]).sum())
            parallel += int(e.duplicated(["u", "v"]).sum())
            merged += int((shapely.get_num_coordinates(e.geometry.to_numpy()) > 2).sum())
    assert loops > 5 and parallel > 20 and merged > 50


# ---- by hand ----------------------------------------------------------------------------------------------------


def _lines(*coords_lists, names=None) -> gpd.GeoDataFrame:
    geoms = [shapely.LineString(np.asarray(c, dtype=float) * 10.0 + [500_000.0, 3_500_000.0]) for c in coords_lists]
    names = names or [f"路{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"highway": "residential", "name": names}, geometry=geoms, crs=METRIC)


def test_bend_is_one_edge():
    """(0,0) → (1,0) → (1,1) in one way: the bend is an interior vertex; one edge, 20 m, three vertices."""
    net = network_from_lines(_lines([(0, 0), (1, 0), (1, 1)]))
    assert (net.n_nodes, net.n_edges) == (2, 1)
    assert net.streets.length[0] == pytest.approx(20.0)
    assert len(net.streets.coords) == 3


def test_ways_meeting_end_to_end_keep_their_joint():
    """Two ways in a straight line: the node where they meet stays (the ways differ)."""
    net = network_from_lines(_lines([(0, 0), (1, 0)], [(1, 0), (2, 0)]))
    assert (net.n_nodes, net.n_edges) == (3, 2)


def test_t_junction():
    """A way crossing the middle vertex of another: 4 nodes, 3 edges of 10 m."""
    net = network_from_lines(_lines([(0, 0), (1, 0), (2, 0)], [(1, 0), (1, 1)]))
    assert (net.n_nodes, net.n_edges) == (4, 3)
    np.testing.assert_allclose(net.streets.length, 10.0)


def test_lone_ring_keeps_its_vertices():
    """A closed way touching nothing has no junction: osmnx (remove_rings=False) leaves its 4 segments."""
    net = network_from_lines(_lines([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]))
    assert (net.n_nodes, net.n_edges) == (4, 4)
    assert net.total_length_km == pytest.approx(0.04)


def test_ring_on_a_stem_is_a_self_loop():
    """A stem (0,-1)–(0,0) and a ring from (0,0): the ring becomes one self-loop of 40 m at (0,0)."""
    net = network_from_lines(_lines([(0, -1), (0, 0)], [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]))
    e = net.edges
    assert (net.n_nodes, net.n_edges) == (2, 2)
    loop = e[e["u"] == e["v"]]
    assert len(loop) == 1 and loop["length"].iloc[0] == pytest.approx(40.0)


def test_repeated_segment_once_parallel_ways_twice():
    """A way that goes there and back gives its segment once; two ways along one segment give two edges."""
    assert network_from_lines(_lines([(0, 0), (1, 0), (0, 0)])).n_edges == 1
    net = network_from_lines(_lines([(0, 0), (1, 0)], [(1, 0), (0, 0)], names=["甲", "乙"]))
    assert net.n_edges == 2 and sorted(net.edges["name"]) == ["乙", "甲"]


def test_zero_length_vertex_and_isolated_point():
    """A repeated vertex adds no edge; a line on one point only leaves an isolated node (a component)."""
    net = network_from_lines(_lines([(0, 0), (1, 0), (1, 0), (2, 0)], [(5, 5), (5, 5)]))
    assert (net.n_nodes, net.n_edges) == (3, 1)
    assert net.n_components() == 2
    g = net.to_networkx()
    assert nx.number_connected_components(g) == 2


def test_no_walkable_lines_is_a_clear_error():
    lines = _lines([(0, 0), (1, 0)])
    lines["highway"] = "motorway"
    with pytest.raises(NetworkError, match="no walkable lines"):
        network_from_lines(lines, exclude_highway=("motorway",))


def test_frames_are_built_only_when_asked():
    net = network_from_lines(_lines([(0, 0), (1, 0), (2, 0)], [(1, 0), (1, 1)]))
    assert net.n_nodes == 4 and net.summary() and net.total_length_km > 0 and net.n_components() == 1
    net.edge_attrs  # noqa: B018 - no frames needed
    net.to_networkx()
    assert "nodes" not in net.__dict__ and "edges" not in net.__dict__
    assert len(net.edges) == 3 and "edges" in net.__dict__


# ---- the real extracts ------------------------------------------------------------------------------------------

EXTRACTS = {
    "longgang": "shenzhen_longgang_osm2019/longgang_osm_2019.osm.pbf",
    "haidian": "beijing_haidian_cau_osm2026/haidian_cau_osm_2026.osm.pbf",
    "nantong": "nantong_chongchuan_osm/nantong_south.osm.pbf",
    "shanghai": "shanghai_central_osmnx_drive2026/shanghai_central_osmnx_drive_2026.osm.pbf",
}


@pytest.mark.parametrize("name", sorted(EXTRACTS))
def test_real_extracts_match_osmnx(name):
    from planner.io.osm import read_osm
    from planner.io.projection import choose_metric_crs
    from planner.settings import NetworkSpec

    path = DATA / EXTRACTS[name]
    if not path.exists():
        pytest.skip(f"{path} not found")
    spec = NetworkSpec(path=path, kind="osm")
    extract = read_osm(path)
    hw = extract.ways
    crs = choose_metric_crs(float(np.mean(hw.lon)), float(np.mean(hw.lat)))
    net = build_network(spec, crs, osm=extract)
    # the oracle's ways: the walkable highway ways, one by one, as the old reader handed them over
    to_metric = Transformer.from_crs("EPSG:4326", CRS.from_user_input(crs), always_xy=True)
    from planner.network.build import _walkable  # the walk rule is not under test here

    keep = _walkable(hw.tags, spec.exclude_highway, len(hw))
    ways = []
    for w in np.flatnonzero(keep):
        s = slice(hw.offsets[w], hw.offsets[w + 1])
        x, y = to_metric.transform(hw.lon[s], hw.lat[s])
        ways.append((hw.refs[s].tolist(), x, y, hw.tags["highway"][w], hw.tags["name"][w]))
    nodes, edges = _oracle(ways, crs)
    _assert_same(net, nodes, edges)
