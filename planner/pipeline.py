"""The whole run, top to bottom: layers → walk network → snap → reach (coverage, isochrones, circles) → standards
→ siting → 街道 summary.

:func:`run` reads like that list; each stage is a function below it that takes plain frames and arrays and returns a
small dataclass or frames. The OSM extract is read once, and the gates and facilities are snapped once onto one
reach graph (:class:`~planner.network.points.Reach`) that every later stage shares. Maps and files are written by
:mod:`planner.outputs.write`; nothing here writes to disk.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.spatial import ConvexHull, QhullError

from planner import schema
from planner.analysis.capacity import E2SFCA_WEIGHTS, two_step_fca
from planner.analysis.circles import CENTRE_CATEGORY, delineate_circles
from planner.analysis.coverage import Coverage, compute_coverage
from planner.analysis.isochrones import isochrones_by
from planner.analysis.one_plus_n import OnePlusN, guide_points, hub_point_pairs, roles
from planner.analysis.requirements import CityTargets, Compliance, ZoneUpdate, evaluate, gap_list
from planner.analysis.standards import Rule, scenario_rules
from planner.analysis.zones import ZONE_RULE, place_in_zones, summarise_zones, zone_overlaps
from planner.engine.reach import nearest_distance
from planner.engine.snap import Snapped
from planner.errors import LayerError, ScenarioError
from planner.io import layers as _layers
from planner.io.categories import Taxonomy, taxonomy_for
from planner.io.checks import loss_warnings, require_rows
from planner.io.coords import CHINESE_SYSTEMS, normalise_system
from planner.io.osm import OsmExtract, read_osm
from planner.io.population import disaggregate_census
from planner.io.projection import choose_metric_crs
from planner.labels import tr
from planner.network.build import WalkNetwork, build_network, network_bounds_wgs84
from planner.network.offsets import check_shift
from planner.network.points import Reach, snap_geometries
from planner.progress import bar
from planner.schema import OUTSIDE_ZONE
from planner.settings import Scenario
from planner.siting.explain import site_numbers, site_title
from planner.siting.suggest import SitingInputs, SitingResult, pair_elderly_childcare, suggest_sites

__all__ = ["RunResult", "run", "DEFAULT_CATEGORIES", "peak_rss_mib"]

log = logging.getLogger(__name__)

# taxonomy groups whose walking range is drawn on the gap map, per threshold (its 养老 and 托育 views)
ISOCHRONE_GROUPS = ("elderly", "childcare")
# up to this many facilities of those groups, each gets its own isochrone at the longest threshold (drawn when its
# symbol is clicked); a city's thousands would cost a reach search each, and there a click rings the compounds instead
FACILITY_ISOCHRONES_MAX = 300
# analysed when the scenario names no categories, together with every category present in the data
DEFAULT_CATEGORIES = ("elderly_centre", "elderly_station", "childcare", "convenience", "market", "supermarket", "pharmacy")
# capacity (E2SFCA) measures: name → the rule of planner/data/rules.toml that gives their facility categories, supply
# column (``capacity``), demand group (``group``; all residents when none) and target per 1000; a preset without
# the rule has no such measure
CAPACITY_RULES = {
    "childcare_places": "childcare.places_per_1000",
    "elderly_beds": "elderly.beds_per_1000_elderly",
}


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
    peak_rss_mib: dict[str, float] = field(default_factory=dict)  # peak resident memory (MiB) at the end of each stage
    census_unplaced: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    zone_overlaps: pd.DataFrame | None = None  # pairs of 街道 whose areas overlap (analysis.zones.zone_overlaps)
    isochrones: dict[tuple[str, float], gpd.GeoDataFrame] = field(default_factory=dict)  # (group, minutes) → area
    compliance: Compliance | None = None
    gaps: pd.DataFrame | None = None
    circles: pd.DataFrame | None = None
    siting: list[SitingResult] = field(default_factory=list)
    pairs: pd.DataFrame | None = None
    # points near only small cut-off pieces of network (isolated_network): compounds kept unreachable, facilities rejected
    isolated_points: dict[str, int] = field(default_factory=dict)
    # a partitioned run (planner.partition): one row per partition — its size, seconds, peak memory, worker and attempts
    partitions: pd.DataFrame | None = None
    # the 1+N 托育 model: each community childcare point's hub (analysis.one_plus_n); None without childcare facilities
    one_plus_n: OnePlusN | None = None

    @property
    def sites(self) -> gpd.GeoDataFrame | None:
        """All suggested sites of all siting tasks (metric CRS), numbered ``no`` = 1 … N over the run, with their
        ``task`` and texts (``title``, ``numbers``, ``explanation`` and their ``_en`` twins); None without siting."""
        if not self.siting:
            return None
        parts = [r.sites.assign(task=r.task.name) for r in self.siting if len(r.sites)]
        if not parts:
            return gpd.GeoDataFrame({"no": [], "rank": []}, geometry=gpd.GeoSeries([], crs=self.crs), crs=self.crs)
        sites = pd.concat(parts, ignore_index=True)
        return gpd.GeoDataFrame(sites, geometry="geometry", crs=self.crs)

    @property
    def site_catchments(self) -> gpd.GeoDataFrame | None:
        """Each suggested site's walking catchment at its task's radius (``no``, ``task``, ``demand``, ``radius_m``,
        ``reached_km``, geometry; metric CRS); None without siting."""
        if not self.siting:
            return None
        parts = [r.catchments.assign(task=r.task.name) for r in self.siting if r.catchments is not None and len(r.catchments)]
        if not parts:
            return gpd.GeoDataFrame({"no": [], "radius_m": []}, geometry=gpd.GeoSeries([], crs=self.crs), crs=self.crs)
        return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=self.crs)

    @property
    def coverage_curve(self) -> pd.DataFrame | None:
        """k → covered demand for each task that asked for a curve (``task`` column); None without siting."""
        if not self.siting:
            return None
        parts = [r.curve.assign(task=r.task.name) for r in self.siting if len(r.curve)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["k", "covered", "covered_share", "status", "greedy_covered", "task"])


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    try:
        import resource  # POSIX only
    except ImportError:  # Windows: the working set's peak, from the process's memory counters
        return _windows_peak_mib()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _windows_peak_mib() -> float:
    """PeakWorkingSetSize of this process (GetProcessMemoryInfo), in MiB; NaN when it cannot be read."""
    import ctypes
    from ctypes import wintypes

    class Counters(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD), ("PeakWorkingSetSize", ctypes.c_size_t),
                    ("WorkingSetSize", ctypes.c_size_t), ("QuotaPeakPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaPagedPoolUsage", ctypes.c_size_t), ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaNonPagedPoolUsage", ctypes.c_size_t), ("PagefileUsage", ctypes.c_size_t),
                    ("PeakPagefileUsage", ctypes.c_size_t)]

    try:
        counters = Counters()
        counters.cb = ctypes.sizeof(counters)
        process = ctypes.windll.kernel32.GetCurrentProcess()  # type: ignore[attr-defined]
        if not ctypes.windll.psapi.GetProcessMemoryInfo(process, ctypes.byref(counters), counters.cb):  # type: ignore[attr-defined]
            return float("nan")
        return round(counters.PeakWorkingSetSize / (1024 * 1024), 1)
    except (AttributeError, OSError):
        return float("nan")


def timed_stage(timings: dict[str, float], name: str, step: int, total: int, report: Callable[[str], None],
           memory: dict[str, float] | None = None):
    class _Timer:
        def __enter__(self):
            report(f"[{step}/{total}] {name}")
            self.t = time.perf_counter()
            return self

        def __exit__(self, *exc):
            seconds = timings[name] = round(time.perf_counter() - self.t, 3)
            if memory is not None:
                memory[name] = peak_rss_mib()
            if seconds >= 1.0 and memory is not None:  # long stages say what they cost
                report(f"    用时 {seconds:.1f} 秒，内存峰值 {memory[name]:,.0f} MiB / {seconds:.1f} s, peak memory {memory[name]:,.0f} MiB")
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
    taxonomy = taxonomy_for(scenario)
    rules = scenario_rules(scenario)
    timings: dict[str, float] = {}
    memory: dict[str, float] = {}
    t_start = time.perf_counter()
    total = 8 if scenario.siting else 7

    with timed_stage(timings, "选择坐标系 / choose metric CRS", 1, total, report, memory):
        osm = read_osm(scenario.network.path) if scenario.network.kind == "osm" else None  # read once for stages 1–3
        if osm is not None:
            report(f"    已读取 OSM 文件 {osm.path.name}：道路 {len(osm.ways):,} 条，兴趣点 {len(osm.pois):,} 个 / "
                   f"read {osm.path.name}: {len(osm.ways):,} highway ways, {len(osm.pois):,} POIs")
        crs = choose_crs(scenario, osm)

    with timed_stage(timings, "读取图层 / load layers", 2, total, report, memory):
        layers = load_layers(scenario, crs, taxonomy, osm)
        for layer in (layers.layer_set.facilities, layers.layer_set.residential, layers.layer_set.zones):
            for text in layer.notes if layer is not None else ():
                report(f"    · {layer.source}：{text}")
        for text in layers.warnings:
            report("    ⚠ " + text)

    with timed_stage(timings, "构建步行路网 / build walk network", 3, total, report, memory):
        network = build_network(scenario.network, crs, osm=osm)
        report("    " + network.summary())
        report_pieces(network, report)
    del osm  # nothing past the network needs the extract; let it be freed

    # points far beyond the network are errors in the data (wrong coordinates), not unserved residents
    layers = reject_beyond_network(layers, network, scenario.study_area_buffer_m)
    for layer in (layers.layer_set.facilities, layers.layer_set.residential):
        require_rows(layer, stage=("剔除路网范围外的点", "removing points beyond the network"))
    require_zones_in_place(layers)
    comp, fac, zones = layers.compounds, layers.facilities, layers.zones

    with timed_stage(timings, "接入路网 / snap to network edges", 4, total, report, memory):
        snap = snap_to_network(comp, fac, network, max_snap_m=scenario.max_snap_m)
        layers, snap = reject_isolated(layers, snap)
        require_rows(layers.layer_set.facilities, stage=("剔除只邻近孤立小片路网的设施", "removing facilities near only cut-off pieces of network"))
        comp, fac, owner = snap.compounds, snap.facilities, snap.gate_owner
        late = final_layer_warnings(layers)
        for text in late:
            report("    ⚠ " + text)
        network_warnings = [str(w) for w in network.source.get("warnings", [])]  # lines dropped, node ids not usable …
        warnings_ = (layers.warnings + network_warnings + late + isolated_warnings(snap, report)
                     + shift_warnings(scenario, fac, network, report))

    with timed_stage(timings, "计算步行可达 / walking distances", 5, total, report, memory):
        reach = Reach.build(network, snap.snapped, n_gates=len(owner), max_snap_m=scenario.max_snap_m)  # the run's one graph
        coverage = measure_coverage(scenario, reach, owner, comp, fac, analysed_categories(scenario, fac, taxonomy, rules),
                                    taxonomy=taxonomy)
        longest_m = scenario.threshold_m(scenario.coverage_minutes)
        isochrones = draw_isochrones(reach, fac, coverage.categories, taxonomy, group_limits(scenario))
        circles_table, circle_of = delineate_service_circles(
            reach, comp, fac, coverage, taxonomy, longest_m, scenario.search_limit_m
        )
        comp = comp.assign(circle=circle_of)
        one_plus_n = one_plus_n_model(scenario, fac, zones, one_plus_n_pairs(scenario, reach, fac))

    with timed_stage(timings, "达标评价 / standards", 6, total, report, memory):
        comp, compliance, gaps = analyse_standards(scenario, rules, comp, fac, coverage, zones, taxonomy, circles_table, report,
                                                   one_plus_n=one_plus_n)

    siting_results: list[SitingResult] = []
    pairs = None
    if scenario.siting:
        with timed_stage(timings, "选址建议 / siting", 7, total, report, memory):
            inputs = SitingInputs(reach=reach, compounds=comp, gate_owner=owner, facilities=fac, zones=zones,
                                  compliance=compliance.table, rules=rules, radius_default_m=longest_m, taxonomy=taxonomy,
                                  radius_by_category=category_radii(scenario, taxonomy))
            siting_results = suggest_new_sites(scenario, inputs, report, one_plus_n)
            pairs = pair_elderly_childcare(fac, reach, longest_m)

    with timed_stage(timings, "街道汇总 / sub-district summary", total, total, report, memory):
        zone_table = summarise_zones(comp, comp["zone_id"], coverage, zones, fac, fac["zone_id"])
        comp = comp.assign(zone_name=comp["zone_id"].map(zone_table["name"]))

    timings["total"] = round(time.perf_counter() - t_start, 3)
    return RunResult(
        scenario=scenario, crs=crs, network=network, layers=layers.layer_set, compounds=comp, facilities=fac, zones=zones,
        coverage=coverage, zone_table=zone_table, taxonomy=taxonomy, timings=timings, peak_rss_mib=memory, census_unplaced=layers.census_unplaced,
        warnings=warnings_, zone_overlaps=layers.zone_overlaps, isochrones=isochrones, compliance=compliance, gaps=gaps, circles=circles_table,
        siting=siting_results, pairs=pairs,
        isolated_points={"compounds": int(snap.isolated_compounds.sum()), "facilities": snap.isolated_facilities_rejected},
        one_plus_n=one_plus_n,
    )


# ---- stage 1–2: CRS and layers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layers:
    """The loaded layers: the :class:`~planner.io.layers.LayerSet` (kept and rejected rows) and copies of the kept
    compounds and facilities with their ``zone_id`` (compounds with census populations where asked)."""

    layer_set: _layers.LayerSet
    compounds: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame | None
    census_unplaced: dict[str, dict[str, float]]
    warnings: list[str] = field(default_factory=list)  # geometries repaired while loading
    zone_overlaps: pd.DataFrame | None = None
    in_overlap: pd.Series | None = None  # per compound id: it lies where 街道 overlap


def require_zones_in_place(layers: Layers) -> None:
    """A 街道 layer that holds none of the compounds is in the wrong place (or CRS): stop, as for the other layers."""
    zones = layers.layer_set.zones
    comp = layers.compounds
    if zones is None or not len(comp) or (comp["zone_id"] != OUTSIDE_ZONE).any():
        return
    raise LayerError(
        f"街道图层 {zones.source} 的 {len(zones.data)} 个街道与小区不重叠：{len(comp)} 个小区都不在任何街道内。请检查街道图层的坐标系"
        f"（crs）和范围 / none of the {len(comp)} compounds lies in any of the {len(zones.data)} 街道 of {zones.source}: the zones "
        "layer is elsewhere; check its coordinate system (crs) and extent"
    )


def final_layer_warnings(layers: Layers) -> list[str]:
    """Warnings on the layers as the analysis uses them (after every rejection, the late ones too): layers that
    lost more than half their rows, 街道 that overlap and the compounds in overlaps or outside every 街道."""
    out = [w for layer in (layers.layer_set.facilities, layers.layer_set.residential, layers.layer_set.zones)
           if layer is not None for w in loss_warnings(layer)]
    comp = layers.compounds
    in_overlap = int(layers.in_overlap.reindex(comp.index, fill_value=False).sum()) if layers.in_overlap is not None else 0
    overlaps = layers.zone_overlaps
    if overlaps is not None and len(overlaps):
        top = "；".join(f"{r.name_a}（{r.zone_a}）与 {r.name_b}（{r.zone_b}）重叠 {r.overlap_m2:,.0f} m²"
                       for r in overlaps.head(5).itertuples())
        more = f" 等 {len(overlaps)} 对" if len(overlaps) > 5 else ""
        zh_rule, en_rule = ZONE_RULE.split(" / ")
        out.append(
            f"街道边界重叠：{top}{more}；{in_overlap} 个小区落在重叠处。{zh_rule}。见 summary.json zone_overlaps / "
            f"{len(overlaps)} pairs of 街道 overlap; {in_overlap} compounds lie in overlaps. {en_rule}"
        )
    outside = int((comp["zone_id"] == OUTSIDE_ZONE).sum())
    if layers.zones is not None and len(layers.zones) and outside:
        out.append(
            f"{outside} 个小区不在任何街道内，列为“{OUTSIDE_ZONE}”，不参与街道达标评价 / "
            f"{outside} compounds lie outside every 街道 (listed as {OUTSIDE_ZONE}) and count towards no 街道's standards"
        )
    for text in out:
        log.warning("%s", text)
    return out


def choose_crs(scenario: Scenario, osm: OsmExtract | None) -> CRS:
    """The metric CRS of the run: the scenario's, or the CGCS2000 zone at the centre of the network source.

    A line layer's centre comes from the file's stored extent when that cannot change the zone (the centre is
    not within 0.01° of a zone's edge); otherwise, and for OSM files, from the coordinates themselves."""
    if scenario.crs != "auto":
        crs = choose_metric_crs(0.0, 0.0, scenario.crs)
        minx, miny, maxx, maxy = network_bounds_wgs84(scenario.network, osm=osm, exact=False)
        _check_scale(crs, scenario.crs, (minx + maxx) / 2, (miny + maxy) / 2)
    else:
        minx, miny, maxx, maxy = network_bounds_wgs84(scenario.network, osm=osm, exact=False)
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        margin = 0.01
        near = {choose_metric_crs(cx + dx, cy + dy) for dx in (-margin, 0.0, margin) for dy in (-margin, 0.0, margin)}
        if len(near) > 1 and scenario.network.kind != "osm":
            minx, miny, maxx, maxy = network_bounds_wgs84(scenario.network, osm=osm)
            cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        crs = choose_metric_crs(cx, cy, scenario.crs)
    log.info("metric CRS: %s (%s)", crs.to_string(), crs.name)
    return crs


MAX_SCALE_ERROR = 0.01  # a declared metric CRS may stretch distances at the study area by at most 1 %


def _check_scale(crs: CRS, declared: str, lon: float, lat: float) -> None:
    """Refuse a declared CRS whose scale at the study area's centre is off by more than :data:`MAX_SCALE_ERROR`
    (a UTM or Gauss-Krüger zone far from the data): every distance, and so every coverage, would be wrong."""
    from pyproj import Proj

    try:
        factors = Proj(crs).get_factors(lon, lat)
        deviation = max(factors.meridional_scale - 1, factors.parallel_scale - 1, key=abs)  # signed: > 0 stretches
    except Exception:  # a projection pyproj cannot give factors for: nothing to check
        return
    error = abs(deviation)
    if np.isfinite(error) and error <= MAX_SCALE_ERROR:
        return
    raise ScenarioError(
        f"crs = {declared!r} 在研究区（{lon:.3f}, {lat:.3f}）把距离{'放大' if deviation > 0 else '缩小'}约 {error:.1%}，所有步行距离都会出错；"
        f"请用 crs = \"auto\"（自动选当地的 CGCS2000 3° 带）/ crs = {declared!r} distorts distances by about {error:.1%} at the study "
        f"area ({lon:.3f}, {lat:.3f}): every walking distance would be off; use crs = \"auto\" (the local CGCS2000 3° zone)"
    )


def load_layers(scenario: Scenario, crs: CRS, taxonomy: Taxonomy, osm: OsmExtract | None) -> Layers:
    """Read facilities, residential compounds and 街道 (from files or the OSM extract), place each row in its 街道
    and, with ``census_from_zones``, spread the 街道 census totals over the compounds."""
    facilities = _layers.load_facilities(scenario.facilities, crs, taxonomy=taxonomy, osm_pois=osm.pois if osm else None)
    residential = _layers.load_residential(
        scenario.residential,
        crs,
        scenario.population,
        osm_residential=osm.residential if osm else None,
        osm_buildings=osm.buildings if osm else None,
    )
    zones = _layers.load_zones(scenario.zones, crs) if scenario.zones else None
    for layer in (facilities, residential, zones):
        if layer is not None:
            require_rows(layer)
    warnings = [w for layer in (facilities, residential, zones) if layer is not None for w in layer.warnings]  # repairs
    for text in warnings:
        log.warning("%s", text)
    zone_gdf = zones.data if zones is not None else None
    comp = residential.data.copy()
    fac = facilities.data.copy()
    placed = place_in_zones(comp, zone_gdf)
    comp["zone_id"] = placed.zone_id
    fac["zone_id"] = place_in_zones(fac, zone_gdf).zone_id
    overlaps = zone_overlaps(zone_gdf)
    census_unplaced: dict[str, dict[str, float]] = {}
    if scenario.population.census_from_zones:
        if zone_gdf is None or "population" not in zone_gdf.columns:
            raise LayerError(
                "[population] census_from_zones = true 需要街道图层带人口总数列（如 人口、常住人口）/ "
                "needs a zones layer with census totals (a population column)"
            )
        comp, census_unplaced = disaggregate_census(comp, comp["zone_id"], zone_gdf, scenario.population)
        unknown = comp["population"].isna()
        if unknown.any():  # their 街道 gives no census total and they give neither population nor households
            where = comp.loc[unknown, "zone_id"].value_counts().sort_index()
            shown = "、".join(f"{z}（{n} 个）" for z, n in where.head(10).items())
            text = (f"{int(unknown.sum())} 个小区没有人口：所在街道的人口总数为空，小区也没有人口或户数（{shown}）；这些小区不计入覆盖率 / "
                    f"{int(unknown.sum())} compounds have no population: their 街道 has no census total and they give neither "
                    f"population nor households ({', '.join(f'{z}: {n}' for z, n in where.head(10).items())}); they count in no share")
            log.warning("%s", text)
            warnings.append(text)
    return Layers(_layers.LayerSet(facilities, residential, zones), comp, fac, zone_gdf, census_unplaced, warnings, overlaps,
                  placed.several)


def reject_beyond_network(layers: Layers, network_or_hull: WalkNetwork | np.ndarray, buffer_m: float) -> Layers:
    """Move compounds and facilities farther than ``buffer_m`` beyond the network's convex hull to the rejected rows.

    ``network_or_hull``: the network (its :attr:`~WalkNetwork.hull_xy`, the hull of the ways it was built from; the
    hull of its nodes when that is not known), or the hull's corners ((k, 2), metres: ``Ways.hull_xy()``) — the
    client of a partitioned run passes the province's, so both runs reject the same rows."""
    if isinstance(network_or_hull, WalkNetwork) and network_or_hull.hull_xy is not None:
        xy = network_or_hull.hull_xy
    elif isinstance(network_or_hull, WalkNetwork):
        st = network_or_hull.streets
        xy = np.column_stack([st.node_x, st.node_y])
        if len(xy) > 1000:  # the hull's corners first (qhull, fast), so GEOS builds the same hull from a few points
            try:
                xy = xy[ConvexHull(xy).vertices]
            except QhullError:  # all nodes on one line: GEOS handles the degenerate hull
                pass
    else:
        xy = np.asarray(network_or_hull, dtype=np.float64).reshape(-1, 2)
    hull = shapely.convex_hull(shapely.multipoints(xy)).buffer(buffer_m)
    shapely.prepare(hull)  # tested against every compound and facility
    detail = f"> {buffer_m:.0f} m"
    old = layers.layer_set
    facilities, fac = _layers.reject_outside(old.facilities, layers.facilities, hull, detail)
    residential, comp = _layers.reject_outside(old.residential, layers.compounds, hull, detail)
    return replace(layers, layer_set=_layers.LayerSet(facilities, residential, old.zones), compounds=comp, facilities=fac)


# ---- stage 4: snapping --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snap:
    """The run's points on the network: the compounds' gates (first) and the facilities, snapped once."""

    compounds: gpd.GeoDataFrame  # + gates, reachable (any gate connected), snap_distance_m (nearest gate's access leg)
    facilities: gpd.GeoDataFrame  # + reachable, snap_distance_m
    snapped: Snapped
    gate_owner: np.ndarray  # the compound (row position) of each gate
    isolated_compounds: np.ndarray  # per compound: unreachable, and a gate lies near only a small piece (isolated_network)
    isolated_facilities: np.ndarray  # per facility: near only a small piece (rejected by reject_isolated)
    isolated_facilities_rejected: int = 0  # how many facilities reject_isolated moved to the rejected rows


def snap_to_network(comp: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, network: WalkNetwork, *, max_snap_m: float) -> Snap:
    """Snap every compound gate and facility onto its nearest edge of a piece of network that is not small
    (:attr:`WalkNetwork.pieces`), in one call; points near only a small piece are marked isolated."""
    gates, owner = compound_gates(comp.geometry)
    n_g = len(gates)
    snapped = snap_geometries(network, np.concatenate([gates, fac.geometry.to_numpy()]), max_snap_m=max_snap_m)
    gate_ok = snapped.reachable[:n_g]
    isolated = snapped.isolated if snapped.isolated is not None else np.zeros(len(snapped), dtype=bool)
    best_access = np.full(len(comp), np.inf)
    np.minimum.at(best_access, owner, snapped.access[:n_g])
    reachable = np.bincount(owner, weights=gate_ok.astype(float), minlength=len(comp)) > 0
    comp = comp.assign(
        gates=np.bincount(owner, minlength=len(comp)),
        reachable=reachable,
        snap_distance_m=np.round(best_access, 2),
    )
    fac = fac.assign(reachable=snapped.reachable[n_g:], snap_distance_m=np.round(snapped.access[n_g:], 2))
    comp_isolated = ~reachable & (np.bincount(owner, weights=isolated[:n_g].astype(float), minlength=len(comp)) > 0)
    return Snap(comp, fac, snapped, owner, comp_isolated, isolated[n_g:].copy())


def reject_isolated(layers: Layers, snap: Snap) -> tuple[Layers, Snap]:
    """Move the facilities near only a small cut-off piece of network to the rejected rows (``isolated_network``)
    and out of the snapping; compounds near only such a piece stay, unreachable, as every unreachable compound does."""
    drop = snap.isolated_facilities
    if not drop.any():
        return layers, snap
    layers, fac = reject_isolated_rows(layers, snap.facilities, drop)
    return layers, drop_isolated(snap, fac)


def reject_isolated_rows(layers: Layers, fac: gpd.GeoDataFrame, drop: np.ndarray) -> tuple[Layers, gpd.GeoDataFrame]:
    """The facilities ``drop`` (a mask over ``fac``) moved to the rejected rows as ``isolated_network``."""
    detail = "最近的路网是与主路网不连通的小片 / the nearest streets are a small piece cut off from the network"
    old = layers.layer_set
    facilities, fac = _layers.reject_kept(old.facilities, fac, drop, "isolated_network", detail)
    return replace(layers, layer_set=_layers.LayerSet(facilities, old.residential, old.zones),
                   facilities=layers.facilities.loc[fac.index]), fac


def drop_isolated(snap: Snap, fac: gpd.GeoDataFrame | None = None) -> Snap:
    """``snap`` without its isolated facilities (their points too); ``fac`` the kept facility rows when known."""
    drop = snap.isolated_facilities
    if not drop.any():
        return snap
    n_g = len(snap.gate_owner)
    fac = snap.facilities[~drop] if fac is None else fac
    keep = np.r_[np.arange(n_g), n_g + np.flatnonzero(~drop)]
    s = snap.snapped
    snapped = Snapped(s.edge[keep], s.offset[keep], s.access[keep], s.reachable[keep],
                      None if s.isolated is None else s.isolated[keep])
    return replace(snap, facilities=fac, snapped=snapped, isolated_facilities=drop[~drop],
                   isolated_facilities_rejected=int(drop.sum()))


def report_pieces(network: WalkNetwork, report: Callable[[str], None]) -> None:
    """Say how many connected pieces the network has and how many are too small to snap to."""
    p = network.pieces
    if p is None:
        return
    if p.n_small:
        report(
            f"    路网共 {p.n_pieces:,} 片（互不连通），其中 {p.n_small:,} 片为孤立小片（共 {p.small_km:.2f} km，"
            f"不足 {p.min_piece_m:.0f} 米且不足最大片的 1%），不作为接入点 / {p.n_pieces:,} connected pieces, {p.n_small:,} "
            f"of them small ({p.small_km:.2f} km; under {p.min_piece_m:.0f} m and under 1 % of the largest): not snapped to"
        )
    else:
        report(f"    路网共 {p.n_pieces:,} 片（互不连通），无孤立小片 / {p.n_pieces:,} connected pieces, none small")


def isolated_warnings(snap: Snap, report: Callable[[str], None]) -> list[str]:
    """A warning (console and summary) when points lie near only small cut-off pieces of network."""
    return isolated_counts_warnings(int(snap.isolated_compounds.sum()), snap.isolated_facilities_rejected, report)


def isolated_counts_warnings(n_c: int, n_f: int, report: Callable[[str], None]) -> list[str]:
    """The warning of :func:`isolated_warnings` from the counts of isolated compounds and rejected facilities."""
    if not (n_c or n_f):
        return []
    msg = (
        f"{n_c} 个小区、{n_f} 个设施只邻近孤立的小片路网（与主路网不连通）：小区记为无法接入路网，设施拒收"
        f"（isolated_network，见 rejected.csv）/ {n_c} compounds and {n_f} facilities lie near only small pieces of "
        "network cut off from the rest: the compounds are unreachable, the facilities rejected (isolated_network, "
        "see rejected.csv)"
    )
    report("    ⚠ " + msg)
    return [msg]


def shift_warnings(
    scenario: Scenario, fac: gpd.GeoDataFrame, network: WalkNetwork, report: Callable[[str], None]
) -> list[str]:
    """A warning when a facilities file declared as WGS84 looks GCJ-02/BD-09-shifted against the network."""
    # only facilities: they stand by the street; compound centroids sit mid-block, where any shift looks closer
    spec = scenario.facilities
    if spec.source != "file" or normalise_system(spec.crs or "") in CHINESE_SYSTEMS:
        return []
    check = check_shift(spec.path.name, fac.geometry, network)
    if check is None or not check.suggestion:
        return []
    report("    ⚠ " + check.message())
    return [check.message()]


# ---- stage 5: walking distances -----------------------------------------------------------------------------------


def category_speeds(scenario: Scenario, categories: tuple[str, ...], taxonomy: Taxonomy) -> dict[str, float]:
    """Each category's walking speed (m/min): that of its taxonomy group (养老 the elderly's, 托育 carers')."""
    return {c: scenario.speed_for(taxonomy[c].group if c in taxonomy else None) for c in categories}


def category_radii(scenario: Scenario, taxonomy: Taxonomy) -> dict[str, float]:
    """Per category of the taxonomy, the longest threshold in metres at its group's speed: the radius of a siting
    task that names none (养老 800 m by default)."""
    return {c.key: scenario.threshold_m(scenario.coverage_minutes, c.group) for c in taxonomy.categories}


def group_limits(scenario: Scenario) -> dict[str, dict[float, float]]:
    """Per group of :data:`ISOCHRONE_GROUPS`: minutes → metres at that group's speed (the isochrones' limits)."""
    return {g: {t: scenario.threshold_m(t, g) for t in scenario.thresholds_min} for g in ISOCHRONE_GROUPS}


def measure_coverage(scenario: Scenario, reach: Reach, owner: np.ndarray, comp: gpd.GeoDataFrame, fac: gpd.GeoDataFrame,
                     categories: tuple[str, ...], *, taxonomy: Taxonomy | None = None) -> Coverage:
    """Walking distance from every compound to the nearest facility of each category, counts and catchments, each
    category at its group's walking speed (:func:`category_speeds`)."""
    taxonomy = taxonomy if taxonomy is not None else taxonomy_for(scenario)
    return compute_coverage(
        reach.graph,
        reach.gates,
        owner,
        comp.index,
        reach.facilities,
        fac,
        categories,
        thresholds_min=scenario.thresholds_min,
        speed_m_per_min=category_speeds(scenario, categories, taxonomy),
        adults_m_per_min=scenario.speeds.adults,
        search_limit_m=scenario.search_limit_m,
    )


def draw_isochrones(
    reach: Reach, fac: gpd.GeoDataFrame, categories: tuple[str, ...], taxonomy: Taxonomy,
    limits_m: Mapping[str, Mapping[float, float]] | Mapping[float, float],
    *, sources: np.ndarray | None = None, each: bool | None = None, cell_m: float | None = None,
) -> dict[tuple[str, float], gpd.GeoDataFrame]:
    """Per group of :data:`ISOCHRONE_GROUPS` with analysed facilities and per threshold (``limits_m``: group →
    minutes → metres at the group's speed, :func:`group_limits`; or one minutes → metres for every group): the area
    within that walk of the group's facilities, keyed ``(group, minutes)``; and, when those facilities number at most
    :data:`FACILITY_ISOCHRONES_MAX`, each one's area within the longest threshold at its group's speed, keyed
    ``("facilities", minutes)`` (one row per facility: ``facility_id``, ``category``).

    A partition of a partitioned run draws from only the facilities it owns (``sources``, a mask over ``fac``) and is
    told whether the whole run draws each facility's own area (``each``, otherwise decided from ``fac``'s count) and
    the grid cell of the whole run's city-scale areas (``cell_m``: a piece's own extent would draw it finer, and dearer)."""
    network = reach.network
    isochrones: dict[tuple[str, float], gpd.GeoDataFrame] = {}
    cats = np.asarray([c in categories for c in fac["category"]], dtype=bool)
    if sources is not None:
        cats = cats & np.asarray(sources, dtype=bool)
    groups = fac["category"].map(lambda c: taxonomy[c].group if c in taxonomy else "").to_numpy()
    members = {g: reach.facilities[cats & (groups == g)] for g in ISOCHRONE_GROUPS}
    members = {g: m for g, m in members.items() if len(m)}
    per_group = all(isinstance(v, Mapping) for v in limits_m.values())
    limits = {g: dict(limits_m[g] if per_group else limits_m) for g in ISOCHRONE_GROUPS}
    minutes = sorted(limits[ISOCHRONE_GROUPS[0]])
    jobs = [(g, t) for g in members for t in minutes]
    with bar(total=len(jobs), desc="等时圈 / isochrones", unit="isochrone") as shown:
        for t in minutes:
            for g, length_m, area in isochrones_by(network, reach.graph, reach.snapped, members,
                                                     limit={g: limits[g][t] for g in members}, cell_m=cell_m):
                isochrones[(g, t)] = gpd.GeoDataFrame(
                    {"group": [g], "minutes": [t], "reached_km": [round(length_m / 1000, 3)]}, geometry=[area], crs=network.crs
                )
                shown.update(1)
    own = np.flatnonzero(cats & np.isin(groups, ISOCHRONE_GROUPS))
    if (0 < len(own) <= FACILITY_ISOCHRONES_MAX) if each is None else (each and len(own) > 0):
        longest = minutes[-1]
        sources = {str(i): reach.facilities[[i]] for i in own.tolist()}
        own_limits = {str(i): limits[str(groups[i])][longest] for i in own.tolist()}  # each at its group's speed
        drawn = [area for _, _, area in isochrones_by(network, reach.graph, reach.snapped, sources, limit=own_limits)]
        isochrones[("facilities", longest)] = gpd.GeoDataFrame(
            {"facility_id": fac["id"].astype(str).to_numpy()[own], "category": fac["category"].to_numpy()[own]},
            geometry=drawn, crs=network.crs,
        )
    return isochrones


def delineate_service_circles(
    reach: Reach, comp: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, coverage: Coverage, taxonomy: Taxonomy, radius_m: float,
    search_limit_m: float,
) -> tuple[pd.DataFrame | None, pd.Series]:
    """一刻钟便民生活圈: compounds around their nearest community centre; formats within ``radius_m`` of the centre
    (nearest formats searched up to ``search_limit_m``).

    Returns the circles table (None without centres) and each compound's circle ("" when in none).
    """
    return circles_from_distances(comp, fac, coverage, taxonomy, centre_format_distances(reach, fac, taxonomy, search_limit_m),
                                  radius_m)


def centre_format_distances(reach: Reach, fac: gpd.GeoDataFrame, taxonomy: Taxonomy, search_limit_m: float,
                            centres: np.ndarray | None = None) -> pd.DataFrame:
    """Walking metres from each community centre (rows: centre ids in facility order; only ``centres``, a mask over
    ``fac``, when given) to the nearest facility of each basic format (columns), searched up to ``search_limit_m``."""
    basic = [c.key for c in taxonomy.categories if c.basic]
    centre_mask = (fac["category"] == CENTRE_CATEGORY).to_numpy()
    if centres is not None:
        centre_mask = centre_mask & np.asarray(centres, dtype=bool)
    centre_pos = reach.facilities[centre_mask]
    cfd = {}
    for cat in basic:
        members = reach.facilities[(fac["category"] == cat).to_numpy()]
        cfd[cat], _ = nearest_distance(reach.graph, members, centre_pos, limit=search_limit_m) if len(centre_pos) else (np.zeros(0), None)
    return pd.DataFrame(cfd, index=fac.loc[centre_mask, "id"].astype(str).to_numpy())


def circles_from_distances(comp: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, coverage: Coverage, taxonomy: Taxonomy,
                           cfd: pd.DataFrame, radius_m: float) -> tuple[pd.DataFrame | None, pd.Series]:
    """The circles of :func:`delineate_service_circles` from the centres' distances to the formats (``cfd``)."""
    basic = [c.key for c in taxonomy.categories if c.basic]
    centres = fac[(fac["category"] == CENTRE_CATEGORY).to_numpy()]
    if not len(centres):
        return None, pd.Series("", index=comp.index)
    return delineate_circles(
        comp,
        coverage.table[schema.nearest_id(CENTRE_CATEGORY)],
        coverage.table[schema.dist_m(CENTRE_CATEGORY)],
        centres.set_index(centres["id"].astype(str)),
        cfd.loc[centres["id"].astype(str).to_numpy()],
        basic,
        {c: taxonomy[c].zh for c in basic},
        radius_m=radius_m,
    )


def one_plus_n_pairs(scenario: Scenario, reach: Reach, fac: gpd.GeoDataFrame, owned: np.ndarray | None = None) -> pd.DataFrame:
    """1+N 托育: every (point, hub) pair within the scenario's 1+N walk limit, on the run's reach graph; only of the
    points ``owned`` marks (a mask over ``fac``: a partition's own) when given."""
    return hub_point_pairs(reach.graph, reach.facilities, fac, limit_m=scenario.one_plus_n_limit_m(), owned=owned)


def one_plus_n_model(scenario: Scenario, fac: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None,
                     pairs: pd.DataFrame) -> OnePlusN | None:
    """The 1+N 托育 model from the pairs of :func:`one_plus_n_pairs` (None when the run has no childcare facility)."""
    hubs, points = roles(fac)
    if not (hubs | points).any():
        return None
    return guide_points(fac, pairs, zones, scenario.one_plus_n, limit_m=scenario.one_plus_n_limit_m())


# ---- stage 6: standards and capacity ------------------------------------------------------------------------------


def analyse_standards(scenario: Scenario, rules: tuple[Rule, ...], comp: gpd.GeoDataFrame, fac: gpd.GeoDataFrame,
                      coverage: Coverage, zones: gpd.GeoDataFrame | None, taxonomy: Taxonomy, circles: pd.DataFrame | None,
                      report: Callable[[str], None], *, one_plus_n: OnePlusN | None = None,
                      ) -> tuple[gpd.GeoDataFrame, Compliance, pd.DataFrame]:
    """Stage 6: the standards, capacity (E2SFCA) and the gap list; the compounds gain their access and formats columns."""
    compliance = evaluate_standards(scenario, comp, fac, coverage, zones, taxonomy, circles, one_plus_n)
    access = capacity_access(scenario, rules, comp, fac, coverage)
    comp = comp.assign(**{schema.access(name): (acc * 1000).round(3) for name, (acc, _, _) in access.items()})
    gaps = gap_list(compliance, comp, coverage.table, access)
    comp = comp.assign(formats_present=compliance.formats["n_present"], formats_missing=compliance.formats["missing"])
    _report_failing(compliance, report)
    return comp, compliance, gaps


def evaluate_standards(scenario: Scenario, comp: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, coverage: Coverage,
                       zones: gpd.GeoDataFrame | None, taxonomy: Taxonomy, circles: pd.DataFrame | None,
                       one_plus_n: OnePlusN | None = None) -> Compliance:
    """Every rule of the scenario's standards preset, per 街道 and city-wide (the 1+N rules from ``one_plus_n``)."""
    return evaluate(
        preset=scenario.standards.preset,
        rules=scenario_rules(scenario),
        compounds=comp,
        coverage_table=coverage.table,
        facilities=fac,
        zone_names=standards_zone_names(zones),
        taxonomy=taxonomy,
        complete_circles=complete_circles(circles),
        city_targets=city_targets(scenario),
        one_plus_n=one_plus_n,
    )


def city_targets(scenario: Scenario) -> CityTargets:
    """How the scenario reads city-wide count targets on its study area ([standards] city_targets)."""
    return CityTargets(scenario.standards.city_targets, scenario.standards.city_population)


def standards_zone_names(zones: gpd.GeoDataFrame | None) -> dict[str, str]:
    """街道 id → name in report order, as the standards see them (one 全部 when the scenario has no 街道)."""
    zone_names = {str(z): str(n) for z, n in (zones["name"].items() if zones is not None else [])}
    return zone_names or {schema.ALL_ZONES: schema.ALL_ZONES}


def complete_circles(circles: pd.DataFrame | None) -> int | None:
    """The number of complete 一刻钟 circles the standards count (None without circles)."""
    return int(circles["complete"].sum()) if circles is not None else None


def standards_update(scenario: Scenario, comp: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None, taxonomy: Taxonomy,
                     base: Compliance) -> ZoneUpdate:
    """The run's standards ``base`` kept to re-evaluate only the 街道 an edit touches (:class:`ZoneUpdate`); its
    ``evaluate`` equals :func:`evaluate_standards` on the edited coverage and facilities."""
    return ZoneUpdate(base, city_targets=city_targets(scenario), compounds=comp,
                      zone_names=standards_zone_names(zones), taxonomy=taxonomy)


def capacity_access(
    scenario: Scenario, rules: tuple[Rule, ...], comp: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, coverage: Coverage
) -> dict[str, tuple[pd.Series, float, str]]:
    """E2SFCA accessibility per compound for each measure of :data:`CAPACITY_RULES` whose supply and demand are
    known, on walking distances banded at the scenario's thresholds (in metres at the speed of the rule's first
    category: the elderly's for beds, carers' for childcare places).

    Returns name → (supply per person, target per 1000 from the rule, demand column).
    """
    weights = E2SFCA_WEIGHTS[: len(scenario.thresholds_min)] if len(scenario.thresholds_min) <= len(E2SFCA_WEIGHTS) else None
    cat_pairs = coverage.catchments
    fac_by_id = fac.set_index(fac["id"].astype(str))
    by_id = {r.id: r for r in rules}
    access: dict[str, tuple[pd.Series, float, str]] = {}
    for name, rule_id in CAPACITY_RULES.items():
        rule = by_id.get(rule_id)
        if rule is None:
            continue
        demand_col = rule.group or "population"
        bands = [coverage.threshold_m(t, rule.categories[0]) if rule.categories else scenario.threshold_m(t)
                 for t in scenario.thresholds_min]
        pairs = cat_pairs[cat_pairs["category"].isin(rule.categories)]
        supply = fac_by_id.loc[fac_by_id["category"].isin(rule.categories), rule.capacity]
        demand = comp[demand_col]
        if supply.notna().any() and demand.notna().all():
            pairs = pairs.assign(facility_id=pairs["facility_id"].astype(str))
            access[name] = (two_step_fca(pairs, supply, demand, bands_m=bands, weights=weights), rule.value, demand_col)
    return access


# 街道 whose failing rules are listed one by one; a city of a thousand 街道 gets a count of the rest (all are in
# compliance.csv and report.xlsx)
FAILING_LISTED = 10


def _report_failing(compliance: Compliance, report: Callable[[str], None]) -> None:
    """Report the failing rules of the first :data:`FAILING_LISTED` failing 街道 (and the city), and how many more fail."""
    failing = compliance.table[compliance.table["status"] == "fail"]
    groups = list(failing.groupby("subdistrict_name", sort=False))
    city = [g for g in groups if g[0] in (schema.CITY, schema.ALL_ZONES)]
    zones = [g for g in groups if g[0] not in (schema.CITY, schema.ALL_ZONES)]
    for zone, rows in zones[:FAILING_LISTED] + city:
        report(f"    ✘ {zone}：{len(rows)} 项未达标 / {len(rows)} failing")
        for r in rows.itertuples():
            report(f"        - {r.shortfall_text or r.rule}  [{r.rule_id}]")
    if len(zones) > FAILING_LISTED:
        more = len(zones) - FAILING_LISTED
        report(f"    … 另有 {more} 个街道未达标，见 compliance.csv / {more} more 街道 failing, see compliance.csv")


# ---- stage 7: siting ----------------------------------------------------------------------------------------------


def suggest_new_sites(scenario: Scenario, inputs: SitingInputs, report: Callable[[str], None],
                      one_plus_n: OnePlusN | None = None) -> list[SitingResult]:
    """Every ``[[siting]]`` task of the scenario, each reported as soon as it is solved (``model = "hubs"`` from the
    run's 1+N model ``one_plus_n``)."""
    results = []
    if one_plus_n is not None:
        inputs = replace(inputs, one_plus_n=one_plus_n)
    for res in suggest_sites(scenario.siting, inputs):
        results.append(res)
        sm = res.summary
        report(
            f"    {res.task.name}：{len(res.sites)} 处，求解状态 {sm['status']}，目标值 {sm['objective']}，界 {sm['bound']}，"
            f"间隙 {sm['gap']}，{sm['seconds']} 秒 / {len(res.sites)} sites, status {sm['status']}"
        )
        lang = scenario.language
        for row in res.sites.to_dict("records"):  # the same texts as sites.csv, the report, the workbook and the map
            fixes = row["fixes"] if lang == "zh" else row["fixes_en"]
            text = site_numbers(row, lang) + (tr("site.sep", lang) + fixes if fixes else "")
            report(f"        {row['rank']}. " + tr("site.explanation", lang, title=site_title(row, lang), text=text))
    return results


def compound_gates(geometry: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """Gate points of each compound and the compound (row position) each gate belongs to.

    A MultiPoint compound is a set of gates (each destination is reached from the nearest one); any
    other geometry has one gate at ``representative_point()`` (a point inside a polygon).
    """
    geoms = geometry.to_numpy()
    multi = shapely.get_type_id(geoms) == shapely.GeometryType.MULTIPOINT
    gates = shapely.point_on_surface(geoms)  # one gate inside each polygon (or the point itself)
    if multi.any():
        parts, part_of = shapely.get_parts(geoms[multi], return_index=True)
        owner_of_part = np.flatnonzero(multi)[part_of]
        # a MultiPoint's gates take its place, in order: sort all gates by compound, parts in their order
        owners = np.concatenate([np.flatnonzero(~multi), owner_of_part])
        pieces = np.concatenate([gates[~multi], parts])
        order = np.argsort(owners, kind="stable")
        return pieces[order], owners[order].astype(np.int64)
    return gates, np.arange(len(geoms), dtype=np.int64)


def analysed_categories(
    scenario: Scenario, facilities: pd.DataFrame, taxonomy: Taxonomy, rules: tuple[Rule, ...]
) -> tuple[str, ...]:
    """Categories to compute: the scenario's (or those present plus the core set), plus every category the
    standards preset refers to (``rules``), the MOFCOM basic formats and the circle centres."""
    wanted = set(scenario.categories) if scenario.categories else set(facilities["category"].dropna()) | set(DEFAULT_CATEGORIES)
    for rule in rules:
        wanted |= set(rule.categories)
    wanted |= {c.key for c in taxonomy.categories if c.basic} | {CENTRE_CATEGORY}
    return tuple(k for k in taxonomy.keys if k in wanted)
