"""The whole product on a generated 10 k-node city, checked against an oracle that shares no code with planner.

The city is written by the generator of ``benchmarks/e2e.py`` (a perturbed 100 × 100 street grid with compounds,
facilities of 7 categories and 街道 squares). ``planner run`` runs through the CLI with every default output; the oracle
reads the same files with geopandas, snaps every point onto its nearest street with shapely, builds a networkx graph
in which each snapped point splits its street, and runs a multi-source Dijkstra per category. Distances, the
15-minute flags and the per-街道 population shares must agree. The same city with its streets as an ``.osm.pbf``
(OSM node topology instead of shared vertices) must give the same distances.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from _cities import generate_city

ROOT = Path(__file__).resolve().parents[1]
SIDE = 100  # 10 000 nodes

# the generator's Chinese labels → planner's category keys (written out here, not read from the taxonomy)
CATEGORY_OF_LABEL = {
    "综合性养老服务中心": "elderly_centre",
    "社区养老服务站": "elderly_station",
    "普惠托育": "childcare",
    "便利店": "convenience",
    "菜市场": "market",
    "超市": "supermarket",
    "药店": "pharmacy",
}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("city10k")
    info = generate_city(SIDE, folder, pbf=True)
    assert info["nodes"] > 9_000
    return folder


def _run(city: Path, scenario: str, out: Path) -> Path:
    from planner.cli import main

    assert main(["run", str(city / scenario), "--out", str(out), "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def gpkg_run(city: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(city, "city.toml", tmp_path_factory.mktemp("run_gpkg"))


def _oracle(city: Path, crs) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Nearest walking distance (metres) from every compound to each category, by networkx; and the compounds."""
    roads = gpd.read_file(city / "roads.gpkg").to_crs(crs)
    comp = gpd.read_file(city / "compounds.gpkg").to_crs(crs)
    fac = gpd.read_file(city / "facilities.gpkg").to_crs(crs)
    lines = roads.geometry.to_numpy()
    tree = shapely.STRtree(lines)

    def snap(points: np.ndarray, tag: str) -> pd.DataFrame:
        line_i, access = tree.query_nearest(points, return_distance=True, all_matches=False)
        # query_nearest returns (input index, tree index) pairs; one per point here
        order = np.argsort(line_i[0])
        edge = line_i[1][order]
        offset = shapely.line_locate_point(lines[edge], points)
        return pd.DataFrame({"node": [(tag, i) for i in range(len(points))], "edge": edge, "offset": offset, "access": access[order]})

    pts = pd.concat([snap(comp.geometry.to_numpy(), "c"), snap(fac.geometry.to_numpy(), "f")], ignore_index=True)
    ends = shapely.get_coordinates(lines).reshape(-1, 2, 2)
    key = np.round(ends, 3)
    graph = nx.Graph()
    on_edge = pts.groupby("edge")
    for e, line in enumerate(lines):
        a, b = tuple(key[e, 0]), tuple(key[e, 1])
        chain = [(a, 0.0)]
        if e in on_edge.groups:
            here = pts.loc[on_edge.groups[e]].sort_values("offset")
            chain += list(zip(here["node"], here["offset"], strict=True))
        chain.append((b, line.length))
        for (n1, o1), (n2, o2) in zip(chain[:-1], chain[1:], strict=True):
            w = o2 - o1
            if not graph.has_edge(n1, n2) or graph[n1][n2]["w"] > w:
                graph.add_edge(n1, n2, w=w)
    access = dict(zip(pts["node"], pts["access"], strict=True))
    cats = fac["类别"].map(CATEGORY_OF_LABEL)
    out = {}
    for cat in CATEGORY_OF_LABEL.values():
        src = "source"
        graph.add_node(src)
        for i in np.flatnonzero((cats == cat).to_numpy()):
            graph.add_edge(src, ("f", i), w=access[("f", i)])
        dist = nx.single_source_dijkstra_path_length(graph, src, weight="w")
        graph.remove_node(src)
        out[cat] = [dist.get(("c", i), np.inf) + access[("c", i)] for i in range(len(comp))]
    return pd.DataFrame(out, index=comp["小区编号"].to_numpy()), comp


