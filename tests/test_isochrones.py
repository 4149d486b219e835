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
