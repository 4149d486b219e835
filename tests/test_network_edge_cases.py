"""The walk network's edge cases (issue #13): small cut-off pieces are not snapped to, node ids join line layers,
area/foot precedence, the osmnx walk filter (against osmnx's own filter string as the oracle) and bad settings.

Hand-made worlds in a metric CRS (CGCS2000 / 3° GK CM 120°E, EPSG:4549) with answers worked out by hand:

    y
    80 ┤        ═ footway 9 m (its own piece)            · F_iso, C_iso (5 m above it, 80+ m from the street)
     0 ┼────────────────────── main street 1000 m ──────────────────────
       0                  500                                        1000 x
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import ScenarioError
from planner.engine.pieces import street_pieces
from planner.engine.reach import build_reach_graph, nearest_distance
from planner.engine.snap import snap_points
from planner.engine.streets import StreetArrays
from planner.network.build import OSMNX_WALK_EXCLUDE, _walkable, network_from_lines
from planner.network.points import snap_geometries
from planner.scenario import load_scenario

CRS = "EPSG:4549"
X0, Y0 = 500_000.0, 3_540_000.0  # a place inside the zone (Nantong-ish); coordinates below are offsets from it
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _lines(rows: list[dict]) -> gpd.GeoDataFrame:
    """Lines given as offsets from (X0, Y0), with any extra columns."""
    geoms = [shapely.LineString([(X0 + x, Y0 + y) for x, y in r.pop("xy")]) for r in rows]
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=CRS)


def _pts(*xy: tuple[float, float]) -> np.ndarray:
    return np.array([shapely.Point(X0 + x, Y0 + y) for x, y in xy])


# ---- 1. small pieces ------------------------------------------------------------------------------------------------


def _street_footway_steps(min_piece_m: float | None = 500.0):
    """A 1000 m street, a 9 m footway 80 m north of it and a 2 m flight of steps 30 m south: three pieces."""
    return network_from_lines(
        _lines([
            {"highway": "residential", "xy": [(0, 0), (1000, 0)]},
            {"highway": "footway", "xy": [(500, 80), (509, 80)]},
            {"highway": "steps", "xy": [(200, -30), (202, -30)]},
        ]),
        min_piece_m=min_piece_m,
    )


def test_pieces_by_hand():
    net = _street_footway_steps()
    p = net.pieces
    assert p.n_pieces == 3 and list(p.length_m) == pytest.approx([1000.0, 9.0, 2.0])
    assert list(p.small) == [False, True, True] and p.n_small == 2 and p.small_km == pytest.approx(0.011)
    hw = net.edge_attrs["highway"].to_numpy()
    assert set(hw[p.edge_ok]) == {"residential"}


def test_small_needs_both_limits():
    """A piece is small under min_piece_m AND under 1 % of the largest: 300 m beside 1000 m is not small, 9 m
    is; with min_piece_m = 5 the 9 m footway is not small either (only the 2 m steps)."""
    s = StreetArrays.straight([0, 1000, 0, 300, 0, 9, 0, 2], [0, 0, 50, 50, 90, 90, 99, 99], [0, 2, 4, 6], [1, 3, 5, 7])
    assert list(street_pieces(s, min_piece_m=500).small) == [False, False, True, True]
    assert list(street_pieces(s, min_piece_m=5).small) == [False, False, False, True]
    assert not street_pieces(s, min_piece_m=0).small.any()
    # two equal streets: neither is under 1 % of the other
    eq = StreetArrays.straight([0, 100, 0, 100], [0, 0, 50, 50], [0, 2], [1, 3])
    assert not street_pieces(eq, min_piece_m=500).small.any()


def test_points_skip_small_pieces():
    """(504, 75): 5 m from the footway, 75 m from the street → the street (max 100 m). (504, 85) with max 60 m:
    the footway within reach, the street 85 m away → unreachable, isolated. (900, 500): nothing within 60 m →
    unreachable, not isolated. (100, 10): on the street side → reachable, 10 m."""
    net = _street_footway_steps()
    s = snap_geometries(net, _pts((504, 75)), max_snap_m=100)
    assert s.reachable[0] and s.access[0] == pytest.approx(75.0) and net.edge_attrs["highway"][s.edge[0]] == "residential"
    assert s.offset[0] == pytest.approx(504.0)
    s = snap_geometries(net, _pts((504, 85), (900, 500), (100, 10), (201, -29)), max_snap_m=60)
    assert list(s.reachable) == [False, False, True, True]
    assert list(s.isolated) == [True, False, False, False]
    assert s.access[1] == pytest.approx(500.0) and s.access[3] == pytest.approx(29.0)  # the steps are skipped
    # without the rule (min_piece_m = 0) the point goes onto the footway, 5 m away, and reaches nothing
    loose = snap_geometries(_street_footway_steps(0), _pts((504, 85)), max_snap_m=60)
    assert loose.reachable[0] and loose.access[0] == pytest.approx(5.0) and loose.isolated is None


def test_isolated_point_reaches_nothing_but_skipped_point_reaches_the_street():
    """Routing: the point beside the footway (5 m) now walks 75 m to the street and 400 m along it to a point at
    (100, 0): 75 + 404 − 100 = 479 m; on the footway it would reach nothing."""
    net = _street_footway_steps()
    s = snap_geometries(net, _pts((504, 75), (100, 0)), max_snap_m=100)
    d, _ = nearest_distance(build_reach_graph(net, s), np.array([1]), np.array([0]))
    assert d[0] == pytest.approx(75.0 + 404.0)
    loose = snap_geometries(_street_footway_steps(0), _pts((504, 75), (100, 0)), max_snap_m=100)
    d_loose, _ = nearest_distance(build_reach_graph(_street_footway_steps(0), loose), np.array([1]), np.array([0]))
    assert np.isinf(d_loose[0])


def test_mask_equals_a_network_without_the_masked_edges():
    """Oracle: snapping with the mask gives the same access legs as snapping onto a network built from the allowed
    edges only (random points)."""
    net = _street_footway_steps()
    rng = np.random.default_rng(7)
    xy = np.column_stack([X0 + rng.uniform(-100, 1100, 400), Y0 + rng.uniform(-200, 200, 400)])
    masked = snap_points(net, xy, max_snap_m=1e9, edge_ok=net.pieces.edge_ok)
    only = network_from_lines(_lines([{"highway": "residential", "xy": [(0, 0), (1000, 0)]}]))
    ref = snap_points(only, xy, max_snap_m=1e9)
    np.testing.assert_allclose(masked.access, ref.access)
    np.testing.assert_allclose(masked.offset, ref.offset)


# ---- the whole run: compounds unreachable, facilities rejected, summary and console -------------------------------


def _write_world(folder: Path, *, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _lines([
        {"highway": "residential", "name": "主街", "xy": [(0, 0), (500, 0), (1000, 0)]},
        {"highway": "residential", "name": "横街", "xy": [(500, -500), (500, 0)]},
        {"highway": "footway", "name": "", "xy": [(200, 80), (209, 80)]},
    ]).to_file(folder / "roads.gpkg", driver="GPKG")
    fac = gpd.GeoDataFrame(
        {"id": ["F1", "F2", "F3"], "name": ["路边站", "孤路站", "远处站"],
         "category": ["社区养老服务站", "社区养老服务站", "社区养老服务站"]},
        geometry=list(_pts((300, 10), (204, 85), (900, 400))), crs=CRS,
    )
    fac.to_file(folder / "facilities.gpkg", driver="GPKG")
    comp = gpd.GeoDataFrame(
        {"id": ["C1", "C2", "C3"], "name": ["临街小区", "孤路小区", "远处小区"], "population": [1000, 800, 600]},
        geometry=list(_pts((350, -20), (205, 75), (900, 420))), crs=CRS,
    )
    comp.to_file(folder / "compounds.gpkg", driver="GPKG")
    scenario = folder / "world.toml"
    scenario.write_text(textwrap.dedent(f"""\
        name = "孤立小片路网"
        crs = "{CRS}"
        max_snap_m = 60
        [network]
        path = "roads.gpkg"
        kind = "lines"
        {extra}
        [layers.facilities]
        path = "facilities.gpkg"
        [layers.residential]
        path = "compounds.gpkg"
        """), encoding="utf-8")
    return scenario


@pytest.fixture(scope="module")
def world_run(tmp_path_factory):
    from planner.cli import main

    base = tmp_path_factory.mktemp("isolated")
    scenario = _write_world(base / "in")
    out = base / "out"
    assert main(["run", str(scenario), "--out", str(out), "-q"]) == 0
    return out


def test_run_reports_isolated_points(world_run: Path):
    """C2 (5 m from the 9 m footway, 75 m from 主街) is unreachable; F2 is rejected as isolated_network; C3/F3
    (400+ m from everything) stay as before: C3 unreachable, F3 kept unreachable; C1/F1 reachable."""
    comp = pd.read_csv(world_run / "compounds.csv", encoding="utf-8-sig").set_index("id")
    assert comp["reachable"].to_dict() == {"C1": True, "C2": False, "C3": False}
    assert comp.loc["C2", "snap_distance_m"] == pytest.approx(75.0)  # to the street it could not reach
    fac = pd.read_csv(world_run / "facilities.csv", encoding="utf-8-sig").set_index("id")
    assert sorted(fac.index) == ["F1", "F3"] and fac["reachable"].to_dict() == {"F1": True, "F3": False}
    rej = pd.read_csv(world_run / "rejected.csv", encoding="utf-8-sig", dtype=str)
    iso = rej[rej["reason_code"] == "isolated_network"]
    assert list(iso["id"]) == ["F2"] and list(iso["layer"]) == ["facilities"]
    assert "孤立" in iso["reason"].iloc[0] and "cut off" in iso["reason"].iloc[0]
    assert json.loads(iso["attributes"].iloc[0])["name"] == "孤路站"
    summary = json.loads((world_run / "summary.json").read_text(encoding="utf-8"))
    net = summary["network"]
    assert (net["pieces"], net["small_pieces"], net["small_pieces_km"], net["min_piece_m"]) == (2, 1, 0.009, 500.0)
    assert net["isolated_points"] == {"compounds": 1, "facilities": 1} and net["walk_filter"] == "planner"
    assert summary["layers"]["facilities"]["rejected_by_reason"] == {"isolated_network": 1}
    assert summary["layers"]["facilities"]["rows_read"] == 3  # every row accounted for: 2 kept + 1 rejected
    assert any("isolated_network" in w for w in summary["warnings"])


def test_run_console_names_pieces_and_points(tmp_path: Path, capsys):
    from planner.pipeline import run

    lines: list[str] = []
    result = run(load_scenario(_write_world(tmp_path)), report=lines.append)
    text = "\n".join(lines)
    assert "2 connected pieces, 1 of them small (0.01 km" in text and "路网共 2 片" in text
    assert "1 compounds and 1 facilities lie near only small pieces" in text
    assert result.isolated_points == {"compounds": 1, "facilities": 1}


def test_min_piece_zero_restores_the_old_snapping(tmp_path: Path):
    from planner.pipeline import run

    result = run(load_scenario(_write_world(tmp_path, extra="min_piece_m = 0")), report=lambda m: None)
    assert result.compounds["reachable"].to_dict() == {"C1": True, "C2": True, "C3": False}
    assert len(result.facilities) == 3 and result.isolated_points == {"compounds": 0, "facilities": 0}


# ---- 2. node ids join line layers ----------------------------------------------------------------------------------


BRIDGE = [
    # a street along y = 0 and a bridge along x = 100 over it: both have a vertex at (100, 0)
    {"highway": "residential", "xy": [(0, 0), (100, 0), (200, 0)], "u": 1, "v": 2, "node_refs": "[1, 5, 2]"},
    {"highway": "footway", "bridge": "yes", "xy": [(100, -100), (100, 0), (100, 100)], "u": 3, "v": 4, "node_refs": "[3, 6, 4]"},
    # a third line that joins the street's end by id (its first vertex 0.4 m off the street's end)
    {"highway": "residential", "xy": [(200.4, 0), (300, 0)], "u": 2, "v": 7, "node_refs": "[2, 7]"},
]


def _bridge(columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    rows = [{k: v for k, v in r.items() if k in ("highway", "bridge", "xy", *columns)} for r in BRIDGE]
    return _lines(rows)


@pytest.mark.parametrize("columns", [(), ("u", "v"), ("node_refs",)])
def test_bridge_joins_only_by_ids(columns):
    """Without ids the bridge and the street share their crossing vertex (a junction of 4 edges); with u/v or
    node_refs they do not: walking from the bridge's south end to the street's west end is impossible, and the
    third line joins the street at node 2 (by id) although its vertex is 0.4 m off."""
    net = network_from_lines(_bridge(columns))
    a, b = _pts((100, -100), (0, 0))
    s = snap_geometries(net, np.array([a, b]), max_snap_m=1)
    d, _ = nearest_distance(build_reach_graph(net, s), np.array([0]), np.array([1]))
    if not columns:
        assert d[0] == pytest.approx(200.0)  # up the bridge to the crossing, then 100 m west
        assert net.n_components() == 2  # the third line's vertex is 0.4 m from the street's end: not joined
    else:
        assert np.isinf(d[0])
        assert net.n_components() == 2  # the street + third line, and the bridge
        assert net.n_edges == 3 and sorted(net.edges["length"].round(1)) == [100.0, 200.0, 200.0]  # node 2 sits where it first appears


def test_uv_interior_vertices_join_nothing():
    """u/v give the end ids only: an interior vertex lying on another line's end stays apart."""
    net = network_from_lines(_lines([
        {"highway": "residential", "xy": [(0, 0), (50, 0), (100, 0)], "u": 10, "v": 11},
        {"highway": "residential", "xy": [(50, 0), (50, 80)], "u": 12, "v": 13},
    ]))
    assert net.n_components() == 2 and net.n_nodes == 4


