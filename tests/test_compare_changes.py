"""planner compare on two hand-made run folders whose differences are known (issue #14, deliverable 7).

Two 街道 (Z1 甲街道, Z2 乙街道), four compounds, thresholds 5/10/15 minutes::

    compound  街道  A: pop / 60+ / 0–3   B: pop   what changes from A to B (within 15 min)
    C1        Z1    100 / 30 / 5         110      elderly_centre: not reached → within 10 min
    C2        Z1    200 / 50 / 10        200      elderly_station within 5 min in both runs
    C3        Z2    300 / 80 / 20        300      childcare: within 15 min → not reached
    C4        Z2    400 / 100 / 0        400      nothing (not connected in either run)

and one rule of each kind of change in compliance.csv (see ``RULES``), among them a rule planner does not know whose
rows pass when the value is at most the target (lower is better).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from planner import schema
from planner.cli import main
from planner.io.categories import load_taxonomy
from planner.outputs.compare import (
    OPERATORS,
    RULE_CHANGES,
    compare_runs,
    format_value,
    read_run,
    rule_direction,
    summary_lines,
    write_comparison,
)
from planner.outputs.compare_map import bands, comparison_map

CATS = ["elderly_centre", "elderly_station", "childcare", "market"]
THRESHOLDS = [5, 10, 15]
# compound: (zone, A population, 60+, 0–3, B population, reachable)
COMPOUNDS = {
    "C1": ("Z1", 100, 30, 5, 110, True),
    "C2": ("Z1", 200, 50, 10, 200, True),
    "C3": ("Z2", 300, 80, 20, 300, True),
    "C4": ("Z2", 400, 100, 0, 400, False),
}
# (compound, category) -> minutes to the nearest facility in A and B (None: not within 15 minutes)
MINUTES = {
    ("C1", "elderly_centre"): (None, 8.0),
    ("C2", "elderly_station"): (3.0, 3.0),
    ("C3", "childcare"): (12.0, None),
    ("C1", "market"): (14.0, 14.0),
    ("C2", "market"): (4.0, 4.0),
}
# (zone, rule id, unit) -> (status, value, target, shortfall) in A and in B, and the change expected
RULES = {
    ("Z1", "elderly.home_community.coverage", "%"): (("fail", 64.5, 90, 3577), ("fail", 71.3, 90, 2800), "improved"),
    ("Z2", "elderly.home_community.coverage", "%"): (("fail", 80.0, 90, 500), ("fail", 70.0, 90, 900), "declined"),
    ("Z1", "elderly.street_centre.count", "所"): (("fail", 0, 1, 1), ("pass", 1, 1, 0), "newly_passing"),
    ("Z2", "childcare.places_per_1000", "个托位/千人"): (("pass", 5.0, 4.5, 0), ("fail", 4.0, 4.5, 100), "newly_failing"),
    ("Z1", "elderly.room_area.new", "m²/百户"): (("fail", 25.0, 30, 200), ("fail", 25.0, 30, 150), "improved"),
    ("Z2", "elderly.nursing_bed_share", "%"): (("not_evaluable", None, 75, None), ("fail", 50.0, 75, 11), "changed"),
    ("全市", "elderly.beds_per_1000_elderly", "张/千名老人"): (("fail", 3.17, 40, 2126), ("fail", 3.17, 40, 2126), "unchanged"),
    ("Z1", "custom.noise_max", "dB"): (("pass", 5.0, 10, 0), ("pass", 8.0, 10, 0), "declined"),
    ("Z2", "custom.noise_max", "dB"): (("fail", 12.0, 10, 2), ("fail", 11.0, 10, 1), "improved"),
}
NAMES = {"Z1": "甲街道", "Z2": "乙街道", "全市": "全市"}
HOME_CARE = "居家社区养老服务覆盖率（60 岁及以上人口 15 分钟老年步行内有养老服务设施，默认老年步速下为 800 米）"


def _zh(rule: str) -> str:
    """The rule's Chinese name as compliance.csv writes it (rules.toml's; 噪声上限 for the rule planner does not know)."""
    from planner.analysis.standards import load_rules

    return next((r["zh"] for r in load_rules() if r["id"] == rule), "噪声上限")


def _write_run(folder: Path, side: int, name: str) -> Path:
    folder.mkdir(parents=True)
    summary = {"planner_version": "test", "scenario": {"name": name}, "thresholds_min": THRESHOLDS, "categories": CATS}
    (folder / "summary.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    pd.DataFrame({"zone_id": ["Z1", "Z2"], "name": ["甲街道", "乙街道"]}).to_csv(folder / "subdistricts.csv", index=False, encoding="utf-8-sig")
    rows = []
    for (zone, rule, unit), runs in RULES.items():
        status, value, target, short = runs[side]
        rows.append({"subdistrict": zone, "subdistrict_name": NAMES[zone], "rule_id": rule, "rule": _zh(rule), "value": value,
                     "target": target, "status": status, "shortfall": short, "unit": unit,
                     "shortfall_text": f"缺 {short} / short {short}" if short else ""})
    pd.DataFrame(rows).to_csv(folder / "compliance.csv", index=False, encoding="utf-8-sig")
    records = []
    for k, (cid, (zone, pop_a, old, young, pop_b, reachable)) in enumerate(COMPOUNDS.items()):
        rec = {"id": cid, "name": f"小区{cid}", "zone_id": zone, "population": pop_b if side else pop_a, "age_60_plus": old,
               "age_0_3": young, "reachable": reachable}
        for c in CATS:
            minutes = MINUTES.get((cid, c), (None, None))[side]
            for t in THRESHOLDS:
                rec[schema.within(c, t)] = minutes is not None and minutes <= t
        rec["geometry"] = Point(120.0 + 0.01 * k, 32.0 + (0.0 if zone == "Z1" else 0.02))
        records.append(rec)
    gpd.GeoDataFrame(records, geometry="geometry", crs=4326).to_file(folder / "compounds.gpkg", engine="pyogrio")
    outlines = gpd.GeoDataFrame({"zone_id": ["Z1", "Z2"], "name": ["甲街道", "乙街道"]},
                                geometry=[box(119.99, 31.99, 120.05, 32.01), box(119.99, 32.01, 120.05, 32.03)], crs=4326)
    outlines.to_file(folder / "subdistricts.gpkg", engine="pyogrio")
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hand_runs")
    return _write_run(root / "a", 0, "现状"), _write_run(root / "b", 1, "方案")


@pytest.fixture(scope="module")
def cmp(runs):
    a, b = runs
    return compare_runs(read_run(a), read_run(b))


def test_every_rule_change_is_named(cmp) -> None:
    rules = cmp.rules.set_index(["subdistrict", "rule_id"])
    for (zone, rule, _), (ra, rb, expected) in RULES.items():
        row = rules.loc[(zone, rule)]
        assert row["change"] == expected, (zone, rule)
        assert (row["status_a"], row["status_b"]) == (ra[0], rb[0])
        if ra[1] is not None:
            assert row["delta"] == pytest.approx(rb[1] - ra[1])
    assert set(cmp.rules["change"]) <= set(RULE_CHANGES)
    z1 = rules.loc[("Z1", "elderly.home_community.coverage")]
    assert (z1["value_a"], z1["value_b"], z1["operator"], z1["target_b"]) == (64.5, 71.3, "≥", 90)
    # the English name comes from planner/data/rules.toml; a rule planner does not know keeps its own
    assert z1["rule_en"].startswith("60+ residents within a 15-minute elderly walk")
    assert rules.loc[("Z1", "custom.noise_max"), "operator"] == "≤"


def test_zone_counts(cmp) -> None:
    zones = cmp.zones.set_index("zone_id")
    assert zones.loc["Z1", ["n_newly_passing", "n_improved", "n_declined", "n_newly_failing"]].tolist() == [1, 2, 1, 0]
    assert zones.loc["Z2", ["n_newly_passing", "n_improved", "n_declined", "n_newly_failing"]].tolist() == [0, 1, 1, 1]
    assert zones.loc["Z1", "improved"].split("；") == ["elderly.home_community.coverage", "elderly.room_area.new"]
    assert zones.loc["全市", ["n_improved", "n_declined"]].tolist() == [0, 0]


def test_direction_of_better() -> None:
    assert rule_direction("elderly.home_community.coverage") == 1
    assert rule_direction("childcare.local.community_coverage") == 1  # strict: value > target
    rows = pd.DataFrame({"value": [5, 12, 9], "target": [10, 10, 10], "status": ["pass", "fail", "pass"]})
    assert rule_direction("custom.unknown", rows) == -1
    assert rule_direction("custom.unknown", rows.assign(status=["fail", "pass", "fail"])) == 1


def test_every_kind_of_rule_has_an_operator() -> None:
    from planner.analysis.standards import KINDS, load_rules

    assert {r["kind"] for r in load_rules()} | set(KINDS) <= set(OPERATORS)  # a scenario's own rule may use any kind


@pytest.mark.parametrize(
    ("value", "unit", "lang", "text"),
    [(64.4703, "%", "zh", "64.5%"), (1, "所", "zh", "1 所"), (1, "所", "en", "1 facilities"), (5.6169, "个托位/千人", "en", "5.62 places per 1000 residents"),
     (None, "%", "zh", "—"), (1234.5, "m²/百户", "zh", "1,234.5 m²/百户")],
)
def test_format_value(value, unit, lang, text) -> None:
    assert format_value(value, unit, lang) == text


def test_people_newly_served(cmp) -> None:
    s = cmp.served.set_index(["zone_id", "view_kind", "view", "group"])
    # C1 came within reach of a 综合性养老服务中心: B's people counted
    assert s.loc[("Z1", "category", "elderly_centre", "population"), ["served_a", "served_b", "newly_served", "no_longer_served"]].tolist() == [0, 110, 110, 0]
    assert s.loc[("Z1", "category", "elderly_centre", "age_60_plus"), "newly_served"] == 30
    # the 养老 view: C2 was served already (station), C1 is now
    assert s.loc[("Z1", "view", "elderly", "population"), ["served_a", "served_b", "newly_served", "net_change"]].tolist() == [200, 310, 110, 110]
    # C3 lost its childcare: A's people counted
    assert s.loc[("Z2", "view", "childcare", "age_0_3"), ["served_a", "served_b", "newly_served", "no_longer_served"]].tolist() == [20, 0, 0, 20]
    assert s.loc[("全市", "view", "childcare", "population"), "no_longer_served"] == 300
    # 一刻钟便民生活圈 (every basic format the runs analysed, here only the market): C1 and C2 in both runs
    assert s.loc[("全市", "view", "formats", "population"), ["served_a", "served_b", "newly_served"]].tolist() == [300, 310, 0]
    assert s.loc[("全市", "category", "market", "population"), "served_b"] == 310


def test_summary_lines_name_the_rules_and_values(cmp) -> None:
    text = "\n".join(summary_lines(cmp))
    assert "elderly.home_community.coverage" not in text  # names, not ids
    assert f"{HOME_CARE} / 60+ residents within" in text  # Chinese name (from the run) / English (rules.toml)
    assert "64.5% → 71.3%（+6.8 个百分点；目标 ≥ 90%；仍未达标） / 64.5% → 71.3% (+6.8 pp; target ≥ 90%; still failing)" in text
    assert "80% → 70%（−10 个百分点；目标 ≥ 90%；仍未达标）" in text
    assert "↑ 改善 / improved" in text and "↓ 变差 / declined" in text and "✔ 新达标 / newly passing" in text and "✘ 新不达标 / newly failing" in text
    assert "无法评价 → 50%" in text
    assert "25 m²/百户 → 25 m²/百户（缺口 200 → 150；目标 ≥ 30 m²/百户；仍未达标）" in text  # the value kept, the shortfall shrank
    assert "噪声上限 / 噪声上限" in text and "5 dB → 8 dB（+3；目标 ≤ 10 dB；仍达标）" in text
    assert "甲街道：新达标 1 项，改善 2 项，变差 1 项，新不达标 0 项" in text
    assert "综合性养老服务中心 / Comprehensive elderly-care centre：居民 / residents +110，60岁及以上 / aged 60+ +30，0–3岁 / aged 0–3 +5" in text
    assert "托育 / Childcare：居民 / residents +0 −300" in text
    # 全市's unchanged rule is not listed
    assert "每千名老年人" not in text and "beds per 1000" not in text


def test_summary_is_capped(cmp) -> None:
    text = summary_lines(cmp, max_zones=1, max_rules=1)
    assert any("另有 1 个街道有变化" in line for line in text)
    assert any("另有 3 项，见 compare.xlsx" in line for line in text)


def test_workbook_in_chinese_with_numbers(cmp, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    paths = write_comparison(cmp, tmp_path)
    wb = load_workbook(paths["xlsx"])
    assert wb.sheetnames == ["说明", "街道变化", "规则变化", "服务人口变化", "小区变化", "字段说明"]
    ws = wb["规则变化"]
    head = [c.value for c in ws[1]]
    assert {"街道", "指标", "变化", "方案 A 现状值", "方案 B 现状值", "变化量（B − A）", "达标条件", "方案 B 目标值", "单位"} <= set(head)
    rows = [dict(zip(head, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]
    row = next(r for r in rows if r["指标"] == HOME_CARE and r["街道"] == "甲街道")
    assert (row["变化"], row["方案 A 现状值"], row["方案 B 现状值"], row["达标条件"]) == ("改善", 64.5, 71.3, "≥")
    assert row["变化量（B − A）"] == pytest.approx(6.8)
    assert {r["变化"] for r in rows} == {"改善", "变差", "新达标", "新不达标", "结果变化", "不变"}
    ws = wb["服务人口变化"]
    head = [c.value for c in ws[1]]
    rows = [dict(zip(head, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]
    row = next(r for r in rows if r["主题 / 设施类别"] == "综合性养老服务中心" and r["街道编码"] == "Z1" and r["人群"] == "居民")
    assert (row["新增服务人数"], row["口径"]) == (110, "设施类别")
    zones = wb["街道变化"]
    head = [c.value for c in zones[1]]
    z1 = dict(zip(head, next(zones.iter_rows(min_row=2, values_only=True)), strict=True))
    assert z1["改善的规则"] == f"{HOME_CARE}；新建小区养老服务用房（每百户）"
    wb.close()
    rules_csv = pd.read_csv(paths["rules_csv"], encoding="utf-8-sig")
    assert len(rules_csv) == len(RULES)
    served_csv = pd.read_csv(paths["served_csv"], encoding="utf-8-sig")
    assert set(served_csv["zone_id"]) == {"Z1", "Z2", "全市"}


def test_workbook_in_english(cmp, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    paths = write_comparison(cmp, tmp_path, lang="en")
    wb = load_workbook(paths["xlsx"])
    ws = wb["Rule changes"]
    head = [c.value for c in ws[1]]
    rows = [dict(zip(head, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert any(r["Rule"].startswith("60+ residents within") and r["Change"] == "improved" for r in rows)
    assert any(r["Unit"] == "places per 1000 residents" for r in rows)
    wb.close()


def test_cli_prints_the_summary(runs, tmp_path: Path, capsys) -> None:
    a, b = runs
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "64.5% → 71.3%" in out and "仍未达标）" in out and "still failing" in out and "甲街道" in out
    for name in ("compare.html", "compare.csv", "compare_rules.csv", "compare_served.csv", "compare.xlsx"):
        assert (tmp_path / "cmp" / name).is_file()


# ------------------------------------------------------------------------------------------------ the map


def _calls(page: str, kind: str) -> list[dict]:
    import re

    pattern = re.compile(r"var \w+ = plannerCompare\." + kind + r"\((\{.*?\})(?:, \w+)?\);\n")
    return [json.loads(m.group(1).replace("<\\/", "</")) for m in pattern.finditer(page)]


def test_bands_by_hand(cmp) -> None:
    ids = ["C1", "C2", "C3", "C4"]
    assert bands(cmp.b.compounds, ids, ["elderly_centre"], THRESHOLDS, every=False).tolist() == [1, 3, 3, -1]
    assert bands(cmp.a.compounds, ids, ["elderly_centre", "elderly_station"], THRESHOLDS, every=False).tolist() == [3, 0, 3, -1]
    assert bands(cmp.a.compounds, ids, ["childcare"], THRESHOLDS, every=False).tolist() == [3, 3, 2, -1]
    assert bands(cmp.a.compounds, ids, ["market"], THRESHOLDS, every=True).tolist() == [2, 0, 3, -1]


def test_map_before_after_and_zones(cmp) -> None:
    from _mapdata import column, page_calls

    fmap = comparison_map(cmp, lang="zh", basemap="offline", tianditu_key=None)
    names = [layer.layer_name for layer in fmap._children.values() if hasattr(layer, "layer_name")]
    page = fmap.get_root().render()
    (table,) = [d for _, kind, d, _ in page_calls(page) if kind == "table"]
    # the measures: the three views, then the categories some compound gained or lost (elderly_centre, childcare)
    taxonomy = load_taxonomy()
    assert table["cov"]["views"] == ["养老", "托育", "一刻钟便民生活圈（基本业态齐全）", taxonomy["elderly_centre"].zh, taxonomy["childcare"].zh]
    n = 4
    assert column(table, "a0", n) == [3, 0, 3, -1] and column(table, "b0", n) == [1, 0, 3, -1]  # 养老
    assert column(table, "a1", n) == [3, 3, 2, -1] and column(table, "b1", n) == [3, 3, 3, -1]  # 托育
    assert column(table, "pb0", n) == [30, 50, 80, 100]  # 60+ shown for 养老
    assert column(table, "a3", n) == [3, 3, 3, -1] and column(table, "b3", n) == [1, 3, 3, -1]  # 综合性养老服务中心
    coverage = _calls(page, "coverage")
    assert [d["side"] for d in coverage] == ["a", "b"]
    (zones,) = _calls(page, "zones")
    assert zones["tip"] == ["甲街道", "乙街道"]
    assert zones["fill"] == ["#f68b1f", "#f68b1f"]  # both 街道 have rules improved and declined
    z1 = zones["popup"][0]
    assert "64.5% → 71.3%" in z1 and "目标 ≥ 90%" in z1 and "改善" in z1 and "综合性养老服务中心（60岁及以上）</td><td>+30" in z1
    assert {"之前：小区覆盖（现状）", "之后：小区覆盖（方案）", "街道（按指标改善/变差着色）"} <= set(names)


def test_map_switch_in_a_browser(cmp, tmp_path: Path) -> None:
    import sys

    from _browser import find_chromium, load_page

    chromium = find_chromium()
    if chromium is None or sys.platform != "linux":
        pytest.skip("no headless Chromium")
    path = tmp_path / "compare.html"
    path.write_text(comparison_map(cmp, lang="zh", basemap="offline", tianditu_key=None).get_root().render(), encoding="utf-8")
    fills = """
    (() => {
      const map = window[Object.keys(window).find((k) => /^map_[0-9a-f]+$/.test(k))];
      const shown = () => { const out = []; map.eachLayer((l) => { if (l instanceof L.CircleMarker && l.options.i !== undefined
        && l.options.radius === 6) out.push([l.options.i, l.options.fillColor]); }); return out.sort((x, y) => x[0] - y[0]); };
      const pick = (mode) => { document.querySelector("input[value=" + mode + "]").click(); return shown(); };
      const before = pick("before"), after = pick("after");
      const sel = document.querySelector("#planner-view"); sel.value = "1"; sel.dispatchEvent(new Event("change"));
      const childcare = shown();
      const legend = document.getElementById("planner-legend-coverage").style.display;
      const back = pick("changes").length;
      return {before, after, childcare, legend, back};
    })()
    """
    report = load_page(path, expressions={"fills": fills}, screenshot=False, executable=chromium, workdir=tmp_path / "chromium")
    assert report.problems == [], report.problems
    v = report.values["fills"]
    green5, green10, red, grey = "#1a9850", "#66bd63", "#d73027", "#9e9e9e"
    assert v["before"] == [[0, red], [1, green5], [2, red], [3, grey]]
    assert v["after"] == [[0, green10], [1, green5], [2, red], [3, grey]]
    assert v["childcare"] == [[0, red], [1, red], [2, red], [3, grey]]  # after, 托育: C3 lost its childcare
    assert v["legend"] == "" and v["back"] == 0
