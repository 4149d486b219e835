"""Siting suggestions for a run: candidates → coverage problem → exact MILP → one explanation per site.

Takes the run's network, compounds (with their gates), facilities, 街道 and compliance, and for each
``[[siting]]`` task of the scenario returns the suggested sites, what each newly serves and which 街道 rules it
fixes, the solver's status and bound, demand no candidate can reach, and the coverage curve.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.analysis.standards import rules_for
from planner.engine.reach import build_reach_graph, catchments, nearest_distance
from planner.engine.snap import snap_points
from planner.io.categories import Taxonomy
from planner.network.build import WalkNetwork
from planner.settings import SitingSpec
from planner.siting.candidates import generate_candidates
from planner.siting.models import (
    CoverProblem,
    greedy_max_cover,
    pair_facilities,
    reduce_problem,
    solve_capacitated,
    solve_lscp,
    solve_mclp,
    solve_pmedian,
)

__all__ = ["SitingResult", "suggest_sites", "pair_elderly_childcare"]

log = logging.getLogger(__name__)

GROUPS = ("population", "age_60_plus", "age_0_3")


@dataclass(frozen=True)
class SitingResult:
    """Suggested sites of one task (``sites``: one row per site in the order chosen, metric CRS) and its record."""

    task: SitingSpec
    sites: gpd.GeoDataFrame
    curve: pd.DataFrame
    summary: dict
    unreachable: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class _Service:
    """One service a new site provides: its category, demand group, radius and who is served already."""

    category: str
    label: str
    demand: str
    radius: float
    covered_before: np.ndarray  # compound is within ``radius`` of an existing facility of ``category``
    ex_best: np.ndarray  # walking metres from each compound to the nearest existing facility of ``category``
    cover_rules: list
    required: tuple[str, ...]


def _required_zones(task, cat, rules, zones, compliance, existing) -> tuple[str, ...]:
    """街道 that must get a site: a failing per-街道 count rule of this category, else those without any of it."""
    if not (task.every_zone and zones is not None and len(zones)):
        return ()
    count_rules = {r.id for r in rules if r.kind == "zone_count"}
    if compliance is not None and count_rules:
        failing = compliance[(compliance["rule_id"].isin(count_rules)) & (compliance["status"] == "fail")]
        return tuple(sorted(set(failing["subdistrict"].astype(str)) & set(zones.index.astype(str))))
    have = set(existing["zone_id"].astype(str))
    return tuple(sorted(z for z in zones.index.astype(str) if z not in have))


def _existing_best(network, gates, gate_owner, existing, n_comp, limit, max_snap_m):
    """Walking metres (≤ ``limit``, else inf) from each compound's nearest gate to the nearest ``existing`` facility,
    and the reach graph of gates (first) and those facilities."""
    pts = np.concatenate([gates, existing.geometry.to_numpy()])
    graph = build_reach_graph(network, snap_points(network, pts, max_snap_m=max_snap_m))
    n_g = len(gates)
    s, t, d = catchments(graph, np.arange(n_g, n_g + len(existing)), np.arange(n_g), limit=limit)
    pairs = _compound_pairs(s, t, d, gate_owner)
    best = np.full(n_comp, np.inf)
    np.minimum.at(best, pairs["c"].to_numpy(), pairs["d"].to_numpy())
    return best, graph


def _compound_pairs(src, tgt, d, owner: np.ndarray) -> pd.DataFrame:
    """Gate-level catchment pairs → (site, compound) with the nearest gate's distance."""
    frame = pd.DataFrame({"s": src, "c": owner[tgt], "d": d})
    return frame.groupby(["s", "c"], as_index=False, sort=True)["d"].min()


