"""Scenario parsing and the facility taxonomy."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner import ScenarioError
from planner.io.categories import load_taxonomy
from planner.io.projection import choose_metric_crs
from planner.scenario import load_scenario


def test_demo_scenario_parses(repo_root: Path):
    """The demo scenario resolves its paths and keeps its settings."""
    sc = load_scenario(repo_root / "scenarios" / "demo.toml")
    assert sc.sample_data and sc.thresholds_min == (5.0, 10.0, 15.0)
    assert sc.threshold_m(15) == pytest.approx(1005.0)
    assert sc.network.kind == "lines" and sc.network.path.name == "roads.geojson"
    assert sc.facilities.columns["category"] == "类别"


def test_all_problems_reported_at_once(tmp_path: Path):
    """Several mistakes in one file are listed together, each with what to write instead."""
    path = tmp_path / "s.toml"
    path.write_text(
        'name = "x"\nthresholds_min = [5, -1]\nlanguage = "fr"\ncategories = ["teahouse"]\n'
        '[network]\npath = "roads.geojson"\n[layers.facilities]\nsource = "osm"\n[layers.residential]\nsource = "osm"\n'
        '[layers.parks]\npath = "p.geojson"\n',
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    msg = str(err.value)
    for fragment in ("thresholds_min", "language", "teahouse", "roads.geojson", "[layers.parks]"):
        assert fragment in msg


def test_not_toml(tmp_path: Path):
    """A file that is not TOML gives a ScenarioError naming it."""
    path = tmp_path / "s.toml"
    path.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="TOML"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("label", "key"),
    [("便利店", "convenience"), ("综合性养老服务中心", "elderly_centre"), ("日间照料中心", "elderly_station"),
     ("普惠托育", "childcare"), ("Supermarket", "supermarket"), (" 菜市场 ", "market"), ("网吧", None), ("", None),
     ("养老照料中心", "elderly_centre"), ("社区养老服务驿站", "elderly_station"), ("养老驿站", "elderly_station")],  # #13
)
def test_label_resolution(label, key):
    """Chinese and English labels and aliases resolve to category keys; unknown labels to None."""
    assert load_taxonomy().resolve(label) == key


@pytest.mark.parametrize(
    ("tags", "key"),
    [
        ({"amenity": "social_facility", "social_facility": "nursing_home", "name": "幸福养老院"}, "elderly_home"),
        ({"amenity": "social_facility", "name": "某某街道养老服务中心"}, "elderly_centre"),  # specific before general
        ({"amenity": "kindergarten", "name": "阳光托育中心"}, "childcare"),
        ({"amenity": "kindergarten", "name": "实验幼儿园"}, "kindergarten"),
        ({"amenity": "clinic", "name": "张医生诊所"}, None),  # plain clinics are not health stations
        ({"shop": "convenience"}, "convenience"),
        ({"amenity": "restaurant", "name": "川菜馆"}, None),
        ({"shop": "convenience;hairdresser"}, "convenience"),  # a ";" list: any value may match
        ({"amenity": "parking", "name": "原幼儿园停车场"}, None),  # keyword in the name of a car park
        ({"name": "华侨新村社区养老服务驿站"}, "elderly_station"),  # before the parcel points' 驿站
    ],
)
def test_osm_rules(tags, key):
    """OSM tags map to categories by the rules in categories.toml, first match winning."""
    assert load_taxonomy().match_osm(tags) == key


@pytest.mark.parametrize(("lon", "lat", "epsg"), [(120.9, 32.0, 4549), (114.2, 22.7, 4547), (116.35, 40.0, 4548), (2.35, 48.85, 32631)])
def test_metric_crs_choice(lon, lat, epsg):
    """Inside China: the nearest CGCS2000 3° Gauss-Krüger zone; elsewhere UTM."""
    assert choose_metric_crs(lon, lat).to_epsg() == epsg


def test_metric_crs_rejects_geographic():
    """A geographic CRS cannot be the distance CRS."""
    with pytest.raises(ScenarioError, match="metres"):
        choose_metric_crs(120.9, 32.0, "EPSG:4326")
