"""Walk-network inputs that used to break a run (issue #13, second round): unusable node_refs, OSM files without
highways or without their ways' nodes, rows that are not lines, a walk filter that silently did not apply, u/v ids
beyond int64, and a map with no coverage area at all.

Hand-made layers in a metric CRS (EPSG:4549, coordinates as offsets from (X0, Y0)) with answers worked out by hand.
"""

from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
import shapely
from test_network_edge_cases import _scenario  # a minimal scenario around a [network] table

from planner import ScenarioError
from planner.errors import NetworkError
from planner.io.osm import read_osm
from planner.network.build import build_network, network_bounds_wgs84, network_from_lines
from planner.outputs.map_layers import polygon_table
from planner.scenario import load_scenario
from planner.settings import NetworkSpec

CRS = "EPSG:4549"
X0, Y0 = 500_000.0, 3_540_000.0


def _line(*pts: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in pts])


def _frame(rows: list[dict]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


# ---- 1. node_refs that cannot be used -----------------------------------------------------------------------------

# A: (0,0)–(100,0) with ids 1, 2; B: (100,0)–(200,0) with ids 2, 3; C: (200,0)–(200,100) with the refs under test.
# Whatever C's refs say, C must join B at (200,0) (by id 3, or by coordinates when its refs cannot be used):
# one piece, 4 nodes, 3 edges.
@pytest.mark.parametrize(
    ("refs", "problem"),
    [
        ("[3, 4", "not_json"),  # cut short (a Shapefile keeps 254 characters)
        ("[3, 4,", "not_json"),
        ("未知", "not_json"),
        ("", "blank"),
        (None, "blank"),
        ("5", "not_a_list"),
        ('{"a": 1}', "not_a_list"),
        ("[[3], [4]]", "not_ids"),
        ("[true, false]", "not_ids"),
        ("[3, 4, 5]", "length_mismatch"),
    ],
)
def test_unusable_node_refs_fall_back_to_coordinates(refs, problem):
    lines = _frame([
        {"node_refs": "[1, 2]", "geometry": _line((0, 0), (100, 0))},
        {"node_refs": "[2, 3]", "geometry": _line((100, 0), (200, 0))},
        {"node_refs": refs, "geometry": _line((200, 0), (200, 100))},
    ])
    net = network_from_lines(lines)
    assert (net.n_nodes, net.n_edges, net.n_components()) == (4, 3, 1)
    assert net.source["node_refs_unusable"] == {problem: 1}
    assert any("node_refs" in w and "1" in w for w in net.source["warnings"])


def test_usable_node_refs_still_keep_a_tunnel_apart():
    """Ids, not coordinates: a tunnel (ids 7, 8, 9) passing under the street's middle node (id 2) stays apart."""
    lines = _frame([
        {"node_refs": "[1, 2, 3]", "geometry": _line((0, 0), (100, 0), (200, 0))},
        {"node_refs": "[7, 8, 9]", "geometry": _line((100, -100), (100, 0), (100, 100))},
    ])
    net = network_from_lines(lines)
    assert net.n_components() == 2 and net.source["node_refs_unusable"] == {}


def test_null_entries_are_not_one_shared_node():
    """[null, 1] and [null, 2] 500 m apart: before, both nulls became one node joining two streets that never meet."""
    lines = _frame([
        {"node_refs": "[null, 1]", "geometry": _line((0, 0), (100, 0))},
        {"node_refs": "[null, 2]", "geometry": _line((500, 0), (600, 0))},
    ])
    net = network_from_lines(lines)
    assert (net.n_nodes, net.n_edges, net.n_components()) == (4, 2, 2)
    assert net.source["node_refs_null_entries"] == 2


def test_null_entry_joins_by_coordinates():
    """A null vertex at the end of a street with ids joins that street's node there (coordinates)."""
    lines = _frame([
        {"node_refs": "[1, 2]", "geometry": _line((0, 0), (100, 0))},
        {"node_refs": "[null, 5]", "geometry": _line((100, 0), (100, 80))},
    ])
    net = network_from_lines(lines)
    assert (net.n_nodes, net.n_edges, net.n_components()) == (3, 2, 1)


def test_all_null_node_refs_join_by_coordinates():
    """Every entry null (case r04): the layer is joined by coordinates as if it had no node_refs — not "no edges"."""
    lines = _frame([
        {"node_refs": "[null, null]", "geometry": _line((0, 0), (100, 0))},
        {"node_refs": "[null, null, null]", "geometry": _line((100, 0), (150, 50), (200, 0))},
    ])
    net = network_from_lines(lines)
    assert (net.n_nodes, net.n_edges, net.n_components()) == (3, 2, 1)


def test_truncated_refs_from_a_shapefile(tmp_path: Path):
    """Through a Shapefile (text cut at 254 characters): the long line's refs cannot be read, it still joins."""
    long_refs = json.dumps(list(range(10**12, 10**12 + 40)))  # 40 vertices, ~560 characters
    pts = [(100 + 10 * i, 0) for i in range(40)]
    lines = _frame([
        {"node_refs": json.dumps([1, 10**12]), "highway": "residential", "geometry": _line((0, 0), (100, 0))},
        {"node_refs": long_refs, "highway": "residential", "geometry": _line(*pts)},
    ])
    with pytest.warns(RuntimeWarning):  # pyogrio warns that it truncates the value
        lines.to_file(tmp_path / "roads.shp", encoding="utf-8")
    net = build_network(NetworkSpec(path=tmp_path / "roads.shp", kind="lines"), gpd.GeoSeries([], crs=CRS).crs)
    assert net.n_components() == 1 and net.total_length_km == pytest.approx(0.49)
    assert net.source["node_refs_unusable"] == {"not_json": 1}


# ---- 2. OSM files without highways, or without their ways' nodes ------------------------------------------------

_HEADER = "<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"test\">\n"


def _osm(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "net.osm"
    p.write_text(_HEADER + textwrap.dedent(body) + "</osm>\n", encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "body",
    [
        "",  # only the header
        """\
        <node id="1" version="1" lat="32.0" lon="120.9"/><node id="2" version="1" lat="32.0" lon="120.901"/>
        <node id="3" version="1" lat="32.001" lon="120.901"/>
        <way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="1"/><tag k="building" v="yes"/></way>
        """,
    ],
    ids=["header-only", "buildings-only"],
)
def test_osm_without_highways_is_a_network_error(tmp_path: Path, body: str):
    spec = NetworkSpec(path=_osm(tmp_path, body), kind="osm")
    assert len(read_osm(spec.path).ways) == 0
    with pytest.raises(NetworkError, match="没有道路.*no highway ways"):
        network_bounds_wgs84(spec)


def test_osm_whose_ways_lack_their_nodes(tmp_path: Path):
    """2 of the 6 node references are in the file: more than half missing → a clear error naming the fix."""
    path = _osm(tmp_path, """\
        <node id="1" version="1" lat="32.0" lon="120.9"/><node id="2" version="1" lat="32.0" lon="120.901"/>
        <way id="10" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/></way>
        <way id="11" version="1"><nd ref="7"/><nd ref="8"/><tag k="highway" v="residential"/></way>
        <way id="12" version="1"><nd ref="8"/><nd ref="9"/><tag k="highway" v="residential"/></way>
        """)
    with pytest.raises(NetworkError, match="complete_ways") as err:
        read_osm(path)
    assert "6" in str(err.value) and "4" in str(err.value)


def test_osm_with_a_few_missing_nodes_counts_them(tmp_path: Path):
    """1 of 6 references missing: the way keeps its two located nodes; summary counts the missing one."""
    path = _osm(tmp_path, """\
        <node id="1" version="1" lat="32.0" lon="120.9"/><node id="2" version="1" lat="32.0" lon="120.901"/>
        <node id="3" version="1" lat="32.001" lon="120.901"/><node id="4" version="1" lat="32.001" lon="120.902"/>
        <node id="5" version="1" lat="32.002" lon="120.902"/>
        <way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
        <way id="11" version="1"><nd ref="3"/><nd ref="99"/><nd ref="4"/><tag k="highway" v="footway"/></way>
        """)
    net = build_network(NetworkSpec(path=path, kind="osm"), gpd.GeoSeries([], crs=CRS).crs)
    assert net.source["way_nodes_without_location"] == 1
    assert (net.source["ways_read"], net.source["ways_used"]) == (2, 2)
    assert net.n_components() == 1


# ---- 3. rows that are not lines ----------------------------------------------------------------------------------


def test_rows_that_are_not_lines_are_counted(tmp_path: Path):
    lines = gpd.GeoDataFrame(
        {"highway": ["residential", "residential", "footway", "footway", "footway", "footway"]},
        geometry=[
            _line((0, 0), (100, 0)),
            shapely.MultiLineString([[(X0 + 100, Y0), (X0 + 200, Y0)], [(X0 + 200, Y0), (X0 + 200, Y0 + 50)]]),
            shapely.box(X0, Y0 + 10, X0 + 20, Y0 + 30),
            shapely.Point(X0 + 5, Y0 + 5),
            None,
            shapely.LineString(),
        ],
        crs=CRS,
    )
    path = tmp_path / "roads.gpkg"
    lines.to_file(path, driver="GPKG")
    net = build_network(NetworkSpec(path=path, kind="lines"), gpd.GeoSeries([], crs=CRS).crs)
    src = net.source
    assert (src["lines_read"], src["lines_used"], src["lines_not_walkable"]) == (6, 2, 0)
    assert src["lines_dropped"] == {"polygon": 1, "point": 1, "null_geometry": 1, "empty_geometry": 1}
    assert src["lines_read"] == src["lines_used"] + src["lines_not_walkable"] + sum(src["lines_dropped"].values())
    assert any("4" in w and "not lines" in w for w in src["warnings"])
    # the same frame in memory (line_arrays, not the streaming reader)
    assert network_from_lines(lines).source["lines_dropped"] == src["lines_dropped"]


@pytest.mark.parametrize("shape", ["point", "polygon"])
def test_a_layer_without_lines_names_the_geometry_type(tmp_path: Path, shape: str):
    geoms = [shapely.Point(X0 + i, Y0) if shape == "point" else shapely.box(X0 + i, Y0, X0 + i + 5, Y0 + 5) for i in range(3)]
    path = tmp_path / "roads.geojson"
    gpd.GeoDataFrame({"highway": ["residential"] * 3}, geometry=geoms, crs=CRS).to_file(path)
    spec = NetworkSpec(path=path, kind="lines")
    for call in (lambda: network_bounds_wgs84(spec), lambda: build_network(spec, gpd.GeoSeries([], crs=CRS).crs)):
        with pytest.raises(NetworkError, match=f"{shape} 3.*holds no lines"):
            call()


def test_nan_vertex_names_the_line(tmp_path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # shapely warns on building a NaN vertex
        bad = shapely.LineString([(X0, Y0), (np.nan, Y0 + 5), (X0 + 10, Y0 + 50)])
    lines = _frame([{"name": "北街", "geometry": _line((0, 0), (100, 0))}, {"name": "南环路", "geometry": bad}])
    path = tmp_path / "roads.gpkg"
    lines.to_file(path, driver="GPKG")
    with pytest.raises(NetworkError, match=r"line 2 \(南环路\)"):
        build_network(NetworkSpec(path=path, kind="lines"), gpd.GeoSeries([], crs=CRS).crs)


# ---- 4. the walk filter must apply -------------------------------------------------------------------------------


def _two_streets(tmp_path: Path, **cols) -> Path:
    path = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame(
        {"highway": ["residential", "motorway"], **cols}, geometry=[_line((0, 0), (100, 0)), _line((0, 50), (300, 50))], crs=CRS,
    ).to_file(path, driver="GPKG")
    return path


def test_mapped_column_that_is_absent_stops_the_run(tmp_path: Path):
    spec = NetworkSpec(path=_two_streets(tmp_path), kind="lines", columns={"highway": "道路等级"})
    with pytest.raises(NetworkError, match="道路等级.*highway"):
        build_network(spec, gpd.GeoSeries([], crs=CRS).crs)


@pytest.mark.parametrize("no", ["false", "False", "否", "0", "no", " N "])
def test_walkable_text_reads_as_yes_or_no(tmp_path: Path, no: str):
    path = _two_streets(tmp_path, walkable=[no, "true"])
    net = build_network(NetworkSpec(path=path, kind="lines", exclude_highway=()), gpd.GeoSeries([], crs=CRS).crs)
    assert list(net.edge_attrs["highway"]) == ["motorway"]
    assert (net.source["lines_used"], net.source["lines_not_walkable"]) == (1, 1)


def test_walkable_column_with_other_text_is_refused(tmp_path: Path):
    path = _two_streets(tmp_path, walkable=["maybe", "true"])
    with pytest.raises(NetworkError, match="walkable.*maybe"):
        build_network(NetworkSpec(path=path, kind="lines"), gpd.GeoSeries([], crs=CRS).crs)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ('exclude_highway = "primary"', ["exclude_highway", "list", "'primary'"]),
        ("exclude_highway = 5", ["exclude_highway", "list", "5"]),
        ("exclude_highway = [1, 2]", ["exclude_highway", "list"]),
        ('columns = "highway"', ["columns", "table", "'highway'"]),
        ("columns = { highway = 3 }", ["columns", "highway", "3"]),
        ('columns = { roadclass = "等级" }', ["roadclass", "unknown"]),
    ],
)
def test_bad_network_columns_and_exclude(tmp_path: Path, extra: str, words: list[str]):
    with pytest.raises(ScenarioError) as err:
        load_scenario(_scenario(tmp_path, extra))
    assert all(w in str(err.value) for w in words), str(err.value)


def test_good_network_columns_and_exclude(tmp_path: Path):
    spec = load_scenario(_scenario(tmp_path, 'exclude_highway = ["primary"]\ncolumns = { highway = "等级", walkable = "可步行" }')).network
    assert spec.exclude_highway == ("primary",) and dict(spec.columns) == {"highway": "等级", "walkable": "可步行"}


# ---- 5. u/v ids read exactly -------------------------------------------------------------------------------------


@pytest.mark.parametrize("base", [10**19, 2**53 + 1], ids=["beyond-int64", "above-2**53"])
def test_uv_ids_are_read_exactly(tmp_path: Path, base: int):
    """A chain of three lines with ids base, base+2, base+4, base+6 (as text): as floats they collapse (above 2**53
    odd ids round to their even neighbours; beyond int64 they all became one id and the network had no edges)."""
    ids = [str(base + 2 * i) for i in range(4)]
    path = tmp_path / "edges.gpkg"
    gpd.GeoDataFrame(
        {"u": ids[:3], "v": ids[1:]}, geometry=[_line((0, 0), (100, 0)), _line((100, 0), (200, 0)), _line((200, 0), (300, 0))],
        crs=CRS,
    ).to_file(path, driver="GPKG")
    net = build_network(NetworkSpec(path=path, kind="lines"), gpd.GeoSeries([], crs=CRS).crs)
    assert (net.n_nodes, net.n_edges, net.n_components()) == (4, 3, 1)
    assert net.total_length_km == pytest.approx(0.3)
    assert net.source["uv_ids_apart"] == 0


def test_uv_warnings_reach_the_summary():
    """u and v swapped on one of two lines: ids 2 sits at (100,0) and (200,0); half-blank ids are counted."""
    lines = _frame([
        {"u": 1, "v": 2, "geometry": _line((0, 0), (100, 0))},
        {"u": 3, "v": 2, "geometry": _line((100, 0), (200, 0))},  # should be u=2, v=3
        {"u": None, "v": 5, "geometry": _line((300, 0), (400, 0))},
    ])
    net = network_from_lines(lines)
    assert net.source["uv_ids_apart"] == 1 and net.source["uv_lines_without_ids"] == 1
    assert any("u/v" in w and "apart" in w for w in net.source["warnings"])
    assert any("lack u or v" in w for w in net.source["warnings"])


# ---- summary.json's network block --------------------------------------------------------------------------------


def test_network_summary_block_has_the_input_counts():
    from planner.outputs.write import _network_summary

    lines = _frame([
        {"node_refs": "[1, 2]", "geometry": _line((0, 0), (100, 0))},
        {"node_refs": "[2", "geometry": _line((100, 0), (200, 0))},
    ])
    net = network_from_lines(lines, min_piece_m=0)
    result = SimpleNamespace(network=net, scenario=SimpleNamespace(network=SimpleNamespace(walk_filter="planner")),
                             isolated_points={})
    block = _network_summary(result, net.total_length_km)
    assert block["input"]["lines_read"] == 2 and block["input"]["node_refs_unusable"] == {"not_json": 1}
    assert len(block["warnings"]) == 1 and "node_refs" in block["warnings"][0]
    json.dumps(block)  # plain JSON


# ---- 6. the map with no coverage area ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "geoms",
    [[], [shapely.Polygon()], [shapely.Polygon(), shapely.MultiPolygon()]],
    ids=["no-rows", "one-empty", "all-empty"],
)
def test_polygon_table_of_empty_areas(geoms):
    table = polygon_table(np.array(geoms, dtype=object), CRS, basemap="offline", tolerance_m=1)
    assert table["pp"] == [""] * len(geoms) and table["pxy"] == [""] * len(geoms)


def test_polygon_table_keeps_real_areas_beside_empty_ones():
    box = shapely.box(X0, Y0, X0 + 100, Y0 + 100)
    table = polygon_table(np.array([shapely.Polygon(), box], dtype=object), CRS, basemap="offline", tolerance_m=1)
    alone = polygon_table(np.array([box], dtype=object), CRS, basemap="offline", tolerance_m=1)
    assert table["pp"] == ["", alone["pp"][0]] and table["pxy"] == ["", alone["pxy"][0]]
