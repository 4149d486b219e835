"""Standards engine: rules as data, hand-computed 2SFCA, exact shortfalls on the demo, not_evaluable on missing data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner import ScenarioError
from planner.analysis.capacity import two_step_fca
from planner.analysis.requirements import CityTargets, evaluate
from planner.analysis.standards import PRESETS, load_rules, rules_for
from planner.io.categories import load_taxonomy


def test_every_rule_is_sourced_and_in_a_preset():
    """Each rule has an id, a kind, a unit, a source citation and belongs to at least one known preset."""
    ids = [r["id"] for r in load_rules()]
    assert len(ids) == len(set(ids))
    for rec in load_rules():
        assert rec["source"] and rec["unit"] and rec["conf"]
        assert set(rec["presets"]) <= set(PRESETS) and rec["presets"]


def test_presets_differ_where_nantong_is_stricter():
    """Nantong's nursing-bed share (75 %) and room areas (30/20) are stricter than the national 55 % and 20/15."""
    nat = {r.id: r.value for r in rules_for("national")}
    nt = {r.id: r.value for r in rules_for("nantong-2025")}
    assert (nat["elderly.nursing_bed_share"], nt["elderly.nursing_bed_share"]) == (55, 75)
    assert (nat["elderly.room_area.new"], nt["elderly.room_area.new"]) == (20, 30)
    assert "elderly.street_centre.count" in nt and "elderly.street_centre.count" not in nat
    assert rules_for("nantong-2025", {"childcare.places_per_1000": 6.0})[[r.id for r in rules_for("nantong-2025")].index("childcare.places_per_1000")].value == 6.0
    with pytest.raises(ScenarioError):
        rules_for("nantong-2025", {"no.such.rule": 1})


def test_two_step_fca_by_hand():
    """Two facilities, three compounds, worked by hand.

    Facility A (10 places) reaches c1 (100 people, 200 m) and c2 (300 people, 900 m);
    facility B (8 places) reaches c2 (1400 m) and c3 (200 people, 100 m); catchment 1500 m.

    Plain 2SFCA: R_A = 10/400 = 0.025, R_B = 8/500 = 0.016;
    A_c1 = 0.025, A_c2 = 0.025 + 0.016 = 0.041, A_c3 = 0.016.
    E2SFCA with bands 500/1000/1500 m and weights 1, 0.68, 0.22:
    R_A = 10 / (100 + 0.68·300) = 10/304, R_B = 8 / (0.22·300 + 200) = 8/266;
    A_c1 = 10/304, A_c2 = 0.68·10/304 + 0.22·8/266, A_c3 = 8/266.
    """
    pairs = pd.DataFrame({"facility_id": ["A", "A", "B", "B"], "compound_id": ["c1", "c2", "c2", "c3"], "dist_m": [200.0, 900.0, 1400.0, 100.0]})
    supply = pd.Series({"A": 10.0, "B": 8.0})
    demand = pd.Series({"c1": 100.0, "c2": 300.0, "c3": 200.0, "c4": 50.0})
    plain = two_step_fca(pairs, supply, demand, bands_m=[1500])
    assert plain.to_dict() == pytest.approx({"c1": 0.025, "c2": 0.041, "c3": 0.016, "c4": 0.0})
    e2 = two_step_fca(pairs, supply, demand, bands_m=[500, 1000, 1500], weights=[1.0, 0.68, 0.22])
    assert e2["c1"] == pytest.approx(10 / 304)
    assert e2["c2"] == pytest.approx(0.68 * 10 / 304 + 0.22 * 8 / 266)
    assert e2["c3"] == pytest.approx(8 / 266)
    assert e2["c4"] == 0.0


def _tiny(**comp_overrides):
    comp = pd.DataFrame(
        {"zone_id": ["Z1", "Z1"], "name": ["a", "b"], "population": [1000.0, 1000.0], "households": [400.0, 400.0],
         "age_60_plus": [200.0, 100.0], "age_0_3": [20.0, 20.0], "built_type": ["new", "existing"],
         "elderly_room_m2": [100.0, 80.0], "childcare_room_m2": [80.0, 60.0], "community": ["c1", "c2"], **comp_overrides},
        index=pd.Index(["a", "b"]),
    )
    cats = [c.key for c in load_taxonomy().categories]
    cov = pd.DataFrame({f"dist_m__{c}": [np.inf, np.inf] for c in cats}, index=comp.index)
    cov["dist_m__health_centre"] = [100.0, 100.0]
    cov["dist_m__elderly_station"] = [700.0, 900.0]
    fac = pd.DataFrame(
        {"id": ["F1", "F2"], "name": ["托育1", "中心"], "category": ["childcare", "health_centre"], "zone_id": ["Z1", "Z1"],
         "places": [np.nan, np.nan], "beds": [np.nan, np.nan], "nursing_beds": [np.nan, np.nan], "public_benefit": pd.array([pd.NA, pd.NA], dtype="boolean")}
    )
    return comp, cov, fac


