"""The generated province of benchmarks/province.py (issue #16): three 40 × 40 cities with 10 km of empty land between
their 街道, one road linking each pair of neighbours.

Layout of the three cities (grid of ceil(√3) = 2 columns; each city's 街道 are 2 × 2 squares of 3 km, so the pitch
between cities is 6 km + 10 km)::

    丙市 C03
      |  (north–south link)
    甲市 C01 —— 乙市 C02   (east–west link)

The files are checked as written (WGS84 GeoPackages, read back and projected to EPSG:4549), not through a run:
``[partition]`` is parsed by the partitioned run (issue #16), not by this generator.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _cities import generate_province
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from planner.network.build import network_from_lines

METRIC = "EPSG:4549"
SIDE = 40
CITIES = {"C01": "甲市", "C02": "乙市", "C03": "丙市"}
LAYERS = ("roads", "compounds", "facilities", "zones", "cities")


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("province")
    return folder, generate_province(folder, cities=3, side=SIDE, gap_km=10.0)


@pytest.fixture(scope="module")
def layers(province) -> dict[str, gpd.GeoDataFrame]:
    folder, _ = province
    return {name: gpd.read_file(folder / f"{name}.gpkg").to_crs(METRIC) for name in LAYERS}


def _components(roads: gpd.GeoDataFrame) -> tuple[int, int]:
    """(connected pieces, nodes) of planner's walk network built from these lines."""
    st = network_from_lines(roads).streets
    graph = coo_array((np.ones(st.n_edges, dtype=np.int8), (st.u, st.v)), shape=(st.n_nodes, st.n_nodes))
    return int(connected_components(graph, directed=False, return_labels=False)), st.n_nodes


def test_files_exist_and_read_back_with_the_counts_returned(province, layers) -> None:
    folder, info = province
    for name in [f"{n}.gpkg" for n in LAYERS] + ["province.toml", "province_layer.toml"]:
        assert (folder / name).is_file(), name
    assert info["cities"] == 3 and info["links"] == 2
    assert info["nodes"] > 3 * SIDE * SIDE * 0.97
    assert len(layers["roads"]) == info["edges"]
    assert len(layers["compounds"]) == info["compounds"]
    assert len(layers["facilities"]) == info["facilities"]
    assert len(layers["zones"]) == info["zones"] == 3 * 4  # 2 × 2 squares of 3 km per 4 km city
    assert len(layers["cities"]) == 3
    for name in ("compounds", "facilities", "zones"):
        raw = gpd.read_file(folder / f"{name}.gpkg")
        assert raw.crs.to_epsg() == 4326, name


@pytest.mark.parametrize(("layer", "column"), [("compounds", "小区编号"), ("facilities", "设施编号"), ("zones", "街道编码"),
                                                ("cities", "编码")])
def test_ids_are_unique_across_the_province_and_prefixed_by_city(layers, layer, column) -> None:
    ids = layers[layer][column]
    assert ids.is_unique
    assert set(ids.str[:3]) == set(CITIES)


def test_each_city_has_e2e_densities(layers) -> None:
    comp, fac = layers["compounds"], layers["facilities"]
    for code in CITIES:
        n_comp = int((comp["小区编号"].str[:3] == code).sum())
        n_fac = (fac["设施编号"].str[:3] == code).sum()
        assert SIDE * SIDE // 10 * 0.97 <= n_comp <= SIDE * SIDE // 10  # one per ~10 nodes (a few nodes removed)
        assert n_fac == 21  # e2e's 7 categories at 1.35 per 100 nodes, each rounded (1 600 nodes: 1+3+2+8+2+2+3)
    assert fac["类别"].nunique() == 7


def test_zones_carry_the_district_name_of_their_city(layers) -> None:
    zones = layers["zones"]
    assert sorted(zones["区县"].unique()) == sorted(CITIES.values())
    assert (zones["区县"] == zones["街道编码"].str[:3].map(CITIES)).all()
    assert zones["街道名称"].str.startswith(tuple(CITIES.values())).all()
    assert zones["街道名称"].is_unique
    assert (zones.groupby("区县").size() == 4).all()


def test_cities_lie_apart_with_the_gap_between_their_zones(layers) -> None:
    zones = layers["zones"]
    union = {name: shapely.union_all(zones.geometry[zones["区县"] == name].to_numpy()) for name in CITIES.values()}
    # 甲市 – 乙市 side by side, 甲市 – 丙市 one above the other: 10 km of empty land between their 街道
    assert union["甲市"].distance(union["乙市"]) == pytest.approx(10_000, abs=1)
    assert union["甲市"].distance(union["丙市"]) == pytest.approx(10_000, abs=1)
    assert union["乙市"].centroid.x - union["甲市"].centroid.x == pytest.approx(16_000, abs=1)
    assert union["丙市"].centroid.y - union["甲市"].centroid.y == pytest.approx(16_000, abs=1)


