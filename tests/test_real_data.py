"""Tests on the real OpenStreetMap extracts in ../shared/data (read there, never copied into the repo).

See ../shared/data/PROVENANCE.md for what each extract holds. Every test here is marked ``real_data``
and the whole module is skipped when the data folder is absent.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod, Proj, Transformer

from planner.engine.reach import build_reach_graph, nearest_distance
from planner.io.projection import choose_metric_crs
from planner.network.build import build_network, network_bounds_wgs84
from planner.network.points import snap_geometries
from planner.outputs.write import write_outputs
from planner.pipeline import run
from planner.scenario import load_scenario
from planner.settings import NetworkSpec

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SCENARIOS = REPO / "scenarios"

if not DATA.is_dir():
    pytest.skip(f"real OSM extracts not found at {DATA} (see shared/data/PROVENANCE.md)", allow_module_level=True)

pytestmark = pytest.mark.real_data

# scenario -> (GeoPackage derived from the same OSM file, its highway layer)
GPKG = {
    "longgang": (DATA / "shenzhen_longgang_osm2019" / "longgang_osm_2019.gpkg", "highway_edges"),
    "haidian": (DATA / "beijing_haidian_cau_osm2026" / "haidian_cau_osm_2026.gpkg", "highway_edges"),
    "nantong": (DATA / "nantong_chongchuan_osm" / "nantong_south.gpkg", "roads"),
}


# the OSM keys that make a feature a POI for planner (planner.io.osm.POI_KEYS, restated; the gpkgs also hold tourism=*)
PLANNER_POI_KEYS = ("amenity", "shop", "healthcare", "social_facility", "leisure", "office", "craft")

# ---------------------------------------------------------------- fixtures


def _metric_crs(spec: NetworkSpec, requested: str = "auto"):
    minx, miny, maxx, maxy = network_bounds_wgs84(spec)
    return choose_metric_crs((minx + maxx) / 2, (miny + maxy) / 2, requested)


@pytest.fixture(scope="module")
def longgang():
    """(scenario, network) for Shenzhen Longgang, built with the scenario's settings."""
    sc = load_scenario(SCENARIOS / "longgang.toml")
    crs = _metric_crs(sc.network, sc.crs)
    return sc, build_network(sc.network, crs)


@pytest.fixture(scope="module")
def runs():
    """Run each real scenario at most once per module: name -> RunResult."""
    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = run(load_scenario(SCENARIOS / f"{name}.toml"))
        return cache[name]

    return get


# ---------------------------------------------------------------- 1. networkx oracle


