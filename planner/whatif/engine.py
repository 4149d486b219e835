"""What-if planning: a run's facilities edited (added, moved, removed) and its coverage and standards recomputed
incrementally, equal to what a full run of the edited facilities gives.

:class:`WhatIf` keeps a run's walk network, snapped points and reach graph (every gate and facility a leaf on its
edge); :meth:`WhatIf.apply` returns a new :class:`PlanState` and never changes the run.

How a new point is reached without rebuilding the graph
-------------------------------------------------------
A new facility is snapped exactly as the run snaps facilities (:func:`planner.network.points.snap_geometries`: the
nearest allowed edge ``e``, the offset ``s`` of its foot from ``u`` and the access leg ``a``). In the run's graph the
edge ``e`` is a chain ``u — f1 — f2 … — v`` of the split nodes of the points already on it; the new foot falls
between two consecutive chain nodes ``L`` (offset ``sL ≤ s``, or ``u``) and ``R`` (offset ``sR ≥ s``, or ``v``).
Every path from the new foot leaves that interval through ``L`` or ``R``, so for any node ``X``

    d(new, X) = a + min(s − sL + d(L, X),  sR − s + d(R, X))

which is exactly the distance in the graph a full run would build with the new point inserted (that graph only adds
the split of ``L — R`` at ``s``; leaves never lie on other paths). ``d(L, ·)`` and ``d(R, ·)`` are two bounded
searches (the engine's :func:`~planner.engine.reach.catchments` on a view of the same CSR whose "points" are the
graph's nodes), limited to the run's ``search_limit_m``. A foot at ``u`` or ``v`` has ``L = R`` = that node; two new
points between the same ``L`` and ``R`` also reach each other directly (``|s1 − s2|``). An edge the graph dropped as
a longer parallel or a self-loop is handled by the same formula (its ends are ``u`` and ``v``).

Removal
-------
Only the compounds whose nearest facility of the category was removed change their distance; for them a nearest
search runs from the remaining facilities of the category that lie within ``search_limit_m`` in a straight line
(walking is never shorter), and the new facilities compete through their own searches. Counts and catchment pairs
lose the removed facility's pairs (the run's catchment table lists them). A move is a removal plus an addition
under the same id.

Standards are re-evaluated on the edited coverage with the run's own function, the 一刻钟 circles (their centres'
distances to each basic format) updated the same way.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from planner import schema
from planner.analysis.circles import CENTRE_CATEGORY, delineate_circles
from planner.analysis.coverage import Coverage
from planner.analysis.one_plus_n import OnePlusN, hub_point_pairs
from planner.analysis.requirements import Compliance
from planner.engine.reach import ReachGraph, catchments, nearest_distance
from planner.io.layers import HUB_CATEGORY, HUB_NAME_WORDS
from planner.labels import tr
from planner.network.points import Reach, point_xy, snap_geometries, snap_index
from planner.pipeline import RunResult, complete_circles, compound_gates, one_plus_n_model, standards_update
from planner.whatif.edits import AddFacility, EditError, Edits

__all__ = ["WhatIf", "PlanState", "NEW_PREFIX", "SERVED_GROUPS"]

log = logging.getLogger(__name__)

NEW_PREFIX = "NEW-"  # ids of added facilities: NEW-1, NEW-2 … in the order of the plan's additions
SERVED_GROUPS = ("population", "age_60_plus", "age_0_3")  # people newly served are counted per group
SEARCH_LADDER_M = (2500.0,)  # radii tried before search_limit_m for compounds whose nearest facility is removed
RADIUS_LEVELS_M = (1500.0, 2000.0, 3000.0, 4000.0)  # search radii of new points, rounded up to these (and the limit)
CHANGE_EPS_M = 1e-6  # distances closer than this are the same (the last bits depend on which points split an edge)


@dataclass(frozen=True)
class _NewPoint:
    """A facility placed by a plan, snapped, with its walking distances (metres, inf beyond the search limit)."""

    id: str
    category: str
    xy: tuple[float, float]
    edge: int
    offset: float
    access: float
    left: int  # graph node L and its distance along the edge from the foot
    right: int
    to_left: float
    to_right: float
    gate_d: np.ndarray  # to each gate (point position 0 … n_gates − 1)
    fac_d: np.ndarray  # to each of the run's facilities (row order)


@dataclass(frozen=True)
class PlanState:
    """A plan's facilities and what they give; built by :meth:`WhatIf.apply`.

    ``facilities`` holds every facility of the run plus the added ones, with ``edit`` = add / move / remove / "";
    ``coverage`` and ``compliance`` are computed over the facilities not removed.
    """

    edits: Edits
    facilities: gpd.GeoDataFrame
    coverage: Coverage
    compliance: Compliance
    circles: pd.DataFrame | None
    baseline: WhatIf = field(repr=False)
    touched: tuple[str, ...] = ()  # categories the edits concern
    zones: tuple[int, ...] | None = None  # positions (in the 街道 order) of the 街道 re-evaluated; None: all may differ
    # per touched category, the compounds whose nearest facility or its distance changed (a mask on their rows)
    moved_rows: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    one_plus_n: OnePlusN | None = field(default=None, repr=False)  # the plan's 1+N 托育 model (the run's if no childcare edit)

    @property
    def active(self) -> gpd.GeoDataFrame:
        """The facilities of the plan (removed ones left out)."""
        return self.facilities[self.facilities["edit"] != "remove"]

    def changes(self, lang: str = "zh") -> dict:
        """What the plan changes against the present, JSON-ready (no NaN or inf; distances None when none is found).

        ``compounds``: per compound and category whose nearest distance or a within-threshold flag changed — id,
        name, category, ``dist_before``/``dist_after`` (metres), nearest ids and the longest threshold's flag.
        ``rules``: per 街道 rule whose value or status changed — rule id, 街道, value/status/shortfall before and after.
        ``served``: per category, people newly within the longest threshold per group (and those no longer within).
        """
        return _changes(self, lang)


def study_bounds(result: RunResult) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat), WGS84, of the study area: the walk network's extent grown by the
    scenario's ``study_area_buffer_m`` (a run rejects points farther than that). The edge of the box is sampled, as
    a metric box is curved in degrees. A point inside it but farther than ``max_snap_m`` from a street is refused
    when the plan is applied, with that reason."""
    st = result.network.streets
    pad = float(result.scenario.study_area_buffer_m)
    x0, x1 = float(st.node_x.min()) - pad, float(st.node_x.max()) + pad
    y0, y1 = float(st.node_y.min()) - pad, float(st.node_y.max()) + pad
    t = np.linspace(0.0, 1.0, 33)
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0)])
    ys = np.concatenate([np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1), y1 - (y1 - y0) * t])
    lon, lat = Transformer.from_crs(result.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    return (round(float(np.min(lon)), 7), round(float(np.min(lat)), 7), round(float(np.max(lon)), 7), round(float(np.max(lat)), 7))


class WhatIf:
    """A run's network, reach graph, snapped points, compounds, facilities, coverage and compliance, kept to apply
    plans to.

    Parameters
    ----------
    result
        A run (:func:`planner.pipeline.run`); its gates and facilities are snapped again (the same snapping, as the
        run's functions are deterministic) and its reach graph is rebuilt once here.
    """

    def __init__(self, result: RunResult):
        if result.compliance is None:
            raise EditError([("run", "该运行没有达标评价", "the run has no standards evaluation")])
        sc = result.scenario
        self.result = result
        self.scenario = sc
        self.taxonomy = result.taxonomy
        self.network = result.network
        self.crs = result.crs
        self.compounds = result.compounds
        self.facilities = result.facilities
        self.coverage = result.coverage
        self.compliance = result.compliance
        self.circles = result.circles
        self.speed = result.coverage.speed_m_per_min  # the adults'; each category's is self.coverage.speed(cat)
        self.thresholds = result.coverage.thresholds_min
        # the longest threshold's walk at the fastest category's speed: what every search reaches at least
        self.longest_m = max(self.thresholds) * max([self.coverage.speed(c) for c in self.coverage.categories] or [self.speed])
        self.limit_m = float(sc.search_limit_m)
        self.max_snap_m = float(sc.max_snap_m)

        gates, owner = compound_gates(self.compounds.geometry)
        self._snap_index = snap_index(self.network)  # the nearest-edge grid, built once here and kept for every plan
        snapped = snap_geometries(self.network, np.concatenate([gates, self.facilities.geometry.to_numpy()]), max_snap_m=self.max_snap_m,
                                  index=self._snap_index)
        self.reach = Reach.build(self.network, snapped, n_gates=len(owner), max_snap_m=self.max_snap_m)
        self.owner = owner
        self.n_gates = len(owner)
        self.gate_xy = point_xy(gates)
        located = np.flatnonzero(np.isfinite(self.gate_xy).all(axis=1))
        self._gate_tree, self._tree_gate = cKDTree(self.gate_xy[located]), located  # gates by place, for search radii
        self.fac_xy = point_xy(self.facilities.geometry.to_numpy())
        self.fac_ids = self.facilities["id"].astype(str).to_numpy()
        self.fac_cat = self.facilities["category"].to_numpy()
        self._fac_names = self.facilities["name"].to_numpy(dtype=object)
        self._fac_zone = self.facilities["zone_id"].to_numpy(dtype=object)
        self._row_of = {fid: i for i, fid in enumerate(self.fac_ids.tolist())}
        self._known = frozenset(self._row_of)
        # per category the run's nearest facility of each compound as a row of the facility table (−1: none)
        table = self.coverage.table
        self._near_row = {}
        for cat in self.coverage.categories:
            near = table[schema.nearest_id(cat)].to_numpy(dtype=object)
            self._near_row[cat] = np.array([self._row_of.get(v, -1) if isinstance(v, str) else -1 for v in near.tolist()], dtype=np.int64)
        self._comp_index = self.compounds.index.to_numpy(dtype=object)
        self._comp_ids = self.compounds["id"].astype(str).to_numpy(dtype=object)
        self._comp_names = self.compounds["name"].astype(str).to_numpy(dtype=object)
        self._groups = {g: self.compounds[g].to_numpy(dtype=float) for g in SERVED_GROUPS if g in self.compounds}
        zones = result.zones
        self._zone_tree = shapely.STRtree(zones.geometry.to_numpy()) if zones is not None and len(zones) else None
        self._zone_ids = zones.index.astype(str).to_numpy(dtype=object) if zones is not None else None
        graph = self.reach.graph
        # the same CSR with its nodes as the "points": bounded searches from any node (L and R of a new foot)
        self._nodes = ReachGraph(csr=graph.csr, point_node=np.arange(graph.n_nodes, dtype=np.int64), base_node=graph.base_node)
        self._nodes.arrays()
        self._targets = np.flatnonzero(graph.point_node >= 0)  # point positions in the graph …
        self._target_nodes = graph.point_node[self._targets]  # … and their leaves
        self._splits = self._split_nodes()
        # the run's catchment pairs per facility id
        catch = self.coverage.catchments
        order = np.argsort(catch["facility_id"].astype(str).to_numpy(), kind="stable")
        fids = catch["facility_id"].astype(str).to_numpy()[order]
        starts = np.flatnonzero(np.r_[True, fids[1:] != fids[:-1]]) if len(fids) else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], len(fids)]
        self._pairs_of = {fids[a]: order[a:b] for a, b in zip(starts, ends, strict=True)}
        self._pair_comp = self.compounds.index.get_indexer(catch["compound_id"].to_numpy())
        self._catch_dist = catch["dist_m"].to_numpy(dtype=float)
        # the same pairs per (category, compound): every facility within the longest threshold of each compound
        pair_fac = np.array([self._row_of.get(f, -1) for f in catch["facility_id"].astype(str).tolist()], dtype=np.int64)
        pair_cat = catch["category"].to_numpy(dtype=object)
        self._pairs_by_comp = {}
        for cat in self.coverage.categories:
            rows = np.flatnonzero(pair_cat == cat)
            rows = rows[np.argsort(self._pair_comp[rows], kind="stable")]
            indptr = np.searchsorted(self._pair_comp[rows], np.arange(len(self.compounds) + 1))
            self._pairs_by_comp[cat] = (indptr, pair_fac[rows], self._catch_dist[rows])
        self._centre_dist = self._centre_format_distances()
        # the run's standards, re-evaluated per plan only for the 街道 it touches
        self._standards = standards_update(sc, self.compounds, result.zones, self.taxonomy, self.compliance)
        self._to_metric = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        self.bounds = study_bounds(result)
        log.info("what-if: %d compounds (%d gates), %d facilities, graph of %d nodes", len(self.compounds), self.n_gates,
                 len(self.facilities), graph.n_nodes)

    # ---- the public surface ---------------------------------------------------------------------------------------

    def parse(self, data: object) -> Edits:
        """:meth:`Edits.from_json` against this run: its study area, facility ids and analysed categories."""
        return Edits.from_json(data, taxonomy=self.taxonomy, bounds=self.bounds, ids=set(self.fac_ids),
                               categories=self.coverage.categories)

    def apply(self, edits: Edits) -> PlanState:
        """The plan ``edits`` applied to the run: a new :class:`PlanState` (the run is not changed)."""
        known = self._known
        bad = [(f"move[{i}].id", f"没有编号为 {m.id!r} 的设施", f"no facility has the id {m.id!r}") for i, m in enumerate(edits.move) if m.id not in known]
        bad += [(f"remove[{i}]", f"没有编号为 {r!r} 的设施", f"no facility has the id {r!r}") for i, r in enumerate(edits.remove) if r not in known]
        bad += [(f"add[{i}].category", f"本次分析不含类别 {a.category}", f"category {a.category} is not analysed in this run")
                for i, a in enumerate(edits.add) if a.category not in self.coverage.categories]
        if bad:
            raise EditError(bad)
        row_of = self._row_of
        gone = np.zeros(len(self.fac_ids), dtype=bool)  # old positions: removed or moved away
        gone[[row_of[r] for r in edits.remove]] = True
        gone[[row_of[m.id] for m in edits.move]] = True
        given = {a.id for a in edits.add if a.id}
        if given & known:
            raise EditError([("add", f"编号已被占用：{sorted(given & set(known))[0]}", f"id already taken: {sorted(given & set(known))[0]}")])
        auto = iter(_new_ids(sum(1 for a in edits.add if not a.id), set(known) | given))
        new_ids = [a.id or next(auto) for a in edits.add]  # the caller's stable ids, else NEW-1, NEW-2 … in order
        placed = [(nid, a.category, a.lon, a.lat) for nid, a in zip(new_ids, edits.add, strict=True)]
        placed += [(m.id, str(self.fac_cat[row_of[m.id]]), m.lon, m.lat) for m in edits.move]
        points, between = self._place(placed, gone=gone)
        facilities = self._edited_facilities(edits, new_ids, points, gone)
        touched = sorted({p.category for p in points} | set(self.fac_cat[gone]), key=self.coverage.categories.index)
        coverage, changed, near_changed = self._coverage(touched, gone, points, facilities)
        circles = self._circles(gone, points, between, facilities, coverage) if self._touches_circles(touched) else self.circles
        active = facilities[facilities["edit"] != "remove"]
        # 街道 touched, per rule: those of the compounds whose distances to its categories changed, those where a
        # facility of its categories was edited (old and new places)
        edited_rows = np.flatnonzero(facilities["edit"].to_numpy() != "")
        new_zone, new_cat = facilities["zone_id"].to_numpy(dtype=object), facilities["category"].to_numpy(dtype=object)
        edited: dict[str, set[str]] = {}
        for z, c in zip([*self._fac_zone[gone].tolist(), *new_zone[edited_rows].tolist()],
                        [*self.fac_cat[gone].tolist(), *new_cat[edited_rows].tolist()], strict=True):
            if not pd.isna(z):
                edited.setdefault(str(c), set()).add(str(z))
        moved = {c: np.flatnonzero(changed[c]) for c in touched}
        rule_zones = self._standards.rule_zones(moved, edited)
        basic = [c for c in touched if c in self._basic()]
        fmt_changed = np.unique(np.concatenate([moved[c] for c in basic])) if basic else np.zeros(0, np.int64)
        formats = self._standards.formats(coverage.table, fmt_changed)
        one_plus_n = self._one_plus_n(active) if HUB_CATEGORY in touched and self.result.one_plus_n is not None else None
        compliance = self._standards.evaluate(rule_zones, coverage_table=coverage.table, facilities=active, formats=formats,
                                              complete_circles=complete_circles(circles), one_plus_n=one_plus_n)
        zones = np.unique(np.concatenate([np.zeros(0, np.int64), *rule_zones.values()]))
        return PlanState(edits, facilities, coverage, compliance, circles, self, tuple(touched), tuple(int(z) for z in zones),
                         {c: changed[c] | near_changed[c] for c in touched},
                         one_plus_n if one_plus_n is not None else self.result.one_plus_n)

    def _one_plus_n(self, active: gpd.GeoDataFrame) -> OnePlusN | None:
        """The plan's 1+N 托育 model: the run's childcare facilities that stay where they were, at their run positions,
        and the added or moved ones snapped again, on a graph of those points only; an added facility is a hub when its
        name says so (托育综合服务中心 …, as a layer without a hub column is read)."""
        cc = active[(active["category"] == HUB_CATEGORY).to_numpy(dtype=bool)].copy()
        fresh = cc["edit"].isin(["add", "move"]).to_numpy(dtype=bool)
        added = (cc["edit"] == "add").to_numpy(dtype=bool)
        if added.any():
            named = cc["name"].astype(str).str.contains("|".join(HUB_NAME_WORDS), regex=True).to_numpy(dtype=bool)
            hub = cc["hub"].astype("boolean").fillna(False).to_numpy(dtype=bool) if "hub" in cc else np.zeros(len(cc), bool)
            cc["hub"] = np.where(added, named, hub)
        kept = np.array([self._row_of[i] for i in cc["id"].astype(str).to_numpy()[~fresh]], dtype=np.int64)
        extra = snap_geometries(self.network, cc.geometry.to_numpy()[fresh], max_snap_m=self.max_snap_m, index=self._snap_index) \
            if fresh.any() else None
        graph = self.reach.graph_of(self.reach.facilities[kept], extra)
        positions = np.empty(len(cc), dtype=np.int64)
        positions[~fresh] = np.arange(len(kept))
        positions[fresh] = len(kept) + np.arange(int(fresh.sum()))
        if extra is not None:
            cc.loc[cc.index[fresh], "reachable"] = np.asarray(extra.reachable, dtype=bool)
        pairs = hub_point_pairs(graph, positions, cc, limit_m=self.scenario.one_plus_n_limit_m())
        return one_plus_n_model(self.scenario, cc, self.result.zones, pairs)

    # ---- snapping and searching new points ------------------------------------------------------------------------

    def _split_nodes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The split nodes of the graph, sorted by (edge, offset): edge, offset and graph node of each."""
        s = self.reach.snapped
        graph = self.reach.graph
        elen = self.network.streets.length
        pts = np.flatnonzero(s.reachable)
        inner = (s.offset[pts] > 0.0) & (s.offset[pts] < elen[s.edge[pts]])
        pts = pts[inner]
        leaf = graph.point_node[pts]
        indptr, indices = graph.csr.indptr, graph.csr.indices
        if len(leaf) and not np.all(indptr[leaf + 1] - indptr[leaf] == 1):
            raise RuntimeError("reach graph: a point is not a leaf with one neighbour")
        foot = indices[indptr[leaf]].astype(np.int64)
        order = np.lexsort((s.offset[pts], s.edge[pts]))
        return s.edge[pts][order], s.offset[pts][order], foot[order]

    def _place(self, placed: list[tuple[str, str, float, float]], *, gone: np.ndarray | None = None
               ) -> tuple[list[_NewPoint], dict[tuple[str, str], float]]:
        """Snap the plan's new points (id, category, lon, lat) and search from each; also the distances between them.

        Each search reaches ``search_limit_m``; given ``gone`` (the run's facilities the plan removes or moves), only as
        far as the point can matter to the plan (:meth:`_radius`): distances beyond that are inf."""
        if not placed:
            return [], {}
        lon = np.array([p[2] for p in placed], dtype=float)
        lat = np.array([p[3] for p in placed], dtype=float)
        x, y = self._to_metric.transform(lon, lat)
        xy = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
        snapped = snap_geometries(self.network, xy, max_snap_m=self.max_snap_m, index=self._snap_index)
        bad = []
        for i in np.flatnonzero(~snapped.reachable):
            where = placed[i][0]
            if snapped.isolated is not None and snapped.isolated[i]:
                bad.append((where, "最近的道路是与主路网不连通的小片", "the nearest streets are a small piece cut off from the network"))
            else:
                d = snapped.access[i]
                far, far_en = (f"{d:.0f} 米", f"{d:.0f} m") if math.isfinite(d) else ("很远", "far")
                bad.append((where, f"离步行路网{far}，超过 max_snap_m = {self.max_snap_m:g} 米；请放在道路旁",
                            f"{far_en} from the walk network, beyond max_snap_m = "
                            f"{self.max_snap_m:g} m; place it beside a street"))
        if bad:
            raise EditError(bad)
        st = self.network.streets
        base = self.reach.graph.base_node
        se, so, sn = self._splits
        anchors = []
        for i in range(len(placed)):
            e, s = int(snapped.edge[i]), float(snapped.offset[i])
            length = float(st.length[e])
            if s <= 0.0:
                anchors.append((int(base[st.u[e]]), int(base[st.u[e]]), 0.0, 0.0))
                continue
            if s >= length:
                anchors.append((int(base[st.v[e]]), int(base[st.v[e]]), 0.0, 0.0))
                continue
            lo, hi = np.searchsorted(se, e, "left"), np.searchsorted(se, e, "right")
            k = lo + int(np.searchsorted(so[lo:hi], s, "right"))  # first split beyond s (or at it: see below)
            left, s_left = (int(sn[k - 1]), float(so[k - 1])) if k > lo else (int(base[st.u[e]]), 0.0)
            right, s_right = (int(sn[k]), float(so[k])) if k < hi else (int(base[st.v[e]]), length)
            if s_left == s:  # an existing split node at the very spot: the foot is that node
                right, s_right = left, s
            anchors.append((left, right, s - s_left, s_right - s))
        anchor_nodes = np.unique(np.array([[a[0], a[1]] for a in anchors], dtype=np.int64).ravel())
        targets = np.concatenate([self._target_nodes, anchor_nodes])
        n_t = len(self._target_nodes)
        radius = np.full(len(placed), self.limit_m) if gone is None else self._radius(placed, xy, gone)
        access = snapped.access
        # one bounded search from every end (L, R) of every point of a radius level: far fewer calls than points
        starts = [(i, node, leg) for i, (left, right, to_l, to_r) in enumerate(anchors)
                  for node, leg in (((left, to_l), (right, to_r)) if left != right else ((left, to_l),))
                  if radius[i] - access[i] - leg >= 0]
        level = np.searchsorted(np.unique(radius), radius)
        per_point: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in placed]
        for lv in np.unique(level):
            mine = [st for st in starts if level[st[0]] == lv]
            if not mine:
                continue
            reach = max(radius[i] - access[i] - leg for i, _, leg in mine)
            src, t, dd = catchments(self._nodes, np.array([node for _, node, _ in mine], dtype=np.int64), targets, limit=reach)
            bounds = np.searchsorted(src, np.arange(len(mine) + 1))
            for k, (i, _, leg) in enumerate(mine):
                per_point[i].append((t[bounds[k]:bounds[k + 1]], leg + dd[bounds[k]:bounds[k + 1]]))
        out = []
        found = []
        for i, (fid, cat, _, _) in enumerate(placed):
            left, right, to_l, to_r = anchors[i]
            a = float(access[i])
            d = np.full(len(targets), np.inf)
            for t, dd in per_point[i]:
                np.minimum.at(d, t, dd)
            d = a + d
            d[d > radius[i]] = np.inf
            point_d = np.full(len(self.reach.snapped), np.inf)
            point_d[self._targets] = d[:n_t]
            found.append(dict(zip(anchor_nodes.tolist(), d[n_t:].tolist(), strict=True)))
            out.append(_NewPoint(fid, cat, (float(xy[i, 0]), float(xy[i, 1])), int(snapped.edge[i]), float(snapped.offset[i]), a,
                                 left, right, to_l, to_r, point_d[: self.n_gates], point_d[self.n_gates :]))
        return out, _new_distances(out, found, self.limit_m)

    def _radius(self, placed: list[tuple[str, str, float, float]], xy: np.ndarray, gone: np.ndarray) -> np.ndarray:
        """How far (metres) a search from each new point must reach to give the plan exactly what a search to
        ``search_limit_m`` gives.

        A new point changes a compound only if it is nearer than the compound's nearest facility after the plan's
        removals, which is at most ``U`` = the run's distance (``search_limit_m`` when that facility is removed or
        none was found). Walking is never shorter than the straight line, so the search must reach the largest
        ``U`` of the gates within ``U`` of the point in a straight line, and the longest threshold (counts and
        catchment pairs). A point of a category the 一刻钟 circles read searches to the limit."""
        out = np.full(len(placed), float(self.longest_m))
        for i, (_, cat, _, _) in enumerate(placed):
            if self._touches_circles([cat]):
                out[i] = self.limit_m
                continue
            near = self._near_row[cat]
            upper = np.where((near >= 0) & gone[np.maximum(near, 0)], self.limit_m,
                             np.minimum(self.coverage.table[schema.dist_m(cat)].to_numpy(dtype=float), self.limit_m))
            k = np.asarray(self._gate_tree.query_ball_point(xy[i], r=self.limit_m), dtype=np.int64)
            if len(k) == 0:
                continue
            g = self._tree_gate[k]
            u = upper[self.owner[g]]
            e = np.hypot(self.gate_xy[g, 0] - xy[i, 0], self.gate_xy[g, 1] - xy[i, 1])
            if (e < u).any():
                out[i] = max(out[i], float(u[e < u].max()))
        # rounded up to a few levels, so that one search call serves all the points of a level
        levels = np.array(sorted({float(self.longest_m), self.limit_m} | {r for r in RADIUS_LEVELS_M if self.longest_m < r < self.limit_m}))
        return levels[np.searchsorted(levels, np.minimum(out, self.limit_m) - 1e-9)]

    # ---- the edited tables ----------------------------------------------------------------------------------------

    def _edited_facilities(self, edits: Edits, new_ids: list[str], points: list[_NewPoint], gone: np.ndarray) -> gpd.GeoDataFrame:
        fac = self.facilities.copy()
        fac["edit"] = ""
        fac.loc[fac.index[np.isin(self.fac_ids, list(edits.remove))], "edit"] = "remove"
        by_id = {p.id: p for p in points}
        moved = np.flatnonzero(np.isin(self.fac_ids, [m.id for m in edits.move]))
        if len(moved):
            geoms = gpd.GeoSeries.from_xy([by_id[self.fac_ids[i]].xy[0] for i in moved], [by_id[self.fac_ids[i]].xy[1] for i in moved],
                                          crs=self.crs, index=fac.index[moved])
            fac.loc[fac.index[moved], "geometry"] = geoms
            fac.loc[fac.index[moved], "edit"] = "move"
            fac.loc[fac.index[moved], "snap_distance_m"] = [round(by_id[self.fac_ids[i]].access, 2) for i in moved]
            fac.loc[fac.index[moved], "zone_id"] = self._zone_of(np.array([by_id[self.fac_ids[i]].xy for i in moved]))
        if edits.add:
            new = self._added_rows(edits.add, new_ids, points)
            fac = pd.concat([fac, new.astype({c: fac[c].dtype for c in new.columns if c in fac.columns and c != "geometry"}, errors="ignore")])
        return gpd.GeoDataFrame(fac, geometry="geometry", crs=self.crs)

    def _added_rows(self, adds: tuple[AddFacility, ...], ids: list[str], points: list[_NewPoint]) -> gpd.GeoDataFrame:
        xy = np.array([p.xy for p in points[: len(adds)]])
        index = pd.Index(ids, name=self.facilities.index.name)
        names = [a.name or tr("whatif.new_name", "zh", category=self.taxonomy[a.category].zh, n=i + 1) for i, a in enumerate(adds)]
        new = gpd.GeoDataFrame(
            {
                "id": ids, "name": names, "category": [a.category for a in adds],
                "category_zh": [self.taxonomy[a.category].zh for a in adds], "category_from": "plan",
                "places": [np.nan if a.places is None else a.places for a in adds],
                "beds": [np.nan if a.beds is None else a.beds for a in adds],
                "nursing_beds": np.nan,
                "public_benefit": pd.array([a.public_benefit for a in adds], dtype="boolean"),
            },
            geometry=gpd.GeoSeries.from_xy(xy[:, 0], xy[:, 1], crs=self.crs, index=index), index=index,
        )
        new["zone_id"] = self._zone_of(xy)
        new["reachable"] = True
        new["snap_distance_m"] = [round(p.access, 2) for p in points[: len(adds)]]
        new["edit"] = "add"
        return new

    def _zone_of(self, xy: np.ndarray) -> np.ndarray:
        """The 街道 id of each point (x, y metric), as :func:`planner.analysis.zones.place_in_zones` places points: the
        first listed 街道 the point lies in, ``OUTSIDE_ZONE`` when in none (the run's 街道 indexed once)."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if self._zone_tree is None:
            return np.full(len(xy), schema.ALL_ZONES, dtype=object)
        pt, zone = self._zone_tree.query(shapely.points(xy), predicate="intersects")
        first = np.full(len(xy), len(self._zone_ids), dtype=np.int64)
        np.minimum.at(first, pt, zone)
        return np.where(first < len(self._zone_ids), self._zone_ids[np.minimum(first, len(self._zone_ids) - 1)], schema.OUTSIDE_ZONE)

    def _coverage(self, touched: list[str], gone: np.ndarray, points: list[_NewPoint], facilities: gpd.GeoDataFrame
                  ) -> tuple[Coverage, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The plan's coverage, and per touched category the compounds (masks on their rows) whose distance changed
        and those whose nearest facility changed.

        The run's table is copied shallowly (copy-on-write): only the touched categories' columns are replaced, and
        of the nearest ids and names only the compounds whose nearest facility changed are written."""
        base = self.coverage
        table = base.table.copy(deep=False)
        changed, near_changed = {}, {}
        n_fac = len(self.fac_ids)
        # nearest facilities as rows: the run's facilities, then the plan's new points (n_fac + their position)
        pool_ids = np.concatenate([self.fac_ids.astype(object), np.array([p.id for p in points], dtype=object)])
        new_names = facilities["name"].iloc[n_fac:].to_numpy(dtype=object)  # the added rows follow the run's, in order
        by_id = dict(zip(facilities["id"].iloc[n_fac:].to_numpy(dtype=object).tolist(), new_names.tolist(), strict=True))
        pool_names = np.concatenate([self._fac_names, np.array([by_id.get(p.id, self._fac_names[self._row_of[p.id]] if p.id in self._row_of else "")
                                                                for p in points], dtype=object)])
        removed_rows = []
        added = []
        for cat in touched:
            speed = base.speed(cat)
            mine = [(n_fac + k, p, self._per_compound(p.gate_d)) for k, p in enumerate(points) if p.category == cat]
            dist, row = self._nearest(cat, gone, mine, table)
            base_dist = table[schema.dist_m(cat)].to_numpy(dtype=float)
            changed[cat] = dist != base_dist
            table[schema.dist_m(cat)] = dist
            table[schema.minutes(cat)] = dist / speed
            near_changed[cat] = row != self._near_row[cat]
            moved = np.flatnonzero(near_changed[cat])
            if len(moved):
                for col, pool in ((schema.nearest_id(cat), pool_ids), (schema.nearest_name(cat), pool_names)):
                    values = table[col].copy()
                    r = row[moved]
                    values.iloc[moved] = np.where(r >= 0, pool[np.maximum(r, 0)], "")
                    table[col] = values
            for t in self.thresholds:
                table[schema.within(cat, t)] = dist <= t * speed
            # counts: the removed facilities' pairs out, the new points' pairs in
            counts = {t: table[schema.count(cat, t)].to_numpy().copy() for t in self.thresholds}
            for i in np.flatnonzero(gone & (self.fac_cat == cat)):
                rows = self._pairs_of.get(self.fac_ids[i], np.zeros(0, np.int64))
                removed_rows.append(rows)
                d = self._catch_dist[rows]
                for t in self.thresholds:
                    np.subtract.at(counts[t], self._pair_comp[rows][d <= t * speed], 1)
            for _, p, comp_d in mine:
                c = np.flatnonzero(comp_d <= max(self.thresholds) * speed)
                added.append((p.id, c, cat, comp_d[c]))
                for t in self.thresholds:
                    counts[t] += comp_d <= t * speed
            for t in self.thresholds:
                table[schema.count(cat, t)] = counts[t]
        longest = max(self.thresholds)
        covered = np.zeros(len(table), dtype=np.int64)
        for c in base.categories:
            covered += table[schema.within(c, longest)].to_numpy(dtype=bool)
        table[schema.covered(longest)] = covered
        table["completeness"] = covered / max(len(base.categories), 1)
        catch = base.catchments
        if removed_rows:
            keep = np.ones(len(catch), dtype=bool)
            keep[np.concatenate(removed_rows)] = False
            catch = catch[keep]
        if added:
            sizes = [len(a[1]) for a in added]
            new = pd.DataFrame({"facility_id": np.repeat(np.array([a[0] for a in added], dtype=object), sizes),
                                "compound_id": self._comp_index[np.concatenate([a[1] for a in added])],
                                "category": np.repeat(np.array([a[2] for a in added], dtype=object), sizes),
                                "dist_m": np.concatenate([a[3] for a in added])})
            catch = pd.concat([catch, new], ignore_index=True)
        return Coverage(table=table, catchments=catch.reset_index(drop=True), categories=base.categories,
                        thresholds_min=base.thresholds_min, speed_m_per_min=base.speed_m_per_min, speeds=base.speeds), changed, near_changed

    def _per_compound(self, gate_d: np.ndarray) -> np.ndarray:
        """Per compound, the distance of its nearest gate (inf where none is reached)."""
        d = np.full(len(self.compounds), np.inf)
        reached = np.flatnonzero(gate_d < np.inf)  # a search reaches a few of the gates
        np.minimum.at(d, self.owner[reached], gate_d[reached])
        return d

    def _nearest(self, cat: str, gone: np.ndarray, new: list[tuple[int, _NewPoint, np.ndarray]], table: pd.DataFrame
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Each compound's nearest facility of ``cat`` after the plan: distance and row (a row of the run's facility
        table, ``len(facilities) + k`` for the plan's new point ``k``, −1 when none); ``new``: (row, point, its
        distance to each compound)."""
        dist = table[schema.dist_m(cat)].to_numpy(dtype=float).copy()
        near = self._near_row[cat].copy()
        lost = np.flatnonzero(gone[np.maximum(near, 0)] & (near >= 0))
        if len(lost):
            # a remaining facility within the longest threshold is among the run's catchment pairs of the compound
            indptr, fac, fd = self._pairs_by_comp[cat]
            size = indptr[lost + 1] - indptr[lost]
            at = np.repeat(indptr[lost] - np.cumsum(size) + size, size) + np.arange(size.sum())
            who = np.repeat(lost, size)
            keep = (fac[at] >= 0) & ~gone[np.maximum(fac[at], 0)]
            at, who = at[keep], who[keep]
            order = np.lexsort((fac[at], fd[at], who))  # per compound the nearest pair first (ties: the first row)
            first = np.r_[True, who[order][1:] != who[order][:-1]] if len(order) else np.zeros(0, dtype=bool)
            c, a = who[order][first], at[order][first]
            dist[c], near[c] = fd[a], fac[a]
            lost = np.setdiff1d(lost, c, assume_unique=True)
        if len(lost):  # none within the longest threshold: searched
            gate_mask = np.isin(self.owner, lost)
            gates = np.flatnonzero(gate_mask)
            d_gate, src = self._nearest_remaining(cat, gone, gates)
            # the nearest gate of each compound (ties: the first gate), as coverage takes it
            owner = self.owner[gates]
            order = np.lexsort((np.arange(len(gates)), d_gate, owner))
            first = np.r_[True, owner[order][1:] != owner[order][:-1]]
            c, g = owner[order][first], order[first]
            dist[c] = d_gate[g]
            near[c] = np.where(np.isfinite(d_gate[g]), src[g], -1)
        for row, _, comp_d in new:  # the new points, in order: strictly nearer wins
            better = comp_d < dist
            dist[better] = comp_d[better]
            near[better] = row
        return dist, near

    def _nearest_remaining(self, cat: str, gone: np.ndarray, gates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance from each of ``gates`` to the nearest remaining (not removed or moved) facility of the run of
        ``cat`` and its row (−1 when none); only facilities within the search limit in a straight line of some gate take part."""
        dist = np.full(len(gates), np.inf)
        rows = np.full(len(gates), -1, dtype=np.int64)
        pool = np.flatnonzero((self.fac_cat == cat) & ~gone & np.isfinite(self.fac_xy).all(axis=1))
        todo = np.flatnonzero(np.isfinite(self.gate_xy[gates]).all(axis=1))
        # searches to growing radii: the gates answered within one radius are exact (every facility within it lies
        # within it in a straight line, so takes part), the others go on to the next radius
        for radius in sorted({min(r, self.limit_m) for r in SEARCH_LADDER_M if r > self.longest_m} | {self.limit_m}):
            if len(todo) == 0 or len(pool) == 0:
                break
            near, _ = cKDTree(self.gate_xy[gates[todo]]).query(self.fac_xy[pool], k=1, distance_upper_bound=radius + 1.0)
            cand = pool[np.isfinite(near)]
            if len(cand) == 0:
                continue
            d, k = nearest_distance(self.reach.graph, self.reach.facilities[cand], gates[todo], limit=radius)
            ok = k >= 0
            dist[todo[ok]], rows[todo[ok]] = d[ok], cand[k[ok]]
            todo = todo[~ok]
        return dist, rows

    # ---- 一刻钟 circles -------------------------------------------------------------------------------------------

    def _basic(self) -> list[str]:
        return [c.key for c in self.taxonomy.categories if c.basic]

    def _touches_circles(self, touched: list[str]) -> bool:
        return CENTRE_CATEGORY in touched or (self.circles is not None and bool(set(touched) & set(self._basic())))

    def _centre_format_distances(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per basic format: distance from each of the run's centres to its nearest facility of the format, and that
        facility's row (-1 when none), as the run's circles take them."""
        centres = np.flatnonzero(self.fac_cat == CENTRE_CATEGORY)
        out = {}
        for cat in self._basic():
            members = np.flatnonzero(self.fac_cat == cat)
            d, k = nearest_distance(self.reach.graph, self.reach.facilities[members], self.reach.facilities[centres], limit=self.limit_m)
            out[cat] = (d, np.where(k >= 0, members[np.maximum(k, 0)], -1))
        return out

    def _circles(self, gone: np.ndarray, points: list[_NewPoint], between: dict[tuple[str, str], float], facilities: gpd.GeoDataFrame, coverage: Coverage) -> pd.DataFrame | None:
        """The 一刻钟 circles of the plan (:func:`planner.analysis.circles.delineate_circles` on updated distances)."""
        basic = self._basic()
        old_centres = np.flatnonzero((self.fac_cat == CENTRE_CATEGORY) & ~gone)
        new_centres = [p for p in points if p.category == CENTRE_CATEGORY]
        all_centres = np.flatnonzero(self.fac_cat == CENTRE_CATEGORY)
        keep = np.isin(all_centres, old_centres)
        cfd = {}
        for cat in basic:
            d, k = self._centre_dist[cat]
            d, k = d[keep].copy(), k[keep]
            lost = np.flatnonzero((k >= 0) & gone[np.maximum(k, 0)])
            if len(lost):
                pos = self.reach.facilities[old_centres[lost]]
                xy = self.fac_xy[old_centres[lost]]
                lo, hi = xy.min(axis=0) - self.limit_m - 1.0, xy.max(axis=0) + self.limit_m + 1.0
                fx, fy = self.fac_xy[:, 0], self.fac_xy[:, 1]
                cand = np.flatnonzero((self.fac_cat == cat) & ~gone & (fx >= lo[0]) & (fx <= hi[0]) & (fy >= lo[1]) & (fy <= hi[1]))
                d[lost], _ = nearest_distance(self.reach.graph, self.reach.facilities[cand], pos, limit=self.limit_m)
            fmt_new = [p for p in points if p.category == cat]
            for p in fmt_new:
                d = np.minimum(d, p.fac_d[old_centres])
            extra = []
            for c in new_centres:  # a new centre: the run's remaining facilities of the format and the new ones
                members = (self.fac_cat == cat) & ~gone
                best = float(np.min(c.fac_d[members])) if members.any() else np.inf
                for p in fmt_new:
                    best = min(best, between.get((c.id, p.id), np.inf))
                extra.append(best)
            cfd[cat] = np.r_[d, extra]
        ids = list(self.fac_ids[old_centres]) + [c.id for c in new_centres]
        if not ids:
            return None
        centres = facilities.set_index(facilities["id"].astype(str)).loc[ids]
        table = coverage.table
        circles, _ = delineate_circles(
            self.compounds, table[schema.nearest_id(CENTRE_CATEGORY)], table[schema.dist_m(CENTRE_CATEGORY)], centres,
            pd.DataFrame(cfd, index=ids), basic, {c: self.taxonomy[c].zh for c in basic},
            radius_m=max(self.thresholds) * self.speed,  # the run's circles: the adults' longest walk (pipeline.run)
        )
        return circles


def _new_ids(n: int, taken: set[str]) -> list[str]:
    """``NEW-1`` … for ``n`` added facilities, skipping ids the run already has."""
    out, k = [], 0
    while len(out) < n:
        k += 1
        if f"{NEW_PREFIX}{k}" not in taken:
            out.append(f"{NEW_PREFIX}{k}")
    return out


def _new_distances(points: list[_NewPoint], found: list[dict[int, float]], limit_m: float) -> dict[tuple[str, str], float]:
    """Walking distance between every two new points (both directions), inf beyond ``limit_m``.

    ``found[i]`` holds point ``i``'s distance to every new point's ends L and R (access included); the other point is
    reached through one of its ends, or directly along the edge when both lie between the same L and R.
    """
    out: dict[tuple[str, str], float] = {}
    for i, p in enumerate(points):
        for q in points:
            if p.id == q.id:
                continue
            d = min(found[i].get(q.left, np.inf) + q.to_left, found[i].get(q.right, np.inf) + q.to_right) + q.access
            if p.edge == q.edge and (p.left, p.right) == (q.left, q.right):
                d = min(d, p.access + abs(p.offset - q.offset) + q.access)
            out[(p.id, q.id)] = d if d <= limit_m else np.inf
    return out


def _json_number(value) -> float | None:
    v = float(value)
    return round(v, 3) if math.isfinite(v) else None


def _text(*values) -> str:
    """The first of ``values`` that is not missing, as text."""
    return next((str(v) for v in values if not pd.isna(v)), "")


def _json_value(value):
    """A compliance cell for JSON: None when missing or not finite, numbers as floats, texts as they are."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, str):
        return value
    v = float(value)
    return v if math.isfinite(v) else None


def _changes(state: PlanState, lang: str) -> dict:
    base = state.baseline
    before, after = base.coverage.table, state.coverage.table
    longest = max(base.thresholds)
    rows = []
    served = {}
    comp_ids, comp_names, groups = base._comp_ids, base._comp_names, base._groups
    for cat in state.touched:
        d0, d1 = before[schema.dist_m(cat)].to_numpy(), after[schema.dist_m(cat)].to_numpy()
        flags0 = np.column_stack([before[schema.within(cat, t)].to_numpy(bool) for t in base.thresholds])
        flags1 = np.column_stack([after[schema.within(cat, t)].to_numpy(bool) for t in base.thresholds])
        both = np.isfinite(d0) & np.isfinite(d1)
        same = (d0 == d1) | (both & (np.abs(np.where(both, d0, 0.0) - np.where(both, d1, 0.0)) <= CHANGE_EPS_M))
        changed = np.flatnonzero(~same | (flags0 != flags1).any(axis=1))
        w0, w1 = flags0[:, -1], flags1[:, -1]
        if len(changed):
            n0 = before[schema.nearest_id(cat)].iloc[changed].to_numpy(dtype=object)
            n1 = after[schema.nearest_id(cat)].iloc[changed].to_numpy(dtype=object)
            dd0 = [_json_number(v) for v in d0[changed].tolist()]
            dd1 = [_json_number(v) for v in d1[changed].tolist()]
            rows += [{"id": i, "name": nm, "category": cat, "dist_before": a, "dist_after": b, "nearest_before": str(x),
                      "nearest_after": str(y), "within_before": u, "within_after": v}
                     for i, nm, a, b, x, y, u, v in zip(comp_ids[changed].tolist(), comp_names[changed].tolist(), dd0, dd1, n0.tolist(),
                                                         n1.tolist(), w0[changed].tolist(), w1[changed].tolist(), strict=True)]
        gained, lost = ~w0 & w1, w0 & ~w1
        served[cat] = {
            "label": base.taxonomy[cat].label(lang),
            "minutes": longest,
            "gained": {g: _json_number(np.nansum(groups[g][gained])) if g in groups else None for g in SERVED_GROUPS},
            "lost": {g: _json_number(np.nansum(groups[g][lost])) if g in groups else None for g in SERVED_GROUPS},
            "compounds_gained": int(gained.sum()), "compounds_lost": int(lost.sum()),
        }
    rules = _rule_changes(base.compliance.table, state.compliance.table, _rows_of_zones(state, len(base.compliance.table)))
    return {
        "edits": state.edits.to_json(),
        "compounds": rows,
        "rules": rules,
        "served": served,
        "passing": sum(1 for r in rules if r["status_after"] == "pass" and r["status_before"] != "pass"),
        "failing": sum(1 for r in rules if r["status_after"] == "fail" and r["status_before"] != "fail"),
    }


def _rows_of_zones(state: PlanState, n_rows: int) -> np.ndarray | None:
    """Row positions of the compliance table that may differ from the run's: the rows of the 街道 re-evaluated and
    the city-wide rows (None: any row)."""
    up = state.baseline._standards
    if state.zones is None or len(state.compliance.table) != n_rows:
        return None
    n_zones, n_rules = len(up.zone_ids), len(up.zone_rules)
    zones = np.asarray(state.zones, dtype=np.int64)
    pos = (np.arange(n_rules, dtype=np.int64)[:, None] * n_zones + zones[None, :]).ravel()
    return np.sort(np.concatenate([pos, np.arange(n_rules * n_zones, n_rows, dtype=np.int64)]))


def _rule_changes(t0: pd.DataFrame, t1: pd.DataFrame, rows: np.ndarray | None) -> list[dict]:
    """Per 街道 rule whose value or status changed between the tables (both in the run's row order; only ``rows``
    compared, all when None), by 街道 and rule id: the JSON rows of :meth:`PlanState.changes`."""
    cols = ["subdistrict", "subdistrict_name", "rule_id", "rule", "value", "status", "shortfall"]
    if rows is None:
        key = ["subdistrict", "rule_id"]
        both = t0[cols].merge(t1[cols], on=key, how="outer", suffixes=("_before", "_after"), sort=False)
    else:
        a, b = t0[cols].iloc[rows].reset_index(drop=True), t1[cols].iloc[rows].reset_index(drop=True)
        both = a.add_suffix("_before").join(b.add_suffix("_after"))
        both["subdistrict"], both["rule_id"] = a["subdistrict"], a["rule_id"]
        both = both.sort_values(["subdistrict", "rule_id"], kind="stable")  # as the outer merge orders its keys
    v0 = pd.to_numeric(both["value_before"], errors="coerce").to_numpy(float)
    v1 = pd.to_numeric(both["value_after"], errors="coerce").to_numpy(float)
    known = ~np.isnan(v0) & ~np.isnan(v1)
    same_value = (np.isnan(v0) & np.isnan(v1)) | (known & (np.abs(np.where(known, v0, 0.0) - np.where(known, v1, 0.0)) <= 1e-9))
    same_status = both["status_before"].astype(object).fillna("").to_numpy() == both["status_after"].astype(object).fillna("").to_numpy()
    return [
        {
            "subdistrict": str(r["subdistrict"]),
            "subdistrict_name": _text(r["subdistrict_name_after"], r["subdistrict_name_before"]),
            "rule_id": str(r["rule_id"]),
            "rule": _text(r["rule_after"], r["rule_before"]),
            **{f"{what}_{when}": _json_value(r[f"{what}_{when}"]) for what in ("value", "status", "shortfall") for when in ("before", "after")},
        }
        for r in both[~(same_value & same_status)].to_dict("records")
    ]
