"""What a solved siting task means: who each chosen site newly serves, the 街道 rules it fixes, the coverage curve,
and the task's record (solver status, bound, demand covered before and after)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import schema
from planner.settings import SitingSpec
from planner.siting.models import CoverProblem, greedy_max_cover, solve_mclp
from planner.siting.problem import Service, SitingProblem

__all__ = ["explain_sites", "coverage_curve", "task_summary"]


def explain_sites(problem: SitingProblem, chosen: np.ndarray) -> gpd.GeoDataFrame:
    """One row per chosen site (candidate positions ``chosen``), in the order chosen: who it newly serves (per
    service) and which 街道 rules it fixes."""
    cand, pairs, services = problem.candidates, problem.pairs, problem.services
    compounds = problem.inputs.compounds
    covered = [sv.covered_before.copy() for sv in services]
    best = [sv.ex_best.copy() for sv in services]
    zone_done: set[str] = set()
    zone_ids = compounds["zone_id"].astype(str).to_numpy()
    rows = []
    for rank, j in enumerate(chosen, start=1):
        site = cand.iloc[int(j)]
        mine = pairs[pairs["s"] == j]
        fixes = []
        zid = str(site["zone_id"])
        if "served" in cand.columns and pd.notna(site.get("served")):
            fixes.append(f"可提供 {site['served']:.0f} 个托位/床位给步行范围内尚缺的需求")
        if zid in problem.required and zid not in zone_done:
            # name what the 街道 lacks (for 老幼复合 one or both services)
            lacking = [sv.label for sv in services if zid in sv.required] if len(services) > 1 else [problem.label]
            fixes.append(f"补齐该街道的{'和'.join(lacking or [problem.label])}（每个街道至少 1 所）")
            zone_done.add(zid)
        new_by_service, gain = [], 0.0
        for i, sv in enumerate(services):
            reach = mine[mine["d"] <= sv.radius]["c"].to_numpy()
            new = reach[~covered[i][reach]]
            new_by_service.append(new)
            gain += float(compounds[sv.demand].fillna(0).to_numpy()[new].sum())
            before_best = best[i].copy()
            np.minimum.at(best[i], mine["c"].to_numpy(), mine["d"].to_numpy())
            fixes += _rule_fixes(sv, compounds, zone_ids == zid, before_best, best[i])
            covered[i][reach] = True
        rows.append(_site_row(rank, site, zid, services, compounds, new_by_service, gain, fixes))
    if not rows:
        return gpd.GeoDataFrame({"rank": []}, geometry=gpd.GeoSeries([], crs=cand.crs), crs=cand.crs)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=cand.crs)


def _rule_fixes(sv: Service, compounds: pd.DataFrame, in_zone: np.ndarray, before_best: np.ndarray,
                after_best: np.ndarray) -> list[str]:
    """The service's 街道 coverage rules whose share in the site's 街道 rises: "达标" or "a% → b%"."""
    fixes = []
    for rule in sv.cover_rules:
        grp = compounds[rule.group].fillna(0).to_numpy()
        tot = grp[in_zone].sum()
        if tot <= 0:
            continue
        share0 = grp[in_zone & (before_best <= rule.radius_m)].sum() / tot * 100
        share1 = grp[in_zone & (after_best <= rule.radius_m)].sum() / tot * 100
        if share1 > share0 + 1e-9:
            verdict = "达标" if share0 < rule.value <= share1 else f"{share0:.0f}% → {share1:.0f}%"
            fixes.append(f"{rule.zh}：{verdict}")
    return fixes


def _site_row(rank: int, site: pd.Series, zid: str, services: list[Service], compounds: pd.DataFrame,
              new_by_service: list[np.ndarray], gain: float, fixes: list[str]) -> dict:
    """The sites-table row of one chosen site."""
    new_any = np.unique(np.concatenate(new_by_service))
    newly = compounds.iloc[new_any]

    def group_sum(col: str) -> float:
        # a group served by one of the services counts where that service is new; otherwise where any is
        picks = [n for sv, n in zip(services, new_by_service, strict=True) if sv.demand == col]
        idx = np.unique(np.concatenate(picks)) if picks else new_any
        return float(compounds[col].fillna(0).iloc[idx].sum())

    return {
        "rank": rank,
        "site_id": site["id"],
        "name": site["name"],
        "category": services[0].category,
        "partner": services[1].category if len(services) > 1 else "",  # 老幼复合: the service sharing the site
        "zone_id": zid,
        "source": site["source"],
        schema.newly_served("population"): group_sum("population"),
        schema.newly_served("age_60_plus"): group_sum("age_60_plus"),
        schema.newly_served("age_0_3"): group_sum("age_0_3"),
        "new_compounds": len(new_any),
        "compounds": "、".join(newly["name"].astype(str).head(12)) + ("…" if len(new_any) > 12 else ""),
        "marginal_gain": gain,
        "nearest_existing_m": (
            None if not np.isfinite(site["nearest_existing_m"]) else round(float(site["nearest_existing_m"]), 1)
        ),
        "fixes": "；".join(fixes),
        "capacity": site.get("capacity"),
        "geometry": site.geometry,
    }


def coverage_curve(reduced: CoverProblem, task: SitingSpec, before: float, total: float) -> pd.DataFrame:
    """Coverage after k = 1…K new sites: the exact optimum per k (and its status) beside greedy's."""
    g_order, g_gains = greedy_max_cover(reduced, task.curve_k, forced_zones=reduced.required_zones)
    rows = []
    for k in range(max(1, len(reduced.required_zones)), task.curve_k + 1):
        sol = solve_mclp(reduced, k, time_limit=task.time_limit_s)
        rows.append({
            "k": k,
            "covered": before + sol.objective,
            "covered_share": (before + sol.objective) / total if total else np.nan,
            "status": sol.status,
            "greedy_covered": before + float(g_gains[:k].sum()),
        })
    return pd.DataFrame(rows)


