#!/usr/bin/env python
"""Benchmark planner's MCLP solver against spopt (PuLP + CBC) and greedy on the same instances; print one table.

Instance (the same for every solver): maximal covering location on the real Shenzhen Longgang walk network
(scenario ``scenarios/longgang.toml``, OSM 2019, read from ../shared/data). Demand points and candidate sites
are seeded random points 5-40 m beside random edges (edges drawn in proportion to their length); demand weights
are seeded random integer populations 50-3000. Coverage = within 1000 m of walking, computed once with
planner's reach engine: ``snap_points`` (all points) -> ``build_reach_graph`` ->
``catchments(graph, candidates, demand, limit=1000)``. That pair list (candidate, demand, metres) is the
instance; building it is timed and reported separately and is not counted for any solver.

Solvers, each in its own subprocess (a crash or a cap does not stop the script):

* planner            CSR cover matrix -> ``reduce_problem`` (build) -> ``solve_mclp`` (HiGHS through ``highspy``,
                     mip_rel_gap = 0, greedy start, presolve off) on the reduced instance (solve). Status, objective, bound and gap are
                     printed exactly as ``solve_mclp`` returns them. Reduction sizes are printed below the table.
* planner (no red.)  ``solve_mclp`` on the unreduced instance, with its own cap: what the reductions buy.
* HiGHS via scipy    the same reduced MILP through ``scipy.optimize.milp`` (scipy's bundled HiGHS, its default
                     presolve, no starting solution — how planner solved it before it called ``highspy``), with its
                     own cap: what calling HiGHS directly buys.
* spopt              dense cost matrix (the catchment distance where within 1000 m, 1e9 elsewhere) ->
                     ``spopt.locate.MCLP.from_cost_matrix(..., service_radius=1000, p_facilities=k)`` (build) ->
                     ``.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=cap))`` (solve; CBC's log goes to a temp
                     file through PuLP's ``logPath`` so that CBC's own verdict can be read). Its objective is
                     recomputed from its chosen facilities; PuLP's status strings are printed as PuLP sets them,
                     next to CBC's own result line. The worker process is killed when it runs past its guard
                     (build 900 s, solve cap + 300 s; quick: 15 s and cap + 5 s); its total is then the time from the start of its build to the
                     kill (imports excluded) and the speedup is printed as a lower bound ("> N×").
* greedy             ``greedy_max_cover`` on the unreduced instance.

"gap %" is measured against the best proven optimum of the instance (a solution that HiGHS, or CBC when it
says "Optimal solution found", proved optimal); when nothing is proven, against the best proven bound.
Every objective is recomputed by this script from the chosen candidate indices on the unreduced instance.
All solvers are single-threaded here (planner sets HiGHS to one thread; scipy's HiGHS MIP and PuLP's CBC default to one). Times are wall
clock inside each worker (imports and loading the instance excluded); "CPU s" is the same span's user + system
time of the worker and its children (CBC), which is less sensitive to other load on the machine; "peak MiB" is the worker's resident memory
plus CBC's, sampled every 50 ms. The speedup is spopt's total (build + solve) over planner's total (reduction +
solve); it is a lower bound ("> N×") whenever CBC stopped at its cap, did not prove optimality, or was killed.

Usage::

    .venv/bin/python benchmarks/siting.py --quick           # 2 000 x 400, k = 10, < 1 min
    .venv/bin/python benchmarks/siting.py                   # 10 000 x 2 000, k = 10, 20, 50 (~30 min)
    .venv/bin/python benchmarks/siting.py --cap 120 --k 20 --out siting.json

Nothing is written into the repository except ``--out`` (under benchmarks/results/, git-ignored).
The last line of the output is ``siting speedup: N× vs spopt`` (``> N×`` when spopt did not finish) for
k = 20 (full run) or the quick run's k.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SCENARIO = REPO / "scenarios" / "longgang.toml"

SEED = 20240611
LIMIT_M = 1000.0  # coverage radius (walking metres, inclusive)
WEIGHT_LOW, WEIGHT_HIGH = 50, 3000  # random integer population per demand point (inclusive)
OFFSET_M = (5.0, 40.0)  # points lie this far beside their edge
FAR = 1e9  # spopt's cost-matrix entry for pairs beyond the radius

FULL = {"demand": 10_000, "candidates": 2_000, "ks": [10, 20, 50], "headline_k": 20,
        "cap": 300.0, "planner_cap": 600.0, "noreduce_cap": 90.0, "scipy_cap": 300.0}
QUICK = {"demand": 2_000, "candidates": 400, "ks": [10], "headline_k": 10,
         "cap": 10.0, "planner_cap": 20.0, "noreduce_cap": 5.0, "scipy_cap": 20.0}
# spopt's guards: seconds allowed for its model build, and for its solve beyond CBC's own timeLimit (PuLP writes
# the MPS file and reads the solution inside .solve(), spopt then walks its dense matrix for the results)
SPOPT_BUILD_GUARD_S, SPOPT_SOLVE_GRACE_S = 900.0, 300.0
QUICK_BUILD_GUARD_S, QUICK_SOLVE_GRACE_S = 15.0, 5.0
SOLVERS = ["planner", "planner_noreduce", "planner_scipy", "spopt", "greedy"]
LABEL = {"planner": "planner", "planner_noreduce": "planner (no red.)", "planner_scipy": "HiGHS via scipy",
         "spopt": "spopt+CBC", "greedy": "greedy"}


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class PeakRSS:
    """Peak resident memory of this process plus its children (CBC), sampled every 50 ms (psutil), MiB.

    ru_maxrss is not used: after fork + exec it still carries the parent's high-water mark.
    """

    def __init__(self):
        import psutil

        self._proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        total = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._sample()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._sample()
        return self.peak / 2**20


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of its waited-for children (CBC)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# --------------------------------------------------------------------------------------------------------------
# the instance (parent side)
# --------------------------------------------------------------------------------------------------------------


def points_near_edges(net, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` shapely points beside random edges (drawn in proportion to length), OFFSET_M to either side."""
    import shapely

    lengths = net.edges["length"].to_numpy()
    geoms = net.edges.geometry.to_numpy()
    e = rng.choice(len(lengths), size=n, p=lengths / lengths.sum())
    along = rng.random(n) * lengths[e]
    side = rng.uniform(*OFFSET_M, n) * rng.choice([-1.0, 1.0], n)
    g = geoms[e]
    foot = shapely.line_interpolate_point(g, along)
    before = shapely.line_interpolate_point(g, np.maximum(along - 1.0, 0.0))
    after = shapely.line_interpolate_point(g, np.minimum(along + 1.0, lengths[e]))
    dx = shapely.get_x(after) - shapely.get_x(before)
    dy = shapely.get_y(after) - shapely.get_y(before)
    norm = np.hypot(dx, dy)
    flat = norm == 0
    dx[flat], dy[flat], norm[flat] = 1.0, 0.0, 1.0
    return shapely.points(shapely.get_x(foot) - dy / norm * side, shapely.get_y(foot) + dx / norm * side)


