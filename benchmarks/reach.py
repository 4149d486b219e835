#!/usr/bin/env python
"""Benchmark planner's reach engine against named peers on the same inputs, and print one comparison table.

The job measured ("the whole reach job"): 5 categories of facilities; for each category
(a) the walking distance from every compound to its nearest facility (search limit 5000 m),
(b) the number of facilities within 1000 m of every compound,
(c) the sparse catchment list of every (facility, compound) pair within 1000 m with its distance.

Every engine starts from the same network (planner StreetArrays) and the same raw points and runs the same *prep*
(planner's ``snap_points`` + ``build_reach_graph``: the augmented graph in which every point splits its
edge and hangs off it as a leaf), so all engines answer the same question on the same graph and
their distances agree by construction. Then:

* planner   nearest_distance (scipy multi-source Dijkstra, min_only) + catchments (numba bounded
            search per facility) + counts = bincount of the catchments.
* scipy     plain ``scipy.sparse.csgraph.dijkstra``: one multi-source call (min_only) per category for
            the nearest facility, and batched single-source calls (dense rows, batch sized to ~256 MiB)
            for counts and catchments.
* pandana   Network(...) (contraction hierarchy) + precompute(1000) on the same augmented graph; nearest via
            set_pois/nearest_pois, counts via set/aggregate(type="count"), catchments via nodes_in_range.
            pandana truncates edge weights to whole millimetres and returns float32. AGPL: benchmark only.
* networkx  "the osmnx way": nx.Graph of the augmented graph, nx.multi_source_dijkstra_path_length for the
            nearest facility and one nx.single_source_dijkstra_path_length(cutoff=1000) per facility.

Before the clock starts, every engine process runs the whole job once on a toy grid (lazy imports, first calls,
planner's numba JIT cache); that warm-up is excluded and reported in planner's note. Query phases that take
milliseconds (real extracts) are repeated and the best time kept; on the grids the whole job is rerun while it
fits in 150 s (at most 3 runs) and the best time of each phase is kept; the notes say how many.

Every (case, engine) runs in its own subprocess (the small real extracts share one subprocess per engine),
so peak memory is per engine and a crash or a cap does not stop the script. Peak RSS is sampled by the parent
every 20 ms (psutil) and, for single-case processes, is the child's ru_maxrss; it includes the interpreter,
the libraries and the input network (the "inputs MiB" column is the RSS once the inputs were loaded).

Usage::

    .venv/bin/python benchmarks/reach.py --quick          # the three scenario extracts, < 1 min
    .venv/bin/python benchmarks/reach.py                  # + Shanghai drive, 250 k and 1 M node grids (~25 min)
    .venv/bin/python benchmarks/reach.py --wait-idle 1800 --idle-below 60   # on a shared machine
    .venv/bin/python benchmarks/reach.py --cases longgang,grid250k --cap 600 --out run.json

Nothing is written into the repository except ``--out`` (under benchmarks/results/, git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np
from _grid import perturbed_grid

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results"

N_CATEGORIES = 5
NEAREST_LIMIT_M = 5000.0  # the scenario default search_limit_m, the same for every engine
CATCH_LIMIT_M = 1000.0  # counts and catchments (inclusive)
MAX_SNAP_M = 300.0
FACILITY_SHARE = 0.005  # facilities per category = 0.5 % of the network's nodes
SEED = 20240601
SCIPY_BATCH_BYTES = 256 * 2**20
REPEAT_BUDGET_S = 1.0  # real extracts only: repeat the query phases while they took less than this in all ...
MAX_REPEATS = 5  # ... and at most this many times; the best time of each phase is kept
CASE_REPEAT_BUDGET_S = 150.0  # grids: rerun the whole job (prep, build, queries) while all runs fit in this ...
MAX_CASE_RUNS = 3  # ... up to this many runs; the best time of each phase is kept

CASES: dict[str, dict] = {
    "longgang": {"kind": "scenario", "path": "scenarios/longgang.toml", "compounds": 10_000, "label": "Shenzhen Longgang walk (OSM 2019)"},
    "haidian": {"kind": "scenario", "path": "scenarios/haidian.toml", "compounds": 10_000, "label": "Beijing Haidian walk (OSM 2026)"},
    "nantong": {"kind": "scenario", "path": "scenarios/nantong.toml", "compounds": 10_000, "label": "Nantong south walk (OSM 2017)"},
    "shanghai_drive": {
        "kind": "osm",
        "path": str(DATA / "shanghai_central_osmnx_drive2026" / "shanghai_central_osmnx_drive_2026.osm.pbf"),
        "compounds": 10_000,
        "label": "Shanghai central drive network, walk rule applied",
    },
    "grid250k": {"kind": "grid", "side": 500, "compounds": 50_000, "label": "perturbed grid 500x500, 100 m blocks"},
    "grid1m": {"kind": "grid", "side": 1000, "compounds": 100_000, "label": "perturbed grid 1000x1000, 100 m blocks"},
    "toy": {"kind": "grid", "side": 12, "compounds": 200, "label": "warm-up only"},
}
REAL_CASES = ["longgang", "haidian", "nantong", "shanghai_drive"]
QUICK_CASES = ["longgang", "haidian", "nantong"]  # the scenarios' real walk extracts
ALL_CASES = REAL_CASES + ["grid250k", "grid1m"]
ENGINES = ["planner", "scipy", "pandana", "networkx"]
ENGINE_LABEL = {
    "planner": "planner",
    "scipy": "scipy naive",
    "pandana": "pandana",
    "networkx": "networkx",
}


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------------
# inputs (worker side)
# --------------------------------------------------------------------------------------------------------------


def _case_seed(case: str) -> int:
    return SEED + zlib.crc32(case.encode())


def _real_network(case: str, tmp: Path):
    """Build a real extract's walk network with planner (cached as a pickle in the run's temp dir)."""
    cache = tmp / f"net_{case}.pkl"
    if cache.exists():
        with open(cache, "rb") as fh:
            return pickle.load(fh)
    from planner.io.projection import choose_metric_crs
    from planner.network.build import build_network, network_bounds_wgs84
    from planner.scenario import load_scenario
    from planner.settings import NetworkSpec

    spec_def = CASES[case]
    if spec_def["kind"] == "scenario":
        spec = load_scenario(REPO / spec_def["path"]).network
    else:
        spec = NetworkSpec(path=Path(spec_def["path"]).resolve(), kind="osm")
    minx, miny, maxx, maxy = network_bounds_wgs84(spec)
    crs = choose_metric_crs((minx + maxx) / 2, (miny + maxy) / 2)
    net = build_network(spec, crs)
    part = cache.with_suffix(f".{os.getpid()}.part")
    with open(part, "wb") as fh:
        pickle.dump(net, fh, protocol=pickle.HIGHEST_PROTOCOL)
    part.replace(cache)
    return net


def grid_network(side: int, seed: int, *, spacing: float = 100.0, jitter: float = 15.0, removed: float = 0.03):
    """A perturbed side x side grid as planner StreetArrays (coordinate arrays; no shapely objects, no osmnx)."""
    from planner.engine.streets import StreetArrays

    x, y, u, v, _, _ = perturbed_grid(side, np.random.default_rng(seed), origin=(450_000.0, 2_500_000.0),  # CGCS2000 GK 114E
                                      spacing=spacing, jitter=jitter, removed=removed)
    order = np.lexsort((v, u))
    return StreetArrays.straight(x, y, u[order], v[order])


def random_points(streets, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points near random edges (chosen by length): random position along the edge, 5-40 m to either side."""
    lengths = streets.length
    e = rng.choice(len(lengths), size=n, p=lengths / lengths.sum())
    t = rng.random(n) * lengths[e]
    off = rng.uniform(5.0, 40.0, n) * rng.choice([-1.0, 1.0], n)
    c = streets.point_at(e, t)
    a = streets.point_at(e, np.maximum(t - 0.5, 0.0))
    b = streets.point_at(e, np.minimum(t + 0.5, lengths[e]))
    dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    norm = np.hypot(dx, dy)
    flat = norm == 0
    dx[flat], dy[flat], norm[flat] = 1.0, 0.0, 1.0
    return c[:, 0] - dy / norm * off, c[:, 1] + dx / norm * off


