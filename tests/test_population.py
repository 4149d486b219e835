"""Population: households × persons, OSM floor area, and 街道 census totals spread by floor area with totals kept exactly."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner.io.population import _largest_remainder, disaggregate_census
from planner.outputs.write import write_outputs
from planner.pipeline import run
from planner.scenario import load_scenario
from planner.settings import PopulationSpec


def test_largest_remainder_by_hand():
    """1000 people over floor areas 1:2:3 → 166.7, 333.3, 500 → 167, 333, 500 (sum exactly 1000)."""
    assert list(_largest_remainder(1000, np.array([1.0, 2.0, 3.0]))) == [167.0, 333.0, 500.0]
    # ties on the remainder go to the lower index, so the result is deterministic
    assert list(_largest_remainder(10, np.array([1.0, 1.0, 1.0]))) == [4.0, 3.0, 3.0]


def test_disaggregation_keeps_each_zone_total():
    """Every 街道's population, 60+ and 0–3 totals are reproduced exactly; a 街道 without compounds is reported."""
    crs = "EPSG:4549"
    zones = gpd.GeoDataFrame(
        {"name": ["甲街道", "乙街道", "丙街道"], "population": [1000.0, 501.0, 80.0], "age_60_plus": [250.0, 99.0, np.nan], "age_0_3": [20.0, 7.0, 1.0]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100), shapely.box(200, 0, 300, 100)],
        crs=crs,
        index=pd.Index(["Z1", "Z2", "Z3"]),
    )
    comp = gpd.GeoDataFrame(
        {"households": [np.nan, 100.0, np.nan, np.nan], "population": np.nan, "age_60_plus": np.nan, "age_0_3": np.nan,
         "population_source": "given", "floor_area_m2": [1000.0, 2000.0, 3000.0, np.nan]},
        geometry=[shapely.Point(10, 10), shapely.Point(20, 20), shapely.Point(30, 30), shapely.box(120, 10, 140, 30)],
        crs=crs,
        index=pd.Index(["a", "b", "c", "d"]),
    )
    zone_of = pd.Series(["Z1", "Z1", "Z1", "Z2"], index=comp.index)
    out, unplaced = disaggregate_census(comp, zone_of, zones, PopulationSpec(persons_per_household=2.5))
    assert list(out.loc[["a", "b", "c"], "population"]) == [167.0, 333.0, 500.0]
    assert out.loc[["a", "b", "c"], "age_60_plus"].sum() == 250 and out.loc[["a", "b", "c"], "age_0_3"].sum() == 20
    assert out.loc["d", "population"] == 501 and out.loc["d", "age_60_plus"] == 99
    assert out.loc["b", "households"] == 100  # given households are kept
    assert out.loc["a", "households"] == round(167 / 2.5)
    assert set(out["population_source"]) == {"census_dasymetric"}
    assert unplaced == {"Z3": {"population": 80.0, "age_0_3": 1.0}}


def test_census_run_on_demo_layers(tmp_path: Path, repo_root: Path):
    """A scenario with census totals on its 街道 reproduces them in subdistricts.csv exactly."""
    zones = gpd.read_file(repo_root / "layers" / "demo" / "subdistricts.geojson")
    zones["常住人口"] = [60001, 120002, 40003, 45004]
    zones["60岁及以上"] = [13001, 18002, 14003, 10004]
    zones["0-3岁"] = [1501, 4002, 703, 1004]
    zpath = tmp_path / "zones_census.geojson"
    zones.to_file(zpath, engine="pyogrio")
    text = (repo_root / "scenarios" / "demo.toml").read_text(encoding="utf-8")
    text = text.replace('path = "../layers/demo/', f'path = "{repo_root}/layers/demo/')
    text = text.replace(f'path = "{repo_root}/layers/demo/subdistricts.geojson"', f'path = "{zpath}"')
    text = text.replace("[population]\n", "[population]\ncensus_from_zones = true\n")
    scenario_path = tmp_path / "census.toml"
    scenario_path.write_text(text, encoding="utf-8")
    result = run(load_scenario(scenario_path))
    write_outputs(result, tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "subdistricts.csv", encoding="utf-8-sig", index_col="zone_id")
    assert list(table.loc[["Z01", "Z02", "Z03", "Z04"], "population"]) == [60001, 120002, 40003, 45004]
    assert list(table.loc[["Z01", "Z02", "Z03", "Z04"], "age_60_plus"]) == [13001, 18002, 14003, 10004]
    assert list(table.loc[["Z01", "Z02", "Z03", "Z04"], "age_0_3"]) == [1501, 4002, 703, 1004]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["census_unplaced"] == {}


def test_osm_buildings_floor_area(repo_root: Path):
    """OSM residential areas get population = Σ footprint × storeys / floor area per person (Nantong: no levels → 6)."""
    pytest.importorskip("osmium")
    sc_path = repo_root / "scenarios" / "nantong.toml"
    if not (repo_root.parent / "shared" / "data").exists():
        pytest.skip("../shared/data is not beside the repository")
    from planner.io.osm import read_osm
    from planner.io.population import residential_from_osm

    sc = load_scenario(sc_path)
    osm = read_osm(sc.network.path)
    out = residential_from_osm(osm.residential, osm.buildings, "EPSG:4549", sc.population)
    assert len(out) == len(osm.residential) + (out["population_source"] == "osm_building").sum()
    # recompute one area by hand from its buildings
    areas = osm.residential.to_crs(4549).reset_index(drop=True)
    blds = osm.buildings.to_crs(4549)
    first = areas.iloc[0]
    inside = blds[blds.representative_point().within(first.geometry)]
    floor = (inside.area * 6).sum() if len(inside) else first.geometry.area * sc.population.default_plot_ratio
    row = out.set_index("id").loc[f"{first['osm_type']}/{first['osm_id']}"]
    assert row["population"] == round(floor / sc.population.floor_area_per_person_m2)


def test_osm_residential_areas_without_buildings_inside():
    """Areas that hold no building fall back to land area × plot ratio; buildings alone become units of their own."""
    import geopandas as gpd
    import shapely

    from planner.io.population import residential_from_osm
    from planner.settings import PopulationSpec

    spec = PopulationSpec()
    areas = gpd.GeoDataFrame({"osm_type": ["way"], "osm_id": [1], "name": [None]},
                             geometry=[shapely.box(0, 0, 100, 100)], crs="EPSG:4549")
    blds = gpd.GeoDataFrame({"osm_type": ["way"], "osm_id": [2], "name": ["楼"], "building": ["apartments"], "levels": ["3"]},
                            geometry=[shapely.box(500, 500, 520, 510)], crs="EPSG:4549")
    out = residential_from_osm(areas, blds, "EPSG:4549", spec).set_index("id")
    assert out.loc["way/1", "population_source"] == "osm_plot_ratio"
    assert out.loc["way/1", "floor_area_m2"] == round(10_000 * spec.default_plot_ratio, 1)
    assert out.loc["way/1", "name"] == "住宅区 way/1"
    assert (out.loc["way/2", "population_source"], out.loc["way/2", "floor_area_m2"]) == ("osm_building", 600.0)
