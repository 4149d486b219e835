"""planner compare: the demo run against a copy with one more 综合性养老服务中心 in 南湖街道.

Run B is the demo with that one facility added to a copy of its facilities layer: 南湖街道 must become compliant
for elderly.street_centre.count, its compounds near the new centre become newly covered, nothing is lost, and the
map is a self-contained offline page. Folders that are not run outputs, and runs of different places, are refused
with a bilingual message.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import shape

from planner import PlannerError
from planner.cli import main
from planner.outputs.compare import compare_runs, format_value, read_run, summary_lines, write_comparison

NEW_CENTRE = "南湖街道综合性养老服务中心（新建）"


@pytest.fixture(scope="module")
def run_b(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, run with one extra 综合性养老服务中心 inside 南湖街道 (next to an existing facility, so on a street)."""
    work = tmp_path_factory.mktemp("compare_b")
    layers = work / "layers"
    shutil.copytree(repo_root / "layers" / "demo", layers)
    zones = json.loads((layers / "subdistricts.geojson").read_text(encoding="utf-8"))
    nanhu = shape(next(f for f in zones["features"] if f["properties"]["街道名称"] == "南湖街道")["geometry"])
    fac = json.loads((layers / "facilities.geojson").read_text(encoding="utf-8"))
    inside = [f for f in fac["features"] if f["geometry"] and nanhu.contains(shape(f["geometry"]))]
    centre = nanhu.centroid
    near = min(inside, key=lambda f: shape(f["geometry"]).distance(centre))
    x, y = shape(near["geometry"]).coords[0]
    props = {k: None for k in fac["features"][0]["properties"]}
    props.update({"设施编号": "SS900", "名称": NEW_CENTRE, "类别": "综合性养老服务中心", "床位": 60, "护理型床位": 45})
    fac["features"].append({"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": [x + 0.0002, y]}})
    (layers / "facilities.geojson").write_text(json.dumps(fac, ensure_ascii=False), encoding="utf-8")
    text = (repo_root / "scenarios" / "demo.toml").read_text(encoding="utf-8")
    text = text.replace("../layers/demo/", layers.as_posix() + "/")
    text = text.split("[[siting]]", 1)[0]  # siting does not change what is compared; skip it for speed
    (work / "b.toml").write_text(text, encoding="utf-8")
    out = work / "out"
    assert main(["run", str(work / "b.toml"), "--out", str(out), "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def comparison(demo_run: Path, run_b: Path):
    return compare_runs(read_run(demo_run), read_run(run_b))


def test_nanhu_becomes_compliant_for_the_street_centre(comparison) -> None:
    rules = comparison.rules.set_index(["subdistrict", "rule_id"])
    row = rules.loc[("Z03", "elderly.street_centre.count")]
    assert (row["status_a"], row["status_b"], row["change"]) == ("fail", "pass", "newly_passing")
    zones = comparison.zones.set_index("zone_id")
    assert "elderly.street_centre.count" in zones.loc["Z03", "newly_passing"].split("；")
    assert zones.loc["Z03", "n_newly_passing"] >= 1 and zones.loc["Z03", "n_newly_failing"] == 0
    assert zones.loc["Z03", "newly_covered__elderly_centre"] > 0
    # only 南湖街道's compounds gain, and nothing anywhere is lost
    assert zones["lost_total"].sum() == 0
    assert (zones.drop(index=["Z03", "全市"])["newly_covered__elderly_centre"] == 0).all()
    assert zones.loc["全市", "newly_covered__elderly_centre"] == zones.loc["Z03", "newly_covered__elderly_centre"]


def test_compound_changes(comparison, demo_run: Path, run_b: Path) -> None:
    comp = comparison.compounds
    assert isinstance(comp, gpd.GeoDataFrame) and comp.crs.to_epsg() == 4326
    assert set(comp["change"]) <= {"gained", "unchanged"}
    gained = comp[comp["change"] == "gained"]
    assert len(gained) > 0 and (gained["zone_id"] == "Z03").all()
    assert gained["categories_gained"].str.contains("综合性养老服务中心").all()
    # newly covered people = B's population of the compounds that came within 15 min of a 综合性养老服务中心
    a = pd.read_csv(demo_run / "compounds.csv", encoding="utf-8-sig").set_index("id")
    b = pd.read_csv(run_b / "compounds.csv", encoding="utf-8-sig").set_index("id")
    newly = b.index[b["within_15min__elderly_centre"] & ~a.loc[b.index, "within_15min__elderly_centre"]]
    assert set(gained.index) == set(newly)
    assert comp["newly_covered__elderly_centre"].sum() == pytest.approx(b.loc[newly, "population"].sum())


def test_outputs_and_offline_map(comparison, tmp_path: Path) -> None:
    paths = write_comparison(comparison, tmp_path)
    table = pd.read_csv(paths["csv"], encoding="utf-8-sig")
    assert table["zone_id"].tolist() == ["Z01", "Z02", "Z03", "Z04", "全市"]
    assert {"newly_passing", "newly_failing", "newly_covered__elderly_centre", "lost__elderly_centre"} <= set(table.columns)
    from openpyxl import load_workbook

    wb = load_workbook(paths["xlsx"])
    assert wb.sheetnames == ["说明", "街道变化", "规则变化", "服务人口变化", "小区变化", "设施变化", "字段说明"]
    added = [r for r in wb["设施变化"].iter_rows(min_row=2, values_only=True)]
    assert len(added) == 1 and NEW_CENTRE in added[0] and "新增" in added[0]
    assert wb["街道变化"].freeze_panes == "A2"
    wb.close()
    page = paths["map"].read_text(encoding="utf-8")
    assert "<script src=" not in page and '<link rel="stylesheet" href="http' not in page  # Leaflet is inlined
    assert "新增覆盖的小区" in page and "方案对比" in page

    from _browser import find_chromium, load_page

    chromium = find_chromium()
    if chromium is None or sys.platform != "linux":
        return
    report = load_page(paths["map"], screenshot=False, executable=chromium, workdir=tmp_path / "chromium",
                       expressions={"n": "Object.keys(window).filter((k) => /^map_[0-9a-f]+$/.test(k)).length"})
    assert report.problems == [], "\n".join(report.problems)
    assert report.values["n"] == 1


def test_cli(demo_run: Path, run_b: Path, tmp_path: Path, capsys) -> None:
    assert main(["compare", str(demo_run), str(run_b), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "南湖街道" in out and "每个街道至少 1 所综合性养老服务中心 / at least one comprehensive elderly-care centre per 街道" in out
    assert "elderly.street_centre.count" not in out  # names, not ids
    assert (tmp_path / "cmp" / "compare.html").is_file()
    # not a run folder: exit code 2 and a bilingual message naming what is missing
    assert main(["compare", str(tmp_path), str(run_b), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "不是 planner 的运行输出文件夹" in err and "is not a planner run output folder" in err and "summary.json" in err


def test_runs_of_different_places_are_refused(comparison) -> None:
    a, b = comparison.a, comparison.b
    other = dataclasses.replace(b, zones=b.zones.rename(index=lambda z: "X" + z if z.startswith("Z") else z))
    with pytest.raises(PlannerError, match="两次运行没有共同的街道.*share no 街道"):
        compare_runs(a, other)
    other = dataclasses.replace(b, compounds=b.compounds.rename(index=lambda i: "X" + i))
    with pytest.raises(PlannerError, match="没有共同的小区.*share no compounds"):
        compare_runs(a, other)
    with pytest.raises(PlannerError, match="找不到运行输出文件夹"):
        read_run(a.path / "no-such-folder")


def test_partial_overlap_is_noted(comparison) -> None:
    a, b = comparison.a, comparison.b
    fewer = dataclasses.replace(b, compounds=b.compounds.drop(index=b.compounds.index[:3]))
    cmp = compare_runs(a, fewer)
    assert any("3 个小区只在一次运行中出现" in n for n in cmp.notes)
    assert len(cmp.compounds) == len(a.compounds) - 3


def _home_care_share(folder: Path, zone: str) -> float:
    """elderly.home_community.coverage by hand from compounds.csv: the 60+ share within 800 m of 养老 facilities."""
    c = pd.read_csv(folder / "compounds.csv", encoding="utf-8-sig", dtype={"zone_id": str})
    c = c[c["zone_id"] == zone]
    near = c[[f"dist_m__{k}" for k in ("elderly_centre", "elderly_station", "elderly_home")]].min(axis=1)
    return float(c.loc[near <= 800, "age_60_plus"].sum() / c["age_60_plus"].sum() * 100)


def test_home_care_improves_and_still_fails(comparison, demo_run: Path, run_b: Path) -> None:
    """南湖's home-care coverage rises with the new centre and still fails: listed as 改善 with both values, which
    match the share recomputed from the two compounds tables; nothing else in another 街道 changes."""
    rules = comparison.rules.set_index(["subdistrict", "rule_id"])
    row = rules.loc[("Z03", "elderly.home_community.coverage")]
    before, after = _home_care_share(demo_run, "Z03"), _home_care_share(run_b, "Z03")
    assert after > before
    assert (row["status_a"], row["status_b"], row["change"]) == ("fail", "fail", "improved")
    assert row["value_a"] == pytest.approx(before, abs=1e-4) and row["value_b"] == pytest.approx(after, abs=1e-4)
    assert row["delta"] == pytest.approx(after - before, abs=2e-4)
    changed = comparison.rules[comparison.rules["change"] != "unchanged"]
    assert set(changed["subdistrict"]) <= {"Z03", "全市"}
    zones = comparison.zones.set_index("zone_id")
    assert zones.loc["Z03", "n_improved"] >= 1 and zones.loc["Z03", "n_declined"] == 0
    # people newly served by a 综合性养老服务中心 in 南湖, per group, from the two compounds tables
    a = pd.read_csv(demo_run / "compounds.csv", encoding="utf-8-sig", dtype={"zone_id": str}).set_index("id")
    b = pd.read_csv(run_b / "compounds.csv", encoding="utf-8-sig", dtype={"zone_id": str}).set_index("id")
    new = b["within_15min__elderly_centre"] & ~a.loc[b.index, "within_15min__elderly_centre"] & (b["zone_id"] == "Z03")
    served = comparison.served.set_index(["zone_id", "view_kind", "view", "group"])
    for group in ("population", "age_60_plus", "age_0_3"):
        assert served.loc[("Z03", "category", "elderly_centre", group), "newly_served"] == pytest.approx(b.loc[new, group].sum())
    text = "\n".join(summary_lines(comparison))
    assert f"{format_value(before, '%')} → {format_value(after, '%')}" in text and "仍未达标" in text
