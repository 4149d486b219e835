"""The network of a partition equals the whole network where it matters (issue #16).

A worker builds its network from :meth:`Ways.select` of the province's ways: the ways of its region, whole, and
their 1-ring. Every edge of the whole network inside the region must come out with the same coordinates, length,
highway, name and direction, in the same relative order, between nodes in the same relative order (snapping breaks
ties by the lowest edge position, Dijkstra by the node number). Checked on a generated city (roads.gpkg: nodes keyed
by coordinates; roads.osm.pbf: OSM node ids), on random ways full of chains, rings and duplicates, and by hand.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import shapely
from _cities import generate_city
from pyproj import CRS

from planner.engine.pieces import street_pieces
from planner.engine.streets import StreetArrays
from planner.errors import NetworkError
from planner.io.projection import choose_metric_crs
from planner.network.build import WalkNetwork, Ways, build_network, hull_corners, network_bounds_wgs84, read_ways
from planner.scenario import load_scenario
from planner.settings import NetworkSpec

METRIC = CRS.from_user_input("EPSG:4549")
X0, Y0 = 500_000.0, 3_500_000.0


def _assert_region_matches(full: WalkNetwork, part: WalkNetwork, box: shapely.Geometry, *, touching: bool = False) -> int:
    """Every edge of ``full`` lying within ``box`` (``touching``: intersecting it) is in ``part`` alike, in the same
    relative order, between nodes in the same relative order; the number of such edges."""
    test = shapely.intersects if touching else shapely.within
    inside = np.flatnonzero(test(full.edge_geometries(), box))
    assert len(inside) > 0

    def keyed(net: WalkNetwork, edges: np.ndarray) -> dict[tuple, list[int]]:
        st = net.streets
        out: dict[tuple, list[int]] = {}
        for e in edges.tolist():
            coords = st.coords[st.offsets[e]:st.offsets[e + 1]]
            out.setdefault((coords.tobytes(), str(net.highway[e]), str(net.name[e])), []).append(e)
        return out

    f_keys = keyed(full, inside)
    p_keys = keyed(part, np.arange(part.n_edges))
    match = np.empty(len(inside), dtype=np.int64)
    where = {e: i for i, e in enumerate(inside.tolist())}
    for k, f_edges in f_keys.items():
        p_edges = p_keys.get(k, [])
        assert len(p_edges) == len(f_edges), "an edge inside the region is missing or doubled"
        for fe, pe in zip(f_edges, p_edges, strict=True):
            match[where[fe]] = pe
    fs, ps = full.streets, part.streets
    # the same polyline (hence direction), length, highway and name
    np.testing.assert_array_equal(ps.length[match], fs.length[inside])
    np.testing.assert_array_equal(part.highway[match], full.highway[inside])
    np.testing.assert_array_equal(part.name[match], full.name[inside])
    # the same relative order of edges
    assert (np.diff(match) > 0).all()
    # end nodes: at the same places, one part node per full node, in the same relative order
    f_nodes = np.concatenate([fs.u[inside], fs.v[inside]])
    p_nodes = np.concatenate([ps.u[match], ps.v[match]])
    np.testing.assert_array_equal(ps.node_x[p_nodes], fs.node_x[f_nodes])
    np.testing.assert_array_equal(ps.node_y[p_nodes], fs.node_y[f_nodes])
    f_uniq, first = np.unique(f_nodes, return_index=True)
    p_of = p_nodes[first]
    assert len(np.unique(p_nodes)) == len(f_uniq)
    assert (np.diff(p_of) > 0).all()
    assert (p_of[np.searchsorted(f_uniq, f_nodes)] == p_nodes).all()
    return len(inside)


# ---- a generated city -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("city")
    generate_city(120, folder, pbf=True)
    return folder


@pytest.mark.parametrize("toml", ["city.toml", "city_osm.toml"], ids=["roads.gpkg", "osm.pbf"])
def test_region_network_equals_the_city_network_inside(city: Path, toml: str):
    spec = load_scenario(city / toml).network
    minx, miny, maxx, maxy = network_bounds_wgs84(spec)
    crs = choose_metric_crs((minx + maxx) / 2, (miny + maxy) / 2)
    ways = read_ways(spec, crs)
    full = build_network(spec, crs, ways=ways)
    x0, x1, y0, y1 = ways.x.min(), ways.x.max(), ways.y.min(), ways.y.max()
    w, h = (x1 - x0) / 3, (y1 - y0) / 3
    box = shapely.box(x0 + w, y0 + h, x1 - w, y1 - h)  # the middle third
    part_ways = ways.select(box.buffer(300))
    assert len(ways) / 20 < len(part_ways) < len(ways) / 5  # really a part
    part = build_network(spec, crs, ways=part_ways)
    assert part.n_nodes < full.n_nodes / 5
    assert _assert_region_matches(full, part, box) > 0.05 * full.n_edges
    # the same hull from the same ways; a part's is smaller
    np.testing.assert_array_equal(full.hull_xy, ways.hull_xy())
    assert shapely.Polygon(part.hull_xy).area < shapely.Polygon(full.hull_xy).area / 5


# ---- random ways: chains, rings, duplicates, parallel edges -----------------------------------------------------


def _random_ways(seed: int, side: int = 30) -> Ways:
    """Random walks on a jittered ``side × side`` lattice keyed by shuffled node ids (as OSM ids): long ways whose
    interior vertices make chains, walks that turn back or revisit, rings, duplicated (maybe reversed) ways."""
    rng = np.random.default_rng(seed)
    xy = np.stack(np.meshgrid(np.arange(side) * 50.0, np.arange(side) * 50.0), -1).reshape(-1, 2)
    xy = xy + rng.uniform(-10, 10, xy.shape) + [X0, Y0]
    ids = rng.permutation(len(xy)) * 7 + 10_000  # ids in no spatial order
    seqs: list[list[int]] = []
    for _ in range(side * side // 3):
        kind = rng.random()
        if kind < 0.1:
            r, c = rng.integers(side - 1, size=2)
            a = int(r * side + c)
            seqs.append([a, a + 1, a + side + 1, a + side, a])
        elif kind < 0.2 and seqs:
            old = seqs[int(rng.integers(len(seqs)))]
            seqs.append(old[::-1] if rng.random() < 0.5 else list(old))
        else:
            seq = [int(rng.integers(side * side))]
            for _ in range(int(rng.integers(1, 25))):
                r, c = divmod(seq[-1], side)
                steps = [(r + dr) * side + c + dc for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0))
                         if 0 <= r + dr < side and 0 <= c + dc < side]
                seq.append(int(rng.choice(steps)))
            seqs.append(seq)
    verts = np.concatenate(seqs)
    return Ways(
        key=ids[verts].astype(np.int64), x=xy[verts, 0], y=xy[verts, 1],
        offsets=np.r_[0, np.cumsum([len(s) for s in seqs])].astype(np.int64),
        highway=np.array(["footway", "residential", "service"] * len(seqs), dtype=object)[: len(seqs)],
        name=np.array([f"路{k % 7}" for k in range(len(seqs))], dtype=object),
    )


@pytest.mark.parametrize("seed", range(8))
def test_region_network_of_random_ways(seed: int):
    ways = _random_ways(seed)
    spec = NetworkSpec(path=Path("nowhere.gpkg"), kind="lines")  # with ways given no file is read
    full = build_network(spec, METRIC, ways=ways)
    merged = np.diff(full.streets.offsets) > 2
    assert merged.sum() > 20  # chains through interior vertices
    box = shapely.box(X0 + 400, Y0 + 400, X0 + 1000, Y0 + 1000)
    part_ways = ways.select(box)
    assert len(part_ways) < len(ways)
    part = build_network(spec, METRIC, ways=part_ways)
    _assert_region_matches(full, part, box)
    # every edge touching the region is whole and alike, also where it leaves it (the 1-ring keeps its nodes' ways)
    _assert_region_matches(full, part, box, touching=True)
    # the node numbers follow the keys, not the order of the ways
    shuffled = build_network(spec, METRIC, ways=ways.take(np.random.default_rng(seed).permutation(len(ways))))
    np.testing.assert_array_equal(shuffled.streets.node_x, full.streets.node_x)
    np.testing.assert_array_equal(shuffled.streets.node_y, full.streets.node_y)


# ---- by hand ----------------------------------------------------------------------------------------------------


def _ways(*lines: list[tuple[float, float]], keys: list[list[int]] | None = None) -> Ways:
    """Ways through the given points (metres from (X0, Y0)); keys: node ids, or one per distinct point."""
    pts = np.concatenate([np.asarray(line, dtype=float) for line in lines])
    if keys is None:
        _, key = np.unique(pts, axis=0, return_inverse=True)
    else:
        key = np.concatenate(keys)
    return Ways(
        key=np.asarray(key, dtype=np.int64).ravel(), x=pts[:, 0] + X0, y=pts[:, 1] + Y0,
        offsets=np.r_[0, np.cumsum([len(line) for line in lines])].astype(np.int64),
        highway=np.full(len(lines), "residential", dtype=object), name=np.array([f"路{i}" for i in range(len(lines))], dtype=object),
    )


REGION = shapely.box(X0, Y0, X0 + 10, Y0 + 10)


def test_select_takes_a_way_crossing_the_region_without_a_vertex_in_it():
    ways = _ways([(-50, 5), (50, 5)], [(-50, 50), (50, 50)], [(-50, 20), (-20, -20)])
    assert ways.select(REGION).name.tolist() == ["路0"]


def test_select_adds_the_one_ring_only():
    """路0 has a vertex inside and ends at (30, 5) outside; 路1 starts there (1-ring); 路2 touches only 路1 (not taken);
    路3 passes (30, 5)'s place under another key (an OSM bridge: not taken)."""
    ways = _ways(
        [(5, 5), (30, 5)], [(30, 5), (60, 5)], [(60, 5), (90, 5)], [(30, 0), (30, 5), (30, 10)],
        keys=[[1, 2], [2, 3], [3, 4], [5, 6, 7]],
    )
    sub = ways.select(REGION)
    assert sub.name.tolist() == ["路0", "路1"]
    np.testing.assert_array_equal(sub.key, [1, 2, 2, 3])
    np.testing.assert_array_equal(sub.offsets, [0, 2, 4])


