"""Excel and CSV as bureaus write them (issue #13, deliverable 4): every sheet or none, title rows, two-row merged
headers, duplicate column names, and rejected.csv's row numbers equal to the row a user sees in Excel or the line
a text editor shows."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from pyproj import CRS

from planner import LayerError
from planner.cli import main
from planner.io.layers import load_facilities, load_residential
from planner.io.readers import SHEET_COLUMN, SOURCE_ROW, read_layer
from planner.settings import LayerSpec, PopulationSpec

openpyxl = pytest.importorskip("openpyxl")
WGS84 = CRS.from_epsg(4326)


def _book(path: Path, sheets: dict[str, list[list[object]]], merges: dict[str, list[str]] | None = None) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
        for rng in (merges or {}).get(title, []):
            ws.merge_cells(rng)
    wb.save(path)
    return path


def _facilities(path: Path, **kw) -> object:
    return load_facilities(LayerSpec(kind="facilities", path=path, crs="WGS84", **kw), WGS84)


def _rows(prefix: str, n: int, lon0: float = 120.90) -> list[list[object]]:
    return [[f"{prefix}{i}", "便利店", round(lon0 + 0.001 * i, 4), 32.0] for i in range(n)]


def test_sheets_with_the_same_columns_are_all_read(tmp_path: Path):
    """Two sheets with the same columns in another order are read whole; each row keeps its sheet and its row."""
    path = _book(tmp_path / "two.xlsx", {
        "一批": [["名称", "类别", "经度", "纬度"], *_rows("甲", 3)],
        "二批": [["经度", "名称", "纬度", "类别"], *[[r[2], r[0], r[3], r[1]] for r in _rows("乙", 2)], [120.9, "乙坏", 32.0, "网吧"]],
        "空表": [["名称", "类别", "经度", "纬度"]],  # a header and no data: ignored, said so
    })
    raw = read_layer(path, crs="WGS84")
    assert len(raw) == 6
    assert list(raw[SHEET_COLUMN]) == ["一批"] * 3 + ["二批"] * 3
    assert list(raw[SOURCE_ROW]) == [2, 3, 4, 2, 3, 4]
    notes = " ".join(raw.attrs["read_notes"])
    assert "一批" in notes and "二批" in notes and "空表" in notes
    layer = _facilities(path)
    assert layer.rows_read == 6 and len(layer.data) == 5
    assert list(layer.rejected["row"]) == [4]
    attrs = json.loads(layer.rejected["attributes"].iloc[0])
    assert attrs["工作表"] == "二批" and attrs["名称"] == "乙坏" and SOURCE_ROW not in attrs


def test_sheets_with_different_columns_are_refused_naming_them(tmp_path: Path):
    path = _book(tmp_path / "mixed.xlsx", {
        "设施": [["名称", "类别", "经度", "纬度"], *_rows("甲", 2)],
        "填表说明": [["说明", "备注"], ["经纬度请用高德坐标", "无"]],
    })
    with pytest.raises(LayerError) as err:
        _facilities(path)
    msg = str(err.value)
    assert "设施" in msg and "填表说明" in msg and "说明、备注" in msg and 'layer = "' in msg and "--layer" in msg
    # naming the sheet reads it alone
    assert len(_facilities(path, layer="设施").data) == 2


def test_a_named_sheet_that_is_missing_lists_the_sheets(tmp_path: Path):
    path = _book(tmp_path / "a.xlsx", {"设施": [["名称", "类别", "经度", "纬度"], *_rows("甲", 1)], "其他": [["x"]]})
    with pytest.raises(LayerError) as err:
        _facilities(path, layer="养老")
    assert "养老" in str(err.value) and "“设施”、“其他”" in str(err.value)


def test_two_row_merged_header_under_a_title(tmp_path: Path):
    """A title row, then 基本信息 merged over 名称/类别 and 位置 over 经度/纬度: flattened; Excel row numbers kept."""
    path = _book(
        tmp_path / "bureau.xlsx",
        {"名单": [
            ["2024年南通市养老机构名单"],
            ["基本信息", None, "位置", None],
            ["名称", "类别", "经度", "纬度"],
            ["甲养老院", "养老院", 120.90, 32.00],
            [None, None, None, None],
            ["乙养老院", "养老院", None, None],
            ["丙养老院", "养老院", 120.92, 32.02],
        ]},
        {"名单": ["A1:D1", "A2:B2", "C2:D2"]},
    )
    layer = _facilities(path)
    assert list(layer.data["name"]) == ["甲养老院", "丙养老院"]
    assert list(layer.rejected["row"]) == [6] and list(layer.rejected["reason_code"]) == ["missing_coordinates"]
    notes = " ".join(layer.notes)
    assert "2024年南通市养老机构名单" in notes and "2–3" in notes


def test_repeated_lower_names_take_their_group(tmp_path: Path):
    """高德坐标 and 百度坐标 each over 经度/纬度: the columns become 高德坐标_经度 … and can be mapped."""
    path = _book(tmp_path / "g.xlsx", {"表": [
        ["名称", "类别", "高德坐标", None, "百度坐标", None],
        [None, None, "经度", "纬度", "经度", "纬度"],
        ["甲", "便利店", 120.9, 32.0, 120.906, 32.006],
    ]}, {"表": ["A1:A2", "B1:B2", "C1:D1", "E1:F1"]})
    raw = read_layer(path, crs="GCJ02", columns={"lon": "高德坐标_经度", "lat": "高德坐标_纬度"})
    assert [c for c in raw.columns if "_" in c and not c.startswith("_")] == ["高德坐标_经度", "高德坐标_纬度", "百度坐标_经度", "百度坐标_纬度"]
    assert len(raw) == 1 and raw[SOURCE_ROW].iloc[0] == 3


def test_three_header_rows_are_refused(tmp_path: Path):
    path = _book(tmp_path / "h3.xlsx", {"表": [
        ["机构", None, None, None, "规模"],
        ["基本信息", None, "位置", None, "床位"],
        ["名称", "类别", "经度", "纬度", None],
        ["甲", "养老院", 120.9, 32.0, 30],
    ]})
    with pytest.raises(LayerError) as err:
        _facilities(path)
    assert "h3.xlsx" in str(err.value) and "第 1 行" in str(err.value)


def test_a_data_row_of_text_is_not_taken_for_a_header(tmp_path: Path):
    """A header with an unnamed last column above a row of text only (a WKT point): the header stays one row."""
    path = _book(tmp_path / "w.xlsx", {"表": [["名称", "类别", "wkt", None], ["甲", "便利店", "POINT (120.9 32)", "24小时"]]})
    raw = read_layer(path, crs="WGS84")
    assert len(raw) == 1 and "未命名_D" in raw.columns and raw[SOURCE_ROW].iloc[0] == 2


def test_csv_title_blank_lines_and_multiline_fields_keep_editor_lines(tmp_path: Path):
    """rejected.csv's row is the line a text editor shows (blank lines and quoted multi-line fields counted)."""
    text = (
        "2024年托育机构名单,,,,\n"
        "名称,类别,经度,纬度,备注\n"
        "\n"
        '甲托育,托育机构,120.9,32.0,"第一行\n第二行"\n'
        "\n\n"
        "BAD1,托育机构,,,\n"
        '乙托育,托育机构,120.91,32.01,"a\r\nb"\r\n'
        "BAD2,网吧,120.9,32.0,\n"
    )
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("gbk"))
    layer = _facilities(path)
    assert layer.rows_read == 4 and list(layer.data["name"]) == ["甲托育", "乙托育"]
    # the oracle: count the newlines before each bad row in the text as written
    expect = [text.replace("\r\n", "\n")[: text.replace("\r\n", "\n").index(bad)].count("\n") + 1 for bad in ("BAD1", "BAD2")]
    assert list(layer.rejected["row"]) == expect == [8, 11]
    assert "2024年托育机构名单" in " ".join(layer.notes)


