"""Siting suggestions for a run: candidates → coverage problem → exact MILP → one explanation per site.

Takes the run's reach (gates and facilities snapped once), compounds, facilities, 街道 and compliance, and for each
``[[siting]]`` task of the scenario returns the suggested sites, what each newly serves and which 街道 rules it
fixes, the solver's status and bound, demand no candidate can reach, and the coverage curve. The problems are built
in :mod:`planner.siting.problem`, solved here, and explained in :mod:`planner.siting.explain`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import schema
from planner.engine.reach import catchments
from planner.network.points import Reach
from planner.settings import SitingSpec
from planner.siting.explain import coverage_curve, describe_sites, explain_sites, site_catchments, task_summary
from planner.siting.models import (
    pair_facilities,
    reduce_problem,
    solve_capacitated,
    solve_lscp,
    solve_mclp,
    solve_pmedian,
)
from planner.siting.problem import SitingInputs, SitingProblem, build_problems, compound_pairs, user_candidates

__all__ = ["SitingResult", "SitingInputs", "suggest_sites", "solve_problem", "pair_elderly_childcare", "pairing_distances",
           "pairs_from_distances", "number_sites"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SitingResult:
    """Suggested sites of one task and its record.

    sites
        One row per site in the order chosen (``rank``), numbered run-wide (``no``), metric CRS: see
        :func:`planner.siting.explain.explain_sites` and :func:`~planner.siting.explain.describe_sites`.
    catchments
        Each site's walking catchment at the task's radius (``no``, ``rank``, ``demand``, ``radius_m``,
        ``reached_km``, geometry), metric CRS.
    """

    task: SitingSpec
    sites: gpd.GeoDataFrame
    curve: pd.DataFrame
    summary: dict
    unreachable: pd.DataFrame = field(default_factory=pd.DataFrame)
    catchments: gpd.GeoDataFrame | None = None


def suggest_sites(tasks: Sequence[SitingSpec], inputs: SitingInputs) -> Iterator[SitingResult]:
    """Run the siting tasks (see :class:`planner.settings.SitingSpec`) of a run, yielding each result, in order,
    as soon as it is solved. The candidates of all tasks are generated and snapped before the first is solved.

    Sites are numbered ``no`` = 1 … N over all tasks (tasks in scenario order, then rank): the number on the map's
    symbol and in every text ("建议点 3")."""
    problems = build_problems([t for t in tasks if t.model != "hubs"], inputs)

    def solved() -> Iterator[SitingResult]:
        for task in tasks:
            yield solve_hubs(task, inputs) if task.model == "hubs" else solve_problem(next(problems))

    yield from number_sites(solved())


def solve_hubs(task: SitingSpec, inputs: SitingInputs) -> SitingResult:
    """A ``model = "hubs"`` task (1+N 托育 hubs, :mod:`planner.siting.hubs`) on the run's 1+N model."""
    from planner.errors import ScenarioError
    from planner.siting.hubs import hub_sites

    if inputs.one_plus_n is None:
        raise ScenarioError(f"[[siting]] {task.name}：model = \"hubs\" 需要托育机构（1+N 模型）/ model = \"hubs\" needs childcare "
                            "facilities (the 1+N model)")
    user = None
    if task.candidates is not None:
        given = (inputs.user_candidates or {}).get(task.name)
        user = given if given is not None else user_candidates(task, inputs.reach.network.crs)
    sites, summary = hub_sites(task, inputs.reach, inputs.facilities, inputs.zones, inputs.one_plus_n, user=user)
    return SitingResult(task=task, sites=sites, curve=pd.DataFrame(), summary=summary, catchments=None)


