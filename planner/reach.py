"""Network walking distances between snapped points: exact, with access legs, on a split-edge sparse graph."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from .network import WalkNetwork
from .snap import Snapped

__all__ = ["ReachGraph", "build_reach_graph", "nearest_distance"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReachGraph:
    """The walk network with every snapped point inserted.

    Each point's foot splits its edge (points at the same spot share a split node), and the point
    itself is a leaf joined to its foot by its access leg. Leaves never lie on a path between
    other nodes, so distances between leaves are exactly access + along-network + access.
    """

    csr: sp.csr_matrix
    point_node: np.ndarray  # graph node of each point (-1 for unreachable points)

    @property
    def n_nodes(self) -> int:
        return self.csr.shape[0]


def build_reach_graph(network: WalkNetwork, snapped: Snapped) -> ReachGraph:
    """Insert all ``snapped`` points into ``network`` and build the symmetric CSR matrix (metres)."""
    node_pos = {nid: i for i, nid in enumerate(network.nodes.index)}
    eu = network.edges["u"].map(node_pos).to_numpy()
    ev = network.edges["v"].map(node_pos).to_numpy()
    elen = network.edges["length"].to_numpy()
    n_base = len(node_pos)

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
    keep = ~split_edges
    rows = [eu[keep], prev_node, split_id[last_on_edge]]
    cols = [ev[keep], split_id, ev[ue[last_on_edge]]]
    wts = [elen[keep], us - prev_off, elen[ue[last_on_edge]] - us[last_on_edge]]

    leaf = n_base + n_split + np.arange(len(pts))
    rows.append(leaf)
    cols.append(foot)
    wts.append(snapped.access[pts])

    r = np.concatenate(rows)
    c = np.concatenate(cols)
    w = np.concatenate(wts).astype(np.float64)
    n = n_base + n_split + len(pts)
    r2 = np.concatenate([r, c])
    c2 = np.concatenate([c, r])
    w2 = np.concatenate([w, w])
    # parallel edges: keep the shortest (a CSR built from COO would add them up); drop self-loops
    loop = r2 == c2
    r2, c2, w2 = r2[~loop], c2[~loop], w2[~loop]
    order = np.lexsort((w2, c2, r2))
    r2, c2, w2 = r2[order], c2[order], w2[order]
    first = np.ones(len(r2), dtype=bool)
    first[1:] = (r2[1:] != r2[:-1]) | (c2[1:] != c2[:-1])
    csr = sp.csr_matrix((w2[first], (r2[first], c2[first])), shape=(n, n))
    point_node = np.full(len(snapped), -1, dtype=np.int64)
    point_node[pts] = leaf
    log.info("reach graph: %d nodes (%d network, %d split, %d points)", n, n_base, n_split, len(pts))
    return ReachGraph(csr=csr, point_node=point_node)


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
    d, _, src = dijkstra(
        graph.csr, directed=True, indices=src_nodes[ok_src], min_only=True, limit=limit, return_predecessors=True
    )
    ok_t = tgt_nodes >= 0
    dist[ok_t] = d[tgt_nodes[ok_t]]
    node_to_source = {node: i for i, node in zip(np.flatnonzero(ok_src)[::-1], src_nodes[ok_src][::-1], strict=True)}
    found = ok_t & np.isfinite(dist)
    nearest[found] = [node_to_source[int(n)] for n in src[tgt_nodes[found]]]
    return dist, nearest
