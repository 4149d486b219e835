"""Siting model ``hubs`` (1+N 托育): where new hubs (综合托育服务中心) would complete the 1+N model.

The candidates are the run's community childcare points (upgrading one to a hub) and, when the task names a
candidate layer, its sites. The demand is the points the run's 1+N model (:mod:`planner.analysis.one_plus_n`) leaves
unassigned, and, when hubs guide only their own 县区, every 县区 without a hub (it must get one, where it has a
candidate). A new hub guides at most N unassigned points within the 1+N walk limit (its own 县区 only, when so
set); an upgraded point becomes a hub (no longer a point to guide). Existing assignments are kept.

MILP (HiGHS): max Σ xₑ − ε Σ dₑ xₑ − ½ Σ yⱼ  s.t.  xₑ ≤ yⱼ (pair e of site j), Σ_{e∋p} xₑ + y_p ≤ 1 per point,
Σ_{e∋j} xₑ ≤ N yⱼ, Σ yⱼ ≤ k, Σ_{j in 县区 D} yⱼ ≥ 1 for each required 县区; y binary. A hub is worth the points it
guides: the ½ per site opens none that guides nobody (unless a 县区 without a hub needs one) and none only to shorten
walks; ε = 1 / (2 · limit · (points + 1)) makes the distance only break ties between equal counts.
"""

from __future__ import annotations

import logging
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint

from planner import schema
from planner.analysis.one_plus_n import ROLE_POINT, OnePlusN
from planner.engine.reach import catchments, nearest_distance
from planner.labels import tr
from planner.network.points import snap_geometries
from planner.settings import SitingSpec
from planner.siting._highs import milp
from planner.siting.explain import GROUPS, new_radius_column
from planner.siting.places import nearest_road_names, zone_names

__all__ = ["HubCandidates", "hub_candidates", "hub_pairs", "choose_hubs", "hub_sites", "DEMAND"]

log = logging.getLogger(__name__)

DEMAND = "childcare_points"  # the ``demand`` of a hubs site: community childcare points, counted one each
HUB_RULES = ("childcare.one_plus_n.district_hub", "childcare.one_plus_n.coverage")
SITE_COST = 0.5  # per new hub, in points guided: a hub that guides nobody is not opened unless a 县区 needs one


class HubCandidates:
    """A hubs task's candidate sites (``id``, ``name``, ``source`` point/user, ``point_id`` of an upgraded point,
    ``zone_id``, ``district``, geometry) and the unassigned points they could guide."""

    def __init__(self, sites: gpd.GeoDataFrame, unassigned: pd.DataFrame):
        self.sites = sites
        self.unassigned = unassigned  # rows of the 1+N table: the points without a hub (reachable ones)


def hub_candidates(task: SitingSpec, facilities: gpd.GeoDataFrame, model: OnePlusN, zones: pd.DataFrame | None,
                   user: gpd.GeoDataFrame | None = None) -> HubCandidates:
    """The candidates of ``task``: every community childcare point of ``facilities``, then the ``user`` sites."""
    table = model.table.set_index("id")
    points = table[table["role"] == ROLE_POINT]
    fac = facilities.set_index(facilities["id"].astype(str))
    pts = fac.loc[points.index]
    own = gpd.GeoDataFrame({
        "id": [f"P:{i}" for i in points.index], "name": points["name"].to_numpy(), "source": "point",
        "point_id": points.index.to_numpy(), "zone_id": points["zone_id"].to_numpy(), "district": points["district"].to_numpy(),
    }, geometry=pts.geometry.to_numpy(), crs=facilities.crs)
    parts = [own]
    if user is not None and len(user):
        from planner.analysis.zones import place_in_zones

        u = user.reset_index(drop=True)
        zid = place_in_zones(u, zones).zone_id.astype(str) if zones is not None else pd.Series(schema.ALL_ZONES, index=u.index)
        district = zid.map(zones["district"].astype(str).to_dict()).fillna("") if model.has_district else pd.Series("", index=u.index)
        parts.append(gpd.GeoDataFrame({"id": u["id"].astype(str).to_numpy(), "name": u["name"].astype(str).to_numpy(),
                                       "source": "user", "point_id": "", "zone_id": zid.to_numpy(),
                                       "district": district.to_numpy()}, geometry=u.geometry.to_numpy(), crs=facilities.crs))
    sites = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=facilities.crs)
    unassigned = points[(points["status"] == "unassigned") & (points["reason_code"] != "unreachable")]
    return HubCandidates(sites, unassigned)