def test_uv_rows_without_ids_use_coordinates_and_bad_ids_are_clear():
    net = network_from_lines(_lines([
        {"highway": "residential", "xy": [(0, 0), (100, 0)], "u": 1.0, "v": 2.0},
        {"highway": "residential", "xy": [(100, 0), (100, 50)], "u": None, "v": None},
        {"highway": "residential", "xy": [(100, 50), (0, 50)], "u": None, "v": None},
    ]))
    assert net.n_components() == 2  # the two lines without ids join each other, never the line with ids
    from planner.errors import NetworkError

    with pytest.raises(NetworkError, match=r"column u .*line 2.*whole node id"):
        network_from_lines(_lines([
            {"highway": "residential", "xy": [(0, 0), (100, 0)], "u": "1", "v": "2"},
            {"highway": "residential", "xy": [(100, 0), (100, 50)], "u": "路口", "v": "3"},
        ]))


def test_uv_against_the_line_direction_is_warned(caplog):
    """A line drawn from its v to its u puts node 2 at two places 100 m apart: the network keeps the first and the
    log says how many ids disagree."""
    with caplog.at_level("WARNING", logger="planner.network.build"):
        network_from_lines(_lines([
            {"highway": "residential", "xy": [(0, 0), (100, 0)], "u": 1, "v": 2},
            {"highway": "residential", "xy": [(200, 0), (100, 0)], "u": 2, "v": 3},  # drawn 3 → 2
        ]))
    assert "1 node ids (u/v) sit at places more than 1 m apart" in caplog.text


