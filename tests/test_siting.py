"""Siting: exact optima checked by brute force, 街道 constraints, capacities, infeasible and unreachable cases, determinism."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from planner.siting.models import (
    CoverProblem,
    pair_facilities,
    reduce_problem,
    solve_capacitated,
    solve_lscp,
    solve_mclp,
    solve_pmedian,
)


def _random_problem(seed: int, zones: int = 1):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(6, 22)), int(rng.integers(3, 9))
    cover = sp.csr_matrix(rng.random((n, m)) < 0.3)
    weight = rng.integers(0, 100, n).astype(float)
    zone = np.array([f"Z{int(z)}" for z in rng.integers(0, zones, m)])
    return cover, weight, zone


def _covered(cover, weight, cols) -> float:
    cols = [int(c) for c in cols]
    return float(weight[cover[:, cols].sum(axis=1).A1 > 0].sum()) if cols else 0.0


@pytest.mark.parametrize("seed", range(25))
def test_mclp_matches_brute_force_with_and_without_reductions(seed):
    """For every k, the MILP optimum equals the best of all k-subsets, before and after the exact reductions."""
    cover, weight, zone = _random_problem(seed)
    problem = CoverProblem(cover, weight, zone)
    reduced, _, kept = reduce_problem(problem)
    for k in (1, 2, 3):
        best = max(_covered(cover, weight, c) for c in itertools.combinations(range(cover.shape[1]), k))
        sol = solve_mclp(problem, k)
        red = solve_mclp(reduced, k)
        assert sol.status == "optimal" and sol.gap == 0.0
        assert sol.objective == pytest.approx(best) and red.objective == pytest.approx(best)
        assert _covered(cover, weight, kept[red.chosen]) == pytest.approx(best)  # mapped back, it still covers that much


@pytest.mark.parametrize("seed", range(15))
def test_zone_constraints_honoured(seed):
    """With "at least one in each required zone" the optimum is the best subset that meets it, and it meets it."""
    cover, weight, zone = _random_problem(seed, zones=3)
    required = tuple(sorted(set(zone)))[:2]
    problem = CoverProblem(cover, weight, zone, required_zones=required)
    k = 3
    feasible = [c for c in itertools.combinations(range(cover.shape[1]), k) if all(any(zone[j] == z for j in c) for z in required)]
    sol = solve_mclp(problem, k)
    if not feasible:
        assert sol.status == "infeasible"
        return
    best = max(_covered(cover, weight, c) for c in feasible)
    assert sol.objective == pytest.approx(best)
    assert all(any(zone[j] == z for j in sol.chosen) for z in required)


def test_zone_without_candidates_is_reported():
    """A required zone with no candidate makes the model infeasible and the answer says which zone."""
    problem = CoverProblem(sp.csr_matrix(np.eye(3, dtype=bool)), np.array([5.0, 3.0, 1.0]), np.array(["A", "A", "B"]), ("C",))
    sol = solve_mclp(problem, 2)
    assert sol.status == "infeasible" and "C" in sol.solver_message
    assert sol.details["zones_without_candidates"] == ["C"]


@pytest.mark.parametrize("seed", range(15))
def test_lscp_fewest_sites_by_brute_force(seed):
    """The fewest sites reaching 60 % of the coverable weight, checked over all subsets."""
    cover, weight, zone = _random_problem(seed)
    problem = CoverProblem(cover, weight, zone)
    coverable = _covered(cover, weight, range(cover.shape[1]))
    target = 0.6 * coverable
    best = min(k for k in range(cover.shape[1] + 1) for c in itertools.combinations(range(cover.shape[1]), k) if _covered(cover, weight, c) >= target - 1e-9)
    sol = solve_lscp(problem, target)
    assert sol.status == "optimal" and len(sol.chosen) == best
    assert _covered(cover, weight, sol.chosen) >= target - 1e-9


def test_lscp_unreachable_target_says_what_is_possible():
    """A target beyond what all candidates together cover is infeasible, with the most that can be covered."""
    cover = sp.csr_matrix(np.array([[1, 0], [0, 1], [0, 0]], dtype=bool))
    sol = solve_lscp(CoverProblem(cover, np.array([10.0, 20.0, 70.0]), np.array(["z", "z"])), 50.0)
    assert sol.status == "infeasible" and sol.details["max_coverable"] == 30.0 and "30" in sol.solver_message


def test_capacity_never_exceeded_and_missing_places_reported():
    """Two sites of 50 and 30 places, demand 40 + 40 + 40 reachable as drawn: at most 80 served, 40 missing."""
    pairs_d = np.array([0, 1, 1, 2])
    pairs_s = np.array([0, 0, 1, 1])
    sol = solve_capacitated(pairs_d, pairs_s, np.array([40.0, 40.0, 40.0]), np.array([50.0, 30.0]), k=2)
    served = sol.details["assigned"]
    per_site = np.bincount(pairs_s, weights=served, minlength=2)
    assert (per_site <= np.array([50.0, 30.0]) + 1e-9).all()
    assert sol.objective == pytest.approx(80.0) and sol.details["missing"] == pytest.approx(40.0)
    one = solve_capacitated(pairs_d, pairs_s, np.array([40.0, 40.0, 40.0]), np.array([50.0, 30.0]), k=1)
    assert list(one.chosen) == [0] and one.objective == pytest.approx(50.0)


def test_capacitated_honours_every_zone():
    """The same two sites, site 0 in 街道 A and site 1 in B. With B required and k = 1 the bigger site 0 is not
    allowed: site 1 opens and serves 30 (by hand); with k = 2 both open (80); a required zone without any site,
    or fewer sites than required zones, is reported as infeasible with the reason."""
    pairs_d, pairs_s = np.array([0, 1, 1, 2]), np.array([0, 0, 1, 1])
    need, cap, zone = np.array([40.0, 40.0, 40.0]), np.array([50.0, 30.0]), np.array(["A", "B"])
    sol = solve_capacitated(pairs_d, pairs_s, need, cap, 1, zone_of_site=zone, required_zones=("B",))
    assert sol.status == "optimal" and list(sol.chosen) == [1] and sol.objective == pytest.approx(30.0)
    assert sol.details["missing"] == pytest.approx(90.0)
    both = solve_capacitated(pairs_d, pairs_s, need, cap, 2, zone_of_site=zone, required_zones=("A", "B"))
    assert sorted(both.chosen) == [0, 1] and both.objective == pytest.approx(80.0)
    none = solve_capacitated(pairs_d, pairs_s, need, cap, 2, zone_of_site=zone, required_zones=("C",))
    assert none.status == "infeasible" and "C" in none.solver_message
    few = solve_capacitated(pairs_d, pairs_s, need, cap, 1, zone_of_site=zone, required_zones=("A", "B"))
    assert few.status == "infeasible" and "k = 1" in few.solver_message


def test_pmedian_by_hand():
    """Demand a (w 1) and b (w 3); existing site E is 100 m from a and 500 m from b; candidate C is 50 m from b.
    With k = 1 new site, C opens: mean = (1·100 + 3·50) / 4 = 62.5 m."""
    pairs_d = np.array([0, 1, 1])
    pairs_s = np.array([0, 0, 1])
    dist = np.array([100.0, 500.0, 50.0])
    sol = solve_pmedian(pairs_d, pairs_s, dist, np.array([1.0, 3.0]), 2, np.array([0]), k=1)
    assert list(sol.chosen) == [1] and sol.objective == pytest.approx(62.5) and sol.status == "optimal"
    none = solve_pmedian(pairs_d, pairs_s, dist, np.array([1.0, 3.0]), 2, np.array([0]), k=0)
    assert len(none.chosen) == 0 and none.objective == pytest.approx((100 + 1500) / 4)


def test_pairing_is_least_total_distance():
    """Greedy nearest pairing would take (0,0)=1 and then (1,1)=10; the assignment takes 2 + 2."""
    dist = np.array([[1.0, 2.0], [2.0, 10.0]])
    rows, cols = pair_facilities(dist)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1), (1, 0)]
    rows, cols = pair_facilities(np.array([[np.inf, 3.0], [np.inf, np.inf]]))
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1)]


def test_demo_siting_outputs(demo_run: Path):
    """The demo asks for 2 elderly centres with 南湖街道 required: one lands in 南湖, each is explained, the solver proved
    its optimum, the coverage curve rises, and no capacity is exceeded."""
    sites = pd.read_csv(demo_run / "sites.csv", encoding="utf-8-sig")
    summary = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))
    elderly = sites[(sites["category"] == "elderly_centre") & sites["partner"].isna()].sort_values("rank")
    assert len(elderly) == 2 and "Z03" in set(elderly["zone_id"])
    assert elderly["explanation"].str.contains("新覆盖").all()
    assert elderly["fixes"].fillna("").str.contains("补齐").any()
    task = next(t for t in summary["siting"] if t["category"] == "elderly_centre" and t["model"] == "mclp")
    assert task["status"] == "optimal" and task["gap"] == 0 and task["objective"] == pytest.approx(task["bound"])
    assert task["objective"] == pytest.approx(elderly["marginal_gain"].sum())
    assert task["objective"] >= task["greedy_objective"]
    assert task["greedy_gap"] == pytest.approx((task["bound"] - task["greedy_objective"]) / task["bound"], abs=1e-6)
    curve = pd.read_csv(demo_run / "coverage_curve.csv", encoding="utf-8-sig")
    assert (curve["covered"].diff().dropna() >= 0).all() and (curve["covered"] >= curve["greedy_covered"] - 1e-9).all()
    cc = next(t for t in summary["siting"] if t["category"] == "childcare")
    assert cc["places_served"] <= 3 * 80 + 1e-9 and cc["places_still_missing"] == pytest.approx(cc["places_needed"] - cc["places_served"], abs=0.2)
    assert summary["siting"][0]["unreachable_demand"] >= 1  # 孤村 cannot be reached by any candidate: listed, not hidden


def test_siting_is_deterministic(repo_root: Path, tmp_path: Path):
    """Two runs of the demo scenario choose the same sites in the same order."""
    from planner.pipeline import run
    from planner.scenario import load_scenario

    sc = load_scenario(repo_root / "scenarios" / "demo.toml")
    a, b = run(sc), run(sc)
    pd.testing.assert_frame_equal(a.sites.drop(columns="geometry").reset_index(drop=True), b.sites.drop(columns="geometry").reset_index(drop=True))


def test_combined_elderly_childcare_sites(demo_run: Path):
    """老幼复合 in the demo: each site hosts both services; the objective is the 60+ newly within 15 minutes of the
    elderly service plus the 0–3 newly within 300 m of the childcare service, proven optimal, and every 街道
    lacking either service gets a combined site (and its explanation says which service it lacked)."""
    sites = pd.read_csv(demo_run / "sites.csv", encoding="utf-8-sig")
    summary = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))
    task = next(t for t in summary["siting"] if t["model"] == "combined")
    mine = sites[sites["task"] == task["name"]]
    assert task["partner"] == "childcare" and task["partner_radius_m"] == 300
    assert task["status"] == "optimal" and task["objective"] == pytest.approx(task["bound"])
    assert (mine["category"] == "elderly_centre").all() and (mine["partner"] == "childcare").all()
    assert task["objective"] == pytest.approx(mine["marginal_gain"].sum())
    assert mine["marginal_gain"].to_numpy() == pytest.approx((mine["new_age_60_plus"] + mine["new_age_0_3"]).to_numpy())
    # the demo lacks an elderly centre in Z03 and childcare in Z04: both are required, each gets a site
    assert {"Z03", "Z04"} <= set(task["required_zones"]) <= set(mine["zone_id"])
    fixes = dict(zip(mine["zone_id"], mine["fixes"], strict=True))
    assert "补齐该街道的综合性养老服务中心" in fixes["Z03"] and "托育" in fixes["Z04"]


def test_combined_model_is_exact_by_brute_force(repo_root: Path, monkeypatch):
    """The 老幼复合 task's MILP (both services stacked on the same candidates, after the exact reductions) has the
    optimum a brute force over every pair of candidates finds, with the 街道 constraints honoured."""
    import planner.siting.suggest as suggest
    from planner.pipeline import run
    from planner.scenario import load_scenario

    seen = []
    real = suggest.solve_mclp

    def spy(problem, k, **kw):
        sol = real(problem, k, **kw)
        seen.append((problem, k, sol))
        return sol

    monkeypatch.setattr(suggest, "solve_mclp", spy)
    sc = load_scenario(repo_root / "scenarios" / "demo.toml")
    combined = next(t for t in sc.siting if t.model == "combined")
    import dataclasses

    run(dataclasses.replace(sc, siting=(combined,)))
    problem, k, sol = seen[0]
    cover, w, zones = problem.cover.tocsc(), problem.weight, np.asarray(problem.zone_of_candidate)
    best = 0.0
    for pick in itertools.combinations(range(problem.n_candidates), k):
        if not set(problem.required_zones) <= set(zones[list(pick)]):
            continue
        best = max(best, _covered(cover, w, pick))
    assert sol.status == "optimal" and sol.objective == pytest.approx(best)
    assert problem.n_demand > 0 and len(problem.required_zones) >= 2


def test_partner_only_for_combined(tmp_path: Path):
    from planner.errors import ScenarioError
    from planner.scenario import load_scenario

    base = (Path(__file__).resolve().parents[1] / "scenarios" / "demo.toml").read_text(encoding="utf-8")
    head = base.split("[[siting]]")[0].replace('path = "../layers/', f'path = "{(Path(__file__).resolve().parents[1] / "layers").as_posix()}/')
    for extra, fragment in (('model = "mclp"\npartner = "childcare"', "partner"), ('model = "combined"\npartner = "teahouse"', "partner"),
                            ('model = "combined"\npartner_demand = "babies"', "partner_demand")):
        path = tmp_path / "s.toml"
        path.write_text(head + f'[[siting]]\ncategory = "elderly_centre"\n{extra}\n', encoding="utf-8")
        with pytest.raises(ScenarioError, match=fragment):
            load_scenario(path)
    path.write_text(head + '[[siting]]\ncategory = "elderly_centre"\nmodel = "combined"\n', encoding="utf-8")
    task = load_scenario(path).siting[0]
    assert task.partner == "childcare" and task.partner_demand == "age_0_3"
