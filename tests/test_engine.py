"""The reach engine: random graphs against a networkx oracle (hypothesis), catchments, gates, components, thresholds."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra

from planner.analysis.coverage import compute_coverage
from planner.engine.reach import build_reach_graph, catchments, nearest_distance, node_distances
from planner.network.build import network_from_lines
from planner.network.points import snap_geometries
from planner.schema import count as count_column

CRS = "EPSG:4549"
X0, Y0 = 500_000.0, 3_500_000.0


def _net(segments: list[tuple[tuple[float, float], tuple[float, float]]]):
    lines = gpd.GeoDataFrame(
        {"highway": ["footway"] * len(segments)},
        geometry=[shapely.LineString([(X0 + a[0], Y0 + a[1]), (X0 + b[0], Y0 + b[1])]) for a, b in segments],
        crs=CRS,
    )
    return network_from_lines(lines)


def _oracle(net, snapped, i: int, j: int) -> float:
    """Walking distance between snapped points i and j, from networkx on the plain network (no split graph)."""
    if not (snapped.reachable[i] and snapped.reachable[j]):
        return np.inf
    g = net.to_networkx()
    e = net.edges

    def legs(k):
        row = e.iloc[snapped.edge[k]]
        return [(row["u"], snapped.access[k] + snapped.offset[k]), (row["v"], snapped.access[k] + row["length"] - snapped.offset[k])]

    best = np.inf
    if snapped.edge[i] == snapped.edge[j]:
        best = snapped.access[i] + abs(snapped.offset[i] - snapped.offset[j]) + snapped.access[j]
    for (a, la), (b, lb) in itertools.product(legs(i), legs(j)):
        try:
            best = min(best, la + nx.shortest_path_length(g, a, b, weight="length") + lb)
        except nx.NetworkXNoPath:
            continue
    return best


@st.composite
def worlds(draw):
    """A random small network (possibly disconnected) on integer coordinates and random points around it."""
    n = draw(st.integers(3, 9))
    coords = draw(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=n, max_size=n, unique=True))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=2, max_size=14))
    segs = [(tuple(v * 50.0 for v in coords[a]), tuple(v * 50.0 for v in coords[b])) for a, b in pairs if a != b]
    if not segs:
        segs = [((0.0, 0.0), (100.0, 0.0))]
    pts = draw(st.lists(st.tuples(st.floats(-50, 650), st.floats(-50, 650)), min_size=2, max_size=10))
    return segs, pts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.floats(50, 800))
def test_random_graphs_match_networkx(world, limit):
    """Nearest distances and catchment pairs equal the networkx oracle on random (also disconnected, crossing) networks."""
    segs, pts = world
    net = _net(segs)
    points = np.array([shapely.Point(X0 + x, Y0 + y) for x, y in pts])
    snapped = snap_geometries(net, points, max_snap_m=120)
    graph = build_reach_graph(net, snapped)
    k = max(1, len(points) // 3)
    sources, targets = np.arange(k), np.arange(k, len(points))
    expect = np.array([[_oracle(net, snapped, s, t) for t in targets] for s in sources]).reshape(len(sources), len(targets))
    dist, near = nearest_distance(graph, sources, targets)
    np.testing.assert_allclose(dist, expect.min(axis=0) if len(targets) else dist, atol=1e-6)
    src, tgt, d = catchments(graph, sources, targets, limit=limit)
    got = {(int(a), int(b)): float(c) for a, b, c in zip(src, tgt, d, strict=True)}
    want = {(s, int(t - k)): expect[s, t - k] for s in range(k) for t in targets if expect[s, t - k] <= limit - 1e-6}
    assert set(want) <= set(got)
    for key, value in got.items():
        assert value <= limit and value == pytest.approx(expect[key[0], key[1]], abs=1e-6)


def test_catchments_equal_dense_scipy_rows():
    """On a 60×60 perturbed grid, the bounded per-source searches give exactly the pairs of scipy's full rows."""
    rng = np.random.default_rng(3)
    n = 60
    xy = {(i, j): (i * 100 + rng.uniform(-20, 20), j * 100 + rng.uniform(-20, 20)) for i in range(n) for j in range(n)}
    segs = [(xy[(i, j)], xy[(i + 1, j)]) for i in range(n - 1) for j in range(n)] + [(xy[(i, j)], xy[(i, j + 1)]) for i in range(n) for j in range(n - 1)]
    net = _net(segs)
    pts = np.array([shapely.Point(X0 + x, Y0 + y) for x, y in rng.uniform(0, (n - 1) * 100, size=(600, 2))])
    snapped = snap_geometries(net, pts, max_snap_m=300)
    graph = build_reach_graph(net, snapped)
    sources, targets = np.arange(40), np.arange(40, 600)
    src, tgt, d = catchments(graph, sources, targets, limit=1000.0)
    dense = dijkstra(graph.csr, indices=graph.point_node[sources], limit=1000.0)[:, graph.point_node[targets]]
    ii, jj = np.nonzero(np.isfinite(dense))
    assert len(ii) == len(src) > 1000
    np.testing.assert_array_equal(np.c_[ii, jj], np.c_[src, tgt])
    np.testing.assert_allclose(dense[ii, jj], d, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("length", "inside"), [(999.99998, True), (1000.0, True), (1000.00002, False)])
def test_threshold_in_float64(length, inside):
    """Exactly at the limit counts; 2e-5 m beyond does not (float32 would round all three to 1000)."""
    assert np.float32(length) == np.float32(1000.0)
    net = _net([((0.0, 0.0), (length, 0.0))])
    snapped = snap_geometries(net, np.array([shapely.Point(X0, Y0), shapely.Point(X0 + length, Y0)]), max_snap_m=1)
    graph = build_reach_graph(net, snapped)
    src, tgt, d = catchments(graph, np.array([0]), np.array([1]), limit=1000.0)
    assert (len(src) == 1) is inside