def _oracle_points(network, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Deterministic test points: random in the bbox, offset from edges, on nodes, on edges, shared spots."""
    nodes, edges = network.nodes, network.edges
    minx, miny, maxx, maxy = nodes.total_bounds
    n_edges = len(edges)
    groups: dict[str, list[shapely.Point]] = {}
    # 300 uniform points in the bounding box: most lie off the roads, many beyond max_snap_m
    groups["random"] = list(shapely.points(rng.uniform(minx, maxx, 300), rng.uniform(miny, maxy, 300)))
    # 60 points 5-150 m to the side of a random edge, so that plenty are reachable
    geoms = edges.geometry.to_numpy()
    off = []
    for e in rng.integers(0, n_edges, 60):
        g = geoms[e]
        s = rng.uniform(0.1, 0.9) * g.length
        a, b = g.interpolate(max(s - 0.5, 0)), g.interpolate(min(s + 0.5, g.length))
        dx, dy = b.x - a.x, b.y - a.y
        norm = np.hypot(dx, dy) or 1.0
        d = rng.uniform(5, 150) * rng.choice([-1, 1])
        p = g.interpolate(s)
        off.append(shapely.Point(p.x - dy / norm * d, p.y + dx / norm * d))
    groups["offset"] = off
    # exactly on network nodes (snap offset 0 or L; ties between incident edges)
    groups["on_node"] = list(nodes.geometry.to_numpy()[rng.choice(len(nodes), 12, replace=False)])
    # exactly on edges
    groups["on_edge"] = [geoms[e].interpolate(rng.uniform(0, 1), normalized=True) for e in rng.integers(0, n_edges, 12)]
    # pairs on one edge (the same-edge shortcut a_p + |s_p - s_q| + a_q) and identical pairs (shared split node)
    same = []
    for e in rng.integers(0, n_edges, 6):
        f1, f2 = sorted(rng.uniform(0.05, 0.95, 2))
        same += [geoms[e].interpolate(f1, normalized=True), geoms[e].interpolate(f2, normalized=True)]
    groups["same_edge"] = same
    dup = []
    for e in rng.integers(0, n_edges, 3):
        p = geoms[e].interpolate(rng.uniform(0.2, 0.8), normalized=True)
        dup += [p, shapely.Point(p.x, p.y)]
    groups["duplicate"] = dup
    points = np.array([p for g in groups.values() for p in g], dtype=object)
    starts = np.cumsum([0] + [len(g) for g in groups.values()])
    index = {k: np.arange(starts[i], starts[i + 1]) for i, k in enumerate(groups)}
    return points, index


def _oracle_nearest(network, snapped, facilities, compounds, max_snap_m):
    """Distance matrix compounds x facilities from networkx alone (no planner.engine.reach)."""
    graph = network.to_networkx()
    u = network.edges["u"].to_numpy()
    v = network.edges["v"].to_numpy()
    length = network.edges["length"].to_numpy()

    def legs(i):
        """{end node: distance from point i to it along its own edge} or None when unreachable."""
        if snapped.edge[i] < 0 or not snapped.access[i] <= max_snap_m:
            return None
        e, s, a = snapped.edge[i], snapped.offset[i], snapped.access[i]
        out = {u[e]: a + s}
        out[v[e]] = min(out.get(v[e], np.inf), a + (length[e] - s))
        return out

    sp = {}
    for f in facilities:
        for node in (legs(f) or {}):
            if node not in sp:
                sp[node] = nx.single_source_dijkstra_path_length(graph, node, weight="length")
    matrix = np.full((len(compounds), len(facilities)), np.inf)
    for j, f in enumerate(facilities):
        lf = legs(f)
        if lf is None:
            continue
        for i, c in enumerate(compounds):
            lc = legs(c)
            if lc is None:
                continue
            best = min(lf[a] + sp[a].get(b, np.inf) + lc[b] for a in lf for b in lc)
            if snapped.edge[f] == snapped.edge[c]:
                best = min(best, snapped.access[f] + abs(snapped.offset[f] - snapped.offset[c]) + snapped.access[c])
            matrix[i, j] = best
    return matrix


def test_nearest_distance_matches_networkx_oracle(longgang):
    """planner.engine.reach's exact walking distances (access + network + access, split edges) equal an
    independent networkx computation on the Longgang network, including which points are unreachable
    and which facility is nearest."""
    sc, network = longgang
    network = dataclasses.replace(network, pieces=None)  # points on every piece, small ones too (the oracle's subject is routing)
    rng = np.random.default_rng(20240517)
    points, groups = _oracle_points(network, rng)
    snapped = snap_geometries(network, points, max_snap_m=sc.max_snap_m)

    # (facility, compound) pairs on one edge / at one spot
    pairs = {
        "same_edge": list(zip(groups["same_edge"][0::2][:3], groups["same_edge"][1::2][:3], strict=True)),
        "duplicate": list(zip(groups["duplicate"][0::2][:2], groups["duplicate"][1::2][:2], strict=True)),
    }
    # ~20 facilities: some of each kind of point, including the facility end of every pair
    fac = np.concatenate([
        groups["random"][:6], groups["offset"][:6], groups["on_node"][:2], groups["on_edge"][:2],
        [f for f, _ in pairs["same_edge"]], [f for f, _ in pairs["duplicate"]],
    ])
    compounds = np.setdiff1d(np.arange(len(points)), fac)
    assert 18 <= len(fac) <= 22
    # the sample must exercise every case
    assert snapped.reachable[fac].sum() >= 10
    assert (~snapped.reachable[compounds]).sum() >= 20, "some compounds beyond max_snap_m"
    assert snapped.reachable[compounds].sum() >= 100
    assert (snapped.access[groups["on_node"]] < 1e-6).all() and (snapped.access[groups["on_edge"]] < 1e-6).all()

    graph = build_reach_graph(network, snapped)
    dist, nearest = nearest_distance(graph, fac, compounds)
    matrix = _oracle_nearest(network, snapped, fac, compounds, sc.max_snap_m)
    oracle = matrix.min(axis=1)

    # the same targets are unreachable (points too far from a road, or in another component)
    assert np.array_equal(np.isinf(dist), np.isinf(oracle))
    finite = np.isfinite(oracle)
    assert finite.sum() >= 100 and (~finite).sum() >= 20
    diff = np.abs(dist[finite] - oracle[finite])
    assert diff.max() < 0.01, f"max difference {diff.max():.6f} m"

    # same-edge and identical pairs: compound's distance never exceeds the direct along-edge walk
    for pair_group, members in pairs.items():
        for f_pt, c_pt in members:
            assert snapped.reachable[f_pt] and snapped.reachable[c_pt]
            assert snapped.edge[f_pt] == snapped.edge[c_pt]
            k = np.flatnonzero(compounds == c_pt)[0]
            direct = snapped.access[f_pt] + abs(snapped.offset[f_pt] - snapped.offset[c_pt]) + snapped.access[c_pt]
            assert dist[k] <= direct + 1e-6
            if pair_group == "duplicate":
                assert dist[k] < 1e-6

    # nearest facility identity agrees wherever the best distance is not tied
    sorted_d = np.sort(matrix, axis=1)
    with np.errstate(invalid="ignore"):  # inf - inf where a compound reaches no facility
        untied = finite & (sorted_d[:, 1] - sorted_d[:, 0] > 1e-3)
    assert untied.sum() >= 100
    assert np.array_equal(nearest[untied], matrix.argmin(axis=1)[untied])
    assert (nearest[~finite] == -1).all()


# ---------------------------------------------------------------- 2. every real scenario end to end


@pytest.mark.parametrize("name", ["longgang", "haidian", "nantong"])
def test_real_scenario_runs_end_to_end(name, runs, tmp_path):
    """Each real scenario runs and writes every output; summary.json agrees with the result, and every
    POI read from the OSM file is either a kept facility or a rejected row (none silently dropped)."""
    result = runs(name)
    paths = write_outputs(result, tmp_path)
    for fname in ("index.html", "compounds.csv", "compounds.gpkg", "subdistricts.csv", "rejected.csv", "summary.json"):
        assert (tmp_path / fname).is_file() and (tmp_path / fname).stat().st_size > 0, fname
    assert {p.name for p in paths.values()} >= {"index.html", "summary.json"}

    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    net = summary["network"]
    assert net["nodes"] == len(result.network.nodes) > 0
    assert net["edges"] == len(result.network.edges) > 0
    assert net["length_km"] == pytest.approx(result.network.total_length_km, abs=1e-3)

    fac_layer = result.layers.facilities
    rejected_fac = fac_layer.rejected
    assert len(result.facilities) + len(rejected_fac) == fac_layer.rows_read
    assert summary["layers"]["facilities"]["rows_read"] == fac_layer.rows_read
    assert summary["layers"]["facilities"]["kept"] + summary["layers"]["facilities"]["rejected"] == fac_layer.rows_read
    rejected_csv = pd.read_csv(tmp_path / "rejected.csv", encoding="utf-8-sig", dtype=str)
    assert (rejected_csv["layer"] == "facilities").sum() == len(rejected_fac)
    # no POI id appears twice (kept and rejected), and the ids are exactly the POIs of the gpkg derived from
    # the same OSM file, less those carrying none of the keys planner reads (tourism=* only: 1 in Longgang,
    # 3 in Haidian)
    kept_ids, rejected_ids = set(result.facilities["id"]), set(rejected_fac["id"])
    assert not kept_ids & rejected_ids
    pois = gpd.read_file(GPKG[name][0], layer="pois")
    with_key = [any(k in json.loads(t) for k in PLANNER_POI_KEYS) for t in pois["tags"]]
    expected_ids = {f"{t}/{i}" for t, i in zip(pois["osm_type"][with_key], pois["osm_id"][with_key], strict=True)}
    assert kept_ids | rejected_ids == expected_ids

    compounds = pd.read_csv(tmp_path / "compounds.csv", encoding="utf-8-sig")
    assert len(compounds) == len(result.compounds) > 0

    shares = summary["population_share_within_15min"]
    if name == "nantong":
        # PROVENANCE §5: the only POIs are 3 leisure=park areas, none of them a facility
        assert fac_layer.rows_read == 3 and len(result.facilities) == 0
        assert summary["facilities"]["count"] == 0
        assert shares and all(value == 0 for value in shares.values()), shares
        assert np.isinf(result.coverage.table[[c for c in result.coverage.table if c.startswith("dist_m__")]]).all().all()
    else:
        assert len(result.facilities) > 0
        assert any(value > 0 for value in shares.values())


# ---------------------------------------------------------------- 3. POI -> category counts (Haidian)

# Expected facility counts per category for Beijing Haidian, worked out by reading the 249 rows of the
# gpkg `pois` layer (the `tags` JSON) against planner/data/categories.toml, first matching rule wins.
HAIDIAN_EXPECTED = {
    # amenity=kindergarten ×2 (中国农业大学东校区幼儿园, 未来之星实验幼儿园). Way 594882341 amenity=parking
    # "原幼儿园停车场" (car park of a *former* kindergarten) has the keyword but is ancillary: not counted.
    "kindergarten": 2,
    # amenity=school named 中国农业大学附属实验小学 and 北京石油学院附属小学(月华分校)
    "primary_school": 2,
    # amenity=school named 北京石油学院附属中学
    "junior_school": 1,
    # amenity=hospital named 中国农业大学东区社区卫生服务中心 (name rule); the other hospital
    # (北京京城皮肤病医院) matches no category
    "health_centre": 1,
    # amenity=pharmacy ×2 (PROVENANCE: pharmacy 2)
    "pharmacy": 2,
    # amenity=marketplace ×2 + shop=greengrocer ×1 (PROVENANCE: marketplace 2, greengrocer 1)
    "market": 3,
    # shop=supermarket ×2 (物美, and 石科院小卖部 — tagged supermarket, so supermarket although the name says 小卖部)
    "supermarket": 2,
    # shop=convenience ×17 + shop=kiosk ×6 (the rule is shop ∈ {convenience, kiosk}); PROVENANCE's 17 counts
    # convenience only; + shop="convenience;hairdresser" (node 1787511636): a ";" list, first value matches.
    "convenience": 24,
    # amenity=post_office 近邻宝
    "post_parcel": 1,
    # shop=hairdresser ×4 + shop=beauty ×1
    "hairdresser": 5,
    # shop=laundry ×1
    "laundry": 1,
    # shop=bicycle ×3 (the repair rule lists shop=bicycle)
    "repair": 3,
}
# No POI matches elderly_centre / elderly_home / elderly_station (the one amenity=social_centre is 多用厅,
# without an elderly keyword), childcare, health_station, breakfast (no 早餐/包子/… name, no breakfast
# cuisine) or community_service.
HAIDIAN_POIS_READ = 246  # 249 gpkg rows minus 3 tagged only with tourism=*, a key planner does not read


def _gpkg_tag_counts(pois: gpd.GeoDataFrame) -> dict[str, int]:
    """Counts of the raw tags behind each literal above, straight from the gpkg (no planner code)."""
    tags = [json.loads(t) for t in pois["tags"]]

    def n(pred) -> int:
        return sum(1 for t in tags if pred(t))

    def name_has(t, word):
        return word in t.get("name", "")

    return {
        "kindergarten": n(lambda t: t.get("amenity") == "kindergarten")
        + n(lambda t: t.get("amenity") not in ("kindergarten", "parking") and name_has(t, "幼儿园")),
        "primary_school": n(lambda t: t.get("amenity") == "school" and name_has(t, "小学")),
        "junior_school": n(lambda t: t.get("amenity") == "school" and name_has(t, "中学")),
        "health_centre": n(lambda t: name_has(t, "社区卫生服务中心")),
        "pharmacy": n(lambda t: t.get("amenity") == "pharmacy"),
        "market": n(lambda t: t.get("amenity") == "marketplace") + n(lambda t: t.get("shop") == "greengrocer"),
        "supermarket": n(lambda t: t.get("shop") == "supermarket"),
        "convenience": n(lambda t: t.get("shop") in ("convenience", "kiosk", "convenience;hairdresser")),
        "post_parcel": n(lambda t: t.get("amenity") == "post_office"),
        "hairdresser": n(lambda t: t.get("shop") in ("hairdresser", "beauty")),
        "laundry": n(lambda t: t.get("shop") == "laundry"),
        "repair": n(lambda t: t.get("shop") == "bicycle"),
    }


def test_haidian_poi_category_counts(runs):
    """Planner maps Haidian's OSM POIs to exactly the category counts worked out by hand from the gpkg,
    and rejects the rest as unmatched."""
    pois = gpd.read_file(DATA / "beijing_haidian_cau_osm2026" / "haidian_cau_osm_2026.gpkg", layer="pois")
    # the literals are backed by the raw tags of the gpkg (the same OSM data as the pbf planner reads)
    assert _gpkg_tag_counts(pois) == HAIDIAN_EXPECTED
    tags = [json.loads(t) for t in pois["tags"]]
    assert len(pois) == 249
    assert sum(any(k in t for k in PLANNER_POI_KEYS) for t in tags) == HAIDIAN_POIS_READ
    assert sum(t.get("shop") == "convenience" for t in tags) == 17  # PROVENANCE's convenience count

    result = runs("haidian")
    counts = result.facilities["category"].value_counts().to_dict()
    assert counts == HAIDIAN_EXPECTED
    assert result.layers.facilities.rows_read == HAIDIAN_POIS_READ
    rejected = result.layers.facilities.rejected
    assert len(rejected) == HAIDIAN_POIS_READ - sum(HAIDIAN_EXPECTED.values()) == 199
    assert set(rejected["reason_code"]) == {"unmatched_poi"}
    assert "node/1787511636" in set(result.facilities["id"])  # shop=convenience;hairdresser


def test_haidian_parking_lot_is_not_a_kindergarten(runs):
    """A car park named after a former kindergarten is not a kindergarten (name-only rules skip ancillary features)."""
    result = runs("haidian")
    assert "way/594882341" not in set(result.facilities["id"])


# ---------------------------------------------------------------- 4. network sanity vs PROVENANCE


def _planner_rule(tags: dict[str, str], exclude: tuple[str, ...]) -> bool:
    """planner.network.build._walkable, restated: foot=yes/designated/permissive overrides the highway
    exclusions (not construction-like values); otherwise foot=no, access=no/private, area=yes and
    service=private are not walkable, and neither is any highway in exclude_highway."""
    highway, foot = tags.get("highway", ""), tags.get("foot", "")
    if foot in ("yes", "designated", "permissive"):
        return highway not in ("construction", "proposed", "planned", "abandoned", "razed")
    if foot == "no" or tags.get("access") in ("no", "private") or tags.get("area") == "yes":
        return False
    if tags.get("service") == "private":
        return False
    return highway not in exclude


def _pbf_way_tags(path: Path, keys: tuple[str, ...]) -> dict[int, dict[str, str]]:
    """Selected tags of every highway way in an OSM file, read with pyosmium directly."""
    import osmium

    out = {}
    for obj in osmium.FileProcessor(str(path), osmium.osm.WAY):
        if "highway" in obj.tags:
            out[obj.id] = {k: obj.tags[k] for k in keys if k in obj.tags}
    return out


# name -> (walkable ways, walkable km) as listed in PROVENANCE.md
PROVENANCE_WALKABLE = {"longgang": (430, 163.4), "haidian": (296, 64.5), "nantong": (82, 73.8)}


@pytest.mark.parametrize("name", ["longgang", "haidian", "nantong"])
def test_network_length_matches_gpkg(name):
    """The planner network's total length equals the length of the gpkg ways that planner's walk rule
    keeps (same coordinates, same projection), and agrees with PROVENANCE's walkable km."""
    sc = load_scenario(SCENARIOS / f"{name}.toml")
    crs = _metric_crs(sc.network, sc.crs)
    network = build_network(sc.network, crs)
    gpkg, layer = GPKG[name]
    edges = gpd.read_file(gpkg, layer=layer)

    # The gpkg has highway/foot/access but not `area` or `service`, which planner's rule also reads:
    # take those two from the pbf itself.
    extra = _pbf_way_tags(sc.network.path, ("area", "service"))
    keep = np.array([
        _planner_rule(
            {
                "highway": hw,
                **({"foot": ft} if isinstance(ft, str) else {}),
                **({"access": ac} if isinstance(ac, str) else {}),
                **extra[int(oid)],
            },
            sc.network.exclude_highway,
        )
        for oid, hw, ft, ac in zip(edges["osm_id"], edges["highway"], edges["foot"], edges["access"], strict=True)
    ])
    n_ways, km = PROVENANCE_WALKABLE[name]
    # On these extracts planner's rule and the gpkg's `walkable` rule keep exactly the same ways. They
    # differ in principle: planner also drops planned/abandoned/bus_guideway/platform/rest_area/escape/busway,
    # area=yes and service=private, and lets foot=yes|designated|permissive override the trunk exclusion
    # and access=private; none of those combinations occurs here (foot=yes/designated is only on ordinary
    # footways/paths). The one area=yes highway (Longgang's services area 荷坳服务区) is not in the gpkg's
    # highway_edges at all and is excluded by both rules.
    assert keep.sum() == n_ways
    assert np.array_equal(keep, edges["walkable"].astype(bool).to_numpy())

    kept = edges[keep]
    expected_m = float(kept.to_crs(crs).length.sum())
    planner_m = float(network.edges["length"].sum())
    # Same vertices, same projection: planner's edges are the ways cut at shared nodes, so the sums agree up
    # to float rounding (~1e-9 m per segment). 1 mm would still catch any dropped or doubled segment.
    assert abs(planner_m - expected_m) < 1e-3, (planner_m, expected_m)

    # Against the ellipsoid: the metric CRS is a CGCS2000 3° Gauss-Krüger zone, so projected lengths exceed
    # geodesic ones by the zone's scale factor k = 1 + (Δλ·cos φ)²/2 + … (≤ 3.5e-4 within 1.5° of the central
    # meridian; here 6 ppm for Longgang, 38 ppm for Haidian at 0.65° and 109 ppm for Nantong at ~1° from it).
    # Scaling every geodesic segment length by k at its midpoint reproduces planner's length to < 1e-7.
    geod = Geod(ellps="WGS84")
    proj = Proj(crs)
    geodesic_m = scaled_m = 0.0
    for geom in kept.geometry:
        c = shapely.get_coordinates(geom)
        _, _, seg = geod.inv(c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1])
        mid = (c[:-1] + c[1:]) / 2
        k = np.asarray(proj.get_factors(mid[:, 0], mid[:, 1]).meridional_scale)
        geodesic_m += float(np.sum(seg))
        scaled_m += float(np.sum(k * seg))
    assert planner_m == pytest.approx(scaled_m, rel=1e-7)
    assert 1.0 <= planner_m / geodesic_m < 1 + 3.5e-4

    # PROVENANCE's km figure is the UTM length rounded to 0.1 km (Longgang: UTM 50N gives 163.39 km, the
    # UTM scale at 114.2°E is ~1.0006); planner's 163.29 km is within 0.1 % of it, as for the others.
    utm_m = float(kept.to_crs(kept.estimate_utm_crs()).length.sum())
    assert round(utm_m / 1000, 1) == km
    assert planner_m / 1000 == pytest.approx(km, rel=1e-3)

    assert len(network.nodes) > 0 and len(network.edges) > 0
    assert set(network.edges["u"]) | set(network.edges["v"]) <= set(network.nodes.index)