def build_instance(n_demand: int, n_candidates: int, out: Path) -> dict:
    """Network, points, snapping, reach graph and catchments; the pair list is saved to ``out``."""
    t0 = time.perf_counter()
    from planner.engine.reach import build_reach_graph, catchments
    from planner.io.projection import choose_metric_crs
    from planner.network.build import build_network, network_bounds_wgs84
    from planner.network.points import snap_geometries
    from planner.scenario import load_scenario

    timings: dict[str, float] = {"imports": time.perf_counter() - t0}
    t = time.perf_counter()
    scenario = load_scenario(SCENARIO)
    minx, miny, maxx, maxy = network_bounds_wgs84(scenario.network)
    crs = choose_metric_crs((minx + maxx) / 2, (miny + maxy) / 2, scenario.crs)
    net = build_network(scenario.network, crs)
    timings["network"] = time.perf_counter() - t
    _err(f"[instance] {net.summary()} ({crs.to_string()}), {timings['network']:.1f} s")

    t = time.perf_counter()
    demand = points_near_edges(net, n_demand, np.random.default_rng([SEED, 1]))
    cands = points_near_edges(net, n_candidates, np.random.default_rng([SEED, 2]))
    weight = np.random.default_rng([SEED, 3]).integers(WEIGHT_LOW, WEIGHT_HIGH + 1, n_demand).astype(np.int64)
    timings["points"] = time.perf_counter() - t

    t = time.perf_counter()
    snapped = snap_geometries(net, np.concatenate([demand, cands]), max_snap_m=scenario.max_snap_m)
    timings["snap"] = time.perf_counter() - t
    t = time.perf_counter()
    graph = build_reach_graph(net, snapped)
    timings["reach_graph"] = time.perf_counter() - t
    t = time.perf_counter()
    src, tgt, dist = catchments(graph, np.arange(n_demand, n_demand + n_candidates), np.arange(n_demand), limit=LIMIT_M)
    timings["catchments"] = time.perf_counter() - t  # includes the numba kernel's (cached) JIT load

    np.savez(out / "instance.npz", cand=src.astype(np.int64), dem=tgt.astype(np.int64), dist=dist.astype(np.float64),
             weight=weight, shape=np.array([n_demand, n_candidates]))
    info = {
        "network": {"nodes": int(len(net.nodes)), "edges": int(len(net.edges)), "km": round(net.total_length_km, 1),
                    "crs": crs.to_string(), "scenario": str(SCENARIO.relative_to(REPO))},
        "n_demand": n_demand, "n_candidates": n_candidates, "pairs": int(len(src)),
        "unreachable_points": int((~snapped.reachable).sum()),
        "demand_uncoverable": int(n_demand - len(np.unique(tgt))),
        "candidates_covering_nothing": int(n_candidates - len(np.unique(src))),
        "total_weight": int(weight.sum()),
        "seconds": {key: round(val, 3) for key, val in timings.items()},
    }
    _err(f"[instance] {n_demand} demand × {n_candidates} candidates: {len(src)} pairs within {LIMIT_M:.0f} m "
         f"(snap {timings['snap']:.2f} s, reach graph {timings['reach_graph']:.2f} s, catchments {timings['catchments']:.2f} s)")
    return info


