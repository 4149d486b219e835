"""The gap map's views (planner.outputs.map_views) on a hand-made table whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner import schema
from planner.analysis.coverage import Coverage
from planner.io.categories import load_taxonomy
from planner.outputs.map_views import View, band_colours, compound_bands, rule_view, views_for, zone_class, zone_measures

TAX = load_taxonomy()
SPEED = 60.0  # m/min: 5 / 10 / 15 min = 300 / 600 / 900 m


def _coverage(dists: dict[str, list[float]]) -> Coverage:
    table = pd.DataFrame({schema.dist_m(c): d for c, d in dists.items()}, index=pd.Index(list("ABCDE"), name="id"))
    return Coverage(table=table, catchments=pd.DataFrame(), categories=tuple(dists), thresholds_min=(5.0, 10.0, 15.0),
                    speed_m_per_min=SPEED)


COV = _coverage({
    "elderly_centre": [1000.0, 250.0, np.inf, 700.0, 300.0],
    "elderly_station": [400.0, 900.0, np.inf, 2000.0, np.inf],
    "childcare": [100.0, 100.0, 100.0, 100.0, 100.0],
    "pharmacy": [100.0, 950.0, np.inf, 600.0, 300.0],
    "market": [200.0, 10.0, 50.0, 610.0, 900.0],
})
REACH = np.array([True, True, True, True, False])
COMPOUNDS = pd.DataFrame({
    "zone_id": ["Z1", "Z1", "Z2", "Z2", "Z2"],
    "population": [1000, 2000, 500, 500, 100],
    "age_60_plus": [100, 300, 50, 150, 10],
    "age_0_3": [10, 20, 5, 5, 1],
}, index=COV.table.index)


def test_views_offered_follow_the_analysed_categories() -> None:
    views = {v.key: v for v in views_for(COV, TAX, COMPOUNDS)}
    assert list(views) == ["elderly", "childcare", "circle", "compliance"]
    assert views["elderly"].cats == ("elderly_centre", "elderly_station") and views["elderly"].demand == "age_60_plus"
    assert views["childcare"].demand == "age_0_3"
    assert views["circle"].cats == ("pharmacy", "market")  # the basic formats analysed
    # without 60+ figures the 养老 view counts residents; without childcare analysed there is no 托育 view
    only = _coverage({"elderly_centre": [1.0] * 5})
    views = {v.key: v for v in views_for(only, TAX, COMPOUNDS.drop(columns="age_60_plus"))}
    assert list(views) == ["elderly", "compliance"] and views["elderly"].demand == "population"


def test_bands_by_hand() -> None:
    elderly = View("elderly", ("elderly_centre", "elderly_station"), "age_60_plus", "elderly")
    band, minutes = compound_bands(elderly, COV, REACH)
    # nearest of the two: A 400 m (≤ 600 → band 1), B 250 m (≤ 300 → 0), C none (beyond → 3), D 700 m (≤ 900 → 2),
    # E off the network (-1) however near its centre is
    assert band.tolist() == [1, 0, 3, 2, -1]
    assert np.allclose(minutes[[0, 1, 3]], [400 / 60, 250 / 60, 700 / 60]) and np.isnan(minutes[[2, 4]]).all()
    circle = View("circle", ("pharmacy", "market"), "population", "")
    band, minutes = compound_bands(circle, COV, REACH)
    # the farthest of the nearest formats: A 200 → 0, B 950 → 3, C pharmacy none → 3, D 610 → 2 (600 < 610 ≤ 900)
    assert band.tolist() == [0, 3, 3, 2, -1]
    assert minutes[0] == pytest.approx(200 / 60) and minutes[3] == pytest.approx(610 / 60)
    # exactly on a threshold is within it
    edge = _coverage({"childcare": [300.0, 300.0001, 900.0, 900.5, 0.0]})
    band, _ = compound_bands(View("childcare", ("childcare",), "age_0_3", "childcare"), edge, np.ones(5, dtype=bool))
    assert band.tolist() == [0, 1, 2, 3, 0]
    band, minutes = compound_bands(View("compliance", (), "population", ""), COV, REACH)
    assert band.tolist() == [4, 4, 4, 4, -1] and np.isnan(minutes).all()


def test_zone_measures_by_hand() -> None:
    elderly = View("elderly", ("elderly_centre", "elderly_station"), "age_60_plus", "elderly")
    band = np.array([1, 0, 3, 2, -1])
    rules = pd.DataFrame({
        "subdistrict": ["Z1", "Z1", "Z1", "Z2", "Z2", "Z2"],
        "view": ["elderly", "elderly", "childcare", "elderly", "", "elderly"],
        "status": ["pass", "fail", "fail", "not_evaluable", "pass", "fail"],
    })
    coverage, measure, kind = zone_measures(elderly, ["Z1", "Z2", "Z3"], COMPOUNDS, band, 3, rules)
    # 60+ within 15 min: Z1 (100 + 300) / 400 = 1; Z2 only D's 150 of 50 + 150 + 10 = 210; Z3 has none
    assert coverage[:2] == pytest.approx([1.0, 150 / 210]) and np.isnan(coverage[2])
    # the fill: the elderly rules evaluated that pass — Z1 1 of 2; Z2 0 of 1 (not evaluable left out)
    assert kind == "rules" and measure[:2] == pytest.approx([0.5, 0.0]) and np.isnan(measure[2])
    _, measure, kind = zone_measures(View("compliance", (), "population", ""), ["Z1", "Z2"], COMPOUNDS, band, 3, rules)
    assert kind == "rules" and measure == pytest.approx([1 / 3, 1 / 2])
    # a view without rules is filled by its coverage share
    circle = View("circle", ("pharmacy", "market"), "population", "")
    coverage, measure, kind = zone_measures(circle, ["Z1", "Z2"], COMPOUNDS, np.array([0, 3, 3, 2, -1]), 3, rules)
    assert kind == "coverage" and measure == pytest.approx([1000 / 3000, 500 / 1100]) and measure == pytest.approx(coverage)


def test_zone_classes() -> None:
    assert zone_class(np.array([0.0, 0.199, 0.2, 0.5, 0.8, 1.0, np.nan])).tolist() == [0, 0, 1, 2, 4, 4, -1]


@pytest.mark.parametrize(("rule_id", "cats", "view"), [
    ("elderly.street_centre.count", ("elderly_centre",), "elderly"),
    ("gb50180.b2.day_care_elderly", ("elderly_station",), "elderly"),
    ("childcare.places_per_1000", ("childcare",), "childcare"),
    ("gb50180.b2.nursery", ("childcare",), "childcare"),
    ("mofcom.basic_types", (), "circle"),
    ("gb50180.b1.wet_market", ("market", "supermarket"), "circle"),
    ("gb50180.b1.health_centre", ("health_centre",), ""),
    ("gb50180.b2.kindergarten", ("kindergarten",), ""),
])
def test_rules_belong_to_views(rule_id: str, cats: tuple[str, ...], view: str) -> None:
    assert rule_view(rule_id, cats, TAX) == view


def test_band_colours_for_any_number_of_thresholds() -> None:
    green, yellow, red = "#1a9850", "#fee08b", "#d73027"
    assert band_colours(1) == [green, red]  # one threshold: within it, or not
    assert band_colours(2) == [green, yellow, red]
    assert band_colours(3) == [green, "#a6d96a", yellow, red]
    four = band_colours(4)
    assert len(four) == 5 and four[0] == green and four[3] == yellow and four[4] == red and len(set(four)) == 5


def test_fill_falls_back_to_coverage_when_the_rules_do_not_tell_streets_apart() -> None:
    circle = View("circle", ("pharmacy", "market"), "population", "")
    rules = pd.DataFrame({"subdistrict": ["Z1", "Z2"], "view": ["circle", "circle"], "status": ["fail", "fail"]})
    # every 街道 fails its one 一刻钟 rule (one class), while the coverage shares differ (1/3 and 5/11: classes 1 and 2)
    coverage, measure, kind = zone_measures(circle, ["Z1", "Z2"], COMPOUNDS, np.array([0, 3, 3, 2, -1]), 3, rules)
    assert kind == "coverage" and measure == pytest.approx(coverage)
    # with the rules telling them apart as well as the coverage does, the rules fill
    rules = pd.DataFrame({"subdistrict": ["Z1", "Z2"], "view": ["circle", "circle"], "status": ["pass", "fail"]})
    _, measure, kind = zone_measures(circle, ["Z1", "Z2"], COMPOUNDS, np.array([0, 3, 3, 2, -1]), 3, rules)
    assert kind == "rules" and measure.tolist() == [1.0, 0.0]
    # 达标 always shows the rules met
    same = pd.DataFrame({"subdistrict": ["Z1", "Z2"], "view": ["", ""], "status": ["fail", "fail"]})
    _, measure, kind = zone_measures(View("compliance", (), "population", ""), ["Z1", "Z2"], COMPOUNDS, np.zeros(5, int), 3, same)
    assert kind == "rules" and measure.tolist() == [0.0, 0.0]
