"""The gap map at city scale: packed columns hold exactly the input's numbers, streets are merged per class and
name, the page is the same every time, and its size grows with the data by a bounded number of bytes.

The data is read back out of the rendered page by tests/_mapdata.py, a decoder written apart from the encoder.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _mapdata import column, decode, decode_points, decode_rings, page_calls
from pyproj import CRS, Transformer

from planner import schema
from planner.analysis.coverage import Coverage
from planner.engine.streets import StreetArrays
from planner.io.categories import load_taxonomy
from planner.io.coords import wgs84_to_gcj02
from planner.network.build import network_from_lines
from planner.outputs.map_layers import encode_ints, encode_points, ints_of, pack_column, street_groups
from planner.outputs.maps import _tenths, gap_map, save_map

CRS_M = CRS.from_epsg(32651)  # UTM 51N: Nantong
X0, Y0 = 340_000.0, 3_540_000.0
TO_WGS = Transformer.from_crs(CRS_M, "EPSG:4326", always_xy=True)


def _close(got, expected, tol: float) -> bool:
    """Whether two lists of (lon, lat) agree to ``tol`` degrees."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    return got.shape == expected.shape and bool(np.all(np.abs(got - expected) <= tol))


def _wgs(x: float, y: float) -> tuple[float, float]:
    lon, lat = TO_WGS.transform(X0 + x, Y0 + y)
    return float(lon), float(lat)


# ------------------------------------------------------------------------------------------------ packing


@pytest.mark.parametrize("values", [[0], [1, -1, 2, -2], [15, 16, 31, 32, 33, 1023, 1024, -1024, -1025],
                                    [180_000_000, -180_000_000, 2**40, -(2**40)], []])
def test_encode_ints_round_trips(values: list[int]) -> None:
    text = encode_ints(np.array(values, dtype=np.int64))
    assert all(63 <= ord(c) <= 126 for c in text)
    assert decode(text) == values == ints_of(text)


def test_encode_ints_is_googles_polyline_code() -> None:
    # Google's documented example: -179.9832104 at 1e5 is "`~oia@"
    assert encode_ints(np.array([-17998321])) == "`~oia@"
    assert pack_column(np.array([7, 7, 7])) == 7 and pack_column(np.array([7, 8])) == encode_ints(np.array([7, 8]))


def test_encode_points_are_differences() -> None:
    lon = np.array([120.1234564, 120.1234566, 119.0])
    lat = np.array([32.0, 31.9999995, 32.5])
    got = decode_points(encode_points(lon, lat, 1_000_000), 1_000_000)
    assert got == [(120.123456, 32.0), (120.123457, 32.0), (119.0, 32.5)]  # rounded half to even


@pytest.mark.parametrize("value", [0.25, 14.25, 0.05, 0.15, 1.45, 2.675, 1000.0 / 67, 16.75 / 67, 1e6 + 0.05, 7.0, 0.0])
def test_tenths_print_as_python_does(value: float) -> None:
    assert _tenths(np.array([value]))[0] == int(f"{value:.1f}".replace(".", ""))


def test_tenths_of_missing_values() -> None:
    assert _tenths(np.array([np.inf, np.nan, 1.0])).tolist() == [-1, -1, 10]


# ------------------------------------------------------------------------------------------------ streets

#       (100,100)
#           |  (unnamed footway, 2 edges)
# (0,0) --- + --- (200,0) 中山路 primary, 2 edges; then 文化街 tertiary north with a 0.5 m kink
#           |
#       (100,-100)


@pytest.fixture(scope="module")
def small_network():
    lines = gpd.GeoDataFrame(
        {
            "highway": ["primary", "primary", "footway", "footway", "tertiary"],
            "name": ["中山路", "中山路", None, None, "文化街"],
        },
        geometry=[
            shapely.LineString([(X0, Y0), (X0 + 100, Y0)]),
            shapely.LineString([(X0 + 100, Y0), (X0 + 200, Y0)]),
            shapely.LineString([(X0 + 100, Y0 - 100), (X0 + 100, Y0)]),
            shapely.LineString([(X0 + 100, Y0), (X0 + 100, Y0 + 100)]),
            shapely.LineString([(X0 + 200, Y0), (X0 + 200.5, Y0 + 75), (X0 + 200, Y0 + 150)]),
        ],
        crs=CRS_M,
    )
    return network_from_lines(lines)


