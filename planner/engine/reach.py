"""The reach engine: exact walking distances between snapped points on a compact CSR graph.

The walk network is turned once into a CSR adjacency in which every snapped point splits its edge and hangs
from it as a leaf (its access leg). Queries:

* :func:`nearest_distance` — the nearest source for every target, one multi-source search per call, bounded by
  ``limit`` (numba kernel :func:`~planner.engine._dijkstra.nearest_source`: the answer of scipy's Dijkstra with
  ``min_only``, ties included, about three times faster and without the GIL);
* :func:`catchments` — every (source, target) pair within ``limit`` with its distance: one bounded search
  per source whose cost is proportional to the area it reaches, never to the size of the graph (numba
  kernel in :mod:`planner.engine._dijkstra`); counts within a threshold are a reduction of it;
* :func:`node_distances` — distance from a set of sources to every node within ``limit``, for display
  geometry (:mod:`planner.analysis.isochrones`), by the same kernel.

The kernels release the GIL, so callers may run independent searches in threads.

Memory is O(nodes + edges + pairs reached): nothing is ever sized facilities × nodes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from planner.engine._dijkstra import bounded_from_each, nearest_source
from planner.engine.snap import Snapped, as_streets
from planner.engine.streets import HasStreets, StreetArrays

__all__ = ["ReachGraph", "build_reach_graph", "nearest_distance", "catchments", "node_distances"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReachGraph:
    """The walk network with every snapped point inserted.

    Each point's foot splits its edge (points at the same spot share a split node), and the point
    itself is a leaf joined to its foot by its access leg. Leaves never lie on a path between
    other nodes, so distances between leaves are exactly access + along-network + access.

    Nodes are numbered for locality: each network node is followed by the split nodes of the edges that
    start at it and the leaves hanging there, so a search touches memory that lies close together.
    ``base_node[i]`` is the graph node of the network's i-th node (``network.nodes`` order).
    """

    csr: sp.csr_matrix
    point_node: np.ndarray  # graph node of each point (-1 for unreachable points)
    base_node: np.ndarray  # graph node of each network node, in network.nodes order

    @property
    def n_base(self) -> int:
        """Number of network nodes."""
        return len(self.base_node)

    @property
    def n_nodes(self) -> int:
        return self.csr.shape[0]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indptr, indices, weights) as int64/int64/float64 for the compiled kernels (cached)."""
        cached = self.__dict__.get("_arrays")
        if cached is None:
            cached = (self.csr.indptr.astype(np.int64), self.csr.indices.astype(np.int64), self.csr.data.astype(np.float64))
            object.__setattr__(self, "_arrays", cached)
        return cached


