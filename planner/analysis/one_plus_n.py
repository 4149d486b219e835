"""1+N 托育: every community childcare point (点) assigned to one hub (综合托育服务中心) by walking distance.

通政发〔2022〕40号 §三(二)3 asks for one hub guiding N community points, "全市1+N托育模式全覆盖", and at least one
hub in each 县（市、区） (``childcare.model.1_plus_n`` in STANDARDS.md, conf L). Here:

* :func:`hub_point_pairs` — every (point, hub) pair within the walk limit, one bounded search per hub on the
  run's reach graph (:func:`planner.engine.reach.catchments`); a partitioned run asks each piece for the pairs of
  the points it owns and solves once on the client;
* :func:`assign_points` — the assignment: most points assigned, then least total walking distance, at most N points
  per hub (see :func:`solve_assignment` for the method);
* :func:`guide_points` — the whole model: pairs filtered to one 县区 when asked, solved, each point's status and the
  reason it stays unassigned, and the summary per 县区, per 街道 and for the city (:class:`OnePlusN`).

Only facilities of category ``childcare`` take part: those flagged ``hub`` are hubs, the others points.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import connected_components

from planner.engine.reach import ReachGraph, catchments
from planner.schema import ALL_ZONES, CITY, OUTSIDE_ZONE
from planner.settings import OnePlusNSpec

__all__ = [
    "OnePlusN", "ROLE_HUB", "ROLE_POINT", "REASONS", "AREA_COLUMNS", "TABLE_COLUMNS", "roles", "hub_point_pairs",
    "solve_assignment", "assign_points", "guide_points",
]

log = logging.getLogger(__name__)

CATEGORY = "childcare"
ROLE_HUB, ROLE_POINT = "枢纽", "点"
# why a point stays unassigned (reason_code → 中文 / English), in the order they are checked
REASONS = {
    "unreachable": ("不在步行路网上", "not on the walk network"),
    "no_hub_in_district": ("所在县区没有托育综合服务中心", "no hub in its 县区"),
    "no_hub_within": ("{d} 米内没有托育综合服务中心", "no hub within {d} m"),
    "hubs_full": ("步行范围内的托育综合服务中心已满（每个指导 {n} 个）", "the hubs within reach are full ({n} points each)"),
}
TABLE_COLUMNS = ["id", "name", "role", "hub_id", "hub_name", "dist_m", "status", "reason_code", "reason", "zone_id",
                 "zone_name", "district", "points_within", "guided", "over_n"]
AREA_COLUMNS = ["level", "area_id", "area_name", "district", "hubs", "points", "assigned", "unassigned", "unreachable",
                "no_hub_in_district", "no_hub_within", "hubs_full", "hubs_over_n", "coverage_pct", "dist_min_m",
                "dist_median_m", "dist_mean_m", "dist_max_m"]
LEVEL_CITY, LEVEL_DISTRICT, LEVEL_ZONE = "全市", "县区", "街道"


@dataclass(frozen=True)
class OnePlusN:
    """The 1+N model of a run.

    table
        One row per childcare facility in facility order (:data:`TABLE_COLUMNS`): hubs (``role`` 枢纽, with the
        points within their reach ``points_within``, those they guide ``guided`` and the excess over N ``over_n``)
        and points (``role`` 点, with their ``hub_id``, ``hub_name`` and walking ``dist_m`` when assigned, else
        ``reason_code`` and ``reason``).
    areas
        The city, each 县区 (when the zones layer has them) and each 街道 (:data:`AREA_COLUMNS`).
    n, limit_m, same_district, has_district
        The settings as applied: N (None: unlimited), the walk limit (metres), whether hubs guide only their own
        县区, and whether the zones layer gives 县区 at all.
    solver
        How the assignment was solved (see :func:`solve_assignment`).
    """

    table: pd.DataFrame
    areas: pd.DataFrame
    n: int | None
    limit_m: float
    same_district: bool
    has_district: bool
    solver: dict = field(default_factory=dict)

    @property
    def districts(self) -> pd.DataFrame:
        """The 县区 rows of :attr:`areas` (empty without 县区)."""
        return self.areas[self.areas["level"] == LEVEL_DISTRICT]

    @property
    def city(self) -> pd.Series:
        """The city row of :attr:`areas`."""
        return self.areas[self.areas["level"] == LEVEL_CITY].iloc[0]

    def summary(self) -> dict:
        """summary.json's account: settings, counts and the solver."""
        c = self.city
        return {
            "n": self.n, "max_distance_m": self.limit_m, "same_district": self.same_district, "hubs": int(c["hubs"]),
            "points": int(c["points"]), "assigned": int(c["assigned"]), "unassigned": int(c["unassigned"]),
            "unassigned_by_reason": {k: int(c[k]) for k in ("unreachable", "no_hub_in_district", "no_hub_within", "hubs_full")},
            "hubs_over_n": None if pd.isna(c["hubs_over_n"]) else int(c["hubs_over_n"]),
            "districts_without_hub": [str(d) for d in self.districts.loc[self.districts["hubs"] == 0, "area_name"]],
            # the solver's method and counts; not its seconds (summary.json is the same on every run)
            "solver": {k: v for k, v in self.solver.items() if k != "seconds"}, "files": ["one_plus_n.csv", "one_plus_n_areas.csv"],
        }


