"""The map data `planner serve` sends after an edit (planner/serve/views.py) against an oracle: a fresh gap map
(planner.outputs.maps.gap_map) drawn from the plan's own coverage, facilities and compliance. The present's map
patched with the answer must hold exactly the plan map's compound bands and minutes, 街道 classes and measures and
街道 popup rows. And the isochrone of a placed facility (planner/whatif/isochrone.py) against the run's own
isochrone of a facility at the same spot."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from planner.analysis.isochrones import isochrones_by
from planner.outputs.map_layers import ints_of
from planner.outputs.maps import gap_map
from planner.serve.views import PlanViews
from planner.whatif.engine import WhatIf
from planner.whatif.isochrone import isochrone_geojson, new_point_isochrone


@pytest.fixture(scope="module")
def engine(demo_result):
    return WhatIf(demo_result)


@pytest.fixture(scope="module")
def plan_views(demo_result):
    return PlanViews(demo_result)


def _map_data(result, coverage, facilities, compliance) -> tuple[dict, dict]:
    """The config and compound table a gap map of these inputs gives its script (read from the map's elements)."""
    sc = result.scenario
    fmap = gap_map(title="t", lang="zh", sample_data=False, basemap="offline", network=result.network, zones=result.zones,
                   zone_table=result.zone_table, compounds=result.compounds, coverage=coverage, facilities=facilities,
                   taxonomy=result.taxonomy, max_snap_m=sc.max_snap_m, compliance=compliance, rules=result.compliance.rules)
    init = next(c for c in fmap._children.values() if type(c).__name__ == "_AppInit")
    return init.config, json.loads(init.tables["compounds"].data)


def _column(table: dict, name: str) -> np.ndarray:
    v = table["cols"][name]
    return np.full(len(table["name"]), v) if isinstance(v, int) else np.array(ints_of(v))


def _gap_compound(result, category: str) -> tuple[float, float]:
    """WGS84 position of the connected compound farthest from a facility of ``category`` (a gap)."""
    d = result.coverage.table[f"dist_m__{category}"].to_numpy(dtype=float)
    d = np.where(np.isfinite(d) & result.compounds["reachable"].to_numpy(dtype=bool), d, -1.0)
    p = result.compounds.to_crs(4326).geometry.iloc[int(np.argmax(d))]
    return round(p.x, 7), round(p.y, 7)


def _cases(result) -> dict[str, dict]:
    fac = result.facilities
    lon, lat = _gap_compound(result, "elderly_centre")
    clon, clat = _gap_compound(result, "childcare")
    centre = fac.loc[fac["category"] == "elderly_centre", "id"].astype(str).iloc[0]
    nursery = fac.loc[fac["category"] == "childcare", "id"].astype(str).iloc[0]
    return {
        "add": {"add": [{"category": "elderly_centre", "lon": lon, "lat": lat, "beds": 60}]},
        "remove": {"remove": [centre, nursery]},
        "add_and_remove": {"add": [{"category": "childcare", "lon": clon, "lat": clat, "places": 80}], "remove": [centre]},
    }


@pytest.mark.parametrize("case", ["add", "remove", "add_and_remove"])
def test_patched_present_equals_a_fresh_gap_map_of_the_plan(demo_result, engine, plan_views, case):
    body = _cases(demo_result)[case]
    state = engine.apply(engine.parse(body))
    answer = plan_views.of(state)
    json.dumps(answer, allow_nan=False)  # JSON as it is sent
    present_cfg, present = _map_data(demo_result, demo_result.coverage, demo_result.facilities, demo_result.compliance.table)
    plan_cfg, plan = _map_data(demo_result, state.coverage, state.active, state.compliance.table)
    ids = demo_result.compounds["id"].astype(str).to_numpy()
    row_of = {cid: i for i, cid in enumerate(ids)}
    assert {cid: f["row"] for cid, f in answer["compounds"].items()} == {cid: row_of[cid] for cid in answer["compounds"]}
    changed_somewhere = 0
    for view in plan_cfg["viewOrder"]:
        band, minutes = _column(present, f"b_{view}").copy(), _column(present, f"t_{view}").copy()
        entry = answer["views"][view]
        for cid, b in entry["compounds"].items():
            band[row_of[cid]] = b
            minutes[row_of[cid]] = entry["minutes"][cid]
        changed_somewhere += len(entry["compounds"])
        np.testing.assert_array_equal(band, _column(plan, f"b_{view}"), err_msg=f"bands of view {view}")
        np.testing.assert_array_equal(minutes, _column(plan, f"t_{view}"), err_msg=f"minutes of view {view}")
        z = plan_cfg["zones"]
        assert entry["zones"]["ids"] == list(demo_result.zones.index.astype(str))
        assert entry["zones"]["class"] == z["cls"][view] and entry["zones"]["measure"] == z["measure"][view]
        assert entry["zones"]["coverage"] == z["coverage"][view] and entry["kind"] == z["kind"][view]
    assert changed_somewhere > 0, "the edit changes no band: the case tests nothing"
    # the popup facts: distances, minutes and the longest threshold's flag of every changed compound
    cats = list(demo_result.coverage.categories)
    for k, cat in enumerate(cats):
        d, m = _column(present, f"d{k}").copy(), _column(present, f"m{k}").copy()
        for f in answer["compounds"].values():
            if cat in f["cats"]:  # only the categories the plan touches are sent; the others stay the present's
                d[f["row"]], m[f["row"]] = f["cats"][cat][0], f["cats"][cat][1]
        np.testing.assert_array_equal(d, _column(plan, f"d{k}"), err_msg=f"metres to {cat}")
        np.testing.assert_array_equal(m, _column(plan, f"m{k}"), err_msg=f"minutes to {cat}")
    # the 街道 popups' rule rows
    z0, z1 = present_cfg["zones"], plan_cfg["zones"]
    texts = [z0["ruleText"][c] for c in z0["ruleCell"]]
    status = list(z0["ruleStatus"])
    rules = answer["zone_rules"]
    assert not rules.get("all")
    for r, s, text in zip(rules["rows"], rules["status"], rules["text"], strict=True):
        status[r], texts[r] = s, text
    assert status == z1["ruleStatus"] and texts == [z1["ruleText"][c] for c in z1["ruleCell"]]


def test_no_edit_changes_nothing(plan_views):
    answer = plan_views.of(None)
    assert answer["compounds"] == {} and all(not v["compounds"] for v in answer["views"].values())
    assert answer["zone_rules"]["rows"] == []


@pytest.mark.parametrize("row", [0, 7])
def test_isochrone_of_a_point_placed_on_a_facility_is_the_runs_own(demo_result, engine, row):
    """A facility placed exactly where one of the run's stands reaches what the run's own isochrone reaches."""
    fac = demo_result.facilities
    p = fac.to_crs(4326).geometry.iloc[row]
    area, length = new_point_isochrone(engine, p.x, p.y, category=str(fac["category"].iloc[row]))
    limit = max(engine.thresholds) * engine.coverage.speed(str(fac["category"].iloc[row]))  # 养老: the elderly's 800 m
    ((_, run_length, run_area),) = list(isochrones_by(demo_result.network, engine.reach.graph, engine.reach.snapped,
                                                      {"own": engine.reach.facilities[[row]]}, limit=limit))
    assert length == pytest.approx(run_length, rel=1e-9)
    assert shapely.symmetric_difference(area, run_area).area <= 1e-6 * run_area.area
    assert area.area > 100_000  # a 15-minute walk covers a sizeable area


def test_isochrone_geojson_is_wgs84_around_the_point(demo_result, engine):
    lon, lat = _gap_compound(demo_result, "elderly_centre")
    gj = isochrone_geojson(engine, lon, lat, category="elderly_centre", facility_id="NEW-1")
    f = gj["features"][0]
    assert f["properties"]["facility_id"] == "NEW-1" and f["properties"]["metres"] == pytest.approx(800.0)  # 15 min × 53.33… (elderly)
    shape = shapely.geometry.shape(f["geometry"])
    assert shape.is_valid and shape.contains(shapely.Point(lon, lat)) or shape.distance(shapely.Point(lon, lat)) < 0.001
    x0, y0, x1, y1 = shape.bounds
    assert x1 - x0 < 0.05 and y1 - y0 < 0.05  # about 1 km each way, in degrees