# --------------------------------------------------------------------------------------------------------------
# workers (one solver, one k, one process)
# --------------------------------------------------------------------------------------------------------------


def _load(inst: Path):
    z = np.load(inst / "instance.npz")
    n, m = (int(v) for v in z["shape"])
    return z["cand"], z["dem"], z["dist"], z["weight"], n, m


def _covered_weight(cand, dem, weight, n, chosen) -> float:
    """The demand weight within reach of at least one chosen candidate (recomputed from the pair list)."""
    chosen = np.asarray(chosen, dtype=np.int64)
    pick = np.zeros(max(int(cand.max(initial=0)), int(chosen.max(initial=0))) + 1, dtype=bool)
    pick[chosen] = True
    hit = np.zeros(n, dtype=bool)
    hit[dem[pick[cand]]] = True
    return float(weight[hit].sum())


def _cover_problem(cand, dem, weight, n, m):
    import scipy.sparse as sp

    from planner.siting.models import CoverProblem

    cover = sp.csr_matrix((np.ones(len(cand), dtype=bool), (dem, cand)), shape=(n, m))
    return CoverProblem(cover=cover, weight=weight.astype(float), zone_of_candidate=np.zeros(m, dtype=np.int64))


def work_planner(inst: Path, k: int, cap: float, reduce: bool) -> dict:
    from planner.siting.models import reduce_problem, solve_mclp

    cand, dem, _, weight, n, m = _load(inst)
    c0 = _cpu()
    t0 = time.perf_counter()
    problem = _cover_problem(cand, dem, weight, n, m)
    out: dict = {}
    if reduce:
        reduced, _, kept = reduce_problem(problem)
        out["reduced"] = {"demand": reduced.n_demand, "candidates": reduced.n_candidates, "nnz": int(reduced.cover.nnz),
                          "from_demand": n, "from_candidates": m, "from_nnz": int(problem.cover.nnz)}
    else:
        reduced, kept = problem, np.arange(m)
    build = time.perf_counter() - t0
    if reduce:
        _err(f"[planner k={k}] reduced {n} × {m} ({problem.cover.nnz} nz) → {reduced.n_demand} × {reduced.n_candidates} "
             f"({reduced.cover.nnz} nz) in {build:.2f} s; solving (cap {cap:.0f} s)")
    else:
        _err(f"[planner no-red k={k}] solving {n} × {m} unreduced (cap {cap:.0f} s)")
    t1 = time.perf_counter()
    sol = solve_mclp(reduced, k, time_limit=cap)
    solve = time.perf_counter() - t1
    cpu = _cpu() - c0
    chosen = kept[np.asarray(sol.chosen, dtype=np.int64)]
    out.update({
        "build_s": build, "solve_s": solve, "total_s": build + solve, "cpu_s": cpu,
        "objective": _covered_weight(cand, dem, weight, n, chosen), "reported_objective": sol.objective,
        "status": sol.status, "message": sol.solver_message, "bound": sol.bound, "gap": sol.gap,
        "solver_seconds": sol.seconds, "greedy_objective": sol.greedy_objective, "chosen": sorted(int(j) for j in chosen),
        "n_chosen": int(len(chosen)), "proven_optimal": sol.status == "optimal",
    })
    return out


