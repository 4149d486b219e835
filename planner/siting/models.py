"""Siting models on sparse coverage: MCLP, partial set cover (LSCP), 街道 constraints, capacities, p-median.

Everything here works on arrays — which candidate covers which demand point (a sparse matrix from the reach
engine's catchments), demand weights, distances — never on files or geometries (see :mod:`planner.siting.candidates`
for how candidates are made and snapped). Models are solved exactly as MILPs with HiGHS (:mod:`planner.siting._highs`,
``scipy.optimize.milp``'s interface plus a starting solution); the solver's own status, objective, dual bound
and gap are reported as they are. A greedy solution is always computed too: it is HiGHS's starting solution
for the covering models, the fallback when the solver stops without a solution, the order in which sites are
explained, and a yardstick (its gap against the solver's bound).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint

from planner.siting._highs import milp

__all__ = [
    "CoverProblem",
    "Solution",
    "reduce_problem",
    "greedy_max_cover",
    "solve_mclp",
    "solve_lscp",
    "solve_capacitated",
    "solve_pmedian",
    "pair_facilities",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoverProblem:
    """Which candidate covers which demand point, and what each demand point is worth.

    cover
        Boolean CSR matrix, demand × candidates: True when the candidate is within the threshold.
    weight
        Demand weight (people not yet covered by existing facilities; 0 for those already covered).
    zone_of_candidate
        Zone id per candidate (for "at least one in each zone" constraints).
    required_zones
        Zones that must get at least one new site.
    """

    cover: sp.csr_matrix
    weight: np.ndarray
    zone_of_candidate: np.ndarray
    required_zones: tuple[str, ...] = ()

    @property
    def n_demand(self) -> int:
        return self.cover.shape[0]

    @property
    def n_candidates(self) -> int:
        return self.cover.shape[1]


@dataclass(frozen=True)
class Solution:
    """A chosen set of candidates and what the solver could prove about it."""

    chosen: np.ndarray  # candidate positions, in the order of their marginal gain
    objective: float
    status: str  # "optimal", "time_limit", "infeasible", "greedy" ...
    solver_message: str
    bound: float | None  # the solver's dual bound (best possible objective), when it has one
    gap: float | None  # relative gap between objective and bound (0 = proven optimal)
    seconds: float
    greedy_objective: float | None = None
    details: dict = field(default_factory=dict)


def reduce_problem(problem: CoverProblem, *, dominance: bool = True) -> tuple[CoverProblem, np.ndarray, np.ndarray]:
    """Two exact reductions: merge demand points covered by identical candidate sets (weights add up), and drop
    candidates whose coverage is contained in another's (only within the same zone, so zone constraints keep
    their meaning; ties keep the lower index). Demand with zero weight or no candidate is dropped.

    Returns
    -------
    reduced, demand_groups, kept_candidates
        ``demand_groups[i]`` is the reduced row of original demand point i (-1 when dropped);
        ``kept_candidates`` maps reduced columns to original candidates.
    """
    cover = problem.cover.tocsr().astype(bool)
    w = np.asarray(problem.weight, dtype=float)
    useful = (w > 0) & (np.diff(cover.indptr) > 0)
    groups = np.full(problem.n_demand, -1, dtype=np.int64)
    rows = np.flatnonzero(useful)
    keys: dict[bytes, int] = {}
    new_rows: list[np.ndarray] = []
    new_w: list[float] = []
    for i in rows:
        cols = cover.indices[cover.indptr[i] : cover.indptr[i + 1]]
        key = np.sort(cols).tobytes()
        g = keys.get(key)
        if g is None:
            g = len(new_rows)
            keys[key] = g
            new_rows.append(np.sort(cols))
            new_w.append(0.0)
        new_w[g] += w[i]
        groups[i] = g
    n_r = len(new_rows)
    indptr = np.r_[0, np.cumsum([len(r) for r in new_rows])].astype(np.int64)
    indices = np.concatenate(new_rows) if new_rows else np.zeros(0, dtype=np.int64)
    merged = sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(n_r, problem.n_candidates))
    keep = np.ones(problem.n_candidates, dtype=bool)
    sizes = np.asarray(merged.sum(axis=0)).ravel()
    keep &= sizes > 0 if problem.required_zones == () else np.ones_like(keep)
    if dominance and n_r:
        keep &= ~_dominated(merged, sizes, np.asarray(problem.zone_of_candidate), keep)
    kept = np.flatnonzero(keep)
    reduced = CoverProblem(
        cover=merged[:, kept].tocsr(),
        weight=np.asarray(new_w),
        zone_of_candidate=np.asarray(problem.zone_of_candidate)[kept],
        required_zones=problem.required_zones,
    )
    log.info("siting reduction: %d × %d → %d × %d", problem.n_demand, problem.n_candidates, reduced.n_demand, reduced.n_candidates)
    return reduced, groups, kept


def _dominated(merged: sp.csr_matrix, sizes: np.ndarray, zone: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Candidates (among ``candidates``, covering something) whose demand rows all lie in the rows of a bigger one
    of the same zone (more rows, or as many and a lower index), from the sparse candidate × candidate overlap
    counts — only pairs that share a demand row, never a dense candidates × candidates matrix.

    Dominance is a strict partial order (set inclusion, then size and index), so a candidate dominated by one that
    is itself dominated is dominated by the top of that chain as well: testing every pair at once drops exactly the
    candidates a one-by-one sweep would.
    """
    m = merged.astype(np.int32)
    overlap = (m.T @ m).tocoo()
    j, other, shared = overlap.row, overlap.col, overlap.data
    n = np.arange(len(sizes))
    hit = (
        (j != other)
        & candidates[j]
        & candidates[other]
        & (sizes[j] > 0)
        & (shared == sizes[j])
        & (zone[j] == zone[other])
        & ((sizes[other] > sizes[j]) | ((sizes[other] == sizes[j]) & (n[other] < n[j])))
    )
    out = np.zeros(len(sizes), dtype=bool)
    out[j[hit]] = True
    return out


