"""The report's static maps draw the walk network from its arrays: one simplified polyline per road class."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from planner.engine.streets import StreetArrays
from planner.outputs import charts

NAN = [np.nan, np.nan]


def _streets(polylines: list[list[tuple[float, float]]]) -> StreetArrays:
    coords = np.array([p for line in polylines for p in line], dtype=float)
    offsets = np.r_[0, np.cumsum([len(line) for line in polylines])].astype(np.int64)
    n = len(polylines)
    length = np.array([np.hypot(*np.diff(np.asarray(line), axis=0).T).sum() for line in polylines])
    return StreetArrays(coords[offsets[:-1], 0], coords[offsets[:-1], 1], np.arange(n), np.arange(n), length, coords, offsets)


#   edge 0: (0,0) · · (10,0)   two inner vertices in the first 1 m cell are dropped
#   edge 1: a 0.5 m stub inside one cell: not drawn
#   edge 2: (0,3) (2.5,3) (3.2,3.1): every vertex in a new cell, all kept
LINES = [[(0, 0), (0.2, 0), (0.4, 0.1), (10, 0)], [(5.1, 5.1), (5.6, 5.6)], [(0, 3), (2.5, 3), (3.2, 3.1)]]


def test_polyline_drops_vertices_within_a_pixel_and_separates_edges_by_nan() -> None:
    line = charts._street_polyline(_streets(LINES), np.ones(3, dtype=bool), px=1.0)
    expected = np.array([[0, 0], [10, 0], NAN, [0, 3], [2.5, 3], [3.2, 3.1]])
    np.testing.assert_array_equal(line, expected)


def test_polyline_of_chosen_edges_only() -> None:
    line = charts._street_polyline(_streets(LINES), np.array([False, True, True]), px=0.1)
    np.testing.assert_array_equal(line, np.array([[5.1, 5.1], [5.6, 5.6], NAN, [0, 3], [2.5, 3], [3.2, 3.1]]))


def test_network_is_one_collection_per_class() -> None:
    net = SimpleNamespace(streets=_streets(LINES), n_edges=3, edge_attrs=pd.DataFrame({"highway": ["primary", "residential", None]}))
    ax = Figure().add_subplot()
    charts._network(ax, net, px=0.25)  # 16 px of minor streets in a 40 × 12 px box: not city scale
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines) == 2  # minor, then major
    minor, major = ([p.vertices for p in c.get_paths()] for c in lines)
    assert len(minor) == len(major) == 1  # each class is one polyline
    np.testing.assert_array_equal(major[0], [[0, 0], [0.4, 0.1], [10, 0]])  # (0.2, 0) shares the first pixel
    np.testing.assert_array_equal(minor[0], [[5.1, 5.1], [5.6, 5.6], NAN, [0, 3], [2.5, 3], [3.2, 3.1]])
    assert lines[0].get_linewidths()[0] == 0.5


def test_city_scale_draws_the_major_roads_only() -> None:
    """Minor streets that would fill the network's box with grey are left out (as printed maps generalise) when there
    are major roads; without any, they are drawn thinner."""
    # five 4 m minor streets across a 4 × 4 m box, one major diagonal
    grid = [[(0.0, y), (4.0, y)] for y in (0, 1, 2, 3, 4)] + [[(0.0, 0.0), (4.0, 4.0)]]
    kinds = ["residential"] * 5 + ["primary"]
    net = SimpleNamespace(streets=_streets(grid), n_edges=6, edge_attrs=pd.DataFrame({"highway": kinds}))
    ax = Figure().add_subplot()
    charts._network(ax, net, px=0.25)  # 80 px of minor streets in a 16 × 16 px box: 0.31, drawn
    assert [len(c.get_paths()[0].vertices) for c in ax.collections] == [5 * 3 - 1, 2]
    ax = Figure().add_subplot()
    charts._network(ax, net, px=1.0)  # 20 px in a 4 × 4 px box: 1.25, city scale
    (major,) = ax.collections
    np.testing.assert_array_equal(major.get_paths()[0].vertices, [[0, 0], [4, 4]])
    minor_only = SimpleNamespace(streets=_streets(grid[:5]), n_edges=5, edge_attrs=pd.DataFrame({"highway": kinds[:5]}))
    ax = Figure().add_subplot()
    charts._network(ax, minor_only, px=1.0)
    (minor,) = ax.collections
    assert minor.get_linewidths()[0] < 0.5
