"""Suggested sites: one set of numbers everywhere (CLI, sites.csv, report.html, report.xlsx), each group with the radius
it was counted within, the 街道 and nearest street named, English texts, and each site's walking catchment.

The hand-made world (metric CRS EPSG:4549, coordinates as offsets in metres)::

    西街道 (x −100 … 1000)
    ┌────────────────────────────┐
    A(400,20)  B(700,20)     D(1500,20)                C(2600,20)       compounds, 20 m north of the street
    ══S1(500,0)═════════════════S3(1500,0)═════╪═══S2(2500,0)══════   street: 江海大道 x 0 … 2000, unnamed 2000 … 3000
    └────────────────────────────┘

Walking distance compound → candidate = 20 m (access) + |Δx| along the street. With radius 400 m, S1 reaches A (120 m)
and B (220 m), S2 reaches C (120 m), S3 reaches D (20 m); the 0–3 radius of the 老幼复合 task (150 m) takes only A from
S1 and C from S2. Nothing exists of the sited categories, so every compound reached is newly served.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner.siting.explain import site_explanation, site_numbers, site_title

CRS = "EPSG:4549"
X0, Y0 = 500_000.0, 3_540_000.0

# name, population, 60+, 0–3, x
COMPOUNDS = [("A苑", 1000, 200, 30, 400), ("B苑", 800, 100, 20, 700), ("C苑", 600, 250, 10, 2600), ("D苑", 500, 50, 5, 1500)]


def _pt(x: float, y: float) -> shapely.Point:
    return shapely.Point(X0 + x, Y0 + y)


def _write_world(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame(
        {"name": ["江海大道", ""], "highway": ["residential", "residential"]},
        geometry=[shapely.LineString([(X0, Y0), (X0 + 1000, Y0), (X0 + 2000, Y0)]),
                  shapely.LineString([(X0 + 2000, Y0), (X0 + 3000, Y0)])], crs=CRS,
    ).to_file(folder / "roads.gpkg", driver="GPKG")
    gpd.GeoDataFrame(
        {"id": [f"C{i}" for i in range(len(COMPOUNDS))], "name": [c[0] for c in COMPOUNDS],
         "population": [c[1] for c in COMPOUNDS], "age_60_plus": [c[2] for c in COMPOUNDS], "age_0_3": [c[3] for c in COMPOUNDS]},
        geometry=[_pt(c[4], 20) for c in COMPOUNDS], crs=CRS,
    ).to_file(folder / "compounds.gpkg", driver="GPKG")
    gpd.GeoDataFrame({"id": ["F1"], "name": ["路口便利店"], "category": ["便利店"]}, geometry=[_pt(2900, 10)], crs=CRS
                     ).to_file(folder / "facilities.gpkg", driver="GPKG")
    gpd.GeoDataFrame({"id": ["Z1"], "name": ["西街道"]}, geometry=[shapely.box(X0 - 100, Y0 - 300, X0 + 1000, Y0 + 300)], crs=CRS
                     ).to_file(folder / "zones.gpkg", driver="GPKG")
    gpd.GeoDataFrame({"name": ["甲地块", "乙地块", "丙地块"]}, geometry=[_pt(500, 0), _pt(2500, 0), _pt(1500, 0)], crs=CRS
                     ).to_file(folder / "cands.gpkg", driver="GPKG")
    scenario = folder / "world.toml"
    scenario.write_text(textwrap.dedent(f"""\
        name = "两处建议点"
        crs = "{CRS}"
        max_snap_m = 100
        [network]
        path = "roads.gpkg"
        kind = "lines"
        [layers.facilities]
        path = "facilities.gpkg"
        [layers.residential]
        path = "compounds.gpkg"
        [layers.zones]
        path = "zones.gpkg"
        [[siting]]
        name = "养老中心"
        category = "elderly_centre"
        model = "mclp"
        k = 2
        demand = "age_60_plus"
        radius_m = 400
        every_zone = false
        candidates = "cands.gpkg"
        [[siting]]
        name = "老幼复合"
        category = "elderly_centre"
        model = "combined"
        partner = "childcare"
        k = 2
        demand = "age_60_plus"
        radius_m = 400
        partner_demand = "age_0_3"
        partner_radius_m = 150
        every_zone = false
        candidates = "cands.gpkg"
        """), encoding="utf-8")
    return scenario


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from planner.pipeline import run
    from planner.scenario import load_scenario

    base = tmp_path_factory.mktemp("sites")
    return run(load_scenario(_write_world(base / "in")))


def test_sites_numbered_named_and_counted_by_hand(world):
    """S1 serves A+B (60+ 300, all 1,800, 0–3 50 within 400 m), S2 serves C (60+ 250); numbered 1…4 over both tasks;
    S1 lies in 西街道 by 江海大道, S2 in no 街道 and 500 m from the only named street (so neither is named)."""
    sites = world.sites.set_index("no")
    assert list(sites.index) == [1, 2, 3, 4] and list(sites["task"]) == ["养老中心"] * 2 + ["老幼复合"] * 2
    assert list(sites["rank"]) == [1, 2, 1, 2]
    assert list(sites["name"]) == ["甲地块", "乙地块", "甲地块", "乙地块"]  # S1 gains 300 > S2's 250 > S3's 50
    assert list(sites["zone_name"]) == ["西街道", "", "西街道", ""]
    assert list(sites["road_name"]) == ["江海大道", "", "江海大道", ""]
    mclp = sites.loc[[1, 2]]
    assert (mclp["demand"] == "age_60_plus").all() and (mclp["radius_m"] == 400).all()
    assert list(mclp["served"]) == [300, 250] and list(mclp["marginal_gain"]) == [300, 250]
    assert list(mclp["new_population"]) == [1800, 600] and list(mclp["new_age_0_3"]) == [50, 10]
    assert (mclp[[f"new_{g}_radius_m" for g in ("population", "age_60_plus", "age_0_3")]] == 400).all().all()
    assert mclp["partner_served"].isna().all() and (mclp["partner_demand"] == "").all()


def test_combined_counts_each_service_within_its_radius(world):
    """老幼复合: 60+ within 400 m (S1: A+B = 300), 0–3 within 150 m (S1: only A = 30; S2: C = 10); the objective per
    site is their sum; the 0–3 count is labelled with 150 m."""
    comb = world.sites[world.sites["task"] == "老幼复合"].set_index("no")
    assert list(comb["served"]) == [300, 250]
    assert list(comb["partner_demand"]) == ["age_0_3", "age_0_3"] and (comb["partner_radius_m"] == 150).all()
    assert list(comb["partner_served"]) == [30, 10] and list(comb["new_age_0_3"]) == [30, 10]
    assert (comb["new_age_0_3_radius_m"] == 150).all() and (comb["new_age_60_plus_radius_m"] == 400).all()
    assert list(comb["new_population"]) == [1800, 600]  # within the task's own 400 m
    assert list(comb["marginal_gain"]) == [330, 260]
    summary = next(r.summary for r in world.siting if r.task.name == "老幼复合")
    assert summary["objective"] == pytest.approx(590)


def test_texts_in_both_languages(world):
    s1 = world.sites.iloc[0]
    assert site_title(s1, "zh") == "建议点 1 · 甲地块（江海大道旁，西街道）"
    assert site_title(s1, "en") == "Site 1 · 甲地块 (by 江海大道, 西街道)"
    assert site_numbers(s1, "zh") == "新覆盖 60岁及以上 300 人（步行 400 m 内）；全部居民 1,800 人；0–3岁 50 人"
    assert site_numbers(s1, "en") == "newly serves 300 aged 60+ (within 400 m walk); 1,800 residents; 50 aged 0–3"
    comb = world.sites.iloc[2]
    assert site_numbers(comb, "zh") == "新覆盖 60岁及以上 300 人（步行 400 m 内）；全部居民 1,800 人；0–3岁 30 人（步行 150 m 内）"
    assert site_title(world.sites.iloc[1], "zh") == "建议点 2 · 乙地块"
    # generated candidates are named by their street and 街道 only
    row = {"no": 5, "road_name": "江海大道", "zone_name": "西街道", "name": "候选点 9", "source": "node"}
    assert site_title(row, "zh") == "建议点 5 · 江海大道旁（西街道）" and site_title(row, "en") == "Site 5 · by 江海大道 (西街道)"
    assert site_title({"no": 6, "road_name": "", "zone_name": "", "source": "node"}, "zh") == "建议点 6"
    texts = {"title": site_title, "numbers": site_numbers, "explanation": site_explanation}
    for col, make in texts.items():
        rows = world.sites.to_dict("records")
        assert list(world.sites[col]) == [make(r, "zh") for r in rows]
        assert list(world.sites[f"{col}_en"]) == [make(r, "en") for r in rows]
    en = world.sites["explanation_en"]
    assert not en.str.contains(r"[覆补达标缺最近]").any()  # planner's own words in English; place names stay as written
    assert world.sites["explanation"].str.startswith("建议点").all()


def test_catchments_follow_the_street(world):
    """Each site's catchment at 400 m: 800 m of straight street (S1: x 100 … 900; S2: 2100 … 2900) buffered by 40 m:
    a 800 × 80 m band with two half-discs (16-gon approximations) = 64,000 + 4,898 m²; numbered like the sites."""
    catch = world.site_catchments
    assert list(catch["no"]) == [1, 2, 3, 4] and (catch["radius_m"] == 400).all() and catch.crs == world.crs
    assert catch["reached_km"].to_numpy() == pytest.approx([0.8] * 4)
    disc = 8 * 40**2 * np.sin(2 * np.pi / 16)
    assert catch.area.to_numpy() == pytest.approx([64_000 + disc] * 4, rel=1e-3)
    minx, _, maxx, _ = catch.geometry.iloc[0].bounds
    assert (minx - X0, maxx - X0) == pytest.approx((60, 940), abs=0.5)


def test_sites_without_siting(world):
    """A run without [[siting]] has neither sites nor catchments."""
    import dataclasses

    bare = dataclasses.replace(world, siting=[])
    assert bare.sites is None and bare.site_catchments is None


# ---- the demo: the same figures in the CLI, sites.csv, report.html and report.xlsx --------------------------------


@pytest.fixture(scope="module")
def demo_cli(tmp_path_factory) -> tuple[Path, str]:
    """``planner run scenarios/demo.toml`` through the CLI, not quiet: its output folder and what it printed."""
    import contextlib
    import io

    from planner.cli import main

    out = tmp_path_factory.mktemp("demo_cli")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["run", str(Path(__file__).resolve().parents[1] / "scenarios" / "demo.toml"), "--out", str(out)]) == 0
    return out, printed.getvalue()


def _xlsx_sheet(path: Path, name: str) -> pd.DataFrame:
    from openpyxl import load_workbook

    ws = load_workbook(path, read_only=True)[name]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    start = next(i for i, r in enumerate(rows) if r and r[0] in ("建议点编号", "Site no."))  # after any note row
    return pd.DataFrame(rows[start + 1:], columns=rows[start]).dropna(how="all")


def test_demo_sites_agree_everywhere(demo_cli):
    """Every demo site: the CLI line, sites.csv, report.html and report.xlsx show the same title and the same
    numbers text, and that text's figures are sites.csv's served / new_* columns (with the radius they were counted
    within). The 60+ figure of the elderly centre is the one the solver maximised (marginal_gain)."""
    import html

    out, printed = demo_cli
    sites = pd.read_csv(out / "sites.csv", encoding="utf-8-sig", keep_default_na=False, na_values=[""])
    report = html.unescape((out / "report.html").read_text(encoding="utf-8"))
    sheet = _xlsx_sheet(out / "report.xlsx", "选址建议").set_index("建议点编号")
    assert len(sites) == 7 and list(sites["no"]) == list(range(1, 8))
    for r in sites.to_dict("records"):
        numbers, title = site_numbers(r, "zh"), site_title(r, "zh")
        assert r["numbers"] == numbers and r["title"] == title
        assert f"{r['rank']}. {title}：{numbers}" in printed  # the CLI's line
        assert title in report and numbers in report
        row = sheet.loc[r["no"]]
        assert row["新覆盖（人数与步行半径）"] == numbers and row["建议点"] == title
        assert row["新覆盖需求人数"] == pytest.approx(r["served"]) and row["步行半径（米）"] == pytest.approx(r["radius_m"])
        assert f"{r['served']:,.0f} 人（步行 {r['radius_m']:,.0f} m 内）" in numbers
        assert f"全部居民 {r['new_population']:,.0f} 人" in numbers
        if r["partner_demand"] == "age_0_3":
            assert f"0–3岁 {r['partner_served']:,.0f} 人（步行 {r['partner_radius_m']:,.0f} m 内）" in numbers
            assert r["marginal_gain"] == pytest.approx(r["served"] + r["partner_served"])
        else:
            assert r["marginal_gain"] == pytest.approx(r["served"])
    # 南湖街道 lacks a 综合性养老服务中心 (every_zone): one of the task's sites is there (within 800 m, the elderly's 15
    # minutes, 新城街道's site serves a few more 60+ residents and ranks first)
    elderly = sites[(sites["task"] == "新增综合性养老服务中心") & (sites["zone_name"] == "南湖街道")].iloc[0]
    assert elderly["zone_name"] == "南湖街道" and elderly["road_name"] and elderly["served"] == elderly["new_age_60_plus"]
    assert "候选点" not in printed.split("[7/8]")[1].split("[8/8]")[0]  # names, not candidate ids
    catch = gpd.read_file(out / "sites.gpkg", layer="catchments")
    assert list(catch["no"]) == list(sites["no"]) and (catch["radius_m"].to_numpy() == sites["radius_m"].to_numpy()).all()
    assert catch.crs.to_epsg() == 4326 and catch.geometry.is_valid.all() and not catch.geometry.is_empty.any()
    site_points = gpd.points_from_xy(sites["lon"], sites["lat"], crs=4326)
    assert catch.geometry.contains(gpd.GeoSeries(site_points, crs=4326)).all()  # each catchment holds its site


def test_demo_english_outputs(demo_result, tmp_path):
    """--lang en: the report's and the workbook's site texts are the English ones of the same figures."""
    from planner.outputs.excel import write_workbook
    from planner.outputs.report import build_report

    sites = demo_result.sites
    page = build_report(demo_result, lang="en", embed_font=False)
    sheet = _xlsx_sheet(write_workbook(demo_result, tmp_path / "en.xlsx", lang="en"), "Suggested sites").set_index("Site no.")
    for r in sites.to_dict("records"):
        assert site_numbers(r, "en") in page and site_title(r, "en") in page
        assert sheet.loc[r["no"], "Newly served (people, walking radius)"] == r["numbers_en"]
        assert sheet.loc[r["no"], "Explanation"] == r["explanation_en"]
        assert "新覆盖" not in sheet.loc[r["no"], "Explanation"]