def test_coincident_osm_nodes_stay_separate_longgang(longgang):
    """Longgang has two walkable ways (parking aisles 356775572 and 357484595) passing through the same
    coordinates with different OSM node ids (3621767773, 3627148927). Planner must not merge them: the
    dead end of one aisle is not joined to the other, so walking between them goes around."""
    import osmium

    sc, network = longgang
    way_nodes: dict[int, list[tuple[int, float, float]]] = {}
    by_coord: dict[tuple[int, int], set[int]] = {}
    for obj in osmium.FileProcessor(str(sc.network.path)).with_locations():
        if obj.is_way() and obj.tags.get("highway") == "service":
            nodes = [(n.ref, n.location.lon, n.location.lat) for n in obj.nodes]
            way_nodes[obj.id] = nodes
            for n in obj.nodes:
                by_coord.setdefault((n.location.x, n.location.y), set()).add(n.ref)
    shared = {k: v for k, v in by_coord.items() if len(v) > 1}
    assert list(shared.values()) == [{3621767773, 3627148927}]

    to_metric = Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)

    def line(way_id):
        lon = [n[1] for n in way_nodes[way_id]]
        lat = [n[2] for n in way_nodes[way_id]]
        return shapely.LineString(np.column_stack(to_metric.transform(lon, lat)))

    aisle_a, aisle_b = line(356775572), line(357484595)  # node 3627148927 is the first node of aisle B
    x, y = aisle_b.coords[0]
    assert aisle_a.distance(shapely.Point(x, y)) < 1e-6  # the coordinate lies on aisle A too

    # exactly one network node sits there: the dead end of aisle B (aisle A passes through it, unjoined)
    here = network.nodes[np.hypot(network.nodes["x"] - x, network.nodes["y"] - y) < 1e-6]
    assert len(here) == 1
    assert network.to_networkx().degree(here.index[0]) == 1

    # a point 1 m into aisle B and a point 1 m along aisle A are ~1.4 m apart but far apart on foot
    s_a = aisle_a.project(shapely.Point(x, y))
    pts = np.array([aisle_b.interpolate(1.0), aisle_a.interpolate(s_a - 1.0), aisle_a.interpolate(s_a + 1.0)])
    snapped = snap_geometries(network, pts, max_snap_m=sc.max_snap_m)
    assert (snapped.access < 1e-6).all()
    dist, _ = nearest_distance(build_reach_graph(network, snapped), np.array([0]), np.array([1, 2]))
    straight = [pts[0].distance(pts[1]), pts[0].distance(pts[2])]
    assert max(straight) < 2.0
    assert np.isfinite(dist).all() and (dist > 100).all(), dist  # merged, it would be ~2 m


