"""Issue #17: every rule states its scale; city-wide count targets on part of a city; the scenario's own categories and
rules. Every expected figure is worked by hand in the test's docstring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner import ScenarioError
from planner.analysis.requirements import CityTargets, evaluate
from planner.analysis.standards import KINDS, PRESETS, SCALES, load_rules, rules_for, scenario_rules
from planner.io.categories import load_taxonomy, taxonomy_for
from planner.scenario import load_scenario


def test_every_rule_states_a_known_scale_and_kind():
    """rules.toml: each rule names its scale and a kind planner evaluates, with the fields the kind reads."""
    for rec in load_rules():
        assert rec["scale"] in SCALES, rec["id"]
        spec = KINDS[rec["kind"]]
        for need in spec.required:
            assert (("radius_m" in rec) != ("minutes" in rec)) if need == "radius" else need in rec, (rec["id"], need)
        assert spec.allows(rec["scale"]), rec["id"]
    assert set(PRESETS) == {"national", "jiangsu", "nantong-2025"}


def _two_streets(places=(10.0, 0.0)):
    """Z1: 1 000 residents and a childcare centre of 10 places; Z2: 3 000 residents, a centre of ``places[1]`` places."""
    comp = pd.DataFrame({"zone_id": ["Z1", "Z2"], "name": ["a", "b"], "population": [1000.0, 3000.0], "households": [400.0, 1200.0],
                         "age_60_plus": [200.0, 600.0], "age_0_3": [20.0, 60.0], "community": ["c1", "c2"]}, index=pd.Index(["a", "b"]))
    cats = list(load_taxonomy().keys)
    cov = pd.DataFrame({f"dist_m__{c}": [np.inf, np.inf] for c in cats}, index=comp.index)
    fac = pd.DataFrame({"id": ["F1", "F2"], "name": ["托育1", "托育2"], "category": ["childcare", "childcare"], "zone_id": ["Z1", "Z2"],
                        "places": list(places), "beds": [np.nan, np.nan], "nursing_beds": [np.nan, np.nan],
                        "public_benefit": pd.array([True, True], dtype="boolean")})
    return comp, cov, fac


def _eval(comp, cov, fac, rules, *, circles=None, targets=None):
    return evaluate(preset="nantong-2025", rules=rules, compounds=comp, coverage_table=cov, facilities=fac,
                    zone_names={"Z1": "甲街道", "Z2": "乙街道"}, taxonomy=load_taxonomy(), complete_circles=circles,
                    city_targets=targets).table


def test_a_street_rule_set_for_the_city_gets_a_city_row():
    """childcare.places_per_1000 (4.5 per 1000, set for the city): Z1 10 / 1 000 × 1 000 = 10 → pass; Z2 0 / 3 000 → fail,
    short ⌈4.5 × 3 − 0⌉ = 14; the city 10 / 4 000 × 1 000 = 2.5 → fail, short ⌈4.5 × 4 − 10⌉ = 8 places."""
    comp, cov, fac = _two_streets()
    rules = [r for r in rules_for("nantong-2025") if r.id == "childcare.places_per_1000"]
    assert rules[0].scale == "city"
    table = _eval(comp, cov, fac, rules)
    got = {z: (s, v, short) for z, s, v, short in table[["subdistrict", "status", "value", "shortfall"]].itertuples(index=False)}
    assert got == {"Z1": ("pass", 10.0, 0), "Z2": ("fail", 0.0, 14), "全市": ("fail", 2.5, 8)}
    assert set(table["scale"]) == {"city"}


def test_city_count_target_not_evaluable_by_default_prorated_when_asked():
    """Nantong's 100 circles on a study area of 4 000 residents. Default: not evaluable, saying why. Pro-rated with the city's
    400 000 residents: share 4 000 / 400 000 = 1 %, target 100 × 1 % = 1 circle; 0 complete → fail, short 1; 1 → pass.
    "whole": the plain target, 100 − 1 = 99 short."""
    comp, cov, fac = _two_streets()
    rules = [r for r in rules_for("nantong-2025") if r.id == "local.nantong.circles"]
    row = _eval(comp, cov, fac, rules, circles=0).iloc[0]
    assert row["status"] == "not_evaluable" and "prorate" in row["shortfall_text"] and pd.isna(row["value"])
    pro = CityTargets("prorate", 400_000)
    row = _eval(comp, cov, fac, rules, circles=0, targets=pro).iloc[0]
    assert (row["status"], row["target"], row["shortfall"]) == ("fail", 1.0, 1)
    assert "4,000" in row["shortfall_text"] and "400,000" in row["shortfall_text"] and "1.0%" in row["shortfall_text"]
    assert _eval(comp, cov, fac, rules, circles=1, targets=pro).iloc[0]["status"] == "pass"
    row = _eval(comp, cov, fac, rules, circles=1, targets=CityTargets("whole")).iloc[0]
    assert (row["status"], row["target"], row["shortfall"]) == ("fail", 100.0, 99)


def test_city_count_kind_counts_the_study_area():
    """A bureau's own "at least 3 普惠 childcare centres in the district": 2 centres (both 普惠) → fail, short 1; with
    city_targets = "whole" the count is evaluated; by default a count target set for the city is not."""
    comp, cov, fac = _two_streets()
    rec = {"id": "own.childcare.count", "kind": "city_count", "categories": ["childcare"], "public_benefit": True, "value": 3,
           "unit": "所", "zh": "全区至少 3 所普惠托育机构", "en": "at least 3 public-benefit childcare centres", "source": "某区 2025 计划",
           "scale": "city"}
    rules = rules_for("national", None, [rec])[-1:]
    assert rules[0].origin == "scenario" and rules[0].conf == "U"
    row = _eval(comp, cov, fac, rules, targets=CityTargets("whole")).iloc[0]
    assert (row["status"], row["value"], row["shortfall"]) == ("fail", 2.0, 1)
    assert _eval(comp, cov, fac, rules).iloc[0]["status"] == "not_evaluable"


SCENARIO = """
name = "自定义类别与规则"
{head}
[network]
path = "roads.geojson"
kind = "lines"
[layers.facilities]
path = "f.csv"
[layers.residential]
path = "r.csv"
{body}
"""


def _scenario(tmp_path, body, head=""):
    for name in ("roads.geojson", "f.csv", "r.csv"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(body=body, head=head), encoding="utf-8")
    return path


OWN = """
[[categories]]
key = "cafe"
zh = "咖啡馆"
en = "Cafe"
aliases = ["咖啡店", "coffee"]
osm = [{ amenity = "cafe" }]
amap_codes = ["050500"]
keywords = ["咖啡"]