def test_streets_merged_per_class_and_name(small_network) -> None:
    groups = street_groups(small_network, basemap="offline")
    by = {(g["s"], g["n"]): decode_rings(g["p"], g["xy"], 100_000) for g in groups}
    assert set(by) == {(0, "中山路"), (1, "文化街"), (2, "")}
    # 中山路: two edges merged into one line of three vertices (direction is line_merge's)
    (line,) = by[(0, "中山路")]  # the vertex between them is on the straight line: simplified away
    expected = [_wgs(0, 0), _wgs(200, 0)]
    assert _close(line, expected, 6e-6) or _close(line[::-1], expected, 6e-6)
    # the footway: one line through the crossing
    (foot,) = by[(2, "")]
    assert _close(sorted(foot), sorted([_wgs(100, -100), _wgs(100, 100)]), 6e-6)
    # 文化街: its 0.5 m kink is simplified away
    (street,) = by[(1, "文化街")]
    assert len(street) == 2
    assert _close(sorted(street), sorted([_wgs(200, 0), _wgs(200, 150)]), 6e-6)


def test_streets_on_amap_are_shifted(small_network) -> None:
    (line,) = decode_rings(*[(g["p"], g["xy"]) for g in street_groups(small_network, basemap="amap") if g["n"] == "中山路"][0], 100_000)
    lon, lat = _wgs(0, 0)
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert _close([line[0]], [(float(glon), float(glat))], 6e-6) or _close([line[-1]], [(float(glon), float(glat))], 6e-6)
    assert not _close([line[0]], [(lon, lat)], 1e-4) and not _close([line[-1]], [(lon, lat)], 1e-4)


# ------------------------------------------------------------------------------------------------ a small world

CATS = ("convenience", "market")


def _world(network, compounds: gpd.GeoDataFrame, table: pd.DataFrame, facilities: gpd.GeoDataFrame, **kw) -> dict:
    taxonomy = load_taxonomy()
    coverage = Coverage(table=table, catchments=pd.DataFrame(), categories=CATS, thresholds_min=(5.0, 10.0, 15.0),
                        speed_m_per_min=67.0)
    return dict(title="测试", lang="zh", sample_data=True, basemap="offline", network=network, zones=None,
                zone_table=pd.DataFrame(), compounds=compounds, coverage=coverage, facilities=facilities,
                taxonomy=taxonomy, max_snap_m=300.0, **kw)


def _coverage_table(index, dist: dict[str, list[float]], nearest: dict[str, list[object]]) -> pd.DataFrame:
    cols: dict[str, object] = {}
    for cat in CATS:
        d = np.array(dist[cat], dtype=float)
        cols[schema.dist_m(cat)] = d
        cols[schema.nearest_name(cat)] = nearest[cat]
        for t in (5, 10, 15):
            cols[schema.within(cat, t)] = d <= t * 67.0
    table = pd.DataFrame(cols, index=index)
    table["completeness"] = np.mean([table[schema.within(c, 15)] for c in CATS], axis=0)
    return table


