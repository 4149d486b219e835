#!/usr/bin/env python
"""Benchmark planner's 1+N 托育 model (issue #17) against named peers on the generated cities; print one table.

Instance: a generated city (``/work/cities/90k`` with ``--quick``, else ``/work/cities/1m``: the city-scale benchmark's
1 M-node city), read and snapped by planner's own stages. Every 4th of the city's childcare facilities (in file order) is
made a hub (综合托育服务中心), the others are community points; N = 3 points per hub; the walk limit is 2 000 m (and
8 000 m in the full run, where far more pairs are in reach). The job: every point's (hub, metres) pairs within the limit
on the walk network, then the assignment — the most points guided, then the least total walk — and the per-县区/街道
summary.

Engines (all on the same reach graph, planner's ``Reach.build`` of the run, built once and not timed; so their metres
agree to the last bit and their assignments can be compared exactly):

* planner      ``pipeline.one_plus_n_pairs`` (numba bounded Dijkstra from the hubs, ``catchments``) ->
               ``pipeline.one_plus_n_model`` (nearest hub where no hub is over N, HiGHS transportation LP for the
               rest; then the reasons and the area tables).
* scipy LSA    ``scipy.sparse.csgraph.dijkstra(indices=hubs, limit=…)`` in batches (dense rows of the whole graph,
               ≤ 512 MiB per batch), the point columns read off -> ``scipy.optimize.linear_sum_assignment`` on a
               points × (hubs·N + points) matrix (each hub replicated N times; a "no hub" column per point; cost
               d − 10⁹ where in reach): the textbook assignment.
* networkx     (``--quick`` only: building a 1 M-node networkx graph alone takes minutes and GiBs)
               ``single_source_dijkstra_path_length(cutoff=…)`` per hub -> the same ``linear_sum_assignment``.

Agreement: points assigned and the total metres of the assignment against planner's (equal counts; the metres equal
within 0.05 m a point, planner's table rounding each walk to 0.1 m: several optimal assignments may exist, their
totals are equal). Times are wall clock in this one
process, one engine after the other; "×" is the peer's time over planner's.

Usage::

    .venv/bin/python benchmarks/one_plus_n.py --quick     # the 90 k-node city, < 1 min
    .venv/bin/python benchmarks/one_plus_n.py             # the 1 M-node city (~3 min, ~3 GiB)

The last line is ``1+N: planner N× faster than scipy LSA`` for the largest limit of the run.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner import pipeline as pl  # noqa: E402
from planner.io.categories import taxonomy_for  # noqa: E402
from planner.network.build import build_network  # noqa: E402
from planner.network.points import Reach  # noqa: E402
from planner.scenario import load_scenario  # noqa: E402
from planner.settings import OnePlusNSpec  # noqa: E402

N = 3
BIG = 1e9


def _setup(city: Path):
    sc = load_scenario(city / "city.toml")
    crs = pl.choose_crs(sc, None)
    layers = pl.load_layers(sc, crs, taxonomy_for(sc), None)
    net = build_network(sc.network, crs)
    layers = pl.reject_beyond_network(layers, net, sc.study_area_buffer_m)
    snap = pl.snap_to_network(layers.compounds, layers.facilities, net, max_snap_m=sc.max_snap_m)
    layers, snap = pl.reject_isolated(layers, snap)
    reach = Reach.build(net, snap.snapped, n_gates=len(snap.gate_owner), max_snap_m=sc.max_snap_m)
    fac = snap.facilities
    cc = np.flatnonzero((fac["category"] == "childcare").to_numpy())
    hub = np.zeros(len(fac), bool)
    hub[cc[::4]] = True
    return sc, layers.zones, net, reach, fac.assign(hub=hub)


def _planner(sc, zones, reach, fac, limit):
    s2 = replace(sc, one_plus_n=OnePlusNSpec(n=N, max_distance_m=limit, same_district=False))
    t0 = time.perf_counter()
    pairs = pl.one_plus_n_pairs(s2, reach, fac)
    model = pl.one_plus_n_model(s2, fac, zones, pairs)
    seconds = time.perf_counter() - t0
    assigned = model.table[model.table["status"] == "assigned"]
    return seconds, len(assigned), float(assigned["dist_m"].sum()), len(pairs)


def _assign(dist: np.ndarray) -> tuple[int, float]:
    """linear_sum_assignment on points × (hubs·N + points): the most points assigned, then the least metres."""
    from scipy.optimize import linear_sum_assignment

    n_p, n_h = dist.shape
    cost = np.zeros((n_p, n_h * N + n_p))
    within = np.isfinite(dist)
    block = np.where(within, dist - BIG, 0.0)
    cost[:, : n_h * N] = np.repeat(block, N, axis=1)  # hub h's copies are columns h·N … h·N + N − 1
    rows, cols = linear_sum_assignment(cost)
    real = cols < n_h * N
    hubs = cols[real] // N
    ok = within[rows[real], hubs]
    return int(ok.sum()), float(dist[rows[real][ok], hubs[ok]].sum())


def _roles(reach, fac):
    hub = fac["hub"].to_numpy(dtype=bool) & (fac["category"] == "childcare").to_numpy()
    point = ~fac["hub"].to_numpy(dtype=bool) & (fac["category"] == "childcare").to_numpy()
    reachable = fac["reachable"].to_numpy(dtype=bool) if "reachable" in fac else np.ones(len(fac), bool)
    g = reach.graph
    nodes = g.point_node[reach.facilities]
    return nodes[hub & reachable], nodes[point & reachable], int((point & ~reachable).sum())


def _scipy(reach, fac, limit):
    from scipy.sparse.csgraph import dijkstra

    t0 = time.perf_counter()
    hubs, points, _ = _roles(reach, fac)
    csr = reach.graph.csr
    batch = max(1, int(512 * 2**20 // (8 * csr.shape[0])))
    dist = np.empty((len(points), len(hubs)))
    for a in range(0, len(hubs), batch):
        d = dijkstra(csr, directed=False, indices=hubs[a:a + batch], limit=limit)
        dist[:, a:a + batch] = d[:, points].T
    dist[dist > limit] = np.inf
    n, total = _assign(dist)
    return time.perf_counter() - t0, n, total


def _networkx(reach, fac, limit):
    import networkx as nx

    t0 = time.perf_counter()
    hubs, points, _ = _roles(reach, fac)
    coo = reach.graph.csr.tocoo()
    g = nx.Graph()
    g.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))
    col = {p: i for i, p in enumerate(points.tolist())}
    dist = np.full((len(points), len(hubs)), np.inf)
    for j, h in enumerate(hubs.tolist()):
        for node, d in nx.single_source_dijkstra_path_length(g, h, cutoff=limit).items():
            i = col.get(node)
            if i is not None:
                dist[i, j] = min(dist[i, j], d)
    n, total = _assign(dist)
    return time.perf_counter() - t0, n, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the 90 k-node city, networkx included")
    ap.add_argument("--city", type=Path, help="a generated city folder (default /work/cities/1m, or 90k with --quick)")
    args = ap.parse_args()
    city = args.city or Path("/work/cities") / ("90k" if args.quick else "1m")
    t0 = time.perf_counter()
    sc, zones, net, reach, fac = _setup(city)
    n_hubs = int(fac["hub"].sum())
    n_cc = int((fac["category"] == "childcare").sum())
    print(f"city {city.name}: {net.n_nodes:,} nodes; childcare {n_cc:,} ({n_hubs:,} hubs, N = {N}); setup {time.perf_counter() - t0:.1f} s "
          "(not timed below)", flush=True)
    rows = []
    limits = (2000.0,) if args.quick else (2000.0, 8000.0)
    for limit in limits:
        p_s, p_n, p_m, n_pairs = _planner(sc, zones, reach, fac, limit)
        rows.append(dict(limit=limit, engine="planner", seconds=p_s, assigned=p_n, metres=p_m, ratio=1.0, agree="—", pairs=n_pairs))
        peers = [("scipy LSA", _scipy)] + ([("networkx", _networkx)] if args.quick else [])
        for name, fn in peers:
            s, n, m = fn(reach, fac, limit)
            # one_plus_n.csv rounds each walk to 0.1 m: totals agree within 0.05 m a point
            agree = "yes" if n == p_n and abs(m - p_m) <= 0.05 * max(1, n) + 1e-6 else f"NO ({n} pts, {m:,.1f} m)"
            rows.append(dict(limit=limit, engine=name, seconds=s, assigned=n, metres=m, ratio=s / p_s, agree=agree, pairs=n_pairs))
        print(f"  limit {limit:,.0f} m done", flush=True)
    table = pd.DataFrame(rows)
    print()
    print(f"{'limit m':>8} {'engine':<10} {'seconds':>8} {'× planner':>10} {'assigned':>9} {'total metres':>14} {'pairs':>8}  agrees")
    for r in table.itertuples():
        print(f"{r.limit:>8,.0f} {r.engine:<10} {r.seconds:>8.2f} {r.ratio:>10.1f} {r.assigned:>9,} {r.metres:>14,.1f} {r.pairs:>8,}  {r.agree}")
    last = table[(table["limit"] == max(limits)) & (table["engine"] == "scipy LSA")].iloc[0]
    print(f"\n1+N: planner {last.ratio:.1f}× faster than scipy LSA")
    return 0


if __name__ == "__main__":
    sys.exit(main())