def test_select_keeps_order_source_and_whole_ways():
    ways = _ways([(100, 100), (200, 100)], [(-5, 5), (5, 5), (15, 5), (40, 40)], [(5, 8), (8, 8)])
    ways = Ways(ways.key, ways.x, ways.y, ways.offsets, ways.highway, ways.name, source={"kind": "lines"})
    sub = ways.select(REGION)
    assert sub.name.tolist() == ["路1", "路2"] and sub.source == {"kind": "lines"}
    np.testing.assert_array_equal(sub.x - X0, [-5, 5, 15, 40, 5, 8])
    assert len(ways.select(shapely.box(X0 + 500, Y0, X0 + 600, Y0 + 10))) == 0


def test_take_and_pickle():
    ways = _ways([(0, 0), (1, 0)], [(1, 0), (1, 1), (2, 2)], [(3, 3), (4, 4)])
    by_mask = ways.take(np.array([True, False, True]))
    by_pos = ways.take(np.array([0, 2]))
    for sub in (by_mask, by_pos):
        assert sub.name.tolist() == ["路0", "路2"]
        np.testing.assert_array_equal(sub.offsets, [0, 2, 4])
        np.testing.assert_array_equal(sub.x - X0, [0, 1, 3, 4])
    back = pickle.loads(pickle.dumps(ways))
    np.testing.assert_array_equal(back.key, ways.key) and np.testing.assert_array_equal(back.offsets, ways.offsets)