[[categories]]
key = "party_centre"
zh = "党群服务中心（本市）"
en = "Party-masses service centre"
group = "community"
aliases = ["党群服务中心"]
color = "#aa0000"

[[rules]]
id = "own.meal.community"
kind = "zone_community"
categories = ["meal_point"]
minutes = 5
value = 100
unit = "%"
zh = "每个社区 5 分钟步行内有 1 个助餐点"
en = "every community has a meal point within 5 minutes"
source = "某市民政局 2025 年工作要点"
scale = "community"

[[rules]]
id = "own.cafe.cover"
kind = "zone_coverage"
categories = ["cafe"]
group = "population"
radius_m = 500
value = 80
unit = "%"
zh = "500 米内有咖啡馆的居民占比"
en = "residents within 500 m of a cafe"
source = "自定"
conf = "M"
scale = "compound"
"""


def test_own_categories_and_rules_are_read_and_used(tmp_path):
    """The scenario's categories are listed after the shipped ones and tried before them (党群服务中心 is now the user's category, not
    community_service); its rules join the preset's, a rule in minutes walked at the speed of its group (meal points
    serve the elderly: 5 min × the elderly speed)."""
    sc = load_scenario(_scenario(tmp_path, OWN))
    tax = taxonomy_for(sc)
    assert tax.keys[-2:] == ("cafe", "party_centre") and "meal_point" in tax  # listed after the shipped ones …
    assert [c.key for c in tax.matching[:2]] == ["cafe", "party_centre"]  # … and tried before them
    assert tax.resolve("咖啡店") == "cafe" and tax.resolve("党群服务中心") == "party_centre"
    assert load_taxonomy().resolve("党群服务中心") == "community_service"  # the shipped taxonomy is untouched
    assert tax.match_osm({"amenity": "cafe", "name": "星巴克"}) == "cafe"
    assert tax.match_poi(name="某咖啡", typecode="050500") == "cafe"
    assert tax["cafe"].group == "other" and tax["party_centre"].color == "#aa0000"
    rules = {r.id: r for r in scenario_rules(sc)}
    meal, cafe = rules["own.meal.community"], rules["own.cafe.cover"]
    assert (meal.origin, meal.conf, meal.scale, meal.minutes) == ("scenario", "U", "community", 5.0)
    assert meal.radius_m == pytest.approx(5 * sc.speed_for("elderly"))
    assert (cafe.radius_m, cafe.conf) == (500.0, "M")
    assert list(rules)[-2:] == ["own.meal.community", "own.cafe.cover"]


BAD = """
[[categories]]
key = "community_service"
zh = "重名"
en = "clash"

