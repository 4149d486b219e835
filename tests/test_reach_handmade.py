"""Walking distances on a hand-made network whose answers were worked out by hand.

The world (metres; every coordinate below is offset by (500 000, 3 500 000) in EPSG:4549)::

    D(0,100) ------ M(100,100) ---------------- C(300,100)
      |               |                              |
      |               |  spur M–H (70 m)             |  • S (310,50) shop, 10 m off B–C
      |               |                              |
      • T(0,50)       H(100,30)                      |
      |               • Q(100,35) market, on the spur
      |               · P(100,5) compound, 5 m above A–B
    A(0,0) ---------------------------------------- B(300,0)
                                   • R(250,-10) shop, 10 m below A–B

    U(150,600): a compound 500 m from every street (beyond max_snap_m = 300)

P's nearest *node* is H (25 m away), which is not an end of P's nearest *edge* A–B (5 m away):
a node-snapping tool would send P up the spur; planner must snap P onto A–B.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner.analysis.coverage import compute_coverage
from planner.engine.reach import build_reach_graph, nearest_distance
from planner.network.build import network_from_lines
from planner.network.points import snap_geometries
from planner.schema import dist_m as dist_column
from planner.schema import within as band_column

X0, Y0 = 500_000.0, 3_500_000.0
CRS = "EPSG:4549"


def _pt(x: float, y: float) -> shapely.Point:
    return shapely.Point(X0 + x, Y0 + y)


def _line(*xy: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in xy])


@pytest.fixture(scope="module")
def world():
    lines = gpd.GeoDataFrame(
        {"name": ["A-B", "B-C", "C-M-D", "D-A", "M-H"], "highway": ["residential"] * 5},
        geometry=[
            _line((0, 0), (300, 0)),
            _line((300, 0), (300, 100)),
            _line((300, 100), (100, 100), (0, 100)),
            _line((0, 100), (0, 0)),
            _line((100, 100), (100, 30)),
        ],
        crs=CRS,
    )
    net = network_from_lines(lines)
    points = {"P": _pt(100, 5), "T": _pt(0, 50), "U": _pt(150, 600), "Q": _pt(100, 35), "R": _pt(250, -10), "S": _pt(310, 50), "B": _pt(300, 0)}
    names = list(points)
    snapped = snap_geometries(net, np.array(list(points.values())), max_snap_m=300)
    graph = build_reach_graph(net, snapped)
    return net, names, snapped, graph


def test_network_topology(world):
    """Five lines become six nodes (M splits C–D where the spur joins) and six edges of the drawn lengths."""
    net, *_ = world
    assert len(net.nodes) == 6  # A, B, C, D, M, H
    assert sorted(np.round(net.edges["length"], 6)) == [70, 100, 100, 100, 200, 300]
    # every geometry runs from its u node to its v node
    first = shapely.get_point(net.edges.geometry.array, 0)
    ux = net.nodes.loc[net.edges["u"], "x"].to_numpy()
    assert np.allclose(shapely.get_x(first), ux)


def test_snaps_to_edge_not_nearest_node(world):
    """P joins A–B with a 5 m access leg at 100 m from A, although node H is nearer to it than A or B."""
    net, names, snapped, _ = world
    i = names.index("P")
    edge = net.edges.iloc[snapped.edge[i]]
    ends = {tuple(np.round(net.nodes.loc[n, ["x", "y"]].to_numpy() - [X0, Y0], 6)) for n in (edge["u"], edge["v"])}
    assert ends == {(0.0, 0.0), (300.0, 0.0)}
    assert snapped.access[i] == pytest.approx(5.0)
    along_from_a = snapped.offset[i] if tuple(net.nodes.loc[edge["u"], ["x", "y"]] - [X0, Y0]) == (0.0, 0.0) else edge["length"] - snapped.offset[i]
    assert along_from_a == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("target", "sources", "expected_m", "expected_nearest"),
    [
        # P → A (5 + 100) → D (100) → M (100) → down the spur to Q (65) = 370
        ("P", ["Q"], 370.0, "Q"),
        # same edge A–B: 5 + (250 − 100) + 10 = 165 beats P → B → S = 5 + 200 + 50 + 10 = 265
        ("P", ["R", "S"], 165.0, "R"),
        # T lies on D–A (access 0): T → D (50) → M (100) → Q (65) = 215
        ("T", ["Q"], 215.0, "Q"),
        # T → A (50) → R (250 + 10) = 310; to S it is 410 either way round
        ("T", ["R", "S"], 310.0, "R"),
        # a point exactly on node B: 50 along B–C + 10 access = 60
        ("B", ["S"], 60.0, "S"),
        # U is 500 m from every street: unreachable, never routed
        ("U", ["Q", "R", "S"], np.inf, None),
    ],
)
def test_hand_computed_distances(world, target, sources, expected_m, expected_nearest):
    """Distances equal the hand-worked sums: access + along-network + access, exactly."""
    _, names, _, graph = world
    src = np.array([names.index(s) for s in sources])
    dist, nearest = nearest_distance(graph, src, np.array([names.index(target)]))
    assert dist[0] == pytest.approx(expected_m, abs=1e-9) if np.isfinite(expected_m) else np.isinf(dist[0])
    assert (sources[nearest[0]] if nearest[0] >= 0 else None) == expected_nearest


def test_unreachable_is_reported_not_dropped(world):
    """U stays in the output with reachable = False and its true access distance (500 m)."""
    _, names, snapped, _ = world
    i = names.index("U")
    assert not snapped.reachable[i]
    assert snapped.access[i] == pytest.approx(500.0)
    assert snapped.reachable.sum() == len(names) - 1


def test_threshold_is_inclusive(world):
    """A facility exactly at the threshold distance counts as within it (165 m at 33 m/min × 5 min)."""
    _, names, _, graph = world
    facilities = pd.DataFrame({"id": ["R", "S", "Q"], "name": ["R", "S", "Q"], "category": ["shop", "shop", "market"]})
    fac_pts = np.array([names.index(n) for n in facilities["id"]])
    comp_pts = np.array([names.index("P"), names.index("T"), names.index("U")])
    cov = compute_coverage(
        graph, comp_pts, np.arange(3), pd.Index(["P", "T", "U"]), fac_pts, facilities, ["shop", "market"], thresholds_min=[5, 10], speed_m_per_min=33.0
    )
    t = cov.table
    assert t.loc["P", dist_column("shop")] == pytest.approx(165.0)
    assert bool(t.loc["P", band_column("shop", 5)])  # 165 <= 165
    assert not bool(t.loc["P", band_column("market", 5)])  # 370 > 165
    assert bool(t.loc["P", band_column("market", 10)]) is False  # 370 > 330
    assert bool(t.loc["T", band_column("market", 10)])  # 215 <= 330
    assert t.loc["P", "nearest_id__shop"] == "R"
    assert np.isinf(t.loc["U", dist_column("shop")]) and not bool(t.loc["U", band_column("shop", 10)])
    assert t.loc["T", "covered_10min"] == 2 and t.loc["P", "covered_10min"] == 1


def test_parallel_edges_and_self_loops_by_hand():
    """Nodes A (0,0) and B (60,0) joined twice: a bent street over (30,40), 100 m, listed first, and a straight one,
    60 m; B also has a self-loop down to y = -100. P (-5,0) and Q (65,0) sit 5 m beyond the ends (equally near to
    every street at that end: the lowest edge, the bent one, wins), R (30,45) 5 m off the bend's apex.
    By hand: P–Q = 5 + 60 + 5 = 70 (the straight street, not 110 along the bend); R–Q = 5 + 50 + 5 = 60 along the
    bend's second half; R–P likewise 60."""
    from scipy.sparse.csgraph import dijkstra

    from planner.engine.reach import build_reach_graph
    from planner.engine.streets import StreetArrays
    from planner.network.points import snap_geometries

    coords = np.array([[0, 0], [30, 40], [60, 0], [0, 0], [60, 0], [60, 0], [60, -100], [40, -100], [60, 0]], dtype=float)
    streets = StreetArrays(
        node_x=np.array([0.0, 60.0]), node_y=np.array([0.0, 0.0]),
        u=np.array([0, 0, 1]), v=np.array([1, 1, 1]),
        length=np.array([100.0, 60.0, 100.0 + 20.0 + np.hypot(20, 100)]),
        coords=coords, offsets=np.array([0, 3, 5, 9]),
    )
    snapped = snap_geometries(streets, np.array([[-5.0, 0.0], [65.0, 0.0], [30.0, 45.0]]), max_snap_m=50)
    assert snapped.edge.tolist() == [0, 0, 0] and snapped.offset.tolist() == [0.0, 100.0, 50.0]
    graph = build_reach_graph(streets, snapped)
    d = dijkstra(graph.csr, directed=True, indices=graph.point_node)
    nodes = graph.point_node
    assert d[0, nodes[1]] == pytest.approx(70.0)
    assert d[2, nodes[1]] == pytest.approx(60.0) and d[2, nodes[0]] == pytest.approx(60.0)
    assert (graph.csr.diagonal() == 0).all()  # no self-loop survives