def suggest_sites(
    task: SitingSpec,
    *,
    network: WalkNetwork,
    compounds: gpd.GeoDataFrame,
    gates: np.ndarray,
    gate_owner: np.ndarray,
    facilities: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame | None,
    compliance: pd.DataFrame | None,
    preset: str,
    overrides: dict,
    radius_default_m: float,
    max_snap_m: float,
    taxonomy: Taxonomy,
) -> SitingResult:
    """Run one siting task (see :class:`planner.scenario.SitingSpec`)."""
    cat = task.category
    label = taxonomy[cat].zh
    radius = task.radius_m or radius_default_m
    rules = [r for r in rules_for(preset, overrides) if cat in r.categories]
    cover_rules = [r for r in rules if r.kind == "zone_coverage"]
    limit = max([radius] + [r.radius_m for r in cover_rules if r.radius_m])
    existing = facilities[facilities["category"] == cat]
    n_comp = len(compounds)
    n_g = len(gates)

    required = _required_zones(task, cat, rules, zones, compliance, existing)
    ex_best, graph = _existing_best(network, gates, gate_owner, existing, n_comp, limit, max_snap_m)
    covered_before = ex_best <= radius
    services = [_Service(cat, label, task.demand, radius, covered_before, ex_best, cover_rules, required)]
    if task.model == "combined":  # 老幼复合: the partner service shares every new site
        p_cat = str(task.partner)
        p_radius = task.partner_radius_m or radius
        p_rules = [r for r in rules_for(preset, overrides) if p_cat in r.categories]
        p_cover_rules = [r for r in p_rules if r.kind == "zone_coverage"]
        p_existing = facilities[facilities["category"] == p_cat]
        limit = max([limit, p_radius] + [r.radius_m for r in p_cover_rules if r.radius_m])
        p_required = _required_zones(task, p_cat, p_rules, zones, compliance, p_existing)
        p_best, _ = _existing_best(network, gates, gate_owner, p_existing, n_comp, limit, max_snap_m)
        services.append(_Service(p_cat, taxonomy[p_cat].zh, task.partner_demand, p_radius, p_best <= p_radius, p_best, p_cover_rules, p_required))
        required = tuple(sorted(set(required) | set(p_required)))
        label = f"{label}+{taxonomy[p_cat].zh}"

    # candidates
    if task.candidates is not None:
        from planner.io.readers import read_layer

        cand = read_layer(task.candidates, what="[[siting]].candidates").to_crs(network.crs)
        cand = cand[cand.geometry.notna() & ~cand.geometry.is_empty].copy()
        cand["geometry"] = cand.geometry.representative_point()
        name_col = next((c for c in ("name", "名称", "地址") if c in cand.columns), None)
        cap_col = next((c for c in ("capacity", "容量", "托位", "床位") if c in cand.columns), None)
        cand = gpd.GeoDataFrame(
            {
                "id": [f"C{i + 1:04d}" for i in range(len(cand))],
                "name": cand[name_col].astype(str).to_numpy() if name_col else [f"候选点 {i + 1}" for i in range(len(cand))],
                "source": "user",
                "capacity": pd.to_numeric(cand[cap_col], errors="coerce").to_numpy() if cap_col else np.nan,
            },
            geometry=cand.geometry.to_numpy(),
            crs=network.crs,
        )
    else:
        gap = np.logical_or.reduce([~sv.covered_before for sv in services])
        uncovered = np.flatnonzero(gap & compounds["reachable"].to_numpy(dtype=bool))
        unc_gates = np.flatnonzero(np.isin(gate_owner, uncovered))
        cand = generate_candidates(
            network, graph, unc_gates, compounds, uncovered, zones, required,
            radius_m=radius, spacing_m=task.candidate_spacing_m, crs=network.crs,
        )
        cand["capacity"] = np.nan
    cand = cand.reset_index(drop=True)
    if zones is not None and len(zones):
        from planner.analysis.zones import assign_zones

        cand["zone_id"] = assign_zones(cand.set_index(cand["id"]), zones).to_numpy()
    else:
        cand["zone_id"] = "合计"

    # candidates on the same graph as gates and existing facilities
    pts2 = np.concatenate([gates, existing.geometry.to_numpy(), cand.geometry.to_numpy()])
    snapped2 = snap_points(network, pts2, max_snap_m=max_snap_m)
    graph2 = build_reach_graph(network, snapped2)
    c_pos = np.arange(n_g + len(existing), len(pts2))
    cand["reachable"] = snapped2.reachable[c_pos]
    s, t, d = catchments(graph2, c_pos, np.arange(n_g), limit=max(limit, 2 * radius if task.model == "pmedian" else limit))
    pairs = _compound_pairs(s, t, d, gate_owner)
    near_exist, _ = nearest_distance(graph2, np.arange(n_g, n_g + len(existing)), c_pos)
    cand["nearest_existing_m"] = near_exist

    # one block of demand rows per service (two for 老幼复合): who is not yet served, and which candidates reach them
    blocks, weights, n_unreach, dem_total, dem_before = [], [], [], 0.0, 0.0
    for sv in services:
        dem = compounds[sv.demand].fillna(0).to_numpy(dtype=float)
        w_sv = np.where(sv.covered_before, 0.0, dem)
        near = pairs[pairs["d"] <= sv.radius]
        blocks.append(sp.csr_matrix((np.ones(len(near), dtype=bool), (near["c"].to_numpy(), near["s"].to_numpy())), shape=(n_comp, len(cand))))
        weights.append(w_sv)
        n_unreach.append((w_sv > 0) & ~(np.diff(blocks[-1].indptr) > 0))
        dem_total += float(dem.sum())
        dem_before += float(dem[sv.covered_before].sum())
    demand = compounds[task.demand].fillna(0).to_numpy(dtype=float)
    weight = np.concatenate(weights)
    within = pairs[pairs["d"] <= radius]
    cover = sp.vstack(blocks, format="csr")
    problem = CoverProblem(cover=cover, weight=weight, zone_of_candidate=cand["zone_id"].astype(str).to_numpy(), required_zones=required)
    unreachable = compounds.loc[np.logical_or.reduce(n_unreach), ["name", "zone_id", task.demand]].assign(reason="无候选点在步行范围内 / no candidate within reach")
    total_demand, before = dem_total, dem_before

    reduced, groups, kept = reduce_problem(problem, dominance=task.model in ("mclp", "lscp", "combined"))
    details: dict = {}
    if task.model in ("mclp", "combined"):
        sol = solve_mclp(reduced, task.k, time_limit=task.time_limit_s)
        chosen = kept[sol.chosen]
    elif task.model == "lscp":
        target = max(0.0, task.coverage_target_pct / 100 * total_demand - before)
        sol = solve_lscp(reduced, target, time_limit=task.time_limit_s)
        chosen = kept[sol.chosen]
    elif task.model == "capacitated":
        base = compounds["population"].fillna(0).to_numpy(dtype=float)
        need = base * task.need_per_1000 / 1000
        access_col = {"childcare": "access_childcare_places_per_1000"}.get(cat)
        if access_col and access_col in compounds:
            need = np.clip(need - base * compounds[access_col].fillna(0).to_numpy() / 1000, 0, None)
        cap = cand["capacity"].fillna(task.capacity_per_site).to_numpy(dtype=float)
        sol = solve_capacitated(within["c"].to_numpy(), within["s"].to_numpy(), need, cap, task.k, time_limit=task.time_limit_s,
                                zone_of_site=cand["zone_id"].astype(str).to_numpy(), required_zones=required)
        chosen = sol.chosen
        details = {"places_needed": round(float(need.sum()), 1), "places_served": round(sol.objective, 1),
                   "places_still_missing": round(float(need.sum()) - sol.objective, 1)}
        cand["served"] = sol.details.get("per_site", np.zeros(len(cand)))
    else:  # pmedian over existing (fixed) + candidates
        e_s, e_t, e_d = catchments(graph2, np.arange(n_g, n_g + len(existing)), np.arange(n_g), limit=2 * radius)
        ep = _compound_pairs(e_s, e_t, e_d, gate_owner)
        n_ex = len(existing)
        allp = pd.concat([ep.assign(site=ep["s"]), pairs.assign(site=pairs["s"] + n_ex)], ignore_index=True)
        allp = allp[allp["d"] <= 2 * radius]
        served = np.zeros(n_comp, dtype=bool)
        served[allp["c"].to_numpy()] = True
        ok = served & (demand > 0)
        remap = -np.ones(n_comp, dtype=np.int64)
        remap[ok] = np.arange(int(ok.sum()))
        allp = allp[ok[allp["c"].to_numpy()]]
        sol = solve_pmedian(remap[allp["c"].to_numpy()], allp["site"].to_numpy(), allp["d"].to_numpy(), demand[ok],
                            n_ex + len(cand), np.arange(n_ex), task.k, time_limit=task.time_limit_s)
        chosen = sol.chosen - n_ex
        details = {"mean_distance_m": round(sol.objective, 1), "demand_without_any_site_within_2r": int((~served & (demand > 0)).sum())}

    sites = _explain(chosen, cand, pairs, compounds, services, required, label)
    curve = _curve(reduced, task, before, total_demand) if task.curve_k and task.model in ("mclp", "combined") else pd.DataFrame()
    summary = {
        "name": task.name,
        "category": cat,
        "model": task.model,
        "k": task.k,
        "demand": task.demand,
        "radius_m": radius,
        "partner": task.partner if task.model == "combined" else None,
        "partner_demand": task.partner_demand if task.model == "combined" else None,
        "partner_radius_m": services[1].radius if len(services) > 1 else None,
        "required_zones": list(required),
        "sites": len(sites),
        "status": sol.status,
        "solver_message": str(sol.solver_message),
        "objective": None if not np.isfinite(sol.objective) else round(float(sol.objective), 3),
        "bound": None if sol.bound is None else round(float(sol.bound), 3),
        "gap": None if sol.gap is None else round(float(sol.gap), 6),
        "greedy_objective": None if sol.greedy_objective is None else round(float(sol.greedy_objective), 3),
        # greedy's own gap against the solver's proven bound (how far the fallback could be from the optimum)
        "greedy_gap": None if sol.greedy_objective is None or sol.bound is None or sol.bound <= 0 or task.model not in ("mclp", "combined")
        else round(max(0.0, (float(sol.bound) - float(sol.greedy_objective)) / float(sol.bound)), 6),
        "seconds": round(sol.seconds, 3),
        "candidates": len(cand),
        "instance": [problem.n_demand, problem.n_candidates],
        "reduced": [reduced.n_demand, reduced.n_candidates] if task.model in ("mclp", "lscp", "combined") else None,
        "demand_total": total_demand,
        "demand_covered_before": before,
        "demand_covered_after": before + float(sites["marginal_gain"].sum()) if len(sites) and task.model != "capacitated" else (
            before + float(sites["new_" + task.demand].sum()) if len(sites) else before),
        "unreachable_demand": len(unreachable),
        **sol.details,
        **details,
    }
    summary.pop("assigned", None)
    summary.pop("per_site", None)
    log.info("siting %s: %s, %d sites, objective %s", task.name, sol.status, len(sites), summary["objective"])
    return SitingResult(task=task, sites=sites, curve=curve, summary=summary, unreachable=unreachable)


