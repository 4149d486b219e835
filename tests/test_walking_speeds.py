"""Walking speed per group (issue #17): 养老 at the elderly's speed, 托育 at carers', the rest at adults'.

The hand-made world (metres, offset by (500 000, 3 500 000) in EPSG:4549): one straight street from x = −1000 to
x = 1000; the compound C at x = 0 on it, a convenience store S at x = −900 and an elderly station E at x = +900, all
on the street (no access leg)::

    −1000        S(−900)                 C(0)                  E(+900)        +1000
      |------------•----------------------•----------------------•-------------|

With the default speeds (adults 67 m/min, elderly 800 / 15 = 53.33… m/min):

* 15 minutes are 15 × 67 = 1005 m for the store and 15 × 53.33… = 800 m for the station;
* both are 900 m from C: the store is within 15 minutes (900 ≤ 1005), the station is not (900 > 800);
* minutes: 900 / 67 = 13.43… to the store, 900 / 53.33… = 16.875 to the station.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import schema
from planner.analysis.coverage import compute_coverage
from planner.engine.reach import build_reach_graph
from planner.errors import ScenarioError
from planner.network.build import network_from_lines
from planner.network.points import Reach, snap_geometries
from planner.scenario import load_scenario
from planner.settings import WalkingSpeeds

X0, Y0 = 500_000.0, 3_500_000.0
CRS = "EPSG:4549"
ELDERLY = 800.0 / 15.0  # STANDARDS.md walk.elderly.15min: 15 minutes = 800 m
ROOT = Path(__file__).resolve().parents[1]


def _pt(x: float) -> shapely.Point:
    return shapely.Point(X0 + x, Y0)


@pytest.fixture(scope="module")
def line_world():
    """The street, and C, S and E snapped onto it (C first: the gate; then the facilities)."""
    lines = gpd.GeoDataFrame({"name": ["街"], "highway": ["residential"]},
                             geometry=[shapely.LineString([(X0 - 1000, Y0), (X0 + 1000, Y0)])], crs=CRS)
    net = network_from_lines(lines)
    snapped = snap_geometries(net, np.array([_pt(0), _pt(-900), _pt(900)]), max_snap_m=10)
    facilities = gpd.GeoDataFrame({"id": ["S", "E"], "name": ["便利店", "养老站"], "category": ["convenience", "elderly_station"]},
                                  geometry=[_pt(-900), _pt(900)], crs=CRS)
    return net, snapped, facilities


def _coverage(line_world, speeds):
    net, snapped, facilities = line_world
    graph = build_reach_graph(net, snapped)
    return compute_coverage(graph, np.array([0]), np.array([0]), pd.Index(["C"]), np.array([1, 2]), facilities,
                            ["convenience", "elderly_station"], thresholds_min=[5, 10, 15], speed_m_per_min=speeds,
                            adults_m_per_min=67.0)


def test_each_category_at_its_own_speed(line_world):
    cov = _coverage(line_world, {"convenience": 67.0, "elderly_station": ELDERLY})
    row = cov.table.loc["C"]
    assert row[schema.dist_m("convenience")] == pytest.approx(900.0)
    assert row[schema.dist_m("elderly_station")] == pytest.approx(900.0)
    assert row[schema.minutes("convenience")] == pytest.approx(900 / 67)  # 13.43…
    assert row[schema.minutes("elderly_station")] == pytest.approx(16.875)  # 900 / 53.33…
    assert bool(row[schema.within("convenience", 15)])  # 900 ≤ 1005
    assert not bool(row[schema.within("elderly_station", 15)])  # 900 > 800
    assert not bool(row[schema.within("convenience", 10)])  # 900 > 670
    assert row[schema.count("convenience", 15)] == 1 and row[schema.count("elderly_station", 15)] == 0
    assert row[schema.covered(15)] == 1 and row["completeness"] == pytest.approx(0.5)
    # catchments reach the longest threshold at each category's speed: 1005 m for the store, 800 m for the station
    assert cov.catchments[["facility_id", "category"]].values.tolist() == [["S", "convenience"]]
    assert cov.speeds == {"convenience": 67.0, "elderly_station": ELDERLY}
    assert cov.speed_m_per_min == 67.0 and cov.threshold_m(15, "elderly_station") == pytest.approx(800.0)


def test_one_speed_for_all_as_before(line_world):
    """A single speed still applies to every category: at 67 m/min the station is within 15 minutes too."""
    cov = _coverage(line_world, 67.0)
    assert bool(cov.table.loc["C", schema.within("elderly_station", 15)])
    assert sorted(cov.catchments["facility_id"]) == ["E", "S"]
    assert cov.speeds == {"convenience": 67.0, "elderly_station": 67.0}


def test_elderly_isochrones_at_the_elderly_speed(line_world):
    """The 养老 group's areas are drawn at 53.33… m/min: from E (x = 900) 15 minutes reach x = 100 … 1000 (the street's
    end) = 900 m of street; 5 minutes reach 900 ± 266.67 → x = 633.33 … 1000 = 366.67 m. At the adults' speed
    15 minutes would reach x = −105 … 1000 = 1105 m. Each facility's own area likewise (its group's 800 m)."""
    from planner.io.categories import load_taxonomy
    from planner.pipeline import draw_isochrones, group_limits

    net, snapped, facilities = line_world
    reach = Reach.build(net, snapped, n_gates=1, max_snap_m=10)
    scenario = load_scenario(ROOT / "scenarios" / "demo.toml")  # thresholds 5/10/15, default speeds
    iso = draw_isochrones(reach, facilities, ("convenience", "elderly_station"), load_taxonomy(), group_limits(scenario))
    assert iso[("elderly", 15.0)]["reached_km"].iloc[0] == pytest.approx(0.9)
    assert iso[("elderly", 5.0)]["reached_km"].iloc[0] == pytest.approx(0.367)  # 366.67 m, rounded to metres
    old = draw_isochrones(reach, facilities, ("convenience", "elderly_station"), load_taxonomy(),
                          {t: t * 67.0 for t in (5.0, 10.0, 15.0)})
    assert old[("elderly", 15.0)]["reached_km"].iloc[0] == pytest.approx(1.105)
    own = iso[("facilities", 15.0)]
    assert own["facility_id"].tolist() == ["E"]
    assert own.geometry.iloc[0].equals(iso[("elderly", 15.0)].geometry.iloc[0])  # one station: the same area
    # the area's west edge is the reach (x = 100) less the 40 m buffer
    assert own.geometry.iloc[0].bounds[0] == pytest.approx(X0 + 100 - 40, abs=1.0)


# ---- the scenario file ----------------------------------------------------------------------------------------------


def _write(tmp_path: Path, top: str) -> Path:
    demo = ROOT / "layers" / "demo"
    text = (f'name = "速度"\n{top}\n[network]\npath = "{demo / "roads.geojson"}"\nkind = "lines"\n'
            f'[layers.facilities]\npath = "{demo / "facilities.geojson"}"\n'
            f'[layers.residential]\npath = "{demo / "compounds.geojson"}"\n')
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_speeds(tmp_path):
    sc = load_scenario(_write(tmp_path, ""))
    assert sc.speeds == WalkingSpeeds(adults=67.0, elderly=ELDERLY, carers=67.0)
    assert sc.walking_speed_m_per_min == 67.0
    assert sc.threshold_m(15) == pytest.approx(1005.0) and sc.threshold_m(15, "elderly") == pytest.approx(800.0)
    assert sc.speed_for("elderly") == ELDERLY and sc.speed_for("childcare") == 67.0 and sc.speed_for("convenience") == 67.0


def test_walking_speed_table(tmp_path):
    sc = load_scenario(_write(tmp_path, "[walking_speed]\nadults = 70\nelderly = 50\ncarers = 60"))
    assert sc.speeds == WalkingSpeeds(adults=70.0, elderly=50.0, carers=60.0)
    assert sc.walking_speed_m_per_min == 70.0
    assert sc.threshold_m(15, "elderly") == 750.0 and sc.threshold_m(10, "childcare") == 600.0  # 15 × 50, 10 × 60
    # carers not given: the adults' speed (no sourced value for carers with infants)
    assert load_scenario(_write(tmp_path, "[walking_speed]\nadults = 72")).speeds.carers == 72.0


def test_old_key_is_the_adults_speed(tmp_path):
    sc = load_scenario(_write(tmp_path, "walking_speed_m_per_min = 60"))
    assert sc.speeds == WalkingSpeeds(adults=60.0, elderly=ELDERLY, carers=60.0)


@pytest.mark.parametrize(("top", "fragments"), [
    ("walking_speed_m_per_min = 60\n[walking_speed]\nadults = 60", ("只能写一个", "not both")),
    ("[walking_speed]\nelderly = 10", ("[walking_speed] elderly", "20", "200", "got 10")),
    ("[walking_speed]\nadults = \"fast\"", ("adults", "'fast'")),
    ("[walking_speed]\nchildren = 50", ("未知字段 'children'", "adults, elderly, carers")),
    ("walking_speed = 60", ("[walking_speed] 必须是表", "must be a table")),
    # the fastest group must be searched to: 15 min × 200 m/min = 3000 m > 2000
    ("search_limit_m = 2000\n[walking_speed]\nelderly = 200", ("search_limit_m", "3000")),
])
def test_bad_speeds_are_clear_errors(tmp_path, top, fragments):
    with pytest.raises(ScenarioError) as err:
        load_scenario(_write(tmp_path, top))
    for fragment in fragments:
        assert fragment in str(err.value)


# ---- the run's outputs ----------------------------------------------------------------------------------------------


def test_summary_lists_the_speeds(demo_run: Path):
    summary = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))
    assert summary["walking_speeds"] == {"adults": 67.0, "elderly": ELDERLY, "carers": 67.0}
    # 5/10/15 min × 67 = 335/670/1005 m; × 53.33… = 266.7/533.3/800 m
    assert summary["thresholds_m_by_group"] == {"adults": [335.0, 670.0, 1005.0], "elderly": [266.7, 533.3, 800.0],
                                                "carers": [335.0, 670.0, 1005.0]}
    assert summary["category_speeds"]["elderly_station"] == ELDERLY and summary["category_speeds"]["childcare"] == 67.0
    assert "elderly_station" in summary["categories_by_group"]["elderly"]
    assert summary["walking_speed_m_per_min"] == 67.0 and summary["thresholds_m"] == [335.0, 670.0, 1005.0]


def test_demo_tables_map_and_report_agree_at_800_m(demo_result, demo_run: Path):
    """In the demo, every 养老 category's 15-minute column is "within 800 m", its minutes are metres / 53.33…, the map's
    养老 band 0–2 is the same compounds, and the report says 800 米 for 养老."""
    from planner.outputs.map_views import compound_bands, views_for

    cov = demo_result.coverage
    elderly = [c for c in cov.categories if demo_result.taxonomy[c].group == "elderly"]
    assert elderly
    for c in elderly:
        d = cov.table[schema.dist_m(c)]
        assert (cov.table[schema.within(c, 15)] == (d <= 800.0)).all()
        assert np.allclose(cov.table[schema.minutes(c)][np.isfinite(d)], d[np.isfinite(d)] / ELDERLY)
        assert (cov.catchments.loc[cov.catchments["category"] == c, "dist_m"] <= 800.0).all()
    view = next(v for v in views_for(cov, demo_result.taxonomy, demo_result.compounds) if v.key == "elderly")
    band, _ = compound_bands(view, cov, demo_result.compounds["reachable"].to_numpy(dtype=bool))
    nearest = np.min([cov.table[schema.dist_m(c)].to_numpy() for c in view.cats], axis=0)
    reachable = demo_result.compounds["reachable"].to_numpy(dtype=bool)
    assert ((band[reachable] <= 2) == (nearest[reachable] <= 800.0)).all()
    # and somewhere in the demo the two speeds disagree: a compound between 800 and 1005 m of its nearest 养老
    assert ((nearest > 800.0) & (nearest <= 1005.0) & reachable).any()
    report = (demo_run / "report.html").read_text(encoding="utf-8")
    assert "约 800 米" in report and "老年人 53.3" in report
    assert "老年人 53.3" in (demo_run / "index.html").read_text(encoding="utf-8")