def roles(facilities: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Masks over ``facilities`` of the 1+N hubs and points: childcare facilities with and without the ``hub`` flag."""
    childcare = (facilities["category"] == CATEGORY).to_numpy(dtype=bool)
    flag = facilities["hub"].fillna(False).to_numpy(dtype=bool) if "hub" in facilities else np.zeros(len(facilities), bool)
    return childcare & flag, childcare & ~flag


def hub_point_pairs(graph: ReachGraph, positions: np.ndarray, facilities: pd.DataFrame, *, limit_m: float,
                    owned: np.ndarray | None = None) -> pd.DataFrame:
    """Every (point, hub) pair within ``limit_m`` metres of walking (inclusive): ``point_id``, ``hub_id``, ``dist_m``,
    sorted by point then hub (facility order).

    ``positions``: the point position in ``graph`` of each row of ``facilities``; ``owned``: a mask over
    ``facilities`` — only the points it marks (a partition's own) are searched for."""
    hubs, points = roles(facilities)
    if owned is not None:
        points = points & np.asarray(owned, dtype=bool)
    h_rows, p_rows = np.flatnonzero(hubs), np.flatnonzero(points)
    positions = np.asarray(positions, dtype=np.int64)
    s, t, d = catchments(graph, positions[h_rows], positions[p_rows], limit=float(limit_m))
    order = np.lexsort((h_rows[s], p_rows[t]))
    ids = facilities["id"].astype(str).to_numpy()
    return pd.DataFrame({"point_id": ids[p_rows[t][order]], "hub_id": ids[h_rows[s][order]], "dist_m": d[order]})


def solve_assignment(point: np.ndarray, hub: np.ndarray, dist: np.ndarray, n_points: int, n_hubs: int,
                     capacity: int | None) -> tuple[np.ndarray, dict]:
    """The hub of each point (−1: none) from the candidate pairs (``point``, ``hub``, ``dist`` metres): as many points
    assigned as possible, then the least total walking distance, at most ``capacity`` points per hub (None: no limit).

    Method. Without a capacity every point simply takes its nearest hub. With one, the pairs fall apart into
    connected components (points and hubs linked by a pair); a component none of whose hubs has more than
    ``capacity`` points within reach is solved the same way, since nearest is then feasible and optimal. The other
    components form one transportation problem solved exactly by HiGHS (``scipy.optimize.milp``) in two steps:
    maximise the points assigned (a bipartite b-matching: its LP is integral), then minimise the total distance with
    that count fixed (integrality is asked for, because the added count row can make the LP's vertices fractional).
    Two steps rather than one weighted objective keep the order exact: no big-M weight has to outweigh distances.
    ``linear_sum_assignment`` with hubs copied N times was the alternative; it needs dense points × (N·hubs)
    matrices and cannot express "no limit".

    Ties: the pairs are sorted (point, hub) before anything is built, nearest ties go to the first hub, and HiGHS
    solves the same model the same way, so the same input always gives the same answer (a single and a partitioned
    run too).
    """
    point, hub, dist = (np.asarray(a) for a in (point, hub, dist))
    order = np.lexsort((hub, point))
    point, hub, dist = point[order].astype(np.int64), hub[order].astype(np.int64), dist[order].astype(np.float64)
    out = np.full(n_points, -1, dtype=np.int64)
    info = {"method": "nearest", "pairs": int(len(point)), "lp_pairs": 0, "lp_status": None, "seconds": 0.0}
    if not len(point):
        return out, info
    t0 = time.perf_counter()
    lp = np.zeros(len(point), dtype=bool)
    if capacity is not None:
        within = np.bincount(hub, minlength=n_hubs)
        graph = sp.coo_array((np.ones(len(point)), (point, n_points + hub)), shape=(n_points + n_hubs,) * 2)
        _, comp = connected_components(graph, directed=False)
        binding = np.zeros(comp.max() + 1, dtype=bool)
        binding[comp[n_points + np.flatnonzero(within > capacity)]] = True
        lp = binding[comp[point]]
    near = ~lp
    if near.any():
        p, h, d = point[near], hub[near], dist[near]
        first = np.lexsort((h, d, p))
        keep = np.r_[True, p[first][1:] != p[first][:-1]]
        out[p[first][keep]] = h[first][keep]
    if lp.any():
        chosen, status = _transport(point[lp], hub[lp], dist[lp], capacity)
        out[point[lp][chosen]] = hub[lp][chosen]
        info.update(method="nearest+highs", lp_pairs=int(lp.sum()), lp_status=status)
    info["seconds"] = round(time.perf_counter() - t0, 3)
    return out, info


def _transport(point: np.ndarray, hub: np.ndarray, dist: np.ndarray, capacity: int) -> tuple[np.ndarray, str]:
    """Which of the pairs are taken: the two-step transportation problem of :func:`solve_assignment`."""
    _, p = np.unique(point, return_inverse=True)
    _, h = np.unique(hub, return_inverse=True)
    m = len(point)
    cols = np.arange(m)
    a_points = sp.csr_array((np.ones(m), (p.ravel(), cols)), shape=(int(p.max()) + 1, m))
    a_hubs = sp.csr_array((np.ones(m), (h.ravel(), cols)), shape=(int(h.max()) + 1, m))
    rows = [LinearConstraint(a_points, 0, 1), LinearConstraint(a_hubs, 0, capacity)]
    options = {"disp": False, "mip_rel_gap": 0.0}
    bounds, ints = Bounds(0, 1), np.ones(m)
    first = milp(-np.ones(m), integrality=ints, bounds=bounds, constraints=rows, options=options)
    if first.x is None:
        raise RuntimeError(f"1+N assignment: HiGHS found no solution ({first.message})")
    k = int(round(-first.fun))
    rows.append(LinearConstraint(np.ones((1, m)), k, np.inf))
    second = milp(dist, integrality=ints, bounds=bounds, constraints=rows, options=options)
    x = second.x if second.x is not None else first.x
    return x > 0.5, "optimal" if second.status == 0 else str(second.message)


def assign_points(facilities: pd.DataFrame, pairs: pd.DataFrame, *, n: int | None,
                  district_of: pd.Series | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Each 1+N point's hub (row position in ``facilities``, −1 when none) and walking metres, from ``pairs``
    (:func:`hub_point_pairs`); with ``district_of`` (facility row → 县区), only pairs within one 县区 count."""
    hubs, points = roles(facilities)
    ids = pd.Index(facilities["id"].astype(str).to_numpy())
    p_rows, h_rows = ids.get_indexer(pairs["point_id"].to_numpy()), ids.get_indexer(pairs["hub_id"].to_numpy())
    ok = (p_rows >= 0) & (h_rows >= 0)
    p_rows, h_rows, d = p_rows[ok], h_rows[ok], pairs["dist_m"].to_numpy(dtype=np.float64)[ok]
    ok = points[p_rows] & hubs[h_rows]
    if district_of is not None:
        dist_arr = district_of.to_numpy(dtype=object)
        ok &= dist_arr[p_rows] == dist_arr[h_rows]
    p_rows, h_rows, d = p_rows[ok], h_rows[ok], d[ok]
    hub_rows, point_rows = np.flatnonzero(hubs), np.flatnonzero(points)
    p_code = np.searchsorted(point_rows, p_rows)
    h_code = np.searchsorted(hub_rows, h_rows)
    chosen, info = solve_assignment(p_code, h_code, d, len(point_rows), len(hub_rows), n)
    hub_of = np.full(len(facilities), -1, dtype=np.int64)
    if len(hub_rows):
        hub_of[point_rows] = np.where(chosen >= 0, hub_rows[np.maximum(chosen, 0)], -1)
    dist_of = np.full(len(facilities), np.nan)
    width = np.int64(len(facilities))
    best = pd.Series(d).groupby(p_rows * width + h_rows).min() if len(d) else pd.Series(dtype=float)
    got = np.flatnonzero(hub_of >= 0)
    dist_of[got] = best.reindex(got * width + hub_of[got]).to_numpy()
    info["candidate_pairs"] = pd.DataFrame({"p": p_rows, "h": h_rows})  # for the reasons and the hubs' reach
    return hub_of, dist_of, info


def guide_points(facilities: pd.DataFrame, pairs: pd.DataFrame, zones: pd.DataFrame | None, spec: OnePlusNSpec, *,
                 limit_m: float) -> OnePlusN:
    """The 1+N model of a run: the assignment of :func:`assign_points` with each point's status and reason, and the
    summary per 县区, 街道 and the city.

    ``facilities``: the run's (``id``, ``name``, ``category``, ``hub``, ``zone_id``, ``reachable``); ``pairs``: the
    (point, hub, metres) pairs of :func:`hub_point_pairs`; ``zones``: the 街道 (indexed by id; a ``district`` column
    gives their 县区) or None; ``limit_m``: the walk limit the pairs were searched within."""
    zone_ids = facilities["zone_id"].astype(str) if "zone_id" in facilities else pd.Series(ALL_ZONES, index=facilities.index)
    has_district = zones is not None and "district" in zones.columns
    same = bool(has_district if spec.same_district is None else spec.same_district and has_district)
    district_of_zone = zones["district"].astype(str).to_dict() if has_district else {}
    district = zone_ids.map(district_of_zone).fillna("").astype(str) if has_district else pd.Series("", index=facilities.index)
    hub_of, dist_of, info = assign_points(facilities, pairs, n=spec.n, district_of=district if same else None)
    cand = info.pop("candidate_pairs")
    hubs, points = roles(facilities)
    rows = np.flatnonzero(hubs | points)
    names = facilities["name"].astype(str).to_numpy()
    ids = facilities["id"].astype(str).to_numpy()
    reachable = facilities["reachable"].fillna(False).to_numpy(dtype=bool) if "reachable" in facilities else np.ones(len(ids), bool)

    has_pair = np.zeros(len(ids), dtype=bool)
    has_pair[cand["p"].to_numpy()] = True
    district_arr = district.to_numpy(dtype=object)
    no_hub_in_district = same & ~np.isin(district_arr.astype(str), district_arr[hubs].astype(str))
    reason = np.full(len(ids), "", dtype=object)
    unassigned = points & (hub_of < 0)
    for code, mask in (("hubs_full", unassigned & has_pair), ("no_hub_within", unassigned & ~has_pair),
                       ("no_hub_in_district", unassigned & no_hub_in_district), ("unreachable", unassigned & ~reachable)):
        reason[mask] = code  # later codes win: unreachable before no hub in the 县区 before no hub within reach
    within = np.bincount(cand["h"].to_numpy(), minlength=len(ids)) if len(cand) else np.zeros(len(ids), np.int64)
    guided = np.bincount(hub_of[hub_of >= 0], minlength=len(ids))
    over = np.maximum(within - spec.n, 0).astype(float) if spec.n is not None else np.full(len(ids), np.nan)

    names_of_zone = zones["name"].astype(str).to_dict() if zones is not None else {}
    zone_name = pd.Series([names_of_zone.get(z, z) for z in pd.unique(zone_ids)], index=pd.unique(zone_ids), dtype=object)
    zone_name = zone_ids.map(zone_name)
    texts = _reason_texts(reason, spec.n, limit_m)
    table = pd.DataFrame({
        "id": ids[rows], "name": names[rows], "role": np.where(hubs[rows], ROLE_HUB, ROLE_POINT),
        "hub_id": np.where(hub_of[rows] >= 0, ids[np.maximum(hub_of[rows], 0)], ""),
        "hub_name": np.where(hub_of[rows] >= 0, names[np.maximum(hub_of[rows], 0)], ""),
        "dist_m": np.round(dist_of[rows], 1),
        "status": np.where(hubs[rows], "hub", np.where(hub_of[rows] >= 0, "assigned", "unassigned")),
        "reason_code": reason[rows], "reason": texts[rows], "zone_id": zone_ids.to_numpy()[rows],
        "zone_name": zone_name.to_numpy()[rows], "district": district_arr[rows],
        "points_within": np.where(hubs[rows], within[rows], np.nan),
        "guided": np.where(hubs[rows], guided[rows], np.nan),
        "over_n": np.where(hubs[rows], over[rows], np.nan),
    }, columns=TABLE_COLUMNS)
    areas = _areas(table, zones, has_district, spec.n)
    result = OnePlusN(table=table, areas=areas, n=spec.n, limit_m=float(limit_m), same_district=same,
                      has_district=has_district, solver=info)
    c = result.city
    log.info("1+N: %d hubs, %d points, %d assigned, %d unassigned (%s)", c["hubs"], c["points"], c["assigned"],
             c["unassigned"], info["method"])
    return result


def _reason_texts(reason: np.ndarray, n: int | None, limit_m: float) -> np.ndarray:
    """The bilingual text of each reason code ("" for none)."""
    out = np.full(len(reason), "", dtype=object)
    for code, (zh_text, en_text) in REASONS.items():
        fields = {"d": f"{limit_m:,.0f}", "n": "—" if n is None else n}
        out[reason == code] = f"{zh_text.format(**fields)} / {en_text.format(**fields)}"
    return out


def _areas(table: pd.DataFrame, zones: pd.DataFrame | None, has_district: bool, n: int | None) -> pd.DataFrame:
    """The summary rows: the city, each 县区 (in the zones' order) and each 街道 (zones order, then those outside);
    counts by ``np.bincount`` and distances by one group-by per level, whatever the number of areas."""
    levels: list[tuple[str, list[str], list[str], list[str], np.ndarray]] = [
        (LEVEL_CITY, [CITY], [CITY], [""], np.zeros(len(table), dtype=np.int64))]
    if has_district:
        ds = [str(d) for d in pd.unique(zones["district"].astype(str))]
        levels.append((LEVEL_DISTRICT, ds, [d or "未填区县" for d in ds], ds,
                       pd.Index(ds).get_indexer(table["district"].astype(str).to_numpy())))
    if zones is not None:
        ids = [str(z) for z in zones.index]
        district = zones["district"].astype(str).tolist() if has_district else [""] * len(ids)
        names = zones["name"].astype(str).tolist()
        if (table["zone_id"] == OUTSIDE_ZONE).any():
            ids, names, district = ids + [OUTSIDE_ZONE], names + [OUTSIDE_ZONE], district + [""]
        levels.append((LEVEL_ZONE, ids, names, district, pd.Index(ids).get_indexer(table["zone_id"].astype(str).to_numpy())))
    is_hub = (table["role"] == ROLE_HUB).to_numpy()
    assigned = (table["status"] == "assigned").to_numpy()
    over = table["over_n"].fillna(0).to_numpy() > 0
    reason = table["reason_code"].to_numpy()
    dist = table["dist_m"].to_numpy(dtype=np.float64)
    parts = []
    for level, aids, names, districts, code in levels:
        k = len(aids)
        ok = code >= 0

        def count(mask: np.ndarray, code=code, ok=ok, k=k) -> np.ndarray:
            return np.bincount(code[ok & mask], minlength=k)

        points, got = count(~is_hub), count(assigned)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(points > 0, np.round(got / np.maximum(points, 1) * 100, 2), np.nan)
        d = pd.Series(dist[ok & assigned]).groupby(code[ok & assigned])
        stats = d.agg(["min", "median", "mean", "max"]).reindex(range(k)) if got.any() else pd.DataFrame(
            np.nan, index=range(k), columns=["min", "median", "mean", "max"])
        parts.append(pd.DataFrame({
            "level": level, "area_id": aids, "area_name": names, "district": districts, "hubs": count(is_hub),
            "points": points, "assigned": got, "unassigned": points - got,
            **{c: count(~is_hub & (reason == c)) for c in REASONS},
            "hubs_over_n": count(is_hub & over).astype(float) if n is not None else np.nan,
            "coverage_pct": share, "dist_min_m": stats["min"].to_numpy(), "dist_median_m": stats["median"].to_numpy(),
            "dist_mean_m": stats["mean"].round(1).to_numpy(), "dist_max_m": stats["max"].to_numpy(),
        }))
    return pd.concat(parts, ignore_index=True)[AREA_COLUMNS]