def test_duplicate_column_names_are_renamed_and_said(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text("名称,类别,名称,经度,纬度\n甲店,便利店,别名,120.9,32.0\n", encoding="utf-8")
    layer = _facilities(path)
    assert list(layer.data["name"]) == ["甲店"]
    assert any("名称.1" in n for n in layer.notes)


def test_vector_rows_are_feature_numbers(tmp_path: Path):
    gdf = gpd.GeoDataFrame({"名称": ["a", "b", "c"], "类别": ["便利店", "网吧", "药店"]},
                           geometry=[shapely.Point(120.9, 32), shapely.Point(120.91, 32), shapely.Point(120.92, 32)], crs=4326)
    path = tmp_path / "f.geojson"
    gdf.to_file(path)
    layer = load_facilities(LayerSpec(kind="facilities", path=path), WGS84)
    assert list(layer.rejected["row"]) == [2]


def test_units_in_an_excel_sheet(tmp_path: Path):
    """A bureau's residential sheet with units: read and counted; a wrong unit rejects its row with the text."""
    path = _book(tmp_path / "r.xlsx", {"小区": [
        ["名称", "经度", "纬度", "人口", "户数", "建筑面积"],
        ["A", 120.9, 32.0, "3.5万", "1,200户", "12000㎡"],
        ["B", 120.9, 32.0, "约1200人", 400, "120平方米"],
        ["C", 120.9, 32.0, "300户", 100, None],
    ]})
    layer = load_residential(LayerSpec(kind="residential", path=path, crs="WGS84"), WGS84, PopulationSpec())
    assert layer.data["population"].tolist() == [35000.0, 1200.0]
    assert layer.data["households"].tolist() == [1200.0, 400.0]
    assert layer.data["floor_area_m2"].tolist() == [12000.0, 120.0]
    assert layer.units_read == {"人口": 2, "户数": 1, "建筑面积": 2}
    assert list(layer.rejected["reason_code"]) == ["unit_mismatch"] and list(layer.rejected["row"]) == [4]
    assert "300户" in layer.rejected["reason"].iloc[0]


def test_check_layer_names_every_sheet(tmp_path: Path, capsys):
    path = _book(tmp_path / "two.xlsx", {"一批": [["名称", "类别", "经度", "纬度", "床位"], *[r + ["50张"] for r in _rows("甲", 3)]],
                                         "二批": [["名称", "类别", "经度", "纬度", "床位"], *[r + [20] for r in _rows("乙", 2)]]})
    assert main(["check-layer", str(path), "--kind", "facilities", "--crs", "WGS84", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "一批" in out and "二批" in out and "读取 5 行，保留 5 行" in out and "床位：3 个值" in out
    bad = _book(tmp_path / "bad.xlsx", {"一批": [["名称", "类别", "经度", "纬度"], *_rows("甲", 1)], "二批": [["a", "b"], [1, 2]]})
    assert main(["check-layer", str(bad), "--kind", "facilities", "--crs", "WGS84", "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "一批" in err and "二批" in err and "--layer" in err and "Traceback" not in err