def _result(table: pd.DataFrame, rule_id: str) -> pd.Series:
    return table[(table["rule_id"] == rule_id) & (table["subdistrict"] == "Z1")].iloc[0]


def test_missing_data_is_not_evaluable_never_a_false_pass():
    """Without 托位 figures, bed figures or age groups the affected rules say not_evaluable and what is missing."""
    comp, cov, fac = _tiny(age_60_plus=[np.nan, 100.0])
    res = evaluate(preset="nantong-2025", overrides=None, compounds=comp, coverage_table=cov, facilities=fac,
                   zone_names={"Z1": "甲街道"}, taxonomy=load_taxonomy(), complete_circles=None).table
    for rid, missing in (("childcare.places_per_1000", "places"), ("elderly.nursing_bed_share", "beds"),
                         ("elderly.home_community.coverage", "age_60_plus")):
        row = _result(res, rid)
        assert row["status"] == "not_evaluable" and missing in row["shortfall_text"]
    assert res[res["rule_id"] == "local.nantong.circles"].iloc[0]["status"] == "not_evaluable"


def test_room_area_and_coverage_shortfalls_by_hand():
    """Room areas: the new compound needs 30 × 400/100 = 120 m² (has 100 → short 20), the existing one 20 × 4 = 80 (has 80).
    Elderly coverage: 200 of 300 people aged 60+ are within 800 m → 66.7 % < 90 %, short ⌈270 − 200⌉ = 70."""
    comp, cov, fac = _tiny()
    res = evaluate(preset="nantong-2025", overrides=None, compounds=comp, coverage_table=cov, facilities=fac,
                   zone_names={"Z1": "甲街道"}, taxonomy=load_taxonomy(), complete_circles=3).table
    new = _result(res, "elderly.room_area.new")
    assert (new["status"], new["shortfall"], new["value"]) == ("fail", 20, 25.0)
    assert _result(res, "elderly.room_area.existing")["status"] == "pass"
    cover = _result(res, "elderly.home_community.coverage")
    assert cover["status"] == "fail" and cover["shortfall"] == 70 and cover["value"] == pytest.approx(200 / 300 * 100, abs=1e-3)
    # 100 circles is a target for all of Nantong: on a study area of unknown extent it is not evaluable (the default) ...
    circles = res[res["rule_id"] == "local.nantong.circles"].iloc[0]
    assert circles["status"] == "not_evaluable" and "city_targets" in circles["shortfall_text"]
    # ... and when the scenario says the study area is the whole city, 3 complete circles are 97 short of 100
    whole = evaluate(preset="nantong-2025", overrides=None, compounds=comp, coverage_table=cov, facilities=fac,
                     zone_names={"Z1": "甲街道"}, taxonomy=load_taxonomy(), complete_circles=3, city_targets=CityTargets("whole")).table
    circles = whole[whole["rule_id"] == "local.nantong.circles"].iloc[0]
    assert (circles["status"], circles["shortfall"]) == ("fail", 97)


def test_levels_do_not_nest():
    """A 社区卫生服务中心 100 m away does not satisfy the 300 m 社区卫生服务站 requirement (GB 50180 levels do not nest)."""
    comp, cov, fac = _tiny()
    res = evaluate(preset="national", overrides=None, compounds=comp, coverage_table=cov, facilities=fac,
                   zone_names={"Z1": "甲街道"}, taxonomy=load_taxonomy(), complete_circles=None).table
    assert _result(res, "gb50180.b2.health_station")["status"] == "fail"
    assert _result(res, "gb50180.b1.health_centre")["status"] == "pass"


# ---------------------------------------------------------------- the demo: a 街道 fails each rule, shortfalls exact


