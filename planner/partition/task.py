"""One partition on a worker: its network from its slice of ways, its points snapped, the searches of a run — the
single run's own functions — and the rows it owns handed back (:class:`PartitionResult`).

Runs in a worker process (or in the client for a run without a cluster); imports nothing of Dask. Bad input
(a :class:`~planner.errors.PlannerError`) becomes a :class:`PartitionFailure` that names the partition; anything
else is a bug and propagates.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import pandas as pd
import shapely

from planner.errors import PlannerError
from planner.io.categories import taxonomy_for
from planner.network.build import build_network
from planner.network.points import Reach
from planner.partition.types import PartitionFailure, PartitionJob, PartitionResult, SitingJob
from planner.pipeline import (
    category_radii,
    centre_format_distances,
    draw_isochrones,
    drop_isolated,
    group_limits,
    measure_coverage,
    one_plus_n_pairs,
    peak_rss_mib,
    snap_to_network,
)
from planner.siting.problem import build_problems
from planner.siting.suggest import SitingInputs, pairing_distances, pairing_groups, solve_problem

__all__ = ["run_partition", "run_siting", "DEMAND_COLUMNS"]

# the demand columns siting reads: zero for the compounds a partition does not own (their demand is another's)
DEMAND_COLUMNS = ("population", "households", "age_60_plus", "age_0_3")

log = logging.getLogger(__name__)


def run_partition(job: PartitionJob) -> PartitionResult | PartitionFailure:
    """The searches of ``job``'s partition; see the module docstring."""
    try:
        return _run(job)
    except PlannerError as exc:
        return PartitionFailure(job.id, job.name, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else repr(exc))