@pytest.mark.parametrize(("layer", "column"), [("compounds", "小区编号"), ("facilities", "设施编号")])
def test_points_lie_inside_the_bounding_box_of_their_own_city(layers, layer, column) -> None:
    zones, points = layers["zones"], layers[layer]
    city = points[column].str[:3].map(CITIES)
    x, y = points.geometry.x.to_numpy(), points.geometry.y.to_numpy()
    inside = {}
    for name in CITIES.values():
        # the city's 街道 squares start half a block before its grid; points lie ≤ 40 m beside streets jittered ±15 m
        x0, y0, x1, y1 = zones[zones["区县"] == name].total_bounds + np.array([-100, -100, 100, 100])
        inside[name] = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    hits = pd.DataFrame(inside)
    assert (hits.sum(axis=1) == 1).all()  # the boxes are apart: a point is in exactly one
    assert (hits.idxmax(axis=1).to_numpy() == city.to_numpy()).all()


def test_cities_layer_contains_each_city_compounds_and_no_other(layers) -> None:
    cities, comp = layers["cities"], layers["compounds"]
    assert dict(zip(cities["编码"], cities["名称"], strict=True)) == CITIES
    for code, geom in zip(cities["编码"], cities.geometry, strict=True):
        own = (comp["小区编号"].str[:3] == code).to_numpy()
        inside = shapely.contains(geom, comp.geometry.to_numpy())
        assert inside[own].all() and not inside[~own].any()
        assert isinstance(geom, shapely.Polygon)


def test_the_province_is_one_connected_network_joined_by_its_links(province, layers) -> None:
    _, info = province
    roads = layers["roads"]
    pieces, nodes = _components(roads)
    assert pieces == 1
    assert nodes == info["nodes"]  # the links end on city nodes and add none
    links = roads["name"].str.endswith("连接线")
    assert sorted(roads.loc[links, "name"]) == ["甲市—丙市连接线", "甲市—乙市连接线"]
    assert (roads.loc[links, "highway"] == "secondary").all()
    assert _components(roads[~links])[0] == 3  # without them: the three cities apart


def test_scenarios_name_the_district_and_the_partitions(province) -> None:
    folder, _ = province
    zones_sc = tomllib.loads((folder / "province.toml").read_text(encoding="utf-8"))
    layer_sc = tomllib.loads((folder / "province_layer.toml").read_text(encoding="utf-8"))
    assert zones_sc["layers"]["zones"]["columns"] == {"id": "街道编码", "name": "街道名称", "district": "区县"}
    assert zones_sc["partition"] == {"zones_column": "district"}
    assert layer_sc["partition"] == {"layer": "cities.gpkg", "id": "编码", "name": "名称"}
    assert {k: v for k, v in zones_sc.items() if k != "partition"} == {k: v for k, v in layer_sc.items() if k != "partition"}
    assert zones_sc["network"] == {"path": "roads.gpkg", "kind": "lines"}
    for sc in (zones_sc, layer_sc):
        for spec in [sc["network"]] + list(sc["layers"].values()):
            assert (folder / spec["path"]).is_file()
    assert (folder / layer_sc["partition"]["layer"]).is_file()


def test_the_same_seed_writes_the_same_province_and_another_seed_another(tmp_path: Path, province, layers) -> None:
    again = generate_province(tmp_path / "again", cities=3, side=SIDE, gap_km=10.0)
    _, info = province
    assert {k: v for k, v in again.items() if k != "generate_s"} == {k: v for k, v in info.items() if k != "generate_s"}
    for name in LAYERS:
        read = gpd.read_file(tmp_path / "again" / f"{name}.gpkg").to_crs(METRIC)
        pd.testing.assert_frame_equal(pd.DataFrame(read), pd.DataFrame(layers[name]))
    generate_province(tmp_path / "other", cities=3, side=SIDE, gap_km=10.0, seed=7)
    comp = gpd.read_file(tmp_path / "other" / "compounds.gpkg").to_crs(METRIC)
    assert not np.allclose(comp.geometry.x.to_numpy()[:50], layers["compounds"].geometry.x.to_numpy()[:50])
