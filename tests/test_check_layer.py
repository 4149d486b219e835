"""Done-when of the layers issue: a GBK CSV of real POIs in GCJ-02 with bad rows goes through `planner check-layer`
to WGS84 positions within 1 m of the truth; every bad row is rejected for the right reason, every good row kept."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from planner.cli import main
from planner.io.coords import wgs84_to_gcj02

GPKG = Path(__file__).resolve().parents[2] / "shared" / "data" / "beijing_haidian_cau_osm2026" / "haidian_cau_osm_2026.gpkg"
pytestmark = pytest.mark.skipif(not GPKG.exists(), reason="../shared/data is not beside the repository")

# how a bureau's sheet would label these OSM POIs (Chinese 类型 text), and the category planner must give
LABELS = {
    ("amenity", "pharmacy"): ("药店", "pharmacy"),
    ("shop", "convenience"): ("便利店", "convenience"),
    ("shop", "kiosk"): ("小卖部", "convenience"),
    ("shop", "supermarket"): ("超市", "supermarket"),
    ("amenity", "marketplace"): ("农贸市场", "market"),
    ("shop", "greengrocer"): ("菜店", "market"),
    ("amenity", "kindergarten"): ("幼儿园", "kindergarten"),
    ("shop", "hairdresser"): ("理发店", "hairdresser"),
    ("shop", "laundry"): ("洗衣店", "laundry"),
    ("amenity", "post_office"): ("快递点", "post_parcel"),
}

BAD_ROWS = [  # (编号, 名称, 类型, 经度, 纬度, expected reason)
    ("BAD1", "坐标缺失药店", "药店", "", "", "missing_coordinates"),
    ("BAD2", "坐标写错便利店", "便利店", "116.3a5", "40.0", "invalid_coordinates"),
    ("BAD3", "经纬度填反超市", "超市", "40.0031", "116.3503", "swapped_coordinates"),
    ("BAD4", "极速网咖", "网吧", "116.3503", "40.0031", "unknown_category"),
    ("BAD5", "没有类型的店", "", "116.3503", "40.0031", "missing_category"),
    ("BAD6", "坐标超范围", "药店", "216.35", "40.0031", "out_of_range"),
]


@pytest.fixture(scope="module")
def sheet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    pois = gpd.read_file(GPKG, layer="pois")
    rows = []
    for osm_id, name, tags, geom in zip(pois["osm_id"], pois["name"], pois["tags"], pois.geometry, strict=True):
        t = json.loads(tags)
        for (k, v), (label, cat) in LABELS.items():
            if t.get(k) == v:
                rows.append({"编号": f"P{osm_id}", "名称": name or label, "类型": label, "truth_lon": geom.x, "truth_lat": geom.y, "category": cat})
                break
    good = pd.DataFrame(rows)
    glon, glat = wgs84_to_gcj02(good["truth_lon"], good["truth_lat"])
    good["经度"] = [f"{v:.7f}" for v in glon]  # 7 decimals, as Amap exports (≈1 cm)
    good["纬度"] = [f"{v:.7f}" for v in glat]
    bad = pd.DataFrame(BAD_ROWS, columns=["编号", "名称", "类型", "经度", "纬度", "reason"])
    dup = good.iloc[[0]][["编号", "名称", "类型", "经度", "纬度"]].assign(名称="重复登记", reason="duplicate_id")
    table = pd.concat([good[["编号", "名称", "类型", "经度", "纬度"]], bad, dup], ignore_index=True)
    path = tmp_path_factory.mktemp("sheet") / "民政局设施清单.csv"
    path.write_bytes(table.drop(columns="reason").to_csv(index=False).encode("gbk"))
    return path, pd.concat([good.assign(reason=""), bad, dup], ignore_index=True)


def test_gbk_gcj02_sheet_through_check_layer(sheet, tmp_path: Path, capsys):
    path, expected = sheet
    out = tmp_path / "checked"
    assert main(["check-layer", str(path), "--kind", "facilities", "--crs", "GCJ02", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    good = expected[expected["reason"] == ""]
    assert f"读取 {len(expected)} 行，保留 {len(good)} 行，拒收 {len(BAD_ROWS) + 1} 行" in printed
    assert "GCJ02" in printed and str(out / "layer.gpkg") in printed

    kept = gpd.read_file(out / "layer.gpkg")
    assert kept.crs.to_epsg() == 4326
    assert set(kept.columns) >= {"id", "name", "category", "geometry"}
    assert sorted(kept["id"]) == sorted(good["编号"])
    merged = kept.merge(good, left_on="id", right_on="编号")
    err_m = np.hypot(
        (merged.geometry.x - merged["truth_lon"]) * 111_320 * np.cos(np.radians(merged["truth_lat"])),
        (merged.geometry.y - merged["truth_lat"]) * 110_574,
    )
    assert err_m.max() < 1.0
    assert (merged["category_x"] == merged["category_y"]).all()

    rejected = pd.read_csv(out / "rejected.csv", encoding="utf-8-sig", dtype=str)
    got = dict(zip(rejected["name"], rejected["reason_code"], strict=True))
    want = dict(zip(expected.loc[expected["reason"] != "", "名称"], expected.loc[expected["reason"] != "", "reason"], strict=True))
    assert got == want
    # the original row travels with its rejection, as written in the sheet
    first = json.loads(rejected.set_index("name").loc["坐标写错便利店", "attributes"])
    assert first["经度"] == "116.3a5"