@pytest.fixture(scope="module")
def small_page(small_network) -> tuple[str, gpd.GeoDataFrame, pd.DataFrame, gpd.GeoDataFrame]:
    compounds = gpd.GeoDataFrame(
        {
            "name": ["甲<小区>", "乙小区", "孤村", "丁小区"],
            "population": [1234.5, 2117.5, 80.0, np.nan],
            "households": [500.0, 800.0, 30.0, 10.0],
            "age_60_plus": [np.nan, 300.0, 40.0, 1.0],
            "age_0_3": [12.0, 20.0, 0.0, 0.0],
            "reachable": [True, True, False, True],
            "formats_present": [3, 9, 0, 1],
            "formats_missing": ["药店、菜市场", "", "全部", None],
        },
        geometry=[shapely.Point(X0 + 10, Y0 + 10), shapely.box(X0 + 50, Y0 + 20, X0 + 90, Y0 + 60),
                  shapely.Point(X0 + 900, Y0 + 900), shapely.Point(X0 + 150, Y0 - 30)],
        crs=CRS_M, index=pd.Index(["A", "B", "C", "D"], name="id"),
    )
    table = _coverage_table(
        compounds.index,
        {"convenience": [1000.5, 335.0, np.inf, 16.75], "market": [np.inf, 100.5, np.inf, 2_345.49]},
        {"convenience": ["便利店<甲>", "便利店乙", "", "便利店乙"], "market": ["", "菜市场", "", "菜市场"]},
    )
    facilities = gpd.GeoDataFrame(
        {"name": ["便利店<甲>", "便利店乙", "菜市场"], "category": ["convenience", "convenience", "market"],
         "places": [np.nan, 30.0, np.nan], "beds": [np.nan, np.nan, 12.5], "public_benefit": [None, True, False]},
        geometry=[shapely.Point(X0 + 5, Y0 + 1), shapely.Point(X0 + 120, Y0 + 2), shapely.Point(X0 + 60, Y0 - 3)],
        crs=CRS_M,
    )
    page = gap_map(**_world(small_network, compounds, table, facilities)).get_root().render()
    return page, compounds, table, facilities


def _calls(page: str) -> dict[str, list[tuple[str, dict, str | None]]]:
    out: dict[str, list] = {}
    for name, kind, data, table in page_calls(page):
        out.setdefault(kind, []).append((name, data, table))
    return out


def test_compound_columns_hold_the_input(small_page) -> None:
    page, compounds, table, _ = small_page
    calls = _calls(page)
    ((table_name, data, _),) = [c for c in calls["table"] if "facts" in c[1]]  # the compounds (facilities: one table each)
    n = len(compounds)
    # positions: each compound's representative point, to 1e-6°
    pts = compounds.to_crs(4326).geometry.representative_point()
    assert _close(decode_points(data["xy"], data["scale"]), list(zip(pts.x, pts.y, strict=True)), 6e-7)
    assert data["name"] == ["甲&lt;小区&gt;", "乙小区", "孤村", "丁小区"]
    assert data["facts"] == ["population", "households", "age_60_plus", "age_0_3"]
    assert data["factLabels"] == ["人口", "户数", "60岁及以上", "0–3岁"]
    # as "{:,.0f}" prints them: 1234.5 → 1234, 2117.5 → 2118 (half to even); -1 = missing
    assert column(data, "f0", n) == [1234, 2118, 80, -1]
    assert column(data, "f2", n) == [-1, 300, 40, 1]
    assert column(data, "pct", n) == [50, 100, 0, 50]
    # the 一刻钟 view (both categories are basic formats): the band of the farthest nearest format, by hand —
    # A: market none → beyond (3); B: max(335, 100.5) = 335 m = 5.0 min → within 5 (0); C: not connected (-1); D: 2345 m → 3
    assert column(data, "b_circle", n) == [3, 0, -1, 3]
    assert column(data, "t_circle", n) == [-1, 50, -1, 350]
    assert column(data, "b_compliance", n) == [4, 4, -1, 4]  # no compound question: neutral, but off the network shows
    assert column(data, "d0", n) == [1000, 335, -1, 17]
    assert column(data, "m0", n) == [149, 50, -1, 2]  # 16.75 m / 67 = 0.25 min prints as 0.2
    assert column(data, "d1", n) == [-1, 100, -1, 2345]
    assert column(data, "m1", n) == [-1, 15, -1, 350]
    # within 15 min, one bit per category
    assert column(data, "w0", n) == [1, 3, 0, 1]
    nearest = data["nearest"]
    assert [nearest[i] if i >= 0 else "" for i in column(data, "n0", n)] == ["便利店&lt;甲&gt;", "便利店乙", "", "便利店乙"]
    assert [nearest[i] if i >= 0 else "" for i in column(data, "n1", n)] == ["", "菜市场", "", "菜市场"]
    assert data["cats"] == ["便利店", "菜市场"]
    assert column(data, "fp", n) == [3, 9, 0, 1]
    assert [data["missing"][i] for i in column(data, "fm", n)] == ["药店、菜市场", "", "全部", ""]
    radius = np.clip(np.sqrt(compounds["population"].fillna(0).to_numpy()) / 6, 4, 14)
    assert np.allclose(np.array(column(data, "r", n)) / 10, radius, atol=0.05)
    # the views offered: no 养老/托育 categories analysed here, so the 一刻钟 circle and 达标
    config = _app_config(page)
    assert config["viewOrder"] == ["circle", "compliance"]
    assert config["views"]["circle"]["cats"] == [0, 1]
    assert config["bandLabels"] == ["5 分钟内", "5–10 分钟", "10–15 分钟", "超过 15 分钟或不可达"]


