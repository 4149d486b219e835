"""Siting problems of a run: who each task must still serve, the candidate sites, and which compounds each reaches.

Every task of a run shares the run's :class:`~planner.network.points.Reach` (gates and facilities snapped once).
The candidates of all tasks are generated first and snapped together in one call; each task then builds the
reach graph of its own points (gates, its existing facilities, its candidates) from those snappings, because
distances depend in the last bits on which points split the edges and must not see other tasks' points.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from planner.analysis.standards import Rule
from planner.analysis.zones import assign_zones
from planner.engine.reach import ReachGraph, catchments, nearest_distance
from planner.engine.snap import Snapped
from planner.io.categories import Taxonomy
from planner.network.points import Reach, snap_geometries
from planner.schema import ALL_ZONES
from planner.settings import SitingSpec
from planner.siting.candidates import generate_candidates
from planner.siting.models import CoverProblem
from planner.siting.places import nearest_road_names

__all__ = ["SitingInputs", "Service", "SitingProblem", "build_problems", "compound_pairs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SitingInputs:
    """What all siting tasks of a run share.

    reach
        The run's gates and facilities snapped onto the walk network.
    compounds, gate_owner
        The compounds (with ``zone_id``, ``reachable`` and the demand columns) and, per gate, the compound (row
        position) it belongs to.
    facilities
        The run's facilities, row ``i`` being the point ``reach.facilities[i]``.
    zones, compliance
        The 街道 (indexed by id) or None, and the compliance table of the standards stage (or None).
    rules
        The rules of the scenario's standards preset, overrides applied.
    radius_default_m
        A task's radius when it names none (metres).
    radius_by_category
        Per category, the radius of a task of it that names none (metres: the longest threshold at the category's
        walking speed, e.g. 800 m for 养老); ``radius_default_m`` for a category it lacks.
    """

    reach: Reach
    compounds: gpd.GeoDataFrame
    gate_owner: np.ndarray
    facilities: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame | None
    compliance: pd.DataFrame | None
    rules: tuple[Rule, ...]
    radius_default_m: float
    taxonomy: Taxonomy
    # a partitioned run's piece (planner.partition): candidates only inside this area (metric CRS); None: anywhere
    area: object | None = None
    radius_by_category: Mapping[str, float] = field(default_factory=dict)
    # task name → its candidate layer already read (a piece's worker has no access to the client's files)
    user_candidates: dict | None = None
    # the run's 1+N 托育 model (planner.analysis.one_plus_n.OnePlusN), for ``model = "hubs"`` tasks
    one_plus_n: object | None = None
    _existing_graphs: dict[str, ReachGraph] = field(default_factory=dict, repr=False, compare=False)

    def existing_rows(self, category: str) -> np.ndarray:
        """Row positions in ``facilities`` of the existing facilities of ``category``."""
        return np.flatnonzero((self.facilities["category"] == category).to_numpy())

    def existing_graph(self, category: str) -> ReachGraph:
        """Reach graph of the gates (points ``0 … n_gates − 1``) and the existing facilities of ``category`` (the
        next points), built once per run and category."""
        graph = self._existing_graphs.get(category)
        if graph is None:
            reach = self.reach
            graph = reach.graph_of(np.r_[reach.gates, reach.facilities[self.existing_rows(category)]])
            self._existing_graphs[category] = graph
        return graph


@dataclass(frozen=True)
class Service:
    """One service a new site provides: its category, demand group, radius and who is served already."""

    category: str
    label: str
    demand: str
    radius: float
    covered_before: np.ndarray  # compound is within ``radius`` of an existing facility of ``category``
    ex_best: np.ndarray  # walking metres from each compound to the nearest existing facility of ``category``
    cover_rules: list
    required: tuple[str, ...]
    label_en: str = ""


@dataclass(frozen=True)
class _Draft:
    """A task before its candidates are snapped: services, required 街道 and candidate sites."""

    task: SitingSpec
    label: str
    radius: float
    limit: float
    services: list[Service]
    required: tuple[str, ...]
    existing: np.ndarray  # row positions in the run's facilities
    candidates: gpd.GeoDataFrame


@dataclass(frozen=True)
class SitingProblem:
    """One task ready to solve.

    candidates
        One row per candidate (``id``, ``name``, ``source``, ``capacity``, ``zone_id``, ``road_name``, ``reachable``,
        ``nearest_existing_m``), metric CRS.
    pairs
        Candidate (``s``) × compound (``c``) within the task's reach, with the walking metres ``d`` of the
        compound's nearest gate.
    graph, snapped
        The task's reach graph: gates, then its existing facilities (``existing``), then its candidates; and where
        each of those points joins the network (the candidates' position in both is ``n_gates + len(existing) + j``).
    cover
        The coverage instance: one block of demand rows per service.
    """

    task: SitingSpec
    label: str
    radius: float
    services: list[Service]
    required: tuple[str, ...]
    existing: np.ndarray
    candidates: gpd.GeoDataFrame
    pairs: pd.DataFrame
    graph: ReachGraph
    cover: CoverProblem
    unreachable: pd.DataFrame
    demand_total: float
    demand_before: float
    inputs: SitingInputs
    snapped: Snapped | None = None

    @property
    def candidate_positions(self) -> np.ndarray:
        """Point positions of the candidates in :attr:`graph` and :attr:`snapped`."""
        start = self.inputs.reach.n_gates + len(self.existing)
        return np.arange(start, start + len(self.candidates))


def compound_pairs(src: np.ndarray, tgt: np.ndarray, d: np.ndarray, owner: np.ndarray) -> pd.DataFrame:
    """Gate-level catchment pairs → (site, compound) with the nearest gate's distance."""
    frame = pd.DataFrame({"s": src, "c": owner[tgt], "d": d})
    return frame.groupby(["s", "c"], as_index=False, sort=True)["d"].min()


def build_problems(tasks: Sequence[SitingSpec], inputs: SitingInputs) -> Iterator[SitingProblem]:
    """The problem of each task, in order.

    Every task's candidates are read (so a bad candidates layer stops the run before any solving) and snapped in
    one call; each task's reach graph and catchments are then built only when its problem is asked for, so that at
    city scale one task's graph is held at a time.
    """
    drafts = [_draft(task, inputs) for task in tasks]
    snapped = _snap_candidates(drafts, inputs.reach)
    for draft, snap in zip(drafts, snapped, strict=True):
        yield _attach_candidates(draft, snap, inputs)


def _required_zones(task: SitingSpec, rules: list[Rule], zones, compliance, existing: pd.DataFrame) -> tuple[str, ...]:
    """街道 that must get a site: a failing per-街道 count rule of this category, else those without any of it."""
    if not (task.every_zone and zones is not None and len(zones)):
        return ()
    count_rules = {r.id for r in rules if r.kind == "zone_count"}
    if compliance is not None and count_rules:
        failing = compliance[(compliance["rule_id"].isin(count_rules)) & (compliance["status"] == "fail")]
        return tuple(sorted(set(failing["subdistrict"].astype(str)) & set(zones.index.astype(str))))
    have = set(existing["zone_id"].astype(str))
    return tuple(sorted(z for z in zones.index.astype(str) if z not in have))


def _existing_best(inputs: SitingInputs, category: str, limit: float) -> np.ndarray:
    """Walking metres (≤ ``limit``, else inf) from each compound's nearest gate to the nearest existing facility of
    ``category``."""
    graph = inputs.existing_graph(category)
    n_g, n_ex = inputs.reach.n_gates, len(inputs.existing_rows(category))
    s, t, d = catchments(graph, np.arange(n_g, n_g + n_ex), np.arange(n_g), limit=limit)
    pairs = compound_pairs(s, t, d, inputs.gate_owner)
    best = np.full(len(inputs.compounds), np.inf)
    np.minimum.at(best, pairs["c"].to_numpy(), pairs["d"].to_numpy())
    return best


def _service(task: SitingSpec, inputs: SitingInputs, category: str, demand: str, radius: float, limit: float,
             rules: list[Rule]) -> Service:
    """The service of ``category``: who is within ``radius`` of an existing one, and the 街道 that must get one."""
    cover_rules = [r for r in rules if r.kind == "zone_coverage"]
    existing = inputs.facilities.iloc[inputs.existing_rows(category)]
    required = _required_zones(task, rules, inputs.zones, inputs.compliance, existing)
    best = _existing_best(inputs, category, limit)
    cat = inputs.taxonomy[category]
    return Service(category, cat.zh, demand, radius, best <= radius, best, cover_rules, required, cat.en)


def _draft(task: SitingSpec, inputs: SitingInputs) -> _Draft:
    """Services, required 街道 and candidate sites of ``task`` (for 老幼复合, the partner service as a second one)."""
    cat = task.category
    label = inputs.taxonomy[cat].zh
    radius = task.radius_m or inputs.radius_by_category.get(cat, inputs.radius_default_m)
    rules = [r for r in inputs.rules if cat in r.categories]
    limit = max([radius] + [r.radius_m for r in rules if r.kind == "zone_coverage" and r.radius_m])
    services = [_service(task, inputs, cat, task.demand, radius, limit, rules)]
    required = services[0].required
    if task.model == "combined":  # 老幼复合: the partner service shares every new site
        p_cat = str(task.partner)
        p_radius = task.partner_radius_m or inputs.radius_by_category.get(p_cat, radius)
        p_rules = [r for r in inputs.rules if p_cat in r.categories]
        limit = max([limit, p_radius] + [r.radius_m for r in p_rules if r.kind == "zone_coverage" and r.radius_m])
        services.append(_service(task, inputs, p_cat, task.partner_demand, p_radius, limit, p_rules))
        required = tuple(sorted(set(required) | set(services[1].required)))
        label = f"{label}+{inputs.taxonomy[p_cat].zh}"
    if task.candidates is not None:
        given = (inputs.user_candidates or {}).get(task.name)
        cand = given.copy() if given is not None else user_candidates(task, inputs.reach.network.crs)
    else:
        cand = _gap_candidates(task, inputs, services, required, radius)
        cand["capacity"] = np.nan
    if inputs.area is not None and len(cand):
        cand = cand[shapely.contains(inputs.area, cand.geometry.to_numpy())]
    cand = cand.reset_index(drop=True)
    if inputs.zones is not None and len(inputs.zones):
        cand["zone_id"] = assign_zones(cand.set_index(cand["id"]), inputs.zones).to_numpy()
    else:
        cand["zone_id"] = ALL_ZONES
    return _Draft(task, label, radius, limit, services, required, inputs.existing_rows(cat), cand)


def user_candidates(task: SitingSpec, crs) -> gpd.GeoDataFrame:
    """The task's own candidate layer: one point per feature, with a name and capacity where the layer has them.

    Rows without usable coordinates are not candidates: they are counted in a warning naming their row numbers
    (and a layer with none left stops the run); capacities are read like the layers' numbers (80张, 约120)."""
    from planner.errors import LayerError
    from planner.io.numbers import UNITS, read_numbers
    from planner.io.readers import COORD_PROBLEM, SOURCE_ROW, read_layer

    what = f"[[siting]] {task.name} candidates"
    cand = read_layer(task.candidates, crs=task.candidates_crs, what=what).to_crs(crs)
    usable = cand.geometry.notna() & ~cand.geometry.is_empty
    if COORD_PROBLEM in cand.columns:
        usable &= cand[COORD_PROBLEM].fillna("").eq("")
    if not usable.all():
        rows = cand.loc[~usable, SOURCE_ROW].astype(str).tolist() if SOURCE_ROW in cand.columns else []
        shown = "、".join(rows[:10]) + ("…" if len(rows) > 10 else "")
        if not usable.any():
            raise LayerError(f"{what} {task.candidates} 没有一个候选点有可用坐标 / no candidate in {task.candidates} has usable coordinates")
        log.warning("%s %s：%d 个候选点没有可用坐标，未作候选（第 %s 行） / %d candidates without usable coordinates were "
                    "left out (rows %s)", what, task.candidates.name, int((~usable).sum()), shown, int((~usable).sum()), shown)
    cand = cand[usable].copy()
    cand["geometry"] = cand.geometry.representative_point()
    name_col = next((c for c in ("name", "名称", "地址") if c in cand.columns), None)
    cap_col = next((c for c in ("capacity", "容量", "托位", "床位") if c in cand.columns), None)
    units = (*UNITS["places"], *UNITS["beds"])
    return gpd.GeoDataFrame(
        {
            "id": [f"C{i + 1:04d}" for i in range(len(cand))],
            "name": cand[name_col].astype(str).to_numpy() if name_col else [f"候选点 {i + 1}" for i in range(len(cand))],
            "source": "user",
            "capacity": read_numbers(cand[cap_col], units).values.to_numpy() if cap_col else np.nan,
        },
        geometry=cand.geometry.to_numpy(),
        crs=crs,
    )


def _gap_candidates(task: SitingSpec, inputs: SitingInputs, services: list[Service], required: tuple[str, ...],
                    radius: float) -> gpd.GeoDataFrame:
    """Candidates generated around the reachable compounds that some service does not cover yet."""
    gap = np.logical_or.reduce([~sv.covered_before for sv in services])
    uncovered = np.flatnonzero(gap & inputs.compounds["reachable"].to_numpy(dtype=bool))
    unc_gates = np.flatnonzero(np.isin(inputs.gate_owner, uncovered))
    network = inputs.reach.network
    return generate_candidates(
        network, inputs.existing_graph(task.category), unc_gates, inputs.compounds, uncovered, inputs.zones, required,
        radius_m=radius, spacing_m=task.candidate_spacing_m, crs=network.crs,
    )


def _snap_candidates(drafts: list[_Draft], reach: Reach) -> list[Snapped | None]:
    """The candidates of all drafts snapped in one call, split per draft (None for a draft without candidates); each
    draft's candidates get the name of their nearest named street (``road_name``) from one query of all of them."""
    sizes = [len(d.candidates) for d in drafts]
    if not sum(sizes):
        for d in drafts:
            d.candidates["road_name"] = pd.Series(dtype=object)
        return [None] * len(drafts)
    points = np.concatenate([d.candidates.geometry.to_numpy() for d in drafts])
    snapped = snap_geometries(reach.network, points, max_snap_m=reach.max_snap_m)
    roads = nearest_road_names(reach.network, points)
    ends = np.cumsum(sizes)
    out: list[Snapped | None] = []
    for draft, a, b in zip(drafts, ends - sizes, ends, strict=True):
        part = slice(int(a), int(b))
        draft.candidates["road_name"] = roads[part]
        s = snapped
        out.append(Snapped(s.edge[part], s.offset[part], s.access[part], s.reachable[part]) if b > a else None)
    return out


def _attach_candidates(draft: _Draft, snapped: Snapped | None, inputs: SitingInputs) -> SitingProblem:
    """Put the draft's candidates on a reach graph with the gates and existing facilities, and build the cover
    problem: one block of demand rows per service (two for 老幼复合)."""
    task, reach, cand = draft.task, inputs.reach, draft.candidates
    n_g, n_ex = reach.n_gates, len(draft.existing)
    positions = np.r_[reach.gates, reach.facilities[draft.existing]]
    graph = reach.graph_of(positions, snapped)
    c_pos = np.arange(n_g + n_ex, n_g + n_ex + len(cand))
    cand["reachable"] = snapped.reachable if snapped is not None else np.zeros(0, dtype=bool)
    limit = max(draft.limit, 2 * draft.radius if task.model == "pmedian" else draft.limit)
    s, t, d = catchments(graph, c_pos, np.arange(n_g), limit=limit)
    pairs = compound_pairs(s, t, d, inputs.gate_owner)
    near_exist, _ = nearest_distance(graph, np.arange(n_g, n_g + n_ex), c_pos)
    cand["nearest_existing_m"] = near_exist

    compounds, n_comp = inputs.compounds, len(inputs.compounds)
    blocks, weights, n_unreach, dem_total, dem_before = [], [], [], 0.0, 0.0
    for sv in draft.services:
        dem = compounds[sv.demand].fillna(0).to_numpy(dtype=float)
        w_sv = np.where(sv.covered_before, 0.0, dem)
        near = pairs[pairs["d"] <= sv.radius]
        rows_cols = (near["c"].to_numpy(), near["s"].to_numpy())
        blocks.append(sp.csr_matrix((np.ones(len(near), dtype=bool), rows_cols), shape=(n_comp, len(cand))))
        weights.append(w_sv)
        n_unreach.append((w_sv > 0) & ~(np.diff(blocks[-1].indptr) > 0))
        dem_total += float(dem.sum())
        dem_before += float(dem[sv.covered_before].sum())
    cover = CoverProblem(cover=sp.vstack(blocks, format="csr"), weight=np.concatenate(weights),
                         zone_of_candidate=cand["zone_id"].astype(str).to_numpy(), required_zones=draft.required)
    unreachable = compounds.loc[np.logical_or.reduce(n_unreach), ["name", "zone_id", task.demand]].assign(
        reason="无候选点在步行范围内 / no candidate within reach"
    )
    return SitingProblem(
        task=task, label=draft.label, radius=draft.radius, services=draft.services, required=draft.required,
        existing=draft.existing, candidates=cand, pairs=pairs, graph=graph, cover=cover, unreachable=unreachable,
        demand_total=dem_total, demand_before=dem_before, inputs=inputs, snapped=reach.snapped_of(positions, snapped),
    )
