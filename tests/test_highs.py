"""The HiGHS call behind the siting models: hand-checked optimum, scipy's milp as an oracle, starts, time limits."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint
from scipy.optimize import milp as scipy_milp

from planner.siting._highs import milp
from planner.siting.models import CoverProblem, solve_mclp


def test_hand_checked_knapsack():
    # max 5a + 4b + 3c, 2a + 3b + c <= 5, binary: {a, b} weighs 5 and is worth 9; {a, c} 8; {b, c} 7
    res = milp(-np.array([5.0, 4.0, 3.0]), integrality=np.ones(3), bounds=Bounds(0, 1),
               constraints=[LinearConstraint(np.array([[2.0, 3.0, 1.0]]), -np.inf, 5.0)], options={"mip_rel_gap": 0})
    assert res.status == 0 and res.fun == -9.0 and res.x.round().tolist() == [1.0, 1.0, 0.0]
    assert res.mip_dual_bound == pytest.approx(-9.0) and res.mip_gap == 0.0


def test_infeasible_and_unbounded_are_reported():
    res = milp(np.ones(2), integrality=np.ones(2), bounds=Bounds(0, 1),
               constraints=[LinearConstraint(np.array([[1.0, 1.0]]), 3.0, np.inf)])
    assert res.status == 2 and res.x is None and "nfeasible" in res.message
    res = milp(-np.ones(1), integrality=np.zeros(1), bounds=Bounds(0, np.inf), constraints=[])
    assert res.status == 3 and res.x is None


@pytest.mark.parametrize("seed", range(6))
def test_same_optimum_as_scipy(seed):
    rng = np.random.default_rng(seed)
    nv, nc = 12, 6
    c = rng.integers(-9, 9, nv).astype(float)
    a = sp.random(nc, nv, density=0.5, random_state=seed, format="csr") * 10
    integrality = (rng.random(nv) < 0.6).astype(int)
    cons = [LinearConstraint(a, -np.inf, rng.uniform(3, 12, nc))]
    bounds = Bounds(0, rng.integers(1, 4, nv).astype(float))
    ours = milp(c, integrality=integrality, bounds=bounds, constraints=cons, options={"mip_rel_gap": 0})
    ref = scipy_milp(c, integrality=integrality, bounds=bounds, constraints=cons, options={"mip_rel_gap": 0})
    assert ours.status == ref.status == 0
    assert ours.fun == pytest.approx(ref.fun, abs=1e-6)
    # the solution is feasible
    assert np.all(a @ ours.x <= cons[0].ub + 1e-7)
    assert np.allclose(ours.x[integrality == 1], np.round(ours.x[integrality == 1]))


def _hard_cover(seed: int = 1) -> CoverProblem:
    """A random dense covering instance whose LP bound is far from the optimum: not solved in a fraction of a second."""
    rng = np.random.default_rng(seed)
    n, m = 3000, 400
    cover = sp.random(n, m, density=0.08, random_state=seed + 1, format="csr").astype(bool)
    return CoverProblem(cover, rng.integers(50, 3000, n).astype(float), np.zeros(m, dtype=np.int64))


def test_the_start_is_the_first_incumbent_and_time_limits_are_reported_as_such():
    problem = _hard_cover()
    # no time at all: HiGHS returns the greedy start it was given, and says it ran out of time
    sol = solve_mclp(problem, 10, time_limit=0.0)
    assert sol.status == "time_limit" and sol.objective == sol.greedy_objective and len(sol.chosen) == 10
    # a little time: still not proven, so the bound lies above the objective and the gap is positive
    sol = solve_mclp(problem, 10, time_limit=0.5)
    assert sol.status == "time_limit" and sol.objective >= sol.greedy_objective
    assert sol.bound is not None and sol.bound > sol.objective and sol.gap > 0
    covered = problem.weight[np.asarray(problem.cover[:, sol.chosen].sum(axis=1)).ravel() > 0].sum()
    assert covered == sol.objective


def test_an_infeasible_start_is_ignored():
    # the start (1, 1) breaks x0 + x1 <= 1: HiGHS must still find the optimum (0, 1) worth 2
    res = milp(-np.array([1.0, 2.0]), integrality=np.ones(2), bounds=Bounds(0, 1),
               constraints=[LinearConstraint(np.array([[1.0, 1.0]]), -np.inf, 1.0)], start=np.array([1.0, 1.0]),
               options={"mip_rel_gap": 0})
    assert res.status == 0 and res.fun == -2.0 and res.x.round().tolist() == [0.0, 1.0]