def test_uv_layer_from_a_file_is_joined_by_ids(tmp_path: Path):
    """The same through the scenario path (pyogrio reading u/v integer columns of a GeoPackage)."""
    from planner.network.build import build_network
    from planner.settings import NetworkSpec

    _bridge(("u", "v")).to_file(tmp_path / "edges.gpkg", driver="GPKG")
    net = build_network(NetworkSpec(path=tmp_path / "edges.gpkg", kind="lines"), gpd.GeoSeries([], crs=CRS).crs)
    assert net.n_components() == 2 and net.n_edges == 3


# ---- 3. area/foot precedence, 4. walk_filter -----------------------------------------------------------------------


TAG_CASES = [
    # (tags, planner, osmnx)
    ({"highway": "pedestrian", "area": "yes", "foot": "permissive"}, False, False),
    ({"highway": "pedestrian", "area": "yes", "foot": "yes"}, False, False),
    ({"highway": "footway", "area": "no"}, True, True),
    ({"highway": "cycleway", "foot": "designated"}, True, False),
    ({"highway": "cycleway"}, True, False),
    ({"highway": "service", "access": "private", "foot": "yes"}, True, False),
    ({"highway": "service", "access": "no"}, False, True),
    ({"highway": "residential", "foot": "unknown"}, True, False),  # osmnx: "unknown" contains "no"
    ({"highway": "motorway", "foot": "yes"}, True, False),
    ({"highway": "motorway_link"}, False, False),
    ({"highway": "trunk"}, False, True),
    ({"highway": "primary", "sidewalk": "separate"}, True, False),
    ({"highway": "primary", "sidewalk:left": "separate"}, True, False),
    ({"highway": "bridleway"}, True, True),
    ({"highway": "razed", "foot": "yes"}, False, False),
    ({"highway": "construction", "foot": "yes"}, False, False),
    ({"highway": "steps", "service": "private"}, False, False),
    ({"highway": "busway"}, False, True),
    ({"highway": "elevator"}, True, True),
]