class Inputs:
    """Network (as planner StreetArrays) + points of one case, identical in every worker (deterministic seeds)."""

    def __init__(self, case: str, tmp: Path, compounds: int | None):
        spec = CASES[case]
        seed = _case_seed(case)
        self.net = grid_network(spec["side"], seed) if spec["kind"] == "grid" else _real_network(case, tmp).streets
        self.n_comp = int(compounds or spec["compounds"])
        self.n_fac = max(1, int(round(FACILITY_SHARE * self.net.n_nodes)))
        rng = np.random.default_rng(seed + 1)
        n_pts = self.n_comp + N_CATEGORIES * self.n_fac
        self.px, self.py = random_points(self.net, n_pts, rng)
        self.points = np.column_stack([self.px, self.py])
        self.comp = np.arange(self.n_comp)
        self.fac = [self.n_comp + k * self.n_fac + np.arange(self.n_fac) for k in range(N_CATEGORIES)]


# --------------------------------------------------------------------------------------------------------------
# engines (worker side); each gets the prepared ReachGraph and returns per-category results
# --------------------------------------------------------------------------------------------------------------


def _pairs_to_arrays(s, t, d):
    return np.asarray(s, dtype=np.int64), np.asarray(t, dtype=np.int64), np.asarray(d, dtype=np.float64)


class PlannerEngine:
    name = "planner"

    def build(self, inp, graph) -> dict:
        self.graph = graph
        return {}

    def nearest(self, inp, k):
        from planner.engine.reach import nearest_distance

        d, _ = nearest_distance(self.graph, inp.fac[k], inp.comp, limit=NEAREST_LIMIT_M)
        return d

    def counts_catchments(self, inp, k):
        from planner.engine.reach import catchments

        s, t, d = catchments(self.graph, inp.fac[k], inp.comp, limit=CATCH_LIMIT_M)
        return np.bincount(t, minlength=inp.n_comp), (s, t, d)


