"""1+N 托育 (通政发〔2022〕40号 §三(二)3): hubs read from a column or their names, points assigned to hubs by walking
distance under a capacity N, the per-area summary, the two rules and the ``hubs`` siting model — on hand-made worlds
whose answers were worked out by hand.

The worlds are straight streets along y = 0 (metres; offset by (500 000, 3 500 000) in EPSG:4549); every facility
stands on the street (access leg 0 m), so a walk between two of them is the difference of their x.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from planner.analysis.one_plus_n import guide_points, hub_point_pairs, solve_assignment
from planner.analysis.requirements import CityTargets, _City, _city_one_plus_n_coverage, _city_one_plus_n_hubs
from planner.analysis.standards import rules_for
from planner.errors import ScenarioError
from planner.io.layers import load_facilities
from planner.network.build import network_from_lines
from planner.network.points import Reach, snap_geometries
from planner.scenario import load_scenario
from planner.settings import LayerSpec, OnePlusNSpec, SitingSpec
from planner.siting.hubs import hub_sites

X0, Y0 = 500_000.0, 3_500_000.0
CRS_M = "EPSG:4549"


def _world(xs: list[float], hubs: list[bool], zones: list[str] | None = None):
    """A street from x = −5 000 to 5 000 m and one childcare facility at each x (``hubs`` flags the hubs)."""
    lines = gpd.GeoDataFrame({"name": ["长街"], "highway": ["residential"]},
                             geometry=[shapely.LineString([(X0 - 5000, Y0), (X0 + 5000, Y0)])], crs=CRS_M)
    net = network_from_lines(lines, min_piece_m=0)
    pts = shapely.points(np.c_[X0 + np.asarray(xs, float), np.full(len(xs), Y0)])
    fac = gpd.GeoDataFrame({
        "id": [f"F{i}" for i in range(len(xs))], "name": [f"{'枢纽' if h else '点'}@{x:g}" for x, h in zip(xs, hubs, strict=True)],
        "category": "childcare", "hub": hubs, "zone_id": zones or ["合计"] * len(xs), "reachable": True,
    }, geometry=pts, crs=CRS_M)
    snapped = snap_geometries(net, pts, max_snap_m=300)
    reach = Reach.build(net, snapped, n_gates=0, max_snap_m=300)
    return net, fac, reach


def _model(fac, reach, spec: OnePlusNSpec, zones=None, limit=None):
    limit = limit if limit is not None else (spec.max_distance_m or 5000.0)
    pairs = hub_point_pairs(reach.graph, reach.facilities, fac, limit_m=limit)
    return guide_points(fac, pairs, zones, spec, limit_m=limit)


def _by_name(model) -> pd.DataFrame:
    return model.table.set_index("name")


def test_straight_street_capacity_and_distance():
    """H at 0 m; points at 200, 500, 900, 1 500 m; N = 2, max 1 000 m.

    Within 1 000 m of H: 200, 500, 900 (1 500 is 1 500 m away). H takes two: most points first (2 either way), then
    least distance: 200 + 500 = 700 < 200 + 900 = 1 100 < 500 + 900 = 1 400. So 900 stays out, "hubs full", and 1 500
    "no hub within 1 000 m". H has 3 points within reach, one over N."""
    _, fac, reach = _world([0, 200, 500, 900, 1500], [True, False, False, False, False])
    m = _model(fac, reach, OnePlusNSpec(n=2, max_distance_m=1000))
    t = _by_name(m)
    assert t.loc["点@200", "hub_id"] == "F0" and t.loc["点@200", "dist_m"] == 200.0
    assert t.loc["点@500", "hub_id"] == "F0" and t.loc["点@500", "dist_m"] == 500.0
    assert t.loc["点@900", "status"] == "unassigned" and t.loc["点@900", "reason_code"] == "hubs_full"
    assert t.loc["点@1500", "reason_code"] == "no_hub_within" and "1,000 米" in t.loc["点@1500", "reason"]
    assert (t.loc["枢纽@0", ["points_within", "guided", "over_n"]].tolist()) == [3, 2, 1]
    city = m.city
    # 4 points, 2 assigned; distances 200 and 500: min 200, median = mean = 350, max 500
    assert (city["points"], city["assigned"], city["hubs_full"], city["no_hub_within"], city["hubs_over_n"]) == (4, 2, 1, 1, 1)
    assert (city["dist_min_m"], city["dist_median_m"], city["dist_mean_m"], city["dist_max_m"]) == (200, 350, 350, 500)
    assert city["coverage_pct"] == 50.0


def test_unlimited_n_takes_the_nearest_hub_and_over_n_is_not_evaluable():
    """No N: each point its nearest hub (H1 at 0, H2 at 1 000: 400 → H1 (400 < 600), 600 → H2 (400 < 600))."""
    _, fac, reach = _world([0, 1000, 400, 600], [True, True, False, False])
    m = _model(fac, reach, OnePlusNSpec(max_distance_m=2000))
    t = _by_name(m)
    assert t.loc["点@400", "hub_id"] == "F0" and t.loc["点@600", "hub_id"] == "F1"
    assert pd.isna(m.city["hubs_over_n"]) and t["over_n"].isna().all()
    assert m.solver["method"] == "nearest"


def test_the_nearer_hub_full_sends_a_point_to_the_farther_one():
    """H1 at 0, H2 at 1 000, N = 1, max 1 000; A at 100, B at 400 (both nearest H1).

    A→H1 (100) + B→H2 (600) = 700 beats B→H1 (400) + A→H2 (900) = 1 300: B goes to the farther hub."""
    _, fac, reach = _world([0, 1000, 100, 400], [True, True, False, False])
    t = _by_name(_model(fac, reach, OnePlusNSpec(n=1, max_distance_m=1000)))
    assert (t.loc["点@100", "hub_id"], t.loc["点@100", "dist_m"]) == ("F0", 100.0)
    assert (t.loc["点@400", "hub_id"], t.loc["点@400", "dist_m"]) == ("F1", 600.0)


def test_most_points_before_least_distance():
    """H1 at 0, H2 at 1 000, N = 1, max 1 000; A at 200 (H1 200, H2 800), B at −700 (H1 700; H2 1 700, too far).

    Nearest-first would give A→H1 and leave B out (one point, 200 m). Most points first: B→H1 (700) + A→H2 (800)."""
    _, fac, reach = _world([0, 1000, 200, -700], [True, True, False, False])
    m = _model(fac, reach, OnePlusNSpec(n=1, max_distance_m=1000))
    t = _by_name(m)
    assert t.loc["点@200", "hub_id"] == "F1" and t.loc["点@-700", "hub_id"] == "F0"
    assert m.city["assigned"] == 2 and m.city["dist_mean_m"] == 750.0  # (700 + 800) / 2
    assert m.solver["method"] == "nearest+highs" and m.solver["lp_status"] == "optimal"


def test_same_district():
    """Zones Z1 (县区 甲) and Z2 (县区 乙); the hub at 0 is in 甲, the point at 300 in 乙: with same_district it stays out
    ("no hub in its 县区"); without, it is guided (300 m). The 县区 乙 has no hub: the district rule fails."""
    _, fac, reach = _world([0, 300, 100], [True, False, False], zones=["Z1", "Z2", "Z1"])
    zones = pd.DataFrame({"name": ["一街道", "二街道"], "district": ["甲区", "乙区"]}, index=["Z1", "Z2"])
    same = _model(fac, reach, OnePlusNSpec(max_distance_m=1000), zones=zones)  # default: on, zones have 县区
    assert same.same_district
    t = _by_name(same)
    assert t.loc["点@300", "reason_code"] == "no_hub_in_district" and t.loc["点@100", "hub_id"] == "F0"
    d = same.districts.set_index("area_name")
    assert d.loc["甲区", ["hubs", "points", "assigned"]].tolist() == [1, 1, 1]
    assert d.loc["乙区", ["hubs", "points", "assigned", "no_hub_in_district"]].tolist() == [0, 1, 0, 1]
    z = same.areas[same.areas["level"] == "街道"].set_index("area_id")
    assert z.loc["Z2", "district"] == "乙区" and z.loc["Z2", "unassigned"] == 1
    across = _model(fac, reach, OnePlusNSpec(max_distance_m=1000, same_district=False), zones=zones)
    assert _by_name(across).loc["点@300", "dist_m"] == 300.0

    rules = {r.id: r for r in rules_for("nantong-2025")}
    hubs_row = _city_one_plus_n_hubs(rules["childcare.one_plus_n.district_hub"], _city(same))
    # fewest hubs in a 县区: 乙区 0 < 1 → fail, 1 hub short, 乙区 named
    assert (hubs_row["value"], hubs_row["status"], hubs_row["shortfall"]) == (0.0, "fail", 1) and "乙区" in hubs_row["shortfall_text"]
    cov = _city_one_plus_n_coverage(rules["childcare.one_plus_n.coverage"], _city(same))
    # 1 of 2 points assigned: 50 %, 1 point short of 100 %
    assert (cov["value"], cov["status"], cov["shortfall"]) == (50.0, "fail", 1)
    cov = _city_one_plus_n_coverage(rules["childcare.one_plus_n.coverage"], _city(across))
    assert (cov["value"], cov["status"]) == (100.0, "pass")


def _city(model) -> _City:
    return _City(pd.DataFrame(), pd.DataFrame(), {}, {}, None, None, pd.DataFrame(), pd.DataFrame(), CityTargets(),  # type: ignore[arg-type]
                 one_plus_n=model)


def test_district_rule_not_evaluable_without_district():
    _, fac, reach = _world([0, 300], [True, False])
    m = _model(fac, reach, OnePlusNSpec(max_distance_m=1000))
    rule = {r.id: r for r in rules_for("nantong-2025")}["childcare.one_plus_n.district_hub"]
    row = _city_one_plus_n_hubs(rule, _city(m))
    assert row["status"] == "not_evaluable" and "district" in row["shortfall_text"]
    assert _city_one_plus_n_hubs(rule, _city(None))["status"] == "not_evaluable"


def test_solver_is_deterministic_and_order_free():
    """The same pairs in any order give the same assignment (ties go the same way)."""
    rng = np.random.default_rng(3)
    p = rng.integers(0, 40, 300)
    h = rng.integers(0, 6, 300)
    d = rng.integers(1, 20, 300).astype(float) * 50  # many equal distances
    key = np.unique(p * 10 + h, return_index=True)[1]
    p, h, d = p[key], h[key], d[key]
    first, info = solve_assignment(p, h, d, 40, 6, 3)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(p))
        again, _ = solve_assignment(p[order], h[order], d[order], 40, 6, 3)
        assert np.array_equal(first, again)
    assert np.bincount(first[first >= 0], minlength=6).max() <= 3
    assert (first >= 0).sum() == 18  # 6 hubs × 3: every hub has more than 3 points within reach here
    assert info["lp_status"] == "optimal"


# ---- the hub column ----------------------------------------------------------------------------------------------


def _layer(tmp_path: Path, rows: list[dict], columns: dict | None = None):
    feats = [{"type": "Feature", "properties": r, "geometry": {"type": "Point", "coordinates": [120.9 + i * 0.001, 31.98]}}
             for i, r in enumerate(rows)]
    path = tmp_path / "fac.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False), encoding="utf-8")
    return load_facilities(LayerSpec(kind="facilities", path=path, columns=columns or {}), CRS.from_epsg(4549))


def test_hub_column_values_and_rejections(tmp_path: Path):
    """是/1/true/yes are hubs, 否/0/no/blank are not, anything else is rejected with its value; a non-childcare row is
    never a hub and its cell is not read; the column wins over the name."""
    rows = [
        {"编号": "A", "名称": "甲托育", "类别": "托育机构", "示范中心": "是"},
        {"编号": "B", "名称": "乙托育", "类别": "托育机构", "示范中心": "1"},
        {"编号": "C", "名称": "丙托育", "类别": "托育机构", "示范中心": "TRUE"},
        {"编号": "D", "名称": "丁托育综合服务中心", "类别": "托育机构", "示范中心": "否"},
        {"编号": "E", "名称": "戊托育", "类别": "托育机构", "示范中心": None},
        {"编号": "F", "名称": "己托育", "类别": "托育机构", "示范中心": "可能"},
        {"编号": "G", "名称": "庚便利店", "类别": "便利店", "示范中心": "yes"},
        {"编号": "H", "名称": "辛超市", "类别": "综合超市", "示范中心": "无"},  # not read for other categories: kept
    ]
    layer = _layer(tmp_path, rows, {"hub": "示范中心"})
    hub = layer.data.set_index("id")["hub"]
    assert hub.to_dict() == {"A": True, "B": True, "C": True, "D": False, "E": False, "G": False, "H": False}
    rej = layer.rejected.set_index("id")
    assert rej.loc["F", "reason_code"] == "bad_hub" and "示范中心 = '可能'" in rej.loc["F", "reason"]


def test_hub_by_name_without_a_column(tmp_path: Path):
    rows = [
        {"编号": "A", "名称": "崇川区托育综合服务中心", "类别": "托育机构"},
        {"编号": "B", "名称": "海门示范性托育机构", "类别": "托育机构"},
        {"编号": "C", "名称": "阳光托育园", "类别": "托育机构"},
        {"编号": "D", "名称": "综合托育服务中心便利店", "类别": "便利店"},
    ]
    hub = _layer(tmp_path, rows).data.set_index("id")["hub"]
    assert hub.to_dict() == {"A": True, "B": True, "C": False, "D": False}


# ---- the scenario table ------------------------------------------------------------------------------------------


def _scenario(project: Path, extra: str) -> Path:
    """The demo scenario with its own [one_plus_n] table replaced by ``extra``."""
    import re

    text = re.sub(r"\n\[one_plus_n\]\n(?:[^\[\n][^\n]*\n)*", "\n", (project / "demo.toml").read_text(encoding="utf-8"))
    path = project / "s.toml"
    path.write_text(text + "\n" + extra, encoding="utf-8")
    return path


def test_one_plus_n_table_parsed(project: Path):
    sc = load_scenario(_scenario(project, "[one_plus_n]\nn = 5\nmax_distance_m = 1500\nsame_district = false\n"))
    assert sc.one_plus_n == OnePlusNSpec(n=5, max_distance_m=1500.0, same_district=False)
    assert sc.one_plus_n_limit_m() == 1500.0
    assert load_scenario(_scenario(project, "")).one_plus_n == OnePlusNSpec()
    assert load_scenario(project / "demo.toml").one_plus_n == OnePlusNSpec(n=6, max_distance_m=2000.0)


@pytest.mark.parametrize(("body", "words"), [
    ("n = 0", "[one_plus_n].n"), ("n = 2.5", "[one_plus_n].n"), ("max_distance_m = -1", "max_distance_m"),
    ("same_district = \"yes\"", "same_district"), ("k = 3", "未知字段 'k'"),
])
def test_one_plus_n_table_errors(project: Path, body: str, words: str):
    with pytest.raises(ScenarioError) as err:
        load_scenario(_scenario(project, f"[one_plus_n]\n{body}\n"))
    assert words in str(err.value) and " / " in str(err.value)


# ---- the hubs siting model ---------------------------------------------------------------------------------------


def test_hubs_siting_picks_the_site_that_assigns_most_points():
    """H at 0 guides 200 and 500 (N = 2, max 1 000). 2 500, 2 700 and 2 900 have no hub within 1 000 m.

    Upgrading 2 700 guides 2 500 and 2 900 (200 m each): 2 points; upgrading 2 500 also guides 2 but walks 200 + 400 =
    600 m against 400 m; upgrading 200 or 500 reaches none of them. So the site is 2 700, guiding 2 points, and 1+N
    coverage rises from 2 of 5 points = 40 % to 4 of 4 = 100 % (2 700 is a hub now, not a point)."""
    net, fac, reach = _world([0, 200, 500, 2500, 2700, 2900], [True] + [False] * 5)
    m = _model(fac, reach, OnePlusNSpec(n=2, max_distance_m=1000))
    task = SitingSpec(name="新增枢纽", category="childcare", model="hubs", k=1)
    sites, summary = hub_sites(task, reach, fac, None, m)
    assert len(sites) == 1
    site = sites.iloc[0]
    assert site["name"] == "点@2700" and site["source"] == "upgrade" and site["served"] == 2
    assert "2 个社区托育点" in site["fixes"] and "40% → 100%" in site["fixes"]
    assert site["nearest_existing_m"] == 2700.0
    assert summary["status"] == "optimal" and summary["demand_covered_after"] == 4


def test_hubs_siting_gives_each_district_without_a_hub_one():
    """Same district on: 乙区 (points at 3 000, 3 300) has no hub; k = 1 but the required 县区 gets its site, and the
    site chosen there guides the other point (300 m): 1 point."""
    _, fac, reach = _world([0, 300, 3000, 3300], [True, False, False, False], zones=["Z1", "Z1", "Z2", "Z2"])
    zones = pd.DataFrame({"name": ["一街道", "二街道"], "district": ["甲区", "乙区"]}, index=["Z1", "Z2"])
    m = _model(fac, reach, OnePlusNSpec(n=3, max_distance_m=1000), zones=zones)
    sites, summary = hub_sites(SitingSpec(name="t", category="childcare", model="hubs", k=1), reach, fac, zones, m)
    assert summary["required_zones"] == ["乙区"]
    assert len(sites) == 1 and sites.iloc[0]["zone_id"] == "Z2" and sites.iloc[0]["served"] == 1
    assert "乙区" in sites.iloc[0]["fixes"] and "childcare.one_plus_n.district_hub" in sites.iloc[0]["fixes"]


def test_hubs_siting_in_pieces_is_refused_clearly(project: Path, capsys, tmp_path: Path):
    from planner.cli import main

    path = _scenario(project, "[one_plus_n]\nn = 6\n\n[partition]\nzones_column = \"district\"\n\n[[siting]]\nname = \"枢纽\"\n"
                              "category = \"childcare\"\nmodel = \"hubs\"\n")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "-q", "--partitioned"]) == 2
    err = capsys.readouterr().err
    assert "model = \"hubs\"" in err and "Traceback" not in err and not (tmp_path / "out").exists()


def test_a_hubs_task_on_another_category_is_refused(project: Path):
    with pytest.raises(ScenarioError, match="hubs"):
        load_scenario(_scenario(project, "[[siting]]\nname = \"x\"\ncategory = \"elderly_centre\"\nmodel = \"hubs\"\n"))


def test_demo_outputs_show_the_model(demo_run: Path):
    """The demo's north bank (北岸区) has one hub, 临河街道托育综合服务中心, guiding its 街道's two points; the south bank
    (南岸区) has none: its six points are unassigned for that reason, and the district rule fails naming it."""
    table = pd.read_csv(demo_run / "one_plus_n.csv", encoding="utf-8-sig", dtype={"hub_id": str})
    hubs = table[table["role"] == "枢纽"]
    assert hubs["name"].tolist() == ["临河街道托育综合服务中心"] and hubs["guided"].tolist() == [2]
    south = table[table["district"] == "南岸区"]
    assert len(south) == 6 and (south["reason_code"] == "no_hub_in_district").all()
    areas = pd.read_csv(demo_run / "one_plus_n_areas.csv", encoding="utf-8-sig")
    assert areas.loc[areas["level"] == "县区", "area_name"].tolist() == ["北岸区", "南岸区"]
    compliance = pd.read_csv(demo_run / "compliance.csv", encoding="utf-8-sig").set_index("rule_id")
    assert compliance.loc["childcare.one_plus_n.district_hub", "status"] == "fail"
    assert "南岸区" in compliance.loc["childcare.one_plus_n.district_hub", "shortfall_text"]
    assert compliance.loc["childcare.one_plus_n.coverage", "value"] == 20.0  # 2 of 10 points
    page = (demo_run / "index.html").read_text(encoding="utf-8")
    assert "1+N 托育：枢纽—托育点" in page and '"links":[[' in page
    assert '<section id="one_plus_n"' in (demo_run / "report.html").read_text(encoding="utf-8")
    summary = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))["one_plus_n"]
    assert (summary["hubs"], summary["points"], summary["assigned"], summary["districts_without_hub"]) == (1, 10, 2, ["南岸区"])


def test_hubs_siting_opens_no_hub_that_guides_nobody():
    """H at 0; points at 3 000 and 6 000 with a 1 000 m limit: no candidate reaches another point, so even with k = 3 no
    hub is proposed (a hub that guides nobody is not a 1+N hub)."""
    _, fac, reach = _world([0, 3000, 6000], [True, False, False])
    m = _model(fac, reach, OnePlusNSpec(n=2, max_distance_m=1000))
    sites, summary = hub_sites(SitingSpec(name="t", category="childcare", model="hubs", k=3), reach, fac, None, m)
    assert len(sites) == 0 and summary["demand_covered_after"] == summary["demand_covered_before"] == 0
