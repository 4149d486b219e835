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
from .scenario import Scenario
from .snap import snap_points
from .zones import assign_zones, summarise_zones

__all__ = ["RunResult", "run", "DEFAULT_CATEGORIES"]

log = logging.getLogger(__name__)

# analysed when the scenario names no categories, together with every category present in the data
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

    with _stage(timings, "构建步行路网 / build walk network", 3, total, report):
        network = build_network(scenario.network, crs)
        report("    " + network.summary())

    comp = residential.data.copy()
    fac = facilities.data.copy()
    with _stage(timings, "接入路网 / snap to network edges", 4, total, report):
        points = np.concatenate([comp.geometry.representative_point().to_numpy(), fac.geometry.to_numpy()])
        snapped = snap_points(network, points, max_snap_m=scenario.max_snap_m)
        n_c = len(comp)
        comp["reachable"] = snapped.reachable[:n_c]
        comp["snap_distance_m"] = np.round(snapped.access[:n_c], 2)
        fac["reachable"] = snapped.reachable[n_c:]
        fac["snap_distance_m"] = np.round(snapped.access[n_c:], 2)

    with _stage(timings, "计算步行可达 / walking distances", 5, total, report):
        graph = build_reach_graph(network, snapped)
        categories = _categories(scenario, fac, taxonomy)
        coverage = compute_coverage(
            graph,
            np.arange(n_c),
            comp.index,
            np.arange(n_c, n_c + len(fac)),
            fac,
            categories,
            thresholds_min=scenario.thresholds_min,
            speed_m_per_min=scenario.walking_speed_m_per_min,
        )

    with _stage(timings, "街道汇总 / sub-district summary", 6, total, report):
        zone_gdf = zones.data if zones is not None else None
        comp["zone_id"] = assign_zones(comp, zone_gdf)
        fac["zone_id"] = assign_zones(fac, zone_gdf)
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
    )


def _categories(scenario: Scenario, facilities: pd.DataFrame, taxonomy: Taxonomy) -> tuple[str, ...]:
    if scenario.categories:
        return scenario.categories
    present = set(facilities["category"].dropna())
    wanted = present | set(DEFAULT_CATEGORIES)
    return tuple(k for k in taxonomy.keys if k in wanted)
