"""Base maps of the gap map: offline (default, no tiles), OpenStreetMap, 天地图 (refused without a key) and 高德,
on which every geometry is drawn shifted from WGS84 to GCJ-02."""

from __future__ import annotations

import html
from pathlib import Path

import folium
import numpy as np
import pytest
from _mapdata import decode_points, page_calls

from planner import ScenarioError
from planner.io.coords import wgs84_to_gcj02
from planner.outputs.basemaps import BASEMAPS, add_basemap, check_basemap, to_display
from planner.outputs.maps import gap_map
from planner.scenario import load_scenario


def _map(result, basemap: str, **kw) -> folium.Map:
    return gap_map(
        title=result.scenario.name, lang=kw.pop("lang", "zh"), sample_data=True, basemap=basemap,
        network=result.network, zones=result.zones, zone_table=result.zone_table, compounds=result.compounds,
        coverage=result.coverage, facilities=result.facilities, taxonomy=result.taxonomy, max_snap_m=result.scenario.max_snap_m,
        isochrones=result.isochrones, compliance=result.compliance.table, **kw,
    )


@pytest.fixture(scope="module")
def amap_html(demo_result) -> str:
    return _map(demo_result, "amap").get_root().render()


def _coordinates_of(page: str, name: str) -> tuple[float, float]:
    """Coordinates of the facility called ``name`` in a rendered gap map (read back from its packed layer)."""
    for _, kind, data, _ in page_calls(page):
        if kind == "table" and "colour" in data and html.escape(name) in data["name"]:  # a facility layer's table
            return decode_points(data["xy"], data["scale"])[data["name"].index(html.escape(name))]
    raise AssertionError(f"{name} not on the map")


def test_amap_points_are_drawn_in_gcj02(demo_result, amap_html: str) -> None:
    fac = demo_result.facilities.to_crs(4326)
    fac = fac[~fac["name"].duplicated(keep=False)]  # a name found once on the map is this facility's
    for i in (0, len(fac) // 2, len(fac) - 1):
        row = fac.iloc[i]
        lon, lat = _coordinates_of(amap_html, str(row["name"]))
        glon, glat = wgs84_to_gcj02(row.geometry.x, row.geometry.y)
        assert (lon, lat) == pytest.approx((float(glon), float(glat)), abs=6e-7)  # rounded to 1e-6°
        # and that is hundreds of metres away from the WGS84 position
        assert 100 < np.hypot((lon - row.geometry.x) * 94_000, (lat - row.geometry.y) * 111_000) < 1000
    assert "webrd0{s}.is.autonavi.com" in amap_html and "GCJ-02" in amap_html


def test_offline_map_keeps_wgs84_and_loads_no_tiles(demo_result) -> None:
    page = _map(demo_result, "offline").get_root().render()
    row = demo_result.facilities.to_crs(4326).iloc[0]
    assert _coordinates_of(page, str(row["name"])) == pytest.approx((row.geometry.x, row.geometry.y), abs=6e-7)
    assert "L.tileLayer(" not in page and "autonavi" not in page and "tianditu" not in page


def test_every_geometry_is_shifted(demo_result) -> None:
    """Lines and polygons too: each vertex moves exactly as wgs84_to_gcj02 says."""
    zones = demo_result.zones
    shifted = to_display(zones, "amap")
    wgs = zones.to_crs(4326)
    a = np.asarray(wgs.geometry.iloc[0].exterior.coords)
    b = np.asarray(shifted.geometry.iloc[0].exterior.coords)
    assert np.allclose(np.column_stack(wgs84_to_gcj02(a[:, 0], a[:, 1])), b, atol=1e-12, rtol=0)
    assert to_display(zones, "osm").geometry.geom_equals_exact(wgs.geometry, tolerance=0).all()


@pytest.mark.parametrize(
    ("basemap", "lang", "expected"),
    [
        ("osm", "zh", ["tile.openstreetmap.org"]),
        ("tianditu", "zh", ["t{s}.tianditu.gov.cn/vec_w/wmts", "/cva_w/wmts", "TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=abc123"]),
        ("tianditu", "en", ["/vec_w/wmts", "/eva_w/wmts"]),  # English annotation layer
        ("amap", "zh", ["webrd0{s}.is.autonavi.com/appmaptile", "style=8&x={x}&y={y}&z={z}"]),
    ],
)
def test_tile_layers(basemap: str, lang: str, expected: list[str]) -> None:
    fmap = folium.Map(tiles=None)
    add_basemap(fmap, basemap, lang=lang, tianditu_key="abc123")
    page = fmap.get_root().render().replace("\\u0026", "&")  # folium writes & inside JS strings as \\u0026
    for text in expected:
        assert text in page


def test_gap_map_over_tianditu(demo_result) -> None:
    page = _map(demo_result, "tianditu", tianditu_key="abc123").get_root().render()
    assert page.count("L.tileLayer(") == 2 and "tk=abc123" in page


def test_tianditu_without_a_key_is_refused(demo_result, repo_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="tianditu_key"):
        check_basemap("tianditu", None)
    with pytest.raises(ScenarioError, match="tianditu_key"):
        _map(demo_result, "tianditu")
    with pytest.raises(ScenarioError, match="basemap"):
        check_basemap("baidu")
    text = (repo_root / "scenarios" / "demo.toml").read_text(encoding="utf-8").replace("../layers/", (repo_root / "layers").as_posix() + "/")
    path = tmp_path / "s.toml"
    path.write_text(text.replace('basemap = "offline"', 'basemap = "tianditu"'), encoding="utf-8")
    with pytest.raises(ScenarioError, match="需要天地图密钥.*needs a 天地图 key"):
        load_scenario(path)
    path.write_text(text.replace('basemap = "offline"', 'basemap = "tianditu"\ntianditu_key = "k1"'), encoding="utf-8")
    sc = load_scenario(path)
    assert (sc.basemap, sc.tianditu_key) == ("tianditu", "k1")
    path.write_text(text.replace('basemap = "offline"', 'basemap = "amap"'), encoding="utf-8")
    assert load_scenario(path).basemap == "amap"
    assert BASEMAPS == ("offline", "osm", "tianditu", "amap")


def test_the_scale_bar_is_metric_only():
    from planner.outputs.basemaps import offline_map

    page = offline_map([32.0, 120.9], tiles=None).get_root().render()
    assert "L.control.scale({metric: true, imperial: false})" in page
    assert "L.control.scale()" not in page  # folium's default shows feet and miles too
