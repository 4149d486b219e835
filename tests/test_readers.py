"""Readers for the layers users hold: Chinese CSV (GBK, UTF-8 BOM), Excel, zipped GBK shapefiles, GeoParquet, WKT; Amap coordinates and type codes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from planner import LayerError
from planner.io.coords import wgs84_to_bd09, wgs84_to_gcj02
from planner.io.layers import load_facilities, load_residential
from planner.io.readers import detect_encoding, read_layer
from planner.settings import LayerSpec, PopulationSpec

WGS84 = CRS.from_epsg(4326)
M_PER_DEG = 111_320.0
TRUTH = [(116.3503, 40.0031), (116.3521, 40.0042), (116.3488, 40.0017)]  # lon, lat in WGS84


def _err_m(a: shapely.Point, lon: float, lat: float) -> float:
    return float(np.hypot((a.x - lon) * M_PER_DEG * np.cos(np.radians(lat)), (a.y - lat) * M_PER_DEG))


def _csv(path: Path, header: list[str], rows: list[list[object]], encoding: str) -> Path:
    text = "\n".join(",".join(str(v) for v in r) for r in [header, *rows]) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(("encoding", "expected"), [("gbk", "gb18030"), ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig")])
def test_encoding_detection(encoding, expected):
    """UTF-8, UTF-8 with BOM and GBK text are told apart."""
    assert detect_encoding("名称,类别\n好邻居便利店,便利店\n".encode(encoding)) == expected


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_gcj02_csv_with_chinese_headers(tmp_path: Path, encoding: str):
    """A CSV with 名称/类别/经度/纬度 in GCJ-02 loads to WGS84 positions within 1 cm of the truth, whatever its encoding."""
    glon, glat = wgs84_to_gcj02([t[0] for t in TRUTH], [t[1] for t in TRUTH])
    rows = [[f"F{i}", n, c, f"{glon[i]:.9f}", f"{glat[i]:.9f}"] for i, (n, c) in enumerate([("好邻居便利店", "便利店"), ("同仁堂药店", "药店"), ("阳光托育", "托育机构")])]
    path = _csv(tmp_path / "pois.csv", ["编号", "名称", "类别", "经度", "纬度"], rows, encoding)
    layer = load_facilities(LayerSpec(kind="facilities", path=path, crs="GCJ02"), WGS84)
    assert list(layer.data["name"]) == ["好邻居便利店", "同仁堂药店", "阳光托育"]
    assert list(layer.data["category"]) == ["convenience", "pharmacy", "childcare"]
    for geom, (lon, lat) in zip(layer.data.geometry, TRUTH, strict=True):
        assert _err_m(geom, lon, lat) < 0.01


def test_undeclared_lonlat_table_stops_with_the_choice(tmp_path: Path):
    """A lon/lat table with no declared system stops and names the choices (a silent guess could be 500 m off)."""
    path = _csv(tmp_path / "p.csv", ["名称", "类别", "经度", "纬度"], [["a", "便利店", 116.35, 40.0]], "utf-8")
    with pytest.raises(LayerError) as err:
        load_facilities(LayerSpec(kind="facilities", path=path), WGS84)
    assert "GCJ02" in str(err.value) and "BD09" in str(err.value) and str(path) in str(err.value)


def test_column_names_that_say_their_system(tmp_path: Path):
    """Columns named bd_lng/bd_lat are read as BD-09 without a declaration."""
    blon, blat = wgs84_to_bd09([TRUTH[0][0]], [TRUTH[0][1]])
    path = _csv(tmp_path / "p.csv", ["name", "category", "bd_lng", "bd_lat"], [["a", "便利店", f"{blon[0]:.9f}", f"{blat[0]:.9f}"]], "utf-8")
    layer = load_facilities(LayerSpec(kind="facilities", path=path), WGS84)
    assert _err_m(layer.data.geometry.iloc[0], *TRUTH[0]) < 0.01


def test_xlsx_with_amap_location_and_typecode(tmp_path: Path):
    """An Excel sheet exported from Amap (location "lon,lat", typecode, type text) maps to categories and WGS84."""
    openpyxl = pytest.importorskip("openpyxl")
    glon, glat = wgs84_to_gcj02([t[0] for t in TRUTH], [t[1] for t in TRUTH])
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "POI"
    ws.append(["id", "name", "type", "typecode", "location"])
    ws.append(["B001", "罗森(学院路店)", "购物服务;便民商店/便利店;便利店", "060200", f"{glon[0]:.9f},{glat[0]:.9f}"])
    ws.append(["B002", "物美超市", "购物服务;超级市场;超市", "060400", f"{glon[1]:.9f},{glat[1]:.9f}"])
    ws.append(["B003", "幸福里长者食堂", "餐饮服务;中餐厅;中餐厅", "050100", f"{glon[2]:.9f},{glat[2]:.9f}"])
    ws.append(["B004", "某网吧", "休闲娱乐;网吧;网吧", "080308", f"{glon[2]:.9f},{glat[2]:.9f}"])
    path = tmp_path / "amap.xlsx"
    wb.save(path)
    layer = load_facilities(LayerSpec(kind="facilities", path=path, layer="POI", crs="GCJ02"), WGS84)
    assert dict(zip(layer.data["id"], layer.data["category"], strict=True)) == {"B001": "convenience", "B002": "supermarket", "B003": "meal_point"}
    assert list(layer.rejected["reason_code"]) == ["unknown_category"]
    assert "080308" in layer.rejected["reason"].iloc[0]
    assert _err_m(layer.data.geometry.iloc[0], *TRUTH[0]) < 0.01


def test_scenario_rule_adds_a_category(tmp_path: Path):
    """A scenario rule (keywords) classifies POIs the shipped taxonomy does not know."""
    path = _csv(tmp_path / "p.csv", ["name", "typecode", "lon", "lat"], [["爱心驿站", "070000", 116.35, 40.0]], "utf-8")
    spec = LayerSpec(kind="facilities", path=path, crs="WGS84")
    assert len(load_facilities(spec, WGS84).data) == 0
    spec = LayerSpec(kind="facilities", path=path, crs="WGS84", rules=({"category": "community_service", "keywords": ["驿站"]},))
    assert list(load_facilities(spec, WGS84).data["category"]) == ["community_service"]


def test_zipped_gbk_shapefile_without_cpg(tmp_path: Path):
    """A zipped shapefile whose .dbf is GBK and has no .cpg keeps its Chinese text."""
    gdf = gpd.GeoDataFrame({"名称": ["锦绣花园", "翠湖小区"], "户数": [320, 410]}, geometry=[shapely.Point(p) for p in TRUTH[:2]], crs=4326)
    shp = tmp_path / "res.shp"
    gdf.to_file(shp, engine="pyogrio", encoding="gbk")
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    # the loose shapefile: encoding detected from the .dbf
    loose = load_residential(LayerSpec(kind="residential", path=shp), WGS84, PopulationSpec())
    assert list(loose.data["name"]) == ["锦绣花园", "翠湖小区"]
    # zipped, with the encoding declared
    zpath = tmp_path / "res.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for part in tmp_path.glob("res.*"):
            if part.suffix != ".zip":
                zf.write(part, part.name)
    zipped = load_residential(LayerSpec(kind="residential", path=zpath, encoding="gbk"), WGS84, PopulationSpec(persons_per_household=2.5))
    assert list(zipped.data["name"]) == ["锦绣花园", "翠湖小区"]
    assert list(zipped.data["population"]) == [800.0, 1025.0]


def test_geoparquet_and_wkt(tmp_path: Path):
    """GeoParquet keeps its CRS; a CSV with a WKT column reads polygons."""
    gdf = gpd.GeoDataFrame({"小区名称": ["甲"], "人口": [1200]}, geometry=[shapely.Point(TRUTH[0]).buffer(0.001)], crs=4326)
    pq = tmp_path / "res.parquet"
    gdf.to_parquet(pq)
    layer = load_residential(LayerSpec(kind="residential", path=pq), WGS84, PopulationSpec())
    assert layer.data.geometry.iloc[0].geom_type == "Polygon" and layer.data["population"].iloc[0] == 1200
    wkt = tmp_path / "res.csv"
    wkt.write_text(f'小区名称,人口,wkt\n甲,1200,"{gdf.geometry.iloc[0].wkt}"\n乙,300,"POLYGON((1 2, oops"\n', encoding="utf-8")
    layer = load_residential(LayerSpec(kind="residential", path=wkt, crs="EPSG:4326"), WGS84, PopulationSpec())
    assert len(layer.data) == 1 and list(layer.rejected["reason_code"]) == ["invalid_coordinates"]


def test_read_layer_rejects_unknown_suffix(tmp_path: Path):
    """An unsupported file type names the supported ones."""
    path = tmp_path / "x.dwg"
    path.write_bytes(b"0")
    with pytest.raises(LayerError, match="GeoPackage"):
        read_layer(path)


# numbers as written in bureau sheets: (text, column, number read or the reason the row is rejected)
NUMBER_CASES = [
    ("50张", "beds", 50.0),
    ("50 张", "beds", 50.0),
    ("50床", "nursing_beds", 50.0),
    ("300人", "population", 300.0),
    ("300名", "age_60_plus", 300.0),
    ("约1200", "population", 1200.0),
    ("大约1200人", "population", 1200.0),
    ("1200人左右", "population", 1200.0),
    ("1,200", "population", 1200.0),
    ("1，200", "households", 1200.0),
    ("1 200", "population", 1200.0),
    ("１２００", "population", 1200.0),
    ("１，２００户", "households", 1200.0),
    ("120㎡", "floor_area_m2", 120.0),
    ("120平方米", "elderly_room_m2", 120.0),
    ("120平米", "childcare_room_m2", 120.0),
    ("120 m2", "floor_area_m2", 120.0),
    ("3.5万", "population", 35000.0),
    ("3.5万人", "population", 35000.0),
    ("2千户", "households", 2000.0),
    ("40个托位", "places", 40.0),
    ("40位", "places", 40.0),
    ("12.5", "beds", 12.5),
    ("1e3", "population", 1000.0),
    ("50人", "beds", "unit_mismatch"),
    ("50张", "places", "unit_mismatch"),
    ("300户", "population", "unit_mismatch"),
    ("120米", "floor_area_m2", "unit_mismatch"),
    ("50-60", "beds", "non_numeric"),
    ("50~60张", "beds", "non_numeric"),
    ("50张,60张", "beds", "non_numeric"),
    ("若干", "beds", "non_numeric"),
    ("待定", "places", "non_numeric"),
    ("50 待定", "places", "non_numeric"),
    ("1,2", "population", "non_numeric"),
    ("-5张", "beds", "negative_value"),
]


@pytest.mark.parametrize(("text", "column", "expected"), NUMBER_CASES)
def test_numbers_with_units(text: str, column: str, expected):
    """Each way of writing a number is read to the number meant, or its row rejected with the right reason."""
    from planner.io.numbers import UNITS, read_numbers

    got = read_numbers(pd.Series([text, None, "7"], dtype=object), UNITS[column])
    assert got.values.iloc[2] == 7.0 and not got.from_text[2] and np.isnan(got.values.iloc[1])
    if isinstance(expected, float):
        assert got.values.iloc[0] == expected and got.from_text[0] != (text in ("12.5", "1e3"))
        assert not got.non_numeric[0] and not got.unit_mismatch[0]
    elif expected == "negative_value":
        assert got.values.iloc[0] < 0
    else:
        assert np.isnan(got.values.iloc[0])
        assert (got.non_numeric[0], got.unit_mismatch[0]) == (expected == "non_numeric", expected == "unit_mismatch")


@pytest.mark.parametrize("text", ["inf", "1e400", "-Infinity"])
def test_infinite_numbers_are_kept_for_the_plausibility_check(text: str):
    from planner.io.numbers import read_numbers

    got = read_numbers(pd.Series([text], dtype=object), ("人",))
    assert np.isinf(got.values.iloc[0]) and not got.non_numeric[0]


def test_units_through_a_layer_are_counted_and_rejected_with_their_text(tmp_path: Path):
    rows = [[f"F{i}", "养老院", 116.35, 40.0, beds] for i, beds in enumerate(["50张", "约60床", "70", "50人", "若干"])]
    path = _csv(tmp_path / "b.csv", ["编号", "类别", "lon", "lat", "床位"], rows, "utf-8")
    layer = load_facilities(LayerSpec(kind="facilities", path=path, crs="WGS84"), WGS84)
    assert layer.data["beds"].tolist() == [50.0, 60.0, 70.0]
    assert layer.units_read == {"床位": 2}
    assert dict(zip(layer.rejected["id"], layer.rejected["reason_code"], strict=True)) == {"F3": "unit_mismatch", "F4": "non_numeric"}
    assert "50人" in layer.rejected["reason"].iloc[0] and list(layer.rejected["row"]) == [5, 6]


def test_a_hundred_thousand_values_with_units(tmp_path: Path):
    """The unit reader works on the column at once: 100 000 values read to the numbers written."""
    from planner.io.numbers import read_numbers

    n = 100_000
    k = np.arange(n)
    text = pd.Series(np.where(k % 3 == 0, [f"{v}人" for v in k], np.where(k % 3 == 1, [f"约{v:,}" for v in k], k.astype(str))), dtype=object)
    got = read_numbers(text, ("人",))
    assert np.array_equal(got.values.to_numpy(), k.astype(float))
    assert int(got.from_text.sum()) == int((k % 3 == 0).sum() + ((k % 3 == 1) & (k >= 0)).sum())