def _app_config(page: str) -> dict:
    """The config object of the page's ``plannerApp.init(map, config, tables)`` call."""
    at = page.index("plannerApp.init(")
    return json.JSONDecoder().raw_decode(page[page.index("{", at):])[0]


def test_facility_columns_hold_the_input(small_page) -> None:
    page, _, _, facilities = small_page
    layers = [d for _, d, _ in _calls(page)["table"] if "colour" in d]
    assert [d["name"] for d in layers] == [["便利店&lt;甲&gt;", "便利店乙"], ["菜市场"]]
    conv, market = layers
    wgs = facilities.to_crs(4326).geometry
    assert _close(decode_points(conv["xy"], conv["scale"]), [(wgs.x[0], wgs.y[0]), (wgs.x[1], wgs.y[1])], 6e-7)
    assert [conv["details"][i] for i in column(conv, "x", 2)] == ["便利店", "便利店<br>托位 30<br>普惠"]
    assert [market["details"][i] for i in column(market, "x", 1)] == ["菜市场<br>床位 12.5"]
    assert conv["colour"] != market["colour"]


def test_page_is_the_same_every_time(small_network, small_page) -> None:
    page, compounds, table, facilities = small_page
    again = gap_map(**_world(small_network, compounds, table, facilities)).get_root().render()
    assert again == page
    assert not re.search(r"_[0-9a-f]{32}\b", page), "a random folium id is left in the page"
    assert "<script src=" not in page


def test_saved_page_embeds_its_font_the_same_every_time(small_network, small_page, tmp_path) -> None:
    """save_map embeds the subset font of the page's characters (tests/test_map_font.py checks its coverage), and
    two saves give the same bytes."""
    _, compounds, table, facilities = small_page
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    for path in (a, b):
        save_map(gap_map(**_world(small_network, compounds, table, facilities)), path)
    assert a.read_bytes() == b.read_bytes()
    page = a.read_text(encoding="utf-8")
    assert page.count('@font-face{font-family:"PlannerCJK"') == 1
    assert page.index('<style id="planner-font">') < page.index("</head>")


# ------------------------------------------------------------------------------------------------ size


def _grid_network(side: int, rng: np.random.Generator) -> SimpleNamespace:
    """A jittered ``side`` × ``side`` street grid with 100 m blocks, every 10th street primary (a WalkNetwork's
    array interface: ``streets``, ``highway``, ``name``, ``crs``, ``n_edges``)."""
    iy, ix = np.divmod(np.arange(side * side), side)
    x = X0 + ix * 100.0 + rng.uniform(-10, 10, side * side)
    y = Y0 + iy * 100.0 + rng.uniform(-10, 10, side * side)
    node = np.arange(side * side).reshape(side, side)
    u = np.r_[node[:, :-1].ravel(), node[:-1, :].ravel()]
    v = np.r_[node[:, 1:].ravel(), node[1:, :].ravel()]
    row = np.r_[np.repeat(np.arange(side), side - 1), np.tile(np.arange(side), side - 1)]
    east = np.arange(len(u)) < side * (side - 1)
    streets = StreetArrays.straight(x, y, u, v)
    highway = np.where(row % 10 == 0, "primary", "residential").astype(object)
    name = np.array([f"{'纬' if e else '经'}{r}路" for e, r in zip(east, row, strict=True)], dtype=object)
    return SimpleNamespace(streets=streets, highway=highway, name=name, crs=CRS_M, n_edges=len(u), n_nodes=side * side)