def _explain(chosen, cand, pairs, compounds, services, required, label):
    """One row per chosen site, in the order chosen: who it newly serves (per service), which 街道 rules it fixes."""
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
        if zid in required and zid not in zone_done:
            # name what the 街道 lacks (for 老幼复合 one or both services)
            lacking = [sv.label for sv in services if zid in sv.required] if len(services) > 1 else [label]
            fixes.append(f"补齐该街道的{'和'.join(lacking or [label])}（每个街道至少 1 所）")
            zone_done.add(zid)
        new_by_service, gain = [], 0.0
        for i, sv in enumerate(services):
            reach = mine[mine["d"] <= sv.radius]["c"].to_numpy()
            new = reach[~covered[i][reach]]
            new_by_service.append(new)
            gain += float(compounds[sv.demand].fillna(0).to_numpy()[new].sum())
            before_best = best[i].copy()
            np.minimum.at(best[i], mine["c"].to_numpy(), mine["d"].to_numpy())
            in_zone = zone_ids == zid
            for rule in sv.cover_rules:
                grp = compounds[rule.group].fillna(0).to_numpy()
                tot = grp[in_zone].sum()
                if tot <= 0:
                    continue
                share0 = grp[in_zone & (before_best <= rule.radius_m)].sum() / tot * 100
                share1 = grp[in_zone & (best[i] <= rule.radius_m)].sum() / tot * 100
                if share1 > share0 + 1e-9:
                    verdict = "达标" if share0 < rule.value <= share1 else f"{share0:.0f}% → {share1:.0f}%"
                    fixes.append(f"{rule.zh}：{verdict}")
            covered[i][reach] = True
        new_any = np.unique(np.concatenate(new_by_service))
        newly = compounds.iloc[new_any]

        def group_sum(col: str) -> float:
            # a group served by one of the services counts where that service is new; otherwise where any is
            picks = [n for sv, n in zip(services, new_by_service, strict=True) if sv.demand == col]
            idx = np.unique(np.concatenate(picks)) if picks else new_any
            return float(compounds[col].fillna(0).iloc[idx].sum())

        rows.append(
            {
                "rank": rank,
                "site_id": site["id"],
                "name": site["name"],
                "category": services[0].category,
                "partner": services[1].category if len(services) > 1 else "",  # 老幼复合: the service sharing the site
                "zone_id": zid,
                "source": site["source"],
                "new_population": group_sum("population"),
                "new_age_60_plus": group_sum("age_60_plus"),
                "new_age_0_3": group_sum("age_0_3"),
                "new_compounds": len(new_any),
                "compounds": "、".join(newly["name"].astype(str).head(12)) + ("…" if len(new_any) > 12 else ""),
                "marginal_gain": gain,
                "nearest_existing_m": None if not np.isfinite(site["nearest_existing_m"]) else round(float(site["nearest_existing_m"]), 1),
                "fixes": "；".join(fixes),
                "capacity": site.get("capacity"),
                "geometry": site.geometry,
            }
        )
    if not rows:
        return gpd.GeoDataFrame({"rank": []}, geometry=gpd.GeoSeries([], crs=cand.crs), crs=cand.crs)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=cand.crs)