class ScipyEngine:
    name = "scipy"

    def build(self, inp, graph) -> dict:
        self.csr = graph.csr
        self.pn = graph.point_node
        self.batch = int(max(1, min(128, SCIPY_BATCH_BYTES // (8 * graph.n_nodes))))
        return {"batch": self.batch}

    def nearest(self, inp, k):
        from scipy.sparse.csgraph import dijkstra

        src = self.pn[inp.fac[k]]
        src = src[src >= 0]
        tgt = self.pn[inp.comp]
        out = np.full(inp.n_comp, np.inf)
        if len(src):
            d = dijkstra(self.csr, directed=True, indices=src, min_only=True, limit=NEAREST_LIMIT_M)
            ok = tgt >= 0
            out[ok] = d[tgt[ok]]
        return out

    def counts_catchments(self, inp, k):
        from scipy.sparse.csgraph import dijkstra

        src_all = self.pn[inp.fac[k]]
        src_pos = np.flatnonzero(src_all >= 0)
        tgt = self.pn[inp.comp]
        tgt_pos = np.flatnonzero(tgt >= 0)
        ss, tt, dd = [], [], []
        for b in range(0, len(src_pos), self.batch):
            pos = src_pos[b : b + self.batch]
            dist = dijkstra(self.csr, directed=True, indices=src_all[pos], limit=CATCH_LIMIT_M)
            sub = dist[:, tgt[tgt_pos]]
            del dist
            i, j = np.nonzero(sub <= CATCH_LIMIT_M)
            ss.append(pos[i])
            tt.append(tgt_pos[j])
            dd.append(sub[i, j])
        s, t, d = (np.concatenate(x) if x else np.zeros(0) for x in (ss, tt, dd))
        s, t, d = _pairs_to_arrays(s, t, d)
        return np.bincount(t, minlength=inp.n_comp), (s, t, d)


def _edge_list(graph):
    """Undirected edge list (u < v) of the augmented graph."""
    coo = graph.csr.tocoo()
    up = coo.row < coo.col
    return coo.row[up].astype(np.int64), coo.col[up].astype(np.int64), coo.data[up].astype(np.float64)


def _node_coordinates(inp, graph, snapped) -> tuple[np.ndarray, np.ndarray]:
    """x, y of every node of the augmented graph: network nodes, split nodes (the feet) and point leaves."""
    n = graph.n_nodes
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    x[graph.base_node] = inp.net.node_x
    y[graph.base_node] = inp.net.node_y
    pts = np.flatnonzero(graph.point_node >= 0)
    leaf = graph.point_node[pts]
    indptr, indices = graph.csr.indptr, graph.csr.indices
    foot = indices[indptr[leaf]]  # a leaf has exactly one neighbour: its foot
    feet = inp.net.point_at(snapped.edge[pts], snapped.offset[pts])
    is_base = np.zeros(n, dtype=bool)
    is_base[graph.base_node] = True
    split = ~is_base[foot]
    x[foot[split]] = feet[split, 0]
    y[foot[split]] = feet[split, 1]
    x[leaf] = inp.px[pts]
    y[leaf] = inp.py[pts]
    if np.isnan(x).any():
        raise RuntimeError("some augmented-graph nodes got no coordinates")
    return x, y


class PandanaEngine:
    name = "pandana"

    def build(self, inp, graph) -> dict:
        import pandana
        import pandas as pd

        x, y = _node_coordinates(inp, graph, self.snapped)
        r, c, w = _edge_list(graph)
        t = time.perf_counter()
        self.net = pandana.Network(
            pd.Series(x), pd.Series(y), pd.Series(r), pd.Series(c), pd.DataFrame({"length": w}), twoway=True
        )
        t_ch = time.perf_counter() - t
        if self.report:
            _err(f"@@phase {self.case} ch {t_ch}")
            _err(f"[reach]   {self.case}/pandana: contraction hierarchy built in {t_ch:.1f} s; precompute({CATCH_LIMIT_M:.0f}) ...")
        self.net.precompute(CATCH_LIMIT_M)
        t_pre = time.perf_counter() - t - t_ch
        self.comp_nodes = graph.point_node[inp.comp]
        self.graph = graph
        comp_of = np.full(graph.n_nodes, -1, dtype=np.int64)
        ok = self.comp_nodes >= 0
        comp_of[self.comp_nodes[ok]] = inp.comp[ok]
        self.comp_of = comp_of
        self.mapping_misses = 0
        return {"network_s": round(t_ch, 3), "precompute_s": round(t_pre, 3)}

    def _xy(self, inp, k):
        import pandas as pd

        idx = inp.fac[k]
        return pd.Series(inp.px[idx]), pd.Series(inp.py[idx])

    def nearest(self, inp, k):
        fx, fy = self._xy(inp, k)
        cat = f"c{k}"
        self.net.set_pois(category=cat, maxdist=NEAREST_LIMIT_M, maxitems=1, x_col=fx, y_col=fy)
        res = self.net.nearest_pois(NEAREST_LIMIT_M, cat, num_pois=1, max_distance=np.inf)
        d = res[1].to_numpy(dtype=np.float64)
        out = np.full(inp.n_comp, np.inf)
        ok = self.comp_nodes >= 0
        out[ok] = d[self.comp_nodes[ok]]
        return out

    def counts_catchments(self, inp, k):
        fx, fy = self._xy(inp, k)
        name = f"v{k}"
        ids = self.net.get_node_ids(fx, fy)
        self.mapping_misses += int((ids.to_numpy() != self.graph.point_node[inp.fac[k]]).sum())
        self.net.set(ids, name=name)
        cnt = self.net.aggregate(CATCH_LIMIT_M, type="count", decay="flat", name=name).to_numpy()
        counts = np.zeros(inp.n_comp, dtype=np.int64)
        ok = self.comp_nodes >= 0
        counts[ok] = np.rint(cnt[self.comp_nodes[ok]]).astype(np.int64)
        # catchments: pandana has no source->target pair query; nodes_in_range gives every node in range
        src_nodes = ids.to_numpy()
        rng_df = self.net.nodes_in_range(src_nodes, CATCH_LIMIT_M)
        fac_of = {int(n): i for i, n in enumerate(src_nodes)}
        src = rng_df["source"].map(fac_of).to_numpy(dtype=np.int64)
        tgt = self.comp_of[rng_df["destination"].to_numpy(dtype=np.int64)]
        keep = tgt >= 0
        s, t, d = _pairs_to_arrays(src[keep], tgt[keep], rng_df["length"].to_numpy(dtype=np.float64)[keep])
        order = np.lexsort((t, s))
        return counts, (s[order], t[order], d[order])


class NetworkxEngine:
    name = "networkx"

    def build(self, inp, graph) -> dict:
        import networkx as nx

        r, c, w = _edge_list(graph)
        G = nx.Graph()
        G.add_nodes_from(range(graph.n_nodes))
        G.add_weighted_edges_from(zip(r.tolist(), c.tolist(), w.tolist(), strict=True), weight="length")
        self.G = G
        self.pn = graph.point_node
        comp_nodes = graph.point_node[inp.comp]
        self.comp_nodes = comp_nodes.tolist()
        self.comp_of = {int(nd): i for i, nd in enumerate(comp_nodes) if nd >= 0}
        return {}

    def nearest(self, inp, k):
        import networkx as nx

        src = [int(s) for s in self.pn[inp.fac[k]] if s >= 0]
        if not src:
            return np.full(inp.n_comp, np.inf)
        dist = nx.multi_source_dijkstra_path_length(self.G, set(src), cutoff=NEAREST_LIMIT_M, weight="length")
        return np.array([dist.get(c, np.inf) if c >= 0 else np.inf for c in self.comp_nodes], dtype=np.float64)

    def counts_catchments(self, inp, k):
        import networkx as nx

        ss, tt, dd = [], [], []
        comp_of = self.comp_of
        for si, s in enumerate(self.pn[inp.fac[k]].tolist()):
            if s < 0:
                continue
            reached = nx.single_source_dijkstra_path_length(self.G, s, cutoff=CATCH_LIMIT_M, weight="length")
            for node, d in reached.items():
                ci = comp_of.get(node)
                if ci is not None:
                    ss.append(si)
                    tt.append(ci)
                    dd.append(d)
        s, t, d = _pairs_to_arrays(ss, tt, dd)
        order = np.lexsort((t, s))
        s, t, d = s[order], t[order], d[order]
        return np.bincount(t, minlength=inp.n_comp), (s, t, d)


ENGINE_CLASSES = {"planner": PlannerEngine, "scipy": ScipyEngine, "pandana": PandanaEngine, "networkx": NetworkxEngine}


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _nearest_ab(inp, graph, rounds: int = 3) -> dict:
    """planner's nearest_distance against one plain scipy multi-source dijkstra(min_only), in the same process,
    interleaved per category, best of ``rounds`` (the cleanest view of the "within 1.2x of plain scipy" target)."""
    from scipy.sparse.csgraph import dijkstra

    from planner.engine.reach import nearest_distance

    best_p = best_s = np.inf
    for _ in range(rounds):
        tp = ts = 0.0
        for k in range(N_CATEGORIES):
            t = time.perf_counter()
            nearest_distance(graph, inp.fac[k], inp.comp, limit=NEAREST_LIMIT_M)
            tp += time.perf_counter() - t
            src = graph.point_node[inp.fac[k]]
            t = time.perf_counter()
            dijkstra(graph.csr, directed=True, indices=src[src >= 0], min_only=True, limit=NEAREST_LIMIT_M)
            ts += time.perf_counter() - t
        best_p, best_s = min(best_p, tp), min(best_s, ts)
    return {"planner_s": best_p, "scipy_s": best_s, "ratio": best_p / best_s}


def _run_case(engine, engine_name: str, inp, save: Path | None, case: str, report: bool, repeat: bool = False) -> dict:
    """prep (shared) + engine build + the 5 categories; results of each category saved as .npz under ``save``."""
    from planner.engine.reach import build_reach_graph
    from planner.engine.snap import snap_points

    say = _err if report else (lambda _msg: None)
    cpu0, wall0 = _cpu(), time.perf_counter()
    t = time.perf_counter()
    snapped = snap_points(inp.net, inp.points, max_snap_m=MAX_SNAP_M)
    t_snap = time.perf_counter() - t
    graph = build_reach_graph(inp.net, snapped)
    t_prep = time.perf_counter() - t
    cpu = {"prep": _cpu() - cpu0}
    say(f"@@phase {case} prep {t_prep}")
    engine.snapped = snapped
    engine.case, engine.report = case, report
    say(f"[reach]   {case}/{engine_name}: prep {t_prep:.2f} s; building ...")
    t, c = time.perf_counter(), _cpu()
    build_info = engine.build(inp, graph)
    t_build = time.perf_counter() - t
    cpu["build"] = _cpu() - c
    cpu["nearest"] = cpu["catch"] = 0.0
    say(f"@@phase {case} build {t_build}")
    say(f"[reach]   {case}/{engine_name}: prep {t_prep:.2f} s (snap {t_snap:.2f} s, reach graph {t_prep - t_snap:.2f} s), "
        f"build {t_build:.2f} s")
    cats = []
    for k in range(N_CATEGORIES):
        t, c = time.perf_counter(), _cpu()
        near = engine.nearest(inp, k)
        t_near = time.perf_counter() - t
        t, c2 = time.perf_counter(), _cpu()
        cpu["nearest"] += c2 - c
        counts, (s, tt, d) = engine.counts_catchments(inp, k)
        t_catch = time.perf_counter() - t
        cpu["catch"] += _cpu() - c2
        if save is not None:
            np.savez(save / f"res_{case}__{engine_name}__{k}.npz", nearest=near, counts=counts, s=s, t=tt, d=d)
        cats.append({"nearest_s": t_near, "catch_s": t_catch, "pairs": int(len(s))})
        say(f"@@cat {case} {k} {t_near} {t_catch}")
        say(f"[reach]   {case}/{engine_name}: category {k + 1}/{N_CATEGORIES} nearest {t_near:.2f} s, "
            f"counts+catchments {t_catch:.2f} s, {len(s)} pairs")
    # small graphs: the queries take milliseconds, so repeat them (same inputs) while they cost < REPEAT_BUDGET_S in
    # all, up to MAX_REPEATS times, and keep the best time of each query phase (as timeit does)
    repeats = 1
    spent = sum(c["nearest_s"] + c["catch_s"] for c in cats)
    while repeat and repeats < MAX_REPEATS and spent < REPEAT_BUDGET_S:
        repeats += 1
        for k in range(N_CATEGORIES):
            t = time.perf_counter()
            engine.nearest(inp, k)
            t_near = time.perf_counter() - t
            t = time.perf_counter()
            engine.counts_catchments(inp, k)
            t_catch = time.perf_counter() - t
            spent += t_near + t_catch
            cats[k]["nearest_s"] = min(cats[k]["nearest_s"], t_near)
            cats[k]["catch_s"] = min(cats[k]["catch_s"], t_catch)
    if engine_name == "pandana":
        build_info["poi_mapping_misses"] = engine.mapping_misses
    ab = _nearest_ab(inp, graph) if engine_name == "planner" and save is not None else None
    meta = {
        "nearest_ab": ab,
        "query_repeats": repeats,
        "cpu_per_wall": (_cpu() - cpu0) / (time.perf_counter() - wall0),
        "cpu_s": cpu,
        "graph_nodes": int(graph.n_nodes),
        "graph_edges": int(graph.csr.nnz // 2),
        "unreachable_points": int((~snapped.reachable).sum()),
        "snap_s": t_snap,
        "prep_s": t_prep,
        "build_s": t_build,
        "build_info": build_info,
        "categories": cats,
    }
    for attr in ("graph", "csr", "G", "net", "snapped"):
        if hasattr(engine, attr):
            setattr(engine, attr, None)
    return meta


def prepare(cases: list[str], tmp: Path) -> None:
    """Build (and cache as pickles in the run's temp dir) the real networks, once, before any engine runs."""
    for case in cases:
        if CASES[case]["kind"] != "grid":
            t = time.perf_counter()
            net = _real_network(case, tmp)
            _err(f"[reach] {case}: walk network built with planner in {time.perf_counter() - t:.1f} s ({net.summary()})")


def worker(engine_name: str, cases: list[str], tmp: Path, compounds: int | None, cap: float) -> None:
    """Run one engine on each case in turn; talk to the parent through '@@' lines on stderr."""
    import gc

    engine = ENGINE_CLASSES[engine_name]()
    # warm-up, not timed: the whole job once on a toy grid (lazy imports, first calls, planner's numba JIT cache)
    toy = Inputs("toy", tmp, None)
    t = time.perf_counter()
    _run_case(engine, engine_name, toy, None, "toy", report=False)
    warm_s = time.perf_counter() - t
    del toy
    gc.collect()
    for case in cases:
        _err(f"@@case {case} begin")
        t0 = time.perf_counter()
        inp = Inputs(case, tmp, compounds)
        gc.collect()
        rss_inputs = _rss()
        _err(f"@@inputs {case} {rss_inputs} {inp.net.n_nodes} {inp.net.n_edges} {inp.n_comp} {inp.n_fac}")
        _err(f"[reach]   {case}/{engine_name}: inputs ready in {time.perf_counter() - t0:.1f} s "
             f"({inp.net.n_nodes} nodes, {inp.net.n_edges} edges, {inp.n_comp} compounds, {inp.n_fac} facilities/category)")
        grid = CASES[case]["kind"] == "grid"
        t_case = time.perf_counter()
        meta = _run_case(engine, engine_name, inp, tmp, case, report=True, repeat=not grid)
        ru_first = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        _err(f"@@firstrun {case}")
        if grid:
            # the grids: run the whole job again (same inputs, results not kept) while it stays within the time budget
            # and well inside the cap; keep the best time of each phase (the first run's memory is what is reported)
            runs, last = 1, time.perf_counter() - t_case
            while (runs < MAX_CASE_RUNS and (time.perf_counter() - t_case) + last < CASE_REPEAT_BUDGET_S
                   and (time.perf_counter() - t_case) + 1.5 * last < 0.8 * cap):
                gc.collect()
                t_run = time.perf_counter()
                again = _run_case(engine, engine_name, inp, None, case, report=False)
                last = time.perf_counter() - t_run
                runs += 1
                _err(f"[reach]   {case}/{engine_name}: run {runs} took {last:.1f} s")
                for key in ("prep_s", "snap_s", "build_s"):
                    meta[key] = min(meta[key], again[key])
                for c0, c1 in zip(meta["categories"], again["categories"], strict=True):
                    c0["nearest_s"] = min(c0["nearest_s"], c1["nearest_s"])
                    c0["catch_s"] = min(c0["catch_s"], c1["catch_s"])
                for key in ("network_s", "precompute_s"):
                    if key in meta["build_info"]:
                        meta["build_info"][key] = min(meta["build_info"][key], again["build_info"][key])
            meta["case_runs"] = runs
        meta.update({
            "case": case,
            "engine": engine_name,
            "nodes": int(inp.net.n_nodes),
            "edges": int(inp.net.n_edges),
            "compounds": inp.n_comp,
            "facilities_per_category": inp.n_fac,
            "warmup_s": warm_s,
            "rss_inputs": rss_inputs,
            "ru_maxrss": ru_first,
        })
        (tmp / f"meta_{case}__{engine_name}.json").write_text(json.dumps(meta))
        _err(f"@@case {case} done")
        del inp
        gc.collect()


# --------------------------------------------------------------------------------------------------------------
# parent: run the jobs with caps, collect, compare, print
# --------------------------------------------------------------------------------------------------------------


class JobState:
    def __init__(self):
        self.lock = threading.Lock()
        self.case: str | None = None
        self.t_engine: float | None = None  # when the current case's inputs were ready (the clock starts)
        self.peak: dict[str, int] = {}
        self.first_done: set[str] = set()  # cases whose first run is over: later (repeat) runs do not count for memory
        self.inputs_rss: dict[str, int] = {}
        self.done: list[str] = []
        self.phases: dict[str, dict] = {}


def _reader(stream, state: JobState, prefix: str) -> None:
    for line in stream:
        line = line.rstrip("\n")
        if line.startswith("@@"):
            parts = line[2:].split()
            with state.lock:
                kind, case = parts[0], parts[1]
                ph = state.phases.setdefault(case, {"cats": []})
                if kind == "case" and parts[2] == "begin":
                    state.case, state.t_engine = case, None
                elif kind == "case" and parts[2] == "done":
                    state.done.append(case)
                    state.case, state.t_engine = None, None
                elif kind == "inputs":
                    state.inputs_rss[case] = int(parts[2])
                    ph["info"] = dict(zip(("nodes", "edges", "compounds", "facilities_per_category"), map(int, parts[3:7]), strict=False))
                    state.t_engine = time.monotonic()
                elif kind == "phase":
                    ph[parts[2]] = float(parts[3])
                elif kind == "cat":
                    ph["cats"].append((float(parts[3]), float(parts[4])))
                elif kind == "firstrun":
                    state.first_done.add(case)
        elif line.strip():
            print(f"{prefix}{line}", file=sys.stderr, flush=True)


def _pandana_progress(log: Path) -> str | None:
    """The last percentage pandana printed (its contraction-hierarchy build reports progress on stdout)."""
    import re

    try:
        tail = log.read_bytes()[-4000:].decode(errors="replace")
    except OSError:
        return None
    found = re.findall(r"(\d+)%", tail)
    return f"{found[-1]} %" if found else None


RUNNING: list[subprocess.Popen] = []  # the worker being run, killed if the benchmark itself is stopped


def _stop_workers() -> None:
    for proc in RUNNING:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def wait_idle(args) -> None:
    """With --wait-idle S: wait up to S seconds until the CPUs are less busy than --idle-below (% over 2 s)."""
    import psutil

    if not args.wait_idle:
        return
    t0 = time.monotonic()
    busy = psutil.cpu_percent(interval=2.0)
    while busy >= args.idle_below and time.monotonic() - t0 < args.wait_idle:
        _err(f"[reach] machine busy ({busy:.0f} % CPU used by other processes); waiting ...")
        time.sleep(10)
        busy = psutil.cpu_percent(interval=2.0)
    if busy >= args.idle_below:
        _err(f"[reach] still busy after {args.wait_idle:.0f} s ({busy:.0f} %); going ahead")


def run_job(engine: str, cases: list[str], args, tmp: Path) -> dict[str, dict]:
    """Run ``engine`` on ``cases`` in subprocesses; a capped/crashed case is recorded and the rest rerun."""
    import psutil

    status: dict[str, dict] = {}
    remaining = list(cases)
    n_launch = 0
    while remaining:
        launched = list(remaining)
        n_launch += 1
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, "--job-cases", ",".join(launched),
               "--tmp", str(tmp), "--cap", str(args.cap)]
        if args.compounds:
            cmd += ["--compounds", str(args.compounds)]
        wait_idle(args)
        _err(f"[reach] start {engine} on {', '.join(launched)}")
        t_job = time.monotonic()
        log = tmp / f"stdout_{engine}_{launched[0]}_{n_launch}.log"  # the engines' own chatter (pandana prints progress)
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=REPO)
        RUNNING.append(proc)
        state = JobState()
        reader = threading.Thread(target=_reader, args=(proc.stderr, state, ""), daemon=True)
        reader.start()
        ps = psutil.Process(proc.pid)
        killed: str | None = None
        killed_case: str | None = None
        while proc.poll() is None:
            try:
                rss = ps.memory_info().rss
            except psutil.Error:
                rss = 0
            with state.lock:
                case, t_eng = state.case, state.t_engine
                if case is not None and case not in state.first_done:
                    state.peak[case] = max(state.peak.get(case, 0), rss)
            if case is not None and t_eng is not None and time.monotonic() - t_eng > args.cap:
                killed, killed_case = "cap", case
            elif rss > args.mem_cap * 2**30:
                killed, killed_case = "mem", case
            if killed:
                _err(f"[reach] {engine} on {killed_case}: {'time cap' if killed == 'cap' else 'memory cap'} reached, "
                     f"killing pid {proc.pid}")
                os.killpg(proc.pid, signal.SIGKILL)  # the worker's own process group (start_new_session)
                proc.wait()
                break
            time.sleep(0.02)
        reader.join(timeout=5)
        RUNNING.remove(proc)
        rc = proc.returncode
        for case in state.done:
            meta = json.loads((tmp / f"meta_{case}__{engine}.json").read_text())
            peak = state.peak.get(case, 0)
            if len(launched) == 1:  # the process ran this case alone: its ru_maxrss (at the end of run 1) is exact
                peak = max(peak, meta["ru_maxrss"])
            meta["peak_rss"] = peak
            meta["status"] = "ok"
            status[case] = meta
            remaining.remove(case)
        if remaining:
            bad = killed_case or state.case or remaining[0]
            ph = state.phases.get(bad, {"cats": []})
            status[bad] = {"case": bad, "engine": engine, "status": killed or f"crash (rc {rc})", "partial": ph,
                           "peak_rss": state.peak.get(bad, 0), "rss_inputs": state.inputs_rss.get(bad),
                           "engine_progress": _pandana_progress(log) if engine == "pandana" else None}
            if bad in remaining:
                remaining.remove(bad)
            _err(f"[reach] {engine} on {bad}: {status[bad]['status']}")
        _err(f"[reach] done {engine} ({time.monotonic() - t_job:.1f} s)")
    return status


def _load(tmp: Path, case: str, engine: str, k: int):
    f = tmp / f"res_{case}__{engine}__{k}.npz"
    if not f.exists():
        return None
    z = np.load(f)
    return {key: z[key] for key in z.files}


def compare(tmp: Path, case: str, engine: str, ref: str, n_comp: int) -> dict | None:
    """Agreement of ``engine`` with ``ref`` over the categories both completed."""
    if engine == ref:
        return None
    max_dn, count_mism, inf_mism, pair_mism, max_dp, cats = 0.0, 0, 0, 0, 0.0, 0
    for k in range(N_CATEGORIES):
        a, b = _load(tmp, case, engine, k), _load(tmp, case, ref, k)
        if a is None or b is None:
            continue
        cats += 1
        fa, fb = np.isfinite(a["nearest"]), np.isfinite(b["nearest"])
        inf_mism += int((fa != fb).sum())
        both = fa & fb
        if both.any():
            max_dn = max(max_dn, float(np.abs(a["nearest"][both] - b["nearest"][both]).max()))
        count_mism += int((a["counts"] != b["counts"]).sum())
        ka = a["s"] * n_comp + a["t"]
        kb = b["s"] * n_comp + b["t"]
        common, ia, ib = np.intersect1d(ka, kb, assume_unique=False, return_indices=True)
        pair_mism += int(len(ka) + len(kb) - 2 * len(common))
        if len(common):
            max_dp = max(max_dp, float(np.abs(a["d"][ia] - b["d"][ib]).max()))
    if cats == 0:
        return None
    return {"ref": ref, "categories": cats, "max_abs_nearest_m": max_dn, "nearest_inf_mismatch": inf_mism,
            "count_mismatch": count_mism, "pair_mismatch": pair_mism, "max_abs_pair_m": max_dp}


def summarise(case: str, res: dict[str, dict], tmp: Path, cap: float) -> list[dict]:
    rows = []
    ok = {e: m for e, m in res.items() if m.get("status") == "ok"}
    info = next(iter(ok.values()), None)
    # when nothing finished, the sizes the workers reported once their inputs were ready
    partial_info = info or next((m["partial"]["info"] for m in res.values() if m.get("partial", {}).get("info")), None)
    nx_full = "networkx" in ok
    ref = "networkx" if nx_full else ("planner" if "planner" in ok else None)
    for e in ENGINES:
        if e not in res:
            continue
        m = res[e]
        row = {"case": case, "engine": e, "status": m["status"], "notes": []}
        if partial_info:
            for key in ("nodes", "edges", "graph_nodes", "compounds", "facilities_per_category"):
                if key in partial_info:
                    row[key] = partial_info[key]
        row["peak_mib"] = m.get("peak_rss", 0) / 2**20 if m.get("peak_rss") else None
        row["inputs_mib"] = m["rss_inputs"] / 2**20 if m.get("rss_inputs") else None
        if m["status"] == "ok":
            cats = m["categories"]
            if m.get("query_repeats", 1) > 1:
                row["notes"].append(f"query times: best of {m['query_repeats']}")
            if m.get("case_runs", 1) > 1:
                row["notes"].append(f"times: best of {m['case_runs']} runs of the whole job")
            row["prep"] = m["prep_s"]
            row["snap"] = m["snap_s"]
            row["build"] = m["build_s"]
            row["nearest"] = sum(c["nearest_s"] for c in cats)
            row["catch"] = sum(c["catch_s"] for c in cats)
            row["total"] = row["prep"] + row["build"] + row["nearest"] + row["catch"]
            row["pairs"] = sum(c["pairs"] for c in cats)
            row["build_info"] = m.get("build_info", {})
            row["cpu_per_wall"] = m.get("cpu_per_wall")
            row["nearest_ab"] = m.get("nearest_ab")
            if m.get("cpu_per_wall") is not None and e != "pandana" and m["cpu_per_wall"] < 0.85:
                row["notes"].append(f"got only {m['cpu_per_wall']:.2f} CPU per wall-clock second: other processes competed")
            if e == "planner":
                row["notes"].append(f"warm-up excluded: {m['warmup_s']:.2f} s toy run incl. numba JIT cache load; "
                                    f"prep = snap {m['snap_s']:.2f} s + reach graph {m['prep_s'] - m['snap_s']:.2f} s")
            if e == "pandana":
                bi = m["build_info"]
                row["notes"].append(
                    f"build = CH {bi['network_s']:.1f} s + precompute(1000) {bi['precompute_s']:.1f} s, 2 OpenMP threads; "
                    f"weights truncated to whole mm, float32; catchments via nodes_in_range"
                    + (f"; {bi['poi_mapping_misses']} POIs mapped off their leaf" if bi.get("poi_mapping_misses") else "")
                )
            if e == "scipy":
                row["notes"].append(f"dense rows, batch {m['build_info']['batch']} sources/call")
        elif m.get("skipped_after"):
            row["notes"].append(f"not run: {ENGINE_LABEL[e]} already hit the {cap:.0f} s cap on the smaller "
                                f"{m['skipped_after']} (use --no-skip to run it anyway)")
        else:
            part = m.get("partial", {})
            row["prep"] = part.get("prep")
            row["build"] = part.get("build")
            done = part.get("cats", [])
            if e == "pandana" and not done and part.get("build") is None:
                where = ("precompute(1000), after a contraction hierarchy of " + f"{part['ch']:.0f} s" if "ch" in part
                         else "the contraction-hierarchy build" + (f" (pandana's progress counter at {m['engine_progress']})"
                                                                   if m.get("engine_progress") else ""))
                row["notes"].append(f"killed by the {cap:.0f} s cap during {where}")
            elif done:
                row["nearest_part"] = sum(c[0] for c in done)
                row["catch_part"] = sum(c[1] for c in done)
                per_cat = (row["nearest_part"] + row["catch_part"]) / len(done)
                row["estimate"] = (row["prep"] or 0) + (row["build"] or 0) + per_cat * N_CATEGORIES
                row["notes"].append(
                    f"{m['status']} after {len(done)}/{N_CATEGORIES} categories; est. total "
                    f"{row['estimate']:.0f} s = prep + build + {N_CATEGORIES} x {per_cat:.0f} s/category (extrapolated)"
                )
            else:
                row["notes"].append(f"{m['status']} (cap {cap:.0f} s) before any category finished")
            if m["status"] == "mem":
                row["notes"].append("killed by the memory cap")
        if ref and info:
            agr = compare(tmp, case, e, ref, info["compounds"])
            row["agreement"] = agr
            if agr and agr["categories"] < N_CATEGORIES:
                row["notes"].append(f"agreement over {agr['categories']} categories only")
            if agr and agr["nearest_inf_mismatch"]:
                row["notes"].append(f"{agr['nearest_inf_mismatch']} nearest finite/inf mismatches")
        if e == ref:
            if ref == "networkx":
                row["notes"].append("reference")
            else:
                sc = compare(tmp, case, "planner", "scipy", info["compounds"]) if "scipy" in ok else None
                row["notes"].append(
                    "reference (networkx capped)"
                    + (f"; vs scipy: max|dnearest| {sc['max_abs_nearest_m']:.2g} m, {sc['count_mismatch']} count / "
                       f"{sc['pair_mismatch']} pair mismatches" if sc else "")
                )
        rows.append(row)
    return rows


def _fmt_s(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def render(rows: list[dict], cap: float) -> str:
    head = ["case", "nodes", "edges", "graph nodes", "compounds", "fac/cat", "engine", "prep s", "build s",
            "nearest s", "cnt+catch s", "total s", "cpu/wall", "inputs MiB", "peak MiB", "max|dnear| m", "count mism", "pair mism",
            "note"]
    table = []
    notes = []
    for r in rows:
        agr = r.get("agreement")
        note_ref = ""
        if r["notes"]:
            notes.append(f"[{len(notes) + 1}] {r['case']} / {ENGINE_LABEL[r['engine']]}: " + "; ".join(r["notes"]))
            note_ref = f"[{len(notes)}]"
        ok = r["status"] == "ok"
        table.append([
            r["case"], str(r.get("nodes", "-")), str(r.get("edges", "-")), str(r.get("graph_nodes", "-")),
            str(r.get("compounds", "-")), str(r.get("facilities_per_category", "-")), ENGINE_LABEL[r["engine"]],
            _fmt_s(r.get("prep")), _fmt_s(r.get("build")),
            _fmt_s(r.get("nearest")) if ok else (f"({_fmt_s(r['nearest_part'])})" if "nearest_part" in r else "-"),
            _fmt_s(r.get("catch")) if ok else (f"({_fmt_s(r['catch_part'])})" if "catch_part" in r else "-"),
            _fmt_s(r["total"]) if ok else (f"> cap ({cap:.0f})" if r["status"] == "cap" else r["status"]),
            f"{r['cpu_per_wall']:.2f}" if r.get("cpu_per_wall") is not None else "-",
            f"{r['inputs_mib']:.0f}" if r.get("inputs_mib") else "-",
            f"{r['peak_mib']:.0f}" if r.get("peak_mib") else "-",
            f"{agr['max_abs_nearest_m']:.2g}" if agr else ("ref" if any(n.startswith("reference") for n in r["notes"]) else "-"),
            str(agr["count_mismatch"]) if agr else "-",
            str(agr["pair_mismatch"]) if agr else "-",
            note_ref,
        ])
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(head)]
    left = {0, 6}
    lines = ["  ".join(h.ljust(w) if i in left else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths, strict=True)))]
    lines.append("  ".join("-" * w for w in widths))
    prev = None
    for row in table:
        if prev is not None and row[0] != prev:
            lines.append("")
        prev = row[0]
        lines.append("  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines) + "\n\n" + "\n".join(notes)


def ratios(case_rows: list[dict]) -> dict:
    by = {r["engine"]: r for r in case_rows}
    p = by.get("planner")
    out: dict = {"case": case_rows[0]["case"]}
    if not p or p["status"] != "ok":
        return out
    for peer in ("networkx", "pandana"):
        r = by.get(peer)
        if not r:
            continue
        if r["status"] == "ok":
            out[peer] = r["total"] / p["total"]
            out[f"{peer}_query"] = (r["nearest"] + r["catch"]) / (p["nearest"] + p["catch"])
        elif r["status"] == "cap":
            out[peer] = None
            out[f"{peer}_lower"] = CAP_SECONDS / p["total"]
            if r.get("estimate"):
                out[f"{peer}_est"] = r["estimate"] / p["total"]
    s = by.get("scipy")
    if s and s["status"] == "ok":
        out["nearest_vs_scipy"] = p["nearest"] / s["nearest"]
        out["scipy"] = s["total"] / p["total"]
    if p.get("nearest_ab"):
        out["nearest_ab"] = p["nearest_ab"]["ratio"]
    out["planner_peak_mib"] = p.get("peak_mib")
    out["planner_inputs_mib"] = p.get("inputs_mib")
    out["busy"] = [r["engine"] for r in case_rows
                   if r.get("cpu_per_wall") is not None and r["engine"] != "pandana" and r["cpu_per_wall"] < 0.85]
    return out


CAP_SECONDS = 900.0


def _x(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}×"


def ratio_line(rt: dict) -> str:
    parts = []
    for peer in ("networkx", "pandana"):
        if rt.get(peer) is not None:
            parts.append(f"vs {peer}: {_x(rt[peer])}" + (" (incl. build)" if peer == "pandana" else "")
                         + f" [queries only {_x(rt[peer + '_query'])}]")
        elif rt.get(peer + "_lower") is not None:
            est = f", est. {_x(rt[peer + '_est'])}" if rt.get(peer + "_est") else ""
            parts.append(f"vs {peer}: > {_x(rt[peer + '_lower'])} (capped{est})")
    if rt.get("nearest_vs_scipy") is not None:
        parts.append(f"nearest vs plain scipy: {rt['nearest_vs_scipy']:.2f}× the time"
                     + (f" (same-process A/B: {rt['nearest_ab']:.2f}×)" if rt.get("nearest_ab") else ""))
    if not parts:
        return f"{rt['case']}: planner did not finish"
    busy = (f"  (machine busy during {', '.join(ENGINE_LABEL[e] for e in rt['busy'])}: see cpu/wall)"
            if rt.get("busy") else "")
    return f"{rt['case']}: planner " + ", ".join(parts) + busy


def targets(rts: dict, headline: str) -> list[str]:
    """The issue's targets, checked against what was measured."""
    out = []
    rt = rts.get(headline, {})

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("met" if ok else "MISSED")

    nx = rt.get("networkx") if rt.get("networkx") is not None else rt.get("networkx_lower")
    out.append(f"target >= 10x faster than networkx ({headline}): {_x(nx)}"
               + (" (lower bound)" if rt.get("networkx") is None and nx else "") + f" -> {verdict(None if nx is None else nx >= 10)}")
    pdn = rt.get("pandana") if rt.get("pandana") is not None else rt.get("pandana_lower")
    out.append(f"target >= 2x faster than pandana incl. build ({headline}): {_x(pdn)}"
               + (" (lower bound: pandana capped)" if rt.get("pandana") is None and pdn else "")
               + f" -> {verdict(None if pdn is None else pdn >= 2)}")
    for c in dict.fromkeys([headline] + [c for c in ("grid1m",) if c in rts]):
        v = rts.get(c, {}).get("nearest_vs_scipy")
        ab = rts.get(c, {}).get("nearest_ab")
        if ab is not None:
            out.append(f"target nearest <= 1.2x one plain scipy multi-source Dijkstra per category ({c}): same-process "
                       f"A/B {ab:.2f}x -> {verdict(ab <= 1.2)}" + (f" (table, separate processes: {v:.2f}x)" if v else ""))
    m = rts.get("grid1m", {})
    if m.get("planner_peak_mib"):
        peak, inputs = m["planner_peak_mib"], m["planner_inputs_mib"]
        out.append(f"target planner peak memory <= 1 GiB (grid1m): process peak {peak:.0f} MiB -> {verdict(peak <= 1024)}; "
                   f"above the loaded inputs (snap + reach graph + queries): {peak - inputs:.0f} MiB -> "
                   f"{verdict(peak - inputs <= 1024)}")
    return out


def final_line(rt: dict) -> str:
    def val(peer):
        if rt.get(peer) is not None:
            return f"{rt[peer]:.1f}×"
        if rt.get(peer + "_lower") is not None:
            return f">{rt[peer + '_lower']:.1f}×"
        return "n/a"

    return f"reach speedup: {val('networkx')} vs networkx, {val('pandana')} vs pandana"


def main(argv: list[str] | None = None) -> int:
    global CAP_SECONDS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the three scenario extracts only (longgang, haidian, nantong; < 1 min)")
    ap.add_argument("--cases", help=f"comma-separated, from: {', '.join(ALL_CASES)}")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, from: " + ", ".join(ENGINES))
    ap.add_argument("--cap", type=float, default=900.0, help="time cap per (case, engine) in seconds (default 900)")
    ap.add_argument("--mem-cap", type=float, default=18.0, help="RSS cap per engine process in GiB (default 18)")
    ap.add_argument("--compounds", type=int, help="compounds for every case (default: 10 k real, 50 k grid250k, 100 k grid1m)")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="before each engine run, wait up to SECONDS for other processes to leave the CPUs")
    ap.add_argument("--idle-below", type=float, default=15.0, metavar="PERCENT",
                    help="with --wait-idle: the machine counts as idle below this CPU use, in %% of all cores (default 15)")
    ap.add_argument("--no-skip", action="store_true",
                    help="run an engine on the 1 M grid even when it hit the cap on the 250 k grid")
    ap.add_argument("--out", help="write raw numbers as JSON (relative names go to benchmarks/results/)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--job-cases", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker == "prepare":
        prepare(args.job_cases.split(","), Path(args.tmp))
        return 0
    if args.worker:
        worker(args.worker, args.job_cases.split(","), Path(args.tmp), args.compounds, args.cap)
        return 0

    CAP_SECONDS = args.cap
    if args.cases:
        cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    else:
        cases = list(QUICK_CASES) if args.quick else list(ALL_CASES)
    unknown = [c for c in cases if c not in ALL_CASES]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown += [e for e in engines if e not in ENGINES]
    if unknown:
        ap.error(f"unknown case/engine: {unknown}")
    t_run = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below runs
    tmp = Path(tempfile.mkdtemp(prefix="reach_bench_"))
    try:
        results: dict[str, dict[str, dict]] = {c: {} for c in cases}
        small = [c for c in cases if CASES[c]["kind"] != "grid"]
        big = [c for c in cases if CASES[c]["kind"] == "grid"]
        # the small real extracts: one process per engine for all of them; grids: one process per (case, engine)
        if small:
            _err("[reach] building the real walk networks with planner (not timed)")
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", "prepare", "--job-cases",
                            ",".join(small), "--tmp", str(tmp)], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
            for e in engines:
                for c, m in run_job(e, small, args, tmp).items():
                    results[c][e] = m
        capped_on: dict[str, str] = {}
        for c in sorted(big, key=lambda c: CASES[c]["side"]):
            for e in engines:
                if e in capped_on and not args.no_skip:
                    _err(f"[reach] skip {e} on {c}: it hit the cap on {capped_on[e]}")
                    results[c][e] = {"case": c, "engine": e, "status": "cap", "skipped_after": capped_on[e]}
                    continue
                results[c][e] = run_job(e, [c], args, tmp)[c]
                if results[c][e]["status"] == "cap":
                    capped_on[e] = c
        rows_by_case = {c: summarise(c, results[c], tmp, args.cap) for c in cases}
        rts = {c: ratios(rows_by_case[c]) for c in cases if rows_by_case[c]}
        elapsed = time.monotonic() - t_run
    finally:
        _stop_workers()
        shutil.rmtree(tmp, ignore_errors=True)

    all_rows = [r for c in cases for r in rows_by_case[c]]
    print(f"planner reach engine vs peers: {N_CATEGORIES} categories; nearest facility within {NEAREST_LIMIT_M:.0f} m, "
          f"counts and catchments within {CATCH_LIMIT_M:.0f} m (inclusive); seeds fixed")
    print("total = prep (planner snap_points + build_reach_graph, identical for every engine: the augmented graph) "
          "+ engine build + nearest + counts/catchments; all in seconds, wall clock")
    print("agreement columns compare with networkx on the same graph (or planner when networkx was capped): max |Δ| of "
          "nearest distances over compounds, counts that differ (compound × category), catchment pairs in one list only")
    print()
    print(render(all_rows, args.cap))
    print()
    for c in cases:
        if c in rts:
            print(ratio_line(rts[c]))
    headline = "grid250k" if "grid250k" in cases else ("longgang" if "longgang" in cases else
                                                      max(cases, key=lambda c: (rows_by_case[c] or [{}])[0].get("nodes", 0)))
    print()
    for line in targets(rts, headline):
        print(line)
    for c in cases:
        rt = rts.get(c, {})
        if CASES[c]["kind"] == "grid" and rt.get("planner_peak_mib"):
            print(f"planner peak memory, {c}: {rt['planner_peak_mib']:.0f} MiB "
                  f"(inputs: interpreter + libraries + network arrays + points = {rt['planner_inputs_mib']:.0f} MiB)")
    print(f"benchmark wall time: {elapsed:.0f} s")

    if args.out:
        out = Path(args.out)
        if not out.is_absolute():
            out = RESULTS / out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"cases": {c: results[c] for c in cases}, "rows": all_rows, "ratios": rts,
                                   "wall_s": elapsed, "cap_s": args.cap}, indent=1, default=str))
        print(f"raw numbers: {out}")

    print(final_line(rts.get(headline, {})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