def test_map_of_a_10k_node_city_stays_small() -> None:
    rng = np.random.default_rng(12)
    net = _grid_network(100, rng)
    n = 1_000
    compounds = gpd.GeoDataFrame(
        {"name": [f"第{i}小区" for i in range(n)], "population": rng.integers(200, 5000, n).astype(float),
         "households": rng.integers(100, 2000, n).astype(float), "age_60_plus": rng.integers(0, 900, n).astype(float),
         "age_0_3": rng.integers(0, 90, n).astype(float), "reachable": rng.random(n) > 0.02},
        geometry=shapely.points(X0 + rng.uniform(0, 9900, n), Y0 + rng.uniform(0, 9900, n)), crs=CRS_M,
        index=pd.Index([f"C{i}" for i in range(n)]),
    )
    m = 150
    facilities = gpd.GeoDataFrame(
        {"name": [f"设施{i}" for i in range(m)], "category": np.where(np.arange(m) % 3, "convenience", "market")},
        geometry=shapely.points(X0 + rng.uniform(0, 9900, m), Y0 + rng.uniform(0, 9900, m)), crs=CRS_M,
    )
    table = _coverage_table(
        compounds.index, {c: rng.gamma(2, 400, n) for c in CATS},
        {c: facilities["name"].to_numpy()[rng.integers(0, m, n)] for c in CATS},
    )
    page = gap_map(**_world(net, compounds, table, facilities)).get_root().render()
    calls = _calls(page)
    streets = sum(len(g["xy"]) + len(g["p"]) for _, d, _ in calls["streets"] for g in d["groups"])
    (_, comp, _), = [c for c in calls["table"] if "facts" in c[1]]
    comp_bytes = len(pd.io.json.ujson_dumps(comp, ensure_ascii=False).encode())
    assert streets / net.n_edges < 6, "street bytes per edge"  # ~4 (two 2-character differences per vertex)
    assert comp_bytes / n < 110, "compound table bytes per compound"
    total = len(page.encode())
    assert total < 200_000 + 10 * net.n_edges + 150 * n, f"{total / 1e6:.2f} MB"
    # a 1 M-node city (2 M edges, 100 k compounds) at these rates stays well below 30 MB
    assert 200_000 + (streets / net.n_edges) * 2e6 + (comp_bytes / n) * 1e5 < 25e6
    # the streets: one group per street name, every edge drawn
    assert len(calls["streets"][0][1]["groups"]) == 200


def test_street_lines_are_line_merges_lines() -> None:
    """Per street, as many lines as shapely.line_merge makes of its edges, and every edge drawn as a step of one."""
    net = _grid_network(12, np.random.default_rng(3))
    st = net.streets
    groups = {g["n"]: decode_rings(g["p"], g["xy"], 100_000) for g in street_groups(net, basemap="offline", tolerance_m=0)}
    lon, lat = Transformer.from_crs(CRS_M, 4326, always_xy=True).transform(st.coords[:, 0], st.coords[:, 1])
    q = np.c_[np.rint(np.asarray(lon) * 100_000), np.rint(np.asarray(lat) * 100_000)].astype(np.int64)
    edge_geoms = shapely.linestrings(st.coords, indices=np.repeat(np.arange(st.n_edges), 2))
    assert set(groups) == set(net.name)
    for name, lines in groups.items():
        sel = np.flatnonzero(net.name == name)
        assert len(lines) == shapely.get_num_geometries(shapely.line_merge(shapely.multilinestrings(edge_geoms[sel])))
        steps = set()
        for line in lines:
            pts = [(round(x * 100_000), round(y * 100_000)) for x, y in line]
            steps |= {(a, b) for a, b in zip(pts[:-1], pts[1:], strict=True)}
        for e in sel:
            a, b = tuple(q[2 * e].tolist()), tuple(q[2 * e + 1].tolist())
            assert (a, b) in steps or (b, a) in steps


# ------------------------------------------------------------------------------------------------ --lang en