def _curve(reduced: CoverProblem, task: SitingSpec, before: float, total: float) -> pd.DataFrame:
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


def pair_elderly_childcare(facilities: gpd.GeoDataFrame, network: WalkNetwork, max_snap_m: float, limit_m: float) -> pd.DataFrame:
    """Pair each 养老 facility with a 托育 facility by walking distance (通政发〔2022〕40号: 按照距离优先的原则结对),
    as a least-total-distance assignment; pairs farther than ``limit_m`` are not made."""
    eld = facilities[facilities["category"].isin(["elderly_centre", "elderly_station", "elderly_home"])]
    cc = facilities[facilities["category"] == "childcare"]
    if not len(eld) or not len(cc):
        return pd.DataFrame(columns=["elderly_id", "elderly_name", "childcare_id", "childcare_name", "dist_m"])
    pts = np.concatenate([eld.geometry.to_numpy(), cc.geometry.to_numpy()])
    snapped = snap_points(network, pts, max_snap_m=max_snap_m)
    graph = build_reach_graph(network, snapped)
    s, t, d = catchments(graph, np.arange(len(eld)), np.arange(len(eld), len(pts)), limit=limit_m)
    dist = np.full((len(eld), len(cc)), np.inf)
    dist[s, t] = d
    rows, cols = pair_facilities(dist)
    return pd.DataFrame({
        "elderly_id": eld["id"].to_numpy()[rows], "elderly_name": eld["name"].to_numpy()[rows],
        "childcare_id": cc["id"].to_numpy()[cols], "childcare_name": cc["name"].to_numpy()[cols],
        "dist_m": np.round(dist[rows, cols], 1),
    }).sort_values("dist_m", kind="stable").reset_index(drop=True)
