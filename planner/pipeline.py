"""The whole run, top to bottom: layers → walk network → snap → reach → coverage → 街道 summary.

Maps and files are written by :mod:`planner.outputs.write`; nothing here writes to disk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from planner.analysis.capacity import E2SFCA_WEIGHTS, two_step_fca
from planner.analysis.circles import CENTRE_CATEGORY, delineate_circles
from planner.analysis.coverage import Coverage, compute_coverage, dist_column
from planner.analysis.isochrones import isochrone, reached_segments
from planner.analysis.requirements import Compliance, evaluate, gap_list
from planner.analysis.standards import rules_for
from planner.analysis.zones import ALL_ZONES, assign_zones, summarise_zones
from planner.engine.reach import build_reach_graph, nearest_distance
from planner.engine.snap import snap_points
from planner.errors import LayerError
from planner.io import layers as _layers
from planner.io.categories import Taxonomy, load_taxonomy
from planner.io.coords import CHINESE_SYSTEMS, normalise_system
from planner.io.osm import read_osm
from planner.io.population import disaggregate_census
from planner.io.projection import choose_metric_crs
from planner.network.build import WalkNetwork, build_network, network_bounds_wgs84
from planner.network.offsets import check_shift
from planner.settings import Scenario
from planner.siting.suggest import SitingResult, pair_elderly_childcare, suggest_sites

__all__ = ["RunResult", "run", "DEFAULT_CATEGORIES"]

log = logging.getLogger(__name__)

# analysed when the scenario names no categories, together with every category present in the data
# categories whose walking range (longest threshold) is drawn on the map as an isochrone
ISOCHRONE_CATEGORIES = ("elderly_centre", "elderly_station", "childcare", "market")
DEFAULT_CATEGORIES = ("elderly_centre", "elderly_station", "childcare", "convenience", "market", "supermarket", "pharmacy")


@dataclass(frozen=True)
class RunResult:
    """Everything a run computed, in the metric CRS, ready for maps and reports."""

    scenario: Scenario
    crs: CRS
    network: WalkNetwork
    layers: _layers.LayerSet
    compounds: gpd.GeoDataFrame  # kept residential rows + zone_id, reachable, snap_distance_m
    facilities: gpd.GeoDataFrame  # kept facility rows + zone_id, reachable, snap_distance_m
    zones: gpd.GeoDataFrame | None
    coverage: Coverage
    zone_table: pd.DataFrame
    taxonomy: Taxonomy
    timings: dict[str, float] = field(default_factory=dict)
    census_unplaced: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    isochrones: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    compliance: Compliance | None = None
    gaps: pd.DataFrame | None = None
    circles: pd.DataFrame | None = None
    siting: list[SitingResult] = field(default_factory=list)
    pairs: pd.DataFrame | None = None

    @property
    def sites(self) -> gpd.GeoDataFrame | None:
        """All suggested sites of all siting tasks (metric CRS), with an ``explanation`` column; None without siting."""
        if not self.siting:
            return None
        parts = [r.sites.assign(task=r.task.name) for r in self.siting if len(r.sites)]
        if not parts:
            return gpd.GeoDataFrame({"rank": []}, geometry=gpd.GeoSeries([], crs=self.crs), crs=self.crs)
        sites = pd.concat(parts, ignore_index=True)
        sites["explanation"] = [
            f"第 {r.rank} 处：新覆盖 {r.new_population:,.0f} 人（60岁及以上 {r.new_age_60_plus:,.0f}，0–3岁 {r.new_age_0_3:,.0f}），"
            f"{r.new_compounds} 个小区：{r.compounds}。{r.fixes + '。' if r.fixes else ''}"
            + (f"最近的现有同类设施 {r.nearest_existing_m:,.0f} 米。" if pd.notna(r.nearest_existing_m) else "附近无现有同类设施。")
            for r in sites.itertuples()
        ]
        return gpd.GeoDataFrame(sites, geometry="geometry", crs=self.crs)

    @property
    def coverage_curve(self) -> pd.DataFrame | None:
        """k → covered demand for each task that asked for a curve (``task`` column); None without siting."""
        if not self.siting:
            return None
        parts = [r.curve.assign(task=r.task.name) for r in self.siting if len(r.curve)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["k", "covered", "covered_share", "status", "greedy_covered", "task"])


def _stage(timings: dict[str, float], name: str, step: int, total: int, report: Callable[[str], None]):
    class _Timer:
        def __enter__(self):
            report(f"[{step}/{total}] {name}")
            self.t = time.perf_counter()
            return self

        def __exit__(self, *exc):
            timings[name] = round(time.perf_counter() - self.t, 3)
            return False

    return _Timer()


def run(scenario: Scenario, *, report: Callable[[str], None] | None = None) -> RunResult:
    """Run the analysis of ``scenario``.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`planner.scenario.load_scenario`).
    report
        Called with a one-line progress message at the start of each stage (the CLI prints them).
    """
    report = report or (lambda msg: log.info("%s", msg))
    taxonomy = load_taxonomy()
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    total = 8 if scenario.siting else 7

    with _stage(timings, "选择坐标系 / choose metric CRS", 1, total, report):
        minx, miny, maxx, maxy = network_bounds_wgs84(scenario.network)
        crs = choose_metric_crs((minx + maxx) / 2, (miny + maxy) / 2, scenario.crs)
        log.info("metric CRS: %s (%s)", crs.to_string(), crs.name)

    with _stage(timings, "读取图层 / load layers", 2, total, report):
        osm = read_osm(scenario.network.path) if scenario.network.kind == "osm" else None
        facilities = _layers.load_facilities(scenario.facilities, crs, taxonomy=taxonomy, osm_pois=osm.pois if osm else None)
        residential = _layers.load_residential(
            scenario.residential,
            crs,
            scenario.population,
            osm_residential=osm.residential if osm else None,
            osm_buildings=osm.buildings if osm else None,
        )
        zones = _layers.load_zones(scenario.zones, crs) if scenario.zones else None
        layer_set = _layers.LayerSet(facilities, residential, zones)
        zone_gdf = zones.data if zones is not None else None
        comp = residential.data.copy()
        fac = facilities.data.copy()
        comp["zone_id"] = assign_zones(comp, zone_gdf)
        fac["zone_id"] = assign_zones(fac, zone_gdf)
        census_unplaced: dict[str, dict[str, float]] = {}
        if scenario.population.census_from_zones:
            if zone_gdf is None or "population" not in zone_gdf.columns:
                raise LayerError(
                    "[population] census_from_zones = true 需要街道图层带人口总数列（如 人口、常住人口）/ "
                    "needs a zones layer with census totals (a population column)"
                )
            comp, census_unplaced = disaggregate_census(comp, comp["zone_id"], zone_gdf, scenario.population)

    with _stage(timings, "构建步行路网 / build walk network", 3, total, report):
        network = build_network(scenario.network, crs)
        report("    " + network.summary())

    # points far beyond the network are errors in the data (wrong coordinates), not unserved residents
    hull = network.nodes.geometry.union_all().convex_hull.buffer(scenario.study_area_buffer_m)
    detail = f"距路网范围超过 {scenario.study_area_buffer_m:.0f} 米 / more than {scenario.study_area_buffer_m:.0f} m beyond the network"
    facilities, fac = _layers.reject_outside(facilities, fac, hull, detail)
    residential, comp = _layers.reject_outside(residential, comp, hull, detail)
    layer_set = _layers.LayerSet(facilities, residential, zones)

    with _stage(timings, "接入路网 / snap to network edges", 4, total, report):
        gates, owner = compound_gates(comp.geometry)
        n_g = len(gates)
        points = np.concatenate([gates, fac.geometry.to_numpy()])
        snapped = snap_points(network, points, max_snap_m=scenario.max_snap_m)
        gate_ok = snapped.reachable[:n_g]
        best_access = np.full(len(comp), np.inf)
        np.minimum.at(best_access, owner, snapped.access[:n_g])
        comp["gates"] = np.bincount(owner, minlength=len(comp))
        comp["reachable"] = np.bincount(owner, weights=gate_ok.astype(float), minlength=len(comp)) > 0
        comp["snap_distance_m"] = np.round(best_access, 2)
        fac["reachable"] = snapped.reachable[n_g:]
        fac["snap_distance_m"] = np.round(snapped.access[n_g:], 2)
        warnings_: list[str] = []
        # only facilities: they stand by the street; compound centroids sit mid-block, where any shift looks closer
        spec = scenario.facilities
        if spec.source == "file" and normalise_system(spec.crs or "") not in CHINESE_SYSTEMS:
            check = check_shift(spec.path.name, fac.geometry, network)
            if check is not None and check.suggestion:
                warnings_.append(check.message())
                report("    ⚠ " + check.message())

    with _stage(timings, "计算步行可达 / walking distances", 5, total, report):
        graph = build_reach_graph(network, snapped)
        categories = _categories(scenario, fac, taxonomy)
        coverage = compute_coverage(
            graph,
            np.arange(n_g),
            owner,
            comp.index,
            np.arange(n_g, n_g + len(fac)),
            fac,
            categories,
            thresholds_min=scenario.thresholds_min,
            speed_m_per_min=scenario.walking_speed_m_per_min,
            search_limit_m=scenario.search_limit_m,
        )

        longest_m = scenario.threshold_m(scenario.coverage_minutes)
        fac_pos = np.arange(n_g, n_g + len(fac))
        isochrones: dict[str, gpd.GeoDataFrame] = {}
        for cat in (c for c in ISOCHRONE_CATEGORIES if c in categories):
            members = fac_pos[(fac["category"] == cat).to_numpy()]
            if len(members):
                seg = reached_segments(network, graph, snapped, members, limit=longest_m)
                isochrones[cat] = gpd.GeoDataFrame(
                    {"category": [cat], "reached_km": [round(float(seg.length.sum()) / 1000, 3)]},
                    geometry=[isochrone(seg)],
                    crs=network.crs,
                )

        # 一刻钟便民生活圈: compounds around their nearest community centre; formats within reach of the centre
        basic = [c.key for c in taxonomy.categories if c.basic]
        centre_mask = (fac["category"] == CENTRE_CATEGORY).to_numpy()
        centre_pos = fac_pos[centre_mask]
        circles_table = None
        circle_of = pd.Series("", index=comp.index)
        if len(centre_pos):
            cfd = {}
            for cat in basic:
                d, _ = nearest_distance(graph, fac_pos[(fac["category"] == cat).to_numpy()], centre_pos, limit=scenario.search_limit_m)
                cfd[cat] = d
            centres = fac[centre_mask]
            circles_table, circle_of = delineate_circles(
                comp,
                coverage.table[f"nearest_id__{CENTRE_CATEGORY}"],
                coverage.table[dist_column(CENTRE_CATEGORY)],
                centres.set_index(centres["id"].astype(str)),
                pd.DataFrame(cfd, index=centres["id"].astype(str).to_numpy()),
                basic,
                {c: taxonomy[c].zh for c in basic},
                radius_m=longest_m,
            )
        comp["circle"] = circle_of

    with _stage(timings, "达标评价 / standards", 6, total, report):
        zone_names = {str(z): str(n) for z, n in (zone_gdf["name"].items() if zone_gdf is not None else [])}
        if not zone_names:
            zone_names = {ALL_ZONES: ALL_ZONES}
        compliance = evaluate(
            preset=scenario.standards.preset,
            overrides=dict(scenario.standards.overrides),
            compounds=comp,
            coverage_table=coverage.table,
            facilities=fac,
            zone_names=zone_names,
            taxonomy=taxonomy,
            complete_circles=int(circles_table["complete"].sum()) if circles_table is not None else None,
        )
        # capacity: E2SFCA on walking distances, bands at the scenario's thresholds
        bands = [scenario.threshold_m(t) for t in scenario.thresholds_min]
        weights = E2SFCA_WEIGHTS[: len(bands)] if len(bands) <= len(E2SFCA_WEIGHTS) else None
        cat_pairs = coverage.catchments
        fac_by_id = fac.set_index(fac["id"].astype(str))
        access: dict[str, tuple[pd.Series, float, str]] = {}
        targets = {r.id: r.value for r in rules_for(scenario.standards.preset, scenario.standards.overrides)}
        for name, cats, supply_col, demand_col, target in (
            ("childcare_places", ("childcare",), "places", "population", targets.get("childcare.places_per_1000", 4.5)),
            ("elderly_beds", ("elderly_centre", "elderly_home"), "beds", "age_60_plus", targets.get("elderly.beds_per_1000_elderly", 40.0)),
        ):
            pairs = cat_pairs[cat_pairs["category"].isin(cats)]
            supply = fac_by_id.loc[fac_by_id["category"].isin(cats), supply_col]
            demand = comp[demand_col]
            if supply.notna().any() and demand.notna().all():
                acc = two_step_fca(pairs.assign(facility_id=pairs["facility_id"].astype(str)), supply, demand, bands_m=bands, weights=weights)
                comp[f"access_{name}_per_1000"] = (acc * 1000).round(3)
                access[name] = (acc, target, demand_col)
        gaps = gap_list(compliance, comp, coverage.table, access)
        comp["formats_present"] = compliance.formats["n_present"]
        comp["formats_missing"] = compliance.formats["missing"]
        failing = compliance.table[compliance.table["status"] == "fail"]
        for zone, rows in failing.groupby("subdistrict_name", sort=False):
            report(f"    ✘ {zone}：{len(rows)} 项未达标 / {len(rows)} failing")
            for r in rows.itertuples():
                report(f"        - {r.shortfall_text or r.rule}  [{r.rule_id}]")

    siting_results: list = []
    pairs = None
    if scenario.siting:
        with _stage(timings, "选址建议 / siting", 7, total, report):
            for task in scenario.siting:
                res = suggest_sites(
                    task,
                    network=network,
                    compounds=comp,
                    gates=gates,
                    gate_owner=owner,
                    facilities=fac,
                    zones=zone_gdf,
                    compliance=compliance.table,
                    preset=scenario.standards.preset,
                    overrides=dict(scenario.standards.overrides),
                    radius_default_m=longest_m,
                    max_snap_m=scenario.max_snap_m,
                    taxonomy=taxonomy,
                )
                siting_results.append(res)
                sm = res.summary
                report(
                    f"    {task.name}：{len(res.sites)} 处，求解状态 {sm['status']}，目标值 {sm['objective']}，界 {sm['bound']}，"
                    f"间隙 {sm['gap']}，{sm['seconds']} 秒 / {len(res.sites)} sites, status {sm['status']}"
                )
                for row in res.sites.itertuples():
                    report(f"        {row.rank}. {row.name}（{row.zone_id}）新覆盖 {row.marginal_gain:,.0f} 人；{row.fixes}")
            pairs = pair_elderly_childcare(fac, network, scenario.max_snap_m, longest_m)

    with _stage(timings, "街道汇总 / sub-district summary", total, total, report):
        zone_table = summarise_zones(comp, comp["zone_id"], coverage, zone_gdf, fac, fac["zone_id"])
        comp["zone_name"] = comp["zone_id"].map(zone_table["name"])

    timings["total"] = round(time.perf_counter() - t_start, 3)
    return RunResult(
        scenario=scenario,
        crs=crs,
        network=network,
        layers=layer_set,
        compounds=comp,
        facilities=fac,
        zones=zone_gdf,
        coverage=coverage,
        zone_table=zone_table,
        taxonomy=taxonomy,
        timings=timings,
        census_unplaced=census_unplaced,
        warnings=warnings_,
        isochrones=isochrones,
        compliance=compliance,
        gaps=gaps,
        circles=circles_table,
        siting=siting_results,
        pairs=pairs,
    )


def compound_gates(geometry: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """Gate points of each compound and the compound (row position) each gate belongs to.

    A MultiPoint compound is a set of gates (each destination is reached from the nearest one); any
    other geometry has one gate at ``representative_point()`` (a point inside a polygon).
    """
    geoms = geometry.to_numpy()
    multi = geometry.geom_type.to_numpy() == "MultiPoint"
    single_pts = geometry.representative_point().to_numpy()
    parts, owners = [], []
    for i in range(len(geoms)):
        if multi[i]:
            sub = list(geoms[i].geoms)
            parts.extend(sub)
            owners.extend([i] * len(sub))
        else:
            parts.append(single_pts[i])
            owners.append(i)
    return np.asarray(parts, dtype=object), np.asarray(owners, dtype=np.int64)


def _categories(scenario: Scenario, facilities: pd.DataFrame, taxonomy: Taxonomy) -> tuple[str, ...]:
    """Categories to compute: the scenario's (or those present plus the core set), plus every category the
    standards preset refers to, the MOFCOM basic formats and the circle centres."""
    wanted = set(scenario.categories) if scenario.categories else set(facilities["category"].dropna()) | set(DEFAULT_CATEGORIES)
    for rule in rules_for(scenario.standards.preset, scenario.standards.overrides):
        wanted |= set(rule.categories)
    wanted |= {c.key for c in taxonomy.categories if c.basic} | {CENTRE_CATEGORY}
    return tuple(k for k in taxonomy.keys if k in wanted)