def work_scipy(inst: Path, k: int, cap: float) -> dict:
    """The reduced MCLP through scipy.optimize.milp (bundled HiGHS, default presolve, no start)."""
    import scipy.sparse as sp
    from scipy.optimize import Bounds, LinearConstraint, milp

    from planner.siting.models import reduce_problem

    cand, dem, _, weight, n, m = _load(inst)
    c0 = _cpu()
    t0 = time.perf_counter()
    reduced, _, kept = reduce_problem(_cover_problem(cand, dem, weight, n, m))
    nr, mr = reduced.n_demand, reduced.n_candidates
    c = np.r_[np.zeros(mr), -reduced.weight]
    a_cover = sp.hstack([-reduced.cover.astype(float), sp.identity(nr, format="csr")]).tocsr()
    a_k = sp.csr_matrix(np.r_[np.ones(mr), np.zeros(nr)][None, :])
    build = time.perf_counter() - t0
    _err(f"[scipy milp k={k}] solving {nr} × {mr} (cap {cap:.0f} s)")
    t1 = time.perf_counter()
    res = milp(c, integrality=np.r_[np.ones(mr), np.zeros(nr)], bounds=Bounds(0, 1),
               constraints=[LinearConstraint(a_cover, -np.inf, 0.0), LinearConstraint(a_k, 0, k)],
               options={"time_limit": cap, "mip_rel_gap": 0.0})
    solve = time.perf_counter() - t1
    chosen = kept[np.flatnonzero(res.x[:mr] > 0.5)] if res.x is not None else np.zeros(0, dtype=np.int64)
    bound = -float(res.mip_dual_bound) if getattr(res, "mip_dual_bound", None) is not None else None
    obj = -float(res.fun) if res.x is not None else None
    status = {0: "optimal", 1: "time_limit"}.get(res.status, f"status {res.status}")
    return {"build_s": build, "solve_s": solve, "total_s": build + solve, "cpu_s": _cpu() - c0,
            "objective": _covered_weight(cand, dem, weight, n, chosen) if len(chosen) else None, "reported_objective": obj,
            "status": status, "message": res.message, "bound": bound,
            "gap": None if bound is None or obj is None else max(0.0, (bound - obj) / bound),
            "chosen": sorted(int(j) for j in chosen), "n_chosen": int(len(chosen)), "proven_optimal": res.status == 0}


def work_greedy(inst: Path, k: int, cap: float) -> dict:
    from planner.siting.models import greedy_max_cover

    cand, dem, _, weight, n, m = _load(inst)
    c0 = _cpu()
    t0 = time.perf_counter()
    problem = _cover_problem(cand, dem, weight, n, m)
    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    chosen, gains = greedy_max_cover(problem, k)
    solve = time.perf_counter() - t1
    return {"build_s": build, "solve_s": solve, "total_s": build + solve, "cpu_s": _cpu() - c0,
            "objective": _covered_weight(cand, dem, weight, n, chosen), "reported_objective": float(gains.sum()),
            "status": "heuristic", "bound": None, "gap": None, "chosen": sorted(int(j) for j in chosen),
            "n_chosen": int(len(chosen)), "proven_optimal": False}


def _parse_cbc_log(text: str) -> dict:
    """CBC's own verdict from its log: result line, objective, bound, gap, nodes, wall time."""
    out: dict = {}
    m = re.search(r"^Result - (.+)$", text, re.M)
    out["cbc_result"] = m.group(1).strip() if m else None
    for key, pat in [("cbc_objective", r"^Objective value:\s+(\S+)"), ("cbc_bound", r"^(?:Lower|Upper) bound:\s+(\S+)"),
                     ("cbc_gap", r"^Gap:\s+(\S+)"), ("cbc_nodes", r"^Enumerated nodes:\s+(\S+)"),
                     ("cbc_wall_s", r"Wallclock seconds\):\s+(\S+)")]:
        m = re.search(pat, text, re.M)
        if m:
            try:
                out[key] = float(m.group(1))
            except ValueError:
                out[key] = m.group(1)
    m = re.search(r"^(Lower|Upper) bound:", text, re.M)
    out["cbc_bound_kind"] = m.group(1) if m else None
    return out