_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _ui_texts(config: dict) -> list[str]:
    """The texts of the panel and popups planner writes itself (not the names of places and facilities)."""
    out = list(config["labels"].values()) + list(config["bandLabels"])
    for view in config["views"].values():
        out += [view[k] for k in ("label", "question", "answer", "measure", "rulesMeasure")]
    out += [layer["label"] for layer in config["facilityLayers"].values()]
    if config["zones"]:
        out += config["zones"]["ruleText"]
    return out


def test_english_map_has_english_texts(demo_result, tmp_path) -> None:
    """With --lang en every text planner writes on the map is English: the panel, views, legend, layer names, the
    rules of the 街道 popups (English names, units, "short by …") and the compound popups' labels; only the word
    街道 (kept on purpose) and the names of places stay Chinese. The Chinese map, for contrast, holds Chinese."""
    r, sc = demo_result, demo_result.scenario
    pages = {}
    for lang in ("en", "zh"):
        fmap = gap_map(title=sc.name, lang=lang, sample_data=sc.sample_data, basemap=sc.basemap, network=r.network, zones=r.zones,
                       zone_table=r.zone_table, compounds=r.compounds, coverage=r.coverage, facilities=r.facilities,
                       taxonomy=r.taxonomy, max_snap_m=sc.max_snap_m, isochrones=r.isochrones,
                       compliance=r.compliance.table, rules=r.compliance.rules, sites=r.sites, site_catchments=r.site_catchments)
        pages[lang] = fmap.get_root().render()
    config = _app_config(pages["en"])
    texts = _ui_texts(config)
    assert len(texts) > 60
    chinese = [t for t in texts if _CJK.search(t.replace("街道", ""))]
    assert chinese == [], chinese[:5]
    assert "short by 1 facilities" in " ".join(config["zones"]["ruleText"])
    compounds = [d for _, d, _ in _calls(pages["en"])["table"] if "facts" in d][0]
    assert not any(_CJK.search(t) for t in list(compounds["labels"].values()) + compounds["factLabels"] + compounds["cats"])
    assert not any(_CJK.search(t) for t in compounds["missing"]) and any(", " in t for t in compounds["missing"])
    zh_texts = _ui_texts(_app_config(pages["zh"]))
    assert sum(bool(_CJK.search(t)) for t in zh_texts) > 0.9 * len(zh_texts)


def test_each_elderly_and_childcare_facility_has_its_isochrone(demo_result) -> None:
    """A district-sized run draws each 养老/托育 facility's own walk (the longest threshold): one polygon per facility
    of those groups, from where it joins the network, within the group's merged isochrone; the map links each to its
    layer."""
    r = demo_result
    longest = max(r.scenario.thresholds_min)
    own = r.isochrones[("facilities", longest)]
    fac = r.facilities[r.facilities["category"].isin(r.coverage.categories)]
    fac = fac[[r.taxonomy[c].group in ("elderly", "childcare") for c in fac["category"]]]
    assert sorted(own["facility_id"]) == sorted(fac["id"].astype(str))
    pts = fac.set_index(fac["id"].astype(str)).geometry.reindex(own["facility_id"]).to_numpy()
    # the walk starts where the facility joins the network (at most max_snap_m away) and the area hugs the streets
    assert (~shapely.is_empty(own.geometry.to_numpy())).all()
    assert (shapely.distance(own.geometry.to_numpy(), pts) <= r.scenario.max_snap_m).all()
    for group in ("elderly", "childcare"):
        merged = r.isochrones[(group, longest)].geometry.iloc[0].buffer(1.0)
        mine = own[[r.taxonomy[c].group == group for c in own["category"]]]
        assert shapely.covers(merged, mine.geometry.to_numpy()).all()
    page = gap_map(title="t", lang="zh", sample_data=True, basemap="offline", network=r.network, zones=r.zones,
                   zone_table=r.zone_table, compounds=r.compounds, coverage=r.coverage, facilities=r.facilities,
                   taxonomy=r.taxonomy, max_snap_m=300.0, isochrones=r.isochrones).get_root().render()
    of = _app_config(page)["facilityIso"]["of"]
    childcare = r.facilities[r.facilities["category"] == "childcare"]
    assert [own["facility_id"].iloc[i] for i in of["childcare"]] == childcare["id"].astype(str).tolist()