def test_gates_on_different_components():
    """A compound with two gates on two separate networks reaches a facility through the gate on its network."""
    net = _net([((0.0, 0.0), (300.0, 0.0)), ((0.0, 500.0), (300.0, 500.0))])
    # gates: one on each street; facility only on the northern street
    pts = np.array([shapely.Point(X0 + 10, Y0 + 5), shapely.Point(X0 + 10, Y0 + 495), shapely.Point(X0 + 250, Y0 + 510)])
    snapped = snap_geometries(net, pts, max_snap_m=50)
    graph = build_reach_graph(net, snapped)
    facilities = pd.DataFrame({"id": ["F"], "name": ["F"], "category": ["shop"]})
    cov = compute_coverage(graph, np.array([0, 1]), np.array([0, 0]), pd.Index(["C"]), np.array([2]), facilities, ["shop"],
                           thresholds_min=[5, 15], speed_m_per_min=60.0)
    # through the northern gate: 5 + 240 + 10 = 255 m; the southern gate has no path at all
    assert cov.table.loc["C", "dist_m__shop"] == pytest.approx(255.0)
    assert cov.table.loc["C", count_column("shop", 5)] == 1  # 255 <= 300
    assert list(cov.catchments["dist_m"]) == pytest.approx([255.0])
    # the southern gate alone: unreachable on foot
    alone = compute_coverage(graph, np.array([0]), np.array([0]), pd.Index(["C"]), np.array([2]), facilities, ["shop"],
                             thresholds_min=[15], speed_m_per_min=60.0)
    assert np.isinf(alone.table.loc["C", "dist_m__shop"]) and alone.table.loc["C", count_column("shop", 15)] == 0


def test_counts_follow_thresholds():
    """Counts per threshold are the catchment pairs within that threshold (three shops at 100, 250, 400 m)."""
    net = _net([((0.0, 0.0), (1000.0, 0.0))])
    pts = np.array([shapely.Point(X0, Y0)] + [shapely.Point(X0 + d, Y0) for d in (100, 250, 400)])
    snapped = snap_geometries(net, pts, max_snap_m=1)
    graph = build_reach_graph(net, snapped)
    facilities = pd.DataFrame({"id": list("abc"), "name": list("abc"), "category": ["shop"] * 3})
    cov = compute_coverage(graph, np.array([0]), np.array([0]), pd.Index(["C"]), np.array([1, 2, 3]), facilities, ["shop"],
                           thresholds_min=[2, 5, 10], speed_m_per_min=50.0)
    assert [cov.table.loc["C", count_column("shop", t)] for t in (2, 5, 10)] == [1, 2, 3]
    assert list(cov.catchments.sort_values("dist_m")["facility_id"]) == ["a", "b", "c"]


def test_node_distances_bounded():
    """Display distances stop at the limit."""
    net = _net([((0.0, 0.0), (1000.0, 0.0))])
    snapped = snap_geometries(net, np.array([shapely.Point(X0, Y0)]), max_snap_m=1)
    graph = build_reach_graph(net, snapped)
    d = node_distances(graph, np.array([0]), limit=500.0)
    assert np.isfinite(d).sum() == 2 and np.nanmax(d[np.isfinite(d)]) == 0.0  # the end node and the leaf; the far end is 1000 m


def test_oneway_tags_do_not_apply_to_walking(tmp_path: Path):
    """An OSM one-way street is walked both ways: the distance is the same in both directions."""
    from planner.network.build import build_network
    from planner.settings import NetworkSpec

    osm = tmp_path / "oneway.osm"
    osm.write_text(textwrap.dedent("""\
        <?xml version='1.0' encoding='UTF-8'?>
        <osm version="0.6" generator="test">
          <node id="1" version="1" lat="32.0000" lon="120.9000"/>
          <node id="2" version="1" lat="32.0000" lon="120.9050"/>
          <node id="3" version="1" lat="32.0040" lon="120.9050"/>
          <way id="10" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/><tag k="oneway" v="yes"/></way>
          <way id="11" version="1"><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/><tag k="oneway" v="-1"/></way>
        </osm>
        """), encoding="utf-8")
    net = build_network(NetworkSpec(path=osm, kind="osm"), gpd.GeoSeries([shapely.Point(120.9, 32.0)], crs=4326).to_crs(4549).crs)
    nodes = net.nodes.to_crs(4326)
    a = shapely.Point(120.9, 32.0)
    b = shapely.Point(120.905, 32.004)
    pts = gpd.GeoSeries([a, b], crs=4326).to_crs(net.crs).to_numpy()
    snapped = snap_geometries(net, pts, max_snap_m=5)
    graph = build_reach_graph(net, snapped)
    ab, _ = nearest_distance(graph, np.array([0]), np.array([1]))
    ba, _ = nearest_distance(graph, np.array([1]), np.array([0]))
    assert np.isfinite(ab[0]) and ab[0] == pytest.approx(ba[0]) and ab[0] == pytest.approx(net.edges["length"].sum())
    assert len(nodes) == 3


def test_multipoint_compounds_are_gates():
    """A MultiPoint compound contributes one gate per point; other geometries one gate inside them."""
    from planner.pipeline import compound_gates

    geoms = gpd.GeoSeries([shapely.MultiPoint([(0, 0), (10, 0), (20, 0)]), shapely.box(0, 0, 10, 10), shapely.Point(5, 5)], crs=CRS)
    gates, owner = compound_gates(geoms)
    assert list(owner) == [0, 0, 0, 1, 2]
    assert shapely.box(0, 0, 10, 10).contains(gates[3])