def number_sites(results: Iterable[SitingResult]) -> Iterator[SitingResult]:
    """``results`` (solved, in the run's order) with their sites numbered ``no`` = 1 … N over all of them and their
    texts written (:func:`~planner.siting.explain.describe_sites`); the catchments carry the same numbers."""
    first = 1
    for res in results:
        sites = describe_sites(res.sites, first) if len(res.sites) else res.sites
        catch = res.catchments
        if catch is not None:
            catch = catch.copy()
            if "no" in catch.columns:
                catch = catch.drop(columns="no")
            catch.insert(0, "no", (catch["rank"].to_numpy(dtype=np.int64) + first - 1) if len(catch) else np.zeros(0, np.int64))
        first += len(res.sites)
        yield replace(res, sites=sites, catchments=catch)


def solve_problem(problem: SitingProblem) -> SitingResult:
    """Solve one task's problem with its model, then explain the chosen sites."""
    task = problem.task
    reduced, _, kept = reduce_problem(problem.cover, dominance=task.model in ("mclp", "lscp", "combined"))
    details: dict = {}
    if task.model in ("mclp", "combined"):
        sol = solve_mclp(reduced, task.k, time_limit=task.time_limit_s)
        chosen = kept[sol.chosen]
    elif task.model == "lscp":
        target = max(0.0, task.coverage_target_pct / 100 * problem.demand_total - problem.demand_before)
        sol = solve_lscp(reduced, target, time_limit=task.time_limit_s)
        chosen = kept[sol.chosen]
    elif task.model == "capacitated":
        sol, chosen, details = _solve_capacitated(problem)
    else:  # pmedian over existing (fixed) + candidates
        sol, chosen, details = _solve_pmedian(problem)

    sites = explain_sites(problem, chosen)
    catchments = site_catchments(problem, chosen)
    curve = pd.DataFrame()
    if task.curve_k and task.model in ("mclp", "combined"):
        curve = coverage_curve(reduced, task, problem.demand_before, problem.demand_total)
    summary = task_summary(problem, sol, reduced, sites, details)
    log.info("siting %s: %s, %d sites, objective %s", task.name, sol.status, len(sites), summary["objective"])
    return SitingResult(task=task, sites=sites, curve=curve, summary=summary, unreachable=problem.unreachable,
                        catchments=catchments)


def _solve_capacitated(problem: SitingProblem):
    """Places within reach towards ``need_per_1000`` (less what E2SFCA access already provides), ``capacity`` per site."""
    task, cand, compounds = problem.task, problem.candidates, problem.inputs.compounds
    within = problem.pairs[problem.pairs["d"] <= problem.radius]
    base = compounds["population"].fillna(0).to_numpy(dtype=float)
    need = base * task.need_per_1000 / 1000
    access_col = {"childcare": schema.CHILDCARE_ACCESS}.get(task.category)
    if access_col and access_col in compounds:
        need = np.clip(need - base * compounds[access_col].fillna(0).to_numpy() / 1000, 0, None)
    cap = cand["capacity"].fillna(task.capacity_per_site).to_numpy(dtype=float)
    sol = solve_capacitated(within["c"].to_numpy(), within["s"].to_numpy(), need, cap, task.k, time_limit=task.time_limit_s,
                            zone_of_site=cand["zone_id"].astype(str).to_numpy(), required_zones=problem.required)
    details = {"places_needed": round(float(need.sum()), 1), "places_served": round(sol.objective, 1),
               "places_still_missing": round(float(need.sum()) - sol.objective, 1)}
    cand["places_served"] = sol.details.get("per_site", np.zeros(len(cand)))
    return sol, sol.chosen, details