def greedy_max_cover(problem: CoverProblem, k: int, *, forced_zones: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Greedy maximum coverage (lazy evaluation): first the best site in each forced zone, then the best gains.

    Returns the chosen candidates in order and the marginal gain of each.
    """
    cover_csc = problem.cover.tocsc()
    w = problem.weight
    covered = np.zeros(problem.n_demand, dtype=bool)
    chosen: list[int] = []
    gains: list[float] = []

    def gain(j: int) -> float:
        rows = cover_csc.indices[cover_csc.indptr[j] : cover_csc.indptr[j + 1]]
        return float(w[rows][~covered[rows]].sum())

    def take(j: int) -> None:
        rows = cover_csc.indices[cover_csc.indptr[j] : cover_csc.indptr[j + 1]]
        gains.append(gain(j))
        covered[rows] = True
        chosen.append(int(j))

    zones = np.asarray(problem.zone_of_candidate)
    for z in forced_zones:
        options = [j for j in np.flatnonzero(zones == z) if j not in chosen]
        if options:
            take(max(options, key=lambda j: (gain(j), -j)))
    upper = np.array([gain(j) for j in range(problem.n_candidates)])
    taken = set(chosen)
    while len(chosen) < k:
        best, best_gain = -1, 0.0
        for j in np.lexsort((np.arange(len(upper)), -upper)):
            if j in taken:
                continue
            if upper[j] < best_gain or (upper[j] == best_gain and best >= 0 and j > best):
                break  # gains only shrink as coverage grows (submodular): nobody further down can win
            g = gain(j)
            upper[j] = g
            if g > best_gain or (g == best_gain and best >= 0 and j < best):
                best, best_gain = j, g
        if best < 0 or best_gain <= 0:
            break
        take(best)
        taken.add(best)
    return np.asarray(chosen, dtype=np.int64), np.asarray(gains)


def _status(res, time_limit: float) -> str:
    if res.status == 0:
        return "optimal"
    if res.status == 1:
        return "time_limit" if res.x is not None else "time_limit_no_solution"
    if res.status == 2:
        return "infeasible"
    if res.status == 3:
        return "unbounded"
    return "error"


def _order_by_gain(problem: CoverProblem, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-order a chosen set by greedy marginal gain within it (for explanations and curves)."""
    sub = CoverProblem(problem.cover[:, chosen], problem.weight, problem.zone_of_candidate[chosen])
    order, gains = greedy_max_cover(sub, len(chosen))
    rest = [i for i in range(len(chosen)) if i not in set(order.tolist())]
    return np.r_[chosen[order], chosen[rest]].astype(np.int64), np.r_[gains, np.zeros(len(rest))]


_COVER_OPTIONS = {"mip_rel_gap": 0.0, "presolve": False, "heuristics": False}  # MCLP, 老幼复合, LSCP (all given a start)


def _cover_start(problem: CoverProblem, chosen: np.ndarray) -> np.ndarray:
    """A starting solution (x then y) of the covering MILPs: the chosen sites and the demand they cover."""
    x = np.zeros(problem.n_candidates)
    x[np.asarray(chosen, dtype=np.int64)] = 1.0
    y = (problem.cover @ x > 0).astype(float)
    return np.r_[x, y]


def solve_mclp(problem: CoverProblem, k: int, *, time_limit: float = 60.0) -> Solution:
    """Maximise the demand weight covered with at most ``k`` new sites, with at least one in each required zone.

    MILP: max Σ wᵢ yᵢ s.t. yᵢ ≤ Σ_{j covers i} xⱼ, Σ xⱼ ≤ k, Σ_{j in zone z} xⱼ ≥ 1 (required zones),
    x binary, 0 ≤ y ≤ 1 (y is integral at an optimum).
    """
    t0 = time.perf_counter()
    n, m = problem.n_demand, problem.n_candidates
    zones = np.asarray(problem.zone_of_candidate)
    missing = [z for z in problem.required_zones if not (zones == z).any()]
    g_order, g_gains = greedy_max_cover(problem, k, forced_zones=[z for z in problem.required_zones if z not in missing])
    greedy_obj = float(g_gains.sum())
    if missing:
        return Solution(g_order, greedy_obj, "infeasible", f"these zones have no candidate site: {missing}", None, None,
                        time.perf_counter() - t0, greedy_obj, {"zones_without_candidates": missing})
    if k < len(problem.required_zones):
        return Solution(g_order, greedy_obj, "infeasible", f"k = {k} < {len(problem.required_zones)} zones that each need a site",
                        None, None, time.perf_counter() - t0, greedy_obj)
    if n == 0:
        return Solution(g_order, 0.0, "optimal", "no uncovered demand within reach of any candidate", 0.0, 0.0, time.perf_counter() - t0, 0.0)
    # variables: x (m) then y (n)
    c = np.r_[np.zeros(m), -problem.weight]
    a_cover = sp.hstack([-problem.cover.astype(float), sp.identity(n, format="csr")]).tocsr()  # y - Σx ≤ 0
    a_k = sp.csr_matrix(np.r_[np.ones(m), np.zeros(n)][None, :])
    cons = [LinearConstraint(a_cover, -np.inf, 0.0), LinearConstraint(a_k, 0, k)]
    for z in problem.required_zones:
        cons.append(LinearConstraint(sp.csr_matrix(np.r_[(zones == z).astype(float), np.zeros(n)][None, :]), 1, np.inf))
    # greedy as the starting solution, HiGHS's own primal heuristics off (with the start they cost more than they
    # find), presolve off: on these dense covering matrices it took 8–85 s of a 20–110 s solve and removed almost
    # nothing (measured on benchmarks/siting.py's instance, docs/siting.md)
    res = milp(c, integrality=np.r_[np.ones(m), np.zeros(n)], bounds=Bounds(0, 1), constraints=cons,
               options=_COVER_OPTIONS | {"time_limit": time_limit}, start=_cover_start(problem, g_order))
    status = _status(res, time_limit)
    seconds = time.perf_counter() - t0
    if res.x is None:
        return Solution(g_order, greedy_obj, status, res.message, None, None, seconds, greedy_obj, {"fallback": "greedy"})
    chosen = np.flatnonzero(res.x[:m] > 0.5)
    obj = -float(res.fun)
    bound = -float(res.mip_dual_bound) if res.mip_dual_bound is not None else None
    if greedy_obj > obj:  # the solver stopped early with something worse than greedy
        chosen, obj = g_order, greedy_obj
    ordered, _ = _order_by_gain(problem, chosen)
    gap = None if bound is None else max(0.0, (bound - obj) / max(abs(bound), 1e-12))
    return Solution(ordered, obj, status, res.message, bound, gap, seconds, greedy_obj)


def solve_lscp(problem: CoverProblem, target_weight: float, *, time_limit: float = 60.0, max_sites: int | None = None) -> Solution:
    """The fewest new sites whose coverage reaches ``target_weight`` (partial set cover), zones as in MCLP.

    When even every candidate together cannot reach the target the answer is ``infeasible`` together with the
    most that can be covered (``details["max_coverable"]``), so "infeasible" is never the only answer.
    """
    t0 = time.perf_counter()
    n, m = problem.n_demand, problem.n_candidates
    reachable = float(problem.weight[np.diff(problem.cover.indptr) > 0].sum())
    if reachable + 1e-9 < target_weight:
        order, gains = greedy_max_cover(problem, m)
        return Solution(order[gains > 0], float(gains.sum()), "infeasible",
                        f"target {target_weight:.0f} exceeds what all candidates together cover ({reachable:.0f})",
                        None, None, time.perf_counter() - t0, None, {"max_coverable": reachable})
    if target_weight <= 0:
        return Solution(np.zeros(0, dtype=np.int64), 0.0, "optimal", "target already met by existing facilities", 0.0, 0.0, time.perf_counter() - t0)
    zones = np.asarray(problem.zone_of_candidate)
    c = np.r_[np.ones(m), np.zeros(n)]
    a_cover = sp.hstack([-problem.cover.astype(float), sp.identity(n, format="csr")]).tocsr()
    cons = [LinearConstraint(a_cover, -np.inf, 0.0), LinearConstraint(sp.csr_matrix(np.r_[np.zeros(m), problem.weight][None, :]), target_weight, np.inf)]
    for z in problem.required_zones:
        cons.append(LinearConstraint(sp.csr_matrix(np.r_[(zones == z).astype(float), np.zeros(n)][None, :]), 1, np.inf))
    if max_sites is not None:
        cons.append(LinearConstraint(sp.csr_matrix(np.r_[np.ones(m), np.zeros(n)][None, :]), 0, max_sites))
    g_all, g_gains = greedy_max_cover(problem, m, forced_zones=list(problem.required_zones))
    g_need = min(len(g_all), max(int(np.searchsorted(np.cumsum(g_gains), target_weight - 1e-9) + 1), len(problem.required_zones)))
    start = _cover_start(problem, g_all[:g_need]) if max_sites is None or g_need <= max_sites else None
    res = milp(c, integrality=np.r_[np.ones(m), np.zeros(n)], bounds=Bounds(0, 1), constraints=cons,
               options=_COVER_OPTIONS | {"time_limit": time_limit, "heuristics": start is None}, start=start)
    status = _status(res, time_limit)
    if res.x is None:
        # the greedy sites already computed for the start (forced zones first) are the fallback
        return Solution(g_all[:g_need], float(g_need), status, res.message, None, None, time.perf_counter() - t0, float(g_need),
                        {"fallback": "greedy"})
    chosen = np.flatnonzero(res.x[:m] > 0.5)
    ordered, _ = _order_by_gain(problem, chosen)
    bound = float(res.mip_dual_bound) if res.mip_dual_bound is not None else None
    gap = None if bound is None else max(0.0, (len(chosen) - bound) / max(len(chosen), 1))
    return Solution(ordered, float(len(chosen)), status, res.message, bound, gap, time.perf_counter() - t0)


def solve_capacitated(
    pairs_demand: np.ndarray, pairs_site: np.ndarray, need: np.ndarray, capacity: np.ndarray, k: int, *, time_limit: float = 60.0,
    zone_of_site: np.ndarray | None = None, required_zones: Sequence[str] = (),
) -> Solution:
    """Open at most ``k`` sites with ``capacity`` and assign places to demand within reach to meet as much ``need``
    as possible, with at least one site in each of ``required_zones`` (``zone_of_site`` gives each site's zone).
    MILP: max Σ z s.t. Σⱼ zᵢⱼ ≤ needᵢ, Σᵢ zᵢⱼ ≤ capⱼ xⱼ, Σ x ≤ k, Σ_{j in zone} xⱼ ≥ 1; z ≥ 0 continuous.

    ``details["assigned"]`` holds the places served per pair; the places still missing are Σ need − objective.
    """
    t0 = time.perf_counter()
    m = len(capacity)
    p = len(pairs_demand)
    n = len(need)
    zones = np.asarray(zone_of_site if zone_of_site is not None else np.zeros(m, dtype=object)).astype(str)
    missing = [z for z in required_zones if not (zones == str(z)).any()]
    if missing:
        return Solution(np.zeros(0, dtype=np.int64), 0.0, "infeasible", f"these zones have no candidate site: {missing}", None, None,
                        time.perf_counter() - t0, details={"zones_without_candidates": missing, "missing": float(np.sum(need))})
    if k < len(required_zones):
        return Solution(np.zeros(0, dtype=np.int64), 0.0, "infeasible", f"k = {k} < {len(required_zones)} zones that each need a site",
                        None, None, time.perf_counter() - t0, details={"missing": float(np.sum(need))})
    c = np.r_[np.zeros(m), -np.ones(p)]
    a_need = sp.csr_matrix((np.ones(p), (pairs_demand, m + np.arange(p))), shape=(n, m + p))
    a_cap = sp.csr_matrix(
        (np.r_[-np.asarray(capacity, float), np.ones(p)], (np.r_[np.arange(m), pairs_site], np.r_[np.arange(m), m + np.arange(p)])),
        shape=(m, m + p),
    )
    a_k = sp.csr_matrix(np.r_[np.ones(m), np.zeros(p)][None, :])
    cons = [LinearConstraint(a_need, -np.inf, need), LinearConstraint(a_cap, -np.inf, 0), LinearConstraint(a_k, 0, k)]
    for z in required_zones:
        cons.append(LinearConstraint(sp.csr_matrix(np.r_[(zones == str(z)).astype(float), np.zeros(p)][None, :]), 1, np.inf))
    res = milp(c, integrality=np.r_[np.ones(m), np.zeros(p)], bounds=Bounds(np.zeros(m + p), np.r_[np.ones(m), np.full(p, np.inf)]),
               constraints=cons, options={"time_limit": time_limit, "mip_rel_gap": 0.0})
    status = _status(res, time_limit)
    if res.x is None:
        return Solution(np.zeros(0, dtype=np.int64), 0.0, status, res.message, None, None, time.perf_counter() - t0)
    chosen = np.flatnonzero(res.x[:m] > 0.5)
    served = res.x[m:]
    per_site = np.bincount(pairs_site, weights=served, minlength=m)
    order = chosen[np.argsort(-per_site[chosen], kind="stable")]
    obj = -float(res.fun)
    bound = -float(res.mip_dual_bound) if res.mip_dual_bound is not None else None
    gap = None if bound is None else max(0.0, (bound - obj) / max(abs(bound), 1e-12))
    return Solution(order, obj, status, res.message, bound, gap, time.perf_counter() - t0,
                    details={"assigned": served, "per_site": per_site, "missing": float(np.sum(need) - obj)})


def solve_pmedian(
    pairs_demand: np.ndarray, pairs_site: np.ndarray, dist: np.ndarray, weight: np.ndarray, n_sites: int,
    fixed_open: np.ndarray, k: int, *, time_limit: float = 60.0,
) -> Solution:
    """Minimise the weight-averaged walking distance with ``k`` new sites besides the ``fixed_open`` existing ones.

    Each demand point is assigned to one open site among the pairs it has (within the catchment); demand points
    with no pair are left out by the caller and listed. MILP: min Σ wᵢ dᵢⱼ zᵢⱼ s.t. Σⱼ zᵢⱼ = 1, zᵢⱼ ≤ xⱼ,
    Σ_{new} xⱼ ≤ k, xⱼ = 1 for existing.
    """
    t0 = time.perf_counter()
    p = len(pairs_demand)
    n = int(pairs_demand.max()) + 1 if p else 0
    c = np.r_[np.zeros(n_sites), np.asarray(weight, float)[pairs_demand] * dist]
    a_assign = sp.csr_matrix((np.ones(p), (pairs_demand, n_sites + np.arange(p))), shape=(n, n_sites + p))
    a_link = sp.csr_matrix((np.r_[np.ones(p), -np.ones(p)], (np.r_[np.arange(p), np.arange(p)], np.r_[n_sites + np.arange(p), pairs_site])),
                           shape=(p, n_sites + p))
    is_new = np.ones(n_sites)
    is_new[fixed_open] = 0
    lb = np.zeros(n_sites + p)
    lb[fixed_open] = 1
    res = milp(c, integrality=np.r_[np.ones(n_sites), np.zeros(p)], bounds=Bounds(lb, 1),
               constraints=[LinearConstraint(a_assign, 1, 1), LinearConstraint(a_link, -np.inf, 0),
                            LinearConstraint(sp.csr_matrix(np.r_[is_new, np.zeros(p)][None, :]), 0, k)],
               options={"time_limit": time_limit, "mip_rel_gap": 0.0})
    status = _status(res, time_limit)
    if res.x is None:
        return Solution(np.zeros(0, dtype=np.int64), np.inf, status, res.message, None, None, time.perf_counter() - t0)
    chosen = np.flatnonzero((res.x[:n_sites] > 0.5) & (is_new > 0))
    total_w = float(np.asarray(weight, float).sum())
    obj = float(res.fun) / max(total_w, 1e-12)
    bound = float(res.mip_dual_bound) / max(total_w, 1e-12) if res.mip_dual_bound is not None else None
    gap = None if bound is None else max(0.0, (obj - bound) / max(abs(obj), 1e-12))
    return Solution(chosen, obj, status, res.message, bound, gap, time.perf_counter() - t0, details={"assigned": res.x[n_sites:] > 0.5})


def pair_facilities(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair elderly-care facilities (rows) with childcare facilities (columns) so that the total walking distance
    is least (按照距离优先的原则结对, 通政发〔2022〕40号): a linear assignment; unreachable pairs (inf) are never made."""
    from scipy.optimize import linear_sum_assignment

    big = np.where(np.isfinite(dist), dist, 1e12)
    rows, cols = linear_sum_assignment(big)
    ok = np.isfinite(dist[rows, cols])
    return rows[ok], cols[ok]
