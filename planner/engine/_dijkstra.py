"""Compiled shortest-path kernels (numba): bounded searches that cost in proportion to the area they reach.

All kernels work on a CSR adjacency (``indptr``, ``indices``, ``weights`` in metres, float64) of an undirected
graph stored in both directions. Distances are float64 throughout, and a node counts as reached when its
distance is ``<= limit`` (inclusive), so a facility exactly at the threshold is within it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["bounded_from_each", "nearest_source"]


@njit(cache=True, nogil=True, inline="always")
def _push(heap_d, heap_v, size, d, v):
    i = size
    heap_d[i] = d
    heap_v[i] = v
    while i > 0:
        parent = (i - 1) >> 1
        if heap_d[parent] <= heap_d[i]:
            break
        heap_d[parent], heap_d[i] = heap_d[i], heap_d[parent]
        heap_v[parent], heap_v[i] = heap_v[i], heap_v[parent]
        i = parent
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def _pop(heap_d, heap_v, size):
    d = heap_d[0]
    v = heap_v[0]
    size -= 1
    heap_d[0] = heap_d[size]
    heap_v[0] = heap_v[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        right = left + 1
        if right < size and heap_d[right] < heap_d[left]:
            child = right
        if heap_d[i] <= heap_d[child]:
            break
        heap_d[child], heap_d[i] = heap_d[i], heap_d[child]
        heap_v[child], heap_v[i] = heap_v[i], heap_v[child]
        i = child
    return d, v, size


@njit(cache=True, nogil=True)
def _grow(arr, need):
    if need <= arr.shape[0]:
        return arr
    out = np.empty(max(need, 2 * arr.shape[0]), dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


@njit(cache=True, nogil=True)
def _bounded_search(indptr, indices, weights, s, limit, target_id, dist, touched, heap_d, heap_v, found_t, found_d):
    """One bounded search from ``s``: writes the targets reached and their distances into ``found_t``/``found_d``
    and returns how many; ``dist`` is left all ``inf`` again (only the touched entries are reset). Every array is
    sized for the worst case by the caller, so nothing grows inside the loop."""
    n_touched = 0
    n_found = 0
    size = 0
    dist[s] = 0.0
    touched[n_touched] = s
    n_touched += 1
    size = _push(heap_d, heap_v, size, 0.0, s)
    while size > 0:
        d, v, size = _pop(heap_d, heap_v, size)
        if d > dist[v]:
            continue
        t = target_id[v]
        if t >= 0:
            found_t[n_found] = t
            found_d[n_found] = d
            n_found += 1
        for e in range(indptr[v], indptr[v + 1]):
            w = indices[e]
            nd = d + weights[e]
            if indptr[w + 1] - indptr[w] == 1 and w != s:
                # a leaf (a point on its access leg) is reached only through v and leads nowhere: report it
                # now instead of queueing it (v is settled once, so this happens once per search)
                if nd <= limit and target_id[w] >= 0:
                    found_t[n_found] = target_id[w]
                    found_d[n_found] = nd
                    n_found += 1
                continue
            if nd <= limit and nd < dist[w]:
                if dist[w] == np.inf:
                    touched[n_touched] = w
                    n_touched += 1
                dist[w] = nd
                size = _push(heap_d, heap_v, size, nd, w)
    for k in range(n_touched):
        dist[touched[k]] = np.inf
    return n_found


@njit(cache=True, nogil=True)
def bounded_from_each(indptr, indices, weights, sources, limit, target_id):
    """From each source separately, every target reached within ``limit``.

    Parameters
    ----------
    sources
        Start nodes (int64), one search each.
    limit
        Search radius in metres (inclusive).
    target_id
        Per node: the target number to report (>= 0), or -1 for nodes that are not targets.

    Returns
    -------
    src, tgt, dist
        One row per (source position, target number) reached, with the distance in metres. Work per
        source is proportional to the nodes it reaches: only touched entries are reset between searches.
    """
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    # worst-case sizes, allocated but only touched as far as a search goes: a node is touched once, the heap holds
    # at most one entry per directed edge (and the source), a target is reported once per search
    touched = np.empty(n, dtype=np.int64)
    heap_d = np.empty(indices.shape[0] + 1, dtype=np.float64)
    heap_v = np.empty(indices.shape[0] + 1, dtype=np.int64)
    n_targets = 0
    for v in range(n):
        if target_id[v] >= 0:
            n_targets += 1
    found_t = np.empty(n_targets + 1, dtype=np.int64)
    found_d = np.empty(n_targets + 1, dtype=np.float64)
    out_s = np.empty(1024, dtype=np.int64)
    out_t = np.empty(1024, dtype=np.int64)
    out_d = np.empty(1024, dtype=np.float64)
    n_out = 0
    for si in range(sources.shape[0]):
        k = _bounded_search(indptr, indices, weights, sources[si], limit, target_id, dist, touched, heap_d, heap_v,
                            found_t, found_d)
        if n_out + k > out_s.shape[0]:
            out_s = _grow(out_s, n_out + k)
            out_t = _grow(out_t, n_out + k)
            out_d = _grow(out_d, n_out + k)
        out_s[n_out : n_out + k] = si
        out_t[n_out : n_out + k] = found_t[:k]
        out_d[n_out : n_out + k] = found_d[:k]
        n_out += k
    return out_s[:n_out].copy(), out_t[:n_out].copy(), out_d[:n_out].copy()


@njit(cache=True, nogil=True, inline="always")
def _before(d1, v1, d2, v2):
    # the order in which scipy's Dijkstra (a C++ max-heap of (-distance, node) pairs) pops its entries: nearer
    # first, and of equal distances the higher node number first
    return d1 < d2 or (d1 == d2 and v1 > v2)


@njit(cache=True, nogil=True, inline="always")
def _sift_up(heap_d, heap_v, j, d, v):
    # put (d, v) into the hole at j, moving parents that come after it down
    while j > 0:
        parent = (j - 1) >> 1
        if not _before(d, v, heap_d[parent], heap_v[parent]):
            break
        heap_d[j] = heap_d[parent]
        heap_v[j] = heap_v[parent]
        j = parent
    heap_d[j] = d
    heap_v[j] = v


@njit(cache=True, nogil=True)
def nearest_source(indptr, indices, weights, sources, limit):
    """One search from all ``sources`` at once: every node's distance to the nearest source and that source.

    The same answer as ``scipy.sparse.csgraph.dijkstra(..., min_only=True, limit=limit,
    return_predecessors=True)`` — distances bit for bit and, where two sources are equally near, the same
    source: nodes are settled in scipy's order (by distance, then the higher node number first) and a node
    takes a new source only on a strictly shorter distance. Nodes of degree one (the points' leaves) are
    settled as soon as they are reached: they lead nowhere, so nothing else changes.

    Returns
    -------
    dist, source
        Per node: metres (``inf`` beyond ``limit``) and the node number of its source (-1 when none).
    """
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    source = np.full(n, -1, dtype=np.int64)
    # every entry is a source or a relaxation along one directed edge (each node is scanned once), so the heap
    # never outgrows this; it is allocated, not touched, and a fixed array keeps the loop fast
    heap_d = np.empty(indices.shape[0] + sources.shape[0] + 1, dtype=np.float64)
    heap_v = np.empty(indices.shape[0] + sources.shape[0] + 1, dtype=np.int64)
    size = 0
    for i in range(sources.shape[0]):
        s = sources[i]
        if source[s] == -1:
            dist[s] = 0.0
            source[s] = s
            _sift_up(heap_d, heap_v, size, 0.0, s)
            size += 1
    while size > 0:
        d = heap_d[0]
        v = heap_v[0]
        size -= 1
        # the hole at the root goes down to a leaf along the earlier child, then the last entry fills it
        j = 0
        while True:
            c = 2 * j + 1
            if c >= size:
                break
            if c + 1 < size and _before(heap_d[c + 1], heap_v[c + 1], heap_d[c], heap_v[c]):
                c += 1
            heap_d[j] = heap_d[c]
            heap_v[j] = heap_v[c]
            j = c
        _sift_up(heap_d, heap_v, j, heap_d[size], heap_v[size])
        if dist[v] < d:
            continue  # a stale entry: v was reached shorter since
        sv = source[v]
        for e in range(indptr[v], indptr[v + 1]):
            w = indices[e]
            nd = d + weights[e]
            if nd <= limit and dist[w] > nd:
                dist[w] = nd
                source[w] = sv
                if indptr[w + 1] - indptr[w] == 1:
                    continue  # a leaf: its only neighbour is v, which it cannot bring nearer
                _sift_up(heap_d, heap_v, size, nd, w)
                size += 1
    return dist, source