def hub_pairs(reach, facilities: gpd.GeoDataFrame, cand: HubCandidates, limit_m: float) -> tuple[pd.DataFrame, np.ndarray]:
    """(candidate row ``s``, unassigned point id ``point_id``, metres ``d``) within ``limit_m``, and each candidate's walk
    to the nearest existing hub; on a graph of the childcare facilities and the user sites only."""
    ids = facilities["id"].astype(str)
    cc = np.flatnonzero((facilities["category"] == "childcare").to_numpy())
    pos_of = pd.Series(np.arange(len(cc)), index=ids.to_numpy()[cc])
    user = cand.sites["source"].to_numpy() == "user"
    extra = snap_geometries(reach.network, cand.sites.geometry.to_numpy()[user], max_snap_m=reach.max_snap_m) if user.any() else None
    graph = reach.graph_of(reach.facilities[cc], extra)
    c_pos = np.empty(len(cand.sites), dtype=np.int64)
    c_pos[~user] = pos_of.loc[cand.sites["point_id"].to_numpy()[~user]].to_numpy()
    c_pos[user] = len(cc) + np.arange(int(user.sum()))
    t_ids = cand.unassigned.index.to_numpy()
    t_pos = pos_of.loc[t_ids].to_numpy()
    s, t, d = catchments(graph, c_pos, t_pos, limit=float(limit_m))
    pairs = pd.DataFrame({"s": s, "point_id": t_ids[t], "d": d})
    hub_ids = ids.to_numpy()[cc][facilities["hub"].fillna(False).to_numpy(dtype=bool)[cc]]
    near, _ = nearest_distance(graph, pos_of.loc[hub_ids].to_numpy(), c_pos, limit=np.inf) if len(hub_ids) else (
        np.full(len(c_pos), np.inf), None)
    return pairs, near