@pytest.fixture(scope="module")
def demo(demo_run: Path, repo_root: Path):
    def props(name: str) -> pd.DataFrame:
        feats = json.loads((repo_root / "layers" / "demo" / name).read_text(encoding="utf-8"))["features"]
        return pd.DataFrame([f["properties"] for f in feats])

    comp = props("compounds.geojson")
    fac = props("facilities.geojson")
    zones_out = pd.read_csv(demo_run / "subdistricts.csv", encoding="utf-8-sig", index_col="zone_id")
    compounds_out = pd.read_csv(demo_run / "compounds.csv", encoding="utf-8-sig", index_col="id")
    facilities_out = pd.read_csv(demo_run / "facilities.csv", encoding="utf-8-sig", index_col="id")
    compliance = pd.read_csv(demo_run / "compliance.csv", encoding="utf-8-sig", dtype={"subdistrict": str})
    return comp, fac, zones_out, compounds_out, facilities_out, compliance


def _row(compliance: pd.DataFrame, zone: str, rule: str) -> pd.Series:
    return compliance[(compliance["subdistrict"] == zone) & (compliance["rule_id"] == rule)].iloc[0]


def test_demo_fails_each_street_rule_with_its_shortfall(demo):
    """南湖 lacks its elderly centre; 新城 lacks childcare places and nursing beds; 江南 lacks 普惠 childcare —
    each shortfall recomputed here from the demo layers by plain arithmetic."""
    comp, fac, zones_out, compounds_out, facilities_out, compliance = demo
    assert _row(compliance, "Z03", "elderly.street_centre.count")[["status", "shortfall", "shortfall_text"]].tolist() == ["fail", 1, "缺 1 所综合性养老服务中心"]
    assert _row(compliance, "Z04", "childcare.local.street_min")[["status", "shortfall", "shortfall_text"]].tolist() == ["fail", 1, "缺 1 所普惠托育机构"]
    # 托位 per 1000 in 新城街道: ⌈4.5 × population / 1000 − places⌉
    cc = facilities_out[(facilities_out["category"] == "childcare") & (facilities_out["zone_id"] == "Z02")]
    pop = zones_out.loc["Z02", "population"]
    row = _row(compliance, "Z02", "childcare.places_per_1000")
    assert row["status"] == "fail" and row["shortfall"] == math.ceil(4.5 * pop / 1000 - cc["places"].sum())
    assert row["shortfall_text"] == f"缺 {int(row['shortfall'])} 个托位"
    # 普惠 share in 江南街道: none of its places is 普惠 → short ⌈60 % × places⌉
    cc4 = facilities_out[(facilities_out["category"] == "childcare") & (facilities_out["zone_id"] == "Z04")]
    row = _row(compliance, "Z04", "childcare.local.puhui_share")
    assert row["value"] == 0 and row["shortfall"] == math.ceil(0.6 * cc4["places"].sum())
    # nursing-bed share of 新城's centre: ⌈75 % × beds − nursing beds⌉
    centre = fac[(fac["类别"] == "综合性养老服务中心") & fac["名称"].str.startswith("新城街道")].iloc[0]
    row = _row(compliance, "Z02", "elderly.nursing_bed_share")
    assert row["status"] == "fail" and row["shortfall"] == math.ceil(0.75 * centre["床位"] - centre["护理型床位"])
    # 南湖 has no elderly-care institution with beds at all: not evaluable, not a pass
    assert _row(compliance, "Z03", "elderly.nursing_bed_share")["status"] == "not_evaluable"


def test_demo_room_area_shortfall_matches_the_compounds(demo):
    """The 养老服务用房 shortfall of each 街道 is Σ max(0, 20 m² × households/100 − area) over its existing compounds."""
    comp, fac, zones_out, compounds_out, facilities_out, compliance = demo
    kept = compounds_out.join(comp.drop_duplicates("小区编号").set_index("小区编号")[["养老服务用房面积", "建成类型"]], how="left")
    for zone in ("Z01", "Z02", "Z03", "Z04"):
        sub = kept[(kept["zone_id"] == zone) & (kept["建成类型"] == "已建成")]
        gap = (20 * sub["households"] / 100 - sub["养老服务用房面积"]).clip(lower=0).sum()
        row = _row(compliance, zone, "elderly.room_area.existing")
        assert row["shortfall"] == math.ceil(gap - 1e-9)
        assert row["status"] == ("fail" if gap > 1e-9 else "pass")