def _solve_pmedian(problem: SitingProblem):
    """Least mean walking distance to the nearest site, existing facilities fixed open, over pairs within 2 × radius."""
    task, inputs, radius = problem.task, problem.inputs, problem.radius
    n_g, n_ex, n_comp = inputs.reach.n_gates, len(problem.existing), len(inputs.compounds)
    demand = inputs.compounds[task.demand].fillna(0).to_numpy(dtype=float)
    e_s, e_t, e_d = catchments(problem.graph, np.arange(n_g, n_g + n_ex), np.arange(n_g), limit=2 * radius)
    ep = compound_pairs(e_s, e_t, e_d, inputs.gate_owner)
    pairs = problem.pairs
    allp = pd.concat([ep.assign(site=ep["s"]), pairs.assign(site=pairs["s"] + n_ex)], ignore_index=True)
    allp = allp[allp["d"] <= 2 * radius]
    served = np.zeros(n_comp, dtype=bool)
    served[allp["c"].to_numpy()] = True
    ok = served & (demand > 0)
    remap = -np.ones(n_comp, dtype=np.int64)
    remap[ok] = np.arange(int(ok.sum()))
    allp = allp[ok[allp["c"].to_numpy()]]
    sol = solve_pmedian(remap[allp["c"].to_numpy()], allp["site"].to_numpy(), allp["d"].to_numpy(), demand[ok],
                        n_ex + len(problem.candidates), np.arange(n_ex), task.k, time_limit=task.time_limit_s)
    details = {
        "mean_distance_m": round(sol.objective, 1),
        "demand_without_any_site_within_2r": int((~served & (demand > 0)).sum()),
    }
    return sol, sol.chosen - n_ex, details


def pair_elderly_childcare(facilities: gpd.GeoDataFrame, reach: Reach, limit_m: float) -> pd.DataFrame:
    """Pair each 养老 facility with a 托育 facility by walking distance (通政发〔2022〕40号: 按照距离优先的原则结对),
    as a least-total-distance assignment; pairs farther than ``limit_m`` are not made.

    ``facilities`` are the run's facilities, row ``i`` being the point ``reach.facilities[i]``; the distances are
    measured on a graph of these two groups only (no other point splits their streets).
    """
    is_eld, is_cc = pairing_groups(facilities)
    eld, cc = facilities[is_eld], facilities[is_cc]
    if not len(eld) or not len(cc):
        return pairs_from_distances(eld, cc, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    return pairs_from_distances(eld, cc, *pairing_distances(facilities, reach, limit_m))


def pairing_groups(facilities: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the 养老 and the 托育 facilities that :func:`pair_elderly_childcare` pairs."""
    is_eld = facilities["category"].isin(["elderly_centre", "elderly_station", "elderly_home"]).to_numpy()
    return is_eld, (facilities["category"] == "childcare").to_numpy()


def pairing_distances(facilities: pd.DataFrame, reach: Reach, limit_m: float,
                      sources: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(养老 row among the 养老 facilities, 托育 row among the 托育, metres) within ``limit_m``, on a graph of these two groups
    only (no other point splits their streets); from the 养老 facilities of ``sources`` (a mask over ``facilities``)."""
    is_eld, is_cc = pairing_groups(facilities)
    n_e, n_c = int(is_eld.sum()), int(is_cc.sum())
    src = np.arange(n_e) if sources is None else np.flatnonzero(np.asarray(sources, dtype=bool)[is_eld])
    if not n_e or not n_c or not len(src):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    graph = reach.graph_of(np.r_[reach.facilities[is_eld], reach.facilities[is_cc]])
    s, t, d = catchments(graph, src, np.arange(n_e, n_e + n_c), limit=limit_m)
    return src[s] if len(s) else s, t, d


def pairs_from_distances(eld: pd.DataFrame, cc: pd.DataFrame, s: np.ndarray, t: np.ndarray, d: np.ndarray) -> pd.DataFrame:
    """The least-total-distance pairing of ``eld`` and ``cc`` from their (row, row, metres) distances."""
    if not len(eld) or not len(cc):
        return pd.DataFrame(columns=["elderly_id", "elderly_name", "childcare_id", "childcare_name", "dist_m"])
    dist = np.full((len(eld), len(cc)), np.inf)
    dist[s, t] = d
    rows, cols = pair_facilities(dist)
    return pd.DataFrame({
        "elderly_id": eld["id"].to_numpy()[rows], "elderly_name": eld["name"].to_numpy()[rows],
        "childcare_id": cc["id"].to_numpy()[cols], "childcare_name": cc["name"].to_numpy()[cols],
        "dist_m": np.round(dist[rows, cols], 1),
    }).sort_values("dist_m", kind="stable").reset_index(drop=True)