def choose_hubs(cand: HubCandidates, pairs: pd.DataFrame, *, k: int, n: int | None, same_district: bool,
                required: tuple[str, ...], limit_m: float, time_limit: float = 60.0) -> tuple[np.ndarray, pd.DataFrame, dict]:
    """The chosen candidate rows (in order of the points each guides, most first), the pairs taken (``s``,
    ``point_id``, ``d``) and the solver's record; the MILP of the module docstring."""
    t0 = time.perf_counter()
    sites = cand.sites
    pairs = pairs[pairs["point_id"].to_numpy() != sites["point_id"].to_numpy()[pairs["s"].to_numpy()]]  # no site guides itself
    if same_district:
        pairs = pairs[sites["district"].to_numpy()[pairs["s"].to_numpy()] == cand.unassigned.loc[pairs["point_id"], "district"].to_numpy()]
    pairs = pairs.sort_values(["s", "point_id"], kind="stable").reset_index(drop=True)
    m, e = len(sites), len(pairs)
    p_index = pd.Index(cand.unassigned.index)
    p_of_pair = p_index.get_indexer(pairs["point_id"].to_numpy())
    p_of_site = p_index.get_indexer(sites["point_id"].to_numpy())  # −1 for user sites and assigned points
    reachable_req = [r for r in required if (sites["district"] == r).any()]
    k_eff = max(k, len(reachable_req))
    n_pts = len(p_index)
    eps = 1.0 / (2.0 * max(limit_m, 1.0) * (n_pts + 1))
    c = np.r_[np.full(m, SITE_COST), -(1.0 - eps * pairs["d"].to_numpy())]
    s_col = pairs["s"].to_numpy()
    rows = []
    if e:
        link = sp.csr_array((np.r_[-np.ones(e), np.ones(e)], (np.r_[np.arange(e), np.arange(e)], np.r_[s_col, m + np.arange(e)])),
                            shape=(e, m + e))
        rows.append(LinearConstraint(link, -np.inf, 0))  # x_e − y_j ≤ 0
    if n_pts:
        own = np.flatnonzero(p_of_site >= 0)
        a = sp.csr_array((np.ones(len(own) + e), (np.r_[p_of_site[own], p_of_pair], np.r_[own, m + np.arange(e)])), shape=(n_pts, m + e))
        rows.append(LinearConstraint(a, -np.inf, 1))
    if n is not None and e:
        cap = sp.csr_array((np.r_[np.ones(e), -float(n) * np.ones(m)], (np.r_[s_col, np.arange(m)], np.r_[m + np.arange(e), np.arange(m)])),
                           shape=(m, m + e))
        rows.append(LinearConstraint(cap, -np.inf, 0))
    rows.append(LinearConstraint(sp.csr_array(np.r_[np.ones(m), np.zeros(e)][None, :]), 0, k_eff))
    for r in reachable_req:
        rows.append(LinearConstraint(sp.csr_array(np.r_[(sites["district"] == r).to_numpy(dtype=float), np.zeros(e)][None, :]), 1, np.inf))
    if m == 0 or k_eff == 0:
        return np.zeros(0, np.int64), pairs.iloc[:0], {"status": "optimal", "objective": 0.0, "bound": 0.0, "gap": 0.0,
                                                      "seconds": 0.0, "message": "no candidate", "k": k_eff}
    res = milp(c, integrality=np.r_[np.ones(m), np.zeros(e)], bounds=Bounds(0, 1), constraints=rows,
               options={"time_limit": time_limit, "mip_rel_gap": 0.0})
    if res.x is None:
        return np.zeros(0, np.int64), pairs.iloc[:0], {"status": "infeasible", "objective": None, "bound": None, "gap": None,
                                                      "seconds": round(time.perf_counter() - t0, 3), "message": res.message, "k": k_eff}
    chosen = np.flatnonzero(res.x[:m] > 0.5)
    taken = pairs[res.x[m:] > 0.5]
    gain = np.bincount(taken["s"].to_numpy(), minlength=m)[chosen]
    chosen = chosen[np.lexsort((chosen, -gain))]
    status = {0: "optimal", 1: "time_limit"}.get(res.status, "other")
    info = {"status": status, "objective": round(-float(res.fun) + SITE_COST * len(chosen), 3), "bound": None if res.mip_dual_bound is None else
            round(-float(res.mip_dual_bound), 3), "gap": res.mip_gap, "seconds": round(time.perf_counter() - t0, 3),
            "message": res.message, "k": k_eff}
    return chosen, taken, info


def hub_sites(task: SitingSpec, reach, facilities: gpd.GeoDataFrame, zones: pd.DataFrame | None, model: OnePlusN,
              *, user: gpd.GeoDataFrame | None = None):
    """The :class:`~planner.siting.suggest.SitingResult` fields of a hubs task: sites (explained), curve, summary."""
    cand = hub_candidates(task, facilities, model, zones, user)
    pairs, near = hub_pairs(reach, facilities, cand, model.limit_m)
    d = model.districts
    required = tuple(d.loc[d["hubs"] == 0, "area_id"].astype(str)) if model.same_district else ()
    chosen, taken, info = choose_hubs(cand, pairs, k=task.k, n=model.n, same_district=model.same_district,
                                      required=required, limit_m=model.limit_m, time_limit=task.time_limit_s)
    sites = explain_hubs(cand, chosen, taken, near, model, required, reach.network, zones)
    city = model.city
    summary = {
        "name": task.name, "category": task.category, "model": task.model, "k": task.k, "demand": DEMAND,
        "radius_m": model.limit_m, "n": model.n, "same_district": model.same_district, "required_zones": list(required),
        "sites": len(sites), "status": info["status"], "solver_message": str(info["message"]), "objective": info["objective"],
        "bound": info["bound"], "gap": info["gap"], "seconds": info["seconds"], "candidates": len(cand.sites),
        "demand_total": int(city["points"]), "demand_covered_before": int(city["assigned"]),
        "demand_covered_after": int(city["assigned"]) + int(sites["served"].sum()) if len(sites) else int(city["assigned"]),
    }
    log.info("siting %s (hubs): %d sites, %s", task.name, len(sites), info["status"])
    return sites, summary