def _tag_columns(rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    keys = sorted({k for r in rows for k in r})
    return {k: np.array([r.get(k, "") for r in rows], dtype=object) for k in keys}


def test_walk_rules_by_hand():
    from planner.settings import NetworkSpec

    tags = _tag_columns([t for t, _, _ in TAG_CASES])
    exclude = NetworkSpec(path=Path("x"), kind="osm").exclude_highway
    planner = _walkable(tags, exclude, len(TAG_CASES), "planner")
    osmnx = _walkable(tags, exclude, len(TAG_CASES), "osmnx")
    assert list(planner) == [p for _, p, _ in TAG_CASES]
    assert list(osmnx) == [o for _, _, o in TAG_CASES]


def _osmnx_oracle() -> list[tuple[str, re.Pattern[str] | None]]:
    """osmnx's own walk filter string, parsed into (key, regex) negations; (key, None) means the key must exist."""
    from osmnx._overpass import _get_network_filter

    text = _get_network_filter("walk")
    parts = re.findall(r'\["([^"]+)"(?:!~"([^"]*)")?\]', text)
    assert "".join(f'["{k}"' + (f'!~"{p}"' if p else "") + "]" for k, p in parts) == text  # every clause parsed
    return [(k, re.compile(p) if p else None) for k, p in parts]


def _oracle_walkable(tags: dict[str, str], clauses) -> bool:
    for key, pattern in clauses:
        if pattern is None:
            if key not in tags:
                return False
        elif key in tags and pattern.search(tags[key]):
            return False
    return True


def test_osmnx_table_matches_osmnx_filter():
    """OSMNX_WALK_EXCLUDE says the same as osmnx's filter string (so a new osmnx that changes it fails here)."""
    clauses = _osmnx_oracle()
    assert clauses[0] == ("highway", None)
    assert [(k, p.pattern) for k, p in clauses[1:]] == [(k, "|".join(alts)) for k, alts in OSMNX_WALK_EXCLUDE]


def test_hand_cases_match_the_oracle():
    clauses = _osmnx_oracle()
    assert [_oracle_walkable(t, clauses) for t, _, _ in TAG_CASES] == [o for _, _, o in TAG_CASES]


@pytest.mark.parametrize("name", ["beijing_haidian_cau_osm2026/haidian_cau_osm_2026.osm.pbf",
                                  "shenzhen_longgang_osm2019/longgang_osm_2019.osm.pbf"])
def test_osmnx_filter_on_real_ways(name):
    """Every highway way of a real extract: walk_filter = "osmnx" selects exactly the ways osmnx's filter string
    selects, evaluated with `re` on each way's full tag set (read here with osmium, independently of planner)."""
    import osmium

    from planner.io.osm import read_osm

    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    clauses = _osmnx_oracle()
    all_tags = {w.id: dict(w.tags) for w in osmium.FileProcessor(str(path), osmium.osm.WAY) if "highway" in w.tags}
    ways = read_osm(path).ways
    mine = set(ways.osm_id[_walkable(ways.tags, (), len(ways), "osmnx")].tolist())
    theirs = {i for i in ways.osm_id.tolist() if _oracle_walkable(all_tags[i], clauses)}
    assert len(ways) > 250 and mine == theirs
    planner = set(ways.osm_id[_walkable(ways.tags, load_scenario_defaults(), len(ways), "planner")].tolist())
    assert planner != theirs  # the two rules differ on real data (cycleways, foot=designated, sidewalks …)


def load_scenario_defaults() -> tuple[str, ...]:
    from planner.settings import NetworkSpec

    return NetworkSpec(path=Path("x"), kind="osm").exclude_highway


def test_osm_file_area_yes_with_foot_permissive(tmp_path: Path):
    """Through an OSM file: a pedestrian square (area=yes, foot=permissive) is no edge; the street is."""
    from planner.network.build import build_network
    from planner.settings import NetworkSpec

    osm = tmp_path / "square.osm"
    osm.write_text(textwrap.dedent("""\
        <?xml version='1.0' encoding='UTF-8'?>
        <osm version="0.6" generator="test">
          <node id="1" version="1" lat="32.0000" lon="120.9000"/>
          <node id="2" version="1" lat="32.0000" lon="120.9010"/>
          <node id="3" version="1" lat="32.0010" lon="120.9010"/>
          <node id="4" version="1" lat="32.0010" lon="120.9000"/>
          <node id="5" version="1" lat="32.0000" lon="120.9050"/>
          <way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
            <tag k="highway" v="pedestrian"/><tag k="area" v="yes"/><tag k="foot" v="permissive"/></way>
          <way id="11" version="1"><nd ref="2"/><nd ref="5"/><tag k="highway" v="residential"/></way>
        </osm>
        """), encoding="utf-8")
    crs = gpd.GeoSeries([], crs=CRS).crs
    for walk_filter in ("planner", "osmnx"):
        net = build_network(NetworkSpec(path=osm, kind="osm", walk_filter=walk_filter), crs)
        assert list(net.edge_attrs["highway"]) == ["residential"]


# ---- 5. settings -----------------------------------------------------------------------------------------------------


def _scenario(tmp_path: Path, network_extra: str) -> Path:
    (tmp_path / "roads.geojson").write_text('{"type":"FeatureCollection","features":[]}', encoding="utf-8")
    (tmp_path / "f.csv").write_text("lon,lat\n", encoding="utf-8")
    p = tmp_path / "s.toml"
    p.write_text(textwrap.dedent(f"""\
        name = "x"
        [network]
        path = "roads.geojson"
        {network_extra}
        [layers.facilities]
        path = "f.csv"
        [layers.residential]
        path = "f.csv"
        """), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ('walk_filter = "OSMnx"', ["walk_filter", "只能是", "must be", "'OSMnx'"]),
        ("walk_filter = 1", ["walk_filter", "must be"]),
        ('walk_filter = "osmnx"\nexclude_highway = ["motorway"]', ["exclude_highway", "osmnx", "remove"]),
        ("min_piece_m = -1", ["min_piece_m", "≥ 0", "-1"]),
        ('min_piece_m = "500m"', ["min_piece_m", "'500m'"]),
        ("min_piece_m = inf", ["min_piece_m", "finite"]),
        ("min_piece_m = nan", ["min_piece_m", "finite"]),
        ("min_piece_m = true", ["min_piece_m", "True"]),
    ],
)
def test_bad_network_settings(tmp_path: Path, extra: str, words: list[str]):
    with pytest.raises(ScenarioError) as err:
        load_scenario(_scenario(tmp_path, extra))
    assert all(w in str(err.value) for w in words), str(err.value)


def test_network_settings_parse(tmp_path: Path):
    spec = load_scenario(_scenario(tmp_path, 'walk_filter = "osmnx"\nmin_piece_m = 0')).network
    assert (spec.walk_filter, spec.min_piece_m) == ("osmnx", 0.0)
    spec = load_scenario(_scenario(tmp_path, "")).network
    assert (spec.walk_filter, spec.min_piece_m) == ("planner", 500.0)