def build_reach_graph(network: HasStreets | StreetArrays, snapped: Snapped) -> ReachGraph:
    """Insert all ``snapped`` points into ``network`` and build the symmetric CSR matrix (metres)."""
    streets = as_streets(network)
    eu, ev, elen = streets.u, streets.v, streets.length
    n_base = streets.n_nodes

    pts = np.flatnonzero(snapped.reachable)
    e = snapped.edge[pts]
    s = snapped.offset[pts]
    foot = np.empty(len(pts), dtype=np.int64)
    at_u = s <= 0.0
    at_v = ~at_u & (s >= elen[e])
    foot[at_u] = eu[e[at_u]]
    foot[at_v] = ev[e[at_v]]
    inner = ~at_u & ~at_v

    # unique interior feet, sorted along each edge
    ie, is_ = e[inner], s[inner]
    order = np.lexsort((is_, ie))
    ie_sorted, is_sorted = ie[order], is_[order]
    new_key = np.ones(len(order), dtype=bool)
    new_key[1:] = (ie_sorted[1:] != ie_sorted[:-1]) | (is_sorted[1:] != is_sorted[:-1])
    uid = np.cumsum(new_key) - 1
    n_split = int(new_key.sum())
    inner_foot = np.empty(len(order), dtype=np.int64)
    inner_foot[order] = n_base + uid
    foot[inner] = inner_foot

    ue = ie_sorted[new_key]  # edge of each split node
    us = is_sorted[new_key]  # its offset
    split_id = n_base + np.arange(n_split)
    first_on_edge = np.ones(n_split, dtype=bool)
    first_on_edge[1:] = ue[1:] != ue[:-1]
    last_on_edge = np.ones(n_split, dtype=bool)
    last_on_edge[:-1] = ue[1:] != ue[:-1]
    prev_node = np.where(first_on_edge, eu[ue], np.r_[0, split_id[:-1]])
    prev_off = np.where(first_on_edge, 0.0, np.r_[0.0, us[:-1]])

    split_edges = np.zeros(len(elen), dtype=bool)
    split_edges[ue] = True
    # unsplit network edges: drop self-loops, and of parallel edges keep the shortest (a CSR built from COO would
    # add them up). Only these can be parallel: split pieces and leaves always end at a node of their own.
    ku, kv, kw = eu[~split_edges], ev[~split_edges], elen[~split_edges]
    ku, kv, kw = ku[ku != kv], kv[ku != kv], kw[ku != kv]
    lo, hi = np.minimum(ku, kv), np.maximum(ku, kv)
    key = lo * np.int64(n_base) + hi
    order = np.argsort(key, kind="stable")
    key, lo, hi, kw = key[order], lo[order], hi[order], kw[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    shortest = np.minimum.reduceat(kw, np.flatnonzero(first)) if len(kw) else kw
    rows = [lo[first], prev_node, split_id[last_on_edge]]
    cols = [hi[first], split_id, ev[ue[last_on_edge]]]
    wts = [shortest, us - prev_off, elen[ue[last_on_edge]] - us[last_on_edge]]

    leaf = n_base + n_split + np.arange(len(pts))
    rows.append(leaf)
    cols.append(foot)
    wts.append(snapped.access[pts])

    # renumber for locality: network nodes keep their order, each followed by the split nodes of the edges that
    # start at it, then the leaves whose foot is one of those
    n = n_base + n_split + len(pts)
    anchor = np.empty(n, dtype=np.int64)
    anchor[:n_base] = np.arange(n_base)
    anchor[n_base : n_base + n_split] = eu[ue]
    anchor[leaf] = anchor[foot]
    new_id = np.empty(n, dtype=np.int64)
    new_id[np.argsort(2 * anchor + (np.arange(n) >= n_base), kind="stable")] = np.arange(n)

    r = new_id[np.concatenate(rows)]
    c = new_id[np.concatenate(cols)]
    w = np.concatenate(wts).astype(np.float64)
    csr = sp.coo_matrix((np.concatenate([w, w]), (np.concatenate([r, c]), np.concatenate([c, r]))), shape=(n, n)).tocsr()
    csr.sort_indices()
    point_node = np.full(len(snapped), -1, dtype=np.int64)
    point_node[pts] = new_id[leaf]
    log.info("reach graph: %d nodes (%d network, %d split, %d points)", n, n_base, n_split, len(pts))
    return ReachGraph(csr=csr, point_node=point_node, base_node=new_id[:n_base])


def nearest_distance(
    graph: ReachGraph, sources: np.ndarray, targets: np.ndarray, *, limit: float = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """Walking distance (metres) from each target point to its nearest source point.

    Parameters
    ----------
    graph
        Built with every source and target point.
    sources, targets
        Point positions (rows of the Snapped used to build ``graph``).
    limit
        Search radius in metres; farther targets get ``inf``.

    Returns
    -------
    distance, nearest
        ``distance[i]`` for ``targets[i]`` (``inf`` when unreachable) and the position in
        ``sources`` of the nearest source (-1 when none).
    """
    src_nodes = graph.point_node[sources]
    ok_src = src_nodes >= 0
    tgt_nodes = graph.point_node[targets]
    dist = np.full(len(targets), np.inf)
    nearest = np.full(len(targets), -1, dtype=np.int64)
    if not ok_src.any() or len(targets) == 0:
        return dist, nearest
    indptr, indices, weights = graph.arrays()
    d, src = nearest_source(indptr, indices, weights, src_nodes[ok_src], float(limit))
    ok_t = tgt_nodes >= 0
    dist[ok_t] = d[tgt_nodes[ok_t]]
    lookup = np.full(graph.n_nodes, -1, dtype=np.int64)
    lookup[src_nodes[ok_src][::-1]] = np.flatnonzero(ok_src)[::-1]  # each source point has its own leaf node
    found = ok_t & np.isfinite(dist)
    nearest[found] = lookup[src[tgt_nodes[found]]]
    return dist, nearest


def catchments(graph: ReachGraph, sources: np.ndarray, targets: np.ndarray, *, limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (source, target) pair within ``limit`` metres of walking, with its distance.

    Parameters
    ----------
    sources, targets
        Point positions (rows of the Snapped used to build ``graph``); unreachable points take no part.
    limit
        Radius in metres, inclusive.

    Returns
    -------
    src, tgt, dist
        Positions in ``sources`` and ``targets`` and the distance in metres, sorted by (src, tgt).
    """
    src_nodes = graph.point_node[np.asarray(sources, dtype=np.int64)]
    tgt_nodes = graph.point_node[np.asarray(targets, dtype=np.int64)]
    ok_src = np.flatnonzero(src_nodes >= 0)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if len(ok_src) == 0 or len(targets) == 0:
        return empty
    target_id = np.full(graph.n_nodes, -1, dtype=np.int64)
    ok_t = np.flatnonzero(tgt_nodes >= 0)
    target_id[tgt_nodes[ok_t]] = ok_t
    indptr, indices, weights = graph.arrays()
    s, t, d = bounded_from_each(indptr, indices, weights, src_nodes[ok_src], float(limit), target_id)
    s = ok_src[s]
    order = np.lexsort((t, s))
    return s[order], t[order], d[order]


def node_distances(graph: ReachGraph, sources: np.ndarray, *, limit: float) -> np.ndarray:
    """Distance from the nearest of ``sources`` (point positions) to every graph node, ``inf`` beyond ``limit``."""
    src_nodes = graph.point_node[np.asarray(sources, dtype=np.int64)]
    src_nodes = src_nodes[src_nodes >= 0]
    if len(src_nodes) == 0:
        return np.full(graph.n_nodes, np.inf)
    indptr, indices, weights = graph.arrays()
    return nearest_source(indptr, indices, weights, src_nodes, float(limit))[0]
