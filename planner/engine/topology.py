"""Walk-network topology on arrays: the segments of ways → an undirected multigraph of streets between junctions.

Ways are cut into segments between consecutive vertices (node ids, not coordinates). A node stays a node of the
network when it is a junction or a dead end, when it is isolated, or where two different ways meet; every other node
(two segments, two different neighbours, one way) is an interior vertex, and the runs of interior vertices between
two kept nodes become one edge (a *chain*) whose polyline passes through them. Rings of interior vertices with no
kept node at all stay as their segments. This is the topology osmnx builds with
``simplify_graph(G, remove_rings=False, edge_attrs_differ=["osmid"])`` followed by ``convert.to_undirected`` on a
graph with both directions of every segment (the osmid being the way): :func:`simplify_segments` gives the same
edges, in the same order, with the same polyline direction — including self-loops, parallel edges, a way that
repeats a segment (kept once) and different ways along the same segment (kept each) — without building a graph
object. :func:`polyline_lengths` measures polylines as GEOS does (the same floating-point sums).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["Topology", "simplify_segments", "polyline_lengths"]


@dataclass(frozen=True)
class Topology:
    """The simplified network.

    kept
        Per input node: True when it is a node of the network (False for interior vertices of chains).
    u, v, way
        Per edge, in edge order (sorted by ``(u, v)``): its end node ids and the way it comes from.
    path_nodes, path_offsets
        Edge ``e`` runs through nodes ``path_nodes[path_offsets[e]:path_offsets[e + 1]]`` (from ``u`` to ``v``,
        except where osmnx leaves it otherwise: a chain whose two ends lie on the same point).
    """

    kept: np.ndarray
    u: np.ndarray
    v: np.ndarray
    way: np.ndarray
    path_nodes: np.ndarray
    path_offsets: np.ndarray

    @property
    def n_edges(self) -> int:
        return len(self.u)


@njit(cache=True)
def _walk_chains(endpoint, start, inc_other, inc_seg, inc_pos, seg_a):  # pragma: no cover - compiled
    """Walk every chain once, from the kept node and incidence first met: (start node, end node, incidence
    position at each end, its first segment, node path and offsets, segment-in-a-chain flags)."""
    n_nodes = len(endpoint)
    m = len(seg_a)
    done = np.zeros(m, np.bool_)
    c_start = np.empty(m, np.int64)
    c_end = np.empty(m, np.int64)
    c_pos_start = np.empty(m, np.int64)
    c_pos_end = np.empty(m, np.int64)
    c_seg = np.empty(m, np.int64)
    path = np.empty(2 * m + 1, np.int64)
    offsets = np.empty(m + 1, np.int64)
    n_c = 0
    n_p = 0
    for e in range(n_nodes):
        if not endpoint[e]:
            continue
        for idx in range(start[e], start[e + 1]):
            x = inc_other[idx]
            s = inc_seg[idx]
            if endpoint[x] or done[s]:
                continue
            c_start[n_c] = e
            c_pos_start[n_c] = inc_pos[idx]
            c_seg[n_c] = s
            offsets[n_c] = n_p
            path[n_p] = e
            path[n_p + 1] = x
            n_p += 2
            prev = s
            cur = x
            while not endpoint[cur]:
                done[prev] = True
                j = start[cur]
                if inc_seg[j] == prev:
                    j += 1
                prev = inc_seg[j]
                cur = inc_other[j]
                path[n_p] = cur
                n_p += 1
            done[prev] = True
            c_end[n_c] = cur
            c_pos_end[n_c] = prev if seg_a[prev] == cur else m + prev
            n_c += 1
    offsets[n_c] = n_p
    return (c_start[:n_c], c_end[:n_c], c_pos_start[:n_c], c_pos_end[:n_c], c_seg[:n_c],
            path[:n_p], offsets[: n_c + 1], done)


@njit(cache=True)
def _lengths(coords, offsets):  # pragma: no cover - compiled
    n = len(offsets) - 1
    out = np.zeros(n)
    for e in range(n):
        total = 0.0
        for i in range(offsets[e] + 1, offsets[e + 1]):
            dx = coords[i, 0] - coords[i - 1, 0]
            dy = coords[i, 1] - coords[i - 1, 1]
            total += np.sqrt(dx * dx + dy * dy)
        out[e] = total
    return out


def polyline_lengths(coords: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Length of each polyline ``coords[offsets[e]:offsets[e + 1]]``, summed vertex by vertex like GEOS."""
    return _lengths(np.ascontiguousarray(coords, dtype=np.float64), np.asarray(offsets, dtype=np.int64))