def test_demo_market_gap_is_in_the_gap_list(demo_run: Path):
    """The gap list ranks compounds by unserved people; 江南街道's compounds lead the 500 m market requirement."""
    gaps = pd.read_csv(demo_run / "gaps.csv", encoding="utf-8-sig")
    market = gaps[gaps["requirement"] == "gb50180.b1.wet_market"].sort_values("rank")
    assert list(market["rank"]) == list(range(1, len(market) + 1))
    assert (market["unserved"].diff().dropna() <= 0).all()
    assert {"Z04"} <= set(market["zone_id"])
    assert (gaps.groupby("requirement")["rank"].min() == 1).all()


def test_demo_circles_and_city_rules(demo_run: Path):
    """Each community centre forms a circle; incomplete ones list what they lack; the city counts its complete circles."""
    circles = pd.read_csv(demo_run / "circles.csv", encoding="utf-8-sig")
    assert len(circles) == 8
    assert (circles["complete"] == circles["lacks"].isna()).all()
    compliance = pd.read_csv(demo_run / "compliance.csv", encoding="utf-8-sig")
    city = compliance[compliance["rule_id"] == "local.nantong.circles"].iloc[0]
    # the demo pro-rates Nantong's 100 circles by its share of Nantong's 7 726 635 residents
    population = pd.read_csv(demo_run / "compounds.csv", encoding="utf-8-sig")["population"].sum()
    target = 100 * population / 7_726_635
    assert city["value"] == circles["complete"].sum() and city["target"] == pytest.approx(target, abs=1e-4)
    assert city["shortfall"] == max(0, math.ceil(target - circles["complete"].sum())) and "按人口占比折算" in city["shortfall_text"]
    summary = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))
    assert summary["standards"]["preset"] == "nantong-2025"
    assert "Z03" in summary["standards"]["failing_by_subdistrict"]


@pytest.mark.real_data
def test_real_extract_runs_with_national_preset(repo_root: Path, tmp_path: Path):
    """Haidian (OSM only) runs with the national preset: rules with data are evaluated, the rest are not_evaluable."""
    if not (repo_root.parent / "shared" / "data").exists():
        pytest.skip("../shared/data is not beside the repository")
    from planner.outputs.write import write_outputs
    from planner.pipeline import run
    from planner.scenario import load_scenario

    result = run(load_scenario(repo_root / "scenarios" / "haidian.toml"))
    paths = write_outputs(result, tmp_path)
    table = pd.read_csv(paths["compliance_csv"], encoding="utf-8-sig")
    assert result.compliance.preset == "national"
    assert set(table["status"]) <= {"pass", "fail", "not_evaluable"}
    by = table.set_index("rule_id")
    assert (by.loc[["elderly.nursing_bed_share"], "status"] == "not_evaluable").all()  # OSM has no bed figures here
    assert by.loc["gb50180.b1.wet_market", "status"] in ("pass", "fail")  # markets are mapped in OSM
    assert list(table.columns[:8]) == ["subdistrict", "subdistrict_name", "rule_id", "rule", "value", "target", "status", "shortfall"]


def test_demo_gap_list_texts_are_codes_of_the_right_rows(demo_result, demo_run: Path):
    """The gap list holds its texts as categoricals (codes into distinct texts, a few MB at a million rows): every row
    names its own compound's name and 街道 and reads back from gaps.csv as the same texts."""
    gaps, comp = demo_result.gaps, demo_result.compounds
    text_columns = ["requirement", "requirement_zh", "compound_id", "name", "zone_id", "group", "detail"]
    assert all(isinstance(gaps[c].dtype, pd.CategoricalDtype) for c in text_columns)
    ids = gaps["compound_id"].astype(str)
    by_id = comp.set_axis(comp.index.astype(str))
    assert (gaps["name"].astype(str).to_numpy() == by_id.loc[ids, "name"].astype(str).to_numpy()).all()
    assert (gaps["zone_id"].astype(str).to_numpy() == by_id.loc[ids, "zone_id"].astype(str).to_numpy()).all()
    radius = gaps["detail"].astype(str).str.extract(r"^(\d+) m 内无")[0].dropna().astype(float)
    assert (gaps.loc[radius.index, "nearest_m"] > radius).all()  # "no … within R m" only where the nearest is farther
    csv = pd.read_csv(demo_run / "gaps.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    for c in text_columns:
        assert csv[c].tolist() == gaps[c].astype(object).where(gaps[c].notna(), "").astype(str).tolist()