[[categories]]
key = "Bad Key"
zh = "坏"
en = "bad"
group = "shops"
color = "red"
amap_codes = ["05x"]

[[rules]]
id = "elderly.street_centre.count"
kind = "zone_count"
categories = ["elderly_centre"]
value = 1
unit = "所"
zh = "重名规则"
en = "clash"
source = "x"
scale = "street"

[[rules]]
id = "own.bad"
kind = "zone_teleport"
value = -1
unit = "%"
zh = "坏规则"
en = "bad"
scale = "planet"

[[rules]]
id = "own.radius"
kind = "zone_coverage"
categories = ["no_such_category"]
group = "pets"
radius_m = 300
minutes = 5
value = 50
unit = "%"
zh = "两种半径"
en = "both radii"
source = "x"
scale = "street"

[[rules]]
id = "own.district.meals"
kind = "zone_count"
categories = ["meal_point"]
value = 1
unit = "个"
zh = "每个县区至少 1 个助餐点"
en = "a meal point per district"
source = "x"
scale = "district"
presets = ["national"]

[[rules]]
id = "own.share"
kind = "city_zone_share"
of_rule = "local.nantong.circles"
value = 50
unit = "%"
zh = "达标街道占比"
en = "share"
source = "x"
scale = "city"

[[rules]]
id = "own.citywide"
kind = "city_count"
categories = ["meal_point"]
value = 10
unit = "个"
zh = "全市助餐点"
en = "meal points"
source = "x"
scale = "street"
"""


def test_bad_own_categories_and_rules_are_all_reported_at_once(tmp_path):
    with pytest.raises(ScenarioError) as err:
        load_scenario(_scenario(tmp_path, BAD))
    text = str(err.value)
    for words in ("'community_service' 已是 planner 自带类别", "key 必须是小写字母开头", "group 只能是", "color 须写成",
                  "amap_codes 须是 2–6 位数字", "id 与 planner 自带规则重名", "未知 kind 'zone_teleport'", "缺少 source",
                  "scale 只能是", "value（目标值）必须是非负", "未知设施类别 'no_such_category'", "group 只能是 population",
                  "radius_m（米）与 minutes（分钟）须给且只给一个", "city_count 只能评价 scale = city",
                  "zone_count 只能评价 scale = street / city", "presets 只用于 rules.toml", "of_rule 'local.nantong.circles' 必须是一条按街道评价的规则"):
        assert words in text, words


def test_city_targets_settings_are_checked(tmp_path):
    with pytest.raises(ScenarioError, match="需要 city_population"):
        load_scenario(_scenario(tmp_path, '[standards]\ncity_targets = "prorate"\n'))
    with pytest.raises(ScenarioError, match="city_targets 只能是"):
        load_scenario(_scenario(tmp_path, '[standards]\ncity_targets = "guess"\n'))
    sc = load_scenario(_scenario(tmp_path, '[standards]\ncity_targets = "prorate"\ncity_population = 7726635\n'))
    assert (sc.standards.city_targets, sc.standards.city_population) == ("prorate", 7726635.0)


def test_selection_with_own_categories(tmp_path):
    """``analyse`` selects categories (own ones too); the old ``categories = [...]`` list still works alone."""
    sc = load_scenario(_scenario(tmp_path, OWN, head='analyse = ["cafe", "meal_point"]'))
    assert sc.categories == ("cafe", "meal_point")
    sc = load_scenario(_scenario(tmp_path, "", head='categories = ["meal_point"]'))
    assert sc.categories == ("meal_point",) and sc.own_categories == ()
    with pytest.raises(ScenarioError, match="未知类别"):
        load_scenario(_scenario(tmp_path, "", head='analyse = ["cafe"]'))


def test_demo_shows_own_category_and_rules_everywhere(demo_run):
    """The demo defines 老年活动室 (a category the taxonomy lacks) and two rules of its own: they are evaluated like the
    shipped ones and shown under their own names in compliance.csv, facilities.csv, the map, the report and Excel.
    By construction 南湖街道 (Z03) has no 老年助餐点 and no 老年活动室: 0 % of its communities reach a meal point and
    it is 2 rooms short of 2; 临河街道 (Z01) has exactly 2 rooms → pass."""
    comp = pd.read_csv(demo_run / "compliance.csv", encoding="utf-8-sig")
    own = comp[comp["rule_id"].str.startswith("demo.")]
    assert set(own["conf"]) == {"U"} and set(own["scale"]) == {"community", "street"}
    rooms = own[own["rule_id"] == "demo.activity.street"].set_index("subdistrict")
    assert (rooms.loc["Z03", "status"], rooms.loc["Z03", "shortfall"], rooms.loc["Z03", "shortfall_text"]) == ("fail", 2, "缺 2 个老年活动室")
    assert (rooms.loc["Z01", "status"], rooms.loc["Z01", "value"]) == ("pass", 2)
    meal = own[own["rule_id"] == "demo.meal.community"].set_index("subdistrict")
    assert meal.loc["Z03", "value"] == 0 and meal.loc["Z03", "status"] == "fail"
    fac = pd.read_csv(demo_run / "facilities.csv", encoding="utf-8-sig")
    assert (fac["category"] == "elderly_activity").sum() == 4 and (fac["category"] == "meal_point").sum() == 3
    assert "老年活动室" in (demo_run / "index.html").read_text(encoding="utf-8")
    report = (demo_run / "report.html").read_text(encoding="utf-8")
    assert "每个街道至少 2 个老年活动室（情景自定）" in report and "老年活动室" in report
    sheet = pd.read_excel(demo_run / "report.xlsx", sheet_name="街道达标", engine="openpyxl")
    assert "每个社区 10 分钟（老年步行）内有助餐点" in set(sheet.astype(str).stack())


def test_city_row_keeps_same_named_communities_of_two_streets_apart():
    """Both 街道 have a 长乐社区: Z1's is within 300 m of a childcare centre, Z2's is not. Per 街道 100 % and 0 %; for the
    city 1 of 2 communities = 50 %, which fails the strict "> 50 %" of childcare.local.community_coverage."""
    comp, cov, fac = _two_streets()
    comp["community"] = ["长乐社区", "长乐社区"]
    cov["dist_m__childcare"] = [100.0, 900.0]
    rules = [r for r in rules_for("nantong-2025") if r.id == "childcare.local.community_coverage"]
    table = _eval(comp, cov, fac, rules).set_index("subdistrict")
    assert (table.loc["Z1", "value"], table.loc["Z2", "value"]) == (100.0, 0.0)
    assert (table.loc["全市", "value"], table.loc["全市", "status"], table.loc["全市", "shortfall"]) == (50.0, "fail", 1)
