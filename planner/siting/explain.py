"""What a solved siting task means: where each chosen site is, who it newly serves (each group with the radius it was
counted within), the 街道 rules it fixes, its walking catchment, the coverage curve and the task's record (solver
status, bound, demand covered before and after).

:func:`site_numbers`, :func:`site_title` and :func:`site_explanation` turn a site row into the texts every output
shows (CLI, sites.csv, report.html, report.xlsx, the map's popup), in Chinese or English, from the same figures.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import schema
from planner.analysis.isochrones import isochrones_by
from planner.labels import tr
from planner.settings import SitingSpec
from planner.siting.models import CoverProblem, greedy_max_cover, solve_mclp
from planner.siting.places import zone_names
from planner.siting.problem import Service, SitingProblem

__all__ = [
    "GROUPS", "explain_sites", "coverage_curve", "task_summary", "site_title", "site_numbers", "site_explanation",
    "describe_sites", "site_catchments", "new_radius_column",
]

#: the groups of people whose newly served numbers every site carries (``new_<group>``, ``new_<group>_radius_m``)
GROUPS = ("population", "age_60_plus", "age_0_3")


def new_radius_column(group: str) -> str:
    """sites.csv: the walking radius (metres) within which ``new_<group>`` was counted."""
    return f"{schema.newly_served(group)}_radius_m"


def explain_sites(problem: SitingProblem, chosen: np.ndarray) -> gpd.GeoDataFrame:
    """One row per chosen site (candidate positions ``chosen``), in the order chosen: where it is (街道, nearest
    street), who it newly serves (per service, each within its own radius) and which 街道 rules it fixes (the
    ``fixes`` text in Chinese, ``fixes_en`` in English).

    The texts a person reads (``title``, ``numbers``, ``explanation``) need the run-wide site number and are added
    by :func:`describe_sites`.
    """
    cand, pairs, services = problem.candidates, problem.pairs, problem.services
    compounds = problem.inputs.compounds
    covered = [sv.covered_before.copy() for sv in services]
    best = [sv.ex_best.copy() for sv in services]
    zone_done: set[str] = set()
    zone_ids = compounds["zone_id"].astype(str).to_numpy()
    demand = {g: compounds[g].fillna(0).to_numpy(dtype=float) for g in {*GROUPS, *(sv.demand for sv in services)} if g in compounds}
    unit = "site.unit.places" if problem.task.category == "childcare" else "site.unit.beds"
    rows = []
    for rank, j in enumerate(chosen, start=1):
        site = cand.iloc[int(j)]
        mine = pairs[pairs["s"] == j]
        fixes: list[tuple[str, dict]] = []  # (label key, its fields): one text per language
        zid = str(site["zone_id"])
        places = site.get("places_served") if "places_served" in cand.columns else None
        if places is not None and pd.notna(places):
            fixes.append(("site.places", {"n": f"{places:.0f}", "unit": unit}))
        if zid in problem.required and zid not in zone_done:
            # name what the 街道 lacks (for 老幼复合 one or both services)
            lacking = [sv for sv in services if zid in sv.required] if len(services) > 1 else []
            fixes.append(("site.fix_zone", {"what": lacking or services[:1], "label": problem.label}))
            zone_done.add(zid)
        new_by_service = []
        for i, sv in enumerate(services):
            reach = mine[mine["d"] <= sv.radius]["c"].to_numpy()
            new = reach[~covered[i][reach]]
            new_by_service.append(new)
            before_best = best[i].copy()
            np.minimum.at(best[i], mine["c"].to_numpy(), mine["d"].to_numpy())
            fixes += _rule_fixes(sv, compounds, zone_ids == zid, before_best, best[i])
            covered[i][reach] = True
        rows.append(_site_row(rank, site, zid, problem, demand, new_by_service, fixes))
    if not rows:
        return gpd.GeoDataFrame({"rank": []}, geometry=gpd.GeoSeries([], crs=cand.crs), crs=cand.crs)
    sites = gpd.GeoDataFrame(rows, geometry="geometry", crs=cand.crs)
    sites.insert(sites.columns.get_loc("zone_id") + 1, "zone_name", zone_names(sites["zone_id"], problem.inputs.zones).to_numpy())
    return sites


def _rule_fixes(sv: Service, compounds: pd.DataFrame, in_zone: np.ndarray, before_best: np.ndarray,
                after_best: np.ndarray) -> list[tuple[str, dict]]:
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
            if share0 < rule.value <= share1:
                fixes.append(("site.fix_pass", {"rule": rule}))
            else:
                fixes.append(("site.fix_rise", {"rule": rule, "a": f"{share0:.0f}", "b": f"{share1:.0f}"}))
    return fixes


def _fix_text(key: str, fields: dict, lang: str) -> str:
    """One fix in ``lang``: rules and services named in that language."""
    out = {}
    for name, value in fields.items():
        if name == "rule":
            out[name] = value.label(lang)
        elif name == "unit":
            out[name] = tr(value, lang)
        elif name == "what":
            names = [sv.label if lang == "zh" else (sv.label_en or sv.label) for sv in value]
            out[name] = tr("site.and", lang).join(names)
        elif name != "label":
            out[name] = value
    return tr(key, lang, **out)


def _site_row(rank: int, site: pd.Series, zid: str, problem: SitingProblem, demand: dict[str, np.ndarray],
              new_by_service: list[np.ndarray], fixes: list[tuple[str, dict]]) -> dict:
    """The sites-table row of one chosen site.

    Each service's demand group is counted over the compounds newly within that service's radius; every other group
    over the compounds newly within the first (the task's own) service's radius. ``served`` (and ``partner_served``
    for 老幼复合) is the task's objective per site: ``marginal_gain`` is their sum.
    """
    services = problem.services
    new_any = np.unique(np.concatenate(new_by_service))
    newly = problem.inputs.compounds.iloc[new_any]
    counted: dict[str, tuple[float, float]] = {}  # group -> (newly served, radius)
    for sv, new in zip(services, new_by_service, strict=True):
        if sv.demand not in counted:
            counted[sv.demand] = (float(demand[sv.demand][new].sum()), sv.radius)
    for g in GROUPS:
        if g not in counted:
            counted[g] = (float(demand[g][new_by_service[0]].sum()) if g in demand else np.nan, services[0].radius)
    main = services[0]
    served = float(demand[main.demand][new_by_service[0]].sum())
    partner = services[1] if len(services) > 1 else None
    partner_served = float(demand[partner.demand][new_by_service[1]].sum()) if partner is not None else np.nan
    places = site.get("places_served") if "places_served" in problem.candidates.columns else None
    return {
        "rank": rank,
        "site_id": site["id"],
        "name": site["name"],
        "category": main.category,
        "partner": partner.category if partner is not None else "",  # 老幼复合: the service sharing the site
        "zone_id": zid,
        "road_name": str(site.get("road_name", "") or ""),
        "source": site["source"],
        "demand": main.demand,
        "radius_m": float(main.radius),
        "served": served,
        "partner_demand": partner.demand if partner is not None else "",
        "partner_radius_m": float(partner.radius) if partner is not None else np.nan,
        "partner_served": partner_served,
        **{schema.newly_served(g): counted[g][0] for g in GROUPS},
        **{new_radius_column(g): float(counted[g][1]) for g in GROUPS},
        "new_compounds": len(new_any),
        "compounds": "、".join(newly["name"].astype(str).head(12)) + ("…" if len(new_any) > 12 else ""),
        "marginal_gain": served + (partner_served if partner is not None else 0.0),
        "nearest_existing_m": (
            None if not np.isfinite(site["nearest_existing_m"]) else round(float(site["nearest_existing_m"]), 1)
        ),
        "places_served": float(places) if places is not None and pd.notna(places) else np.nan,
        "fixes": tr("site.sep", "zh").join(_fix_text(k, f, "zh") for k, f in fixes),
        "fixes_en": tr("site.sep", "en").join(_fix_text(k, f, "en") for k, f in fixes),
        "capacity": site.get("capacity"),
        "geometry": site.geometry,
    }


# ---- the texts a person reads: one function per text, the same figures in every output ---------------------------


def _count(value: object) -> str:
    return f"{float(value):,.0f}"


def _get(row, key: str, default=None):
    """A field of a site row (a pandas row, a namedtuple from ``itertuples`` or a dict)."""
    if isinstance(row, dict | pd.Series):  # a Series' attributes include its own ``name``: read its fields by key
        value = row.get(key, default)
        return default if value is None else value
    value = getattr(row, key, default)
    return default if value is None else value


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def site_title(row, lang: str = "zh") -> str:
    """"建议点 3 · 江海大道旁（南湖街道）" / "Site 3 · by 江海大道 (南湖街道)": the run-wide number, the candidate's own
    name when a user's layer named it, the nearest named street and the 街道 (each left out when unknown)."""
    head = tr("site.title", lang, no=int(_get(row, "no", _get(row, "rank", 0))))
    road, zone = _text(_get(row, "road_name", "")), _text(_get(row, "zone_name", ""))
    where = [tr("site.by_road", lang, road=road)] if road else []
    if zone:
        where.append(zone)
    source = _get(row, "source", "")
    own = _text(_get(row, "name", "")) if source == "user" else ""
    if source == "upgrade":  # 1+N hubs: a community childcare point upgraded to a hub
        own = tr("site.hub_upgrade", lang, name=_text(_get(row, "name", "")))
    sep = tr("site.where_sep", lang)
    if own:
        return f"{head} · {own}" + (tr("site.where", lang, where=sep.join(where)) if where else "")
    if not where:
        return head
    return f"{head} · {where[0]}" + (tr("site.where", lang, where=sep.join(where[1:])) if len(where) > 1 else "")


def site_numbers(row, lang: str = "zh") -> str:
    """Who a site newly serves, each group with the walking radius it was counted within: the task's demand first,
    then the other groups, the paired service's (老幼复合) last; a radius is repeated only where it differs from the
    task's. zh "新覆盖 60岁及以上 11,223 人（步行 1,005 m 内）；全部居民 34,952 人；0–3岁 568 人（步行 300 m 内）",
    en "newly serves 11,223 aged 60+ (within 1,005 m walk); 34,952 residents; 568 aged 0–3 (within 300 m walk)".

    ``row``: a row of a sites frame (pandas row, ``itertuples`` tuple or dict). The CLI, sites.csv (``numbers``),
    report.html, report.xlsx and the map's popup all show this text.
    """
    main, radius = _get(row, "demand", "population"), float(_get(row, "radius_m"))
    if main == "childcare_points":  # 1+N hubs: community childcare points newly guided
        return tr("site.hub_served", lang, n=_count(_get(row, "served")), r=_count(radius))
    parts = [tr("site.served_first", lang, group=tr(f"site.group.{main}", lang), n=_count(_get(row, "served")), r=_count(radius))]
    shown = {main}
    partner = _text(_get(row, "partner_demand", ""))
    order = [g for g in GROUPS if g != partner] + ([partner] if partner and partner not in shown else [])
    for g in order:
        if g in shown:
            continue
        shown.add(g)
        if g == partner:
            n, r = _get(row, "partner_served"), float(_get(row, "partner_radius_m"))
        else:
            n, r = _get(row, schema.newly_served(g)), float(_get(row, new_radius_column(g), radius))
        if n is None or (isinstance(n, float) and np.isnan(n)):
            continue
        group = tr(f"site.group.{g}", lang)
        if r != radius:
            parts.append(tr("site.served_more_r", lang, group=group, n=_count(n), r=_count(r)))
        else:
            parts.append(tr("site.served_more", lang, group=group, n=_count(n)))
    return tr("site.sep", lang).join(parts)


def site_explanation(row, lang: str = "zh") -> str:
    """The whole case for a site: its title, :func:`site_numbers`, the compounds newly served, the 街道 rules it
    fixes and the nearest existing facility of its kind."""
    stop = tr("site.stop", lang)
    parts = [site_numbers(row, lang)]
    n = int(_get(row, "new_compounds", 0) or 0)
    if n:
        parts.append(tr("site.compounds", lang, n=n, names=_text(_get(row, "compounds", ""))))
    fixes = _text(_get(row, "fixes" if lang == "zh" else "fixes_en", ""))
    if fixes:
        parts.append(fixes)
    near = _get(row, "nearest_existing_m")
    hub = _get(row, "demand", "") == "childcare_points"
    if near is not None and not pd.isna(near):
        parts.append(tr("site.hub_nearest" if hub else "site.nearest", lang, m=_count(near)))
    else:
        parts.append(tr("site.no_nearest", lang))
    text = stop.join(parts) + stop
    return tr("site.explanation", lang, title=site_title(row, lang), text=text.strip())


def describe_sites(sites: gpd.GeoDataFrame, first_no: int = 1) -> gpd.GeoDataFrame:
    """``sites`` (one task's, in rank order) numbered from ``first_no`` (``no``, first column) with their texts in
    Chinese and English: ``title``/``title_en``, ``numbers``/``numbers_en``, ``explanation``/``explanation_en``."""
    sites = sites.copy()
    if "no" in sites.columns:
        sites = sites.drop(columns="no")
    sites.insert(0, "no", np.arange(first_no, first_no + len(sites), dtype=np.int64))
    rows = sites.to_dict("records")
    for lang, suffix in (("zh", ""), ("en", "_en")):
        sites[f"title{suffix}"] = [site_title(r, lang) for r in rows]
        sites[f"numbers{suffix}"] = [site_numbers(r, lang) for r in rows]
        sites[f"explanation{suffix}"] = [site_explanation(r, lang) for r in rows]
    return sites


def site_catchments(problem: SitingProblem, chosen: np.ndarray, *, buffer_m: float = 40.0) -> gpd.GeoDataFrame:
    """Each chosen site's walking catchment at the task's radius: the area within ``buffer_m`` of the streets reached
    from the site (snapped like the candidates), one isochrone per site (``rank``, ``radius_m``, ``reached_km``,
    geometry; the network's metric CRS)."""
    crs = problem.inputs.reach.network.crs
    chosen = np.asarray(chosen, dtype=np.int64)
    if not len(chosen) or problem.snapped is None:
        return gpd.GeoDataFrame({"rank": [], "radius_m": [], "reached_km": []}, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    positions = problem.candidate_positions[chosen]
    sources = {str(rank): positions[rank - 1: rank] for rank in range(1, len(chosen) + 1)}
    drawn = isochrones_by(problem.inputs.reach.network, problem.graph, problem.snapped, sources, limit=problem.radius,
                          buffer_m=buffer_m)
    rows = [(int(key), round(length / 1000, 3), area) for key, length, area in drawn]
    return gpd.GeoDataFrame(
        {"rank": [r[0] for r in rows], "demand": problem.task.demand, "radius_m": float(problem.radius),
         "reached_km": [r[1] for r in rows]},
        geometry=[r[2] for r in rows], crs=crs,
    )


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