def _run(job: PartitionJob) -> PartitionResult:
    sc = job.scenario
    _check_version(job)
    _reset_peak()
    seconds: dict[str, float] = {}
    t = time.perf_counter()

    def step(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        seconds[name] = round(now - t, 3)
        t = now

    network = build_network(sc.network, job.crs, ways=job.ways, largest_m=job.largest_piece_m)
    step("network")
    comp, fac = job.compounds, job.facilities
    snap = snap_to_network(comp, fac, network, max_snap_m=sc.max_snap_m)
    fac_isolated = snap.isolated_facilities.copy()
    snap = drop_isolated(snap)
    step("snap")
    comp_s, fac_s, owner = snap.compounds, snap.facilities, snap.gate_owner
    fac_owned = np.asarray(job.facilities_owned, dtype=bool)[~fac_isolated]
    comp_owned = np.asarray(job.compounds_owned, dtype=bool)
    reach = Reach.build(network, snap.snapped, n_gates=len(owner), max_snap_m=sc.max_snap_m)
    taxonomy = taxonomy_for(sc)
    coverage = measure_coverage(sc, reach, owner, comp_s, fac_s, job.categories, taxonomy=taxonomy)
    step("coverage")
    isochrones = draw_isochrones(reach, fac_s, job.categories, taxonomy, group_limits(sc), sources=fac_owned,
                                 each=job.each_isochrone, cell_m=job.isochrone_cell_m)
    step("isochrones")
    cfd = centre_format_distances(reach, fac_s, taxonomy, sc.search_limit_m, centres=fac_owned)
    pairs = _pairs(fac_s, reach, sc.threshold_m(sc.coverage_minutes), fac_owned) if sc.siting else _no_pairs()
    hub_pairs = one_plus_n_pairs(sc, reach, fac_s, owned=fac_owned)  # 1+N: the owned points' hubs within reach
    step("circles_pairs")

    owned_ids = comp_s.index[comp_owned]
    catch = coverage.catchments
    catch = catch[catch["compound_id"].isin(owned_ids).to_numpy()].reset_index(drop=True)  # hashed: ids are text
    compounds = pd.DataFrame({
        "gates": comp_s["gates"].to_numpy()[comp_owned],
        "reachable": comp_s["reachable"].to_numpy()[comp_owned],
        "snap_distance_m": comp_s["snap_distance_m"].to_numpy()[comp_owned],
        "isolated": snap.isolated_compounds[comp_owned],
    }, index=owned_ids)
    fac_all_owned = np.asarray(job.facilities_owned, dtype=bool)
    facilities = pd.DataFrame({
        "reachable": _full(fac_s["reachable"].to_numpy(), fac_isolated, False)[fac_all_owned],
        "snap_distance_m": _full(fac_s["snap_distance_m"].to_numpy(), fac_isolated, np.nan)[fac_all_owned],
        "isolated": fac_isolated[fac_all_owned],
    }, index=fac.index[fac_all_owned])
    streets = _owned_streets(network, job)
    step("streets")
    st = network.streets
    stats = {
        "ways_loaded": len(job.ways), "nodes_loaded": int(st.n_nodes), "edges_loaded": int(st.n_edges),
        "edges_owned": int(len(streets["length"])), "seconds_by_step": seconds, "peak_rss_mib": _task_peak_mib(),
        "pid": os.getpid(), "largest_piece_m": float(network.pieces.length_m[0]) if network.pieces is not None and
        network.pieces.n_pieces else 0.0,
    }
    return PartitionResult(
        id=job.id, compounds=compounds, facilities=facilities, coverage=coverage.table.loc[owned_ids],
        catchments=catch, centre_distances=cfd, pairs=pairs, hub_pairs=hub_pairs, isochrones=isochrones, streets=streets, stats=stats,
        warnings=[str(w) for w in network.source.get("warnings", [])] + _shift(job, fac_s[fac_owned], network),
    )


def _check_version(job: PartitionJob) -> None:
    from planner import __version__

    if job.version and job.version != __version__:
        raise PlannerError(f"工作进程的 planner 版本 {__version__} 与客户端 {job.version} 不同，请安装同一版本 / this worker runs planner "
                           f"{__version__}, the client {job.version}: install the same version on every machine")


def _reset_peak() -> None:
    """Start this task's peak memory afresh (Linux: the process's high-water mark is reset; a worker runs many)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _task_peak_mib() -> float:
    """Peak resident memory since :func:`_reset_peak` (Linux ``VmHWM``), else the process's lifetime peak."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return peak_rss_mib()


def _shift(job: PartitionJob, owned, network) -> list[str]:
    """The GCJ-02/BD-09 shift check of the run (:func:`planner.pipeline.shift_warnings`) on this piece's facilities,
    named by the piece."""
    from planner.pipeline import shift_warnings

    found = shift_warnings(job.scenario, owned, network, lambda msg: None)
    return [f"{job.name}：{text}" for text in found]


def _full(values: np.ndarray, dropped: np.ndarray, fill) -> np.ndarray:
    """``values`` of the kept rows spread back over all rows (``dropped`` rows get ``fill``)."""
    out = np.full(len(dropped), fill, dtype=np.result_type(values.dtype, np.asarray(fill).dtype))
    out[~dropped] = values
    return out


def _no_pairs() -> pd.DataFrame:
    return pd.DataFrame({"elderly_id": pd.Series([], dtype=object), "childcare_id": pd.Series([], dtype=object),
                         "dist_m": pd.Series([], dtype=float)})


def _pairs(fac, reach: Reach, limit_m: float, owned: np.ndarray) -> pd.DataFrame:
    """The pairing distances from the owned 养老 facilities, by facility id."""
    s, t, d = pairing_distances(fac, reach, limit_m, sources=owned)
    is_eld, is_cc = pairing_groups(fac)
    return pd.DataFrame({"elderly_id": fac["id"].to_numpy()[is_eld][s], "childcare_id": fac["id"].to_numpy()[is_cc][t],
                         "dist_m": d})


def _owned_streets(network, job: PartitionJob) -> dict:
    """The edges this partition draws on the map: those whose first vertex lies in its own polygon, or, outside every
    partition's polygon, nearest to it (ties: the first partition). Arrays: ``coords`` (per vertex), ``offsets``,
    ``length``, ``highway``, ``name``."""
    st = network.streets
    first = st.coords[st.offsets[:-1]]
    cells = shapely.from_wkb(list(job.cells_wkb))
    inside = np.zeros((len(cells), len(first)), dtype=bool)
    for i, cell in enumerate(cells):
        shapely.prepare(cell)
        inside[i] = shapely.contains_xy(cell, first[:, 0], first[:, 1])
    owner = np.where(inside.any(axis=0), inside.argmax(axis=0), -1)
    loose = np.flatnonzero(owner < 0)
    if len(loose):
        pts = shapely.points(first[loose])
        dist = np.stack([shapely.distance(cell, pts) for cell in cells])
        owner[loose] = dist.argmin(axis=0)
    keep = np.flatnonzero(owner == job.position)
    counts = np.diff(st.offsets)[keep]
    starts = st.offsets[:-1][keep]
    idx = np.repeat(starts - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(int(counts.sum()))
    return {
        "coords": st.coords[idx], "offsets": np.r_[0, np.cumsum(counts)].astype(np.int64), "length": st.length[keep],
        "highway": np.asarray(network.highway)[keep], "name": np.asarray(network.name)[keep],
    }


def run_siting(job: SitingJob) -> list | PartitionFailure:
    """The ``[[siting]]`` tasks on one partition: candidates only inside its area, demand only of the compounds it owns;
    the solved results of each task (numbered by the client, :func:`planner.siting.suggest.number_sites`)."""
    try:
        return _site(job)
    except PlannerError as exc:
        p = job.piece
        return PartitionFailure(p.id, p.name, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else repr(exc))


def _site(job: SitingJob) -> list:
    from planner.analysis.standards import scenario_rules

    piece, sc = job.piece, job.piece.scenario
    _check_version(piece)
    network = build_network(sc.network, piece.crs, ways=piece.ways, largest_m=piece.largest_piece_m)
    snap = snap_to_network(job.compounds, job.facilities, network, max_snap_m=sc.max_snap_m)
    reach = Reach.build(network, snap.snapped, n_gates=len(snap.gate_owner), max_snap_m=sc.max_snap_m)
    inputs = SitingInputs(
        reach=reach, compounds=job.compounds, gate_owner=snap.gate_owner, facilities=job.facilities, zones=piece.zones,
        compliance=job.compliance, rules=scenario_rules(sc),
        radius_default_m=sc.threshold_m(sc.coverage_minutes), taxonomy=taxonomy_for(sc),
        radius_by_category=category_radii(sc, taxonomy_for(sc)),
        area=shapely.from_wkb(piece.area_wkb), user_candidates=job.candidates,
    )
    return [solve_problem(problem) for problem in build_problems(sc.siting, inputs)]