def work_spopt(inst: Path, k: int, cap: float) -> dict:
    import warnings

    import pulp
    from spopt.locate import MCLP

    cand, dem, dist, weight, n, m = _load(inst)
    progress = inst / f"spopt_k{k}.progress"
    progress.write_text(json.dumps({"phase": "build", "started": time.time()}))
    c0 = _cpu()
    t0 = time.perf_counter()
    cost = np.full((n, m), FAR)
    cost[dem, cand] = dist
    model = MCLP.from_cost_matrix(cost, weight, service_radius=LIMIT_M, p_facilities=k, name=f"mclp_k{k}")
    build = time.perf_counter() - t0
    _err(f"[spopt k={k}] model built in {build:.1f} s; CBC solving (timeLimit {cap:.0f} s)")
    log_path = Path(tempfile.mkdtemp(prefix="siting_cbc_")) / "cbc.log"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PULP_CBC_CMD is deprecated in PuLP 3 (still what spopt documents)
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=cap, logPath=str(log_path))
    progress.write_text(json.dumps({"phase": "solve", "started": time.time() - build, "build_s": build, "solve_started": time.time()}))
    t1 = time.perf_counter()
    error = None
    try:
        model.solve(solver)
    except Exception as exc:  # spopt raises RuntimeError when PuLP's status is not 1
        error = f"{type(exc).__name__}: {exc}"
    solve = time.perf_counter() - t1
    cpu = _cpu() - c0
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    shutil.rmtree(log_path.parent, ignore_errors=True)
    cbc = _parse_cbc_log(text)
    values = [v.value() for v in model.fac_vars]
    chosen = [j for j, v in enumerate(values) if v is not None and v > 0.5]
    spopt_obj = model.problem.objective.value() if error is None else None
    status = pulp.LpStatus.get(model.problem.status, str(model.problem.status))
    sol_status = pulp.LpSolution.get(model.problem.sol_status, str(model.problem.sol_status))
    proven = cbc.get("cbc_result") == "Optimal solution found"
    if cbc.get("cbc_result"):
        hit_cap = "time" in cbc["cbc_result"].lower()
    else:  # no log: judge by the clock
        hit_cap = solve >= cap
    return {
        "build_s": build, "solve_s": solve, "total_s": build + solve, "cpu_s": cpu,
        "objective": _covered_weight(cand, dem, weight, n, chosen) if chosen else 0.0,
        "reported_objective": spopt_obj, "status": status, "sol_status": sol_status, "error": error,
        "hit_cap": hit_cap, "proven_optimal": proven,
        "bound": cbc.get("cbc_objective") if proven else cbc.get("cbc_bound"), "chosen": chosen, "n_chosen": len(chosen),
        "n_vars": len(model.problem.variables()), "n_constraints": len(model.problem.constraints),
        "log_tail": text.strip().splitlines()[-12:], **cbc,
    }


def worker(args) -> int:
    inst, k, cap = Path(args.instance), args.k, args.cap
    rss = PeakRSS()
    t = time.perf_counter()
    if args.worker == "planner":
        res = work_planner(inst, k, cap, reduce=True)
    elif args.worker == "planner_noreduce":
        res = work_planner(inst, k, cap, reduce=False)
    elif args.worker == "planner_scipy":
        res = work_scipy(inst, k, cap)
    elif args.worker == "greedy":
        res = work_greedy(inst, k, cap)
    elif args.worker == "spopt":
        res = work_spopt(inst, k, cap)
    else:
        raise SystemExit(f"unknown worker {args.worker}")
    res["worker_s"] = time.perf_counter() - t
    res["loadavg_1min_at_end"] = os.getloadavg()[0]
    res["peak_mib"] = rss.stop()
    Path(args.result).write_text(json.dumps(res))
    return 0


# --------------------------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------------------------


def _guard_hit(guard: dict, note: Path, t0: float) -> bool:
    """Has the worker outlived its guard? Phases come from the worker's progress note (spopt only)."""
    now_wall = time.perf_counter() - t0
    info = json.loads(note.read_text()) if note.exists() else {}
    if info.get("phase") == "build":
        return time.time() - info["started"] > guard["build"]
    if info.get("phase") == "solve":
        return time.time() - info["solve_started"] > guard["solve"]
    return now_wall > guard["start"]