def _rank_in_group(group: np.ndarray, order_key: np.ndarray) -> np.ndarray:
    """0, 1, 2 … of each item within its group, by ``order_key``."""
    idx = np.lexsort((order_key, group))
    g = group[idx]
    first = np.r_[True, g[1:] != g[:-1]]
    run_start = np.maximum.accumulate(np.where(first, np.arange(len(g)), 0))
    out = np.empty(len(group), dtype=np.int64)
    out[idx] = np.arange(len(g)) - run_start
    return out


def _rekey_order(lo: np.ndarray, hi: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The order in which osmnx's ``_update_edge_keys`` re-keys parallel chains that it sees as different streets.

    It collects them in the order of their ``"u_v_key"`` strings and walks a Python ``set`` of ``(u, v, key)``
    tuples; the same set, built from the same tuples in the same order, iterates in the same order.
    """
    tuples = [(int(a), int(b), int(k)) for a, b, k in zip(lo, hi, key, strict=True)]

    def uvk(t: tuple[int, int, int]) -> str:
        return "_".join([*sorted([str(t[0]), str(t[1])]), str(t[2])])

    tuples.sort(key=uvk)
    where = {t: i for i, t in enumerate(tuples)}
    order = np.empty(len(tuples), dtype=np.int64)
    for pos, t in enumerate(set(tuples)):
        order[where[t]] = pos
    back = np.empty(len(tuples), dtype=np.int64)  # tuples were sorted: map back to the input order
    inv = {(int(a), int(b), int(k)): i for i, (a, b, k) in enumerate(zip(lo, hi, key, strict=True))}
    for i, t in enumerate(tuples):
        back[inv[t]] = order[i]
    return back


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(starts[i], starts[i] + counts[i])``."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    return np.repeat(np.asarray(starts, dtype=np.int64) - np.cumsum(counts) + counts, counts) + np.arange(total)


def simplify_segments(
    n_nodes: int, seg_a: np.ndarray, seg_b: np.ndarray, seg_way: np.ndarray, node_x: np.ndarray, node_y: np.ndarray
) -> Topology:
    """Simplify the segments ``seg_a[i] – seg_b[i]`` (node ids ``0 … n_nodes − 1``, ``seg_a != seg_b``, in way
    order) of ways ``seg_way``; node coordinates decide only the direction of a chain whose ends coincide."""
    a = np.asarray(seg_a, dtype=np.int64)
    b = np.asarray(seg_b, dtype=np.int64)
    way = np.asarray(seg_way, dtype=np.int64)
    m = len(a)
    n = int(n_nodes)
    # incidences of each node in "successor" order: the row of the directed edge leaving it (forward rows 0 … m − 1,
    # reverse rows m … 2m − 1), which is the order osmnx meets a node's neighbours
    inc_node = np.concatenate([a, b])
    start = np.r_[0, np.cumsum(np.bincount(inc_node, minlength=n))].astype(np.int64)
    order = np.argsort(inc_node, kind="stable")
    del inc_node
    inc_other = np.concatenate([b, a])[order]
    inc_seg = order % m
    inc_pos = order
    deg = np.diff(start)
    two = np.flatnonzero(deg == 2)
    i0 = start[two]
    interior = np.zeros(n, dtype=bool)
    interior[two] = (inc_other[i0] != inc_other[i0 + 1]) & (way[inc_seg[i0]] == way[inc_seg[i0 + 1]])
    endpoint = ~interior

    c_start, c_end, c_pos_start, c_pos_end, c_seg, path, path_off, in_chain = _walk_chains(
        endpoint, start, inc_other, inc_seg, inc_pos, a
    )
    kept = np.ones(n, dtype=bool)
    inner_mask = np.ones(len(path), dtype=bool)
    inner_mask[path_off[:-1]] = False
    inner_mask[path_off[1:] - 1] = False
    kept[path[inner_mask]] = False

    # the first appearance of each node among the edges osmnx adds (u0, v0, u1, v1, …): its node order
    rank = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(rank, a, 2 * np.arange(m))
    np.minimum.at(rank, b, 2 * np.arange(m) + 1)

    # segments between kept nodes: one edge per pair and way (a way that repeats a segment gives it once)
    ds = np.flatnonzero(~in_chain)
    da, db = a[ds], b[ds]
    d_lo = np.where(rank[da] < rank[db], da, db)
    d_hi = np.where(rank[da] < rank[db], db, da)
    d_grp = (da != d_hi).astype(np.int64)  # osmnx keys the later node's edges first: those oriented hi → lo
    d_pair = d_lo * n + d_hi
    by_way = np.lexsort((ds, d_grp, way[ds], d_pair))
    dup = np.zeros(len(ds), dtype=bool)
    same = (d_pair[by_way][1:] == d_pair[by_way][:-1]) & (way[ds][by_way][1:] == way[ds][by_way][:-1])
    dup[by_way[1:]] = same
    pairs_all, m_pair = np.unique(d_pair, return_counts=True)  # parallel segments before that: the keys osmnx used
    keep_d = ~dup
    ds, d_lo, d_hi, d_grp = ds[keep_d], d_lo[keep_d], d_hi[keep_d], d_grp[keep_d]

    # chains: loops at one node, and chains between two nodes (parallel ones in osmnx's key order)
    loop = c_start == c_end
    c_lo = np.where(rank[c_start] < rank[c_end], c_start, c_end)
    c_hi = np.where(rank[c_start] < rank[c_end], c_end, c_start)
    pos_lo = np.where(c_start == c_lo, c_pos_start, c_pos_end)
    pos_hi = np.where(c_start == c_lo, c_pos_end, c_pos_start)
    c_pair = c_lo * n + c_hi
    r_lo = _rank_in_group(c_pair, pos_lo)
    r_hi = _rank_in_group(c_pair, pos_hi)
    flagged = (r_lo != r_hi) & ~loop
    c_cls = np.where(flagged, 2, 1)
    c_sub = np.where(loop, np.minimum(c_pos_start, c_pos_end), r_lo)
    if flagged.any():
        f = np.flatnonzero(flagged)
        at = np.searchsorted(pairs_all, c_pair[f])
        at_ok = (at < len(pairs_all)) & (pairs_all[np.minimum(at, len(pairs_all) - 1)] == c_pair[f])
        m_here = np.where(at_ok, m_pair[np.minimum(at, max(len(pairs_all) - 1, 0))], 0)
        c_sub[f] = _rekey_order(c_lo[f], c_hi[f], m_here + r_lo[f])
    # direction of the chain's polyline: u → v, except that osmnx keeps the later node's direction when both ends
    # lie on one point (unflagged), and a loop runs the way first met at its node
    same_point = (node_x[c_lo] == node_x[c_hi]) & (node_y[c_lo] == node_y[c_hi]) & ~loop
    walked_from_lo = c_start == c_lo
    forward = np.where(loop, c_pos_start < c_pos_end, np.where(flagged | ~same_point, walked_from_lo, ~walked_from_lo))

    # all edges, sorted by (u, v) and then osmnx's order among parallel edges
    e_u = np.concatenate([d_lo, c_lo])
    e_v = np.concatenate([d_hi, c_hi])
    e_cls = np.concatenate([np.zeros(len(ds), dtype=np.int64), c_cls])
    e_sub = np.concatenate([d_grp * (m + 1) + ds, c_sub])
    e_way = np.concatenate([way[ds], way[c_seg]])
    idx = np.lexsort((e_sub, e_cls, e_v, e_u))
    # node paths: two nodes for a segment, the walked path (forward or reversed) for a chain
    n_d = len(ds)
    c_len = np.diff(path_off)
    c_take = _ranges(path_off[:-1], c_len)
    flip = np.repeat(~forward, c_len)
    c_take = np.where(flip, np.repeat(path_off[:-1] + path_off[1:] - 1, c_len) - c_take, c_take)
    all_nodes = np.concatenate([np.column_stack([d_lo, d_hi]).ravel(), path[c_take]])
    all_off = np.r_[np.arange(0, 2 * n_d, 2), 2 * n_d + path_off].astype(np.int64)
    counts = np.diff(all_off)[idx]
    path_nodes = all_nodes[_ranges(all_off[idx], counts)]
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    return Topology(kept=kept, u=e_u[idx], v=e_v[idx], way=e_way[idx], path_nodes=path_nodes, path_offsets=offsets)