def explain_hubs(cand: HubCandidates, chosen: np.ndarray, taken: pd.DataFrame, near: np.ndarray, model: OnePlusN,
                 required: tuple[str, ...], network, zones) -> gpd.GeoDataFrame:
    """One sites row per chosen hub, with the columns of :func:`planner.siting.explain.explain_sites`: ``served`` the
    points it would newly guide (an upgraded unassigned point counts itself), ``fixes`` which points and rules."""
    sites = cand.sites
    crs = sites.crs
    if not len(chosen):
        return gpd.GeoDataFrame({"rank": []}, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    city = model.city
    points, assigned = int(city["points"]), int(city["assigned"])
    lacking = set(required)
    roads = nearest_road_names(network, sites.geometry.to_numpy()[chosen])
    names = cand.unassigned["name"].astype(str)
    rows = []
    for rank, j in enumerate(chosen.tolist(), start=1):
        site = sites.iloc[j]
        guided = taken.loc[taken["s"] == j, "point_id"].to_numpy()
        served = len(guided)
        fixes_zh, fixes_en = [], []
        if len(guided):
            shown = "、".join(names.loc[guided].head(8)) + ("…" if len(guided) > 8 else "")
            fixes_zh.append(tr("site.hub_guides", "zh", n=len(guided), names=shown))
            fixes_en.append(tr("site.hub_guides", "en", n=len(guided), names=shown))
        if site["district"] in lacking:
            lacking.discard(site["district"])
            fixes_zh.append(tr("site.hub_district", "zh", district=site["district"], rule=HUB_RULES[0]))
            fixes_en.append(tr("site.hub_district", "en", district=site["district"], rule=HUB_RULES[0]))
        # an upgraded point is a hub now: one point fewer (and one fewer assigned, if a hub guided it before)
        after_points = points - int(site["source"] == "point")
        after_assigned = assigned + served - int(site["source"] == "point" and site["point_id"] not in cand.unassigned.index)
        if points and after_points and (served or after_points != points):
            a, b = assigned / points * 100, after_assigned / after_points * 100
            fixes_zh.append(tr("site.hub_coverage", "zh", a=f"{a:.0f}", b=f"{b:.0f}", rule=HUB_RULES[1]))
            fixes_en.append(tr("site.hub_coverage", "en", a=f"{a:.0f}", b=f"{b:.0f}", rule=HUB_RULES[1]))
        points, assigned = after_points, after_assigned
        upgrade = site["source"] == "point"
        rows.append({
            "rank": rank, "site_id": site["id"], "name": site["name"], "category": "childcare", "partner": "",
            "zone_id": str(site["zone_id"]), "road_name": str(roads[rank - 1] or ""), "source": "upgrade" if upgrade else "user",
            "demand": DEMAND, "radius_m": float(model.limit_m), "served": float(served), "partner_demand": "",
            "partner_radius_m": np.nan, "partner_served": np.nan,
            **{schema.newly_served(g): np.nan for g in GROUPS}, **{new_radius_column(g): np.nan for g in GROUPS},
            "new_compounds": 0, "compounds": "", "marginal_gain": float(served),
            "nearest_existing_m": None if not np.isfinite(near[j]) else round(float(near[j]), 1), "places_served": np.nan,
            "fixes": tr("site.sep", "zh").join(fixes_zh), "fixes_en": tr("site.sep", "en").join(fixes_en), "capacity": np.nan,
            "geometry": site.geometry,
        })
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    out.insert(out.columns.get_loc("zone_id") + 1, "zone_name", zone_names(out["zone_id"], zones).to_numpy())
    return out