def run_worker(name: str, k: int, cap: float, guard: dict, tmp: Path) -> dict:
    """Run one solver in its own process group; kill the group when it outlives its guard.

    ``guard``: ``start`` = seconds allowed until the timed work starts (or in all, for workers without
    progress notes), ``build`` / ``solve`` = seconds allowed in each phase of a worker that writes notes.
    """
    result = tmp / f"{name}_k{k}.json"
    note = tmp / f"{name}_k{k}.progress"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--instance", str(tmp), "--k", str(k),
           "--cap", str(cap), "--result", str(result)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)
    rc = None
    while rc is None:
        try:
            rc = proc.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            try:
                hit = _guard_hit(guard, note, t0)
            except (OSError, ValueError, KeyError):  # a note being rewritten
                hit = False
            if hit:
                break
    if rc is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its CBC child
        proc.wait()
        wall = time.perf_counter() - t0
        # time spent in the timed work (imports excluded) and the phase it was in, when the worker left a note
        info = json.loads(note.read_text()) if note.exists() else {}
        total = time.time() - info["started"] if "started" in info else wall
        phase = info.get("phase", "?")
        limit = guard.get(phase, guard["start"])
        _err(f"[{name} k={k}] killed after {wall:.0f} s, {limit:.0f} s into {phase}")
        return {"killed": True, "wall_s": wall, "guard_s": limit, "total_s": total, "objective": None, "status": "killed",
                "phase": phase, "build_s": info.get("build_s"), "proven_optimal": False, "hit_cap": True}
    wall = time.perf_counter() - t0
    if rc != 0 or not result.exists():
        _err(f"[{name} k={k}] failed (exit code {rc})")
        return {"failed": True, "rc": rc, "wall_s": wall, "total_s": None, "objective": None, "status": f"crash rc={rc}",
                "proven_optimal": False}
    res = json.loads(result.read_text())
    res["wall_s"] = wall
    _err(f"[{name} k={k}] total {res['total_s']:.2f} s, objective {res['objective']:.0f}, status {res['status']}"
         f" (process wall {wall:.1f} s)")
    return res


def reference(res: dict[str, dict]) -> dict:
    """The instance's best proven optimum (or, failing that, its best proven bound)."""
    proven = [r["objective"] for r in res.values() if r.get("proven_optimal") and r.get("objective") is not None]
    if proven:
        return {"kind": "optimum", "value": max(proven)}
    bounds = [r["bound"] for r in res.values() if r.get("bound") is not None and r.get("status") != "heuristic"]
    if bounds:
        return {"kind": "bound", "value": min(bounds)}
    best = [r["objective"] for r in res.values() if r.get("objective") is not None]
    return {"kind": "best found", "value": max(best) if best else None}


def _f(v, fmt="{:.2f}") -> str:
    return "—" if v is None else fmt.format(v)


def _status_cell(name: str, r: dict) -> str:
    if r.get("killed"):
        return f"killed {r['guard_s']:.0f} s into {r.get('phase') or '?'} (guard)"
    if r.get("failed"):
        return r["status"]
    if name == "greedy":
        return "heuristic"
    if name == "spopt":
        cbc = r.get("cbc_result") or "no CBC result"
        bound = f", CBC bound {r['cbc_bound']:.0f}" if isinstance(r.get("cbc_bound"), float) else ""
        return f"PuLP {r['status']}/{r['sol_status']}; CBC: {cbc}{bound}"
    return f"{r['status']}, bound {_f(r.get('bound'), '{:.0f}')}, gap {_f(r.get('gap'), '{:.2e}')}"


def render(n: int, m: int, k: int, res: dict[str, dict], ref: dict) -> list[list[str]]:
    rows = []
    for name in SOLVERS:
        if name not in res:
            continue
        r = res[name]
        gap = None
        if r.get("objective") is not None and ref["value"]:
            gap = 100.0 * (ref["value"] - r["objective"]) / ref["value"]
        rows.append([f"{n} × {m}, k={k}", LABEL[name], _f(r.get("build_s")), _f(r.get("solve_s")), _f(r.get("total_s")),
                     _f(r.get("cpu_s")), _f(r.get("objective"), "{:.0f}"), _status_cell(name, r),
                     _f(gap, "{:.3f}") + ("" if ref["kind"] == "optimum" or gap is None else " (vs bound)"),
                     _f(r.get("peak_mib"), "{:.0f}")])
    return rows


def table(rows: list[list[str]]) -> str:
    head = ["instance (demand × candidates, k)", "solver", "build s", "solve s", "total s", "CPU s", "objective (covered weight)",
            "proven bound / status", "gap to best proven optimum %", "peak MiB"]
    width = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    right = {2, 3, 4, 5, 6, 8, 9}

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, width, strict=True))) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(width)) + "|"
    return "\n".join([line(head), sep, *(line(r) for r in rows)])


def speedup(res: dict[str, dict], ref: dict) -> dict:
    """planner vs spopt on total time (build + solve); a lower bound ('>') when spopt did not finish its proof."""
    p, s = res.get("planner"), res.get("spopt")
    if not p or not s or p.get("total_s") is None or s.get("total_s") is None:
        return {"ratio": None, "lower_bound": False, "notes": ["missing result"]}
    ratio = s["total_s"] / p["total_s"]
    cpu_ratio = s["cpu_s"] / p["cpu_s"] if s.get("cpu_s") and p.get("cpu_s") else None
    notes = []
    lower = bool(s.get("killed") or s.get("hit_cap") or not s.get("proven_optimal"))
    if s.get("killed"):
        notes.append(f"spopt killed {s['guard_s']:.0f} s into its {s.get('phase')} phase")
    elif s.get("hit_cap"):
        notes.append("CBC stopped at the time cap")
    elif not s.get("proven_optimal"):
        notes.append("CBC did not prove optimality")
    if s.get("objective") is not None and ref["value"] and s["objective"] < ref["value"] - 1e-6:
        notes.append(f"spopt's solution is {100 * (ref['value'] - s['objective']) / ref['value']:.3f} % below the optimum")
    if not p.get("proven_optimal"):
        notes.append(f"planner NOT proven optimal ({p.get('status')})")
    return {"ratio": ratio, "cpu_ratio": cpu_ratio, "lower_bound": lower, "notes": notes}


