"""Display geometry: reached street pieces and isochrones follow the network."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from planner.analysis.isochrones import isochrone, reached_segments
from planner.engine.reach import build_reach_graph
from planner.network.build import network_from_lines
from planner.network.points import snap_geometries

X0, Y0 = 500_000.0, 3_500_000.0


def _world(segments, points):
    lines = gpd.GeoDataFrame(
        {"highway": ["footway"] * len(segments)},
        geometry=[shapely.LineString([(X0 + x, Y0 + y) for x, y in seg]) for seg in segments],
        crs="EPSG:4549",
    )
    net = network_from_lines(lines)
    snapped = snap_geometries(net, np.array([shapely.Point(X0 + x, Y0 + y) for x, y in points]), max_snap_m=100)
    return net, snapped, build_reach_graph(net, snapped)


def test_source_in_the_middle_of_a_long_street():
    """A facility 10 m off the middle of a 2 km street reaches 290 m either way within 300 m."""
    net, snapped, graph = _world([[(0, 0), (2000, 0)]], [(1000, 10)])
    seg = reached_segments(net, graph, snapped, np.array([0]), limit=300.0)
    assert len(seg) == 1
    assert seg.iloc[0]["from_m"] == pytest.approx(710.0) and seg.iloc[0]["to_m"] == pytest.approx(1290.0)
    assert seg.length.sum() == pytest.approx(580.0)


def test_reach_turns_corners_and_stops_at_the_river():
    """From a corner the reach runs along both streets; the street across the river (no bridge) stays dark."""
    # an L of streets, plus a parallel street 50 m away with no connection
    net, snapped, graph = _world([[(0, 0), (500, 0)], [(0, 0), (0, 500)], [(0, 550), (500, 550)]], [(0, 0)])
    seg = reached_segments(net, graph, snapped, np.array([0]), limit=200.0)
    assert seg.length.sum() == pytest.approx(400.0)
    area = isochrone(seg, buffer_m=30)
    assert area.contains(shapely.Point(X0 + 150, Y0 + 10))
    assert not area.intersects(shapely.Point(X0 + 100, Y0 + 550))  # across the water
    # a convex hull of the reached points would also cover the empty corner; the isochrone does not
    assert not area.contains(shapely.Point(X0 + 150, Y0 + 150))


def test_two_sources_overlap_merged():
    """Pieces reached from two sources on the same street are merged, not counted twice."""
    net, snapped, graph = _world([[(0, 0), (1000, 0)]], [(400, 0), (600, 0)])
    seg = reached_segments(net, graph, snapped, np.array([0, 1]), limit=150.0)
    assert len(seg) == 1 and seg.length.sum() == pytest.approx(500.0)


def _grid_pieces(n: int = 12, block: float = 100.0) -> np.ndarray:
    """Every street of an n × n grid of 100 m blocks as reached pieces."""
    lines = [shapely.LineString([(X0 + i * block, Y0 + j * block), (X0 + (i + 1) * block, Y0 + j * block)]) for i in range(n) for j in range(n + 1)]
    lines += [shapely.LineString([(X0 + i * block, Y0 + j * block), (X0 + i * block, Y0 + (j + 1) * block)]) for i in range(n + 1) for j in range(n)]
    # and a few dead ends (loose streets) inside blocks and outside the grid
    lines += [shapely.LineString([(X0 + 50, Y0), (X0 + 50, Y0 + 30)]), shapely.LineString([(X0, Y0), (X0 - 70, Y0 - 70)])]
    return np.array(lines, dtype=object)


def test_isochrone_by_faces_equals_the_union_of_buffers():
    """The faces construction gives the union of the 40 m buffers (oracle: shapely.union_all), holes included."""
    pieces = _grid_pieces()
    oracle = shapely.union_all(shapely.buffer(pieces, 40.0, quad_segs=4))
    area = isochrone(pieces, buffer_m=40.0)
    assert shapely.symmetric_difference(area, oracle).area < 1e-6 * oracle.area
    # a block's middle (50 m from every street) is a hole; next to the dead end inside block (0, 0) it is not
    assert not area.contains(shapely.Point(X0 + 150, Y0 + 150))
    assert area.contains(shapely.Point(X0 + 50, Y0 + 60))


def test_isochrone_on_a_grid_is_close_to_the_union_of_buffers():
    """Beyond ``exact_pieces`` the polygon comes from a distance field on a 20 m grid: within 3 % of the exact area,
    the same blocks' holes open (a 100 m block leaves a 20 m hole), the streets themselves always inside."""
    pieces = _grid_pieces()
    oracle = shapely.union_all(shapely.buffer(pieces, 40.0, quad_segs=4))
    area = isochrone(pieces, buffer_m=40.0, exact_pieces=0)
    assert area.is_valid
    assert shapely.symmetric_difference(area, oracle).area < 0.03 * oracle.area
    assert not area.contains(shapely.Point(X0 + 550, Y0 + 550))
    assert area.contains(shapely.MultiLineString(list(pieces)).buffer(30.0))