def test_hull_of_ways_with_segments():
    """The square's four corners; the interior way adds none; a way standing on one node far away does not count."""
    ways = _ways([(0, 0), (100, 0), (100, 100)], [(100, 100), (0, 100), (0, 0)], [(50, 50), (60, 40)],
                 [(900, 900), (900, 900)])
    corners = ways.hull_xy() - [X0, Y0]
    assert sorted(map(tuple, corners.tolist())) == [(0, 0), (0, 100), (100, 0), (100, 100)]
    # on one line: its two ends; one point: none of the ways has a segment
    line = _ways([(0, 0), (10, 10)], [(10, 10), (30, 30), (20, 20)])
    np.testing.assert_array_equal(line.hull_xy() - [X0, Y0], [[0, 0], [30, 30]])
    assert _ways([(5, 5), (5, 5)]).hull_xy().shape == (0, 2)


def test_hull_corners_of_many_points_equal_qhull():
    from scipy.spatial import ConvexHull

    xy = np.random.default_rng(3).normal(size=(20_000, 2)) * 1000
    assert set(map(tuple, hull_corners(xy).tolist())) == set(map(tuple, xy[ConvexHull(xy).vertices].tolist()))


def _two_pieces(short_m: float, long_m: float) -> StreetArrays:
    x = np.array([0.0, short_m, 0.0, long_m])
    y = np.array([0.0, 0.0, 1000.0, 1000.0])
    coords = np.column_stack([x, y])
    return StreetArrays(node_x=x, node_y=y, u=np.array([0, 2]), v=np.array([1, 3]), length=np.array([short_m, long_m]),
                        coords=coords, offsets=np.array([0, 2, 4]))


def test_largest_piece_of_the_whole_network_decides_the_one_percent():
    """A 300 m piece beside a 5 km one (min_piece_m 500): not small here (300 ≥ 1 % of 5 km) but small when the whole
    network's largest piece is 40 km (300 < 400); even a part's own largest piece may then be small."""
    st = _two_pieces(300.0, 5000.0)
    assert street_pieces(st, min_piece_m=500).small.tolist() == [False, False]
    assert street_pieces(st, min_piece_m=500, largest_m=40_000).small.tolist() == [False, True]
    assert street_pieces(st, min_piece_m=500, largest_m=1000).small.tolist() == [False, False]  # the larger counts
    alone = _two_pieces(300.0, 300.0)
    assert not street_pieces(alone, min_piece_m=500).small.any()
    assert street_pieces(alone, min_piece_m=500, largest_m=40_000).small.all()
    # through the network
    ways = _ways([(0, 0), (300, 0)], [(0, 1000), (5000, 1000)])
    spec = NetworkSpec(path=Path("nowhere.gpkg"), kind="lines", min_piece_m=500)
    assert build_network(spec, METRIC, ways=ways).pieces.n_small == 0
    net = build_network(spec, METRIC, ways=ways, largest_m=40_000)
    assert net.pieces.n_small == 1 and net.with_pieces(500).pieces.n_small == 0


def test_an_empty_part_is_a_clear_error():
    ways = _ways([(0, 0), (1, 0)])
    with pytest.raises(NetworkError, match="no walkable ways in this part"):
        build_network(NetworkSpec(path=Path("roads.gpkg"), kind="lines"), METRIC, ways=ways.select(shapely.box(0, 0, 1, 1)))