def task_summary(problem: SitingProblem, sol, reduced: CoverProblem, sites: gpd.GeoDataFrame, details: dict) -> dict:
    """The task's record in summary.json: settings, solver status and bound, demand covered before and after."""
    task, services = problem.task, problem.services
    before, total_demand = problem.demand_before, problem.demand_total
    summary = {
        "name": task.name,
        "category": task.category,
        "model": task.model,
        "k": task.k,
        "demand": task.demand,
        "radius_m": problem.radius,
        "partner": task.partner if task.model == "combined" else None,
        "partner_demand": task.partner_demand if task.model == "combined" else None,
        "partner_radius_m": services[1].radius if len(services) > 1 else None,
        "required_zones": list(problem.required),
        "sites": len(sites),
        "status": sol.status,
        "solver_message": str(sol.solver_message),
        "objective": None if not np.isfinite(sol.objective) else round(float(sol.objective), 3),
        "bound": None if sol.bound is None else round(float(sol.bound), 3),
        "gap": None if sol.gap is None else round(float(sol.gap), 6),
        "greedy_objective": None if sol.greedy_objective is None else round(float(sol.greedy_objective), 3),
        # greedy's own gap against the solver's proven bound (how far the fallback could be from the optimum)
        "greedy_gap": (
            None if sol.greedy_objective is None or sol.bound is None or sol.bound <= 0 or task.model not in ("mclp", "combined")
            else round(max(0.0, (float(sol.bound) - float(sol.greedy_objective)) / float(sol.bound)), 6)
        ),
        "seconds": round(sol.seconds, 3),
        "candidates": len(problem.candidates),
        "instance": [problem.cover.n_demand, problem.cover.n_candidates],
        "reduced": [reduced.n_demand, reduced.n_candidates] if task.model in ("mclp", "lscp", "combined") else None,
        "demand_total": total_demand,
        "demand_covered_before": before,
        "demand_covered_after": before + float(sites["marginal_gain"].sum()) if len(sites) and task.model != "capacitated" else (
            before + float(sites[schema.newly_served(task.demand)].sum()) if len(sites) else before),
        "unreachable_demand": len(problem.unreachable),
        **sol.details,
        **details,
    }
    summary.pop("assigned", None)
    summary.pop("per_site", None)
    return summary
