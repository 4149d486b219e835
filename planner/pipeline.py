"""The whole run, top to bottom: layers → walk network → snap → reach → coverage → 街道 summary.

Maps and files are written by :mod:`planner.outputs`; nothing here writes to disk.
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

from . import layers as _layers
from ._osm import read_osm
from .categories import Taxonomy, load_taxonomy
from .coverage import Coverage, compute_coverage
from .network import WalkNetwork, build_network, network_bounds_wgs84
from .projection import choose_metric_crs
from .reach import build_reach_graph
from ._errors import LayerError
from .coords import CHINESE_SYSTEMS, normalise_system
from .isochrones import isochrone, reached_segments
from .offsets import check_shift
from .population import disaggregate_census
from .scenario import Scenario
from .snap import snap_points
from .zones import assign_zones, summarise_zones

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
    total = 6

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

    with _stage(timings, "街道汇总 / sub-district summary", 6, total, report):
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
    if scenario.categories:
        return scenario.categories
    present = set(facilities["category"].dropna())
    wanted = present | set(DEFAULT_CATEGORIES)
    return tuple(k for k in taxonomy.keys if k in wanted)