_BRIDGE_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="planner tests">
 <node id="1" lat="31.0000000" lon="120.0000000"/>
 <node id="2" lat="31.0000000" lon="120.0010000"/>
 <node id="3" lat="31.0000000" lon="120.0020000"/>
 <node id="4" lat="30.9990000" lon="120.0010000"/>
 <node id="5" lat="31.0000000" lon="120.0010000"/>
 <node id="6" lat="31.0010000" lon="120.0010000"/>
 <node id="7" lat="31.0010000" lon="120.0020000"/>
 <way id="100"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
 <way id="200"><nd ref="4"/><nd ref="5"/><nd ref="6"/>
  <tag k="highway" v="footway"/><tag k="bridge" v="yes"/><tag k="layer" v="1"/></way>
 {connector}
</osm>
"""


@pytest.mark.parametrize("connected", [True, False], ids=["detour", "disconnected"])
def test_bridge_over_road_is_not_joined(tmp_path, connected):
    """A footbridge crossing a road at the same coordinates, with its own node id (5 vs 2), is not joined to
    the road: walking between them takes the detour via a connector way, or is impossible without one."""
    connector = '<way id="300"><nd ref="3"/><nd ref="7"/><nd ref="6"/><tag k="highway" v="footway"/></way>'
    path = tmp_path / "bridge.osm"
    path.write_text(_BRIDGE_OSM.format(connector=connector if connected else ""), encoding="utf-8")
    spec = NetworkSpec(path=path, kind="osm")
    crs = choose_metric_crs(120.001, 31.0)
    network = build_network(spec, crs)

    to_metric = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lonlat = {1: (120.0, 31.0), 2: (120.001, 31.0), 3: (120.002, 31.0), 4: (120.001, 30.999),
              5: (120.001, 31.0), 6: (120.001, 31.001), 7: (120.002, 31.001)}
    xy = {k: shapely.Point(to_metric.transform(*v)) for k, v in lonlat.items()}
    road = shapely.LineString([xy[1], xy[2], xy[3]])
    bridge = shapely.LineString([xy[4], xy[5], xy[6]])
    on_road = road.interpolate(road.project(xy[2]) + 10.0)  # 10 m east of the crossing, on the road
    on_bridge = bridge.interpolate(bridge.project(xy[5]) + 10.0)  # 10 m north of the crossing, on the bridge
    snapped = snap_geometries(network, np.array([on_road, on_bridge]), max_snap_m=300)
    assert snapped.reachable.all() and (snapped.access < 1e-6).all()
    dist, _ = nearest_distance(build_reach_graph(network, snapped), np.array([0]), np.array([1]))
    if connected:
        # road point -> node 3 -> 7 -> 6 -> back down the bridge to the bridge point
        expected = (
            on_road.distance(xy[3]) + xy[3].distance(xy[7]) + xy[7].distance(xy[6]) + xy[6].distance(on_bridge)
        )
        assert dist[0] == pytest.approx(expected, abs=0.01)
        assert dist[0] > 200  # joined at the crossing it would be 20 m
    else:
        assert np.isinf(dist[0])
        assert network.n_components() == 2
