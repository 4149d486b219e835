"""A partitioned run, on the client: the layers and the network's ways read once, the partitions planned
(:mod:`~planner.partition.plan`), their searches run on a Dask cluster (:mod:`~planner.partition.cluster`) or here,
and the results stitched into the single run's :class:`~planner.pipeline.RunResult` (:mod:`~planner.partition.stitch`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace

import numpy as np
import pandas as pd
import shapely

from planner import pipeline as pl
from planner.analysis.circles import CENTRE_CATEGORY
from planner.analysis.standards import scenario_rules
from planner.analysis.zones import summarise_zones
from planner.errors import NetworkError, PlannerError, ScenarioError
from planner.io.categories import taxonomy_for
from planner.io.checks import require_rows
from planner.io.osm import read_osm
from planner.network.build import read_ways
from planner.partition import stitch
from planner.partition.cluster import TaskOutcome  # a plain record (Dask is imported only by a session)
from planner.partition.plan import PIECE_FACTOR, partition_cells, plan_jobs
from planner.partition.task import DEMAND_COLUMNS, run_partition, run_siting
from planner.partition.types import PartitionFailure, PartitionJob, PartitionResult, SitingJob
from planner.settings import Scenario
from planner.siting.suggest import number_sites

__all__ = ["run_partitioned", "PartitionsFailed", "run_here"]

log = logging.getLogger(__name__)


class PartitionsFailed(PlannerError):
    """Some partitions could not run; ``rows`` says which, where and why. Nothing was written."""

    def __init__(self, rows: list[tuple[str, str, str]], done: int):
        self.rows = rows
        lines = [f"  - {pid} {name}：{reason}" for pid, name, reason in rows]
        super().__init__(
            f"{len(rows)} 个分区未能完成（其余 {done} 个已完成），未写出任何结果 / {len(rows)} partition(s) failed ({done} finished); "
            "nothing was written:\n" + "\n".join(lines)
        )


def run_here(fn, jobs: Sequence[tuple[str, object]], report: Callable[[str], None]) -> list[TaskOutcome]:
    """The jobs one after another in this process (a run without a cluster, and the tests' reference)."""
    out = []
    for i, (key, job) in enumerate(jobs, 1):
        t = time.perf_counter()
        value = fn(job)
        seconds = round(time.perf_counter() - t, 3)
        report(f"    分区 {key} 完成 / partition {key} done ({i}/{len(jobs)}, {seconds:.1f} s)")
        out.append(TaskOutcome(key, value, None, "local", 1, seconds))
    return out


def run_partitioned(scenario: Scenario, *, workers: int | None = None, scheduler: str | None = None,
                    report: Callable[[str], None] | None = None) -> pl.RunResult:
    """Run ``scenario`` cut into its ``[partition]`` pieces on a Dask cluster of ``workers`` local processes, or on the
    cluster at ``scheduler``; with neither, piece by piece in this process. Same answer as :func:`planner.pipeline.run`
    (docs/scaling.md says which outputs are byte-identical and which are not)."""
    report = report or (lambda msg: log.info("%s", msg))
    hubs = [t.name for t in scenario.siting if t.model == "hubs"]
    if hubs:  # the hubs model needs the whole run's walks between childcare points: not yet split into pieces
        raise ScenarioError(f"[[siting]] {'、'.join(hubs)}：model = \"hubs\"（1+N 托育枢纽）暂不支持分区运行，请不用 --workers/--partitioned "
                            f"运行 / model = \"hubs\" (1+N hubs) cannot run in pieces yet: run without --workers/--partitioned")
    taxonomy = taxonomy_for(scenario)
    rules = scenario_rules(scenario)
    timings: dict[str, float] = {}
    memory: dict[str, float] = {}
    t_start = time.perf_counter()
    total = 8 + bool(scenario.siting)
    stage = pl.timed_stage

    with stage(timings, "选择坐标系 / choose metric CRS", 1, total, report, memory):
        osm = read_osm(scenario.network.path) if scenario.network.kind == "osm" else None
        crs = pl.choose_crs(scenario, osm)
    # the network's ways are read in a thread while the layers load (both mostly in GDAL, outside the GIL)
    with ThreadPoolExecutor(max_workers=1) as reader:
        reading = reader.submit(read_ways, scenario.network, crs, osm=osm)
        with stage(timings, "读取图层 / load layers", 2, total, report, memory):
            layers = pl.load_layers(scenario, crs, taxonomy, osm)
            for text in layers.warnings:
                report("    ⚠ " + text)
        with stage(timings, "读取路网 / read the network", 3, total, report, memory):
            ways = reading.result()
    del osm
    with stage(timings, "分区 / plan the partitions", 4, total, report, memory):
        layers = pl.reject_beyond_network(layers, ways.hull_xy(), scenario.study_area_buffer_m)
        for layer in (layers.layer_set.facilities, layers.layer_set.residential):
            require_rows(layer, stage=("剔除路网范围外的点", "removing points beyond the network"))
        pl.require_zones_in_place(layers)
        comp, fac, zones = layers.compounds, layers.facilities, layers.zones
        categories = pl.analysed_categories(scenario, fac, taxonomy, rules)
        parts = partition_cells(scenario, zones, crs)
        jobs, owner = plan_jobs(scenario, crs, parts, comp, fac, zones, ways, categories, _each_isochrone(fac, categories, taxonomy))
        cell = _isochrone_cell(scenario, fac, categories, taxonomy)
        jobs = [replace(j, isochrone_cell_m=cell) for j in jobs]
        source = dict(ways.source)
        n_ways = len(ways)
        del ways
        report(f"    {len(jobs)} 个分区（{len(parts)} 个分区面），路网 {n_ways:,} 条道路 / {len(jobs)} partitions of {len(parts)}, "
               f"{n_ways:,} walkable ways")

    sizes = [float(len(j.ways.x)) for j in jobs]
    with ExitStack() as stack:
        session = None
        if workers is not None or scheduler is not None:
            from planner.partition.cluster import DaskSession  # Dask only when a cluster is asked for

            session = stack.enter_context(DaskSession(workers=workers, scheduler=scheduler,
                                                      memory_limit=scenario.partition.worker_memory, report=report))

        def execute(fn, keyed: list[tuple[str, object]]) -> list:
            return run_here(fn, keyed, report) if session is None else session.run(fn, keyed, sizes=sizes)

        return _compute(scenario, execute, jobs, owner, layers, source, categories, taxonomy, rules, crs, timings, memory,
                        t_start, total, report)


def _compute(scenario, execute, jobs, owner, layers, source, categories, taxonomy, rules, crs, timings, memory, t_start,
             total, report) -> pl.RunResult:
    """Stages 4–8 of a partitioned run: the pieces (``execute`` runs them), stitched; the whole run's standards,
    siting per piece and the 街道 summary."""
    stage = pl.timed_stage
    comp, fac, zones = layers.compounds, layers.facilities, layers.zones
    with stage(timings, "分区计算 / partitions", 5, total, report, memory):
        outcomes = execute(run_partition, [(f"partition-{j.id}", j) for j in jobs])
        results = _results(jobs, outcomes)
        _check_pieces(results, scenario)

    with stage(timings, "拼合 / stitch the partitions", 6, total, report, memory):
        t_stitch = time.perf_counter()
        comp, fac, comp_isolated, fac_isolated = stitch.stitch_snap(results, comp, fac)
        if fac_isolated.any():
            layers, fac = pl.reject_isolated_rows(layers, fac, fac_isolated)
        require_rows(layers.layer_set.facilities, stage=("剔除只邻近孤立小片路网的设施", "removing facilities near only cut-off pieces of network"))
        late = pl.final_layer_warnings(layers)
        for text in late:
            report("    ⚠ " + text)
        network_warnings = [str(w) for w in source.get("warnings", [])]
        shifts = [w for r in results for w in r.warnings if w not in network_warnings]
        for text in shifts:
            report("    ⚠ " + text)
        warnings_ = (layers.warnings + network_warnings + late
                     + pl.isolated_counts_warnings(int(comp_isolated.sum()), int(fac_isolated.sum()), report) + shifts)
        log.info("stitch: snap columns and rejections %.2f s", time.perf_counter() - t_stitch)
        coverage = stitch.stitch_coverage(results, comp, fac, categories, scenario.thresholds_min, scenario.speeds.adults,
                                          speeds=pl.category_speeds(scenario, categories, taxonomy))
        cfd = stitch.stitch_centre_distances(results, fac, CENTRE_CATEGORY)
        longest_m = scenario.threshold_m(scenario.coverage_minutes)
        circles_table, circle_of = pl.circles_from_distances(comp, fac, coverage, taxonomy, cfd, longest_m)
        comp = comp.assign(circle=circle_of)
        # 1+N 托育: the pieces' (point, hub, metres) pairs of their own points, solved here over the whole run
        hub_pairs = [r.hub_pairs for r in results if r.hub_pairs is not None and len(r.hub_pairs)]
        one_plus_n = pl.one_plus_n_model(scenario, fac, zones, pd.concat(hub_pairs, ignore_index=True) if hub_pairs else
                                         pd.DataFrame({"point_id": [], "hub_id": [], "dist_m": []}))
        log.info("stitch: coverage and circles %.2f s", time.perf_counter() - t_stitch)
        isochrones = stitch.stitch_isochrones(results, crs)
        log.info("stitch: isochrones %.2f s", time.perf_counter() - t_stitch)
        network = stitch.stitch_network(results, crs, source)
        log.info("stitch: network %.2f s", time.perf_counter() - t_stitch)

    with stage(timings, "达标评价 / standards", 7, total, report, memory):
        comp, compliance, gaps = pl.analyse_standards(scenario, rules, comp, fac, coverage, zones, taxonomy, circles_table, report,
                                                      one_plus_n=one_plus_n)

    siting_results: list = []
    pairs = None
    if scenario.siting:
        with stage(timings, "选址建议 / siting", 8, total, report, memory):
            pairs = stitch.stitch_pairs(results, fac)
            siting_results = _siting(scenario, jobs, comp, fac, compliance.table, execute, report)

    with stage(timings, "街道汇总 / sub-district summary", total, total, report, memory):
        zone_table = summarise_zones(comp, comp["zone_id"], coverage, zones, fac, fac["zone_id"])
        comp = comp.assign(zone_name=comp["zone_id"].map(zone_table["name"]))

    timings["total"] = round(time.perf_counter() - t_start, 3)
    return pl.RunResult(
        scenario=scenario, crs=crs, network=network, layers=layers.layer_set, compounds=comp, facilities=fac, zones=zones,
        coverage=coverage, zone_table=zone_table, taxonomy=taxonomy, timings=timings, peak_rss_mib=memory,
        census_unplaced=layers.census_unplaced, warnings=warnings_, zone_overlaps=layers.zone_overlaps, isochrones=isochrones,
        compliance=compliance, gaps=gaps, circles=circles_table, siting=siting_results, pairs=pairs,
        isolated_points={"compounds": int(comp_isolated.sum()), "facilities": int(fac_isolated.sum())},
        partitions=_table(jobs, outcomes, owner), one_plus_n=one_plus_n,
    )


def _siting(scenario: Scenario, jobs: list[PartitionJob], comp, fac, compliance: pd.DataFrame, execute, report) -> list:
    """Every ``[[siting]]`` task on every partition (candidates inside it, demand of its own compounds), numbered over
    the run in task order, then partition order, then rank; each site says which partition chose it."""
    from planner.siting.problem import user_candidates

    # a task's own candidate layer is read here once: the workers may not see the client's files
    candidates = {t.name: user_candidates(t, jobs[0].crs) for t in scenario.siting if t.candidates is not None}
    siting_jobs = []
    for job in jobs:
        rows = comp.loc[job.compounds.index].copy()  # no compound is rejected after planning: all are there
        demand = [c for c in DEMAND_COLUMNS if c in rows.columns]
        rows.loc[~np.asarray(job.compounds_owned, dtype=bool), demand] = 0
        f = fac.loc[job.facilities.index[job.facilities.index.isin(fac.index)]]  # less those rejected as isolated
        siting_jobs.append((f"siting-{job.id}", SitingJob(job, rows, f, compliance, candidates)))
    outcomes = execute(run_siting, siting_jobs)
    solved = _results(jobs, outcomes)
    ordered = []
    for t in range(len(scenario.siting)):
        for job, tasks in zip(jobs, solved, strict=True):
            res = tasks[t]
            ordered.append(replace(res, sites=res.sites.assign(partition=job.name)))
    results = list(number_sites(ordered))
    for res in results:
        sm = res.summary
        report(f"    {res.task.name}（{res.sites['partition'].iloc[0] if len(res.sites) else ''}）：{len(res.sites)} 处，求解状态 "
               f"{sm['status']} / {len(res.sites)} sites, status {sm['status']}")
    return results


def _drawn(fac, categories, taxonomy) -> np.ndarray:
    """The facilities whose walking areas the map draws: analysed, of a group of ISOCHRONE_GROUPS (养老, 托育)."""
    groups = fac["category"].map(lambda c: taxonomy[c].group if c in taxonomy else "").to_numpy()
    return fac["category"].isin(categories).to_numpy() & np.isin(groups, pl.ISOCHRONE_GROUPS)


def _isochrone_cell(scenario: Scenario, fac, categories, taxonomy) -> float | None:
    """The grid cell (metres) the single run would draw its city-scale 养老/托育 areas at: their extent is the
    facilities' plus the longest walk (:data:`planner.analysis.isochrones.GRID_CELLS` cells over it)."""
    from planner.analysis.isochrones import GRID_CELLS

    pts = fac.geometry.to_numpy()[_drawn(fac, categories, taxonomy)]
    if not len(pts):
        return None
    x0, y0, x1, y1 = shapely.total_bounds(pts)
    grow = 2 * (max(scenario.threshold_m(scenario.coverage_minutes, g) for g in pl.ISOCHRONE_GROUPS) + 40.0)
    return float(np.sqrt((x1 - x0 + grow) * (y1 - y0 + grow) / GRID_CELLS))


def _each_isochrone(fac, categories, taxonomy) -> bool:
    """Whether the run draws each 养老/托育 facility's own area (:data:`planner.pipeline.FACILITY_ISOCHRONES_MAX`)."""
    return 0 < int(_drawn(fac, categories, taxonomy).sum()) <= pl.FACILITY_ISOCHRONES_MAX


def _results(jobs: list[PartitionJob], outcomes: list) -> list[PartitionResult]:
    """The results, or :class:`PartitionsFailed` naming every partition that failed and why."""
    failed = []
    for job, out in zip(jobs, outcomes, strict=True):
        if out.error is not None:
            failed.append((job.id, job.name, out.error))
        elif isinstance(out.value, PartitionFailure):
            failed.append((job.id, job.name, f"{out.value.kind}: {out.value.message}"))
    if failed:
        raise PartitionsFailed(failed, len(jobs) - len(failed))
    return [o.value for o in outcomes]


def _check_pieces(results: list[PartitionResult], scenario: Scenario) -> None:
    """The small-piece rule is the single run's only when the longest piece is ≥ PIECE_FACTOR × min_piece_m."""
    p = scenario.network.min_piece_m
    longest = max((r.stats.get("largest_piece_m", 0.0) for r in results), default=0.0)
    if p > 0 and longest < PIECE_FACTOR * p:
        raise NetworkError(
            f"各分区所见最长的连通路网只有 {longest / 1000:.1f} km，不足 {PIECE_FACTOR * p / 1000:.0f} km，无法确认孤立小片的判定与单机一致；请不用 "
            f"--workers 运行，或把 [network] min_piece_m 调小 / the longest connected piece any partition saw is {longest / 1000:.1f} km, under "
            f"{PIECE_FACTOR * p / 1000:.0f} km: the small-piece rule cannot be shown to match the single run's; run without --workers "
            "or lower [network] min_piece_m"
        )


# a piece's steps on its worker (partitions.csv: seconds of each)
STEPS = ("network", "snap", "coverage", "isochrones", "circles_pairs", "streets")


def _table(jobs: list[PartitionJob], outcomes: list, owner: dict) -> pd.DataFrame:
    """partitions.csv: one row per partition."""
    rows = []
    for job, out in zip(jobs, outcomes, strict=True):
        p = job.part
        st = out.value.stats
        rows.append({
            "partition": job.id, "name": job.name, "compounds": int((owner["compounds"] == p).sum()),
            "facilities": int((owner["facilities"] == p).sum()), "zones": int((owner["zones"] == p).sum()),
            "compounds_read": len(job.compounds), "facilities_read": len(job.facilities),
            "ways_loaded": st["ways_loaded"], "nodes_loaded": st["nodes_loaded"], "edges_loaded": st["edges_loaded"],
            "edges_owned": st["edges_owned"], "seconds": round(float(out.seconds), 3),
            **{f"{step}_s": st["seconds_by_step"].get(step, 0.0) for step in STEPS}, "peak_rss_mib": st["peak_rss_mib"],
            "worker": out.worker, "attempts": int(out.attempts), "status": "ok",
        })
    return pd.DataFrame(rows)
