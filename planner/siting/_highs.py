"""One MILP call into HiGHS (through its own Python interface, ``highspy``), with a starting solution.

The interface follows ``scipy.optimize.milp`` (the same bounds and constraint objects, a result with ``status``,
``x``, ``fun``, ``mip_dual_bound``, ``message``) so that the models in :mod:`planner.siting.models` read the same; what
it adds is what scipy cannot pass to HiGHS: a starting solution (the greedy answer), and the switch to turn
HiGHS's presolve off (on dense covering matrices it spends most of the solve time there; see docs/siting.md).
The solver runs on one thread, so a result depends on nothing but the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint

if TYPE_CHECKING:
    import highspy

__all__ = ["MilpResult", "milp"]


@dataclass
class MilpResult:
    """``status``: 0 optimal, 1 time limit, 2 infeasible, 3 unbounded, 4 other (as ``scipy.optimize.milp``)."""

    status: int
    message: str
    x: np.ndarray | None
    fun: float | None
    mip_dual_bound: float | None
    mip_gap: float | None
    mip_node_count: int
    seconds: float


def milp(
    c: np.ndarray,
    *,
    integrality: np.ndarray,
    bounds: Bounds,
    constraints: list[LinearConstraint],
    options: dict | None = None,
    start: np.ndarray | None = None,
) -> MilpResult:
    """Minimise ``c @ x`` subject to ``constraints`` and ``bounds``; ``integrality`` 1 marks integer variables.

    ``options``: ``time_limit`` (s), ``mip_rel_gap`` (0 = prove optimality), ``presolve`` (bool), ``heuristics``
    (bool; False turns HiGHS's primal heuristics off, for models given a good ``start``). ``start`` is a
    feasible solution HiGHS starts from (its objective becomes the first incumbent); an infeasible start is ignored
    by HiGHS.
    """
    import highspy

    options = dict(options or {})
    lp = _highs_lp(np.asarray(c, dtype=np.float64), integrality, bounds, constraints)
    h = highspy.Highs()
    _set_options(h, options)
    h.passModel(lp)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(start, dtype=np.float64).tolist()
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    return _result(h)


def _highs_lp(c: np.ndarray, integrality: np.ndarray, bounds: Bounds, constraints: list[LinearConstraint]) -> highspy.HighsLp:
    """The model as a HighsLp: costs, column bounds, the constraints stacked row-wise, integrality."""
    import highspy

    nv = len(c)
    lb = np.broadcast_to(np.asarray(bounds.lb, dtype=np.float64), (nv,)).copy()
    ub = np.broadcast_to(np.asarray(bounds.ub, dtype=np.float64), (nv,)).copy()
    blocks, rlo, rhi = [], [], []
    for con in constraints:
        a = sp.csr_matrix(con.A, dtype=np.float64)
        blocks.append(a)
        rlo.append(np.broadcast_to(np.asarray(con.lb, dtype=np.float64), (a.shape[0],)))
        rhi.append(np.broadcast_to(np.asarray(con.ub, dtype=np.float64), (a.shape[0],)))
    a = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, nv))
    a.sum_duplicates()
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = nv
    lp.num_row_ = a.shape[0]
    lp.col_cost_ = c
    lp.col_lower_ = np.where(np.isfinite(lb), lb, -inf)
    lp.col_upper_ = np.where(np.isfinite(ub), ub, inf)
    lp.row_lower_ = np.where(np.isfinite(np.concatenate(rlo)), np.concatenate(rlo), -inf) if blocks else np.zeros(0)
    lp.row_upper_ = np.where(np.isfinite(np.concatenate(rhi)), np.concatenate(rhi), inf) if blocks else np.zeros(0)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data
    integer = np.asarray(integrality) > 0
    lp.integrality_ = [highspy.HighsVarType.kInteger if v else highspy.HighsVarType.kContinuous for v in integer]
    return lp


def _set_options(h: highspy.Highs, options: dict) -> None:
    """Quiet, one thread, fixed seed; time limit, gap, presolve and heuristics from ``options``."""
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("time_limit", float(options.get("time_limit", np.inf)))
    h.setOptionValue("mip_rel_gap", float(options.get("mip_rel_gap", 1e-4)))
    h.setOptionValue("presolve", "on" if options.get("presolve", True) else "off")
    if not options.get("heuristics", True):
        # with a good start, HiGHS's primal heuristics (sub-MIPs at the root) cost more than they find
        for name, value in (("mip_heuristic_effort", 0.0), ("mip_heuristic_run_root_reduced_cost", False),
                            ("mip_heuristic_run_rins", False), ("mip_heuristic_run_rens", False)):
            h.setOptionValue(name, value)  # an option an older HiGHS lacks is refused with a status, not raised


def _result(h: highspy.Highs) -> MilpResult:
    """The solved model's status (scipy's codes), solution when feasible, bound, gap, nodes and time."""
    import highspy

    info = h.getInfo()
    status_ = h.getModelStatus()
    ms = highspy.HighsModelStatus
    code = {ms.kOptimal: 0, ms.kTimeLimit: 1, ms.kInfeasible: 2, ms.kUnbounded: 3, ms.kUnboundedOrInfeasible: 3}.get(status_, 4)
    has_x = info.primal_solution_status == 2 and code != 3  # a feasible point (kSolutionStatusFeasible); none when unbounded
    x = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_x else None
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    return MilpResult(
        status=code,
        message=f"HiGHS {h.modelStatusToString(status_)}",
        x=x,
        fun=float(info.objective_function_value) if has_x else None,
        mip_dual_bound=bound,
        mip_gap=float(info.mip_gap) if has_x and np.isfinite(info.mip_gap) else None,
        mip_node_count=int(info.mip_node_count),
        seconds=float(h.getRunTime()),
    )