def test_distances_and_shares_match_networkx_oracle(city: Path, gpkg_run: Path):
    summary = json.loads((gpkg_run / "summary.json").read_text(encoding="utf-8"))
    oracle, comp = _oracle(city, summary["crs"]["metric"])
    got = pd.read_csv(gpkg_run / "compounds.csv", encoding="utf-8-sig", dtype={"id": str}).set_index("id")
    assert len(got) == len(oracle)  # every generated compound is kept and placed
    from planner.scenario import load_scenario

    scenario = load_scenario(city / "city.toml")
    from planner.io.categories import load_taxonomy

    taxonomy = load_taxonomy()
    limit = scenario.search_limit_m
    assert scenario.walking_speed_m_per_min == 67.0
    # 15 minutes at each category's group speed: 养老 the elderly's 800 m, the others 15 × 67 = 1005 m
    within_m = {cat: scenario.threshold_m(15, taxonomy[cat].group) for cat in CATEGORY_OF_LABEL.values()}
    assert within_m["elderly_centre"] == pytest.approx(800.0) and within_m["market"] == pytest.approx(1005.0)
    for cat in CATEGORY_OF_LABEL.values():
        planner_m = got.loc[oracle.index, f"dist_m__{cat}"].to_numpy(dtype=float)
        want = oracle[cat].to_numpy()
        assert np.all(np.isfinite(want)), cat  # the grid is connected: the oracle reaches every compound
        want = np.where(want <= limit, want, np.nan)  # planner searches up to the scenario's limit only
        assert np.isnan(want).sum() < len(want) / 4, cat
        # compounds.csv writes 6 significant digits (< 0.01 m below 10 km)
        np.testing.assert_allclose(planner_m, want, rtol=1e-6, atol=0.01, err_msg=cat)
        within = got.loc[oracle.index, f"within_15min__{cat}"].astype(bool).to_numpy()
        clear = np.abs(want - within_m[cat]) > 0.05  # away from the threshold, where rounding cannot flip the flag
        assert np.array_equal(within[clear], (want <= within_m[cat])[clear]), cat

    # per-街道 population share within 15 minutes, from the oracle distances and a point-in-polygon join
    zones = gpd.read_file(city / "zones.gpkg").to_crs(summary["crs"]["metric"])
    joined = gpd.sjoin(comp, zones[["街道编码", "geometry"]], predicate="within", how="left")
    assert joined.index.is_unique and joined["街道编码"].notna().all()
    pop = joined.set_index("小区编号")["人口"].astype(float)
    zone_of = joined.set_index("小区编号")["街道编码"]
    table = pd.read_csv(gpkg_run / "subdistricts.csv", encoding="utf-8-sig", dtype={"zone_id": str}).set_index("zone_id")
    for cat in ("elderly_centre", "childcare", "market"):
        served = pop * (oracle.loc[pop.index, cat] <= within_m[cat])
        share = served.groupby(zone_of).sum() / pop.groupby(zone_of).sum()
        np.testing.assert_allclose(table.loc[share.index, f"share_15min__{cat}"].to_numpy(), share.to_numpy(), atol=1e-6, err_msg=cat)


def test_pbf_city_gives_the_same_distances(city: Path, gpkg_run: Path, tmp_path: Path):
    """The streets read from the .osm.pbf (OSM node ids) and from the GeoPackage (shared vertices) are one network."""
    pbf_run = _run(city, "city_osm.toml", tmp_path / "run_pbf")
    a = pd.read_csv(gpkg_run / "compounds.csv", encoding="utf-8-sig", dtype={"id": str}).set_index("id")
    b = pd.read_csv(pbf_run / "compounds.csv", encoding="utf-8-sig", dtype={"id": str}).set_index("id")
    assert list(a.index) == list(b.index)
    for cat in CATEGORY_OF_LABEL.values():
        np.testing.assert_allclose(b[f"dist_m__{cat}"], a[f"dist_m__{cat}"], atol=0.02, err_msg=cat)
    sa = json.loads((gpkg_run / "summary.json").read_text(encoding="utf-8"))
    sb = json.loads((pbf_run / "summary.json").read_text(encoding="utf-8"))
    assert sa["network"]["nodes"] == sb["network"]["nodes"] and sa["network"]["edges"] == sb["network"]["edges"]