def _x(sp_: dict) -> str:
    r = sp_["ratio"]
    if r is None:
        return "n/a"
    num = f"{r:.0f}" if r >= 10 else f"{r:.1f}"
    return ("> " if sp_["lower_bound"] else "") + num + "×"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 000 × 400, k = 10 (< 1 min)")
    ap.add_argument("--demand", type=int, help="demand points (default 10 000; quick 2 000)")
    ap.add_argument("--candidates", type=int, help="candidate sites (default 2 000; quick 400)")
    ap.add_argument("--k", help="comma-separated k values (default 10,20,50; quick 10)")
    ap.add_argument("--cap", type=float, help="spopt/CBC timeLimit per solve, s (default 300; quick 10)")
    ap.add_argument("--planner-cap", type=float, help="solve_mclp time_limit, s (default 600; quick 20)")
    ap.add_argument("--noreduce-cap", type=float, help="time_limit of planner without reductions, s (default 90; quick 5); 0 skips it")
    ap.add_argument("--scipy-cap", type=float, help="time_limit of the same MILP through scipy.optimize.milp, s (default 300; quick 20); 0 skips it")
    ap.add_argument("--skip", default="", help="comma-separated solvers to leave out (planner_noreduce, planner_scipy, spopt, greedy)")
    ap.add_argument("--out", help="write all results as JSON (a bare file name goes to benchmarks/results/)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--instance", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        args.k = int(args.k)
        return worker(args)

    conf = dict(QUICK if args.quick else FULL)
    n = args.demand or conf["demand"]
    m = args.candidates or conf["candidates"]
    ks = [int(v) for v in args.k.split(",")] if args.k else conf["ks"]
    headline = conf["headline_k"] if conf["headline_k"] in ks else ks[0]
    cap = args.cap if args.cap is not None else conf["cap"]
    pcap = args.planner_cap if args.planner_cap is not None else conf["planner_cap"]
    ncap = args.noreduce_cap if args.noreduce_cap is not None else conf["noreduce_cap"]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    scap = args.scipy_cap if args.scipy_cap is not None else conf["scipy_cap"]
    if ncap <= 0:
        skip.add("planner_noreduce")
    if scap <= 0:
        skip.add("planner_scipy")
    build_guard = QUICK_BUILD_GUARD_S if args.quick else SPOPT_BUILD_GUARD_S
    grace = QUICK_SOLVE_GRACE_S if args.quick else SPOPT_SOLVE_GRACE_S
    guards = {"planner": {"start": pcap + 120}, "planner_noreduce": {"start": ncap + 120}, "planner_scipy": {"start": scap + 120},
              "greedy": {"start": 600},
              "spopt": {"start": 120, "build": build_guard, "solve": cap + grace}}
    caps = {"planner": pcap, "planner_noreduce": ncap, "planner_scipy": scap, "spopt": cap, "greedy": 0}

    t_run = time.perf_counter()
    load_start = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="siting_bench_"))
    try:
        inst = build_instance(n, m, tmp)
        results: dict[int, dict[str, dict]] = {}
        for k in ks:
            results[k] = {}
            for name in ["greedy", "planner", "planner_noreduce", "planner_scipy", "spopt"]:
                if name in skip:
                    continue
                _err(f"[run] k={k} {name} …")
                results[k][name] = run_worker(name, k, caps[name], guards[name], tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    run_s = time.perf_counter() - t_run

    rows, summary = [], {}
    for k in ks:
        ref = reference(results[k])
        rows += render(n, m, k, results[k], ref)
        for name, r in results[k].items():
            if ref["kind"] == "optimum" and r.get("objective") is not None and r["objective"] > ref["value"] + 1e-6:
                _err(f"WARNING: k={k} {name} covers {r['objective']:.0f} > the proven optimum {ref['value']:.0f}")
        summary[k] = {"reference": ref, "speedup": speedup(results[k], ref)}

    print(f"MCLP on the {inst['network']['scenario']} walk network ({inst['network']['nodes']} nodes, "
          f"{inst['network']['edges']} edges, {inst['network']['km']} km, {inst['network']['crs']}); coverage = within "
          f"{LIMIT_M:.0f} m walking; weights {WEIGHT_LOW}-{WEIGHT_HIGH}; seed {SEED}")
    sec = inst["seconds"]
    print(f"instance: {n} demand × {m} candidates, {inst['pairs']} pairs within {LIMIT_M:.0f} m "
          f"({inst['demand_uncoverable']} demand points with no candidate in reach, {inst['candidates_covering_nothing']} candidates "
          f"covering nothing, {inst['unreachable_points']} points beyond max_snap_m); built once in "
          f"{sec['network'] + sec['points'] + sec['snap'] + sec['reach_graph'] + sec['catchments']:.1f} s (network {sec['network']:.1f} s, "
          f"snap {sec['snap']:.2f} s, reach graph {sec['reach_graph']:.2f} s, catchments {sec['catchments']:.2f} s), shared by all solvers")
    print(f"caps: spopt/CBC timeLimit {cap:.0f} s (guards: build {build_guard:.0f} s, solve cap + {grace:.0f} s), planner time_limit {pcap:.0f} s, "
          f"planner without reductions {ncap:.0f} s, HiGHS via scipy {scap:.0f} s; machine: {os.cpu_count()} cores, load average "
          f"(1/5/15 min) at start {', '.join(f'{v:.1f}' for v in load_start)}, at end {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print()
    print(table(rows))
    print()
    for k in ks:
        red = results[k].get("planner", {}).get("reduced")
        if red:
            p = results[k]["planner"]
            print(f"k={k}: planner's reductions {red['from_demand']} × {red['from_candidates']} ({red['from_nnz']} nz) → "
                  f"{red['demand']} × {red['candidates']} ({red['nnz']} nz) in {p['build_s']:.2f} s")
    for k in ks:
        s = results[k].get("spopt")
        if s and not s.get("killed") and not s.get("failed"):
            rep = s.get("reported_objective")
            print(f"k={k}: spopt PuLP status {s['status']!r} (solution status {s['sol_status']!r}); CBC: {s.get('cbc_result')!r}, "
                  f"CBC wall {_f(s.get('cbc_wall_s'), '{:.1f}')} s of {s['solve_s']:.1f} s solve; spopt's own objective "
                  f"{_f(rep, '{:.0f}')} vs recomputed {s['objective']:.0f}" + (f"; error: {s['error']}" if s.get("error") else ""))
    print()
    for k in ks:
        sp_ = summary[k]["speedup"]
        ref = summary[k]["reference"]
        p, s = results[k].get("planner", {}), results[k].get("spopt", {})
        note = ("; " + "; ".join(sp_["notes"])) if sp_["notes"] else ""
        cpu = "" if sp_.get("cpu_ratio") is None else f"; on CPU time {_x({**sp_, 'ratio': sp_['cpu_ratio']})}"
        print(f"k={k}: planner {_f(p.get('total_s'))} s vs spopt {_f(s.get('total_s'))} s → speedup {_x(sp_)}{cpu} "
              f"(best proven {ref['kind']} {_f(ref['value'], '{:.0f}')}{note})")
    for k in ks:
        p, q = results[k].get("planner", {}), results[k].get("planner_scipy", {})
        if p.get("solve_s") and q.get("solve_s"):
            lower = "> " if not q.get("proven_optimal") else ""
            print(f"k={k}: the same reduced MILP through scipy.optimize.milp: {q['solve_s']:.1f} s ({q['status']}) vs planner's "
                  f"HiGHS call {p['solve_s']:.1f} s → {lower}{q['solve_s'] / p['solve_s']:.1f}× on the solve")
    print(f"whole run {run_s:.0f} s")
    if args.out:
        out = Path(args.out)
        if not out.is_absolute() and out.parent == Path("."):
            out = RESULTS / out
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"instance": inst, "caps": {"spopt": cap, "planner": pcap, "planner_noreduce": ncap, "planner_scipy": scap, "spopt_guard": guards["spopt"]},
                   "seed": SEED, "limit_m": LIMIT_M, "python": platform.python_version(), "cpus": os.cpu_count(),
                   "loadavg_start": load_start, "loadavg_end": os.getloadavg(), "run_s": run_s,
                   "results": {str(k): {"solvers": results[k], **summary[k]} for k in ks}}
        out.write_text(json.dumps(payload, indent=1, default=str))
        _err(f"[out] {out}")
    print(f"siting speedup: {_x(summary[headline]['speedup'])} vs spopt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
