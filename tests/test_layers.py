"""Layer loading: bad files stop with a message naming the file, the column and the fix; bad rows are rejected with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from planner import LayerError
from planner.io.layers import load_facilities, load_residential, load_zones
from planner.settings import LayerSpec, PopulationSpec

METRIC = CRS.from_epsg(4549)


def _geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8")
    return path


def _pt(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def _feature(props: dict, geom: dict | None) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geom}


@pytest.fixture
def bad_facilities(tmp_path: Path) -> Path:
    """Eight rows: two good, six wrong in one way each."""
    rows = [
        ({"编号": "F1", "名称": "好邻居便利店", "类别": "便利店", "托位": None}, _pt(120.90, 31.98)),
        ({"编号": "F2", "名称": "阳光托育", "类别": "托育机构", "托位": "40"}, _pt(120.91, 31.98)),
        ({"编号": "F3", "名称": "极速网咖", "类别": "网吧", "托位": None}, _pt(120.92, 31.98)),
        ({"编号": "F4", "名称": "无坐标药店", "类别": "药店", "托位": None}, None),
        ({"编号": "F1", "名称": "重复编号超市", "类别": "综合超市", "托位": None}, _pt(120.93, 31.98)),
        ({"编号": "F6", "名称": "托位写错", "类别": "托育机构", "托位": "四十"}, _pt(120.94, 31.98)),
        ({"编号": "F7", "名称": "没写类别", "类别": "", "托位": None}, _pt(120.95, 31.98)),
        ({"编号": "F8", "名称": "托位为负", "类别": "托育机构", "托位": -5}, _pt(120.96, 31.98)),
    ]
    return _geojson(tmp_path / "facilities.geojson", [_feature(p, g) for p, g in rows])


def test_each_bad_row_rejected_with_its_reason(bad_facilities: Path):
    """Every row is either kept or in the rejected table, with the reason that fits it."""
    layer = load_facilities(LayerSpec(kind="facilities", path=bad_facilities), METRIC)
    assert list(layer.data["id"]) == ["F1", "F2"]
    assert layer.rows_read == 8
    assert len(layer.data) + len(layer.rejected) == layer.rows_read
    reasons = dict(zip(layer.rejected["name"], layer.rejected["reason_code"], strict=True))
    assert reasons == {
        "极速网咖": "unknown_category",
        "无坐标药店": "missing_geometry",
        "重复编号超市": "duplicate_id",
        "托位写错": "non_numeric",
        "没写类别": "missing_category",
        "托位为负": "negative_value",
    }
    unknown = layer.rejected.set_index("name").loc["极速网咖"]
    assert "网吧" in unknown["reason"] and "unknown facility category" in unknown["reason"]
    assert json.loads(unknown["attributes"])["类别"] == "网吧"  # the original row travels with it
    assert layer.data.loc["F2", "places"] == 40.0
    assert layer.data.loc["F1", "category"] == "convenience"
    assert layer.data.crs == METRIC


def test_scenario_category_mapping_rescues_a_label(bad_facilities: Path):
    """A label unknown to the taxonomy is accepted when the scenario maps it to a category."""
    spec = LayerSpec(kind="facilities", path=bad_facilities, category_map={"网吧": "repair"})
    layer = load_facilities(spec, METRIC)
    assert "F3" in layer.data.index and layer.data.loc["F3", "category"] == "repair"


def test_no_crs_names_file_and_fix(tmp_path: Path):
    """A shapefile without .prj stops the run with the file name and the crs = ... fix."""
    gdf = gpd.GeoDataFrame({"名称": ["a"], "类别": ["便利店"]}, geometry=[shapely.Point(120.9, 31.98)])
    shp = tmp_path / "no_crs.shp"
    with pytest.warns(UserWarning, match="crs"):
        gdf.to_file(shp, engine="pyogrio", encoding="utf-8")
    assert not shp.with_suffix(".prj").exists()
    with pytest.raises(LayerError) as err:
        load_facilities(LayerSpec(kind="facilities", path=shp), METRIC)
    msg = str(err.value)
    assert str(shp) in msg and 'crs = "EPSG:4326"' in msg and "没有坐标系" in msg
    # declaring the CRS in the scenario is the fix
    layer = load_facilities(LayerSpec(kind="facilities", path=shp, crs="EPSG:4326"), METRIC)
    assert len(layer.data) == 1


def test_missing_category_column_names_columns_and_fix(tmp_path: Path):
    """A facility table without a category column names the file, the existing columns and the mapping fix."""
    path = _geojson(tmp_path / "nocat.geojson", [_feature({"名称": "x", "kind": "shop"}, _pt(120.9, 31.98))])
    with pytest.raises(LayerError) as err:
        load_facilities(LayerSpec(kind="facilities", path=path), METRIC)
    msg = str(err.value)
    assert str(path) in msg and "kind" in msg and '[layers.facilities.columns] category = "<your column>"' in msg


def test_mapped_column_that_does_not_exist(tmp_path: Path):
    """A scenario mapping to a column that is not in the file says which column, and lists the real ones."""
    path = _geojson(tmp_path / "f.geojson", [_feature({"名称": "x", "类别": "便利店"}, _pt(120.9, 31.98))])
    with pytest.raises(LayerError) as err:
        load_facilities(LayerSpec(kind="facilities", path=path, columns={"category": "设施种类"}), METRIC)
    msg = str(err.value)
    assert "'设施种类'" in msg and "类别" in msg and str(path) in msg


def test_empty_layer(tmp_path: Path):
    """An empty layer stops with a message naming the file."""
    path = _geojson(tmp_path / "empty.geojson", [])
    with pytest.raises(LayerError) as err:
        load_zones(LayerSpec(kind="zones", path=path), METRIC)
    assert "图层为空" in str(err.value) and str(path) in str(err.value)


def test_residential_population_from_households_and_rejections(tmp_path: Path):
    """Households × persons per household fill a missing population; rows with neither are rejected."""
    rows = [
        ({"小区编号": "R1", "小区名称": "甲", "户数": 100, "人口": 300}, _pt(120.9, 31.98)),
        ({"小区编号": "R2", "小区名称": "乙", "户数": 100, "人口": None}, _pt(120.91, 31.98)),
        ({"小区编号": "R3", "小区名称": "丙", "户数": None, "人口": None}, _pt(120.92, 31.98)),
    ]
    path = _geojson(tmp_path / "res.geojson", [_feature(p, g) for p, g in rows])
    layer = load_residential(LayerSpec(kind="residential", path=path), METRIC, PopulationSpec(persons_per_household=2.5))
    assert layer.data.loc["R1", "population"] == 300 and layer.data.loc["R1", "population_source"] == "given"
    assert layer.data.loc["R2", "population"] == 250 and layer.data.loc["R2", "population_source"] == "households"
    assert list(layer.rejected["reason_code"]) == ["no_population"]


def test_residential_without_population_or_households_column(tmp_path: Path):
    """A residential layer with neither column stops with the mapping fix."""
    path = _geojson(tmp_path / "res.geojson", [_feature({"name": "x"}, _pt(120.9, 31.98))])
    with pytest.raises(LayerError, match="population"):
        load_residential(LayerSpec(kind="residential", path=path), METRIC, PopulationSpec())


def test_zone_geometry_repaired_or_rejected(tmp_path: Path):
    """A self-intersecting 街道 polygon is repaired; a point where a polygon should be is rejected."""
    bowtie = {"type": "Polygon", "coordinates": [[[120.90, 31.98], [120.91, 31.99], [120.91, 31.98], [120.90, 31.99], [120.90, 31.98]]]}
    square = {"type": "Polygon", "coordinates": [[[120.90, 31.98], [120.91, 31.98], [120.91, 31.99], [120.90, 31.99], [120.90, 31.98]]]}
    path = _geojson(
        tmp_path / "zones.geojson",
        [
            _feature({"街道编码": "Z1", "街道名称": "好街道"}, square),
            _feature({"街道编码": "Z2", "街道名称": "蝴蝶街道"}, bowtie),
            _feature({"街道编码": "Z3", "街道名称": "点街道"}, _pt(120.9, 31.98)),
        ],
    )
    layer = load_zones(LayerSpec(kind="zones", path=path, columns={"id": "街道编码", "name": "街道名称"}), METRIC)
    assert list(layer.data.index) == ["Z1", "Z2"]
    assert layer.data.loc["Z2"].geometry.is_valid and layer.data.loc["Z2"].geometry.area > 0
    assert list(layer.rejected["reason_code"]) == ["wrong_geometry_type"]


def test_validator_keeps_the_first_reason_per_row_in_input_order() -> None:
    """Rejections collected as arrays: each row once, with its first reason and its own detail, listed by row."""
    from planner.io.layers import _Validator

    raw = gpd.GeoDataFrame({"名称": ["甲", "乙", "丙", "丁"], "类别": ["便利店", "X", None, "Y"]},
                           geometry=shapely.points([0, 1, 2, 3], [0, 1, 2, 3]), crs=4326)
    v = _Validator("facilities", "shops.csv", raw)
    v.reject(raw["类别"].isin(["X", "Y"]), "unknown_category", raw["类别"].astype(str))  # rows 1 and 3
    v.reject(raw["类别"].isna() | (raw["类别"] == "Y"), "missing_category")  # row 2; row 3 keeps its first reason
    v.reject(np.zeros(4, dtype=bool), "duplicate_id")  # nothing
    assert v.ok.tolist() == [True, False, False, False]
    out = v.rejected(pd.Series(["a", "b", "c", "d"]), raw["名称"])
    assert out["row"].tolist() == [2, 3, 4]  # 1-based, in input order although row 3 (4th) was rejected first
    assert out["reason_code"].tolist() == ["unknown_category", "missing_category", "unknown_category"]
    assert out["id"].tolist() == ["b", "c", "d"] and out["name"].tolist() == ["乙", "丙", "丁"]
    assert out["reason"].iloc[0] == "未知设施类别：X / unknown facility category: X"
    assert out["reason"].iloc[1] == "缺少设施类别 / missing facility category"
    assert json.loads(out["attributes"].iloc[2]) == {"名称": "丁", "类别": "Y"}
